"""RP3beta: conformance, W against a dense computation of the walk, pruning and ties, blocking
invariance, config validation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from lmrec.errors import ConfigError
from lmrec.models.base import Recommender
from lmrec.models.knn import item_blocks
from lmrec.models.rp3beta import RP3beta, RP3betaConfig, rp3beta_weights
from lmrec.testing.conformance import RecommenderConformance
from lmrec.testing.datasets import TINY_MATRIX as TINY
from lmrec.testing.datasets import from_matrix, random_interactions


class TestRP3beta(RecommenderConformance):
    def make_model(self, **overrides: Any) -> Recommender:
        # k above the group sizes of the known-answer data, as for ItemKNN
        return RP3beta(RP3betaConfig(**{"alpha": 0.8, "beta": 0.3, "k": 30, **overrides}))


class TestRP3betaUnnormalized(TestRP3beta):
    def make_model(self, **overrides: Any) -> Recommender:
        return RP3beta(RP3betaConfig(**{"alpha": 1.0, "beta": 0.5, "k": 30, "normalize": False, **overrides}))


def dense_rp3beta(x: np.ndarray, alpha: float, beta: float, k: int, normalize: bool) -> np.ndarray:
    """The walk written out densely in float64: W = (P_iu)^α (P_ui)^α · diag(n^-β), W_ii = 0, each row
    cut to its top k (ties: lower index), then optionally L1-normalised."""
    n_items = x.sum(axis=0)
    n_user = x.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_ui = np.nan_to_num(x / n_user[:, None])  # user -> item
        p_iu = np.nan_to_num(x.T / n_items[:, None])  # item -> user
        pop = np.where(n_items > 0, n_items, 1.0) ** -beta
    # the power applies to the graph's edges only (0^0 would make every non-edge a step of weight 1)
    w = np.where(p_iu > 0, p_iu**alpha, 0.0) @ np.where(p_ui > 0, p_ui**alpha, 0.0) * pop[None, :]
    np.fill_diagonal(w, 0.0)
    out = np.zeros_like(w)
    for i in range(w.shape[0]):
        top = np.lexsort((np.arange(w.shape[1]), -w[i]))[:k]
        top = top[w[i, top] > 0]
        out[i, top] = w[i, top]
    if normalize:
        sums = out.sum(axis=1, keepdims=True)
        out = np.divide(out, sums, out=np.zeros_like(out), where=sums > 0)
    return out


def test_hand_computed_walk() -> None:
    """Item 0 (users 0, 1, 3, 5) to item 1 (users 0, 2, 3) goes through users 0 (3 items) and 3 (3 items):
    P3 weight (1/4)(1/3) + (1/4)(1/3) = 1/6; with β = 1 divided by item 1's popularity 3: 1/18."""
    w = RP3beta(alpha=1.0, beta=1.0, k=10, normalize=False).fit(from_matrix(TINY)).similarity_.toarray()
    assert w[0, 1] == pytest.approx(1 / 18, rel=1e-6)
    # item 3 (users 2, 4, 5) reaches item 0 only through user 5 (2 items): (1/3)(1/2) / 4 (item 0's users)
    assert w[3, 0] == pytest.approx(1 / 24, rel=1e-6)
    np.testing.assert_array_equal(np.diag(w), 0.0)


@pytest.mark.parametrize(
    ("alpha", "beta", "k", "normalize"),
    [(1.0, 0.0, 10, False), (0.5, 0.3, 2, True), (1.5, 0.8, 3, False), (0.0, 0.4, 10, True)],
)
def test_scores_match_dense_formula_on_a_tiny_matrix(
    alpha: float, beta: float, k: int, normalize: bool
) -> None:
    model = RP3beta(alpha=alpha, beta=beta, k=k, normalize=normalize).fit(from_matrix(TINY))
    ref = dense_rp3beta(TINY, alpha, beta, k, normalize)
    np.testing.assert_allclose(model.similarity_.toarray(), ref, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(model.score(np.arange(TINY.shape[0])), TINY @ ref, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize(("k", "seed"), [(5, 0), (3, 1), (1000, 2)])
def test_matches_dense_formula_on_random_data(k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = (rng.random((150, 60)) < 0.08).astype(np.float64)
    x[:, 7] = 0  # an item nobody touched keeps an empty row and column
    got = rp3beta_weights(sp.csr_matrix(x), 0.7, 0.35, k, True, block_entries=10**9).toarray()
    ref = dense_rp3beta(x, 0.7, 0.35, k, True)
    np.testing.assert_allclose(got, ref, rtol=2e-6, atol=1e-9)
    assert ((got > 0).sum(axis=1) <= k).all()
    assert not got[7].any() and not got[:, 7].any()
    np.testing.assert_allclose(got.sum(axis=1)[np.flatnonzero(got.any(axis=1))], 1.0, rtol=1e-6)


def test_ties_keep_the_lower_item_index() -> None:
    x = np.array([[1, 1, 1, 1], [1, 1, 1, 1]], dtype=np.float64)
    w = rp3beta_weights(sp.csr_matrix(x), 1.0, 0.5, 2, False, 10**9).toarray()
    np.testing.assert_array_equal(np.flatnonzero(w[0]), [1, 2])
    np.testing.assert_array_equal(np.flatnonzero(w[3]), [0, 1])


def test_blocked_equals_unblocked() -> None:
    x = random_interactions(200, 90, density=0.15, seed=5).csr()
    assert len(item_blocks(x, 300)) > 10
    whole = rp3beta_weights(x, 0.8, 0.3, 7, True, block_entries=10**9)
    blocked = rp3beta_weights(x, 0.8, 0.3, 7, True, block_entries=300)
    np.testing.assert_array_equal(whole.indptr, blocked.indptr)
    np.testing.assert_array_equal(whole.indices, blocked.indices)
    np.testing.assert_array_equal(whole.data, blocked.data)


def test_beta_demotes_popular_items() -> None:
    data = random_interactions(300, 50, density=0.1, seed=7)
    counts = np.diff(data.csr().tocsc().indptr)
    users = np.arange(data.n_users)

    def mean_popularity(beta: float) -> float:
        recs = RP3beta(alpha=1.0, beta=beta, k=50).fit(data).recommend(users, n=5)
        return float(counts[recs.items].mean())

    assert mean_popularity(0.8) < mean_popularity(0.0)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"alpha": -0.1}, "alpha"),
        ({"alpha": float("inf")}, "alpha"),
        ({"alpha": float("nan")}, "alpha"),
        ({"beta": -1.0}, "beta"),
        ({"beta": float("nan")}, "beta"),
        ({"k": 0}, "k"),
        ({"k": 2.5}, "k"),
        ({"normalize": 1}, "normalize"),
        ({"block_entries": 0}, "block_entries"),
    ],
)
def test_invalid_config_names_the_parameter(params: dict[str, Any], name: str) -> None:
    with pytest.raises(ConfigError, match=rf"RP3beta: {name} "):
        RP3betaConfig(**params)
    with pytest.raises(ConfigError, match=name):
        RP3beta(**params)  # the model's constructor says the same (lmrec.models.params)
