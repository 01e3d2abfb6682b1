"""How a simulated user picks from a shown slate: a multinomial logit with a no-choice option.

For a slate j_1..j_S shown at positions 0..S-1,

    P(j_s | slate) = exp(β u_{u j_s} − λ s) / (exp(β u0) + Σ_r exp(β u_{u j_r} − λ r))
    P(nothing)     = exp(β u0)              / (the same denominator)

with u the experienced utility (z units, `lmrec.simulation.user_model`), β the temperature, u0 the utility
of choosing nothing and λ the position bias (λ = 0: position does not matter).

Calibration: β (and the item-appeal weight w of the utility) are fitted by maximum likelihood on real
choices the simulated users' truth was not fitted on, see `lmrec.simulation.calibration`; then
(`calibrate_no_choice`):

- u0 makes the mean probability of choosing something, when every user is shown the n most popular items
  they have not consumed (with their boredom at the end of the log), equal to a target engagement rate;
- the target, unless given, is read from the data: per user, the share of calendar periods (7 days by
  default) between their first and last event in which they have at least one event, averaged over users.
  It needs Unix timestamps; for logs with sequence positions give `target_engagement` explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError
from lmrec.simulation.user_model import Memory, SimulatedUsers


@dataclass(frozen=True)
class ChoiceConfig:
    """The choice model's parameters; None means "calibrate from the data"."""

    beta: float | None = None
    """Temperature β of the logit (None: maximum likelihood on held-out real choices)."""
    no_choice_utility: float | None = None
    """u0, utility of choosing nothing (None: calibrated to `target_engagement`)."""
    target_engagement: float | None = None
    """Mean probability of choosing something from a popularity slate (None: derived from the data)."""
    period_days: float = 7.0
    """Period length for the engagement rate read from the data."""
    position_bias: float = 0.0
    """λ: the weight of slate position s is exp(−λ s)."""
    calibration_users: int = 2000
    """Users sampled (seeded) to fit β, w and u0."""
    calibration_holdout: float = 0.2
    """Share of each sampled user's latest events held out of the truth to fit β and w on."""

    def __post_init__(self) -> None:
        if self.beta is not None and not self.beta > 0:
            raise ConfigError(f"choice.beta must be > 0, got {self.beta}")
        if self.target_engagement is not None and not 0 < self.target_engagement < 1:
            raise ConfigError(f"choice.target_engagement must be in (0, 1), got {self.target_engagement}")
        if not self.period_days > 0:
            raise ConfigError(f"choice.period_days must be > 0, got {self.period_days}")
        if self.position_bias < 0:
            raise ConfigError(f"choice.position_bias must be >= 0, got {self.position_bias}")
        if self.calibration_users < 1:
            raise ConfigError(f"choice.calibration_users must be >= 1, got {self.calibration_users}")
        if not 0 < self.calibration_holdout < 1:
            raise ConfigError(f"choice.calibration_holdout must be in (0, 1), got {self.calibration_holdout}")


@dataclass(frozen=True)
class ChoiceModel:
    """A calibrated choice model (see the module docstring)."""

    beta: float
    no_choice_utility: float
    position_bias: float = 0.0
    target_engagement: float | None = None
    """The engagement rate u0 was calibrated to (None when u0 was given)."""

    def probabilities(self, utility: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P(slot) for each slate slot, P(nothing)) for utilities of shape (B, S); NaN slots (no item)
        get probability 0. Computed stably (max subtracted per row)."""
        utility = np.atleast_2d(np.asarray(utility, dtype=np.float64))
        valid = ~np.isnan(utility)
        logits = self.beta * np.where(valid, utility, 0.0) - self.position_bias * np.arange(utility.shape[1])
        logits = np.where(valid, logits, -np.inf)
        none = np.full(utility.shape[0], self.beta * self.no_choice_utility)
        top = np.maximum(logits.max(axis=1), none)
        w = np.exp(logits - top[:, None])
        w0 = np.exp(none - top)
        total = w.sum(axis=1) + w0
        return w / total[:, None], w0 / total

    def choose(self, utility: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One draw per row: the chosen slot index, or -1 for no choice."""
        probs, _ = self.probabilities(utility)
        cum = np.cumsum(probs, axis=1)
        draw = np.asarray(rng.random(probs.shape[0]), dtype=np.float64)
        slot = (cum <= draw[:, None]).sum(axis=1)  # first slot whose cumulative probability exceeds draw
        return np.where(slot < probs.shape[1], slot, -1).astype(np.int64)


