"""Sampled-negative ranking (the "rank the target among k random items" protocol some papers report).

It is never lmrec's default: full ranking is (PROTOCOLS.md). It exists to reproduce published numbers,
and every metric computed this way is labelled "[sampled-k]".

For every (user, target) pair, k distinct negatives are drawn uniformly from the items the user has
not interacted with (history, targets and extra exclusions are all off limits). The draw is rejection
sampling, which is exchangeable in the allowed items, so every k-subset is equally likely. Randomness
comes from one `numpy.random.SeedSequence`; negatives for evaluated users at positions
[b·BLOCK, (b+1)·BLOCK) come from the generator spawned with key (b,), so the negatives do not depend on
the evaluation batch size.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

BLOCK = 256
"""Users per sampling block: the unit that owns one random stream."""

_MAX_REJECTION_ROUNDS = 64
"""After this many rounds the few unfinished rows (users with almost no allowed items) are drawn exactly."""


def row_keys(mat: sp.csr_matrix, n_items: int) -> np.ndarray:
    """Key row·n_items + item of every stored entry, in csr order (sorted if the indices are)."""
    rows = np.repeat(np.arange(mat.shape[0], dtype=np.int64), np.diff(mat.indptr))
    return rows * np.int64(n_items) + mat.indices.astype(np.int64)


def forbidden_keys(parts: list[sp.csr_matrix], n_items: int) -> np.ndarray:
    """Sorted unique keys row·n_items + item of every entry of the given row-aligned matrices."""
    return np.unique(np.concatenate([row_keys(p, n_items) for p in parts]))


def sample_negatives(
    rng: np.random.Generator, rows: np.ndarray, forbidden: np.ndarray, n_items: int, k: int
) -> np.ndarray:
    """k distinct items per entry of `rows` (local row ids), none of them in that row's forbidden set.

    forbidden: sorted keys row·n_items + item. Raises if a row has fewer than k allowed items.
    """
    n_items64 = np.int64(n_items)
    per_row = np.bincount(forbidden // n_items64, minlength=int(rows.max(initial=-1)) + 1)
    allowed = n_items - per_row[rows]
    if (allowed < k).any():
        short = int(rows[np.argmax(allowed < k)])
        raise ValueError(
            f"a user (batch row {short}) has only {int(allowed.min())} items left to sample from, "
            f"fewer than sampled_negatives={k}"
        )
    neg = rng.integers(0, n_items, size=(rows.shape[0], k), dtype=np.int64)
    for _ in range(_MAX_REJECTION_ROUNDS):
        bad = _rejected(neg, rows, forbidden, n_items64)
        n_bad = int(bad.sum())
        if n_bad == 0:
            return neg
        neg[bad] = rng.integers(0, n_items, size=n_bad, dtype=np.int64)
    # rare: a user whose allowed set is about k items; finish those rows exactly
    bad = _rejected(neg, rows, forbidden, n_items64)
    for j in np.flatnonzero(bad.any(axis=1)):
        keep = neg[j][~bad[j]]
        lo, hi = np.searchsorted(forbidden, [rows[j] * n_items64, (rows[j] + 1) * n_items64])
        taken = np.union1d(forbidden[lo:hi] - rows[j] * n_items64, keep)
        pool = np.setdiff1d(np.arange(n_items, dtype=np.int64), taken, assume_unique=True)
        neg[j] = np.concatenate([keep, rng.choice(pool, size=k - keep.size, replace=False)])
    neg.sort(axis=1)
    return neg


def _rejected(neg: np.ndarray, rows: np.ndarray, forbidden: np.ndarray, n_items: np.int64) -> np.ndarray:
    """Sorts `neg` in place per row; True where a slot is forbidden or repeats the slot before it."""
    neg.sort(axis=1)
    keys = rows[:, None] * n_items + neg
    pos = np.minimum(np.searchsorted(forbidden, keys), max(forbidden.size - 1, 0))
    bad = forbidden[pos] == keys if forbidden.size else np.zeros(neg.shape, dtype=bool)
    bad[:, 1:] |= neg[:, 1:] == neg[:, :-1]
    return bad


def sampled_ranks(
    scores: np.ndarray, rows: np.ndarray, targets: np.ndarray, negatives: np.ndarray
) -> np.ndarray:
    """Rank (1-based) of each target among itself and its negatives; 0 when the target is excluded (-inf).

    Ties are broken by the lower item index, as in full ranking.
    """
    t_score = scores[rows, targets]
    n_score = scores[rows[:, None], negatives]
    better = (n_score > t_score[:, None]) | ((n_score == t_score[:, None]) & (negatives < targets[:, None]))
    rank = 1 + better.sum(axis=1)
    return np.where(t_score == -np.inf, 0, rank)
