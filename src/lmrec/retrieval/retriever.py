"""`Retriever`: a fitted model's `recommend`, answered by an ANN index when the model has vectors.

    retriever = Retriever(model, mode="auto")          # "exact" | "ann" | "auto"
    ranked = retriever.recommend(users, history, n=10)  # ranked.recs: Recommendations, ranked.ann: per row

Modes:
- "exact": the model's own `recommend` (full scoring + the shared top-k), for every model;
- "ann": an `AnnIndex` over `model.item_vectors()`, HNSW or IVF by catalog size (never a plain scan);
  the model must be an `EmbeddingModel` (ALS, BPR, sequence models), else `ConfigError`;
- "auto": "ann" with the kind `AnnConfig.kind_for` picks (exact below `exact_below` items) for embedding
  models, "exact" for the others.

Rows with an empty history are always ranked by the model itself: their scores are not an inner product
(sequence models use popularity, factor models give every item 0 and the exact top-k breaks those ties by
item index).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from lmrec.data.interactions import sequences_to_csr
from lmrec.errors import ConfigError
from lmrec.models.base import Recommendations, Recommender
from lmrec.retrieval.ann import AnnConfig, AnnIndex
from lmrec.retrieval.embedding import is_embedding_model

RETRIEVAL_MODES = ("exact", "ann", "auto")
USER_CACHE_CHUNK = 4096
"""Users encoded at once while filling the user-vector cache."""


@dataclass(frozen=True)
class Ranked:
    """Top-n lists and, per row, whether the ANN index ranked it (False: an exact ranking)."""

    recs: Recommendations
    ann: np.ndarray


class Retriever:
    """Answers `recommend` for a fitted model, exactly or through an ANN index built here (at once)."""

    def __init__(self, model: Recommender, mode: str = "auto", config: AnnConfig | None = None) -> None:
        if mode not in RETRIEVAL_MODES:
            raise ConfigError(f"retrieval must be one of {RETRIEVAL_MODES}, not {mode!r}")
        model.check_is_fitted()
        self.model = model
        self.requested = mode
        self.config = config or AnnConfig()
        self.index: AnnIndex | None = None
        self.user_cache: np.ndarray | None = None
        self.user_cache_seconds = 0.0
        self.reason = "requested"
        """Why this mode: "requested", "no item vectors" or "catalog below exact_below" (auto)."""
        embedding = is_embedding_model(model)
        if mode == "ann" and not embedding:
            raise ConfigError(
                f"retrieval='ann' needs a model with user and item vectors (ALS, BPR, sequence models); "
                f"{model.name} has none: use retrieval='exact' or 'auto'"
            )
        if mode == "exact":
            return
        if not embedding:
            self.reason = "no item vectors"
            return
        n_items = model.n_items
        kind = self.config.kind_for(n_items)
        if mode == "ann" and kind == "exact":
            kind = "ivf" if n_items >= self.config.ivf_from else "hnsw"
        if kind == "exact":
            self.reason = f"catalog below exact_below={self.config.exact_below}"
            return
        vectors = model.item_vectors()  # type: ignore[attr-defined]
        self.index = AnnIndex(vectors, dataclasses.replace(self.config, index=kind))
        self.reason = "requested" if mode == "ann" else f"catalog of {n_items} items"
        if self.config.cache_user_vectors:
            self._fill_user_cache()

    def _fill_user_cache(self) -> None:
        """`user_cache`: (n_users, d) vectors of the known users from their stored histories (NaN rows:
        empty history, which `recommend` ranks by the model itself)."""
        start = time.perf_counter()
        model = self.model
        n_users = model.history_.shape[0]
        cache: np.ndarray | None = None
        for s in range(0, n_users, USER_CACHE_CHUNK):
            users = np.arange(s, min(s + USER_CACHE_CHUNK, n_users), dtype=np.int64)
            filled = users[np.diff(model._history_rows(users, None).indptr) > 0]
            if not filled.size:
                continue
            vectors = model.user_vectors(filled)  # type: ignore[attr-defined]
            if cache is None:
                cache = np.full((n_users, vectors.shape[1]), np.nan, dtype=np.float32)
            cache[filled] = vectors
        self.user_cache = cache
        self.user_cache_seconds = time.perf_counter() - start

    @property
    def mode(self) -> str:
        """The mode in use: "ann" when an index answers, else "exact"."""
        return "exact" if self.index is None else "ann"

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"requested": self.requested, "mode": self.mode, "reason": self.reason}
        if self.index is None:
            return {**info, "index": "exact"}
        cached = self.user_cache
        cache = {
            "user_vectors_cached": 0 if cached is None else int((~np.isnan(cached[:, 0])).sum()),
            "user_cache_seconds": round(self.user_cache_seconds, 3),
        }
        return {**info, **self.index.describe(), **cache}

    def recommend(
        self,
        users: np.ndarray,
        history: sp.csr_matrix | None = None,
        n: int = 10,
        *,
        exclude_history: bool = True,
        sequences: list[np.ndarray] | None = None,
    ) -> Ranked:
        """Top-`n` for a batch of users, arguments as for `Recommender.recommend`."""
        model = self.model
        users = np.asarray(users, dtype=np.int64).reshape(-1)
        if self.index is None:
            recs = model.recommend(users, history, n=n, exclude_history=exclude_history, sequences=sequences)
            return Ranked(recs, np.zeros(users.shape[0], dtype=bool))
        if history is None and sequences is not None:
            history = sequences_to_csr(sequences, model.n_items)  # as Recommender.recommend does
        given = None if history is None else sp.csr_matrix(history)
        rows = model._history_rows(users, given)  # the history each user is scored from
        empty = np.diff(rows.indptr) == 0
        items = np.full((users.shape[0], n), -1, dtype=np.int64)
        scores = np.full((users.shape[0], n), -np.inf, dtype=np.float32)
        ann = np.zeros(users.shape[0], dtype=bool)

        def subset(idx: np.ndarray) -> tuple[sp.csr_matrix | None, list[np.ndarray] | None]:
            seqs = None if sequences is None else [sequences[i] for i in idx]
            return (None if given is None else given[idx]), seqs

        vector_rows = np.flatnonzero(~empty)
        if vector_rows.size:
            if self.user_cache is not None and given is None and sequences is None:
                vectors = self.user_cache[users[vector_rows]]  # known users, stored histories
            else:
                sub_history, sub_sequences = subset(vector_rows)
                vectors = model.user_vectors(users[vector_rows], sub_history, sub_sequences)  # type: ignore[attr-defined]
            found = self.index.search(vectors, n, exclude=rows[vector_rows] if exclude_history else None)
            items[vector_rows], scores[vector_rows] = found.items, found.scores
            ann[vector_rows] = ~found.exact
        empty_rows = np.flatnonzero(empty)
        if empty_rows.size:
            sub_history, sub_sequences = subset(empty_rows)
            recs = model.recommend(
                users[empty_rows],
                sub_history,
                n=n,
                exclude_history=exclude_history,
                sequences=sub_sequences,
            )
            items[empty_rows], scores[empty_rows] = recs.items, recs.scores
        return Ranked(Recommendations(users=users, items=items, scores=scores), ann)
