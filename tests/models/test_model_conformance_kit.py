"""The known-answer datasets and the conformance mixin themselves: the data has the promised structure,
and the mixin fails a model that does not meet the contract."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from lmrec.models.base import Recommender
from lmrec.models.popularity import Popularity
from lmrec.testing.conformance import RecommenderConformance
from lmrec.testing.datasets import (
    DISLIKED,
    ITEM_ID_OFFSET,
    LIKED,
    block_identity,
    checkerboard,
    random_interactions,
    tiny_ratings,
)


def test_checkerboard_is_implicits_board_minus_one_item_per_user() -> None:
    case = checkerboard(6, 6)
    x = case.data.csr().toarray()
    board = (np.add.outer(np.arange(6), np.arange(6)) % 2 == 0).astype(np.float32)
    missing = board - x
    assert (missing >= 0).all() and (missing.sum(axis=1) == 1).all()
    np.testing.assert_array_equal(np.argmax(missing, axis=1)[:, None], case.expected)
    assert case.data.user_vocab.ids.tolist() == [f"u{u:03d}" for u in range(6)]
    assert case.data.item_vocab.ids.tolist() == list(range(ITEM_ID_OFFSET, ITEM_ID_OFFSET + 6))


@pytest.mark.parametrize("ratings", [False, True])
def test_grouped_cases_hold_out_own_group_items(ratings: bool) -> None:
    for case in (checkerboard(24, 24, block=3, holdout=2, ratings=ratings), block_identity(ratings=ratings)):
        x = case.data.csr(values="rating" if ratings else "binary").toarray()
        liked = x == (LIKED if ratings else 1.0)
        for u, expected in enumerate(case.expected):
            assert not x[u, expected].any(), "expected items must be unseen"
            # the expected items are of the user's group: other group members liked them
            same_group = np.flatnonzero(liked[:, liked[u]].sum(axis=1) > 0)
            assert liked[same_group][:, expected].any(axis=0).all()
        assert (x != 0).any(axis=0).all(), "every item keeps training data"
        if ratings:
            assert set(np.unique(x[x != 0])) == {LIKED, DISLIKED}


def test_random_interactions_cover_users_and_items() -> None:
    data = random_interactions(17, 9, density=0.9, seed=2)
    x = data.csr().toarray()
    assert x.any(axis=1).all() and x.any(axis=0).all()
    assert not x.all(axis=1).any(), "every user keeps an unseen item"
    assert data.ratings is not None and set(np.unique(data.ratings)) <= {1, 2, 3, 4, 5}


def test_tiny_ratings_are_the_true_model_on_observed_pairs() -> None:
    data, true = tiny_ratings(seed=3)
    np.testing.assert_allclose(data.ratings, true[data.users, data.items], rtol=1e-6)
    noisy, _ = tiny_ratings(seed=3, noise=0.5)
    assert not np.allclose(noisy.ratings, data.ratings)


class _PopularityClaimingPersonalised(RecommenderConformance):
    """Not collected (no Test prefix): used to show the mixin rejects a non-personal model."""

    def make_model(self, **overrides: Any) -> Recommender:
        return Popularity(**overrides)


def test_mixin_fails_a_model_without_the_known_answer() -> None:
    with pytest.raises(AssertionError, match="checkerboard"):
        _PopularityClaimingPersonalised().test_known_answer()
    with pytest.raises(AssertionError):
        _PopularityClaimingPersonalised().test_known_answer_unknown_user_from_history()
