"""Item-kNN augmentation: the unseen items that the user's items vote for through item-item cosine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from lmrec.augment.base import Augmenter, Scorer
from lmrec.data.features import ItemFeatures
from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError
from lmrec.models.knn import ItemKNNConfig, cosine_topk


@dataclass(frozen=True)
class ItemKNNAugmenter(Augmenter):
    """Each selected user gets the `amount` unseen items with the highest item-kNN score
    history @ S, S the top-`k` pruned item-item cosine (with `shrink`) of the binary data, computed by
    `lmrec.models.knn.cosine_topk` exactly as the `itemknn` model does.

    Deterministic (the seed is not used): ties go to the lower item index. Only items with a positive
    score (a neighbour of at least one of the user's items) are added, so a user can get fewer.
    """

    k: int = 100
    """Neighbours kept per item."""
    shrink: float = 0.0
    """Added to the cosine denominator; damps similarities supported by few co-occurrences."""

    method: ClassVar[str] = "itemknn"

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            ItemKNNConfig(k=self.k, shrink=self.shrink)  # one rule for k and shrink
        except ConfigError as exc:
            raise ConfigError(str(exc).replace("ItemKNN:", "ItemKNNAugmenter:")) from None

    def _scorer(self, data: Interactions, seen: sp.csr_matrix, item_features: ItemFeatures | None) -> Scorer:
        sim = cosine_topk(seen, self.k, float(self.shrink), ItemKNNConfig.block_entries)

        def score(users: np.ndarray, history: sp.csr_matrix, rng: np.random.Generator) -> np.ndarray:
            votes = (history @ sim).toarray().astype(np.float64)
            votes[votes <= 0] = -np.inf
            return votes

        return score
