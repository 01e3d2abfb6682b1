"""Learned ranking stage: a model trained on candidate features re-ranks the retrievers' candidates; here
LightGBM LambdaRank (optimising NDCG), in `neural_ranker` a click model.

Stages and data, with no leakage by construction:
1. the retrievers are fitted on train (early-stopped ones watch validation targets);
2. candidates (union of the retrievers' top lists) are built for validation users from their training
   history, labelled 1 where the candidate is the user's validation target, and the ranker is trained
   on them; LightGBM's own early stopping uses a held-out share of those validation users;
3. for the test, `refit` refits the retrievers on train+valid and the ranker is applied unchanged.

Users whose validation target is not among their candidates carry no ranking signal and are left out of
the ranker's training (their share is the validation candidate miss rate, in `training_`).

Composition: `LearnedRanking` is the cascade's ranker strategy (candidate features, labels from the
validation targets, the holdout split); it holds a `RankingModel` (`LambdaRankModel` here,
`ClickRankingModel` in `neural_ranker`) that only fits and predicts on feature rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import scipy.sparse as sp

from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError
from lmrec.hybrid.cascade import Cascade
from lmrec.hybrid.components import component_specs, validation_users
from lmrec.hybrid.features import GROUPS, ItemStats, candidate_features, feature_names
from lmrec.models.fit_context import Validation

log = logging.getLogger("lmrec.train")

BATCH = 512
"""Users whose candidates and features are built at once."""


@dataclass(frozen=True)
class CandidateStageConfig:
    """What every learned ranking stage shares: candidate generation, features, and the validation users
    the ranker learns from."""

    retrievers: tuple[dict[str, Any], ...] = ()
    """Candidate generators, `{name, params, label}` mappings; their scores and ranks are features."""
    n_candidates: int = 100
    """Top items taken from each retriever (the candidate set is the union)."""
    features: tuple[str, ...] = ("scores", "ranks", "popularity", "age", "activity")
    """Feature groups: scores, ranks, popularity, age, text (needs item text), activity."""
    exclude_history: bool = True
    """Retrievers skip each user's history items (as the evaluation does under seen-item exclusion)."""
    recent: int = 5
    """The user's last items the `text` feature compares a candidate with."""
    holdout: float = 0.2
    """Share of the validation users held out for the ranker's early stopping."""
    scoring_holdout: float = 0.2
    """Share of the validation users the ranker neither trains on nor early-stops on: the experiment
    runner's validation score (the number that chooses between this model and the others) is computed on
    them (and on validation users outside `fit_users`), so it is not biased by early stopping's choice
    of the boosting round or epoch. 0: score on the early-stopping users, as before."""
    fit_users: int = 20000
    """Validation users the ranker trains on (a seeded sample; 0 = all)."""
    num_threads: int | None = None
    """Threads for the ranker and the torch retrievers (None: their own default)."""

    def __post_init__(self) -> None:
        specs = component_specs(self.retrievers, "retrievers")
        if not specs:
            raise ValueError("a learned ranker needs at least one retriever")
        object.__setattr__(self, "retrievers", specs)
        feats = tuple(self.features)
        unknown = sorted(set(feats) - set(GROUPS))
        if unknown or not feats:
            raise ValueError(
                f"features: unknown or empty group list {unknown or feats}; choose from {list(GROUPS)}"
            )
        object.__setattr__(self, "features", feats)
        if self.n_candidates < 1:
            raise ValueError(f"n_candidates must be >= 1, got {self.n_candidates}")
        if not 0 < self.holdout < 1:
            raise ValueError(f"holdout must be in (0, 1), got {self.holdout}")
        if not 0 <= self.scoring_holdout < 1 or self.holdout + self.scoring_holdout >= 1:
            raise ValueError(
                f"scoring_holdout must be in [0, 1) and holdout + scoring_holdout < 1, got "
                f"{self.scoring_holdout} with holdout {self.holdout}"
            )
        if self.fit_users < 0:
            raise ValueError(f"fit_users must be >= 0, got {self.fit_users}")


