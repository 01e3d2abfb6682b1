"""Users who leave and come back.

Each round, an active user who was shown a slate is *satisfied* when they chose an item whose experienced
utility is at least `utility_threshold`; otherwise (no choice, or a disappointing one) their dissatisfaction
streak grows by one, and a satisfying round resets it to 0. A dissatisfied user then leaves with
probability sigmoid(leave_intercept + leave_slope · streak). A user who is away returns with probability
`return_rate` per round, with a fresh streak. Retention is the share of users active at the end of a round.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmrec.errors import ConfigError


@dataclass(frozen=True)
class ChurnConfig:
    """Leave/return parameters (see the module docstring)."""

    enabled: bool = True
    """False: nobody ever leaves (retention stays 1)."""
    leave_intercept: float = -4.0
    """a in sigmoid(a + b · streak): sigmoid(-4) ≈ 1.8% after a first bad round with b = 0.5 → 2.9%."""
    leave_slope: float = 0.5
    """b: how fast the leaving probability grows with consecutive dissatisfying rounds."""
    utility_threshold: float = 0.0
    """A chosen item with experienced utility below this (z units) still dissatisfies."""
    return_rate: float = 0.05
    """Probability per round that a user who left comes back."""

    def __post_init__(self) -> None:
        if not 0 <= self.return_rate <= 1:
            raise ConfigError(f"churn.return_rate must be in [0, 1], got {self.return_rate}")
        if self.leave_slope < 0:
            raise ConfigError(f"churn.leave_slope must be >= 0, got {self.leave_slope}")


def sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64))))


class Churn:
    """Activity state of a population: who is active and each user's dissatisfaction streak."""

    def __init__(self, n_users: int, config: ChurnConfig) -> None:
        self.config = config
        self.active = np.ones(n_users, dtype=bool)
        self.streak = np.zeros(n_users, dtype=np.int64)

    def leave_probability(self, streak: np.ndarray) -> np.ndarray:
        cfg = self.config
        return sigmoid(cfg.leave_intercept + cfg.leave_slope * np.asarray(streak, dtype=np.float64))

    def step(
        self, shown: np.ndarray, chosen_utility: np.ndarray, rng: np.random.Generator
    ) -> tuple[int, int]:
        """Update after a round: `shown` are the users who got a slate, `chosen_utility` their experienced
        utility of the chosen item (NaN: no choice). Users away at the start of the round may return.
        Returns (number who left, number who returned)."""
        cfg = self.config
        away = np.flatnonzero(~self.active)
        if not cfg.enabled:
            return 0, 0
        happy = ~np.isnan(chosen_utility) & (
            np.nan_to_num(chosen_utility, nan=-np.inf) >= cfg.utility_threshold
        )
        self.streak[shown[happy]] = 0
        sad = shown[~happy]
        self.streak[sad] += 1
        leaving = sad[rng.random(sad.shape[0]) < self.leave_probability(self.streak[sad])]
        self.active[leaving] = False
        back = away[rng.random(away.shape[0]) < cfg.return_rate]
        self.active[back] = True
        self.streak[back] = 0
        return int(leaving.shape[0]), int(back.shape[0])

    @property
    def retention(self) -> float:
        return float(self.active.mean()) if self.active.size else 0.0
