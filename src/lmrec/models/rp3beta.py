"""RP3beta: item-item random walks of length three, re-ranked by popularity (Paudel et al., ACM TiiS 2017;
the tuned graph baseline of Ferrari Dacrema et al., RecSys 2019).

A walk on the bipartite user-item graph of the binary matrix X goes item i → user u → item j with
transition probabilities P(u|i) = 1/n_i and P(j|u) = 1/|u| (n_i: item i's users, |u|: user u's items).
Each probability is raised to `alpha`, and the arrival item is divided by its popularity to the `beta`:

    W_ij = n_j^(-β) · Σ_{u ∋ i, j} (1/n_i)^α (1/|u|)^α,    W_ii = 0,

row i keeps its `k` largest entries (ties: lower item index first), optionally rescaled to sum to 1
(`normalize`), and a user's scores are `history @ W`. α = 1, β = 0 is P3 (the plain three-step walk);
β > 0 demotes popular items, which the walk otherwise favours.

Scale: like ItemKNN, W is never held unpruned: rows are built in blocks of items whose co-occurrences
fit `block_entries` (`lmrec.models.knn.item_blocks`) and each block is cut to top-k before the next one
(`top_k_rows`), so memory is O(block_entries + items x k).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError
from lmrec.models.knn import SparseItemItem, item_blocks, top_k_rows


@dataclass(frozen=True)
class RP3betaConfig:
    """Hyper-parameters of RP3beta (defaults: those of Ferrari Dacrema et al.'s RP3betaRecommender)."""

    alpha: float = 1.0
    """Exponent on the transition probabilities P(u|i) and P(j|u) (>= 0; 1 is the plain random walk)."""
    beta: float = 0.6
    """Exponent of the popularity penalty: arrival item j's weight is divided by n_j^β (>= 0)."""
    k: int = 100
    """Neighbours kept per item (row of W)."""
    normalize: bool = True
    """Rescale each pruned row of W to sum to 1, so every history item casts the same total vote."""
    block_entries: int = 10_000_000
    """Upper bound on unpruned entries of W held at once while fitting (~40 bytes each); does not change
    results."""

    def __post_init__(self) -> None:
        for name in ("alpha", "beta"):
            value = getattr(self, name)
            real = isinstance(value, numbers.Real) and not isinstance(value, bool)
            if not (real and 0 <= float(value) < math.inf):
                raise ConfigError(f"RP3beta: {name} must be a finite number >= 0, got {value!r}")
        if not isinstance(self.k, int) or isinstance(self.k, bool) or self.k < 1:
            raise ConfigError(f"RP3beta: k must be a positive integer, got {self.k!r}")
        if not isinstance(self.normalize, bool):
            raise ConfigError(f"RP3beta: normalize must be true or false, got {self.normalize!r}")
        if not isinstance(self.block_entries, int) or self.block_entries < 1:
            raise ConfigError(
                f"RP3beta: block_entries must be a positive integer, got {self.block_entries!r}"
            )


def _neg_power(counts: np.ndarray, exponent: float) -> np.ndarray:
    """counts^(-exponent), with 0 for a count of 0 (an item or user without interactions)."""
    out = np.zeros(counts.shape, dtype=np.float64)
    nz = counts > 0
    out[nz] = counts[nz] ** -exponent
    return out


def rp3beta_weights(
    x: sp.csr_matrix, alpha: float, beta: float, k: int, normalize: bool, block_entries: int
) -> sp.csr_matrix:
    """The top-k pruned RP3beta matrix W (items x items, csr, float32) of a user x item matrix (binary)."""
    x = sp.csr_matrix(x, dtype=np.float64, copy=True)
    x.sum_duplicates()
    x.eliminate_zeros()
    x.data[:] = 1.0
    user_len = np.diff(x.indptr).astype(np.float64)
    xt = x.T.tocsr()
    item_counts = np.diff(xt.indptr).astype(np.float64)
    # (1/|u|)^α folded into X's rows: block @ xu sums it over the users shared by i and j
    xu = sp.csr_matrix(sp.diags(_neg_power(user_len, alpha)) @ x)
    arrive = _neg_power(item_counts, beta)
    blocks = []
    for a, b in item_blocks(x, block_entries):
        c = sp.csr_matrix(xt[a:b] @ xu)
        # the row factor (1/n_i)^α is left out here: it does not change a row's order, and keeping it
        # out of the float32 ranking values keeps small walks away from float32's underflow
        values = (c.data * arrive[c.indices]).astype(np.float32)
        blocks.append(top_k_rows(c, values, a, k))
    w = sp.csr_matrix(sp.vstack(blocks, format="csr"), dtype=np.float64)
    w.sort_indices()
    rows = np.repeat(np.arange(w.shape[0]), np.diff(w.indptr))
    if normalize:
        sums = np.asarray(w.sum(axis=1)).ravel()
        w.data /= sums[rows]
    else:
        w.data *= _neg_power(item_counts, alpha)[rows]
    return sp.csr_matrix(w, dtype=np.float32)


class RP3beta(SparseItemItem):
    """RP3beta graph recommender: popularity-penalised three-step random walks; score = history @ W.

    Unknown users (index -1) are scored from the history passed to `score`/`recommend` exactly like
    known users: the model has no per-user parameters (users enter W only through the walk's
    1/|u| weights at fit time).
    """

    name = "rp3beta"
    config_class = RP3betaConfig
    config: RP3betaConfig

    def _fit(self, data: Interactions, rng: np.random.Generator) -> None:
        cfg = self.config
        self.similarity_ = rp3beta_weights(
            self.history_, cfg.alpha, cfg.beta, cfg.k, cfg.normalize, cfg.block_entries
        )
