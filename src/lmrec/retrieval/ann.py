"""`AnnIndex`: top-n by inner product over a fixed item table, exact or approximate (FAISS).

    index = AnnIndex(model.item_vectors(), AnnConfig())          # kind chosen by catalog size
    found = index.search(model.user_vectors(users), n=10, exclude=history_rows)

Three kinds, chosen by `AnnConfig.index` ("auto" picks by catalog size):

- "exact": `queries @ items.T`, exclusions masked, the shared `topk` (identical to the models' own ranking);
- "hnsw": a FAISS HNSW graph (`IndexHNSWFlat`): fast queries, slow to build (tens of seconds per 100k items
  on one core), memory ~ (d + 2M) x 4 bytes per item;
- "ivf": FAISS IVF-Flat (`IndexIVFFlat`): k-means cells, `nprobe` of them scanned per query; builds in
  seconds even for millions of items. "auto" picks it for every catalog it indexes: in benchmarks/ann.py
  it beat HNSW on recall and on latency on each catalog measured (synthetic 100k items: recall@100 0.999
  vs 0.988 at 10x vs 3x the speed of exact scoring; ALS vectors of ml-latest-small and Beauty: 0.99 vs
  0.86-0.89, where HNSW does not reach 0.95 even at ef_search 1024).

Inner product ranking through L2 (`mips_reduction`, on by default): each item vector v gets one more
coordinate sqrt(R² - |v|²) (R = largest item norm) and each query a 0, so every augmented item has norm R
and |q - v|² = |q|² + R² - 2 q·v: the nearest items in L2 are exactly the largest inner products (Bachrach
et al., RecSys 2014). HNSW recall@100 with it vs on raw inner products (benchmarks/ann.py, defaults):
0.988 vs 0.857 on the synthetic 100k catalog, 0.863 vs 0.771 on ALS vectors of Beauty, but 0.886 vs 1.0 on
ALS vectors of ml-latest-small; so it is the default and `mips_reduction=False` is there for models where
raw inner products measure better. Returned scores are always recomputed exactly as q·v.

Items without a vector (all-NaN rows of `item_vectors`, e.g. the untrained items of an ID-only sequence
model) are left out of the approximate index and ranked after every other item, in index order, by the
exact path, as the models' `score` ranks them (the row's lowest placed score minus 1).

Exclusions (a user's history) are applied by over-fetching n + |excluded| candidates and filtering them;
a row whose filtered list comes out short, or whose exclusion list is longer than `max_overfetch`, is
answered exactly instead (counted in `exact_fallbacks`). Rows answered exactly are flagged in the result.

faiss is imported lazily (the `serve` extra); the exact kind does not need it. Searches may run from
several threads at once; the index is read-only after construction.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from lmrec.errors import ConfigError
from lmrec.models.base import mask_out
from lmrec.models.topk import topk

INDEX_KINDS = ("auto", "exact", "hnsw", "ivf")
ROW_CHUNK = 256
"""Query rows handled at once (bounds the rows x catalog score matrix of the exact path)."""


@dataclass(frozen=True)
class AnnConfig:
    """How an `AnnIndex` is built and searched."""

    index: str = "auto"
    """Index kind: "auto" (by catalog size, below), "exact", "hnsw" or "ivf"."""
    exact_below: int = 50_000
    """auto: catalogs with fewer items are ranked exactly (a full scan is then about as fast as a graph)."""
    ivf_from: int = 50_000
    """auto: catalogs with at least this many items get IVF-Flat, HNSW between `exact_below` and this
    (by default there is no such band: IVF measured better than HNSW on every catalog, module docstring)."""
    hnsw_m: int = 32
    """HNSW M: graph neighbours per node (recall and memory grow with it)."""
    ef_construction: int = 200
    """HNSW candidate list while building (better graph, slower build)."""
    ef_search: int = 512
    """HNSW candidate list per query (recall vs latency; FAISS uses at least the number fetched). 512
    reaches recall@100 >= 0.95 on the clustered synthetic catalogs of 20k and 100k items."""
    nlist: int | None = None
    """IVF cells; None: 4 sqrt(n_items), at most n_items / 39 (FAISS's minimum training points per cell)."""
    nprobe: int = 128
    """IVF cells scanned per query; 128 reaches recall@100 >= 0.99 on the synthetic 100k catalog and on
    ALS vectors of ml-latest-small and Beauty (64 gives 0.96-0.97 there, and 0.90 on ml-latest-small with
    the users' history excluded; benchmarks/ann.py)."""
    mips_reduction: bool = True
    """Search L2 neighbours of norm-equalised vectors (module docstring) instead of raw inner products."""
    max_overfetch: int = 1000
    """Rows excluding more items than this are answered exactly (over-fetching them would be slower)."""
    seed: int = 0
    """Seed of the IVF k-means."""
    cache_user_vectors: bool = True
    """`Retriever`: compute every known user's vector (from the stored training history) when the index
    is built, so a request for a known user skips the user encoder (for SASRec on a 113k-item catalog, the
    larger part of a request's work); costs n_users x d x 4 bytes and, for sequence models, one pass of
    the encoder over all users at startup and at each hot swap. Requests that give a history (online
    events, ad-hoc sessions) are always encoded afresh."""

    def __post_init__(self) -> None:
        if self.index not in INDEX_KINDS:
            raise ConfigError(f"AnnConfig.index must be one of {INDEX_KINDS}, not {self.index!r}")
        for name in ("exact_below", "ivf_from", "hnsw_m", "ef_construction", "ef_search", "nprobe"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"AnnConfig.{name} must be an integer >= 1, got {value!r}")
        if self.nlist is not None and (not isinstance(self.nlist, int) or self.nlist < 1):
            raise ConfigError(f"AnnConfig.nlist must be None or an integer >= 1, got {self.nlist!r}")
        if not isinstance(self.max_overfetch, int) or self.max_overfetch < 0:
            raise ConfigError(f"AnnConfig.max_overfetch must be an integer >= 0, got {self.max_overfetch!r}")

    def kind_for(self, n_items: int) -> str:
        """The index kind this config builds for a catalog of `n_items`."""
        if self.index != "auto":
            return self.index
        if n_items < self.exact_below:
            return "exact"
        return "ivf" if n_items >= self.ivf_from else "hnsw"

    def nlist_for(self, n_items: int) -> int:
        if self.nlist is not None:
            return min(self.nlist, n_items)
        return max(1, min(int(4 * np.sqrt(n_items)), n_items // 39))


@dataclass(frozen=True)
class SearchResult:
    """Top-n per query row: item indices (-1 = none), scores (q·v, -inf = none), best first."""

    items: np.ndarray
    scores: np.ndarray
    exact: np.ndarray
    """Per row: True when the row was ranked exactly (exact index, or a fallback)."""


class AnnIndex:
    """Top-n inner-product search over `item_vectors` (n_items x d), built at construction."""

    def __init__(self, item_vectors: np.ndarray, config: AnnConfig | None = None) -> None:
        vectors = np.array(item_vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] == 0 or vectors.shape[1] == 0:
            raise ValueError(f"item_vectors must be a non-empty 2-D array, got shape {vectors.shape}")
        self.placed = np.isfinite(vectors).all(axis=1)
        """Items with a vector (the others are all-NaN rows: ranked last, never in the ANN index)."""
        if not (self.placed | np.isnan(vectors).all(axis=1)).all():
            raise ValueError("item_vectors contain inf, or rows only partly NaN")
        if not self.placed.any():
            raise ValueError("item_vectors has no finite row")
        vectors[~self.placed] = 0.0
        self.config = config or AnnConfig()
        self.items = vectors
        self._ids = np.flatnonzero(self.placed)  # FAISS position -> item index
        self.kind = self.config.kind_for(vectors.shape[0])
        self.exact_fallbacks = 0
        """Query rows answered exactly although the index is approximate (short list, long history)."""
        self._lock = threading.Lock()
        start = time.perf_counter()
        self._faiss: Any = None if self.kind == "exact" else self._build()
        self.build_seconds = time.perf_counter() - start

    @property
    def n_items(self) -> int:
        return int(self.items.shape[0])

    @property
    def dim(self) -> int:
        return int(self.items.shape[1])

    def describe(self) -> dict[str, Any]:
        """What the service reports about its index."""
        return {
            "index": self.kind,
            "n_items": self.n_items,
            "dim": self.dim,
            "items_without_vector": int((~self.placed).sum()),
            "build_seconds": round(self.build_seconds, 3),
            "exact_fallbacks": self.exact_fallbacks,
            "nlist": int(self._faiss.nlist) if self.kind == "ivf" else None,
            "config": dataclasses.asdict(self.config),
        }

    # --- building ---------------------------------------------------------------------------------
    def _augmented(self, items: np.ndarray) -> np.ndarray:
        norms = np.einsum("ij,ij->i", items, items, dtype=np.float64)
        extra = np.sqrt(np.maximum(norms.max() - norms, 0.0)).astype(np.float32)
        return np.ascontiguousarray(np.hstack([items, extra[:, None]]))

    def _build(self) -> Any:
        import faiss

        cfg = self.config
        reduce = cfg.mips_reduction
        placed = np.ascontiguousarray(self.items[self._ids])
        data = self._augmented(placed) if reduce else placed
        d = data.shape[1]
        metric = faiss.METRIC_L2 if reduce else faiss.METRIC_INNER_PRODUCT
        if self.kind == "hnsw":
            hnsw = faiss.IndexHNSWFlat(d, cfg.hnsw_m, metric)
            hnsw.hnsw.efConstruction = cfg.ef_construction
            hnsw.add(data)
            hnsw.hnsw.efSearch = cfg.ef_search
            return hnsw
        quantizer = faiss.IndexFlatL2(d) if reduce else faiss.IndexFlatIP(d)
        ivf = faiss.IndexIVFFlat(quantizer, d, cfg.nlist_for(self._ids.shape[0]), metric)
        ivf.cp.seed = cfg.seed
        ivf.train(data)
        ivf.add(data)
        ivf.nprobe = min(cfg.nprobe, ivf.nlist)
        return ivf

    def set_search_params(self, *, ef_search: int | None = None, nprobe: int | None = None) -> None:
        """Change the query-time knobs of a built index (benchmark sweeps; not while others search)."""
        self.config = dataclasses.replace(
            self.config,
            ef_search=self.config.ef_search if ef_search is None else ef_search,
            nprobe=self.config.nprobe if nprobe is None else nprobe,
        )
        if self.kind == "hnsw" and ef_search is not None:
            self._faiss.hnsw.efSearch = ef_search
        if self.kind == "ivf" and nprobe is not None:
            self._faiss.nprobe = min(nprobe, self._faiss.nlist)

    # --- searching --------------------------------------------------------------------------------
    def _queries(self, queries: np.ndarray) -> np.ndarray:
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise ValueError(f"queries must have shape (B, {self.dim}), got {q.shape}")
        if not np.isfinite(q).all():
            raise ValueError("queries contain NaN or inf")
        return q

    def search(self, queries: np.ndarray, n: int, *, exclude: sp.csr_matrix | None = None) -> SearchResult:
        """Top-`n` items by q·v for each query row, leaving out the items of `exclude`'s rows.

        exclude: one row per query (n_items columns); its nonzero entries are never returned.
        """
        q = self._queries(queries)
        if n <= 0:
            raise ValueError(f"n must be positive, got {n}")
        ex = _exclusions(exclude, q.shape[0], self.n_items)
        if self.kind == "exact":
            items, scores = self._exact(q, n, ex)
            return SearchResult(items, scores, np.ones(q.shape[0], dtype=bool))
        items = np.full((q.shape[0], n), -1, dtype=np.int64)
        scores = np.full((q.shape[0], n), -np.inf, dtype=np.float32)
        exact = np.zeros(q.shape[0], dtype=bool)
        for s in range(0, q.shape[0], ROW_CHUNK):
            rows = slice(s, s + ROW_CHUNK)
            part = ex[rows]
            items[rows], scores[rows], exact[rows] = self._approximate(q[rows], n, part)
        return SearchResult(items, scores, exact)

    def search_exact(
        self, queries: np.ndarray, n: int, *, exclude: sp.csr_matrix | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The exact top-`n` (what `search` approximates), whatever the index kind."""
        q = self._queries(queries)
        return self._exact(q, n, _exclusions(exclude, q.shape[0], self.n_items))

    def _exact(self, q: np.ndarray, n: int, ex: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        items = np.empty((q.shape[0], n), dtype=np.int64)
        scores = np.empty((q.shape[0], n), dtype=np.float32)
        for s in range(0, q.shape[0], ROW_CHUNK):
            chunk = q[s : s + ROW_CHUNK] @ self.items.T
            if not self.placed.all():  # below every placed item, as the models' `score` puts them
                floor = chunk[:, self.placed].min(axis=1) - 1.0
                chunk[:, ~self.placed] = floor[:, None]
            mask_out(chunk, ex[s : s + ROW_CHUNK])
            items[s : s + ROW_CHUNK], scores[s : s + ROW_CHUNK] = topk(chunk, n)
        return items, scores

    def _approximate(
        self, q: np.ndarray, n: int, ex: sp.csr_matrix
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        b = q.shape[0]
        n_excluded = np.diff(ex.indptr)
        wanted = np.minimum(n, self.n_items - n_excluded)  # items a full ranking would return
        too_long = n_excluded > self.config.max_overfetch
        fetch = int(min(self._ids.shape[0], n + (n_excluded[~too_long].max(initial=0))))
        positions = self._faiss.search(self._faiss_queries(q), fetch)[1]
        valid = positions >= 0
        found = np.where(valid, self._ids[np.where(valid, positions, 0)], -1)
        if ex.nnz:
            keys = np.repeat(np.arange(b, dtype=np.int64), n_excluded) * self.n_items + ex.indices
            valid &= ~np.isin(np.arange(b)[:, None] * self.n_items + found, keys)
        safe = np.where(valid, found, 0)
        exact_scores = np.einsum("bd,bkd->bk", q, self.items[safe])
        exact_scores[~valid] = -np.inf
        order = np.lexsort((safe, -exact_scores), axis=-1)[:, :n]
        items = np.take_along_axis(np.where(valid, found, -1), order, axis=1)
        scores = np.take_along_axis(exact_scores, order, axis=1).astype(np.float32)
        if items.shape[1] < n:
            pad = n - items.shape[1]
            items = np.pad(items, ((0, 0), (0, pad)), constant_values=-1)
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        short = too_long | (np.count_nonzero(valid, axis=1) < wanted)
        if short.any():
            rows = np.flatnonzero(short)
            items[rows], scores[rows] = self._exact(q[rows], n, ex[rows])
            with self._lock:
                self.exact_fallbacks += int(rows.size)
        return items, scores, short

    def _faiss_queries(self, q: np.ndarray) -> np.ndarray:
        if not self.config.mips_reduction:
            return q
        return np.ascontiguousarray(np.hstack([q, np.zeros((q.shape[0], 1), dtype=np.float32)]))


def _exclusions(exclude: sp.csr_matrix | None, rows: int, n_items: int) -> sp.csr_matrix:
    """`exclude` as a canonical binary CSR (rows x n_items); an empty one for None."""
    if exclude is None:
        return sp.csr_matrix((rows, n_items), dtype=np.float32)
    ex = sp.csr_matrix(exclude, dtype=np.float32, copy=True)
    if ex.shape != (rows, n_items):
        raise ValueError(f"exclude must have shape ({rows}, {n_items}), got {ex.shape}")
    ex.sum_duplicates()
    ex.eliminate_zeros()
    ex.sort_indices()
    return ex
