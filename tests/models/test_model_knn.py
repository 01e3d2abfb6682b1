"""ItemKNN: conformance, similarities against a dense reference, blocking invariance."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from lmrec.errors import ConfigError
from lmrec.models.base import Recommender
from lmrec.models.knn import ItemKNN, ItemKNNConfig, cosine_topk, item_blocks
from lmrec.testing.conformance import RecommenderConformance
from lmrec.testing.datasets import random_interactions


class TestItemKNN(RecommenderConformance):
    def make_model(self, **overrides: Any) -> Recommender:
        # k above the group sizes of the known-answer data: with fewer neighbours the symmetric, tied
        # similarities would leave the highest-index items without votes
        return ItemKNN(ItemKNNConfig(k=30, shrink=1.0, **overrides))


def dense_reference(x: np.ndarray, k: int, shrink: float) -> np.ndarray:
    """Top-k cosine with shrinkage, computed densely in float64 and pruned row by row."""
    gram = x.T.astype(np.float64) @ x
    norms = np.sqrt(np.diag(gram))
    with np.errstate(invalid="ignore"):  # 0/0 for the untouched item
        sim = np.nan_to_num(gram / (np.outer(norms, norms) + shrink))
    np.fill_diagonal(sim, 0.0)
    out = np.zeros_like(sim)
    for i in range(sim.shape[0]):
        order = np.lexsort((np.arange(sim.shape[1]), -sim[i]))[:k]
        order = order[sim[i, order] > 0]
        out[i, order] = sim[i, order]
    return out


@pytest.mark.parametrize(("k", "shrink", "seed"), [(5, 0.0, 0), (3, 2.5, 1), (1000, 10.0, 2)])
def test_similarity_matches_dense_reference(k: int, shrink: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = (rng.random((150, 60)) < 0.08).astype(np.float32)
    x[:, 7] = 0  # an item nobody touched keeps an empty row and column
    got = cosine_topk(sp.csr_matrix(x), k, shrink, block_entries=10**9).toarray()
    ref = dense_reference(x, k, shrink)
    np.testing.assert_allclose(got, ref, rtol=2e-6, atol=1e-7)
    assert ((got > 0).sum(axis=1) <= k).all()
    assert not got[7].any() and not got[:, 7].any()


def test_ties_keep_the_lower_item_index() -> None:
    # item 0 co-occurs equally with items 1, 2, 3: with k=2 the lower indices 1 and 2 win
    x = np.array([[1, 1, 1, 1], [1, 1, 1, 1]], dtype=np.float32)
    sim = cosine_topk(sp.csr_matrix(x), 2, 0.0, 10**9).toarray()
    np.testing.assert_array_equal(np.flatnonzero(sim[0]), [1, 2])
    np.testing.assert_array_equal(np.flatnonzero(sim[3]), [0, 1])


def test_blocked_equals_unblocked() -> None:
    data = random_interactions(200, 90, density=0.15, seed=5)
    x = data.csr()
    assert len(item_blocks(x, 300)) > 10
    whole = cosine_topk(x, 7, 1.0, block_entries=10**9)
    blocked = cosine_topk(x, 7, 1.0, block_entries=300)
    assert len(item_blocks(x, 10**9)) == 1
    np.testing.assert_array_equal(whole.indptr, blocked.indptr)
    np.testing.assert_array_equal(whole.indices, blocked.indices)
    np.testing.assert_array_equal(whole.data, blocked.data)


def test_blocks_cover_all_items_once() -> None:
    x = random_interactions(50, 40, seed=6).csr()
    for budget in (1, 17, 500, 10**9):
        blocks = item_blocks(x, budget)
        assert blocks[0][0] == 0 and blocks[-1][1] == 40
        assert all(a < b for a, b in blocks)
        assert all(b == c for (_, b), (c, _) in itertools.pairwise(blocks))


def test_scores_are_history_times_similarity() -> None:
    data = random_interactions(seed=7)
    model = ItemKNN(k=4).fit(data)
    hist = data.csr().toarray()
    expected = hist @ model.similarity_.toarray()
    np.testing.assert_allclose(model.score(np.arange(data.n_users)), expected, rtol=1e-6)
    # an unknown user with a known user's history gets exactly that user's scores
    np.testing.assert_array_equal(model.score(np.array([-1]), data.csr()[[4]]), model.score(np.array([4])))


@pytest.mark.parametrize(
    "params", [{"k": 0}, {"k": 2.5}, {"shrink": -1.0}, {"feedback": "count"}, {"block_entries": 0}]
)
def test_invalid_config(params: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ItemKNNConfig(**params)


def test_exact_ties_break_to_lower_index_like_a_rational_reference(ml100k_dir) -> None:
    """Equal cosines must be bit-identical so the protocol tie-break applies.

    On ML-100K, float32 sqrt(n_i) * sqrt(n_j) split exact ties by one ulp in rows 17, 34 and 74 (among
    others), which gave different neighbour sets than exact rational arithmetic.
    """
    from fractions import Fraction

    import numpy as np
    import pandas as pd

    from lmrec.data.interactions import Interactions
    from lmrec.models.knn import cosine_topk

    frame = pd.read_csv(ml100k_dir / "u.data", sep="\t", names=["user", "item", "rating", "timestamp"])
    x = Interactions.from_frame(frame).csr()
    k = 20
    sim = cosine_topk(x, k=k, shrink=0.0, block_entries=10_000_000)
    c = (x.T @ x).toarray()
    n = np.asarray(x.sum(axis=0)).ravel()
    for i in range(80):
        cand = [j for j in range(x.shape[1]) if j != i and c[i, j] > 0]
        cand.sort(key=lambda j: (-Fraction(int(c[i, j]) ** 2, int(n[i] * n[j])), j))
        assert sim[i].indices.tolist() == sorted(cand[:k]), f"item {i}"


@pytest.mark.parametrize("exclude_history", [True, False])
@pytest.mark.parametrize("n", [1, 5, 40])
def test_sparse_recommend_equals_the_full_ranking(exclude_history: bool, n: int) -> None:
    from lmrec.testing.datasets import random_interactions

    data = random_interactions(n_users=60, n_items=80, density=0.08, seed=3)
    model = ItemKNN(k=7).fit(data, seed=0)
    users = np.arange(60)
    fast = model.recommend(users, n=n, exclude_history=exclude_history)
    full = Recommender.recommend(model, users, n=n, exclude_history=exclude_history)
    np.testing.assert_array_equal(fast.items, full.items)
    np.testing.assert_array_equal(fast.scores, full.scores)
    # unknown users scored from a given history, and a mix of short and long histories
    given = model.history_[[5, 0, 17]]
    unknown = np.array([-1, -1, 2])
    np.testing.assert_array_equal(
        model.recommend(unknown, given, n=n, exclude_history=exclude_history).items,
        Recommender.recommend(model, unknown, given, n=n, exclude_history=exclude_history).items,
    )
