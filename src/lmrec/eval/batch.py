"""Per-user metric values of one scored batch, full ranking or sampled (the evaluator's inner step).

Hits are looked up in the target matrix with one `searchsorted` over (row, item) keys; MRR@all reads the
rank of each user's best target in the whole (masked) score row, ties broken by the lower item index as
`topk` breaks them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from lmrec.eval import beyond, sampling
from lmrec.eval.metrics import MetricSpec
from lmrec.row_threads import map_row_blocks


def _hits(items: np.ndarray, target_keys: np.ndarray, n_items: int) -> np.ndarray:
    """hits[r, j] = items[r, j] is a target of batch row r (keys = row·n_items + item, sorted)."""
    query = np.arange(items.shape[0], dtype=np.int64)[:, None] * np.int64(n_items) + items
    pos = np.minimum(np.searchsorted(target_keys, query), target_keys.size - 1)
    return (target_keys[pos] == query) & (items >= 0)


CACHE_SCORES = 1 << 16
"""Scores compared at once in the rank counts (256 KB: both comparisons of a block read it from cache)."""


def _counts_around(scores: np.ndarray, best: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: how many scores are above `best` and how many equal it (row halves in two threads, each
    in cache-sized blocks, so the second comparison does not read the scores from memory again)."""
    step = max(1, CACHE_SCORES // max(scores.shape[1], 1))

    def count(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        above, equal = np.empty(hi - lo, dtype=np.int64), np.empty(hi - lo, dtype=np.int64)
        for r in range(lo, hi, step):
            part, b = scores[r : min(r + step, hi)], best[r : min(r + step, hi), None]
            above[r - lo : r - lo + part.shape[0]] = np.count_nonzero(part > b, axis=1)
            equal[r - lo : r - lo + part.shape[0]] = np.count_nonzero(part == b, axis=1)
        return above, equal

    parts = map_row_blocks(count, scores.shape[0], scores.size)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def first_target_rank(scores: np.ndarray, trows: sp.csr_matrix) -> np.ndarray:
    """1-based rank of each row's best target in the whole ranking; 0 if every target is excluded."""
    b, n_items = scores.shape
    starts = trows.indptr[:-1]
    r = np.repeat(np.arange(b), np.diff(trows.indptr))
    t_score = scores[r, trows.indices]
    best = np.maximum.reduceat(t_score, starts)  # every row has >= 1 target
    first_item = np.minimum.reduceat(np.where(t_score == best[r], trows.indices, n_items), starts)
    # two counting passes; the index rule for items tied with the best target only where such ties exist
    # (three passes and two temporaries for every row before: ~1.7x slower on 12k-item rows)
    ahead, equal = _counts_around(scores, best)
    tied = np.flatnonzero((equal > 1) & (best > -np.inf))
    if tied.size:
        sub = scores[tied] == best[tied, None]
        ahead[tied] += np.count_nonzero(sub & (np.arange(n_items) < first_item[tied, None]), axis=1)
    return np.where(best == -np.inf, 0, ahead + 1)


@dataclass(frozen=True)
class Extras:
    """Inputs of the optional per-user beyond-accuracy columns (full ranking only)."""

    pop: np.ndarray | None
    n_train_users: int | None
    unit: np.ndarray | None


def full_batch(
    target_rank: Callable[[], np.ndarray],
    items: np.ndarray,
    trows: sp.csr_matrix,
    specs: tuple[MetricSpec, ...],
    cutoffs: list[int],
    counts: dict[int, np.ndarray],
    extras: Extras,
) -> dict[str, np.ndarray]:
    """Per-user values of one batch under full ranking; adds the batch's lists to `counts`.

    target_rank: the 1-based rank of each row's best target in its whole ranking (0: every target
    excluded), called only when a metric needs it (MRR@all)."""
    n_items = trows.shape[1]
    n_targets = np.diff(trows.indptr)
    hits = _hits(items, sampling.row_keys(trows, n_items), n_items)
    out: dict[str, np.ndarray] = {}
    for s in specs:
        if s.n is None:
            rank = target_rank()
            out[s.label] = np.where(rank > 0, 1.0 / np.maximum(rank, 1), 0.0)
        else:
            out[s.label] = s.fn(hits, n_targets, s.n)
    for n in cutoffs:
        top = items[:, :n]
        counts[n] += np.bincount(top[top >= 0], minlength=n_items)
        if extras.pop is not None:
            assert extras.n_train_users is not None
            out[f"Novelty@{n}"] = beyond.novelty(top, extras.pop, extras.n_train_users)
            out[f"ARP@{n}"] = beyond.average_recommended_popularity(top, extras.pop)
        if extras.unit is not None:
            out[f"ILD@{n}"] = beyond.intra_list_diversity(top, extras.unit, normalized=True)
    return out


def sampled_batch(
    scores: np.ndarray,
    trows: sp.csr_matrix,
    parts: list[sp.csr_matrix],
    specs: tuple[MetricSpec, ...],
    k: int,
    root: np.random.SeedSequence,
    offset: int,
    list_len: int,
) -> dict[str, np.ndarray]:
    """Per-user metric values of one batch in sampled mode (per-target values averaged per user)."""
    n_items = scores.shape[1]
    n_targets = np.diff(trows.indptr)
    r = np.repeat(np.arange(scores.shape[0]), n_targets)
    ranks = np.zeros(r.size, dtype=np.int64)
    for b0 in range(0, scores.shape[0], sampling.BLOCK):
        b1 = min(b0 + sampling.BLOCK, scores.shape[0])
        block_id = (offset + b0) // sampling.BLOCK
        rng = np.random.default_rng(np.random.SeedSequence(root.entropy, spawn_key=(block_id,)))
        sel = slice(trows.indptr[b0], trows.indptr[b1])
        block = [p[b0:b1] for p in parts]
        neg = sampling.sample_negatives(rng, r[sel] - b0, sampling.forbidden_keys(block, n_items), n_items, k)
        ranks[sel] = sampling.sampled_ranks(scores[b0:b1], r[sel] - b0, trows.indices[sel], neg)
    # each target is a one-relevant list: its rank decides every metric
    width = max(list_len, 1)
    hits = np.zeros((r.size, width), dtype=bool)
    inside = (ranks >= 1) & (ranks <= list_len)
    hits[np.flatnonzero(inside), ranks[inside] - 1] = True
    ones = np.ones(r.size, dtype=np.int64)
    out: dict[str, np.ndarray] = {}
    for s in specs:
        per_target = (
            np.where(ranks > 0, 1.0 / np.maximum(ranks, 1), 0.0) if s.n is None else s.fn(hits, ones, s.n)
        )
        out[s.label] = np.add.reduceat(per_target, trows.indptr[:-1]) / n_targets
    return out
