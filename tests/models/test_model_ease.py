"""EASE: conformance, the closed form against a direct numpy computation, the catalog-size guard."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from lmrec.errors import ConfigError
from lmrec.models.base import Recommender
from lmrec.models.ease import EASE, EASEConfig, ease_memory_bytes
from lmrec.testing.conformance import RecommenderConformance
from lmrec.testing.datasets import random_interactions


class TestEASE(RecommenderConformance):
    def make_model(self, **overrides: Any) -> Recommender:
        return EASE(EASEConfig(reg=10.0, **overrides))


def direct_ease(x: np.ndarray, reg: float) -> np.ndarray:
    """Steck's formula written out: B = I - P diag(1/diag(P)), P = (XᵀX + λI)⁻¹."""
    p = np.linalg.inv(x.T @ x + reg * np.eye(x.shape[1]))
    b = np.eye(x.shape[1]) - p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return b


@pytest.mark.parametrize(
    ("reg", "precision", "block_items", "atol"),
    [
        (5.0, "float64", 2048, 1e-6),
        (5.0, "float64", 7, 1e-6),
        (50.0, "float32", 13, 2e-5),
    ],
)
def test_weights_match_direct_formula(reg: float, precision: str, block_items: int, atol: float) -> None:
    data = random_interactions(80, 45, density=0.2, seed=1)
    model = EASE(reg=reg, precision=precision, block_items=block_items).fit(data)
    ref = direct_ease(data.csr().toarray().astype(np.float64), reg)
    assert model.weights_.dtype == np.float32
    np.testing.assert_allclose(model.weights_, ref, atol=atol)
    np.testing.assert_array_equal(np.diag(model.weights_), 0.0)


def test_scores_and_unknown_users() -> None:
    data = random_interactions(seed=2)
    model = EASE(reg=3.0).fit(data)
    hist = data.csr()
    np.testing.assert_allclose(
        model.score(np.arange(data.n_users)), hist.toarray() @ model.weights_, rtol=1e-5, atol=1e-6
    )
    np.testing.assert_array_equal(model.score(np.array([-1]), hist[[5]]), model.score(np.array([5])))


def test_refuses_large_catalog_with_memory_estimate() -> None:
    data = random_interactions(20, 30, seed=3)
    with pytest.raises(ConfigError, match=r"30 items > max_items=29.*GiB"):
        EASE(max_items=29).fit(data)
    assert ease_memory_bytes(30_000) == 30_000**2 * 12
    assert ease_memory_bytes(30_000, "float32") == 30_000**2 * 8


@pytest.mark.parametrize(
    "params", [{"reg": 0.0}, {"reg": -1.0}, {"max_items": 0}, {"precision": "float16"}, {"block_items": 0}]
)
def test_invalid_config(params: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        EASEConfig(**params)


def test_large_catalogs_solve_on_one_blas_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above THREADED_SOLVE_MAX the dense solve runs under a one-thread BLAS limit (multi-threaded
    OpenBLAS dpotrf crashed on an 18k-item catalog); the weights are the same either way."""
    from lmrec.models import ease as ease_module
    from lmrec.testing.datasets import random_interactions

    data = random_interactions(n_users=40, n_items=30, seed=1)
    seen: list[int] = []
    real = ease_module._solve_threads

    def spy(m: int):  # type: ignore[no-untyped-def]
        seen.append(m)
        return real(m)

    monkeypatch.setattr(ease_module, "_solve_threads", spy)
    threaded = ease_module.EASE(reg=5.0).fit(data, seed=0).weights_
    monkeypatch.setattr(ease_module, "THREADED_SOLVE_MAX", 10)
    single = ease_module.EASE(reg=5.0).fit(data, seed=0).weights_
    assert seen == [30, 30]
    np.testing.assert_allclose(single, threaded, rtol=1e-6, atol=1e-7)


def test_the_one_thread_limit_applies_to_every_blas_library() -> None:
    from threadpoolctl import threadpool_info

    from lmrec.models.ease import THREADED_SOLVE_MAX, _solve_threads

    with _solve_threads(THREADED_SOLVE_MAX + 1):
        blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
        assert blas and all(i["num_threads"] == 1 for i in blas)
