"""The one top-k used by every model: exact, batched, ties broken by the lower item index."""

from __future__ import annotations

import numpy as np


def topk(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-`n` item indices and scores of each row of `scores` (batch x items), best first.

    Exact under ties: among equal scores the lower item index ranks first, as the benchmark protocols
    require. Entries equal to -inf (excluded items) are never returned; their slots are -1 with score -inf,
    so a row with fewer than `n` rankable items yields a shorter list padded with -1.
    Cost is O(batch x items) plus O(batch x n log n): `argpartition` finds the n-th best value, then only
    the boundary ties are resolved by index order.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D (batch x items), got shape {scores.shape}")
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    b, m = scores.shape
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN; a model produced an invalid score")
    k = min(n, m)
    if k == 0:
        return np.full((b, n), -1, dtype=np.int64), np.full((b, n), -np.inf, dtype=np.float32)
    # n-th largest value per row
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1]
    above = scores > kth[:, None]
    at = scores == kth[:, None]
    need = k - above.sum(axis=1)
    take_at = at & (np.cumsum(at, axis=1) <= need[:, None])
    chosen = above | take_at
    rows, cols = np.nonzero(chosen)  # row-major: k per row, columns ascending
    cols = cols.reshape(b, k)
    vals = scores[rows, cols.ravel()].reshape(b, k)
    # order within the k: by score descending, then item index ascending (cols already ascending)
    order = np.argsort(-vals, axis=1, kind="stable")
    items = np.take_along_axis(cols, order, axis=1).astype(np.int64)
    top = np.take_along_axis(vals, order, axis=1).astype(np.float32)
    invalid = ~np.isfinite(top) & (top < 0)
    items[invalid] = -1
    if k < n:
        items = np.pad(items, ((0, 0), (0, n - k)), constant_values=-1)
        top = np.pad(top, ((0, 0), (0, n - k)), constant_values=-np.inf)
    return items, top
