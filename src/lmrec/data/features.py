"""Dense item features aligned with an item vocabulary (text embeddings, for content-aware models).

A model never sees a catalog or a text encoder: the experiment (or the caller) turns the catalog into an
`ItemFeatures` once, and content-aware models receive it in `fit(..., item_features=...)` and keep what
they need in their saved arrays, so a saved model scores without the catalog or the encoder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class ItemFeatures:
    """One row per item index of the vocabulary the model is fitted on."""

    vectors: np.ndarray
    """(n_items, dim) float32; rows of items without content are zeros."""
    has_content: np.ndarray
    """(n_items,) bool: True where the item had text (a zero row is "unknown", not "similar to nothing")."""
    source: str = ""
    """What produced the vectors (encoder name, template), recorded with the model."""
    texts: tuple[str, ...] | None = None
    """The rendered text of each item ("" where none), for models that fine-tune the encoder."""
    recipe: Mapping[str, Any] | None = None
    """How to make the vector of a new item's text the same way, recorded with models that add items
    after training: {"encoder": make_encoder spec, "encoder_name", "corpus_dependent", "template",
    "list_fields", "list_separator"}; None when unknown (vectors made outside `lmrec.text`)."""

    def __post_init__(self) -> None:
        vectors = np.ascontiguousarray(self.vectors, dtype=np.float32)
        has = np.asarray(self.has_content, dtype=bool)
        if vectors.ndim != 2:
            raise ValueError(f"item feature vectors must be 2-D (items x dim), got shape {vectors.shape}")
        if has.shape != (vectors.shape[0],):
            raise ValueError(f"has_content has shape {has.shape}, expected ({vectors.shape[0]},)")
        if not np.isfinite(vectors).all():
            bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))[:5].tolist()
            raise ValueError(f"item feature vectors contain NaN/inf (item indices {bad})")
        if self.texts is not None and len(self.texts) != vectors.shape[0]:
            raise ValueError(f"texts has {len(self.texts)} entries, expected {vectors.shape[0]}")
        object.__setattr__(self, "vectors", vectors)
        object.__setattr__(self, "has_content", has)

    @property
    def n_items(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def check_items(self, n_items: int, who: str) -> None:
        if self.n_items != n_items:
            raise ValueError(
                f"{who}: item features have {self.n_items} rows but the data has {n_items} items; "
                "build them for the same item vocabulary"
            )
