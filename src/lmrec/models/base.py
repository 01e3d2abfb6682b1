"""The Recommender contract every lmrec model implements, with one shared recommend/save/load.

A model learns from an `Interactions` log in `fit` and then `score`s users against the whole catalog.
Everything else (exclusion of seen items, top-k, raw-id lookups, persistence) lives here once.

Unknown users: `score` takes user indices where -1 means "not in the training data"; each model's
docstring says what it does for them (history-based models use the given history; factor models fold the
user in from the history; popularity ignores the user). Unknown raw ids in `recommend_ids` raise
`UnknownIdError` unless a history is supplied.

Three optional capabilities, each declared by a class attribute and refused with a clear error when a
model lacks it:
- `uses_sequences`: the model reads each user's history as an ordered sequence. `score`/`recommend` then
  take `sequences` (one int array of item indices per user, oldest first); without it the model uses its
  training sequence for known users and reads a given history matrix in item-index order.
- `uses_item_features`: `fit(..., item_features=ItemFeatures)` gives dense item content vectors.
- `supports_validation`: `fit(..., validation=Validation)` lets the model watch held-out *validation*
  targets while training (early stopping, best checkpoint). The test split never goes here.
- `adds_items_from_text`: `add_items(raw_ids, vectors)` appends items nobody has interacted with to a
  fitted model, each given by its text vector (made as `item_text_recipe()` says), and scores them from
  that text at once, without retraining (`textseq`).
- `folds_in_users`: a user passed as unknown (-1) with a history gets their state (a factor vector)
  re-derived from that history (ALS, BPR). The service scores users with new events that way, so the
  events move their vector; `folds_in()` answers for an instance (a hybrid: when a component can).
- `has_similar_items`: `similar_items(items, n)` gives item-to-item neighbours (content).
- `reports_epochs`: the model trains in epochs and reports each validation score to
  `FitContext.epoch_report`, which may stop it (a search's pruner).
- `uses_torch`: the model runs torch and takes its thread count as `num_threads`, so the experiment's
  `threads` reaches it (sequence models, CFGAN, hybrids).
- `predicts_ratings`: the model learns explicit ratings and `predict(users, items)` returns a rating per
  (user, item) index pair (-1 = unknown), which `task: rating` experiments score (BiasedMF, BayesFM).
- `uses_attributes`: `fit(..., attributes=SideAttributes)` gives sparse user and item attributes
  (demographics, genres; `lmrec.data.attributes`), which the model folds into its saved state (BayesFM).

Facts the callers need about a fitted model are methods, not attributes to look for:
`training_sequences()` gives the training log in time order when the model keeps it (sequence models,
content), else None. Context of a fit that is not a hyper-parameter (a checkpoint folder, fitted models
to share) comes in `fit(..., context=FitContext(...))`.
"""

from __future__ import annotations

