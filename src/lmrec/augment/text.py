"""Text augmentation (the large-model augmenter): unseen items whose pretrained text embedding is closest
to the user's items."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from lmrec.augment.base import Augmenter, Scorer
from lmrec.data.features import ItemFeatures
from lmrec.data.interactions import Interactions


@dataclass(frozen=True)
class TextAugmenter(Augmenter):
    """Each selected user gets the `amount` unseen items whose text embedding has the highest cosine to
    the user's profile, the mean of the unit-length embeddings of the user's items (the profile of the
    `content` model with equal weights).

    The embeddings are `item_features` built from the catalog by `lmrec.text.item_features` (a pretrained
    sentence encoder such as MiniLM, or TF-IDF), as for the content-aware models; in an experiment file
    they come from the augmentation's `item_text` (or the model's). Deterministic (the seed is not used):
    ties go to the lower item index. Items without text are never added, and users none of whose items
    has text get nothing.
    """

    method: ClassVar[str] = "text"
    needs_item_features: ClassVar[bool] = True

    def _scorer(self, data: Interactions, seen: sp.csr_matrix, item_features: ItemFeatures | None) -> Scorer:
        assert item_features is not None  # `augment` checked it
        vectors = item_features.vectors.astype(np.float64)
        norms = np.linalg.norm(vectors, axis=1)
        content = item_features.has_content & (norms > 0)
        unit = np.zeros_like(vectors)
        unit[content] = vectors[content] / norms[content, None]

        def score(users: np.ndarray, history: sp.csr_matrix, rng: np.random.Generator) -> np.ndarray:
            profile = np.asarray(history @ unit)
            size = np.linalg.norm(profile, axis=1)
            profile = np.divide(profile, size[:, None], out=np.zeros_like(profile), where=size[:, None] > 0)
            scores = profile @ unit.T
            scores[:, ~content] = -np.inf
            scores[size == 0] = -np.inf
            return scores

        return score
