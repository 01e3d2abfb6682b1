"""Weighted blend: a weighted sum of the components' normalised scores, weights given or fitted on validation.

Fitting searches a grid over the weight simplex (step `weight_step`, every corner included, so the blend
may come out as its best single component) and keeps the weights with the best validation metric, computed
by the same full-ranking evaluator as every other number in lmrec. Only validation targets are used;
the chosen weights become part of the selected configuration, so a refit on train+valid reuses them.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError
from lmrec.hybrid.components import HybridRecommender, component_specs, unseen_mask, validation_users
from lmrec.hybrid.normalize import NORMALIZERS, get_normalizer
from lmrec.models.fit_context import Validation

log = logging.getLogger("lmrec.train")

SCORE_BATCH = 1024
"""Users scored at once while the component scores for weight fitting are collected."""


@dataclass(frozen=True)
class WeightedConfig:
    """Weighted-blend hyper-parameters."""

    components: tuple[dict[str, Any], ...] = ()
    """The models to blend: `{name, params, label}` mappings, as in an experiment file (two or more)."""
    weights: tuple[float, ...] | None = None
    """One non-negative weight per component; None: fit them on the validation split."""
    normalize: str = "zscore"
    """Per-user score normalisation before summing: none, minmax, zscore, rank, rrf."""
    weight_step: float = 0.1
    """Grid step on the weight simplex when fitting (0.1: 11 candidates for 2 components, 66 for 3)."""
    fit_users: int = 5000
    """Validation users the weights are fitted on (a seeded sample; 0 = all)."""
    rank_history: bool = False
    """False: each user's history items are left out of the normalisation statistics (they are removed
    from the ranking under seen-item exclusion); True for "all items" evaluation."""
    num_threads: int | None = None
    """Threads for the torch components (None: their own setting)."""

    def __post_init__(self) -> None:
        specs = component_specs(self.components, "components")
        if len(specs) < 2:
            raise ValueError(f"a weighted blend needs at least two components, got {len(specs)}")
        object.__setattr__(self, "components", specs)
        if self.normalize not in NORMALIZERS:
            raise ValueError(f"normalize must be one of {sorted(NORMALIZERS)}, not {self.normalize!r}")
        if self.weights is not None:
            weights = tuple(float(w) for w in self.weights)
            if len(weights) != len(specs):
                raise ValueError(f"weights has {len(weights)} entries for {len(specs)} components")
            if min(weights) < 0 or sum(weights) <= 0:
                raise ValueError(f"weights must be non-negative with a positive sum, got {list(weights)}")
            object.__setattr__(self, "weights", weights)
        steps = 1.0 / self.weight_step if self.weight_step > 0 else 0.0
        if not (0 < self.weight_step <= 1) or abs(steps - round(steps)) > 1e-9:
            raise ValueError(f"weight_step must divide 1 (e.g. 0.1, 0.05, 0.25), got {self.weight_step}")
        if self.fit_users < 0:
            raise ValueError(f"fit_users must be >= 0, got {self.fit_users}")


def simplex_grid(k: int, step: float) -> np.ndarray:
    """Every weight vector of k non-negative multiples of `step` summing to 1, in a fixed order."""
    m = round(1.0 / step)
    rows = [c for c in itertools.product(range(m + 1), repeat=k) if sum(c) == m]
    return np.array(rows, dtype=np.float64) / m


class WeightedHybrid(HybridRecommender):
    """Weighted sum of normalised component scores.

    Unknown users: each component scores them its own way from the given history (see each model);
    the blend adds those scores like any other.
    """

    name = "weighted"
    config_class = WeightedConfig
    config: WeightedConfig

    def _component_specs(self) -> tuple[dict[str, Any], ...]:
        return tuple(self.config.components)

    def _fit_combination(
        self, data: Interactions, rng: np.random.Generator, validation: Validation | None
    ) -> None:
        if self.config.weights is not None:
            self.weights_ = np.asarray(self.config.weights, dtype=np.float64)
        elif validation is None:
            raise ConfigError(
                "weighted blend: weights: null means 'fit them on validation'; fit with validation=... "
                "(the experiment runner does) or give the weights"
            )
        else:
            self.weights_ = self._search_weights(rng, validation)
        self.weights_ = self.weights_ / self.weights_.sum()
        self.training_["weights"] = [round(float(w), 6) for w in self.weights_]

    def selected_params(self) -> dict[str, Any]:
        return {**super().selected_params(), "weights": [float(w) for w in self.weights_]}

    def _search_weights(self, rng: np.random.Generator, validation: Validation) -> np.ndarray:
        from lmrec.eval import evaluate_ranking

        targets = validation.targets.csr()
        history = validation.history.csr()
        users = validation_users(validation, self.config.fit_users, rng)
        seqs_all = validation.history.sequences()
        blocks = [np.empty((users.size, targets.shape[1]), dtype=np.float32) for _ in self.components_]
        for lo in range(0, users.size, SCORE_BATCH):
            part = users[lo : lo + SCORE_BATCH]
            seqs = [seqs_all[u] for u in part]
            for i, block in enumerate(blocks):
                block[lo : lo + part.size] = self._normalized(i, part, history[part], seqs, True)
        lookup = np.full(targets.shape[0], -1, dtype=np.int64)
        lookup[users] = np.arange(users.size)

        class _Blend:
            n_items = targets.shape[1]

            def __init__(self, w: np.ndarray) -> None:
                self.w = w

            def score(self, batch: np.ndarray, hist: sp.csr_matrix | None = None) -> np.ndarray:
                rows = lookup[batch]
                out = np.zeros((rows.size, self.n_items), dtype=np.float32)
                for wk, block in zip(self.w, blocks, strict=True):
                    if wk > 0:
                        out += np.float32(wk) * block[rows]
                return out

        grid = simplex_grid(len(blocks), self.config.weight_step)
        table = []
        best_w, best_v = grid[0], -np.inf
        for w in grid:
            res = evaluate_ranking(
                _Blend(w),
                targets,
                history,
                ns=(),
                metrics=[validation.metric],
                users=users,
                exclude_history=validation.exclude_seen,
            )
            value = float(res.summary()[validation.metric])
            table.append({"weights": [round(float(x), 6) for x in w], validation.metric: value})
            if value > best_v:
                best_w, best_v = w, value
        log.info(
            "weighted blend: weights %s valid %s %.4f", best_w.round(3).tolist(), validation.metric, best_v
        )
        self.training_["weight_search"] = {
            "metric": validation.metric,
            "users": int(users.size),
            "normalize": self.config.normalize,
            "grid": table,
            "best_valid": best_v,
        }
        return best_w

    def _normalized(
        self,
        index: int,
        users: np.ndarray,
        history: sp.csr_matrix,
        sequences: list[np.ndarray] | None,
        history_given: bool,
    ) -> np.ndarray:
        raw = self.component_scores(index, users, history, sequences, history_given=history_given)
        return get_normalizer(self.config.normalize)(raw, unseen_mask(history, self.config.rank_history))

    def _combine(
        self,
        users: np.ndarray,
        history: sp.csr_matrix,
        sequences: list[np.ndarray] | None,
        *,
        history_given: bool,
    ) -> np.ndarray:
        out = np.zeros((users.shape[0], self.n_items), dtype=np.float32)
        for i, w in enumerate(self.weights_):
            if w > 0:
                out += np.float32(w) * self._normalized(i, users, history, sequences, history_given)
        return out

    def _state(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.weights_ = arrays["weights"]
