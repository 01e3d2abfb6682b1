"""GF-CF: conformance, both filters against a dense computation of the paper's formula, the SVD paths
(ARPACK, dense, null-space vectors dropped), seeding, config validation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from lmrec.errors import ConfigError
from lmrec.models.base import Recommender
from lmrec.models.gfcf import GFCF, GFCFConfig
from lmrec.testing.conformance import RecommenderConformance
from lmrec.testing.datasets import from_matrix, random_interactions


class TestGFCF(RecommenderConformance):
    def make_model(self, **overrides: Any) -> Recommender:
        return GFCF(GFCFConfig(**{"alpha": 0.3, "k": 8, **overrides}))


class TestGFCFLinearOnly(TestGFCF):
    def make_model(self, **overrides: Any) -> Recommender:
        return GFCF(GFCFConfig(**{"alpha": 0.0, **overrides}))


def dense_gfcf(x: np.ndarray, alpha: float, k: int) -> np.ndarray:
    """Shen et al.'s scores written out densely in float64: R̃ = D_u^-½ R D_i^-½,
    X R̃ᵀR̃ + alpha · X D_i^-½ V Vᵀ D_i^½ with V the top-k right singular vectors of R̃ (numpy's full SVD)."""
    du, di = x.sum(axis=1), x.sum(axis=0)
    inv_u = np.where(du > 0, 1 / np.sqrt(np.maximum(du, 1)), 0.0)
    inv_i = np.where(di > 0, 1 / np.sqrt(np.maximum(di, 1)), 0.0)
    r = inv_u[:, None] * x * inv_i[None, :]
    _, s, vt = np.linalg.svd(r)
    v = vt[:k][s[:k] > 1e-9].T
    ideal = np.diag(inv_i) @ v @ v.T @ np.diag(np.sqrt(di))
    return x @ (r.T @ r) + alpha * x @ ideal


TINY = np.array(
    [
        [1, 1, 0, 0, 1, 0],
        [1, 0, 1, 0, 0, 0],
        [0, 1, 1, 1, 0, 1],
        [1, 1, 1, 0, 0, 0],
        [0, 0, 1, 1, 1, 0],
        [1, 0, 0, 1, 0, 1],
        [0, 1, 0, 0, 1, 1],
    ],
    dtype=np.float64,
)


def test_hand_computed_linear_filter() -> None:
    """R = [[1, 1], [1, 0]]: D_u = D_i = diag(2, 1), R̃ = [[1/2, 1/√2], [1/√2, 0]], R̃ᵀR̃ = [[3/4, 1/(2√2)],
    [1/(2√2), 1/2]]; user 1 (history: item 0) scores row 0 of it."""
    model = GFCF(alpha=0.0).fit(from_matrix(np.array([[1.0, 1.0], [1.0, 0.0]])))
    np.testing.assert_allclose(model.score(np.array([1]))[0], [0.75, 1 / (2 * np.sqrt(2))], rtol=1e-6)
    np.testing.assert_allclose(model.score(np.array([0]))[0], [0.75 + 0.5**1.5, 0.5**1.5 + 0.5], rtol=1e-6)


@pytest.mark.parametrize(("alpha", "k"), [(0.0, 3), (0.3, 2), (1.0, 3), (0.5, 6), (2.0, 50)])
def test_scores_match_dense_formula_on_a_tiny_matrix(alpha: float, k: int) -> None:
    """k < 6 goes through ARPACK, k >= min(users, items) = 6 through the dense SVD."""
    model = GFCF(alpha=alpha, k=k).fit(from_matrix(TINY), seed=0)
    ref = dense_gfcf(TINY, alpha, k)
    np.testing.assert_allclose(model.score(np.arange(TINY.shape[0])), ref, rtol=1e-5, atol=1e-6)
    assert model.training_["singular_vectors"] == (0 if alpha == 0 else min(k, 6))


def test_ideal_filter_on_random_data() -> None:
    data = random_interactions(60, 40, density=0.15, seed=3)
    x = data.csr().toarray().astype(np.float64)
    model = GFCF(alpha=0.7, k=12).fit(data, seed=5)
    np.testing.assert_allclose(model.score(np.arange(60)), dense_gfcf(x, 0.7, 12), rtol=1e-4, atol=1e-5)


def test_null_space_vectors_are_dropped() -> None:
    """Duplicated users and items make R̃ rank 3; asking for more singular vectors keeps 3 (the rest would
    be arbitrary directions of the null space, not low frequencies)."""
    base = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]], dtype=np.float64)
    x = np.kron(np.ones((3, 2)), base)  # 9 users x 6 items, rank 3
    for k in (4, 5, 8):  # ARPACK (k < 6) and dense
        model = GFCF(alpha=1.0, k=k).fit(from_matrix(x), seed=1)
        assert model.training_["singular_vectors"] == 3
        np.testing.assert_allclose(model.score(np.arange(9)), dense_gfcf(x, 1.0, 3), rtol=1e-5, atol=1e-6)


def test_items_without_training_data_score_zero() -> None:
    x = TINY.copy()
    x[:, 2] = 0  # item 2 is in the catalog but nobody interacted with it
    model = GFCF(alpha=0.5, k=3).fit(from_matrix(x))
    scores = model.score(np.arange(x.shape[0]))
    assert np.isfinite(scores).all()
    np.testing.assert_array_equal(scores[:, 2], 0.0)


def test_seeded_and_nearly_seed_free() -> None:
    data = random_interactions(80, 50, density=0.1, seed=9)
    users = np.arange(data.n_users)
    a = GFCF(k=10).fit(data, seed=1).score(users)
    np.testing.assert_array_equal(a, GFCF(k=10).fit(data, seed=1).score(users))
    # another start vector converges to the same subspace
    np.testing.assert_allclose(a, GFCF(k=10).fit(data, seed=2).score(users), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"alpha": -0.5}, "alpha"),
        ({"alpha": float("inf")}, "alpha"),
        ({"alpha": float("nan")}, "alpha"),
        ({"k": 0}, "k"),
        ({"k": 16.0}, "k"),
    ],
)
def test_invalid_config_names_the_parameter(params: dict[str, Any], name: str) -> None:
    with pytest.raises(ConfigError, match=rf"GFCF: {name} "):
        GFCFConfig(**params)
    with pytest.raises(ConfigError, match=name):
        GFCF(**params)  # the model's constructor says the same (lmrec.models.params)