import copy
import dataclasses
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from lmrec.data.attributes import SideAttributes
from lmrec.data.features import ItemFeatures
from lmrec.data.interactions import Interactions, sequences_to_csr
from lmrec.errors import CapabilityError, ConfigError, NotFittedError
from lmrec.models.fit_context import FitContext, Validation, check_fit_inputs
from lmrec.models.params import build_config, check_params
from lmrec.models.ranking import Recommendations, rank
from lmrec.models.ranking import mask_out as mask_out  # re-exported: callers import it from here

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def as_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """The one way lmrec turns a seed into a generator (no global RNG anywhere)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


class Recommender(ABC):
    """Base class: stores a frozen config; learned state (trailing underscore) is set only by `fit`."""

    name: ClassVar[str]
    """Registry name used in experiment files and saved artifacts."""
    config_class: ClassVar[type[DataclassInstance]]
    """The frozen dataclass holding this model's hyper-parameters."""
    config: DataclassInstance
    """This model's hyper-parameters, an instance of `config_class` (subclasses narrow the type)."""
    uses_sequences: ClassVar[bool] = False
    """True for models that read histories in time order (`sequences` argument of `score`)."""
    uses_item_features: ClassVar[bool] = False
    """True for models that take `item_features` (dense item content vectors) in `fit`."""
    requires_item_features: ClassVar[bool] = False
    """True when `fit` cannot work without `item_features`."""
    supports_validation: ClassVar[bool] = False
    """True for models that accept `validation` in `fit` (early stopping / best checkpoint)."""
    adds_items_from_text: ClassVar[bool] = False
    """True for models whose `add_items` takes new items (text vectors) after fit, without retraining."""
    folds_in_users: ClassVar[bool] = False
    """True for models that re-derive a user's state from the history given to `score` when the user is
    passed as unknown (-1) (factor models: ALS, BPR). The others read a given history either way."""
    has_similar_items: ClassVar[bool] = False
    """True for models with item-to-item neighbours (`similar_items`)."""
    warm_starts: ClassVar[bool] = False
    """True for models whose `fit` can start from another fitted model's weights (`FitContext.warm_start`)
    and that train for an `epochs` parameter."""
    uses_torch: ClassVar[bool] = False
    """True for models that train or score with torch and take its thread count as `num_threads` (the
    sequence models, CFGAN, the hybrids for their torch components): `lmrec run --threads N` sets it."""
    sparse_scores: ClassVar[bool] = False
    """True for models whose scores are >= 0 with few positive per user, given by `score_sparse` (every
    other item scores 0): the evaluator and `recommend` rank them without the catalog-wide score row
    (`lmrec.models.sparse_ranking`, same lists)."""
    scores_into: ClassVar[bool] = False
    """True for models whose `score` can write into a caller's float32 buffer (`out=`, via `_score_into`):
    the evaluator then reuses one buffer for every batch instead of a fresh catalog-wide block each (a
    1,024-user batch over 100k items is 400 MB of new pages to fault in, then to give back)."""
    user_independent_scores: ClassVar[bool] = False
    """True for models that give every user the same scores (`item_scores()`): ranked from one global
    order minus each user's exclusions (`lmrec.models.sparse_ranking`, same lists)."""
    reports_epochs: ClassVar[bool] = False
    """True for models whose fit with `validation` calls `FitContext.epoch_report` after every validation
    evaluation and stops when it answers True (the sequence models): a search can prune their trials."""
    predicts_ratings: ClassVar[bool] = False
    """True for explicit-rating models: `predict(users, items)` gives one rating per (user, item) index pair,
    -1 meaning unknown (BiasedMF, BayesFM). `task: rating` experiments accept only these."""
    uses_attributes: ClassVar[bool] = False
    """True for models that take user and item attributes (`attributes` in `fit`) and keep what they learn
    from them in their saved arrays, so a saved model predicts without the attribute tables (BayesFM)."""
    scoring_params: ClassVar[frozenset[str]] = frozenset()
    """Config fields that change how a fitted model scores but not what `fit` learns (ease_recency's
    `recency`): a search in this process fits once for candidates that differ only in them (`rescored`)."""
    parallel_trials: ClassVar[bool] = True
    """True when search candidates can be fitted as independent tasks elsewhere (a Ray cluster): the fit
    needs nothing from the run but its data. Hybrids take their components from the run, so they do not."""

    def __init__(self, config: Any = None, **params: Any) -> None:
        who = type(self).__name__
        if config is None:
            config = build_config(self.config_class, params, who)
        elif params:
            check_params(self.config_class, params, who)
            config = dataclasses.replace(config, **params)
        if not isinstance(config, self.config_class):
            raise ConfigError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {config!r}")
        self.config = config

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    # --- learning -------------------------------------------------------------------------------
    def fit(
        self,
        data: Interactions,
        *,
        seed: int | np.random.Generator | None = None,
        item_features: ItemFeatures | None = None,
        validation: Validation | None = None,
        context: FitContext | None = None,
        attributes: SideAttributes | None = None,
    ) -> Self:
        """Learn from `data`; remembers the training vocabularies and history. Returns self.

        item_features: dense item content (models with `uses_item_features` only).
        attributes: user and item attribute rows aligned with `data`'s vocabularies (models with
        `uses_attributes` only).
        validation: held-out validation targets to watch while training (`supports_validation` only).
        context: where the fit runs (checkpoint folder, fitted components to reuse); models that have no
        use for it ignore it.
        """
        check_fit_inputs(
            self,
            data,
            item_features=item_features,
            validation=validation,
            context=context,
            attributes=attributes,
        )
        self.user_vocab_ = data.user_vocab
        self.item_vocab_ = data.item_vocab
        self.history_ = data.csr()
        self.training_: dict[str, Any] = {}
        if self.uses_attributes:
            self._fit_attributed(data, as_rng(seed), attributes or SideAttributes())
        elif self.uses_item_features or self.supports_validation or self.warm_starts:
            self._fit_with(
                data,
                as_rng(seed),
                item_features=item_features,
                validation=validation,
                context=context or FitContext(),
            )
        else:
            self._fit(data, as_rng(seed))
        return self

    @abstractmethod
    def _fit(self, data: Interactions, rng: np.random.Generator) -> None: ...

    def _fit_with(
        self,
        data: Interactions,
        rng: np.random.Generator,
        *,
        item_features: ItemFeatures | None,
        validation: Validation | None,
        context: FitContext,
    ) -> None:
        """`_fit` for models that declare item features or validation support (they override this)."""
        self._fit(data, rng)

    def _fit_attributed(
        self, data: Interactions, rng: np.random.Generator, attributes: SideAttributes
    ) -> None:
        """`_fit` for models that declare `uses_attributes` (they override this)."""
        self._fit(data, rng)

    @abstractmethod
    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        """Scores (len(users) x n_items, float32) for user indices (-1 = unknown) with their histories."""

    def selected_params(self) -> dict[str, Any]:
        """Hyper-parameters this fit chose on the validation split, which a refit on more data must reuse
        (the runner merges them into the selected configuration). By default the epoch count at the best
        validation score of models that train in epochs; hybrids add their fitted weights."""
        best = getattr(self, "training_", {}).get("best_epoch")
        return {"epochs": int(best)} if best is not None else {}

    def folds_in(self) -> bool:
        """Whether this model re-derives a user from a given history when the user is passed as unknown
        (`folds_in_users`; a hybrid answers for its components)."""
        return self.folds_in_users

    def training_sequences(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The training log in time order, as (indptr, items): user u's items, oldest first, are
        items[indptr[u]:indptr[u + 1]]. None for models that keep only the history matrix (item-index
        order); `user_history` falls back to it."""
        return None

    def keep_history(self, data: Interactions) -> None:
        """Keep `data` as the history of the model's known users (what `score` without a history,
        `recommend` and `user_history` read, and what a saved model carries); the fitted parameters stay.

        For a model fitted on augmented data (`lmrec.augment`): its history is then the real log, so
        pseudo-items are neither read as a user's history nor filtered out as seen when it serves.
        `data` must have the vocabularies the model was fitted with."""
        self.check_is_fitted()
        if data.n_users != self.history_.shape[0] or data.n_items != self.n_items:
            raise ValueError(
                f"{type(self).__name__}.keep_history: the data has {data.n_users} users x {data.n_items} "
                f"items, the model was fitted on {self.history_.shape[0]} x {self.n_items}"
            )
        self.history_ = data.csr()
        self._keep_sequences(data)

    def _keep_sequences(self, data: Interactions) -> None:
        """Models that keep the training log in time order (`training_sequences`) keep `data`'s."""
        return None  # the history matrix is all this model keeps

    def user_history(self, user: int) -> np.ndarray:
        """User `user`'s training items: oldest first when the model keeps the order, else in item-index
        order; empty for an unknown user (-1)."""
        self.check_is_fitted()
        if user < 0:
            return np.empty(0, dtype=np.int64)
        stored = self.training_sequences()
        indptr, items = (self.history_.indptr, self.history_.indices) if stored is None else stored
        return np.asarray(items[indptr[user] : indptr[user + 1]], dtype=np.int64)

    def similar_items(self, items: np.ndarray, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The `n` items most similar to each of `items` (indices): (items, scores), best first. Models
        without `has_similar_items` refuse (the default here)."""
        raise CapabilityError(
            f"the model {self.name} ({type(self).__name__}) has no item-to-item similarity: it lacks the "
            "capability has_similar_items. Use a model that declares it (content)"
        )

    def rescored(self, params: dict[str, Any]) -> Recommender:
        """This fitted model scoring with other values of its `scoring_params` (a new config, validated);
        the fitted arrays are shared with this model, not copied."""
        self.check_is_fitted()
        other = set(params) - self.scoring_params
        if other:
            raise ValueError(
                f"{type(self).__name__}.rescored: {sorted(other)} change what fit learns; only "
                f"{sorted(self.scoring_params)} can change after fitting"
            )
        twin = copy.copy(self)
        twin.config = dataclasses.replace(self.config, **params)
        twin.training_ = dict(self.training_)
        return twin

    def check_is_fitted(self) -> None:
        if not hasattr(self, "history_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit(data) first")

    @property
    def n_items(self) -> int:
        self.check_is_fitted()
        return len(self.item_vocab_)

    def score(
        self,
        users: np.ndarray,
        history: sp.csr_matrix | None = None,
        *,
        sequences: list[np.ndarray] | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Scores of every catalog item for a batch of users.

        users: user indices into the training vocabulary, -1 for users the model has not seen.
        history: one row per user with the items known for them now (defaults to the training history;
        for unknown users without a given history the row is empty).
        sequences: for models with `uses_sequences`, each user's history in time order (item indices,
        oldest first); ignored by the others.
        out: models with `scores_into` only: a C-contiguous float32 (len(users), n_items) array the
        scores are written into and returned as (the same scores as without it).
        """
        users = self._batch_users(users, sequences)
        given = history is not None
        history = self._history_rows(users, history)
        if out is not None:
            if not self.scores_into or self.uses_sequences:
                raise TypeError(f"{type(self).__name__} does not declare scores_into: call score without out")
            shape = (users.shape[0], self.n_items)
            if out.dtype != np.float32 or out.shape != shape or not out.flags.c_contiguous:
                raise ValueError(
                    f"out must be a C-contiguous float32 array of shape {shape}, got {out.dtype} {out.shape}"
                    + ("" if out.flags.c_contiguous else " (not C-contiguous)")
                )
            self._score_into(users, history, out)
            return out
        if self.uses_sequences:
            raw = self._score_sequences(users, history, sequences, history_given=given)
        else:
            raw = self._score(users, history)
        scores = np.asarray(raw, dtype=np.float32)
        if scores.shape != (users.shape[0], self.n_items):
            raise RuntimeError(f"{type(self).__name__} returned scores of shape {scores.shape}")
        return scores

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.scores_into and "_score" in cls.__dict__ and "_score_into" not in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} overrides _score but not _score_into while declaring scores_into "
                "(inherited): override _score_into too, or set scores_into = False"
            )
        if cls.scores_into and cls.uses_sequences:
            raise TypeError(f"{cls.__name__}: scores_into is for models scored without sequences")
        if cls.scoring_params:
            unknown = cls.scoring_params - {f.name for f in dataclasses.fields(cls.config_class)}
            if unknown:
                of = cls.config_class.__name__
                raise TypeError(f"{cls.__name__}: scoring_params {sorted(unknown)} are not fields of {of}")
            if cls.supports_validation:  # its early stopping would pick the epoch under one scoring value
                raise TypeError(f"{cls.__name__}: a model that trains with validation has no scoring_params")

    def _score_into(self, users: np.ndarray, history: sp.csr_matrix, out: np.ndarray) -> None:
        """`_score` written into `out` (models with `scores_into`)."""
        raise TypeError(f"{type(self).__name__} does not declare scores_into")

    def score_sparse(self, users: np.ndarray, history: sp.csr_matrix | None = None) -> sp.csr_matrix:
        """`score` as a sparse matrix of the positive scores (models with `sparse_scores`; absent entries
        score 0)."""
        raise TypeError(f"{type(self).__name__} does not declare sparse_scores")

    def item_scores(self) -> np.ndarray:
        """The scores every user gets (models with `user_independent_scores`)."""
        raise TypeError(f"{type(self).__name__} does not declare user_independent_scores")

    def _batch_users(self, users: np.ndarray, sequences: list[np.ndarray] | None = None) -> np.ndarray:
        """A fitted model's batch of users as int64 indices, checked (known index or -1 = unknown; one
        sequence per user): what `score` and the embedding methods (`user_vectors`) accept."""
        self.check_is_fitted()
        users = np.asarray(users, dtype=np.int64).reshape(-1)
        if (users >= self.history_.shape[0]).any():
            raise ValueError(f"user index out of range (model knows {self.history_.shape[0]} users)")
        if sequences is not None and len(sequences) != users.shape[0]:
            raise ValueError(f"sequences has {len(sequences)} entries for {users.shape[0]} users")
        return users

    def _score_sequences(
        self,
        users: np.ndarray,
        history: sp.csr_matrix,
        sequences: list[np.ndarray] | None,
        *,
        history_given: bool,
    ) -> np.ndarray:
        """Scores from ordered histories (models with `uses_sequences` override this)."""
        raise NotImplementedError(f"{type(self).__name__} declares uses_sequences but cannot score them")

    def _history_rows(self, users: np.ndarray, history: sp.csr_matrix | None) -> sp.csr_matrix:
        if history is not None:
            history = sp.csr_matrix(history)
            if history.shape != (users.shape[0], self.n_items):
                raise ValueError(
                    f"history must have one row per user and {self.n_items} columns, got {history.shape}"
                )
            return history
        known = np.where(users >= 0, users, 0)
        rows = self.history_[known]
        if (users < 0).any():
            rows = sp.csr_matrix(rows.multiply((users >= 0)[:, None].astype(np.float32)))
            rows.eliminate_zeros()
        return sp.csr_matrix(rows)

    def recommend(
        self,
        users: np.ndarray,
        history: sp.csr_matrix | None = None,
        n: int = 10,
        *,
        exclude: sp.csr_matrix | None = None,
        exclude_history: bool = True,
        sequences: list[np.ndarray] | None = None,
    ) -> Recommendations:
        """Top-`n` items for a batch of users (batch-first, as in implicit).

        exclude_history: remove each user's history items from the ranking (seen-item exclusion).
        exclude: an extra user x item matrix of items to remove (same row order as `users`).
        sequences: ordered histories for sequence models (see `score`).
        """
        self.check_is_fitted()
        users = np.asarray(users, dtype=np.int64).reshape(-1)
        if history is None and sequences is not None:
            history = sequences_to_csr(sequences, self.n_items)
        # `score` gets the history only if the caller gave one: sequence models then know whether to
        # use their stored (ordered) training sequences
        return rank(
            self,
            users,
            history,
            n,
            n_items=self.n_items,
            sequences=sequences,
            seen=self._history_rows(users, history) if exclude_history else None,
            exclude=None if exclude is None else sp.csr_matrix(exclude),
        )

    def recommend_ids(
        self, user_ids: Any, n: int = 10, *, exclude_history: bool = True
    ) -> list[dict[str, Any]]:
        """Raw-id layer over `recommend`: known users only (unknown ids raise `UnknownIdError`)."""
        self.check_is_fitted()
        users = self.user_vocab_.index(np.atleast_1d(np.asarray(user_ids)), what="user")
        recs = self.recommend(users, n=n, exclude_history=exclude_history)
        return recs.to_records(self.item_vocab_, self.user_vocab_)

    # --- items added after training (`adds_items_from_text`) -------------------------------------
    def add_items(self, raw_ids: Any, vectors: np.ndarray) -> np.ndarray:
        """Append new items (raw ids not in the catalog) given by their text vectors; returns their
        indices. Models without `adds_items_from_text` refuse (the default here)."""
        raise lacks_adds_items(self)

    def item_text_recipe(self) -> dict[str, Any] | None:
        """How the text vectors of `add_items` are made (models with `adds_items_from_text`; None for the
        others): {"dim": vector length, "encoder": `make_encoder` spec or None when the vectors came from
        elsewhere, and, recorded at fit time from `ItemFeatures.recipe`, "template", "corpus_dependent",
        ...}."""
        return None

    def tuned_text_encoder(self) -> Any:
        """The text encoder of `add_items` when the model fine-tuned its own (an object with
        `encode(texts) -> vectors`), or None: the recipe's pretrained encoder is the right one."""
        return None

    # --- persistence ----------------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        """Learned arrays to save (subclasses extend)."""
        return {}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:  # noqa: B027 - optional hook
        """Restore learned arrays saved by `_state` (models with no arrays beyond the history need none)."""

    def save(self, path: str | Path) -> Path:
        """Write `model.json` (class, config, versions) and `arrays.npz` (no pickle) into folder `path`."""
        from lmrec.models.persistence import save_model

        self.check_is_fitted()
        return save_model(self, Path(path))

    def _save_extra(self, path: Path) -> None:  # noqa: B027 - optional hook
        """Write what does not fit in arrays + JSON (hybrids: their fitted components, one folder each)."""

    def _load_extra(self, path: Path) -> None:  # noqa: B027 - optional hook
        """Read what `_save_extra` wrote."""

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        """Load any saved lmrec model (the class is looked up in the registry, never unpickled).

        A `model.json` with `"stored_in": "versions/..."` names the sub-folder holding the arrays (a model
        replaced by a retrain: `lmrec.service.versions`), so switching models is one atomic file rename.
        """
        from lmrec.models.persistence import load_model

        return load_model(Path(path), expected=None if cls is Recommender else cls)


def lacks_adds_items(model: Recommender) -> CapabilityError:
    """The error for a model without `adds_items_from_text` asked to add items (names the model to use)."""
    return CapabilityError(
        f"the model {model.name} ({type(model).__name__}) cannot add items after training: it lacks the "
        "capability adds_items_from_text. Use the text-based sequential model textseq (alone, or as the "
        "cold-item component of a switching hybrid with rule item_count), which scores a new item from "
        "its text"
    )
