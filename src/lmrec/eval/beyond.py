"""Beyond-accuracy measures of recommendation lists: coverage, concentration, novelty, diversity.

Every function takes `lists`, an int array (users x L) of item indices, best first, where -1 marks an
empty slot (a user with fewer than L rankable items); empty slots are ignored everywhere. `n` cuts the
lists to their first n slots (None = all L).

Definitions (m = catalog size, c_i = number of top-n lists containing item i):
  ItemCoverage@n  = |{i : c_i > 0}| / m                                     (PROTOCOLS.md)
  Gini@n          = Σ_{k=1..m} (2k − m − 1) · c_(k) / (m · Σ_i c_i), c_(k) sorted ascending, over the
                    whole catalog (never-recommended items count as 0): 0 = every item recommended equally
                    often, (m−1)/m = one item gets every slot.
  Novelty@n       = per user, mean over list items of −log2(pop_i / N): pop_i = number of training users
                    who interacted with i, N = number of training users (Zhou et al. 2010 self-information).
                    Items with pop_i = 0 (cold items) are counted as pop_i = 1, the rarest observable item,
                    so the value stays finite; say so when reporting cold-item runs.
  ARP@n           = per user, mean of pop_i over list items (average recommended popularity,
                    Abdollahpouri et al. 2019), in training interaction counts.
  ILD@n           = per user, mean over unordered pairs of list items of 1 − cos(v_i, v_j) (intra-list
                    diversity, Ziegler et al. 2005); a zero vector has cosine 0 with everything (as in
                    scikit-learn), so its distance is 1.
  Personalization@n = 1 − mean over unordered pairs of users (u, v) of |L_u ∩ L_v| / n, with n the list
                    length (recmetrics' personalization: 1 − mean cosine of the binary list vectors, equal
                    to this when lists are full). Computed from the counts, Σ_pairs |L_u ∩ L_v| =
                    Σ_i c_i (c_i − 1) / 2, so it costs O(items), not O(users²): 0 = everyone gets the same
                    list, 1 = no two users share an item.
Per-user values are NaN for a list without items (ILD: fewer than two items); averages skip them.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def _lists(lists: np.ndarray, n: int | None, n_items: int | None = None) -> np.ndarray:
    lists = np.asarray(lists)
    if lists.ndim != 2:
        raise ValueError(f"lists must be 2-D (users x list length), got shape {lists.shape}")
    if lists.dtype.kind not in "iu":
        raise TypeError(f"lists must hold integer item indices, got dtype {lists.dtype}")
    if n is not None:
        if n < 1:
            raise ValueError(f"n must be positive, got {n}")
        lists = lists[:, :n]
    if lists.size:
        if lists.min() < -1:
            raise ValueError("lists contain negative item indices other than -1 (empty slot)")
        if n_items is not None and lists.max() >= n_items:
            raise ValueError(f"lists contain item index {lists.max()} but the catalog has {n_items} items")
    return lists


def _popularity(item_popularity: np.ndarray) -> np.ndarray:
    pop = np.asarray(item_popularity, dtype=np.float64)
    if pop.ndim != 1:
        raise ValueError(f"item_popularity must be 1-D (one count per item), got shape {pop.shape}")
    if (pop < 0).any() or not np.isfinite(pop).all():
        raise ValueError("item_popularity must hold finite non-negative counts")
    return pop


def _row_mean(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Mean of values[valid] per row; NaN for rows without a valid entry."""
    count = valid.sum(axis=1)
    total = np.where(valid, values, 0.0).sum(axis=1)
    out = np.full(values.shape[0], np.nan)
    np.divide(total, count, out=out, where=count > 0)
    return out


def recommendation_counts(lists: np.ndarray, n_items: int, n: int | None = None) -> np.ndarray:
    """c_i: in how many top-n lists each catalog item appears (int64, length n_items)."""
    lists = _lists(lists, n, n_items)
    return np.bincount(lists[lists >= 0], minlength=n_items).astype(np.int64)


def coverage_from_counts(counts: np.ndarray) -> float:
    """Share of the catalog that appears in at least one list."""
    counts = np.asarray(counts)
    if counts.size == 0:
        raise ValueError("empty catalog")
    return float((counts > 0).sum() / counts.size)


