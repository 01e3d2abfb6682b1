"""Popularity through the conformance suite, plus its own known answer."""

from __future__ import annotations

from typing import Any

import numpy as np

from lmrec.models.base import Recommender
from lmrec.models.popularity import Popularity
from lmrec.testing.conformance import RecommenderConformance
from lmrec.testing.datasets import random_interactions


class TestPopularity(RecommenderConformance):
    personalized = False
    uses_history = False

    def make_model(self, **overrides: Any) -> Recommender:
        return Popularity(**overrides)

    def test_ranks_by_distinct_users(self) -> None:
        data = random_interactions(seed=4)
        model = Popularity().fit(data)
        users_per_item = (data.csr().toarray() > 0).sum(axis=0)
        expected = np.lexsort((np.arange(data.n_items), -users_per_item))[:5]
        np.testing.assert_array_equal(
            model.recommend(np.array([-1]), n=5, exclude_history=False).items[0], expected
        )
