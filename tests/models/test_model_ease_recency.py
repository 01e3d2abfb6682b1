"""EASE with recency weights: conformance, the weights by hand, recency 0 is EASE, and a known-answer case
where only the order of the history tells the next item."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from lmrec.data.interactions import Interactions
from lmrec.data.vocabulary import Vocabulary
from lmrec.errors import ConfigError
from lmrec.models.base import Recommender
from lmrec.models.ease import EASE
from lmrec.models.ease_recency import RecencyEASE, RecencyEASEConfig, recency_weights
from lmrec.testing.conformance import RecommenderConformance
from lmrec.testing.datasets import random_interactions


class TestRecencyEASE(RecommenderConformance):
    def make_model(self, **overrides: Any) -> Recommender:
        return RecencyEASE(RecencyEASEConfig(reg=10.0, **overrides))


def test_weights_by_position_of_the_latest_occurrence() -> None:
    items, w = recency_weights(np.array([4, 2, 4, 7]), 2.0)  # 4 at positions 1 and 3 (of 4): keeps 3
    np.testing.assert_array_equal(items, [2, 4, 7])
    np.testing.assert_allclose(w, [(2 / 4) ** 2, (3 / 4) ** 2, 1.0])
    items, w = recency_weights(np.zeros(0, np.int64), 1.0)
    assert items.size == 0 and w.size == 0


def test_scores_are_weighted_history_times_ease_weights() -> None:
    data = random_interactions(40, 30, density=0.3, seed=2)
    model = RecencyEASE(reg=5.0, recency=1.5).fit(data)
    plain = EASE(reg=5.0).fit(data)
    np.testing.assert_array_equal(model.weights_, plain.weights_)
    users = np.arange(10)
    want = np.zeros((10, data.n_items))
    for u, seq in enumerate(data.sequences()[:10]):
        items, w = recency_weights(seq, 1.5)
        want[u, items] = w
    np.testing.assert_allclose(model.score(users), want @ plain.weights_, rtol=1e-5, atol=1e-6)
    # given sequences rule; an unordered history that is not the training set weighs 1 per item (EASE)
    seqs = [np.array([3, 1]), np.array([1, 3])]
    got = model.score(np.array([-1, -1]), sequences=seqs)
    assert not np.allclose(got[0], got[1])
    other = sp.csr_matrix(([1.0, 1.0], ([0, 0], [1, 3])), shape=(1, data.n_items))
    np.testing.assert_allclose(
        model.score(np.array([-1]), other), plain.score(np.array([-1]), other), rtol=1e-6
    )
    # recency 0 is EASE for every way of scoring
    flat = RecencyEASE(reg=5.0, recency=0.0).fit(data)
    np.testing.assert_allclose(flat.score(users), plain.score(users), rtol=1e-6, atol=1e-7)


def test_the_latest_item_leads() -> None:
    """Known answer: two chains a1 -> a2 and b1 -> b2 that everybody walks; a user who did a1 long ago and b1
    just now should be offered b2 first with recency, while EASE ties the two (same co-occurrence)."""
    seqs = [[0, 1], [2, 3]] * 20 + [[0, 1, 2, 3], [2, 3, 0, 1]] * 5
    users = np.repeat(np.arange(len(seqs)), [len(s) for s in seqs])
    data = Interactions(
        users=np.append(users, [len(seqs), len(seqs)]),
        items=np.array([i for s in seqs for i in s] + [0, 2]),
        user_vocab=Vocabulary(np.arange(len(seqs) + 1)),
        item_vocab=Vocabulary(np.arange(4)),
        timestamps=np.arange(users.size + 2),
    )
    probe = np.array([len(seqs)])  # walked 0 (older), then 2 (latest)
    recent = RecencyEASE(reg=1.0, recency=3.0).fit(data).score(probe)[0]
    plain = EASE(reg=1.0).fit(data).score(probe)[0]
    assert plain[1] == pytest.approx(plain[3])
    assert recent[3] > recent[1]
    assert RecencyEASE(reg=1.0, recency=3.0).fit(data).recommend(probe, n=1).items[0, 0] == 3


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="recency must be a number >= 0"):
        RecencyEASE(recency=-1.0)
    with pytest.raises(ConfigError, match="reg must be > 0"):
        RecencyEASE(reg=0.0)


def test_rescored_scores_like_a_fit_with_that_recency_and_refuses_fit_params() -> None:
    data = random_interactions(30, 20, density=0.3, seed=2)
    fitted = RecencyEASE(reg=5.0, recency=0.0).fit(data)
    twin = fitted.rescored({"recency": 2.0})
    users = np.arange(data.n_users)
    np.testing.assert_allclose(twin.score(users), RecencyEASE(reg=5.0, recency=2.0).fit(data).score(users))
    assert fitted.config.recency == 0.0 and twin.weights_ is fitted.weights_  # shared, not copied
    with pytest.raises(ValueError, match=r"\['reg'\] change what fit learns"):
        fitted.rescored({"reg": 1.0})
    with pytest.raises(ConfigError):
        fitted.rescored({"recency": -1.0})


def test_scoring_params_must_be_config_fields() -> None:
    with pytest.raises(TypeError, match=r"scoring_params \['nope'\] are not fields"):

        class Broken(RecencyEASE):
            scoring_params = frozenset({"nope"})


def test_models_trained_with_validation_declare_no_scoring_params() -> None:
    """Early stopping picks the epoch under one scoring value, so the fit would depend on it."""
    with pytest.raises(TypeError, match="trains with validation has no scoring_params"):

        class Stopped(RecencyEASE):
            supports_validation = True
            scoring_params = frozenset({"recency"})
