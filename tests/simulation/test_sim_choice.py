"""Choice model, churn and user model: known probabilities and frequencies."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.data.synthetic import synthetic_log
from lmrec.simulation.choice import ChoiceModel, engagement_rate, fit_no_choice
from lmrec.simulation.churn import Churn, ChurnConfig, sigmoid
from lmrec.simulation.user_model import Memory, SimulatedUsers, UserModelConfig


def test_two_items_and_no_choice_hand_computed() -> None:
    # beta 1, u0 0: weights e^1, e^0 and e^0 (nothing) -> e/(e+2), 1/(e+2), 1/(e+2)
    model = ChoiceModel(beta=1.0, no_choice_utility=0.0)
    probs, none = model.probabilities(np.array([[1.0, 0.0]]))
    e = np.e
    np.testing.assert_allclose(probs[0], [e / (e + 2), 1 / (e + 2)])
    np.testing.assert_allclose(none, [1 / (e + 2)])


def test_temperature_position_bias_and_empty_slots() -> None:
    # beta 2, u0 0.5, lambda ln 2: weights e^0=1 (u=0, pos 0), e^2/2 (u=1, pos 1), nothing e^1, empty slot 0
    model = ChoiceModel(beta=2.0, no_choice_utility=0.5, position_bias=np.log(2.0))
    probs, none = model.probabilities(np.array([[0.0, 1.0, np.nan]]))
    total = 1 + np.e**2 / 2 + np.e
    np.testing.assert_allclose(probs[0], [1 / total, np.e**2 / 2 / total, 0.0])
    np.testing.assert_allclose(none, [np.e / total])


def test_empirical_frequencies_match_probabilities() -> None:
    model = ChoiceModel(beta=1.5, no_choice_utility=0.2)
    util = np.tile([[0.5, -0.3, 1.0]], (40_000, 1))
    picks = model.choose(util, np.random.default_rng(3))
    probs, none = model.probabilities(util[:1])
    freq = np.bincount(picks + 1, minlength=4) / picks.shape[0]
    np.testing.assert_allclose(freq, [none[0], *probs[0]], atol=0.01)


def test_no_choice_utility_hits_the_target_engagement() -> None:
    util = np.random.default_rng(0).normal(size=(300, 10))
    u0 = fit_no_choice(util, beta=1.3, target=0.4)
    _, none = ChoiceModel(1.3, u0).probabilities(util)
    assert 1 - none.mean() == pytest.approx(0.4, abs=1e-6)


def test_engagement_rate_counts_active_weeks() -> None:
    from lmrec.data.interactions import Interactions
    from lmrec.data.vocabulary import Vocabulary

    week = 7 * 86_400
    # user 0: events in weeks 0 and 2 of a 3-week span -> 2/3; user 1: one week -> 1
    data = Interactions(
        users=np.array([0, 0, 0, 1]),
        items=np.array([0, 1, 0, 1]),
        user_vocab=Vocabulary(np.array([10, 11])),
        item_vocab=Vocabulary(np.array([1, 2])),
        timestamps=np.array([0, 10, 2 * week + 5, week + 1]),
    )
    assert engagement_rate(data) == pytest.approx((2 / 3 + 1) / 2)


def test_churn_leaves_and_returns_with_the_configured_probabilities() -> None:
    churn = Churn(20_000, ChurnConfig(leave_intercept=-1.0, leave_slope=1.0, return_rate=0.3))
    shown = np.arange(20_000)
    rng = np.random.default_rng(0)
    churn.step(shown, np.full(20_000, np.nan), rng)  # nobody chose: streak 1 -> P(leave) = sigmoid(0) = 0.5
    assert churn.retention == pytest.approx(0.5, abs=0.02)
    away = (~churn.active).sum()
    churn.step(
        np.flatnonzero(churn.active), np.full(churn.active.sum(), 5.0), rng
    )  # satisfied: nobody leaves
    assert (~churn.active).sum() == pytest.approx(away * 0.7, rel=0.05)
    assert sigmoid(np.array([0.0]))[0] == 0.5


def test_standardised_utility_and_boredom() -> None:
    data = synthetic_log(n_users=80, n_items=30, n_interactions=800, seed=1)
    users = SimulatedUsers.fit(data, UserModelConfig(method="svd", factors=4), seed=0)
    taste = users.all_affinities(np.arange(80))
    assert taste.mean() == pytest.approx(0.0, abs=1e-9) and taste.std() == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_array_equal(users.all_utilities(np.arange(80)), taste)  # w None -> 0 until calibrated
    # item appeal: z-score of log(1 + distinct users), increasing in popularity, added with weight w
    pop = data.item_user_counts()
    assert users.appeal.mean() == pytest.approx(0.0, abs=1e-6) and users.appeal.std() == pytest.approx(
        1.0, 1e-5
    )
    order = np.argsort(pop, kind="stable")
    assert (np.diff(users.appeal[order]) >= 0).all() and users.appeal[order[-1]] > users.appeal[order[0]]
    appealing = users.with_popularity_weight(0.5)
    np.testing.assert_allclose(appealing.all_utilities(np.arange(80)), taste + 0.5 * users.appeal[None, :])
    np.testing.assert_allclose(
        appealing.utility(np.array([1, 2]), np.array([[4, -1], [5, 6]])),
        [
            [taste[1, 4] + 0.5 * users.appeal[4], np.nan],
            [taste[2, 5] + 0.5 * users.appeal[5], taste[2, 6] + 0.5 * users.appeal[6]],
        ],
    )
    memory = Memory(80, 2, 0.5)
    memory.remember(np.array([0]), np.array([3]))
    memory.remember(np.array([0]), np.array([7]))  # newest 7 (weight 1), then 3 (weight 0.5)
    slate = np.array([[7, 3]])
    util = users.experienced(np.array([0]), slate, np.array([[False, True]]), memory)
    base = users.utility(np.array([0]), slate)[0]
    cos73 = float(users.unit_items[7] @ users.unit_items[3])
    bored = [max(1.0, 0.5 * cos73, 0.0), max(cos73, 0.5, 0.0)]
    expected = base - np.array([0.0, users.config.repeat_penalty]) - users.config.boredom * np.array(bored)
    np.testing.assert_allclose(util[0], expected, rtol=1e-5)