@dataclass(frozen=True)
class LTRConfig(CandidateStageConfig):
    """LambdaRank re-ranker hyper-parameters."""

    n_estimators: int = 500
    """Maximum boosting rounds (early stopping picks the number on held-out validation users)."""
    learning_rate: float = 0.05
    """LightGBM learning rate."""
    num_leaves: int = 31
    """LightGBM leaves per tree."""
    min_child_samples: int = 50
    """LightGBM minimum rows per leaf."""
    early_stopping_rounds: int = 30
    """Stop when NDCG@10 of the held-out validation users has not improved for this many rounds."""


class RankingModel(Protocol):
    """What a learned ranking stage trains on candidate rows and predicts with."""

    def text_needed(self) -> str | None:
        """What makes the model read item text beyond the `text` feature group (None: nothing)."""
        ...

    def row_grades(
        self, validation: Validation, row_users: np.ndarray, row_items: np.ndarray
    ) -> np.ndarray | None:
        """A second, graded target per candidate row for models with an auxiliary task (else None)."""
        ...

    def fit(self, rows: CandidateRows, rng: np.random.Generator, text: np.ndarray | None) -> dict[str, Any]:
        """Fit on the groups `rows.train`, early-stopping on the held-out groups `rows.held`."""
        ...

    def predict(
        self, X: np.ndarray, row_users: np.ndarray, row_items: np.ndarray, text: np.ndarray | None
    ) -> np.ndarray:
        """Ranking scores of candidate rows (features X; user and item index of each row)."""
        ...

    def state(self) -> dict[str, np.ndarray]: ...

    def set_state(self, arrays: dict[str, np.ndarray]) -> None: ...

    def save(self, path: Path) -> None: ...

    def load(self, path: Path) -> None: ...


@dataclass(frozen=True)
class CandidateRows:
    """The labelled candidate rows of the validation users, grouped by user (one group = one user)."""

    X: np.ndarray
    y: np.ndarray
    sizes: np.ndarray
    """Rows per group."""
    train: np.ndarray
    """Groups the ranker trains on."""
    held: np.ndarray
    """Groups held out for early stopping."""
    row_users: np.ndarray
    row_items: np.ndarray
    grades: np.ndarray | None
    feature_names: list[str]

    def rows_of(self, groups: np.ndarray) -> np.ndarray:
        ends = np.cumsum(self.sizes)
        starts = ends - self.sizes
        return np.concatenate([np.arange(starts[g], ends[g]) for g in groups])


