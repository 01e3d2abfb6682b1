"""EASE: embarrassingly shallow autoencoder (Steck, WWW 2019).

Closed form: with G = XᵀX the item-item Gram matrix of the binary user x item matrix X,

    P = (G + λI)⁻¹,    B = I − P · diag(1 / diag(P)),    i.e. B_ij = −P_ij / P_jj,  B_jj = 0,

and a user's scores are `history @ B`. The solve is dense, O(items³) time and O(items²) memory, so the
model refuses catalogs larger than `max_items` with the memory it would need, instead of swapping.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError
from lmrec.models.base import Recommender

_PRECISIONS = {"float64": np.float64, "float32": np.float32}


@dataclass(frozen=True)
class EASEConfig:
    """Hyper-parameters of EASE (`reg` is Steck's λ)."""

    reg: float = 500.0
    """L2 penalty λ added to the Gram diagonal; Steck reports 200–1000 for MovieLens/Netflix scale data."""
    max_items: int = 30_000
    """Largest catalog fitted; bigger catalogs raise ConfigError stating the memory the solve would need."""
    precision: str = "float64"
    """Floating type of the dense solve: "float64" (default) or "float32" (half the memory; fine when
    λ is large enough that G + λI is well conditioned). The learned weights are stored as float32."""
    block_items: int = 512
    """Gram columns built per step (dense temporary of items x block_items); does not change results."""

    def __post_init__(self) -> None:
        if not self.reg > 0:
            raise ConfigError(f"EASE: reg must be > 0 (G + λI must be invertible), got {self.reg!r}")
        if not isinstance(self.max_items, int) or self.max_items < 1:
            raise ConfigError(f"EASE: max_items must be a positive integer, got {self.max_items!r}")
        if self.precision not in _PRECISIONS:
            raise ConfigError(f"EASE: precision must be one of {sorted(_PRECISIONS)}, got {self.precision!r}")
        if not isinstance(self.block_items, int) or self.block_items < 1:
            raise ConfigError(f"EASE: block_items must be a positive integer, got {self.block_items!r}")


def ease_memory_bytes(n_items: int, precision: str = "float64") -> int:
    """Peak bytes of the dense part of an EASE fit: the solve matrix plus the float32 weights."""
    return n_items * n_items * (np.dtype(_PRECISIONS[precision]).itemsize + 4)


def ease_weights(
    x: sp.csr_matrix, reg: float | np.ndarray, precision: str = "float64", block_items: int = 512
) -> np.ndarray:
    """Item x item EASE weight matrix B (float32, zero diagonal) of a user x item matrix X.

    `reg` is the penalty added to the Gram diagonal: one number (EASE's λ) or one per item (EDLAE's
    λ + p/(1-p)·G_ii, `lmrec.models.edlae`); the zero-diagonal closed form is the same for both.
    """
    dtype = _PRECISIONS[precision]
    x = sp.csr_matrix(x, dtype=dtype)
    m = x.shape[1]
    xt = x.T.tocsr()
    gram = np.empty((m, m), dtype=dtype, order="F")
    for a in range(0, m, block_items):
        b = min(a + block_items, m)
        gram[:, a:b] = (xt[a:b] @ x).toarray().T  # G is symmetric: rows a:b are columns a:b
    gram[np.diag_indices(m)] += reg
    # Cholesky factor and inverse in place: only the upper triangle of P is computed
    potrf, potri = lapack.get_lapack_funcs(("potrf", "potri"), (gram,))
    with _solve_threads(m):
        chol, info = potrf(gram, lower=False, overwrite_a=True, clean=False)
        if info != 0:
            raise np.linalg.LinAlgError(
                f"EASE: Gram matrix + λI is not positive definite (potrf info={info})"
            )
        p, info = potri(chol, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE: inverting the Gram matrix failed (potri info={info})")
    del gram, chol
    # B_ij = -P_ij / P_jj, filled block by block from P's upper triangle to avoid m² temporaries
    diag = np.diag(p).copy()
    weights = np.empty((m, m), dtype=np.float32)
    for a in range(0, m, block_items):
        b = min(a + block_items, m)
        # columns a:b of the symmetric P: rows < b come from the upper triangle, rows >= b by symmetry
        weights[:, a:b] = -_upper_cols(p, a, b) / diag[a:b]
    weights[np.diag_indices(m)] = 0.0
    return weights


THREADED_SOLVE_MAX = 14_000
"""Largest catalog whose dense solve runs on several BLAS threads. OpenBLAS 0.3.30/0.3.31 (the builds in
numpy's and scipy's wheels) crashed the process with a segmentation fault in multi-threaded dpotrf at
n >= 16,000 with its SkylakeX kernels on an AVX-512 Xeon (2 threads; n = 14,000 and 12,101 ran, and every
size ran on one thread or with OPENBLAS_CORETYPE=Haswell). Above this size the solve takes one thread:
slower, never a crash."""


def _solve_threads(m: int) -> Any:
    """Context that keeps BLAS on one thread for catalogs above THREADED_SOLVE_MAX."""
    if m <= THREADED_SOLVE_MAX:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


def _upper_cols(p: np.ndarray, a: int, b: int) -> np.ndarray:
    """Columns a:b of the symmetric matrix whose upper triangle (incl. diagonal) is stored in `p`."""
    m = p.shape[0]
    out = np.empty((m, b - a), dtype=p.dtype)
    out[:a] = p[:a, a:b]
    block = p[a:b, a:b]
    out[a:b] = np.triu(block) + np.triu(block, 1).T
    out[b:] = p[a:b, b:].T
    return out


class DenseItemItem(Recommender):
    """Base of the models whose learned state is one dense item x item matrix B (EASE, EDLAE): the
    catalog-size guard, score = binary history @ B, and B's persistence."""

    weights_: np.ndarray

    def _check_catalog(self, n_items: int, max_items: int, precision: str) -> None:
        """Refuse a catalog above `max_items`, stating the memory the dense solve would need."""
        if n_items <= max_items:
            return
        m, need = f"{n_items:,}", ease_memory_bytes(n_items, precision) / 2**30
        raise ConfigError(
            f"{type(self).__name__}: the catalog has {m} items > max_items={max_items:,}; the dense "
            f"{m} x {m} solve would need about {need:.1f} GiB ({precision} solve + float32 weights). Raise "
            f"max_items if the machine has that memory, use precision='float32', or prune the catalog."
        )

    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        hist = sp.csr_matrix(history, dtype=np.float32, copy=True)  # never modify the caller's matrix
        hist.data[:] = 1.0  # binary, as in fitting
        return np.asarray(hist @ self.weights_, dtype=np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.weights_ = arrays["weights"]


class EASE(DenseItemItem):
    """EASE linear item-item autoencoder; score = history @ B.

    Unknown users (index -1) are scored from the history passed to `score`/`recommend`, exactly like
    known users (the model has no per-user parameters).
    """

    name = "ease"
    config_class = EASEConfig
    config: EASEConfig

    def _fit(self, data: Interactions, rng: np.random.Generator) -> None:
        cfg = self.config
        self._check_catalog(data.n_items, cfg.max_items, cfg.precision)
        self.weights_ = ease_weights(self.history_, cfg.reg, cfg.precision, cfg.block_items)
