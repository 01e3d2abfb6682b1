"""How a simulated user picks from a shown slate: a multinomial logit with a no-choice option.

For a slate j_1..j_S shown at positions 0..S-1,

    P(j_s | slate) = exp(β u_{u j_s} − λ s) / (exp(β u0) + Σ_r exp(β u_{u j_r} − λ r))
    P(nothing)     = exp(β u0)              / (the same denominator)

with u the experienced utility (z units, `lmrec.simulation.user_model`), β the temperature, u0 the utility
of choosing nothing and λ the position bias (λ = 0: position does not matter).

Calibration (`calibrate`), when β or u0 are not given:

- β maximises the likelihood of real choices under a softmax over the whole catalog,
  P(i) = exp(β u_ui) / Σ_j exp(β u_uj), on a seeded sample of events of the log the users were fitted on
  (in-sample: it tends to make β somewhat larger, i.e. users more predictable, than held-out data would);
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
    """Temperature β of the logit (None: maximum likelihood on real choices)."""
    no_choice_utility: float | None = None
    """u0, utility of choosing nothing (None: calibrated to `target_engagement`)."""
    target_engagement: float | None = None
    """Mean probability of choosing something from a popularity slate (None: derived from the data)."""
    period_days: float = 7.0
    """Period length for the engagement rate read from the data."""
    position_bias: float = 0.0
    """λ: the weight of slate position s is exp(−λ s)."""
    calibration_users: int = 2000
    """Users sampled (seeded) to fit β and u0."""

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


def fit_beta(users: SimulatedUsers, data: Interactions, sample: np.ndarray) -> float:
    """β maximising Σ_events log softmax_catalog(β u_u·)[i] over the events of the users in `sample`."""
    from scipy.optimize import minimize_scalar

    util = users.all_utilities(sample)
    mask = np.isin(data.users, sample)
    row = np.searchsorted(sample, data.users[mask])
    chosen = util[row, data.items[mask]]
    counts = np.bincount(row, minlength=sample.shape[0])

    def nll(log_beta: float) -> float:
        beta = float(np.exp(log_beta))
        z = beta * util
        top = z.max(axis=1)
        lse = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
        return float(-(beta * chosen.sum() - counts @ lse))

    res = minimize_scalar(nll, bounds=(np.log(1e-3), np.log(1e2)), method="bounded")
    return float(np.exp(res.x))


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


def fit_no_choice(utility: np.ndarray, beta: float, target: float, position_bias: float = 0.0) -> float:
    """u0 such that the mean over rows of P(choose something) equals `target` (bisection: P decreases
    monotonically in u0)."""
    lo, hi = -50.0, 50.0
    for _ in range(100):
        mid = (lo + hi) / 2
        _, none = ChoiceModel(beta, mid, position_bias).probabilities(utility)
        if 1 - none.mean() > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def calibrate(
    users: SimulatedUsers,
    data: Interactions,
    config: ChoiceConfig,
    slate_size: int,
    rng: np.random.Generator,
) -> ChoiceModel:
    """The choice model of `config`, with β and u0 fitted on `data` where not given (module docstring)."""
    size = min(config.calibration_users, data.n_users)
    sample = np.sort(rng.choice(data.n_users, size=size, replace=False))
    beta = config.beta if config.beta is not None else fit_beta(users, data, sample)
    if config.no_choice_utility is not None:
        return ChoiceModel(beta, config.no_choice_utility, config.position_bias)
    target = config.target_engagement
    if target is None:
        target = engagement_rate(data, config.period_days)
        target = float(np.clip(target, 0.01, 0.99))
    slates = popularity_slates(data, sample, slate_size)
    memory = Memory.from_log(data, users.config.memory, users.config.memory_decay)
    util = users.experienced(sample, slates, np.zeros(slates.shape, dtype=bool), memory)
    u0 = fit_no_choice(util, beta, target, config.position_bias)
    return ChoiceModel(beta, u0, config.position_bias, target_engagement=target)