def engagement_rate(data: Interactions, period_days: float = 7.0) -> float:
    """Mean over users of the share of `period_days` periods between their first and last event that hold
    at least one event (needs Unix-second timestamps)."""
    if data.timestamps is None:
        raise ConfigError("the engagement rate needs timestamps; set choice.target_engagement")
    period = (data.timestamps - data.timestamps.min()) // int(period_days * 86_400)
    ptr = data.indptr()
    first = np.minimum.reduceat(period, ptr[:-1][np.diff(ptr) > 0])
    last = np.maximum.reduceat(period, ptr[:-1][np.diff(ptr) > 0])
    owners = np.repeat(np.arange(data.n_users), np.diff(ptr))
    distinct = np.unique(owners * (int(period.max()) + 1) + period)
    per_user = np.bincount(distinct // (int(period.max()) + 1), minlength=data.n_users)
    per_user = per_user[np.diff(ptr) > 0]
    return float(np.mean(per_user / (last - first + 1)))


def popularity_slates(data: Interactions, users: np.ndarray, n: int) -> np.ndarray:
    """The `n` most popular items (by distinct users, ties to the lower index) each user has not consumed."""
    pop = data.item_user_counts()
    order = np.lexsort((np.arange(pop.shape[0]), -pop))
    hist = data.csr()
    out = np.full((users.shape[0], n), -1, dtype=np.int64)
    for r, u in enumerate(users):  # calibration only: a few thousand users
        seen = hist.indices[hist.indptr[u] : hist.indptr[u + 1]]
        head = order[: n + seen.shape[0]]
        head = head[~np.isin(head, seen)][:n]
        out[r, : head.shape[0]] = head
    return out


NO_CHOICE_RANGE = (-50.0, 50.0)
"""Where `fit_no_choice` searches u0; a result at either end means the target engagement was out of reach."""


def fit_no_choice(utility: np.ndarray, beta: float, target: float, position_bias: float = 0.0) -> float:
    """u0 such that the mean over rows of P(choose something) equals `target` (bisection: P decreases
    monotonically in u0)."""
    lo, hi = NO_CHOICE_RANGE
    for _ in range(100):
        mid = (lo + hi) / 2
        _, none = ChoiceModel(beta, mid, position_bias).probabilities(utility)
        if 1 - none.mean() > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def calibrate_no_choice(
    users: SimulatedUsers,
    data: Interactions,
    config: ChoiceConfig,
    slate_size: int,
    rng: np.random.Generator,
    beta: float,
) -> ChoiceModel:
    """The choice model of `config` with temperature `beta`, u0 calibrated on `data` unless given
    (module docstring)."""
    if config.no_choice_utility is not None:
        return ChoiceModel(beta, config.no_choice_utility, config.position_bias)
    target = config.target_engagement
    if target is None:
        target = engagement_rate(data, config.period_days)
        target = float(np.clip(target, 0.01, 0.99))
    size = min(config.calibration_users, data.n_users)
    sample = np.sort(rng.choice(data.n_users, size=size, replace=False))
    slates = popularity_slates(data, sample, slate_size)
    memory = Memory.from_log(data, users.config.memory, users.config.memory_decay)
    util = users.experienced(sample, slates, np.zeros(slates.shape, dtype=bool), memory)
    u0 = fit_no_choice(util, beta, target, config.position_bias)
    return ChoiceModel(beta, u0, config.position_bias, target_engagement=target)
