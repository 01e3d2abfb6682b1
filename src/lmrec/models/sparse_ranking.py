"""Exact ranking without the catalog-wide score row, for two kinds of model that declare it.

- `sparse_scores` (ItemKNN, RP3beta): every score is >= 0 and only a few per user are positive
  (`score_sparse` gives them as a sparse row); every other item scores 0.
- `global_scores` (Popularity): every user gets the same scores (`global_scores_`).

Both give the lists `lmrec.models.ranking` gives from the dense row (excluded items at -inf, then the
exact top-k with ties to the lower item index) and the rank of each user's best target used by MRR@all,
identical to the last digit, at a cost that grows with the positive entries (or the exclusions) instead
of with the catalog: on a 100k-item catalog a dense batch of 1,024 users is 400 MB of scores to write,
mask and scan; the sparse one is the users' neighbourhoods.

Zero-scored items tie at 0, so after the positive items they come in ascending index order, skipping
excluded items: `sparse_top` fills short lists from there, exactly as the dense top-k would.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from lmrec.models.topk import topk


def _keys(rows: sp.csr_matrix, n_items: int) -> np.ndarray:
    """Sorted row * n_items + item keys of the entries of `rows`."""
    r = np.repeat(np.arange(rows.shape[0], dtype=np.int64), np.diff(rows.indptr))
    return np.sort(r * n_items + rows.indices.astype(np.int64))


def _in(keys: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    if sorted_keys.size == 0:
        return np.zeros(keys.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    return sorted_keys[pos] == keys


def excluded_rows(*parts: sp.csr_matrix | None, shape: tuple[int, int]) -> sp.csr_matrix:
    """The union of the exclusion matrices' structures (sorted, de-duplicated), as one csr."""
    given = [sp.csr_matrix(p) for p in parts if p is not None]
    if not given:
        return sp.csr_matrix(shape, dtype=np.float32)
    out = sp.csr_matrix(shape, dtype=np.float32)
    for p in given:
        q = p.copy()
        q.data = np.ones_like(q.data, dtype=np.float32)
        out = out + q
    out.sum_duplicates()
    out.sort_indices()
    return sp.csr_matrix(out)


MIN_BLOCK_WIDTH = 32
"""Narrowest block of `SparseRows` (rows with fewer positive entries share it)."""


