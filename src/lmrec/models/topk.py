"""The one top-k used by every model: exact, batched, ties broken by the lower item index."""

from __future__ import annotations

import numpy as np


ROW_CHUNK = 128
"""Rows partitioned at once (bounds the temporary index array)."""


def _fix_boundary_ties(scores: np.ndarray, cols: np.ndarray, kth: np.ndarray, rows: np.ndarray) -> None:
    """For rows where argpartition cut through a run of equal scores, take the lowest-index ties."""
    k = cols.shape[1]
    for r in rows:
        row = scores[r]
        above = np.flatnonzero(row > kth[r])
        at = np.flatnonzero(row == kth[r])[: k - above.shape[0]]
        cols[r] = np.concatenate([above, at])


def topk(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-`n` item indices and scores of each row of `scores` (batch x items), best first.

    Exact under ties: among equal scores the lower item index ranks first, as the benchmark protocols
    require. Entries equal to -inf (excluded items) are never returned; their slots are -1 with score -inf,
    so a row with fewer than `n` rankable items yields a shorter list padded with -1.

    Cost: one `argpartition` per row (O(items)), one comparison pass to detect rows where the partition
    cut through a run of tied scores (only those rows are redone exactly), and an O(n log n) sort of the
    selected entries.
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
    if k < m:
        # argpartition returns int64 indices the size of its input: go in row chunks so the extra memory
        # stays ~ROW_CHUNK x items instead of 2x the whole score matrix
        cols = np.empty((b, k), dtype=np.int64)
        for r in range(0, b, ROW_CHUNK):
            cols[r : r + ROW_CHUNK] = np.argpartition(scores[r : r + ROW_CHUNK], m - k, axis=1)[:, m - k :]
    else:
        cols = np.broadcast_to(np.arange(m), (b, m)).copy()
    vals = np.take_along_axis(scores, cols, axis=1)
    if np.isnan(vals).any() or (k < m and np.isnan(scores).any()):
        raise ValueError("scores contain NaN; a model produced an invalid score")
    kth = vals.min(axis=1)
    if k < m:
        ties_total = np.concatenate(
            [
                np.count_nonzero(scores[r : r + ROW_CHUNK] == kth[r : r + ROW_CHUNK, None], axis=1)
                for r in range(0, b, ROW_CHUNK)
            ]
        )
        ties_taken = np.count_nonzero(vals == kth[:, None], axis=1)
        cut = np.flatnonzero(ties_total != ties_taken)
        if cut.size:
            _fix_boundary_ties(scores, cols, kth, cut)
            vals[cut] = np.take_along_axis(scores[cut], cols[cut], axis=1)
    # best first: score descending, then item index ascending
    order = np.lexsort((cols, -vals), axis=-1)
    items = np.take_along_axis(cols, order, axis=1).astype(np.int64)
    top = np.take_along_axis(vals, order, axis=1).astype(np.float32)
    items[np.isneginf(top)] = -1
    if k < n:
        items = np.pad(items, ((0, 0), (0, n - k)), constant_values=-1)
        top = np.pad(top, ((0, 0), (0, n - k)), constant_values=-np.inf)
    return items, top