def gini_index(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative counts over the whole catalog (NaN if every count is 0)."""
    c = np.sort(np.asarray(counts, dtype=np.float64))
    m = c.size
    if m == 0:
        raise ValueError("empty catalog")
    if (c < 0).any():
        raise ValueError("counts must be non-negative")
    total = c.sum()
    if total == 0:
        return float("nan")
    k = np.arange(1, m + 1, dtype=np.float64)
    return float(((2 * k - m - 1) * c).sum() / (m * total))


def item_coverage(lists: np.ndarray, n_items: int, n: int | None = None) -> float:
    """ItemCoverage@n = distinct items in all top-n lists / catalog size."""
    return coverage_from_counts(recommendation_counts(lists, n_items, n))


def popularity_gini(lists: np.ndarray, n_items: int, n: int | None = None) -> float:
    """Gini@n of how often each catalog item is recommended."""
    return gini_index(recommendation_counts(lists, n_items, n))


def novelty(lists: np.ndarray, item_popularity: np.ndarray, n_users: int, n: int | None = None) -> np.ndarray:
    """Novelty@n per user: mean self-information −log2(max(pop_i, 1) / n_users) of the list items."""
    pop = _popularity(item_popularity)
    lists = _lists(lists, n, pop.size)
    if n_users < 1:
        raise ValueError(f"n_users must be positive, got {n_users}")
    if pop.size and pop.max() > n_users:
        raise ValueError(
            f"an item has popularity {pop.max():g} > n_users={n_users}: novelty needs distinct-user "
            "counts and the number of training users"
        )
    info = -np.log2(np.maximum(pop, 1.0) / n_users)
    valid = lists >= 0
    return _row_mean(info[np.where(valid, lists, 0)], valid)


def average_recommended_popularity(
    lists: np.ndarray, item_popularity: np.ndarray, n: int | None = None
) -> np.ndarray:
    """ARP@n per user: mean training popularity of the list items."""
    pop = _popularity(item_popularity)
    lists = _lists(lists, n, pop.size)
    valid = lists >= 0
    return _row_mean(pop[np.where(valid, lists, 0)], valid)


def unit_vectors(item_vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero); float32 input stays float32 to save memory."""
    if sp.issparse(item_vectors):
        raise TypeError("item_vectors must be a dense array (reduce sparse features, e.g. by SVD, first)")
    arr = np.asarray(item_vectors)
    vectors = arr.astype(np.result_type(arr.dtype, np.float32), copy=False)
    if vectors.ndim != 2:
        raise ValueError(f"item_vectors must be 2-D (items x dim), got shape {vectors.shape}")
    if not np.isfinite(vectors).all():
        raise ValueError("item_vectors contain NaN or infinite values")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def intra_list_diversity(
    lists: np.ndarray,
    item_vectors: np.ndarray,
    n: int | None = None,
    *,
    batch_size: int = 256,
    normalized: bool = False,
) -> np.ndarray:
    """ILD@n per user: mean pairwise cosine distance of the list items (NaN with fewer than 2 items).

    normalized: `item_vectors` already went through `unit_vectors` (saves the pass over the catalog
    when called once per batch). Works on `batch_size` lists at a time: memory batch_size x L x dim.
    """
    unit = np.asarray(item_vectors) if normalized else unit_vectors(item_vectors)
    lists = _lists(lists, n, unit.shape[0])
    length = lists.shape[1]
    upper = np.triu(np.ones((length, length), dtype=bool), k=1)
    out = np.full(lists.shape[0], np.nan)
    for start in range(0, lists.shape[0], batch_size):
        chunk = lists[start : start + batch_size]
        valid = chunk >= 0
        emb = (unit[np.where(valid, chunk, 0)] * valid[:, :, None]).astype(np.float64, copy=False)
        sims = emb @ emb.transpose(0, 2, 1)  # batched BLAS; einsum is ~10x slower here
        pairs = valid[:, :, None] & valid[:, None, :] & upper
        n_pairs = pairs.sum(axis=(1, 2))
        dist = np.where(pairs, 1.0 - sims, 0.0).sum(axis=(1, 2))
        np.divide(dist, n_pairs, out=out[start : start + batch_size], where=n_pairs > 0)
    return out


def personalization(lists: np.ndarray, n_items: int, n: int | None = None) -> float:
    """Personalization@n: 1 − mean overlap |L_u ∩ L_v| / n over all pairs of lists (NaN for < 2 lists)."""
    lists = _lists(lists, n, n_items)
    users, length = lists.shape
    if users < 2 or length == 0:
        return float("nan")
    counts = recommendation_counts(lists, n_items).astype(np.float64)
    shared = float((counts * (counts - 1) / 2).sum())
    pairs = users * (users - 1) / 2
    return 1.0 - shared / (pairs * length)
