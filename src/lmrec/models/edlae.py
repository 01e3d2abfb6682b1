"""EDLAE: emphasized denoising linear autoencoder (Steck, NeurIPS 2020, "Autoencoders that don't
overfit towards the Identity"), full rank, with EASE's zero-diagonal constraint.

Dropout with probability p on the input, with the dropped entries emphasized in the loss, is equivalent
(in expectation) to the penalty ‖Λ^½ B‖² with Λ = p/(1-p)·diag(G), G = XᵀX. With an L2 term λ as well,

    Λ = λI + p/(1-p)·diagMat(diag(G)),    P = (G + Λ)⁻¹,    B = I − P · diag(1 / diag(P)),

and a user's scores are `history @ B`: EASE's closed form with its constant diagonal penalty λI replaced
by Λ, which penalises popular items' self-reconstruction more. p = 0 is EASE exactly. The Gram matrix,
the solve and the scoring are EASE's (`lmrec.models.ease.ease_weights`), so the cost and the catalog
guard are the same: O(items³) time, O(items²) memory.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError
from lmrec.models.ease import _PRECISIONS, DenseItemItem, ease_weights


@dataclass(frozen=True)
class EDLAEConfig:
    """Hyper-parameters of full-rank EDLAE with the zero-diagonal constraint (`reg` is Steck's λ,
    `dropout` his p)."""

    reg: float = 100.0
    """Constant L2 penalty λ on the Gram diagonal (as EASE's reg); the dropout term adds to it."""
    dropout: float = 0.25
    """Dropout probability p in [0, 1): adds p/(1-p)·G_ii to item i's diagonal penalty (0 gives EASE)."""
    max_items: int = 30_000
    """Largest catalog fitted; bigger catalogs raise ConfigError stating the memory the solve would need."""
    precision: str = "float64"
    """Floating type of the dense solve: "float64" (default) or "float32" (half the memory). The learned
    weights are stored as float32."""
    block_items: int = 512
    """Gram columns built per step (dense temporary of items x block_items); does not change results."""

    def __post_init__(self) -> None:
        if not (isinstance(self.reg, numbers.Real) and 0 < self.reg < math.inf):
            raise ConfigError(f"EDLAE: reg must be a number > 0 (G + Λ must be invertible), got {self.reg!r}")
        if not (isinstance(self.dropout, numbers.Real) and 0 <= self.dropout < 1):
            raise ConfigError(f"EDLAE: dropout must be in [0, 1) (penalty p/(1-p)), got {self.dropout!r}")
        if not isinstance(self.max_items, int) or self.max_items < 1:
            raise ConfigError(f"EDLAE: max_items must be a positive integer, got {self.max_items!r}")
        if self.precision not in _PRECISIONS:
            raise ConfigError(f"EDLAE: precision must be in {sorted(_PRECISIONS)}, got {self.precision!r}")
        if not isinstance(self.block_items, int) or self.block_items < 1:
            raise ConfigError(f"EDLAE: block_items must be a positive integer, got {self.block_items!r}")


def edlae_penalty(x: sp.csr_matrix, reg: float, dropout: float) -> np.ndarray:
    """Λ's diagonal for the user x item matrix X: reg + p/(1-p)·G_ii with G_ii = Σ_u x_ui² (item i's user
    count for binary X), in float64."""
    x = sp.csr_matrix(x, dtype=np.float64)
    gram_diag = np.asarray(x.multiply(x).sum(axis=0), dtype=np.float64).ravel()
    return reg + dropout / (1.0 - dropout) * gram_diag


class EDLAE(DenseItemItem):
    """Full-rank EDLAE (dropout-emphasized EASE); score = history @ B.

    Unknown users (index -1) are scored from the history passed to `score`/`recommend`, exactly like
    known users (the model has no per-user parameters).
    """

    name = "edlae"
    config_class = EDLAEConfig
    config: EDLAEConfig

    def _fit(self, data: Interactions, rng: np.random.Generator) -> None:
        cfg = self.config
        self._check_catalog(data.n_items, cfg.max_items, cfg.precision)
        x = self.history_
        penalty: float | np.ndarray = cfg.reg if cfg.dropout == 0 else edlae_penalty(x, cfg.reg, cfg.dropout)
        self.weights_ = ease_weights(x, penalty, cfg.precision, cfg.block_items)