class SparseRows:
    """The positive, non-excluded entries of a batch of sparse score rows, packed into dense blocks (in
    item order, -inf padding), so the shared top-k ranks them: position order is item order, so its tie
    rule (lower position first) is the lower-index rule.

    Rows go into blocks by their number of entries, rounded up to a power of two: one block as wide as
    the longest row was 17x the entries on a 100k-item catalog (item-kNN neighbourhoods: median 162,
    longest 5,889 in a batch of 1,024 users), and the top-k and rank passes read every padded slot."""

    def __init__(self, scores: sp.csr_matrix, excluded: sp.csr_matrix) -> None:
        b, n_items = scores.shape
        scores = sp.csr_matrix(scores, dtype=np.float32, copy=True)
        scores.sort_indices()
        r = np.repeat(np.arange(b, dtype=np.int64), np.diff(scores.indptr))
        keys = r * n_items + scores.indices
        keep = (scores.data > 0) & ~_in(keys, _keys(excluded, n_items))
        self.rows, self.keys = r[keep], keys[keep]  # keys sorted: rows grouped, items ascending
        self.data = scores.data[keep]
        self.cols = scores.indices[keep].astype(np.int64)
        self.counts = np.bincount(self.rows, minlength=b)
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        pos = np.arange(self.rows.size) - self.starts[self.rows]
        bucket = np.maximum(
            MIN_BLOCK_WIDTH, 1 << np.ceil(np.log2(np.maximum(self.counts, 1))).astype(np.int64)
        )
        slot = np.empty(b, dtype=np.int64)  # each row's position in its block
        self.blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (rows, values, items)
        for width in np.unique(bucket):
            members = np.flatnonzero(bucket == width)
            slot[members] = np.arange(members.size)
            w = int(self.counts[members].max())
            values = np.full((members.size, w), -np.inf, dtype=np.float32)
            items = np.full((members.size, w), n_items, dtype=np.int32)  # padding sorts after every item
            sel = bucket[self.rows] == width
            values[slot[self.rows[sel]], pos[sel]] = self.data[sel]
            items[slot[self.rows[sel]], pos[sel]] = self.cols[sel]
            self.blocks.append((members, values, items))
        self.excluded = excluded
        self.shape = (b, n_items)

    def top(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(items, scores), each b x n, best first; -1 / -inf where fewer than n items are rankable."""
        b, n_items = self.shape
        items = np.full((b, n), -1, dtype=np.int64)
        vals = np.full((b, n), -np.inf, dtype=np.float32)
        for members, values, block_items in self.blocks:
            m = min(n, values.shape[1])
            if m:
                pos, top = topk(values, m)
                ok = pos >= 0
                items[members, :m] = np.where(
                    ok, np.take_along_axis(block_items, np.maximum(pos, 0), axis=1), -1
                )
                vals[members, :m] = top
        ex = self.excluded
        for row in np.flatnonzero(self.counts < n):  # then zero-scored items, lowest index first
            have, start = int(self.counts[row]), int(self.starts[row])
            taken = np.union1d(
                self.cols[start : start + have], ex.indices[ex.indptr[row] : ex.indptr[row + 1]]
            )
            need = n - have
            span = np.arange(min(n_items, need + taken.size), dtype=np.int64)
            fill = span[~np.isin(span, taken, assume_unique=True)][:need]
            items[row, have : have + fill.size] = fill
            vals[row, have : have + fill.size] = 0.0
        return items, vals

    def first_target_rank(self, targets: sp.csr_matrix) -> np.ndarray:
        """1-based rank of each row's best target in its whole ranking (0 if every target is excluded),
        as `lmrec.eval.batch` computes it from the dense row."""
        b, n_items = self.shape
        t_rows = np.repeat(np.arange(b, dtype=np.int64), np.diff(targets.indptr))
        t_items = targets.indices.astype(np.int64)
        t_keys = t_rows * n_items + t_items
        found = _in(t_keys, self.keys)
        t_score = np.zeros(t_keys.size, dtype=np.float32)
        if found.any():
            t_score[found] = self.data[np.searchsorted(self.keys, t_keys[found])]
        t_score[_in(t_keys, _keys(self.excluded, n_items))] = -np.inf
        starts_t = targets.indptr[:-1]
        best = np.maximum.reduceat(t_score, starts_t)  # every row has >= 1 target
        first = np.minimum.reduceat(np.where(t_score == best[t_rows], t_items, n_items), starts_t)
        # a positive best: entries scored above it, or equal with a lower index
        ahead = np.zeros(b, dtype=np.int64)
        lower_pos = np.zeros(b, dtype=np.int64)
        for members, values, block_items in self.blocks:
            v, f = best[members, None], first[members, None]
            ahead[members] = np.count_nonzero((values > v) | ((values == v) & (block_items < f)), axis=1)
            lower_pos[members] = np.count_nonzero(block_items < f, axis=1)
        zero = best == 0  # every positive entry, then the zero-scored, non-excluded items of lower index
        if zero.any():
            ex = self.excluded
            ex_rows = np.repeat(np.arange(b, dtype=np.int64), np.diff(ex.indptr))
            lower_ex = np.bincount(ex_rows[ex.indices < first[ex_rows]], minlength=b)
            ahead = np.where(zero, self.counts + first - lower_pos - lower_ex, ahead)
        return np.where(best == -np.inf, 0, ahead + 1)


class GlobalRows:
    """A batch of users who all have the scores `scores` (one row), with their own exclusions."""

    def __init__(self, scores: np.ndarray, excluded: sp.csr_matrix) -> None:
        scores = np.asarray(scores, dtype=np.float32)
        n_items = scores.shape[0]
        self.order = np.lexsort((np.arange(n_items), -scores))  # the rank order: score desc, index asc
        self.position = np.empty(n_items, dtype=np.int64)
        self.position[self.order] = np.arange(n_items)
        self.scores = scores
        self.excluded = excluded

    def top(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        ex = self.excluded
        b, n_items = ex.shape[0], self.order.size
        width = min(n_items, n + int(np.diff(ex.indptr).max(initial=0)))
        cand = self.order[:width]
        keys = np.arange(b, dtype=np.int64)[:, None] * n_items + cand[None, :]
        ok = ~_in(keys, _keys(ex, n_items))
        slot = np.cumsum(ok, axis=1) - 1  # position among the row's rankable candidates
        take = ok & (slot < n)
        items = np.full((b, n), -1, dtype=np.int64)
        vals = np.full((b, n), -np.inf, dtype=np.float32)
        r, j = np.nonzero(take)
        items[r, slot[r, j]] = cand[j]
        vals[r, slot[r, j]] = self.scores[cand[j]]
        return items, vals

    def first_target_rank(self, targets: sp.csr_matrix) -> np.ndarray:
        ex = self.excluded
        b, n_items = ex.shape[0], self.order.size
        t_rows = np.repeat(np.arange(b, dtype=np.int64), np.diff(targets.indptr))
        t_pos = self.position[targets.indices].astype(np.int64)
        t_pos[_in(t_rows * n_items + targets.indices, _keys(ex, n_items))] = n_items  # excluded: never
        best = np.minimum.reduceat(t_pos, targets.indptr[:-1])  # the best target is the earliest one
        ex_rows = np.repeat(np.arange(b, dtype=np.int64), np.diff(ex.indptr))
        ahead_ex = np.bincount(ex_rows[self.position[ex.indices] < best[ex_rows]], minlength=b)
        return np.where(best >= n_items, 0, best - ahead_ex + 1)
