"""Fitting the choice temperature β and the item-appeal weight w on real choices the truth has not seen.

The simulated user u picks item i among the items it has not consumed yet with probability

    P(i) = exp(β u_ui) / Σ_{j not consumed} exp(β u_uj),    u_ui = z(p_u · q_i) + w · a_i

(`lmrec.simulation.user_model`). Written as a·x_ui + b·a_i with a = β and b = β·w, this is a conditional
logit that is linear in (a, b), so its negative log-likelihood is convex: `fit_logit` finds the global
maximum with L-BFGS-B and an exact gradient, and reports β = a, w = b / a. Its special cases are nested
exactly: b = 0 is the taste-only model (w = 0), a = 0 a popularity softmax with its own temperature b;
a is kept >= `MIN_BETA` so that β > 0 (a fit that wants no taste at all ends there, with a large w).

Out of sample (`fit_world`):

1. a seeded sample of `choice.calibration_users` users gives up its latest `choice.calibration_holdout`
   share of events (by time; at least one, and at least one event stays);
2. the truth (factors *and* item popularity) is fitted on the log without those events;
3. (β, w) maximise the likelihood of the held-out events, each under a softmax over the items its user
   had not consumed before it (the fitted part of the history plus the earlier held-out events); events
   repeating an item the user already consumed cannot be chosen from that set and are skipped;
4. the truth used by the simulation is then refitted on the *whole* log with the fitted (β, w). Keeping
   the calibration truth instead would leave the sampled users' last events out of their own tastes and
   popularity, inconsistent with their history and memory, which the simulation starts from the end of
   the whole log. β measures how noisy choices are around a truth that does not know them, which is what a
   simulated choice is; the refitted truth is standardised the same way, so β and w keep their units.

In sample, with the truth fitted on the very events it is scored on, β comes out too large (users look
more predictable than they are) and a softmax over the whole catalog mixes in items already consumed.

The same fit gives the two baselines the validation compares with: taste only (w = 0, its own β) and a
popularity softmax (a = 0, its own temperature).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError
from lmrec.simulation.choice import ChoiceConfig, ChoiceModel, calibrate_no_choice
from lmrec.simulation.user_model import SimulatedUsers, UserModelConfig

MIN_BETA = 1e-4
"""Smallest β (= a) the fit may return: the choice model needs β > 0."""
_BOUND = 100.0


@dataclass(frozen=True)
class ChoiceEvents:
    """Real choices to score: users (rows) with their history, and their later events in time order."""

    affinity: np.ndarray
    """Taste z(p_u · q_i) of every catalog item per row (R x n_items)."""
    appeal: np.ndarray
    """Item appeal a_i (n_items)."""
    excluded: np.ndarray
    """True for items a row's user consumed before its first event here (R x n_items)."""
    rows: np.ndarray
    """Row of each event; non-decreasing, events of a row in time order."""
    items: np.ndarray
    """Chosen item of each event (never excluded, never an earlier event's item of the same row)."""

    def __len__(self) -> int:
        return int(self.rows.shape[0])


@dataclass(frozen=True)
class LogitFit:
    """A fitted conditional logit s_ui = a · taste + b · appeal (module docstring)."""

    affinity_coef: float
    appeal_coef: float
    loglik: float
    """Mean log-likelihood per event (nats) on the events it was fitted on."""
    events: int

    @property
    def beta(self) -> float:
        return self.affinity_coef

    @property
    def popularity_weight(self) -> float:
        return self.appeal_coef / self.affinity_coef if self.affinity_coef > 0 else float("inf")


def holdout_latest(data: Interactions, users: np.ndarray, share: float) -> tuple[Interactions, Interactions]:
    """(kept, held out): each of `users` with >= 2 events gives up its latest ceil(share · n) events,
    at most n − 1 (the log is in time order within each user)."""
    ptr = data.indptr()
    n = np.diff(ptr)[users]
    k = np.minimum(np.ceil(share * n).astype(np.int64), n - 1)
    k = np.where(n >= 2, k, 0)
    held = np.zeros(len(data), dtype=bool)
    starts = ptr[users + 1] - k
    idx = np.repeat(starts, k) + (np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k))
    held[idx] = True
    return data.subset(~held), data.subset(held)


def choice_events(users: SimulatedUsers, history: Interactions, later: Interactions) -> ChoiceEvents:
    """The events of `later` (after `history` in time) of users with history, scored by `users` (whose
    appeal is the one they were fitted with); repeats of a consumed item are dropped."""
    hist = history.csr()
    has = np.diff(hist.indptr) > 0
    keep = has[later.users]
    eu, ei = later.users[keep], later.items[keep]
    # first occurrence of a pair only, and only if the history does not have it
    _, first = np.unique(eu * np.int64(history.n_items) + ei, return_index=True)
    new = np.zeros(eu.shape[0], dtype=bool)
    new[first] = True
    new &= np.asarray(hist[eu, ei]).ravel() == 0
    eu, ei = eu[new], ei[new]
    row_users, rows = np.unique(eu, return_inverse=True)  # eu is sorted by user, so rows are too
    return ChoiceEvents(
        affinity=users.all_affinities(row_users),
        appeal=users.appeal,
        excluded=hist[row_users].toarray() > 0,
        rows=rows.astype(np.int64),
        items=ei,
    )


