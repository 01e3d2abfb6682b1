"""Top-n lists for many known users at once (nightly batch recommendation), in shards of whole batches.

Each batch of users goes through `Recommender.recommend`, the one score → exclude → top-k path, so a
list here is the list the service and the evaluator give the same user. Shards are contiguous runs of
whole batches: every batch holds the users it would hold in one process, so a Ray run returns the same
lists and scores to the last digit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lmrec.distributed.engine import Engine
from lmrec.models.base import Recommender
from lmrec.models.ranking import Recommendations


def _shard(
    bounds: list[tuple[int, int]], *, model: Recommender, users: np.ndarray, n: int, exclude_history: bool
) -> tuple[np.ndarray, np.ndarray]:
    items, scores = [], []
    for lo, hi in bounds:
        recs = model.recommend(users[lo:hi], n=n, exclude_history=exclude_history)
        items.append(recs.items)
        scores.append(recs.scores)
    return np.concatenate(items), np.concatenate(scores)


def recommend_users(
    model: Recommender,
    users: np.ndarray | None = None,
    n: int = 10,
    *,
    exclude_history: bool = True,
    batch_size: int = 1024,
    engine: Engine | None = None,
) -> Recommendations:
    """Top-`n` lists of the known users `users` (indices; default: every training user), from their
    training history, in batches of `batch_size`, run by `engine` (default: this process)."""
    model.check_is_fitted()
    n_users = len(model.user_vocab_)
    users = np.arange(n_users, dtype=np.int64) if users is None else np.asarray(users, dtype=np.int64)
    if users.ndim != 1 or (users.size and (users.min() < 0 or users.max() >= n_users)):
        raise ValueError(f"users must be a 1-D array of known user indices in [0, {n_users})")
    if isinstance(n, bool) or n < 1 or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"n and batch_size must be positive integers, got {n} and {batch_size}")
    bounds = [(s, min(s + batch_size, users.size)) for s in range(0, users.size, batch_size)]
    shared: dict[str, Any] = {"model": model, "users": users, "n": n, "exclude_history": exclude_history}
    if engine is None or not engine.parallel or len(bounds) < 2:
        items, scores = _shard(bounds, **shared) if bounds else (np.empty((0, n), np.int64), np.empty((0, n)))
        return Recommendations(users=users, items=items, scores=scores)
    n_shards = min(len(bounds), 4 * engine.workers)
    groups = np.array_split(np.arange(len(bounds)), n_shards)
    parts = engine.map(_shard, [[bounds[i] for i in g] for g in groups], shared, describe="recommending")
    return Recommendations(
        users=users,
        items=np.concatenate([p[0] for p in parts]),
        scores=np.concatenate([p[1] for p in parts]),
    )


def recommendations_frame(recs: Recommendations, model: Recommender) -> pd.DataFrame:
    """Long table: user (raw id), rank (1 = best), item (raw id), score; empty slots left out."""
    rows, cols = np.nonzero(recs.items >= 0)
    return pd.DataFrame(
        {
            "user": model.user_vocab_.id(recs.users[rows]),
            "rank": (cols + 1).astype(np.int32),
            "item": model.item_vocab_.id(recs.items[rows, cols]),
            "score": recs.scores[rows, cols].astype(np.float32),
        }
    )
