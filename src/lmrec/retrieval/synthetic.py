"""Seeded synthetic embedding catalogs for retrieval tests and benchmarks/ann.py.

Uniform random vectors are a poor stand-in for learned embeddings (every point is about as far from
every other, so no index can do much); these are clustered, with item norms that vary as popularity
makes factor norms vary.
"""

from __future__ import annotations

import numpy as np


def clustered_catalog(
    n_items: int,
    n_queries: int,
    dim: int,
    *,
    n_clusters: int = 256,
    noise: float = 0.6,
    norm_sigma: float = 0.3,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(items (n_items, dim), queries (n_queries, dim)), float32.

    Cluster centres are standard normal; an item is its centre plus `noise` x standard normal, scaled
    by a log-normal factor (sigma `norm_sigma`, the spread of item norms); a query is a random centre plus
    the same noise, unscaled.
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim), dtype=np.float32)
    items = centres[rng.integers(n_clusters, size=n_items)]
    items += noise * rng.standard_normal((n_items, dim), dtype=np.float32)
    items *= rng.lognormal(0.0, norm_sigma, size=(n_items, 1)).astype(np.float32)
    queries = centres[rng.integers(n_clusters, size=n_queries)]
    queries += noise * rng.standard_normal((n_queries, dim), dtype=np.float32)
    return np.ascontiguousarray(items), np.ascontiguousarray(queries)
