"""Cascade: a candidate stage (several retrievers) plus a ranker strategy that orders the candidates.

Candidate generation is the union of each retriever's top-`n_candidates` list (history items skipped when
`exclude_history`); the ranker orders the candidates. Items outside the candidate set are ranked below
every candidate, in the first retriever's order, so that lists stay complete; at every cut-off
n <= n_candidates they can never reach the list, so a test item that retrieval lost counts as a miss.
`candidate_recall` reports the share of targets that survive retrieval, which is where a cascade loses
quality it can never win back.

The ranker is an object the cascade holds (`CandidateRanker`), not a subclass of it: here another lmrec
model (`ModelRanker`) or, without one, reciprocal-rank fusion of the retrievers' lists (`FusionRanker`);
the learned rankers of `ltr` and `neural_ranker` live in `lmrec.hybrid.ltr`. The registry entries
`ltr` and `neural_ranker` are cascades that only declare their config class and ranker strategy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import scipy.sparse as sp

from lmrec.data.interactions import Interactions
from lmrec.hybrid.components import HybridRecommender, component_specs
from lmrec.hybrid.normalize import reciprocal_rank
from lmrec.models.base import mask_out
from lmrec.models.fit_context import Validation
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


class CandidateRanker(Protocol):
    """How a cascade orders its candidates. The cascade calls it with itself, so the ranker can read the
    candidate stage (`candidates`, `component_scores`) without being a cascade."""

    def extra_specs(self) -> tuple[dict[str, Any], ...]:
        """Components the ranker scores with, fitted after the retrievers (none for learned rankers)."""
        ...

    def selected_params(self, specs: list[dict[str, Any]]) -> dict[str, Any]:
        """Config entries for the chosen extra components (`specs`: theirs, with selected params)."""
        ...

    def fit(
        self, cascade: Cascade, data: Interactions, rng: np.random.Generator, validation: Validation | None
    ) -> None: ...

    def refit(self, data: Interactions) -> None:
        """Update data statistics after the cascade's `refit` (not what validation chose)."""
        ...

    def rank(
        self,
        cascade: Cascade,
        users: np.ndarray,
        history: sp.csr_matrix,
        sequences: list[np.ndarray] | None,
        cand: np.ndarray,
        retrieved: list[np.ndarray],
        *,
        history_given: bool,
    ) -> np.ndarray:
        """users x items scores; only the entries where `cand` is True are read."""
        ...

    def item_text(self) -> np.ndarray | None:
        """L2-normalised item text vectors the ranker reads (None: it reads none)."""
        ...

    def state(self) -> dict[str, np.ndarray]: ...

    def set_state(self, arrays: dict[str, np.ndarray]) -> None: ...

    def save(self, path: Path) -> None: ...

    def load(self, path: Path) -> None: ...


class _Stateless:
    """Fit, refit and persistence of rankers that learn nothing."""

    def fit(
        self, cascade: Cascade, data: Interactions, rng: np.random.Generator, validation: Validation | None
    ) -> None:
        return None

    def refit(self, data: Interactions) -> None:
        return None

    def item_text(self) -> np.ndarray | None:
        return None

    def state(self) -> dict[str, np.ndarray]:
        return {}

    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        return None

    def save(self, path: Path) -> None:
        return None

    def load(self, path: Path) -> None:
        return None


class FusionRanker(_Stateless):
    """Reciprocal-rank fusion of the retrievers' lists."""

    def extra_specs(self) -> tuple[dict[str, Any], ...]:
        return ()

    def selected_params(self, specs: list[dict[str, Any]]) -> dict[str, Any]:
        return {}

    def rank(
        self,
        cascade: Cascade,
        users: np.ndarray,
        history: sp.csr_matrix,
        sequences: list[np.ndarray] | None,
        cand: np.ndarray,
        retrieved: list[np.ndarray],
        *,
        history_given: bool,
    ) -> np.ndarray:
        return sum((reciprocal_rank(s).astype(np.float64) for s in retrieved), np.zeros(cand.shape))


class ModelRanker(_Stateless):
    """Another lmrec model, fitted as the cascade's last component, scores the candidates."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    def extra_specs(self) -> tuple[dict[str, Any], ...]:
        return (self.spec,)

    def selected_params(self, specs: list[dict[str, Any]]) -> dict[str, Any]:
        return {"ranker": specs[-1]}

    def rank(
        self,
        cascade: Cascade,
        users: np.ndarray,
        history: sp.csr_matrix,
        sequences: list[np.ndarray] | None,
        cand: np.ndarray,
        retrieved: list[np.ndarray],
        *,
        history_given: bool,
    ) -> np.ndarray:
        last = len(cascade.components_) - 1
        return cascade.component_scores(last, users, history, sequences, history_given=history_given).astype(
            np.float64
        )


def cascade_ranker(config: Any) -> CandidateRanker:
    return ModelRanker(config.ranker) if config.ranker is not None else FusionRanker()


class Cascade(HybridRecommender):
    """Union of the retrievers' top lists, ordered by the ranker strategy (`ranker`).

    Unknown users: every retriever and the ranker score them from the given history, each as it scores
    unknown users.
    """

    name = "cascade"
    config_class = CascadeConfig
    config: CascadeConfig
    components_field: ClassVar[str] = "retrievers"
    make_ranker: ClassVar[Any] = staticmethod(cascade_ranker)
    """config -> `CandidateRanker`: the one thing a registered cascade variant declares besides its config."""
    validation_fit_users_: np.ndarray | None = None
    """Validation users whose targets a learned ranker trained on (their validation score is in-sample)."""

    @property
    def ranker(self) -> CandidateRanker:
        """The strategy that orders the candidates (built from the config on first use)."""
        ranker = self.__dict__.get("_ranker")
        if ranker is None:
            ranker = self.__dict__["_ranker"] = type(self).make_ranker(self.config)
        return ranker

    @property
    def text_(self) -> np.ndarray | None:
        """The item text vectors the ranker reads (what `explain` compares items by), or None."""
        return self.ranker.item_text()

    def _component_specs(self) -> tuple[dict[str, Any], ...]:
        return tuple(self.config.retrievers) + self.ranker.extra_specs()

    @property
    def _n_retrievers(self) -> int:
        return len(self.config.retrievers)

    def selected_params(self) -> dict[str, Any]:
        specs = super().selected_params()[self.components_field]
        n = self._n_retrievers
        return {"retrievers": specs[:n], **self.ranker.selected_params(specs[n:])}

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

    def _fit_combination(
        self, data: Interactions, rng: np.random.Generator, validation: Validation | None
    ) -> None:
        self.ranker.fit(self, data, rng, validation)

    def _refit_combination(self, data: Interactions) -> None:
        self.ranker.refit(data)

    def _combine(
        self,
        users: np.ndarray,
        history: sp.csr_matrix,
        sequences: list[np.ndarray] | None,
        *,
        history_given: bool,
    ) -> np.ndarray:
        cand, retrieved = self.candidates(users, history, sequences, history_given=history_given)
        ranked = self.ranker.rank(
            self, users, history, sequences, cand, retrieved, history_given=history_given
        )
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

    # --- persistence: the ranker's arrays beside the components' folders --------------------------
    def _state(self) -> dict[str, np.ndarray]:
        return self.ranker.state()

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.ranker.set_state(arrays)

    def _save_extra(self, path: Path) -> None:
        super()._save_extra(path)
        self.ranker.save(path)

    def _load_extra(self, path: Path) -> None:
        super()._load_extra(path)
        self.ranker.load(path)
