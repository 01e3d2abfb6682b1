"""Item-based k-nearest-neighbours on implicit feedback (cosine with shrinkage, top-k pruned).

The item-item similarity of the binary user x item matrix X is

    sim(i, j) = x_i · x_j / (‖x_i‖ ‖x_j‖ + shrink),   sim(i, i) = 0,

where x_i is item i's column. Row i of the similarity matrix S keeps only item i's `k` most similar items
(ties: lower item index first), and a user's scores are `history @ S`: every item in the history votes
for its k neighbours, as in implicit's ItemItemRecommender (Deshpande & Karypis 2004 style).

Scale: XᵀX is never materialised. Rows of S are computed in blocks of items whose co-occurrence count
is bounded by `block_entries`, and each block is pruned to top-k before the next one starts, so memory is
O(block_entries + items x k) however dense the co-occurrences are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from lmrec.data.interactions import Interactions, sequences_to_csr
from lmrec.errors import ConfigError
from lmrec.models.base import Recommendations, Recommender
from lmrec.models.sparse_ranking import SparseRows, excluded_rows


@dataclass(frozen=True)
class ItemKNNConfig:
    """Hyper-parameters of item-based kNN (names follow the lmrec conventions: `k`, `shrink`)."""

    k: int = 100
    """Neighbours kept per item (row of the similarity matrix)."""
    shrink: float = 0.0
    """Added to the cosine denominator; damps similarities supported by few co-occurrences."""
    feedback: str = "binary"
    """How events enter X: "binary" (a user-item pair counts once however often it repeats)."""
    block_entries: int = 10_000_000
    """Upper bound on unpruned similarity entries held at once while fitting (~40 bytes each);
    lower it to save memory, raise it for fewer, larger sparse products. Does not change results."""

    def __post_init__(self) -> None:
        if not isinstance(self.k, int) or isinstance(self.k, bool) or self.k < 1:
            raise ConfigError(f"ItemKNN: k must be a positive integer, got {self.k!r}")
        if not self.shrink >= 0:
            raise ConfigError(f"ItemKNN: shrink must be >= 0, got {self.shrink!r}")
        if self.feedback != "binary":
            raise ConfigError(
                f"ItemKNN: feedback must be 'binary' (the only weighting implemented), got {self.feedback!r}"
            )
        if not isinstance(self.block_entries, int) or self.block_entries < 1:
            raise ConfigError(
                f"ItemKNN: block_entries must be a positive integer, got {self.block_entries!r}"
            )


def _col_bits(n_items: int) -> int:
    return max(1, int(n_items - 1).bit_length())


def item_blocks(x: sp.csr_matrix, budget: int) -> list[tuple[int, int]]:
    """Contiguous item ranges whose similarity rows hold at most ~`budget` entries before pruning.

    Row i of XᵀX has at most min(n_items, Σ_{u ∋ i} |u|) nonzeros, which is cheap to compute and tight
    for the long tail; a single item over budget still gets its own block. Blocks also stay under the
    row count that `_prune_block` can pack into its 64-bit sort key.
    """
    n_items = x.shape[1]
    user_len = np.diff(x.indptr).astype(np.float64)
    bound = np.minimum(x.T @ user_len, n_items)
    # item i starts at offset cum[i] - bound[i]; a block collects the items starting inside one budget
    # window, so it holds at most budget + n_items entries
    group = ((np.cumsum(bound) - bound) // budget).astype(np.int64)
    max_rows = 1 << (_KEY_BITS - _col_bits(n_items))
    group = group * (n_items // max_rows + 1) + np.arange(n_items) // max_rows
    cuts = np.concatenate([[0], np.flatnonzero(np.diff(group)) + 1, [n_items]])
    return list(zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True))


_KEY_BITS = 33  # 64 bits minus the 31 value bits of a non-negative float32


def _prune_block(
    c: sp.csr_matrix, start: int, item_counts: np.ndarray, k: int, shrink: float
) -> sp.csr_matrix:
    """Cosine-normalise co-occurrence rows start..start+len(c) and keep each row's top-k (no self)."""
    counts = np.diff(c.indptr)
    # sqrt(n_i * n_j) in float64 is correctly rounded, so mathematically equal similarities come out
    # bit-identical and the "lower index wins" tie-break applies to them (sqrt(n_i) * sqrt(n_j) in
    # float32 is not: it can split exact ties by one ulp)
    denom = np.repeat(item_counts[start : start + c.shape[0]], counts)
    denom *= item_counts[c.indices]
    np.sqrt(denom, out=denom)
    denom += shrink
    sims = (c.data / denom).astype(np.float32)
    del denom
    return top_k_rows(c, sims, start, k)


