"""Per-user score normalisation, so that scores of different models can be added.

Each model scores on its own scale (EASE regression weights, SASRec logits, cosine similarities), and a
plain sum lets the widest scale win. Every function here maps one row of scores (one user, all items) to a
common scale, keeping the order within the row. Statistics are taken over the items each user can be
recommended (`mask`: True = ranked; history items are left out under seen-item exclusion), so a large score
on an item the user already has does not squash the others. Non-finite scores stay at the bottom.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lmrec.models.topk import ranks as _ranks

RRF_K = 60
"""The constant of reciprocal-rank fusion (Cormack et al., SIGIR 2009)."""

Normalizer = Callable[[np.ndarray, np.ndarray | None], np.ndarray]


def _kept(scores: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Which entries the statistics are taken over: finite scores inside the mask (a row the mask empties
    falls back to all its finite scores)."""
    ok = np.isfinite(scores)
    if mask is not None:
        keep = ok & mask
        empty = ~keep.any(axis=1)
        keep[empty] = ok[empty]
        ok = keep
    return ok


def _finish(out: np.ndarray, scores: np.ndarray) -> np.ndarray:
    out = np.asarray(out, dtype=np.float32)
    out[~np.isfinite(scores)] = -np.inf
    return out


def identity(scores: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Raw scores (for models that already share a scale)."""
    return np.asarray(scores, dtype=np.float32).copy()


def minmax(scores: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(s - min) / (max - min) per row: 0 for the worst item, 1 for the best; a constant row gives 0."""
    keep = _kept(scores, mask)
    lo = np.where(keep, scores, np.inf).min(axis=1, keepdims=True)
    hi = np.where(keep, scores, -np.inf).max(axis=1, keepdims=True)
    lo[~np.isfinite(lo)] = 0.0
    span = np.where(np.isfinite(hi), hi - lo, 0.0).astype(np.float64)
    span[span <= 0] = 1.0
    return _finish((scores - lo) / span, scores)


def zscore(scores: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(s - mean) / std per row; a constant row gives 0."""
    keep = _kept(scores, mask)
    count = np.maximum(keep.sum(axis=1, keepdims=True), 1)
    values = np.where(keep, scores, 0.0).astype(np.float64)
    mean = values.sum(axis=1, keepdims=True) / count
    var = (np.where(keep, values - mean, 0.0) ** 2).sum(axis=1, keepdims=True) / count
    std = np.sqrt(var)
    std[std <= 0] = 1.0
    return _finish((scores - mean) / std, scores)


def rank(scores: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """1 - rank / n per row (rank 0 = best): the Borda count, blind to score gaps."""
    s = np.where(mask, scores, -np.inf) if mask is not None else scores
    n = max(scores.shape[1], 1)
    return _finish(1.0 - _ranks(s) / n, scores)


def reciprocal_rank(scores: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """1 / (k + rank + 1) per row (reciprocal-rank fusion, k = 60): the top of each list dominates."""
    s = np.where(mask, scores, -np.inf) if mask is not None else scores
    return _finish(1.0 / (RRF_K + 1.0 + _ranks(s)), scores)


NORMALIZERS: dict[str, Normalizer] = {
    "none": identity,
    "minmax": minmax,
    "zscore": zscore,
    "rank": rank,
    "rrf": reciprocal_rank,
}


def get_normalizer(name: str) -> Normalizer:
    try:
        return NORMALIZERS[name]
    except KeyError:
        raise ValueError(
            f"unknown score normalisation {name!r}; choose one of {sorted(NORMALIZERS)}"
        ) from None
