"""Re-rankers a platform might try against feedback loops, applied to a policy's candidate list.

Every re-ranker turns the policy's top-C candidates (items and scores, best first, -1 = empty) into an
n-item slate. What it knows about items comes from `ItemSpace` (logged data and catalog, recomputed at each
policy refit), never from the simulator's hidden truth. All are vectorised over the users of a batch.

- `mmr`: maximal marginal relevance, greedily argmax (1−λ)·rel − λ·max cos(item, already picked);
- `calibrated`: Steck (RecSys 2018): greedily argmax (1−λ)·Σ rel − λ·KL(p ‖ q̃), p the user's category
  distribution from their history, q̃ = (1−a)·q + a·p that of the slate so far (a = 0.01);
- `popularity`: rel − α·log(1 + popularity) (a log-popularity penalty);
- `epsilon`: each slot, with probability ε, gets a random catalog item the user has not consumed;
- `thompson`: rel + σ·N(0, 1) / sqrt(1 + popularity), Thompson-style optimism for little-seen items.

"rel" is the candidate score standardised within each user's candidate list (z-score), so λ, α and σ mean
the same for every policy.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from lmrec.errors import ConfigError
from lmrec.simulation.item_space import ItemSpace


def standardise(scores: np.ndarray) -> np.ndarray:
    """Per-row z-score of finite scores (-inf stays -inf); a constant row becomes 0."""
    finite = np.isfinite(scores)
    x = np.where(finite, scores, np.nan).astype(np.float64)
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(np.where(finite.any(axis=1, keepdims=True), x, 0.0), axis=1, keepdims=True)
        std = np.nanstd(np.where(finite.any(axis=1, keepdims=True), x, 0.0), axis=1, keepdims=True)
    z = (x - mean) / np.where(std > 0, std, 1.0)
    return np.where(finite, z, -np.inf)


def _top(items: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """The n best `items` of each row by `values` (stable: earlier candidates win ties)."""
    order = np.argsort(-values, axis=1, kind="stable")[:, :n]
    out = np.take_along_axis(items, order, axis=1)
    return np.where(np.take_along_axis(np.isfinite(values), order, axis=1), out, -1)


class Reranker(ABC):
    """Candidates → slate. `refit` reads the logged data's item space (at every policy refit)."""

    name: ClassVar[str]

    def refit(self, space: ItemSpace) -> None:
        self.space = space

    @abstractmethod
    def rerank(
        self,
        items: np.ndarray,
        scores: np.ndarray,
        n: int,
        *,
        history: sp.csr_matrix,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Slates (B x n) from candidates `items`/`scores` (B x C, best first); `history` holds each user's
        consumed items (B x n_items), which a slate must not repeat."""


@dataclass
class MMR(Reranker):
    name: ClassVar[str] = "mmr"
    lam: float = 0.5

    def rerank(
        self,
        items: np.ndarray,
        scores: np.ndarray,
        n: int,
        *,
        history: sp.csr_matrix,
        rng: np.random.Generator,
    ) -> np.ndarray:
        rel = standardise(scores)
        vec = self.space.vectors[np.where(items >= 0, items, 0)]  # B x C x d
        b, c = items.shape
        max_sim = np.full((b, c), -np.inf)
        out = np.full((b, n), -1, dtype=np.int64)
        free = np.isfinite(rel) & (items >= 0)
        for k in range(min(n, c)):
            penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
            value = np.where(free, (1 - self.lam) * rel - self.lam * penalty, -np.inf)
            pick = value.argmax(axis=1)
            ok = np.isfinite(value[np.arange(b), pick])
            out[ok, k] = items[ok, pick[ok]]
            free[np.arange(b), pick] = False
            sim = np.einsum("bcd,bd->bc", vec, vec[np.arange(b), pick])
            max_sim = np.where(ok[:, None], np.maximum(max_sim, sim), max_sim)
        return out


@dataclass
class Calibrated(Reranker):
    name: ClassVar[str] = "calibrated"
    lam: float = 0.5
    alpha: float = 0.01

    def rerank(
        self,
        items: np.ndarray,
        scores: np.ndarray,
        n: int,
        *,
        history: sp.csr_matrix,
        rng: np.random.Generator,
    ) -> np.ndarray:
        cats = self.space.categories
        p = np.asarray(history @ cats)  # B x G, user's category mass
        total = p.sum(axis=1, keepdims=True)
        p = np.where(total > 0, p / np.where(total > 0, total, 1.0), 1.0 / cats.shape[1])
        rel = standardise(scores)
        cand = cats[np.where(items >= 0, items, 0)]  # B x C x G
        b, c = items.shape
        q_mass = np.zeros_like(p)
        rel_sum = np.zeros(b)
        free = np.isfinite(rel) & (items >= 0)
        out = np.full((b, n), -1, dtype=np.int64)
        for k in range(min(n, c)):
            q = (q_mass[:, None, :] + cand) / (k + 1)
            q = (1 - self.alpha) * q + self.alpha * p[:, None, :]
            with np.errstate(divide="ignore", invalid="ignore"):
                kl = np.where(p[:, None, :] > 0, p[:, None, :] * np.log(p[:, None, :] / q), 0.0).sum(axis=2)
            value = np.where(free, (1 - self.lam) * (rel_sum[:, None] + rel) - self.lam * kl, -np.inf)
            pick = value.argmax(axis=1)
            ok = np.isfinite(value[np.arange(b), pick])
            out[ok, k] = items[ok, pick[ok]]
            free[np.arange(b), pick] = False
            q_mass[ok] += cand[np.arange(b), pick][ok]
            rel_sum[ok] += rel[np.arange(b), pick][ok]
        return out


@dataclass
class PopularityDebias(Reranker):
    name: ClassVar[str] = "popularity"
    alpha: float = 0.5

    def rerank(
        self,
        items: np.ndarray,
        scores: np.ndarray,
        n: int,
        *,
        history: sp.csr_matrix,
        rng: np.random.Generator,
    ) -> np.ndarray:
        pop = self.space.popularity[np.where(items >= 0, items, 0)]
        value = standardise(scores) - self.alpha * np.log1p(pop)
        return _top(items, np.where(items >= 0, value, -np.inf), n)


@dataclass
class EpsilonGreedy(Reranker):
    name: ClassVar[str] = "epsilon"
    epsilon: float = 0.1

    def rerank(
        self,
        items: np.ndarray,
        scores: np.ndarray,
        n: int,
        *,
        history: sp.csr_matrix,
        rng: np.random.Generator,
    ) -> np.ndarray:
        out = items[:, :n].copy()
        n_items = self.space.n_items
        swap = rng.random(out.shape) < self.epsilon
        for row, col in zip(*np.nonzero(swap), strict=True):
            seen = history.indices[history.indptr[row] : history.indptr[row + 1]]
            for _ in range(20):  # rejection: a catalog item neither consumed nor already in the slate
                cand = int(rng.integers(n_items))
                if cand not in out[row] and cand not in seen:
                    out[row, col] = cand
                    break
        return out


@dataclass
class Thompson(Reranker):
    name: ClassVar[str] = "thompson"
    sigma: float = 1.0

    def rerank(
        self,
        items: np.ndarray,
        scores: np.ndarray,
        n: int,
        *,
        history: sp.csr_matrix,
        rng: np.random.Generator,
    ) -> np.ndarray:
        pop = self.space.popularity[np.where(items >= 0, items, 0)]
        noise = rng.standard_normal(items.shape) * self.sigma / np.sqrt(1.0 + pop)
        value = standardise(scores) + noise
        return _top(items, np.where(items >= 0, value, -np.inf), n)


RERANKERS: dict[str, type[Reranker]] = {
    k.name: k for k in (MMR, Calibrated, PopularityDebias, EpsilonGreedy, Thompson)
}


def make_reranker(name: str, params: dict[str, Any] | None = None) -> Reranker:
    """The re-ranker registered under `name` with its parameters (unknown names/params: ConfigError)."""
    if name not in RERANKERS:
        raise ConfigError(f"unknown re-ranker {name!r}; known: {sorted(RERANKERS)}")
    klass = RERANKERS[name]
    try:
        return klass(**(params or {}))
    except TypeError as exc:
        fields = sorted(inspect.signature(klass).parameters)
        raise ConfigError(f"re-ranker {name}: bad params {params}; allowed: {fields}") from exc
