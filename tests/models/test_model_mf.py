"""ALS and BPR: conformance, agreement with implicit's own fit and scores, unknown-user fold-in."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from lmrec.errors import ConfigError
from lmrec.models.base import Recommender
from lmrec.models.mf import ALS, BPR, ALSConfig, BPRConfig
from lmrec.testing.conformance import RecommenderConformance
from lmrec.testing.datasets import checkerboard, random_interactions


class TestALS(RecommenderConformance):
    def make_model(self, **overrides: Any) -> Recommender:
        # regularised: with 8 free factors and reg≈0 ALS reproduces the holes of a 24 x 24 checkerboard
        return ALS(ALSConfig(factors=8, reg=1.0, iterations=10, num_threads=1, **overrides))


class TestBPR(RecommenderConformance):
    def make_model(self, **overrides: Any) -> Recommender:
        return BPR(BPRConfig(factors=8, iterations=60, learning_rate=0.05, num_threads=1, **overrides))


def _seed_of(seed: int) -> int:
    """The random_state lmrec hands to implicit for `fit(seed=seed)`."""
    return int(np.random.default_rng(seed).integers(2**31 - 1))


def _implicit_scores(model: Any, user_items: sp.csr_matrix) -> np.ndarray:
    """Full score matrix as implicit's own `recommend` reports it."""
    n_users, n_items = user_items.shape
    ids, scores = model.recommend(np.arange(n_users), user_items, N=n_items, filter_already_liked_items=False)
    out = np.empty((n_users, n_items), dtype=np.float32)
    np.put_along_axis(out, ids.astype(np.int64), scores, axis=1)
    return out


def test_als_factors_and_scores_equal_implicit() -> None:
    from implicit.cpu.als import AlternatingLeastSquares

    data = random_interactions(40, 30, seed=1)
    ours = ALS(factors=6, reg=0.05, alpha=2.0, iterations=7, num_threads=1).fit(data, seed=5)
    x = data.csr()
    with threadpool_limits(1, "blas"):
        ref = AlternatingLeastSquares(
            factors=6, regularization=0.05, alpha=2.0, iterations=7, num_threads=1, random_state=_seed_of(5)
        )
        ref.fit(x, show_progress=False)
    np.testing.assert_array_equal(ours.user_factors_, ref.user_factors)
    np.testing.assert_array_equal(ours.item_factors_, ref.item_factors)
    np.testing.assert_allclose(
        ours.score(np.arange(data.n_users)), _implicit_scores(ref, x), rtol=1e-5, atol=1e-6
    )


def test_bpr_scores_equal_implicit_including_bias() -> None:
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    data = random_interactions(40, 30, seed=2)
    ours = BPR(factors=6, iterations=20, num_threads=1).fit(data, seed=9)
    x = data.csr()
    with threadpool_limits(1, "blas"):
        ref = BayesianPersonalizedRanking(factors=6, iterations=20, num_threads=1, random_state=_seed_of(9))
        ref.fit(x, show_progress=False)
    np.testing.assert_array_equal(ours.item_factors_, ref.item_factors)
    assert ours.item_factors_.shape == (30, 7)  # factors + implicit's item-bias column
    np.testing.assert_array_equal(ours.user_factors_[:, -1], 1.0)
    np.testing.assert_allclose(
        ours.score(np.arange(data.n_users)), _implicit_scores(ref, x), rtol=1e-5, atol=1e-6
    )


def test_als_fold_in_solves_the_normal_equations() -> None:
    data = random_interactions(40, 30, seed=3)
    cfg = ALSConfig(factors=5, reg=0.3, alpha=3.0, iterations=5, num_threads=1)
    model = ALS(cfg).fit(data, seed=0)
    hist = data.csr()[[2, 7]]
    scores = model.score(np.array([-1, -1]), hist)
    v = model.item_factors_.astype(np.float64)
    for row in range(2):
        vh = v[hist[row].indices]
        a = v.T @ v + cfg.reg * np.eye(5) + (cfg.alpha - 1.0) * vh.T @ vh
        u = np.linalg.solve(a, cfg.alpha * vh.sum(axis=0))
        np.testing.assert_allclose(scores[row], v @ u, rtol=1e-4, atol=1e-5)


def test_als_fold_in_reproduces_a_converged_user() -> None:
    # exact (Cholesky) training: after convergence a user's factors are its own least-squares step
    data = random_interactions(40, 30, seed=4)
    model = ALS(factors=4, reg=0.1, iterations=60, use_cg=False, num_threads=1).fit(data, seed=0)
    folded = model.score(np.array([-1]), data.csr()[[6]])
    np.testing.assert_allclose(folded, model.score(np.array([6])), atol=5e-3)


def test_bpr_fold_in_is_ridge_regression_of_the_history() -> None:
    data = random_interactions(40, 30, seed=5)
    model = BPR(factors=4, iterations=10, fold_in_reg=0.5, num_threads=1).fit(data, seed=0)
    hist = data.csr()[[1]]
    v = model.item_factors_.astype(np.float64)
    h = hist.toarray()[0]
    penalty = 0.5 * np.trace(v.T @ v) / 5
    assert model.fold_in_penalty() == pytest.approx(penalty)
    u = np.linalg.solve(v.T @ v + penalty * np.eye(v.shape[1]), v.T @ h)
    np.testing.assert_allclose(model.score(np.array([-1]), hist)[0], v @ u, rtol=1e-4, atol=1e-5)


def test_bpr_fold_in_ranks_like_the_trained_users() -> None:
    case = checkerboard(30, 30, block=5)
    model = BPR(factors=8, iterations=60, learning_rate=0.05, num_threads=1).fit(case.data, seed=1)
    recs = model.recommend(np.full(30, -1), case.data.csr(), n=1)
    np.testing.assert_array_equal(recs.items, case.expected)


@pytest.mark.parametrize(
    ("config", "params"),
    [
        (ALSConfig, {"factors": 0}),
        (ALSConfig, {"alpha": 0.0}),
        (ALSConfig, {"reg": -0.1}),
        (ALSConfig, {"num_threads": -1}),
        (ALSConfig, {"iterations": True}),
        (BPRConfig, {"learning_rate": 0.0}),
        (BPRConfig, {"fold_in_reg": 0.0}),
        (BPRConfig, {"factors": 2.0}),
    ],
)
def test_invalid_config(config: type, params: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        config(**params)
