"""Content-based recommender: a user is the (recency-weighted) mean of their items' text embeddings.

With e_i the unit-length content vector of item i and a user's history i_1 ... i_m (oldest first), the
profile is

    p = Σ_j w_j e_{i_j} / Σ_j w_j,    w_j = exp(-recency_decay * (m - j)),

over the last `profile_items` items (age m - j is 0 for the most recent item), and item i scores
cos(p, e_i). The model learns nothing from co-occurrence: it needs `item_features` (see
`lmrec.text.item_features`) and recommends items whose text is close to what the user consumed, which
also works for items nobody has interacted with yet (cold-start items).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from lmrec.data.features import ItemFeatures
from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError
from lmrec.models.fit_context import FitContext, Validation
from lmrec.models.ordered_history import KeepsTrainingLog, ordered_history
from lmrec.models.topk import topk

NO_CONTENT_SCORE = -2.0
"""Score of items without content vectors: below every cosine (>= -1), but finite so they still rank."""


@dataclass(frozen=True)
class ContentConfig:
    """Hyper-parameters of the content-based recommender."""

    recency_decay: float = 0.0
    """Weight of a history item is exp(-recency_decay * age), age 0 for the most recent item; 0 gives
    every item the same weight. Histories without order (a set) always weigh items equally."""
    profile_items: int | None = 50
    """Build the profile from the last k items of an ordered history only (None: all of them)."""

    def __post_init__(self) -> None:
        decay = self.recency_decay
        if (
            isinstance(decay, bool)
            or not isinstance(decay, int | float)
            or not (math.isfinite(decay) and decay >= 0)
        ):
            raise ConfigError(f"ContentBased: recency_decay must be a finite number >= 0, got {decay!r}")
        k = self.profile_items
        if k is not None and (not isinstance(k, int) or isinstance(k, bool) or k < 1):
            raise ConfigError(f"ContentBased: profile_items must be a positive integer or None, got {k!r}")


class ContentBased(KeepsTrainingLog):
    """Scores items by the cosine between their text embedding and the user's profile (see module doc).

    Histories: ordered sequences passed to `score`/`recommend` are used as given; without them a known
    user's training sequence is used, and a given history matrix is read as a set (equal weights, all
    items, no `profile_items` window: a set has no "last" items) — except that a known user's row equal
    to their training history is read in training order, so passing the training matrix explicitly
    ranks exactly like passing nothing.

    Unknown users (index -1) are scored from the history or sequence passed in, exactly like a known
    user with that history: the model has no per-user parameters. An unknown user with no history, or
    whose history has no item with content, has no profile: every item with content scores 0 (ties go
    to the lower item index). Items without content score NO_CONTENT_SCORE (-2), below every item with
    content.
    """

    name = "content"
    config_class = ContentConfig
    config: ContentConfig
    uses_sequences = True
    uses_item_features = True
    requires_item_features = True
    has_similar_items = True

    # --- learning -------------------------------------------------------------------------------
    def _fit(self, data: Interactions, rng: np.random.Generator) -> None:
        raise ValueError("ContentBased is fitted with item_features: call fit(data, item_features=...)")

    def _fit_with(
        self,
        data: Interactions,
        rng: np.random.Generator,
        *,
        item_features: ItemFeatures | None,
        validation: Validation | None,
        context: FitContext,
    ) -> None:
        if item_features is None:  # the base class refuses this already; kept for direct callers
            raise ValueError("ContentBased needs item_features")
        vectors = item_features.vectors.astype(np.float64)
        norms = np.linalg.norm(vectors, axis=1)
        # a zero row has no direction: it counts as "no content" whatever has_content says
        content = item_features.has_content & (norms > 0)
        unit = np.zeros_like(vectors)
        unit[content] = vectors[content] / norms[content, None]
        self.item_vectors_ = unit.astype(np.float32)
        self.has_content_ = content
        self._store_log(data)
        self.training_["item_features"] = item_features.source
        self.training_["items_with_content"] = int(content.sum())

    # --- scoring --------------------------------------------------------------------------------
    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return self._score_sequences(users, history, None, history_given=True)

    def _score_sequences(
        self,
        users: np.ndarray,
        history: sp.csr_matrix,
        sequences: list[np.ndarray] | None,
        *,
        history_given: bool,
    ) -> np.ndarray:
        weights = self._profile_weights(users, history, sequences, history_given)
        vectors = self.item_vectors_.astype(np.float64)
        profiles = np.asarray(weights @ vectors)
        norms = np.linalg.norm(profiles, axis=1, keepdims=True)
        profiles = np.divide(profiles, norms, out=np.zeros_like(profiles), where=norms > 0)
        scores = profiles @ vectors.T
        scores[:, ~self.has_content_] = NO_CONTENT_SCORE
        return scores.astype(np.float32)

    def _profile_weights(
        self,
        users: np.ndarray,
        history: sp.csr_matrix,
        sequences: list[np.ndarray] | None,
        history_given: bool,
    ) -> sp.csr_matrix:
        """users x items matrix of profile weights (repeated items add up)."""
        rows, cols, vals = [], [], []
        for r, u in enumerate(users):
            ordered, seq = ordered_history(
                r, int(u), history, sequences, history_given, self.training_sequences(), self.n_items
            )
            if ordered:
                if self.config.profile_items is not None:
                    seq = seq[-self.config.profile_items :]
                age = np.arange(seq.shape[0] - 1, -1, -1, dtype=np.float64)
                w = np.exp(-self.config.recency_decay * age)
            else:
                w = np.ones(seq.shape[0], dtype=np.float64)
            rows.append(np.full(seq.shape[0], r, dtype=np.int64))
            cols.append(seq)
            vals.append(w)
        n = self.n_items
        if not rows:
            return sp.csr_matrix((0, n), dtype=np.float64)
        return sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(len(users), n)
        )

    # --- item-to-item ---------------------------------------------------------------------------
    def similar_items(self, items: np.ndarray, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The `n` items whose text is closest (cosine) to each of `items` (item indices), best first.

        Returns (items, scores), each of shape (len(items), n). The item itself and items without
        content are never returned; an item without content has no similar items (its row is -1 with
        score -inf), as are the slots beyond the catalog's other items with content.
        """
        self.check_is_fitted()
        items = np.asarray(items, dtype=np.int64).reshape(-1)
        if items.size and (items.min() < 0 or items.max() >= self.n_items):
            raise ValueError(f"item indices must lie in 0..{self.n_items - 1}, got {items.tolist()[:5]}")
        vectors = self.item_vectors_.astype(np.float64)
        scores = vectors[items] @ vectors.T
        scores[:, ~self.has_content_] = -np.inf
        scores[np.arange(items.shape[0]), items] = -np.inf
        scores[~self.has_content_[items]] = -np.inf
        return topk(scores.astype(np.float32), n)

    # --- persistence ----------------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        return {
            "item_vectors": self.item_vectors_,
            "has_content": self.has_content_,
            "seq_indptr": self.seq_indptr_,
            "seq_items": self.seq_items_,
        }

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.item_vectors_ = arrays["item_vectors"].astype(np.float32)
        self.has_content_ = arrays["has_content"].astype(bool)
        self.seq_indptr_ = arrays["seq_indptr"].astype(np.int64)
        self.seq_items_ = arrays["seq_items"].astype(np.int64)
