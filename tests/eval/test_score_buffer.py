"""The evaluator's reused score buffer (`scores_into`) gives the lists and metrics of fresh score blocks,
and the scoring product gives the same scores with and without a buffer, on both of its engines."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from lmrec.data.splits import temporal_ratio
from lmrec.data.synthetic import synthetic_log
from lmrec.eval import evaluate_ranking
from lmrec.models import products, topk
from lmrec.models.registry import make_model


class FreshBlocks:
    """Only `score`: no `scores_into`, so the evaluator asks for a fresh block per batch."""

    def __init__(self, model: Any) -> None:
        self.model, self.n_items = model, model.n_items

    def score(self, users: np.ndarray, history: sp.csr_matrix | None = None) -> np.ndarray:
        return self.model.score(users, history)  # type: ignore[no-any-return]


@pytest.mark.parametrize("threshold", [1, 1 << 62], ids=["torch", "numpy"])
@pytest.mark.parametrize("name", ["als", "bpr"])
def test_buffer_gives_the_fresh_blocks_results(
    monkeypatch: pytest.MonkeyPatch, name: str, threshold: int
) -> None:
    if threshold == 1 and not topk.HAS_TORCH:
        pytest.skip("torch is not installed (extra lm)")
    monkeypatch.setattr(topk, "TORCH_MIN_SCORES", threshold)  # the product's (and top-k's) engine
    data = synthetic_log(n_users=400, n_items=3_000, n_interactions=12_000, seed=3)
    split = temporal_ratio(data, 0.8, 0.1)
    model = make_model(name, {"factors": 16, "iterations": 3}).fit(split.train, seed=3)
    assert model.scores_into
    kw: dict[str, Any] = {"ns": [10, 20], "metrics": ["ndcg", "recall", "MRR@all"], "keep_lists": True}
    history, targets = split.train_valid().csr(), split.test.csr()
    for batch_size in (64, 1024):  # uneven last batch; one batch
        reused = evaluate_ranking(model, targets, history, batch_size=batch_size, **kw)
        fresh = evaluate_ranking(FreshBlocks(model), targets, history, batch_size=batch_size, **kw)
        pd.testing.assert_frame_equal(reused.per_user, fresh.per_user, check_exact=True)
        assert np.array_equal(reused.lists, fresh.lists)


@pytest.mark.parametrize("threshold", [0, 1 << 62], ids=["torch", "numpy"])
def test_factor_scores_into_a_buffer(monkeypatch: pytest.MonkeyPatch, threshold: int) -> None:
    if threshold == 0 and not topk.HAS_TORCH:
        pytest.skip("torch is not installed (extra lm)")
    monkeypatch.setattr(topk, "TORCH_MIN_SCORES", threshold)
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=(37, 8)).astype(np.float32), rng.normal(size=(501, 8)).astype(np.float32)
    out = np.full((37, 501), np.nan, dtype=np.float32)
    assert products.factor_scores(u, v, out=out) is out
    np.testing.assert_array_equal(out, products.factor_scores(u, v))
    np.testing.assert_allclose(out, u @ v.T, rtol=1e-5, atol=1e-5)


def test_a_subclass_overriding_the_scores_must_say_how_it_writes_them() -> None:
    """A subclass that changes `_score` but inherits `scores_into` would have its buffer filled by the
    parent's product: refused when the class is made."""
    from lmrec.models.mf import ALS

    with pytest.raises(TypeError, match="_score_into"):

        class ShiftedALS(ALS):
            def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
                return super()._score(users, history) + 1.0

    class PlainShiftedALS(ALS):
        scores_into = False

        def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
            return super()._score(users, history) + 1.0

    assert not PlainShiftedALS.scores_into
