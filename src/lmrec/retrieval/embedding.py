"""The embedding-model protocol: models whose scores are inner products of a user and an item vector.

A model implements it with two methods such that, for the same arguments,

    model.score(users, history, sequences=sequences) == model.user_vectors(users, history, sequences)
                                                         @ model.item_vectors().T

(up to float rounding). ALS and BPR (user/item factors; unknown users folded in from `history`) and the
sequence models (user vector = the encoder's state after the sequence, item vectors = the item embedding
table) implement it; an ANN index over `item_vectors()` can then stand in for scoring the whole catalog.

One exception is part of the contract: sequence models score an *empty* history by popularity, which
no user vector expresses, so their `user_vectors` refuses such rows (ValueError); callers rank those
rows with `recommend` instead (`Retriever` does).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp


@runtime_checkable
class EmbeddingModel(Protocol):
    """A fitted model whose score of (user, item) is `user_vectors(...)[u] · item_vectors()[i]`."""

    def user_vectors(
        self,
        users: np.ndarray,
        history: sp.csr_matrix | None = None,
        sequences: list[np.ndarray] | None = None,
    ) -> np.ndarray:
        """(B, d) float32, one row per entry of `users` (arguments as for `Recommender.score`)."""
        ...

    def item_vectors(self) -> np.ndarray:
        """(n_items, d) float32, row i = item index i (do not modify: it may be the model's own array)."""
        ...


def is_embedding_model(model: object) -> bool:
    """True when `model` offers user and item vectors (the ANN retrieval path can serve it)."""
    return isinstance(model, EmbeddingModel)
