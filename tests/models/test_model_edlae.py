"""EDLAE: conformance, the closed form against the constrained least-squares problem it solves, p = 0 is
EASE, config validation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from lmrec.errors import ConfigError
from lmrec.models.base import Recommender
from lmrec.models.ease import EASE
from lmrec.models.edlae import EDLAE, EDLAEConfig
from lmrec.testing.conformance import RecommenderConformance
from lmrec.testing.datasets import TINY_MATRIX as TINY
from lmrec.testing.datasets import from_matrix, random_interactions


class TestEDLAE(RecommenderConformance):
    def make_model(self, **overrides: Any) -> Recommender:
        return EDLAE(EDLAEConfig(**{"reg": 10.0, "dropout": 0.25, **overrides}))


def column_by_column(x: np.ndarray, reg: float, p: float) -> np.ndarray:
    """Steck's objective solved directly: column j of B minimises ‖X_j − X b‖² + Σ_i Λ_ii b_i² over b
    with b_j = 0 (a ridge regression of item j on the other items), Λ = reg·I + p/(1-p)·diag(XᵀX). No
    inverse-of-the-whole-Gram trick, so it checks the closed form rather than re-typing it."""
    g = x.T @ x
    lam = reg + p / (1 - p) * np.diag(g)
    m = x.shape[1]
    b = np.zeros((m, m))
    for j in range(m):
        rest = np.delete(np.arange(m), j)
        a = g[np.ix_(rest, rest)] + np.diag(lam[rest])
        b[rest, j] = np.linalg.solve(a, g[rest, j])
    return b


@pytest.mark.parametrize(("reg", "p"), [(1.0, 0.0), (0.5, 0.25), (2.0, 0.5), (0.1, 0.9)])
def test_known_answer_on_a_tiny_matrix(reg: float, p: float) -> None:
    model = EDLAE(reg=reg, dropout=p).fit(from_matrix(TINY))
    b = column_by_column(TINY, reg, p)
    np.testing.assert_allclose(model.weights_, b, atol=1e-6)
    np.testing.assert_allclose(model.score(np.arange(TINY.shape[0])), TINY @ b, atol=1e-6)


def test_closed_form_written_out() -> None:
    """The docstring's formula, densely: Λ = λI + p/(1-p)·diagMat(diag(G)), B = I − P·diag(1/diag(P))."""
    data = random_interactions(80, 45, density=0.2, seed=1)
    x = data.csr().toarray().astype(np.float64)
    g = x.T @ x
    reg, p = 5.0, 0.3
    inv = np.linalg.inv(g + np.diag(reg + p / (1 - p) * np.diag(g)))
    ref = np.eye(45) - inv / np.diag(inv)[None, :]
    np.fill_diagonal(ref, 0.0)
    for precision, atol in (("float64", 1e-6), ("float32", 2e-5)):
        got = EDLAE(reg=reg, dropout=p, precision=precision, block_items=7).fit(data).weights_
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, ref, atol=atol)
        np.testing.assert_array_equal(np.diag(got), 0.0)


def test_dropout_zero_is_ease() -> None:
    data = random_interactions(seed=4)
    users = np.arange(data.n_users)
    for reg in (3.0, 250.0):
        edlae = EDLAE(reg=reg, dropout=0.0).fit(data)
        ease = EASE(reg=reg).fit(data)
        np.testing.assert_array_equal(edlae.weights_, ease.weights_)
        np.testing.assert_array_equal(edlae.score(users), ease.score(users))
    # and dropout does change the model: popular items' self-reconstruction is penalised more
    assert not np.allclose(EDLAE(reg=3.0, dropout=0.25).fit(data).score(users), ease.score(users))


def test_refuses_large_catalog_naming_edlae() -> None:
    with pytest.raises(ConfigError, match=r"EDLAE: the catalog has 30 items > max_items=29.*GiB"):
        EDLAE(max_items=29).fit(random_interactions(20, 30, seed=3))


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"reg": 0.0}, "reg"),
        ({"reg": -1.0}, "reg"),
        ({"reg": float("inf")}, "reg"),
        ({"reg": float("nan")}, "reg"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"dropout": float("nan")}, "dropout"),
        ({"max_items": 0}, "max_items"),
        ({"precision": "float16"}, "precision"),
        ({"block_items": 0}, "block_items"),
    ],
)
def test_invalid_config_names_the_parameter(params: dict[str, Any], name: str) -> None:
    with pytest.raises(ConfigError, match=rf"EDLAE: {name} "):
        EDLAEConfig(**params)
    with pytest.raises(ConfigError, match=name):
        EDLAE(**params)  # the model's constructor says the same (lmrec.models.params)
