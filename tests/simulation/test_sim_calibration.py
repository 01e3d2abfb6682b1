"""Calibration of (β, w): known answer, exact likelihood, no leakage of the events it is scored on."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.data.interactions import Interactions
from lmrec.data.vocabulary import Vocabulary
from lmrec.simulation.calibration import (
    ChoiceEvents,
    choice_events,
    fit_logit,
    fit_world,
    holdout_latest,
    log_likelihood,
)
from lmrec.simulation.choice import ChoiceConfig
from lmrec.simulation.user_model import SimulatedUsers, UserModelConfig, item_appeal
from lmrec.simulation.validation import _ndcg_sum


def simulated_choices(
    rng: np.random.Generator,
    beta: float,
    weight: float,
    n_rows: int = 300,
    n_items: int = 200,
    per_row: int = 10,
) -> ChoiceEvents:
    """Each row chooses `per_row` items in turn from a softmax over the items it has not consumed."""
    affinity = rng.standard_normal((n_rows, n_items))
    appeal = item_appeal(np.round(rng.lognormal(2.0, 1.5, n_items)))
    excluded = rng.random((n_rows, n_items)) < 0.1
    rows, items = [], []
    for r in range(n_rows):
        left = ~excluded[r]
        for _ in range(per_row):
            logit = np.where(left, beta * (affinity[r] + weight * appeal), -np.inf)
            p = np.exp(logit - logit.max())
            i = int(rng.choice(n_items, p=p / p.sum()))
            rows.append(r)
            items.append(i)
            left = left.copy()
            left[i] = False
    return ChoiceEvents(affinity, appeal, excluded, np.array(rows), np.array(items))


def test_joint_fit_recovers_beta_and_weight() -> None:
    ev = simulated_choices(np.random.default_rng(0), beta=1.5, weight=0.8)
    fit = fit_logit(ev)
    assert fit.beta == pytest.approx(1.5, rel=0.08)
    assert fit.popularity_weight == pytest.approx(0.8, rel=0.12)
    # the nested special cases cannot do better in sample than the joint fit, and here do clearly worse
    taste = fit_logit(ev, popularity_weight=0.0)
    pop = fit_logit(ev, popularity_only=True)
    assert taste.appeal_coef == 0.0 and pop.affinity_coef == 0.0
    assert fit.loglik > taste.loglik + 0.05 and fit.loglik > pop.loglik + 0.05
    # one parameter held at its true value: the other is recovered
    assert fit_logit(ev, beta=1.5).popularity_weight == pytest.approx(0.8, rel=0.12)
    assert fit_logit(ev, popularity_weight=0.8).beta == pytest.approx(1.5, rel=0.08)


def test_log_likelihood_and_gradient_match_a_direct_computation() -> None:
    ev = simulated_choices(np.random.default_rng(1), beta=1.0, weight=0.5, n_rows=5, n_items=12, per_row=4)
    a, b = 0.7, -0.3
    direct = 0.0
    for e, (r, i) in enumerate(zip(ev.rows, ev.items, strict=True)):
        earlier = ev.items[(ev.rows == r) & (np.arange(len(ev)) < e)]
        cand = ~ev.excluded[r]
        cand[earlier] = False
        s = a * ev.affinity[r] + b * ev.appeal
        direct += s[i] - np.log(np.exp(s[cand]).sum())
    ll, g_a, g_b = log_likelihood(ev, a, b)
    assert ll == pytest.approx(direct, rel=1e-10)
    h = 1e-6
    assert g_a == pytest.approx(
        (log_likelihood(ev, a + h, b)[0] - log_likelihood(ev, a - h, b)[0]) / 2 / h, rel=1e-5
    )
    assert g_b == pytest.approx(
        (log_likelihood(ev, a, b + h)[0] - log_likelihood(ev, a, b - h)[0]) / 2 / h, rel=1e-5
    )


def test_ndcg_ranks_within_the_shrinking_choice_set() -> None:
    ev = simulated_choices(np.random.default_rng(2), beta=1.0, weight=0.5, n_rows=6, n_items=15, per_row=5)
    a, b = 1.0, 0.4
    direct = 0.0
    for e, (r, i) in enumerate(zip(ev.rows, ev.items, strict=True)):
        cand = ~ev.excluded[r]
        cand[ev.items[(ev.rows == r) & (np.arange(len(ev)) < e)]] = False
        s = a * ev.affinity[r] + b * ev.appeal
        rank = (s[cand] > s[i]).sum()  # continuous scores: no ties
        direct += 1 / np.log2(rank + 2) if rank < 10 else 0.0
    assert _ndcg_sum(ev, a, b) == pytest.approx(direct)


def _log(users: list[int], items: list[int], times: list[int], n_users: int, n_items: int) -> Interactions:
    return Interactions(
        users=np.array(users),
        items=np.array(items),
        user_vocab=Vocabulary(np.arange(n_users)),
        item_vocab=Vocabulary(np.arange(n_items)),
        timestamps=np.array(times),
    )


def test_holdout_takes_each_sampled_users_latest_events() -> None:
    # user 0: 5 events -> ceil(0.2 * 5) = 1 held out; user 1: 1 event -> none; user 2 not sampled
    data = _log([0, 0, 0, 0, 0, 1, 2, 2], [0, 1, 2, 3, 4, 0, 1, 2], [5, 1, 4, 2, 3, 9, 1, 2], 3, 5)
    kept, held = holdout_latest(data, np.array([0, 1]), 0.2)
    assert list(zip(held.users, held.items, held.timestamps, strict=True)) == [(0, 0, 5)]
    assert len(kept) == 7 and not ((kept.users == 0) & (kept.items == 0)).any()


def block_log_with_random_tail(seed: int) -> Interactions:
    """3 groups of 10 users, each user 12 events on its group's 20 items, then 3 later events on items drawn
    uniformly from the ones it has not consumed: the held-out tail (ceil(0.2 · 15) = 3) is pure noise."""
    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    for u in range(30):
        block = rng.choice(np.arange(20) + 20 * (u // 10), size=12, replace=False)
        rest = rng.choice(np.setdiff1d(np.arange(60), block), size=3, replace=False)
        chosen = [*block, *rest]
        users += [u] * 15
        items += chosen
        times += list(range(15))
    return _log(users, items, times, 30, 60)


def test_calibration_never_sees_the_events_it_is_scored_on() -> None:
    data = block_log_with_random_tail(0)
    users_cfg = UserModelConfig(method="svd", factors=12)
    choice_cfg = ChoiceConfig(calibration_users=30, no_choice_utility=0.0)
    fitted = fit_world(data, users_cfg, choice_cfg, slate_size=5, seed=0)
    # the same held-out events scored by a truth that was fitted on them too (what leakage would do)
    kept, held = holdout_latest(data, np.arange(30), 0.2)
    assert len(held) == 90 and held.timestamps.min() == 12
    leaky = fit_logit(choice_events(SimulatedUsers.fit(data, users_cfg), kept, held))
    honest = fit_logit(choice_events(SimulatedUsers.fit(kept, users_cfg), kept, held))
    assert fitted.fits["model"].beta == pytest.approx(honest.beta)
    assert fitted.fits["model"].loglik == pytest.approx(honest.loglik)
    # random tail: a truth that never saw it finds no signal, one that saw it finds a lot
    assert honest.beta < 0.5 < 2 * honest.beta + 0.5 < leaky.beta
    assert fitted.users.popularity_weight == pytest.approx(honest.popularity_weight)