def top_k_rows(c: sp.csr_matrix, values: np.ndarray, start: int, k: int) -> sp.csr_matrix:
    """Rows start..start+len(c) of an item-item matrix with the sparsity pattern of `c` and the
    non-negative float32 `values` (aligned with `c.data`; the self entries are zeroed in place), each
    row cut to its `k` largest entries; the self entry (column start + row) and zeros are dropped. Ties
    go to the lower column.

    One uint64 per entry packs (row, value descending, column): the bits of a non-negative float32
    are monotone in its value, so a plain value sort orders each row by value with ties broken by
    the lower column, exactly and deterministically, without an argsort or gathers. `c` must have
    fewer rows than `item_blocks` allows per block (the row field of the key).
    """
    n_rows, n_items = c.shape
    col_bits = _col_bits(n_items)
    counts = np.diff(c.indptr)
    if values.dtype != np.float32 or values.shape != c.data.shape:
        raise ValueError("top_k_rows needs one float32 value per stored entry of c")  # the key reads its bits
    sims = values
    rows = np.repeat(np.arange(n_rows, dtype=np.uint64), counts)
    sims[c.indices == rows.astype(np.int64) + start] = 0.0  # self-similarity sorts last, dropped below
    key = np.uint64(0x7FFFFFFF) - sims.view(np.uint32).astype(np.uint64)
    del sims
    key <<= np.uint64(col_bits)
    key |= c.indices.astype(np.uint64)
    rows <<= np.uint64(31 + col_bits)
    key |= rows
    del rows
    key.sort()
    rank = np.arange(key.shape[0], dtype=np.int64) - np.repeat(c.indptr[:-1].astype(np.int64), counts)
    key = key[rank < k]
    cols = (key & np.uint64((1 << col_bits) - 1)).astype(np.int64)
    sims = np.uint64(0x7FFFFFFF) - ((key >> np.uint64(col_bits)) & np.uint64(0x7FFFFFFF))
    sims = sims.astype(np.uint32).view(np.float32)
    rows_top = (key >> np.uint64(31 + col_bits)).astype(np.int64)
    nz = sims > 0
    return sp.csr_matrix((sims[nz], (rows_top[nz], cols[nz])), shape=c.shape)


def cosine_topk(x: sp.csr_matrix, k: int, shrink: float, block_entries: int) -> sp.csr_matrix:
    """Top-k pruned item-item cosine similarity (items x items, csr, float32) of a binary user x item X."""
    x = sp.csr_matrix(x, dtype=np.float32, copy=True)
    x.sum_duplicates()
    x.data[:] = 1.0  # binary: every stored (user, item) pair counts once
    xt = x.T.tocsr()
    item_counts = np.diff(xt.indptr).astype(np.float64)
    blocks = [_prune_block(xt[a:b] @ x, a, item_counts, k, shrink) for a, b in item_blocks(x, block_entries)]
    sim = sp.csr_matrix(sp.vstack(blocks, format="csr"))
    sim.sort_indices()
    return sim


class SparseItemItem(Recommender):
    """Base of the models whose learned state is one sparse, non-negative item x item matrix S (ItemKNN,
    RP3beta): score = binary history @ S, the sparse recommend shortcut, and S's persistence."""

    sparse_scores = True

    similarity_: sp.csr_matrix

    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return self._sparse_scores(history).toarray().astype(np.float32, copy=False)

    def _sparse_scores(self, history: sp.csr_matrix) -> sp.csr_matrix:
        hist = sp.csr_matrix(history, dtype=np.float32, copy=True)  # never modify the caller's matrix
        hist.data[:] = 1.0  # binary, as in fitting
        return sp.csr_matrix(hist @ self.similarity_)

    def score_sparse(self, users: np.ndarray, history: sp.csr_matrix | None = None) -> sp.csr_matrix:
        users = self._batch_users(users)
        return self._sparse_scores(self._history_rows(users, history))

    def recommend(
        self,
        users: np.ndarray,
        history: sp.csr_matrix | None = None,
        n: int = 10,
        *,
        exclude: sp.csr_matrix | None = None,
        exclude_history: bool = True,
        sequences: list[np.ndarray] | None = None,
    ) -> Recommendations:
        """`Recommender.recommend` from the positive scores only (`lmrec.models.sparse_ranking`).

        The entries of S are positive, so every item outside a user's neighbourhood scores 0 and ranks
        after every neighbour, lowest index first: the lists are identical to the dense path's (same
        scores, ties to the lower index), and a request costs a fraction (serving a 113k-item catalog:
        see benchmarks/load.py).
        """
        if n <= 0:
            return super().recommend(
                users, history, n, exclude=exclude, exclude_history=exclude_history, sequences=sequences
            )
        self.check_is_fitted()
        users = np.asarray(users, dtype=np.int64).reshape(-1)
        if history is None and sequences is not None:
            history = sequences_to_csr(sequences, self.n_items)
        rows = self._history_rows(users, history)
        shape = (users.shape[0], self.n_items)
        excluded = excluded_rows(rows if exclude_history else None, exclude, shape=shape)
        items, top = SparseRows(self._sparse_scores(rows), excluded).top(n)
        return Recommendations(users=users, items=items, scores=top)

    def _state(self) -> dict[str, np.ndarray]:
        s = self.similarity_
        return {"sim_indptr": s.indptr, "sim_indices": s.indices, "sim_data": s.data}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        n = len(self.item_vocab_)
        self.similarity_ = sp.csr_matrix(
            (arrays["sim_data"], arrays["sim_indices"], arrays["sim_indptr"]), shape=(n, n)
        )


class ItemKNN(SparseItemItem):
    """Item-item cosine kNN on the binary interaction matrix; score = history @ S.

    Unknown users (index -1) are scored from the history passed to `score`/`recommend` exactly like
    known users: the model has no per-user parameters, so a known user's scores equal those of an
    unknown user with the same history.
    """

    name = "itemknn"
    config_class = ItemKNNConfig
    config: ItemKNNConfig

    def _fit(self, data: Interactions, rng: np.random.Generator) -> None:
        cfg = self.config
        self.similarity_ = cosine_topk(self.history_, cfg.k, cfg.shrink, cfg.block_entries)
