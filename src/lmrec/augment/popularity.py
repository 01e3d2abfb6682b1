"""Popularity augmentation: unseen items drawn with probability proportional to their popularity."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from lmrec.augment.base import Augmenter, Scorer
from lmrec.data.features import ItemFeatures
from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError


@dataclass(frozen=True)
class PopularityAugmenter(Augmenter):
    """Each selected user gets `amount` unseen items drawn without replacement with probability
    proportional to popularity^`exponent`, popularity being the item's distinct users in the data.

    Sampling without replacement by weight w is the top-`amount` of log(w) + Gumbel noise (the
    Gumbel-top-k trick; successive draws renormalised over the items left, as in Plackett-Luce). Items
    nobody interacted with have weight 0 and are never drawn. Cost: one random number per (user, item).
    """

    exponent: float = 1.0
    """Weight = popularity^exponent: 1 samples by popularity, 0 uniformly (the `random` augmenter over the
    same items), above 1 favours the head more."""

    method: ClassVar[str] = "popularity"

    def __post_init__(self) -> None:
        super().__post_init__()
        e = self.exponent
        if isinstance(e, bool) or not isinstance(e, int | float) or not (math.isfinite(e) and e >= 0):
            raise ConfigError(f"PopularityAugmenter: exponent must be a finite number >= 0, got {e!r}")

    def _scorer(self, data: Interactions, seen: sp.csr_matrix, item_features: ItemFeatures | None) -> Scorer:
        counts = data.item_user_counts().astype(np.float64)
        with np.errstate(divide="ignore"):
            log_weight = np.where(counts > 0, float(self.exponent) * np.log(counts), -np.inf)

        def score(users: np.ndarray, history: sp.csr_matrix, rng: np.random.Generator) -> np.ndarray:
            return log_weight[None, :] + rng.gumbel(size=(users.shape[0], log_weight.shape[0]))

        return score
