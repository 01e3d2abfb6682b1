"""Random augmentation: unseen items drawn uniformly (the control every other augmenter must beat)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from lmrec.augment.base import Augmenter, Scorer
from lmrec.data.features import ItemFeatures
from lmrec.data.interactions import Interactions


@dataclass(frozen=True)
class RandomAugmenter(Augmenter):
    """Each selected user gets `amount` items drawn uniformly, without replacement, from the items with at
    least one interaction that the user has not interacted with.

    The draw is the top-`amount` of i.i.d. uniform scores, which is a uniform sample without replacement.
    Cost: one random number per (selected user, item).
    """

    method: ClassVar[str] = "random"

    def _scorer(self, data: Interactions, seen: sp.csr_matrix, item_features: ItemFeatures | None) -> Scorer:
        n_items = data.n_items

        def score(users: np.ndarray, history: sp.csr_matrix, rng: np.random.Generator) -> np.ndarray:
            return rng.random((users.shape[0], n_items))

        return score
