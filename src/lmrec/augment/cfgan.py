"""CFGAN augmentation: the unpurchased items a CFGAN generator, fitted on the data being augmented, rates
highest for the user (the augmentation use of CFGAN's generator, as in GAN-based data augmentation for CF)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from lmrec.augment.base import Augmenter, Scorer
from lmrec.data.features import ItemFeatures
from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError
from lmrec.models.cfgan.recommender import CFGAN, CFGANConfig

_MODEL = CFGANConfig()
_VALIDATION_ONLY = ("patience", "eval_every", "batch_size")
"""CFGANConfig fields the augmenter does not take: no validation here, and `batch_size` is the augmenter's
scoring block (the training batch is `train_batch_size`)."""


@dataclass(frozen=True)
class CFGANAugmenter(Augmenter):
    """Each selected user gets the `amount` items new to them with the highest output of a CFGAN generator
    G(c_u) fitted on the whole data being augmented (`lmrec.models.cfgan`; the model's fields, documented
    on `CFGANConfig`, with the training batch as `train_batch_size`).

    Seeded: the model is fitted when the first block of users is scored, from the augment seed's generator
    (its first draw), so the same seed gives the same model and rows, whatever `batch_size`. Nothing is
    fitted when no user is selected. Scoring reads G without noise, so it draws nothing.
    """

    scheme: str = _MODEL.scheme
    """CFGANConfig.scheme: "zr", "pm" or "zp"."""
    g_hidden: tuple[int, ...] = _MODEL.g_hidden
    """CFGANConfig.g_hidden: the generator's hidden-layer widths."""
    d_hidden: tuple[int, ...] = _MODEL.d_hidden
    """CFGANConfig.d_hidden: the discriminator's hidden-layer widths."""
    activation: str = _MODEL.activation
    """CFGANConfig.activation."""
    dropout: float = _MODEL.dropout
    """CFGANConfig.dropout."""
    noise_size: int = _MODEL.noise_size
    """CFGANConfig.noise_size."""
    epochs: int = _MODEL.epochs
    """CFGANConfig.epochs (all of them: there is no validation set here)."""
    train_batch_size: int = _MODEL.batch_size
    """CFGANConfig.batch_size: users per training batch."""
    d_steps: int = _MODEL.d_steps
    """CFGANConfig.d_steps."""
    g_steps: int = _MODEL.g_steps
    """CFGANConfig.g_steps."""
    g_learning_rate: float = _MODEL.g_learning_rate
    """CFGANConfig.g_learning_rate."""
    d_learning_rate: float = _MODEL.d_learning_rate
    """CFGANConfig.d_learning_rate."""
    g_reg: float = _MODEL.g_reg
    """CFGANConfig.g_reg."""
    d_reg: float = _MODEL.d_reg
    """CFGANConfig.d_reg."""
    zr_ratio: float = _MODEL.zr_ratio
    """CFGANConfig.zr_ratio."""
    pm_ratio: float = _MODEL.pm_ratio
    """CFGANConfig.pm_ratio."""
    zr_coefficient: float = _MODEL.zr_coefficient
    """CFGANConfig.zr_coefficient."""
    num_threads: int | None = _MODEL.num_threads
    """CFGANConfig.num_threads: torch threads for fitting and scoring."""

    method: ClassVar[str] = "cfgan"

    def __post_init__(self) -> None:
        super().__post_init__()
        config = self.model_config()  # one rule for every model field
        for name in ("g_hidden", "d_hidden"):  # lists from YAML become the config's tuples
            object.__setattr__(self, name, getattr(config, name))

    def model_config(self) -> CFGANConfig:
        """The CFGAN configuration this augmenter fits."""
        params = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(CFGANConfig)
            if f.name not in _VALIDATION_ONLY
        }
        try:
            return CFGANConfig(**params, batch_size=self.train_batch_size)
        except ConfigError as exc:
            message = str(exc).replace("CFGAN:", "CFGANAugmenter:", 1)
            raise ConfigError(message.replace(" batch_size ", " train_batch_size ")) from None

    def _scorer(self, data: Interactions, seen: sp.csr_matrix, item_features: ItemFeatures | None) -> Scorer:
        fitted: list[CFGAN] = []

        def score(users: np.ndarray, history: sp.csr_matrix, rng: np.random.Generator) -> np.ndarray:
            if not fitted:  # fitted here, not in _scorer, to be seeded from the augment seed (see class doc)
                fitted.append(CFGAN(self.model_config()).fit(data, seed=rng))
            return fitted[0].score(users, history).astype(np.float64)

        return score