def _earlier(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For each event, the sum of x over the earlier events of its row."""
    prev = np.cumsum(x) - x
    start = np.searchsorted(rows, rows)  # first event of each event's row
    return prev - prev[start]


def log_likelihood(ev: ChoiceEvents, a: float, b: float) -> tuple[float, float, float]:
    """(Σ log P(chosen), its derivative in a, in b) of s = a · taste + b · appeal; the choice set of an
    event is the row's non-excluded items minus the items of its earlier events (computed by subtracting
    their weights from the row's total, so one softmax per row serves all its events)."""
    if len(ev) == 0:
        return 0.0, 0.0, 0.0
    s = np.where(ev.excluded, -np.inf, a * ev.affinity + b * ev.appeal[None, :])
    top = s.max(axis=1, keepdims=True)
    w = np.exp(s - top)  # 0 on excluded items
    total, t_a, t_b = w.sum(axis=1), (w * ev.affinity).sum(axis=1), w @ ev.appeal
    r, i = ev.rows, ev.items
    cw, ca, cb = w[r, i], ev.affinity[r, i], ev.appeal[i]
    denom = np.maximum(total[r] - _earlier(cw, r), np.maximum(cw, 1e-300))  # guard against cancellation
    ll = float(np.sum(s[r, i] - top[r, 0] - np.log(denom)))
    g_a = float(np.sum(ca - (t_a[r] - _earlier(cw * ca, r)) / denom))
    g_b = float(np.sum(cb - (t_b[r] - _earlier(cw * cb, r)) / denom))
    return ll, g_a, g_b


def fit_logit(
    ev: ChoiceEvents,
    *,
    beta: float | None = None,
    popularity_weight: float | None = None,
    popularity_only: bool = False,
) -> LogitFit:
    """Maximum-likelihood (a, b) on `ev`, with β (= a) and/or w (= b / a) held at given values;
    `popularity_only` fixes a = 0 (a popularity softmax with a fitted temperature b)."""
    n = max(len(ev), 1)
    if popularity_only:
        a_of, b_of = (lambda t: 0.0), (lambda t: t[0])
        chain, x0, bounds = (lambda ga, gb: [gb]), [1.0], [(-_BOUND, _BOUND)]
    elif beta is not None and popularity_weight is not None:
        a, b = beta, beta * popularity_weight
        return LogitFit(a, b, log_likelihood(ev, a, b)[0] / n, len(ev))
    elif beta is not None:
        a_of, b_of = (lambda t: beta), (lambda t: t[0])
        chain, x0, bounds = (lambda ga, gb: [gb]), [0.0], [(-_BOUND, _BOUND)]
    elif popularity_weight is not None:
        w = popularity_weight
        a_of, b_of = (lambda t: t[0]), (lambda t: t[0] * w)
        chain, x0, bounds = (lambda ga, gb: [ga + w * gb]), [1.0], [(MIN_BETA, _BOUND)]
    else:
        a_of, b_of = (lambda t: t[0]), (lambda t: t[1])
        chain, x0, bounds = (lambda ga, gb: [ga, gb]), [1.0, 0.0], [(MIN_BETA, _BOUND), (-_BOUND, _BOUND)]

    def nll(theta: np.ndarray) -> tuple[float, np.ndarray]:
        ll, ga, gb = log_likelihood(ev, a_of(theta), b_of(theta))
        return -ll / n, -np.asarray(chain(ga, gb)) / n

    res = minimize(nll, np.asarray(x0), jac=True, method="L-BFGS-B", bounds=bounds)
    a, b = float(a_of(res.x)), float(b_of(res.x))
    return LogitFit(a, b, -float(res.fun), len(ev))


@dataclass(frozen=True)
class FittedWorld:
    """Simulated users and their choice model, with the logit fits behind them."""

    users: SimulatedUsers
    choice: ChoiceModel
    fits: dict[str, LogitFit]
    """"model" (what the simulation uses), and with baselines "taste_only" (w = 0) and "popularity";
    empty when β and w were both given."""


def fit_world(
    data: Interactions,
    users_config: UserModelConfig,
    choice_config: ChoiceConfig,
    slate_size: int,
    seed: int,
    *,
    baselines: bool = False,
) -> FittedWorld:
    """Users fitted on `data` and their choice model, β and w fitted out of sample where not given
    (module docstring); u0 is then calibrated as `calibrate_no_choice` says. Seeded by `seed`."""
    rng = np.random.default_rng([seed, 7])
    beta, weight = choice_config.beta, users_config.popularity_weight
    fits: dict[str, LogitFit] = {}
    if beta is None or weight is None or baselines:
        size = min(choice_config.calibration_users, data.n_users)
        sample = np.sort(rng.choice(data.n_users, size=size, replace=False))
        kept, held = holdout_latest(data, sample, choice_config.calibration_holdout)
        if len(held) == 0:
            raise ConfigError("calibration needs users with at least 2 events (to hold their last ones out)")
        truth = SimulatedUsers.fit(kept, users_config, seed=seed)
        ev = choice_events(truth, kept, held)
        fits["model"] = fit_logit(ev, beta=beta, popularity_weight=weight)
        if baselines:
            fits["taste_only"] = fit_logit(ev, beta=beta, popularity_weight=0.0)
            fits["popularity"] = fit_logit(ev, popularity_only=True)
        beta, weight = fits["model"].beta, fits["model"].popularity_weight
    users = SimulatedUsers.fit(data, users_config, seed=seed, popularity_weight=weight)
    choice = calibrate_no_choice(users, data, choice_config, slate_size, rng, beta)
    return FittedWorld(users=users, choice=choice, fits=fits)
