"""Cascade: retrieve candidates with several models, then re-rank only the candidates.

Candidate generation is the union of each retriever's top-`n_candidates` list (history items skipped when
`exclude_history`); the ranker (any lmrec model) orders the candidates. Items outside the candidate set
are ranked below every candidate, in the first retriever's order, so that lists stay complete; at every
cut-off n <= n_candidates they can never reach the list, so a test item that retrieval lost counts as a
miss. `candidate_recall` reports the share of targets that survive retrieval, which is where a cascade
loses quality it can never win back.

Without a ranker the candidates are ordered by reciprocal-rank fusion of the retrievers' lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from lmrec.hybrid.components import HybridRecommender, component_specs
from lmrec.hybrid.normalize import reciprocal_rank
from lmrec.models.base import mask_out
from lmrec.models.topk import topk


def place_below(cand: np.ndarray, ranked: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Full score rows: candidates keep their `ranked` score, every other item goes below the lowest
    candidate, ordered by `fallback` (history items, -inf there, last)."""
    cand_scores = np.where(cand, ranked, np.inf)
    floor = cand_scores.min(axis=1, keepdims=True)
    floor[~np.isfinite(floor)] = 0.0
    order = np.argsort(np.argsort(-fallback, axis=1, kind="stable"), axis=1) / max(cand.shape[1], 1)
    return np.where(cand, ranked, floor - 1.0 - order).astype(np.float32)


@dataclass(frozen=True)
class CascadeConfig:
    """Cascade hyper-parameters."""

    retrievers: tuple[dict[str, Any], ...] = ()
    """Candidate generators: `{name, params, label}` mappings (one or more)."""
    ranker: dict[str, Any] | None = None
    """The model that orders the candidates; None: reciprocal-rank fusion of the retrievers."""
    n_candidates: int = 100
    """Top items taken from each retriever (the candidate set is the union)."""
    exclude_history: bool = True
    """Retrievers skip each user's history items (as the evaluation does under seen-item exclusion)."""
    num_threads: int | None = None
    """Threads for the torch components (None: their own setting)."""

    def __post_init__(self) -> None:
        specs = component_specs(self.retrievers, "retrievers")
        if not specs:
            raise ValueError("a cascade needs at least one retriever")
        object.__setattr__(self, "retrievers", specs)
        if self.ranker is not None:
            (ranker,) = component_specs([self.ranker], "ranker")
            object.__setattr__(self, "ranker", ranker)
        if self.n_candidates < 1:
            raise ValueError(f"n_candidates must be >= 1, got {self.n_candidates}")


class Cascade(HybridRecommender):
    """Union of the retrievers' top lists, re-ranked by the ranker.

    Unknown users: every retriever and the ranker score them from the given history, each as it scores
    unknown users.
    """

    name = "cascade"
    config_class = CascadeConfig
    config: CascadeConfig
    components_field: ClassVar[str] = "retrievers"

    def _component_specs(self) -> tuple[dict[str, Any], ...]:
        ranker = (self.config.ranker,) if self.config.ranker is not None else ()
        return tuple(self.config.retrievers) + ranker

    @property
    def _n_retrievers(self) -> int:
        return len(self.config.retrievers)

    def selected_params(self) -> dict[str, Any]:
        specs = super().selected_params()[self.components_field]
        out: dict[str, Any] = {"retrievers": specs[: self._n_retrievers]}
        if self.config.ranker is not None:
            out["ranker"] = specs[-1]
        return out

    def candidates(
        self,
        users: np.ndarray,
        history: sp.csr_matrix,
        sequences: list[np.ndarray] | None,
        *,
        history_given: bool = True,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Boolean users x items candidate mask, and each retriever's scores (used for the fallback order)."""
        mask = np.zeros((users.shape[0], self.n_items), dtype=bool)
        scores = []
        n = min(self.config.n_candidates, self.n_items)
        for i in range(self._n_retrievers):
            s = self.component_scores(i, users, history, sequences, history_given=history_given)
            ranked = s.copy()
            if self.config.exclude_history:
                mask_out(ranked, history)
            items, top = topk(ranked, n)
            rows, cols = np.nonzero((items >= 0) & np.isfinite(top))
            mask[rows, items[rows, cols]] = True
            scores.append(ranked)
        return mask, scores

    def _combine(
        self,
        users: np.ndarray,
        history: sp.csr_matrix,
        sequences: list[np.ndarray] | None,
        *,
        history_given: bool,
    ) -> np.ndarray:
        cand, retrieved = self.candidates(users, history, sequences, history_given=history_given)
        if self.config.ranker is not None:
            ranked = self.component_scores(
                len(self.components_) - 1, users, history, sequences, history_given=history_given
            ).astype(np.float64)
        else:
            ranked = sum((reciprocal_rank(s).astype(np.float64) for s in retrieved), np.zeros(cand.shape))
        return place_below(cand, ranked, retrieved[0])

    def candidate_recall(
        self,
        targets: sp.csr_matrix,
        history: sp.csr_matrix,
        users: np.ndarray,
        sequences: list[np.ndarray] | None = None,
        *,
        batch_size: int = 1024,
    ) -> dict[str, float]:
        """Share of (user, target) pairs whose target is in the user's candidate set, and the mean
        candidate-set size. targets/history: users x items (row = user index), sequences per row."""
        self.check_is_fitted()
        users = np.asarray(users, dtype=np.int64)
        found = total = size = 0
        for lo in range(0, users.size, batch_size):
            part = users[lo : lo + batch_size]
            seqs = [sequences[u] for u in part] if sequences is not None else None
            mask, _ = self.candidates(part, sp.csr_matrix(history[part]), seqs)
            t = sp.csr_matrix(targets[part])
            rows = np.repeat(np.arange(part.size), np.diff(t.indptr))
            found += int(mask[rows, t.indices].sum())
            total += int(t.nnz)
            size += int(mask.sum())
        return {
            "CandidateRecall": found / max(total, 1),
            "CandidateSetSize": size / max(users.size, 1),
        }