class LearnedRanking:
    """A cascade's ranker strategy: a `RankingModel` over candidate features, trained on the candidates of
    validation users labelled by their validation targets."""

    def __init__(self, name: str, config: CandidateStageConfig, model: RankingModel) -> None:
        self.name = name
        self.config = config
        self.model = model
        self.text_: np.ndarray | None = None

    def extra_specs(self) -> tuple[dict[str, Any], ...]:
        return ()

    def selected_params(self, specs: list[dict[str, Any]]) -> dict[str, Any]:
        return {}

    def fit(
        self, cascade: Cascade, data: Interactions, rng: np.random.Generator, validation: Validation | None
    ) -> None:
        if validation is None:
            raise ConfigError(
                f"{self.name}: the ranker is trained on the validation targets; fit with validation=..."
            )
        features = getattr(cascade, "_item_features", None)
        why = self.model.text_needed() or (
            "the 'text' feature group" if "text" in self.config.features else None
        )
        if why is not None:
            if features is None:
                raise ConfigError(
                    f"{self.name}: {why} needs item text: give the model an `item_text` (experiment file) "
                    "or item_features= (Python), or drop it"
                )
            v = features.vectors.astype(np.float32)
            self.text_ = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        self.stats_ = ItemStats.of(data)
        targets = validation.targets.csr()
        history = validation.history.csr()
        users = validation_users(validation, self.config.fit_users, rng)
        seqs = validation.history.sequences()
        parts = [
            self._labelled(
                cascade, users[lo : lo + BATCH], history, targets, [seqs[u] for u in users[lo : lo + BATCH]]
            )
            for lo in range(0, users.size, BATCH)
        ]
        X, y, sizes, row_users, row_items = (np.concatenate([p[k] for p in parts]) for k in range(5))
        ends = np.cumsum(sizes)
        starts = ends - sizes
        positive = np.array([y[s:e].any() for s, e in zip(starts, ends, strict=True)], dtype=bool)
        keep = np.flatnonzero(positive & (sizes > 0))
        if keep.size < 10:
            raise ValueError(
                f"{self.name}: only {keep.size} validation users have their target among the candidates; "
                "raise n_candidates or use stronger retrievers"
            )
        # a random share of all validation users is held out (not of those with the target among their
        # candidates), so that the held-out users are an unbiased sample for the runner's validation score
        held_user = np.zeros(users.size, dtype=bool)
        held_user[rng.permutation(users.size)[: max(1, round(self.config.holdout * users.size))]] = True
        # a further share neither trains nor early-stops the ranker: the runner's validation score is
        # taken on them, so the number that selects this model is not the one early stopping maximised
        # (on MovieLens-100K the early-stopping users scored 0.137-0.149 against 0.071-0.081 on test)
        scoring_user = np.zeros(users.size, dtype=bool)
        if self.config.scoring_holdout > 0:
            rest = np.flatnonzero(~held_user)
            n_scoring = max(1, round(self.config.scoring_holdout * users.size))
            scoring_user[rng.permutation(rest)[:n_scoring]] = True
        held = held_user[keep]
        trained = ~held & ~scoring_user[keep]
        if not trained.any() or not held.any():
            raise ValueError(
                f"{self.name}: the holdouts ({self.config.holdout:.0%} for early stopping, "
                f"{self.config.scoring_holdout:.0%} for scoring) of {users.size} validation users leave no "
                "users with the target among their candidates to train or to early-stop on; use more "
                "validation users"
            )
        # the ranker learned from these users' validation targets, or chose its stopping point on them: a
        # validation score on them is in-sample
        cascade.validation_fit_users_ = (
            users[~scoring_user] if self.config.scoring_holdout > 0 else users[~held_user]
        )
        rows = CandidateRows(
            X, y, sizes, keep[trained], keep[held], row_users, row_items,
            self.model.row_grades(validation, row_users, row_items),
            feature_names(self.config.features, len(self.config.retrievers)),
        )  # fmt: skip
        info = self.model.fit(rows, rng, self.text_)
        cascade.training_["ranker"] = {
            **info,
            "users_with_target_in_candidates": int(keep.size),
            "users": int(users.size),
            "valid_candidate_recall": float(keep.size / max(users.size, 1)),
        }
        log.info(
            "%s: ranker trained (%s); %d of %d validation users have the target as a candidate",
            self.name,
            ", ".join(f"{k} {v}" for k, v in info.items() if not isinstance(v, dict)),
            keep.size,
            users.size,
        )

    def _labelled(
        self,
        cascade: Cascade,
        users: np.ndarray,
        history: sp.csr_matrix,
        targets: sp.csr_matrix,
        seqs: list[np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        hist = sp.csr_matrix(history[users])
        cand, retrieved = cascade.candidates(users, hist, seqs)
        rows, items, X = candidate_features(
            self.config.features, cand, retrieved, hist, seqs, self.stats_, self.text_, self.config.recent
        )
        t = sp.csr_matrix(targets[users])
        y = np.asarray(t[rows, items]).ravel() > 0
        sizes = np.bincount(rows, minlength=users.size)
        return X, y.astype(np.int32), sizes, users[rows], items

    def refit(self, data: Interactions) -> None:
        self.stats_ = ItemStats.of(data)  # statistics of the data the refitted retrievers saw

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
        rows, items, X = candidate_features(
            self.config.features, cand, retrieved, history, sequences, self.stats_, self.text_,
            self.config.recent,
        )  # fmt: skip
        ranked = np.zeros(cand.shape, dtype=np.float64)
        if rows.size:
            ranked[rows, items] = self.model.predict(X, users[rows], items, self.text_)
        return ranked

    def item_text(self) -> np.ndarray | None:
        return self.text_

    # --- persistence (array names as saved before the ranker became a strategy object) --------------
    def state(self) -> dict[str, np.ndarray]:
        state = {**self.model.state(), **{f"stats_{k}": v for k, v in self.stats_.arrays().items()}}
        if self.text_ is not None:
            state["text"] = self.text_
        return state

    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.model.set_state(arrays)
        self.stats_ = ItemStats(**{k[6:]: v for k, v in arrays.items() if k.startswith("stats_")})
        self.text_ = arrays.get("text")

    def save(self, path: Path) -> None:
        self.model.save(path)

    def load(self, path: Path) -> None:
        self.model.load(path)


class LambdaRankModel:
    """LightGBM LambdaRank over the candidate features."""

    def __init__(self, config: LTRConfig) -> None:
        self.config = config

    def text_needed(self) -> str | None:
        return None

    def row_grades(
        self, validation: Validation, row_users: np.ndarray, row_items: np.ndarray
    ) -> np.ndarray | None:
        return None  # LambdaRank learns from the binary labels alone

    def fit(self, rows: CandidateRows, rng: np.random.Generator, text: np.ndarray | None) -> dict[str, Any]:
        import lightgbm

        c = self.config
        ranker = lightgbm.LGBMRanker(
            objective="lambdarank",
            n_estimators=c.n_estimators,
            learning_rate=c.learning_rate,
            num_leaves=c.num_leaves,
            min_child_samples=c.min_child_samples,
            random_state=int(rng.integers(2**31 - 1)),
            n_jobs=c.num_threads or 0,
            deterministic=True,
            force_row_wise=True,
            verbosity=-1,
        )
        tr, ho = rows.rows_of(rows.train), rows.rows_of(rows.held)
        ranker.fit(
            rows.X[tr],
            rows.y[tr],
            group=rows.sizes[rows.train],
            eval_set=[(rows.X[ho], rows.y[ho])],
            eval_group=[rows.sizes[rows.held]],
            eval_at=[10],
            feature_name=rows.feature_names,
            callbacks=[lightgbm.early_stopping(c.early_stopping_rounds, verbose=False)],
        )
        self.booster_ = ranker.booster_
        best = int(ranker.best_iteration_ or c.n_estimators)
        self.best_iteration_ = best
        gain = self.booster_.feature_importance(importance_type="gain", iteration=best)
        return {
            "best_iteration": best,
            "holdout_ndcg@10": round(float(ranker.best_score_["valid_0"]["ndcg@10"]), 6),
            "feature_gain": {n: round(float(g), 3) for n, g in zip(rows.feature_names, gain, strict=True)},
        }

    def predict(
        self, X: np.ndarray, row_users: np.ndarray, row_items: np.ndarray, text: np.ndarray | None
    ) -> np.ndarray:
        return np.asarray(
            self.booster_.predict(
                X, num_iteration=self.best_iteration_, num_threads=self.config.num_threads or 0
            )
        )

    def state(self) -> dict[str, np.ndarray]:
        model = self.booster_.model_to_string(num_iteration=self.best_iteration_)
        return {
            "booster": np.frombuffer(model.encode(), dtype=np.uint8),
            "best_iteration": np.array([self.best_iteration_]),
        }

    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        import lightgbm

        self.booster_ = lightgbm.Booster(model_str=arrays["booster"].tobytes().decode())
        self.best_iteration_ = int(arrays["best_iteration"][0])

    def save(self, path: Path) -> None:
        return None

    def load(self, path: Path) -> None:
        return None


def lambdarank_ranking(config: LTRConfig) -> LearnedRanking:
    return LearnedRanking("ltr", config, LambdaRankModel(config))


class LearnedRanker(Cascade):
    """Registry entry "ltr": a cascade whose ranker strategy is LambdaRank over candidate features
    (`LearnedRanking` + `LambdaRankModel`); it declares its config and ranker and adds no behaviour.

    Unknown users: the retrievers score them from the given history; the features use that history too.
    """

    name = "ltr"
    config_class = LTRConfig  # type: ignore[assignment]
    config: LTRConfig  # type: ignore[assignment]
    make_ranker: ClassVar[Any] = staticmethod(lambdarank_ranking)
