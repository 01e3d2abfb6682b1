"""GF-CF: training-free graph filtering for collaborative filtering (Shen et al., CIKM 2021, "How Powerful
is Graph Convolution for Recommendation?").

With R the binary user x item matrix, D_u and D_i its user and item degrees (diagonal), the normalised
matrix is R̃ = D_u^-½ R D_i^-½ (rows and columns of zero degree stay zero). A user's history row r is
scored by two graph filters on the item-item graph R̃ᵀR̃:

    scores = r · R̃ᵀR̃  +  alpha · r · D_i^-½ V Vᵀ D_i^½,

the linear filter (LightGCN's infinitely-deep limit, in the paper's analysis) plus the ideal low-pass
filter: V (items x k) holds the right singular vectors of R̃ for its k largest singular values, so V Vᵀ
keeps only the k smoothest "frequencies" of the item graph. Nothing is trained: fitting is one truncated
SVD (scipy's ARPACK `svds`, started from a vector drawn from the fit's seed; a dense SVD when k is not
below min(users, items)). Singular vectors whose singular value is below 1e-6 of the largest lie in
R̃'s null space rather than being low frequencies (the SVD would pick them arbitrarily), so they are
dropped: k is an upper bound on the rank of the ideal filter.

Cost: the linear filter is scored as (r R̃ᵀ) R̃ with sparse products, so R̃ᵀR̃ (items²) is never stored;
the ideal filter is two dense factors of items x k. Memory is O(nnz(R) + items x k).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError
from lmrec.models.base import Recommender

NULL_SPACE_CUT = 1e-6
"""Singular values below this share of the largest are treated as zero (their vectors are dropped)."""


@dataclass(frozen=True)
class GFCFConfig:
    """Hyper-parameters of GF-CF (defaults: the paper's code, 256 singular vectors, ideal filter x 0.3)."""

    alpha: float = 0.3
    """Weight of the ideal low-pass filter next to the linear filter (>= 0; 0 is the linear filter only,
    and skips the SVD)."""
    k: int = 256
    """Singular vectors of R̃ kept by the ideal low-pass filter (its cut-off frequency)."""

    def __post_init__(self) -> None:
        real = isinstance(self.alpha, numbers.Real) and not isinstance(self.alpha, bool)
        if not (real and 0 <= float(self.alpha) < math.inf):
            raise ConfigError(f"GFCF: alpha must be a finite number >= 0, got {self.alpha!r}")
        if not isinstance(self.k, int) or isinstance(self.k, bool) or self.k < 1:
            raise ConfigError(f"GFCF: k must be a positive integer, got {self.k!r}")


def _inv_sqrt(degree: np.ndarray) -> np.ndarray:
    out = np.zeros(degree.shape, dtype=np.float64)
    nz = degree > 0
    out[nz] = 1.0 / np.sqrt(degree[nz])
    return out


def normalized_matrix(x: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """(R̃ = D_u^-½ R D_i^-½ in float64, item degrees) of a user x item matrix, taken as binary."""
    r = sp.csr_matrix(x, dtype=np.float64, copy=True)
    r.sum_duplicates()
    r.eliminate_zeros()
    r.data[:] = 1.0
    user_degree = np.diff(r.indptr).astype(np.float64)
    item_degree = np.bincount(r.indices, minlength=r.shape[1]).astype(np.float64)
    r.data *= np.repeat(_inv_sqrt(user_degree), np.diff(r.indptr))
    r.data *= _inv_sqrt(item_degree)[r.indices]
    return r, item_degree


def top_right_singular_vectors(r: sp.csr_matrix, k: int, rng: np.random.Generator) -> np.ndarray:
    """The right singular vectors (rows, k' x items, k' <= k) of `r`'s k largest singular values, without
    those of (numerically) zero singular values."""
    smaller = min(r.shape)
    if k < smaller:
        v0 = rng.standard_normal(smaller)
        _, s, vt = svds(r, k=k, v0=v0, solver="arpack")
    else:  # ARPACK needs k < min(shape); the matrix is then small enough for a dense SVD
        _, s, vt = np.linalg.svd(r.toarray(), full_matrices=False)
    keep = s > NULL_SPACE_CUT * s.max() if s.size else np.zeros(0, dtype=bool)
    return np.asarray(vt[keep], dtype=np.float64)


class GFCF(Recommender):
    """GF-CF: linear plus ideal low-pass graph filter on the normalised item graph, no training.

    Unknown users (index -1) are scored from the history passed to `score`/`recommend` exactly like
    known users: the model has no per-user parameters (users enter only through D_u at fit time).
    """

    name = "gfcf"
    config_class = GFCFConfig
    config: GFCFConfig

    def _fit(self, data: Interactions, rng: np.random.Generator) -> None:
        cfg = self.config
        norm, item_degree = normalized_matrix(self.history_)
        if cfg.alpha > 0:
            vt = top_right_singular_vectors(norm, cfg.k, rng)
        else:
            vt = np.zeros((0, norm.shape[1]))
        # r D_i^-½ V Vᵀ D_i^½ = (r @ ideal_in) @ ideal_out, with alpha folded into ideal_out
        self.ideal_in_ = np.ascontiguousarray((vt * _inv_sqrt(item_degree)).T, dtype=np.float32)
        self.ideal_out_ = np.ascontiguousarray(cfg.alpha * vt * np.sqrt(item_degree), dtype=np.float32)
        self._set_norm(sp.csr_matrix(norm, dtype=np.float32))
        self.training_["singular_vectors"] = int(vt.shape[0])

    def _set_norm(self, norm: sp.csr_matrix) -> None:
        self.norm_ = norm
        self.norm_t_ = sp.csr_matrix(norm.T)  # r R̃ᵀ: csr x csr, the cheap direction

    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        hist = sp.csr_matrix(history, dtype=np.float32, copy=True)  # never modify the caller's matrix
        hist.data[:] = 1.0  # binary, as in fitting
        scores = ((hist @ self.norm_t_) @ self.norm_).toarray()
        if self.ideal_out_.shape[0]:
            scores += np.asarray(hist @ self.ideal_in_) @ self.ideal_out_
        return scores.astype(np.float32, copy=False)

    def _state(self) -> dict[str, np.ndarray]:
        s = self.norm_
        return {
            "norm_indptr": s.indptr,
            "norm_indices": s.indices,
            "norm_data": s.data,
            "ideal_in": self.ideal_in_,
            "ideal_out": self.ideal_out_,
        }

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        shape = (self.history_.shape[0], len(self.item_vocab_))
        self._set_norm(
            sp.csr_matrix((arrays["norm_data"], arrays["norm_indices"], arrays["norm_indptr"]), shape=shape)
        )
        self.ideal_in_ = arrays["ideal_in"]
        self.ideal_out_ = arrays["ideal_out"]
