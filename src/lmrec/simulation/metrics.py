"""Per-round measures of a simulated run, as pure functions (each with a hand-computed test).

Conventions: slates are (users x n) item-index arrays with -1 for an empty slot; item sets are rows of a
boolean users x items matrix; "vectors" are the logged-data item vectors of `lmrec.simulation.item_space`
(L2-normalised, never the simulator's hidden truth).
"""

from __future__ import annotations

import numpy as np


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative counts (0: all equal; → 1: all on one item).

    G = Σ_i (2i − n − 1) x_(i) / (n Σ x), x sorted ascending, i = 1..n. All zeros: 0."""
    x = np.sort(np.asarray(counts, dtype=np.float64).ravel())
    n, total = x.shape[0], x.sum()
    if n == 0 or total == 0:
        return 0.0
    i = np.arange(1, n + 1)
    return float(np.sum((2 * i - n - 1) * x) / (n * total))


def exposure(slates: np.ndarray, n_items: int) -> np.ndarray:
    """How many slates show each item."""
    shown = slates[slates >= 0]
    return np.bincount(shown, minlength=n_items)


def coverage(slates: np.ndarray, n_items: int) -> float:
    """Share of the catalog shown in at least one slate."""
    return float((exposure(slates, n_items) > 0).mean()) if n_items else 0.0


def sample_pairs(n: int, max_pairs: int, rng: np.random.Generator) -> np.ndarray:
    """All unordered pairs (i < j) of n users when there are at most `max_pairs`, else `max_pairs` pairs
    drawn uniformly with replacement among distinct pairs (seeded)."""
    if n < 2:
        return np.empty((0, 2), dtype=np.int64)
    if n * (n - 1) // 2 <= max_pairs:
        i, j = np.triu_indices(n, k=1)
        return np.stack([i, j], axis=1).astype(np.int64)
    a = rng.integers(0, n, size=max_pairs)
    b = rng.integers(0, n - 1, size=max_pairs)
    b = np.where(b >= a, b + 1, b)  # uniform over the other n - 1 users
    return np.stack([a, b], axis=1).astype(np.int64)


def mean_jaccard(sets: np.ndarray, pairs: np.ndarray) -> float:
    """Mean Jaccard similarity |A ∩ B| / |A ∪ B| of the given pairs of rows of a boolean matrix; a pair of
    two empty sets counts as 0 (nothing in common). No pairs: NaN."""
    if pairs.shape[0] == 0:
        return float("nan")
    a, b = sets[pairs[:, 0]], sets[pairs[:, 1]]
    inter = (a & b).sum(axis=1)
    union = (a | b).sum(axis=1)
    return float(np.mean(np.where(union > 0, inter / np.maximum(union, 1), 0.0)))


def slate_sets(slates: np.ndarray, n_items: int) -> np.ndarray:
    """Boolean users x items matrix of the items in each slate."""
    out = np.zeros((slates.shape[0], n_items), dtype=bool)
    rows = np.repeat(np.arange(slates.shape[0]), slates.shape[1])
    flat = slates.ravel()
    keep = flat >= 0
    out[rows[keep], flat[keep]] = True
    return out


def intra_list_diversity(slates: np.ndarray, vectors: np.ndarray) -> float:
    """Mean over slates (with ≥ 2 items) of the mean pairwise cosine distance 1 − cos(v_i, v_j) between
    their items; `vectors` are L2-normalised. No such slate: NaN."""
    valid = slates >= 0
    k = valid.sum(axis=1)
    keep = k >= 2
    if not keep.any():
        return float("nan")
    s, valid, k = slates[keep], valid[keep], k[keep]
    v = vectors[np.where(s >= 0, s, 0)] * valid[:, :, None]
    summed = v.sum(axis=1)
    # Σ_{i≠j} cos = |Σ v|² − Σ |v|²; with unit vectors Σ |v|² = k (zero vectors count 0)
    self_sim = np.einsum("bsd,bsd->b", v, v)
    pair_sum = (np.einsum("bd,bd->b", summed, summed) - self_sim) / 2
    n_pairs = k * (k - 1) / 2
    return float(np.mean(1.0 - pair_sum / n_pairs))


def novelty(items: np.ndarray, popularity: np.ndarray, n_users: int) -> float:
    """Mean self-information −log2 p_i of `items`, p_i = (distinct users of i + 1) / (n_users + 1) (the +1
    keeps never-consumed items finite). No items: NaN."""
    items = np.asarray(items, dtype=np.int64)
    if items.size == 0:
        return float("nan")
    p = (popularity[items] + 1.0) / (n_users + 1.0)
    return float(np.mean(-np.log2(p)))


def entropy_rows(weights: np.ndarray) -> np.ndarray:
    """Shannon entropy (bits) of each row of non-negative weights, normalised per row; empty rows: 0."""
    w = np.asarray(weights, dtype=np.float64)
    total = w.sum(axis=1, keepdims=True)
    p = np.divide(w, total, out=np.zeros_like(w), where=total > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0)
    return np.asarray(-terms.sum(axis=1))


def engagement(chose: np.ndarray, n_active: int) -> float:
    """Choices per active user in a round. No active user: NaN."""
    return float(np.count_nonzero(chose) / n_active) if n_active else float("nan")
