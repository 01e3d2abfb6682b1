"""The one top-k used by every model: exact, batched, ties broken by the lower item index."""

from __future__ import annotations

import numpy as np

ROW_CHUNK = 256
"""Rows processed at once (bounds the temporary copies to ROW_CHUNK x items)."""
SPARSE_FACTOR = 8
"""A row takes the positives-only search when at most 1/SPARSE_FACTOR of its items are positive."""


def _kth_largest(chunk: np.ndarray, k: int) -> np.ndarray:
    """The k-th largest value of each row.

    Rows of sparse non-negative scores (item-kNN, popularity over a long tail) are mostly zeros, and
    partitioning 100k equal values is slow; for rows with at least k positive scores, few enough, the k-th
    largest is found among the positives alone (packed into a rectangle padded with -inf). Other rows use a
    value partition of the whole row, which is several times faster than argpartition.
    """
    rows, m = chunk.shape
    positive = chunk > 0
    counts = np.count_nonzero(positive, axis=1)
    sparse = (counts >= k) & (counts * SPARSE_FACTOR <= m)
    kth = np.empty(rows, dtype=chunk.dtype)
    dense = np.flatnonzero(~sparse)
    if dense.size:
        kth[dense] = np.partition(chunk[dense], m - k, axis=1)[:, m - k]
    if dense.size < rows:
        idx = np.flatnonzero(sparse)
        sub_counts = counts[idx]
        widest = int(sub_counts.max())
        r, c = np.nonzero(positive[idx])
        slot = np.arange(r.shape[0]) - np.repeat(np.cumsum(sub_counts) - sub_counts, sub_counts)
        packed = np.full((idx.shape[0], widest), -np.inf, dtype=chunk.dtype)
        packed[r, slot] = chunk[idx[r], c]
        kth[idx] = np.partition(packed, widest - k, axis=1)[:, widest - k]
    return kth


def _select_chunk(chunk: np.ndarray, k: int) -> np.ndarray:
    """Column indices (rows x k, unordered) of each row's k best scores, lower index winning ties."""
    rows, _ = chunk.shape
    kth = _kth_largest(chunk, k)
    ge = chunk >= kth[:, None]
    exact = np.count_nonzero(ge, axis=1) == k
    cols = np.empty((rows, k), dtype=np.int64)
    if exact.all():
        cols[:] = np.nonzero(ge)[1].reshape(rows, k)
        return cols
    if exact.any():
        cols[exact] = np.nonzero(ge[exact])[1].reshape(-1, k)
    for r in np.flatnonzero(~exact):  # the k-th value is tied beyond k: take the lowest-index ties
        row = chunk[r]
        above = np.flatnonzero(row > kth[r])
        cols[r] = np.concatenate([above, np.flatnonzero(row == kth[r])[: k - above.shape[0]]])
    return cols


def topk(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-`n` item indices and scores of each row of `scores` (batch x items), best first.

    Exact under ties: among equal scores the lower item index ranks first, as the benchmark protocols
    require. Entries equal to -inf (excluded items) are never returned; their slots are -1 with score -inf,
    so a row with fewer than `n` rankable items yields a shorter list padded with -1.

    Cost: a value partition per row to find the n-th best score (O(items)), one comparison pass, an exact
    tie resolution only for rows whose n-th score is tied beyond n, and an O(n log n) sort of the selected
    entries.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D (batch x items), got shape {scores.shape}")
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    b, m = scores.shape
    k = min(n, m)
    if k == 0 or b == 0:
        return np.full((b, n), -1, dtype=np.int64), np.full((b, n), -np.inf, dtype=np.float32)
    cols = np.empty((b, k), dtype=np.int64)
    for r in range(0, b, ROW_CHUNK):
        chunk = scores[r : r + ROW_CHUNK]
        if np.isnan(chunk).any():
            raise ValueError("scores contain NaN; a model produced an invalid score")
        cols[r : r + ROW_CHUNK] = _select_chunk(chunk, k) if k < m else np.arange(m)
    vals = np.take_along_axis(scores, cols, axis=1)
    # best first: score descending, then item index ascending
    order = np.lexsort((cols, -vals), axis=-1)
    items = np.take_along_axis(cols, order, axis=1)
    top = np.take_along_axis(vals, order, axis=1).astype(np.float32)
    items[np.isneginf(top)] = -1
    if k < n:
        items = np.pad(items, ((0, 0), (0, n - k)), constant_values=-1)
        top = np.pad(top, ((0, 0), (0, n - k)), constant_values=-np.inf)
    return items, top


def ranks(scores: np.ndarray) -> np.ndarray:
    """Each item's 0-based rank in its row (0 = the row's best), with the tie rule of `topk` (the lower
    item index first): the order `topk(scores, n_items)` lists the items in."""
    order = np.argsort(-scores, axis=1, kind="stable")
    out = np.empty_like(order)
    out[np.arange(scores.shape[0])[:, None], order] = np.arange(scores.shape[1])[None, :]
    return out
