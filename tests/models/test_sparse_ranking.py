"""The evaluator's and `recommend`'s ranking without the dense score row (`lmrec.models.sparse_ranking`)
gives exactly the dense path's lists, scores and MRR@all ranks: on short neighbourhoods (lists filled
with zero-scored items), tied scores, extra exclusions and users with every target excluded."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from lmrec.data.splits import temporal_ratio
from lmrec.data.synthetic import synthetic_log
from lmrec.eval import evaluate_ranking
from lmrec.models.ranking import rank
from lmrec.models.registry import make_model


class DenseView:
    """Only `score`: the evaluator must take the dense path for it."""

    def __init__(self, model: Any) -> None:
        self.model, self.n_items = model, model.n_items

    def score(self, users: np.ndarray, history: sp.csr_matrix | None = None) -> np.ndarray:
        return self.model.score(users, history)  # type: ignore[no-any-return]


CASES = [("itemknn", {"k": 3}), ("itemknn", {"k": 40, "shrink": 5.0}), ("rp3beta", {"k": 5}), ("pop", {})]


@pytest.mark.parametrize(("name", "params"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
@pytest.mark.parametrize("seed", [0, 1])
def test_evaluation_without_dense_rows_equals_the_dense_path(name: str, params: dict, seed: int) -> None:
    data = synthetic_log(n_users=300, n_items=90, n_interactions=3_000, seed=seed)
    split = temporal_ratio(data, 0.7, 0.15)
    model = make_model(name, params).fit(split.train, seed=seed)
    assert model.sparse_scores or model.user_independent_scores
    rng = np.random.default_rng(seed)
    targets = split.test.csr()
    extra = sp.random(targets.shape[0], 90, density=0.05, format="lil", random_state=seed)
    for u in rng.choice(targets.shape[0], 10, replace=False):  # every target of these users is excluded
        extra[u, targets[u].indices] = 1.0
    extra = sp.csr_matrix(extra)
    for exclude_history in (True, False):
        kw: dict[str, Any] = {
            "ns": [5, 20], "metrics": ["ndcg", "recall", "mrr", "MRR@all"], "keep_lists": True,
            "exclude": extra, "exclude_history": exclude_history, "batch_size": 64,
        }  # fmt: skip
        fast = evaluate_ranking(model, targets, split.train_valid().csr(), **kw)
        dense = evaluate_ranking(DenseView(model), targets, split.train_valid().csr(), **kw)
        pd.testing.assert_frame_equal(fast.per_user, dense.per_user, check_exact=True)
        assert np.array_equal(fast.lists, dense.lists) and fast.aggregates == dense.aggregates
        assert (fast.per_user["MRR@all"] == 0).any()  # the all-excluded users were there


@pytest.mark.parametrize(("name", "params"), CASES[:3], ids=["itemknn-0", "itemknn-1", "rp3beta"])
def test_recommend_without_dense_rows_equals_the_dense_path(name: str, params: dict) -> None:
    data = synthetic_log(n_users=200, n_items=60, n_interactions=1_500, seed=4)
    model = make_model(name, params).fit(data, seed=4)
    users = np.arange(200)
    extra = sp.random(200, 60, density=0.1, format="csr", random_state=4)
    for n in (1, 10, 60):
        fast = model.recommend(users, n=n, exclude=extra)
        dense = rank(model, users, None, n, n_items=60, seen=model.history_[users], exclude=extra)
        assert np.array_equal(fast.items, dense.items) and np.array_equal(fast.scores, dense.scores)
