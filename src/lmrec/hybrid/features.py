"""Candidate features for the learned ranking stage: one row per (user, candidate item), grouped by user.

Feature groups (each can be dropped for an ablation):
- `scores`: each retriever's raw score and its per-user z-score;
- `ranks`: each retriever's rank of the item among the user's rankable items (0 = its top item);
- `popularity`: log(1 + distinct training users of the item);
- `age`: how long ago the item first and last appeared in the training log, as shares of the log's span
  (zero when the log has no timestamps);
- `text`: cosine between the item's text embedding and the mean embedding of the user's `recent` last items
  (needs item text);
- `activity`: log(1 + the user's history length).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from lmrec.data.interactions import Interactions
from lmrec.hybrid.normalize import zscore
from lmrec.models.topk import ranks

GROUPS = ("scores", "ranks", "popularity", "age", "text", "activity")


@dataclass(frozen=True)
class ItemStats:
    """Per-item statistics of the training log the features are computed from."""

    log_popularity: np.ndarray
    first_seen: np.ndarray
    """Share of the log's time span since the item's first event (1 = at the start, 0 = at the end)."""
    last_seen: np.ndarray
    """Share of the log's time span since the item's last event."""

    @classmethod
    def of(cls, data: Interactions) -> ItemStats:
        users_per_item = data.item_user_counts().astype(np.float64)
        n = data.n_items
        first = np.zeros(n)
        last = np.zeros(n)
        if data.timestamps is not None and len(data):
            t = data.timestamps.astype(np.float64)
            lo, hi = float(t.min()), float(t.max())
            span = max(hi - lo, 1.0)
            tmin = np.full(n, np.inf)
            tmax = np.full(n, -np.inf)
            np.minimum.at(tmin, data.items, t)
            np.maximum.at(tmax, data.items, t)
            seen = np.isfinite(tmin)
            first[seen] = (hi - tmin[seen]) / span
            last[seen] = (hi - tmax[seen]) / span
        return cls(np.log1p(users_per_item), first, last)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "log_popularity": self.log_popularity,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
        }


def feature_names(groups: tuple[str, ...], n_retrievers: int) -> list[str]:
    names: list[str] = []
    for g in groups:
        if g == "scores":
            names += [f"score_{i}" for i in range(n_retrievers)] + [
                f"zscore_{i}" for i in range(n_retrievers)
            ]
        elif g == "ranks":
            names += [f"rank_{i}" for i in range(n_retrievers)]
        elif g == "popularity":
            names.append("log_popularity")
        elif g == "age":
            names += ["first_seen", "last_seen"]
        elif g == "text":
            names.append("text_similarity")
        elif g == "activity":
            names.append("log_history_length")
    return names


def candidate_features(
    groups: tuple[str, ...],
    cand: np.ndarray,
    retrieved: list[np.ndarray],
    history: sp.csr_matrix,
    sequences: list[np.ndarray] | None,
    stats: ItemStats,
    text: np.ndarray | None,
    recent: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, items, X): for every candidate of every user (row order = user, then item index), its
    feature vector in `feature_names(groups, len(retrieved))` order."""
    rows, items = np.nonzero(cand)
    cols: list[np.ndarray] = []
    for g in groups:
        if g == "scores":
            cols += [s[rows, items] for s in retrieved]
            cols += [zscore(s)[rows, items] for s in retrieved]  # over each row's finite scores
        elif g == "ranks":
            cols += [ranks(s)[rows, items].astype(np.float64) for s in retrieved]
        elif g == "popularity":
            cols.append(stats.log_popularity[items])
        elif g == "age":
            cols += [stats.first_seen[items], stats.last_seen[items]]
        elif g == "text":
            if text is None:
                raise ValueError("the 'text' feature group needs item text embeddings")
            cols.append(_text_similarity(rows, items, history, sequences, text, recent))
        elif g == "activity":
            cols.append(np.log1p(np.diff(history.indptr).astype(np.float64))[rows])
    X = np.column_stack(cols).astype(np.float32) if cols else np.empty((rows.size, 0), np.float32)
    X[~np.isfinite(X)] = 0.0  # a -inf score is a history item, never a candidate; kept finite for safety
    return rows, items, X


def _text_similarity(
    rows: np.ndarray,
    items: np.ndarray,
    history: sp.csr_matrix,
    sequences: list[np.ndarray] | None,
    text: np.ndarray,
    recent: int,
) -> np.ndarray:
    """Cosine between each candidate's (unit) text vector and the mean of the user's last `recent` items."""
    n_users = history.shape[0]
    profile = np.zeros((n_users, text.shape[1]), dtype=np.float32)
    for u in range(n_users):
        if sequences is not None:
            last = np.asarray(sequences[u], dtype=np.int64)[-recent:]
        else:
            last = history.indices[history.indptr[u] : history.indptr[u + 1]][-recent:]
        if last.size:
            p = text[last].mean(axis=0)
            norm = float(np.linalg.norm(p))
            profile[u] = p / norm if norm > 0 else p
    return np.einsum("ij,ij->i", profile[rows], text[items]).astype(np.float64)
