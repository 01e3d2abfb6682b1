"""Which ordered history a model that reads histories in time order (`uses_sequences`) scores a user
from, when `score` is given sequences, a history matrix, or nothing (the content model, EASE with
recency weights, the sequence models), and how they keep the log."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from lmrec.data.interactions import Interactions
from lmrec.models.base import Recommender


class KeepsTrainingLog(Recommender):
    """Base of the models that keep their training log in time order (`training_sequences`) to score a
    known user from their ordered history: `_store_log` at fit time; `keep_history` replaces it too."""

    seq_indptr_: np.ndarray
    seq_items_: np.ndarray

    def _store_log(self, data: Interactions) -> None:
        self.seq_indptr_ = data.indptr()
        self.seq_items_ = data.items.astype(np.int64)

    def training_sequences(self) -> tuple[np.ndarray, np.ndarray]:
        self.check_is_fitted()
        return self.seq_indptr_, self.seq_items_

    def _keep_sequences(self, data: Interactions) -> None:
        self._store_log(data)


def ordered_history(
    row: int,
    user: int,
    history: sp.csr_matrix,
    sequences: list[np.ndarray] | None,
    history_given: bool,
    trained: tuple[np.ndarray, np.ndarray],
    n_items: int,
) -> tuple[bool, np.ndarray]:
    """(is the history ordered, item indices oldest first) of batch row `row`, user `user` (-1: unknown).

    A given sequence is used as it is; without one, a known user's training sequence (`trained`:
    indptr, items) when no history matrix was given. A given matrix row is a set (item-index order,
    unordered), except that a known user's row equal to their training items is read in training order,
    so passing the training matrix explicitly ranks exactly like passing nothing.
    """
    if sequences is not None:
        seq = np.asarray(sequences[row], dtype=np.int64).reshape(-1)
        if seq.size and (seq.min() < 0 or seq.max() >= n_items):
            raise ValueError(f"sequence {row} holds item indices outside 0..{n_items - 1}")
        return True, seq
    indptr, items = trained
    seq = items[indptr[user] : indptr[user + 1]].astype(np.int64) if user >= 0 else np.zeros(0, np.int64)
    if not history_given:
        return True, seq
    given = np.sort(history.indices[history.indptr[row] : history.indptr[row + 1]]).astype(np.int64)
    if user >= 0 and np.array_equal(given, np.unique(seq)):
        return True, seq
    return False, given
