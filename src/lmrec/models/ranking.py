"""The one score → exclude → top-k path: `Recommender.recommend`, the evaluator and the service rank with it.

    scores = masked_scores(model, users, history, n_items=m, seen=history)  # excluded items at -inf
    recs = rank(model, users, history, 10, n_items=m, seen=history)          # then the shared top-k

1. score: `model.score(users, history[, sequences=...])`, checked to be users x n_items and free of NaN
   (a model that produces NaN is broken: the error names the users);
2. exclude: the nonzero entries of `seen` (the user's history, when seen items are excluded) and of
   `exclude` (any extra user x item matrix) are set to -inf;
3. top-k: `lmrec.models.topk.topk`, exact, ties broken by the lower item index, -inf never returned.

Because every caller goes through these two functions, a list the evaluator scores, a list
`Recommender.recommend` returns and a list the service's exact retrieval serves are the same list for
the same model and history, tied scores included. (An ANN index ranks approximately by design; its
exact fallback uses the same `mask_out` and `topk`.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import scipy.sparse as sp

from lmrec.models.topk import nan_rows, topk

if TYPE_CHECKING:
    from lmrec.data.vocabulary import Vocabulary


@dataclass(frozen=True)
class Recommendations:
    """Top-n lists for a batch of users: item indices (-1 = no item) and their scores, best first."""

    users: np.ndarray
    items: np.ndarray
    scores: np.ndarray

    def to_records(
        self, item_vocab: Vocabulary, user_vocab: Vocabulary | None = None
    ) -> list[dict[str, Any]]:
        out = []
        for row, u in enumerate(self.users):
            valid = self.items[row] >= 0
            out.append(
                {
                    "user": user_vocab.id(u).item() if user_vocab is not None and u >= 0 else int(u),
                    "items": item_vocab.id(self.items[row][valid]).tolist(),
                    "scores": self.scores[row][valid].astype(float).tolist(),
                }
            )
        return out


class Scorer(Protocol):
    """What ranking needs from a model (every `Recommender` qualifies; so does a plain score table)."""

    def score(self, users: np.ndarray, history: sp.csr_matrix | None = None) -> np.ndarray: ...


def mask_out(scores: np.ndarray, rows: sp.csr_matrix) -> None:
    """Set scores of the nonzero entries of `rows` (one row per score row) to -inf, in place."""
    rows = sp.csr_matrix(rows)
    if rows.nnz == 0:
        return
    r = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
    scores[r, rows.indices] = -np.inf


def masked_scores(
    model: Scorer,
    users: np.ndarray,
    history: sp.csr_matrix | None,
    *,
    n_items: int,
    sequences: Sequence[np.ndarray] | None = None,
    seen: sp.csr_matrix | None = None,
    exclude: sp.csr_matrix | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """float32 scores (len(users) x n_items) of `model` with the excluded items at -inf.

    history: what the model is given as each user's known items (None: its training history).
    sequences: ordered histories, passed on only when given (models with `uses_sequences` read them).
    seen: rows of items to remove (the history, when seen items are excluded); exclude: more of them.
    out: a buffer the scores are written into, for models that declare `scores_into` (the evaluator
    reuses one across batches).
    """
    users = np.asarray(users, dtype=np.int64).reshape(-1)
    if out is not None:  # models with scores_into, which are scored without sequences
        raw = model.score(users, history, out=out)  # type: ignore[call-arg]
    elif sequences is None:
        raw = model.score(users, history)
    else:
        raw = model.score(users, history, sequences=list(sequences))  # type: ignore[call-arg]
    scores = np.asarray(raw, dtype=np.float32)
    if scores.shape != (users.size, n_items):
        raise RuntimeError(
            f"{type(model).__name__}.score returned shape {scores.shape}, expected {(users.size, n_items)}"
        )
    nan = nan_rows(scores)
    if nan.size:
        raise ValueError(f"{type(model).__name__}.score returned NaN for users {users[nan][:5]}")
    if seen is not None:
        mask_out(scores, seen)
    if exclude is not None:
        mask_out(scores, exclude)
    return scores


def top_items(scores: np.ndarray, n: int) -> np.ndarray:
    """Item indices (rows x n, best first, -1 = empty slot) of `masked_scores`' output (checked for NaN
    there, so not again); n = 0 gives no columns."""
    if n == 0:
        return np.empty((scores.shape[0], 0), dtype=np.int64)
    return topk(scores, n, checked=True)[0]


def rank(
    model: Scorer,
    users: np.ndarray,
    history: sp.csr_matrix | None,
    n: int,
    *,
    n_items: int,
    sequences: Sequence[np.ndarray] | None = None,
    seen: sp.csr_matrix | None = None,
    exclude: sp.csr_matrix | None = None,
) -> Recommendations:
    """Top-`n` lists of `masked_scores` (arguments as there), best first; empty slots are -1 with score
    -inf."""
    users = np.asarray(users, dtype=np.int64).reshape(-1)
    scores = masked_scores(
        model, users, history, n_items=n_items, sequences=sequences, seen=seen, exclude=exclude
    )
    items, top = topk(scores, n, checked=True)
    return Recommendations(users=users, items=items, scores=top)
