"""What the *policy side* may know about items: vectors, categories and popularity from the logged data.

Re-rankers and the diversity metrics need item similarities and item categories. They must never read the
simulator's hidden true factors (that would leak the truth into the policy), so everything here is computed
from what a real system has: the logged interactions (the initial log plus the simulated choices so far)
and the item catalog.

- vectors: a truncated SVD of the binarised user x item log (items get V·sqrt(S), L2-normalised rows), so
  cosine similarity is "co-consumed by the same users";
- categories: an item x category matrix whose rows sum to 1: the catalog's genres (a multi-genre item
  splits its weight evenly; an item without genres gets its own "(none)" category) when the catalog has a
  `genres` column, else popularity deciles of the log;
- popularity: distinct users per item in the log.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lmrec.data.catalog import ItemCatalog
from lmrec.data.vocabulary import Vocabulary


def svd_item_vectors(log: sp.csr_matrix, dim: int = 32, seed: int = 0) -> np.ndarray:
    """L2-normalised item vectors (n_items x dim') of a truncated SVD of the binarised log."""
    from scipy.sparse.linalg import svds

    mat = sp.csr_matrix(log, dtype=np.float64, copy=True)
    mat.data[:] = 1.0
    k = min(dim, min(mat.shape) - 1)
    if k < 1:
        return np.ones((mat.shape[1], 1), dtype=np.float32)
    v0 = np.random.default_rng(seed).standard_normal(min(mat.shape))
    _, s, vt = svds(mat, k=k, v0=v0)
    vec = vt.T * np.sqrt(s)
    norms = np.linalg.norm(vec, axis=1, keepdims=True)
    return (vec / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def genre_categories(catalog: ItemCatalog, vocab: Vocabulary) -> tuple[np.ndarray, list[str]] | None:
    """Item x genre weights (rows sum to 1) from the catalog's `genres` column ("A|B" or "A, B"), or None
    when the catalog has no genres."""
    if "genres" not in catalog.frame.columns:
        return None
    col = catalog.aligned(vocab)["genres"]
    lists = [
        [g.strip() for g in str(v).replace(",", "|").split("|") if g.strip()] if not pd.isna(v) else []
        for v in col
    ]
    names = sorted({g for gs in lists for g in gs})
    if not names:
        return None
    names.append("(none)")
    index = {g: k for k, g in enumerate(names)}
    out = np.zeros((len(lists), len(names)), dtype=np.float64)
    for i, gs in enumerate(lists):
        cols = [index[g] for g in gs] or [index["(none)"]]
        out[i, cols] = 1.0 / len(cols)
    return out, names


def popularity_categories(popularity: np.ndarray, bins: int = 10) -> tuple[np.ndarray, list[str]]:
    """Item x popularity-decile one-hot matrix (ranked by popularity, ties to the lower index)."""
    n = popularity.shape[0]
    order = np.lexsort((np.arange(n), -popularity))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    b = min(bins, max(n, 1))
    which = rank * b // max(n, 1)
    out = np.zeros((n, b), dtype=np.float64)
    out[np.arange(n), which] = 1.0
    return out, [f"popularity bin {k + 1}/{b}" for k in range(b)]


@dataclass(frozen=True)
class ItemSpace:
    """Item facts computed from logged data and the catalog (never from the simulator's truth)."""

    vectors: np.ndarray
    """n_items x d, L2-normalised (cosine = dot product)."""
    categories: np.ndarray
    """n_items x C, rows sum to 1."""
    category_names: list[str]
    popularity: np.ndarray
    """Distinct users per item in the log."""
    n_users: int
    """Users in the log (popularity / n_users is the share of users who consumed an item)."""

    @classmethod
    def from_log(
        cls,
        log: sp.csr_matrix,
        *,
        catalog: ItemCatalog | None = None,
        item_vocab: Vocabulary | None = None,
        dim: int = 32,
        seed: int = 0,
        categories: tuple[np.ndarray, list[str]] | None = None,
    ) -> ItemSpace:
        """Item space of the user x item `log`; `categories` reuses a category matrix already built (genres
        do not change with the log; popularity deciles are recomputed when not given)."""
        binary = sp.csr_matrix(log, dtype=np.float32, copy=True)
        binary.data[:] = 1.0
        binary.eliminate_zeros()
        popularity = np.asarray((binary > 0).sum(axis=0)).ravel().astype(np.int64)
        if categories is None and catalog is not None and item_vocab is not None:
            categories = genre_categories(catalog, item_vocab)
        if categories is None:
            categories = popularity_categories(popularity)
        return cls(
            vectors=svd_item_vectors(binary, dim, seed),
            categories=categories[0],
            category_names=categories[1],
            popularity=popularity,
            n_users=int(log.shape[0]),
        )

    @property
    def n_items(self) -> int:
        return int(self.vectors.shape[0])
