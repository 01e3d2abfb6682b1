"""The component models of a hybrid: declared like models in an experiment file, fitted and scored together.

A component is a mapping `{name: <registered model>, params: {...}, label: "..."}` (label optional).
`HybridRecommender` is the base of every hybrid strategy: it builds its components from the config, fits
each on the same training data (passing ordered histories, item text features and validation targets to
the components that use them), scores them on demand, saves each into its own sub-folder and reports the
components' selected hyper-parameters so that a refit on train+valid reuses them.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from lmrec.data.features import ItemFeatures
from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError
from lmrec.models.base import Recommender, as_rng
from lmrec.models.fit_context import FitContext, Validation
from lmrec.models.registry import make_model

if TYPE_CHECKING:
    from lmrec.hybrid.pool import ComponentPool

COMPONENT_KEYS = ("name", "params", "label")


def component_specs(raw: Any, where: str) -> tuple[dict[str, Any], ...]:
    """Validated, normalised component declarations (a tuple of plain dicts, JSON round-trippable)."""
    from lmrec.models.params import build_config
    from lmrec.models.registry import get_model_class

    if isinstance(raw, Mapping) or not isinstance(raw, Sequence) or isinstance(raw, str):
        raise ConfigError(f"{where} must be a list of {{name, params}} mappings, got {raw!r}")
    out = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, Mapping) or "name" not in item:
            raise ConfigError(f"{where}[{i}] must be a mapping with a 'name', got {item!r}")
        unknown = sorted(set(item) - set(COMPONENT_KEYS))
        if unknown:
            raise ConfigError(f"{where}[{i}]: unknown key(s) {unknown}; allowed: {list(COMPONENT_KEYS)}")
        try:
            klass = get_model_class(str(item["name"]))
        except KeyError as exc:
            raise ConfigError(f"{where}[{i}]: {exc.args[0]}") from None
        params = dict(item.get("params") or {})
        try:
            build_config(klass.config_class, params, klass.__name__)
        except ConfigError as exc:
            raise ConfigError(f"{where}[{i}] ({item['name']}): parameters {params}: {exc}") from exc
        spec = {"name": str(item["name"]), "params": params}
        if item.get("label"):
            spec["label"] = str(item["label"])
        out.append(spec)
    return tuple(out)


def component_label(spec: Mapping[str, Any]) -> str:
    return str(spec.get("label") or spec["name"])


def build_component(spec: Mapping[str, Any], num_threads: int | None) -> Recommender:
    from lmrec.models.registry import get_model_class

    params = dict(spec.get("params") or {})
    fields = getattr(get_model_class(spec["name"]).config_class, "__dataclass_fields__", {})
    if num_threads and "num_threads" in fields and "num_threads" not in params:
        params["num_threads"] = num_threads
    return make_model(spec["name"], params)


def _shared(pool: ComponentPool | None) -> FitContext:
    """The fit context a hybrid gives its components: the pool only (no checkpoint folder)."""
    return FitContext(component_pool=pool)


def validation_users(validation: Validation, limit: int, rng: np.random.Generator) -> np.ndarray:
    """The validation users a hybrid fits its combination on: `validation.users` (default: every user with
    a target), a seeded sample of `limit` of them when limit > 0 and there are more."""
    users = validation.users
    if users is None:
        users = np.flatnonzero(np.diff(validation.targets.csr().indptr) > 0)
    users = np.asarray(users, dtype=np.int64)
    if 0 < limit < users.size:
        users = np.sort(rng.choice(users, limit, replace=False))
    return users


def unseen_mask(history: sp.csr_matrix, rank_history: bool) -> np.ndarray | None:
    """Which items enter a user's normalisation statistics: all (None) when history items can be
    recommended again (`rank_history`), else the items outside each user's history."""
    if rank_history or not history.nnz:
        return None
    return np.asarray(history.toarray() == 0)


class HybridRecommender(Recommender):
    """Base of the hybrid strategies: owns `components_` (fitted `Recommender`s, in config order).

    Subclasses give the component declarations through `_component_specs()` and combine the component
    scores in `_combine`. Every capability a component may need is declared here, and each component gets
    only what it uses.
    """

    uses_sequences: ClassVar[bool] = True
    uses_item_features: ClassVar[bool] = True
    supports_validation: ClassVar[bool] = True
    uses_torch: ClassVar[bool] = True  # `num_threads` reaches the torch components
    parallel_trials: ClassVar[bool] = False  # components come from the run's pool (`FitContext`)

    def _component_specs(self) -> tuple[dict[str, Any], ...]:
        raise NotImplementedError

    def _fit(self, data: Interactions, rng: np.random.Generator) -> None:  # pragma: no cover - via _fit_with
        self._fit_with(data, rng, item_features=None, validation=None, context=FitContext())

    def folds_in(self) -> bool:
        """A hybrid re-derives a user from a given history when one of its components does (`folds_in`
        recurses into nested hybrids): the service then passes users with new events as unknown, so that
        e.g. the ALS component folds them in; history- and sequence-based components score an unknown
        user from the given history exactly as a known one."""
        self.check_is_fitted()
        return any(c.folds_in() for c in self.components_)

    def keep_history(self, data: Interactions) -> None:
        """The hybrid's history and every component's (they were fitted on the same data)."""
        super().keep_history(data)
        for component in self.components_:
            component.keep_history(data)

    def fit(
        self, data: Interactions, *, seed: int | np.random.Generator | None = None, **kwargs: Any
    ) -> Self:
        # every component trains from the hybrid's own seed, exactly as it would alone (so a component
        # equals the standalone model with the same params and can be shared with it)
        self._component_rng = copy.deepcopy(as_rng(seed))
        return super().fit(data, seed=seed, **kwargs)

    def _fit_with(
        self,
        data: Interactions,
        rng: np.random.Generator,
        *,
        item_features: ItemFeatures | None,
        validation: Validation | None,
        context: FitContext,
    ) -> None:
        threads = getattr(self.config, "num_threads", None)
        self._item_features = item_features  # for `refit` (in memory only; a loaded model refits nothing)
        self.components_: list[Recommender] = []
        self.component_specs_ = self._component_specs()
        reused = []
        pool = context.component_pool
        for spec in self.component_specs_:
            model = build_component(spec, threads)
            kwargs: dict[str, Any] = {}
            if model.uses_item_features and item_features is not None:
                kwargs["item_features"] = item_features
            elif model.requires_item_features:
                raise ConfigError(
                    f"{type(self).__name__}: component {component_label(spec)} needs item text embeddings; "
                    "give the hybrid an `item_text` (experiment file) or item_features= (Python)"
                )
            if model.supports_validation and validation is not None:
                kwargs["validation"] = validation
            known = pool.get(model, data, kwargs) if pool is not None else None
            if known is not None:
                model = known
                reused.append(component_label(spec))
            else:
                # nested hybrids share the pool; components keep no checkpoints (as before FitContext)
                model.fit(data, seed=copy.deepcopy(self._component_rng), context=_shared(pool), **kwargs)
                if pool is not None:
                    pool.add(model, data, kwargs)
            self.components_.append(model)
        self.training_ = {
            "components": {
                component_label(s): dict(getattr(m, "training_", {}) or {})
                for s, m in zip(self.component_specs_, self.components_, strict=True)
            },
            "reused_components": reused,
        }
        self._fit_combination(data, as_rng(rng), validation)

    def refit(
        self,
        data: Interactions,
        *,
        seed: int | np.random.Generator | None = None,
        context: FitContext | None = None,
    ) -> Self:
        """Refit for the final test on more data (train+valid), keeping what validation chose.

        Components that trained with early stopping keep their best-on-validation fit (as single sequence
        models do under refit "train"); the others are refitted on `data` with their selected parameters;
        nested hybrids recurse; blend weights and other choices made on validation stay as they are.
        Without a validation set to watch, nothing here can select on the test data.
        context: its `component_pool` gives refitted models to reuse (as in `fit`).
        """
        self.check_is_fitted()
        pool = None if context is None else context.component_pool
        # the configuration now states what validation chose (weights, epochs), as a fresh refit would
        self.config = dataclasses.replace(self.config, **self.selected_params())
        self._component_rng = copy.deepcopy(as_rng(seed))
        threads = getattr(self.config, "num_threads", None)
        for i, (spec, comp) in enumerate(zip(self.component_specs_, self.components_, strict=True)):
            if isinstance(comp, HybridRecommender):
                comp.refit(data, seed=seed, context=_shared(pool))
                continue
            if comp.supports_validation:
                continue
            chosen = {**spec, "params": {**spec.get("params", {}), **comp.selected_params()}}
            model = build_component(chosen, threads)
            features = getattr(self, "_item_features", None)
            kwargs = {"item_features": features} if comp.uses_item_features and features is not None else {}
            known = pool.get(model, data, kwargs) if pool is not None else None
            if known is None:
                model.fit(data, seed=copy.deepcopy(self._component_rng), **kwargs)
                if pool is not None:
                    pool.add(model, data, kwargs)
            self.components_[i] = known or model
        self.user_vocab_ = data.user_vocab
        self.item_vocab_ = data.item_vocab
        self.history_ = data.csr()
        self.training_["refit_on_rows"] = len(data)
        self._refit_combination(data)
        return self

    def _refit_combination(self, data: Interactions) -> None:
        """Update data statistics a strategy keeps (not choices made on validation) after `refit`."""

    def _fit_combination(
        self, data: Interactions, rng: np.random.Generator, validation: Validation | None
    ) -> None:
        """Learn how to combine the fitted components (weights on validation); default: nothing to learn."""

    def component_scores(
        self,
        index: int,
        users: np.ndarray,
        history: sp.csr_matrix,
        sequences: list[np.ndarray] | None,
        *,
        history_given: bool,
    ) -> np.ndarray:
        """Scores of component `index` for a batch, with the history in the form that component reads.

        A component that did not take the items added to the hybrid after training (`add_items`) knows a
        prefix of its catalog: it gets the history of those items only and scores them only (fewer
        columns)."""
        model = self.components_[index]
        known = model.n_items
        if known < history.shape[1]:
            history = history[:, :known]
            if sequences is not None:
                sequences = [s[np.asarray(s) < known] for s in sequences]
        if model.uses_sequences:
            return model.score(users, history if history_given else None, sequences=sequences)
        return model.score(users, history)

    def selected_params(self) -> dict[str, Any]:
        """The components with the hyper-parameters their validated fit chose (e.g. SASRec's epochs)."""
        specs = []
        for spec, model in zip(self.component_specs_, self.components_, strict=True):
            chosen = model.selected_params() if model.supports_validation else {}
            specs.append({**spec, "params": {**spec.get("params", {}), **chosen}})
        return {self.components_field: specs}

    components_field: ClassVar[str] = "components"
    """Name of the config field that holds the component declarations."""

    # --- persistence: each component in its own folder ------------------------------------------
    def _save_extra(self, path: Path) -> None:
        for i, model in enumerate(self.components_):
            model.save(path / "components" / str(i))

    def _load_extra(self, path: Path) -> None:
        self.component_specs_ = self._component_specs()
        self.components_ = [
            Recommender.load(path / "components" / str(i)) for i in range(len(self.component_specs_))
        ]

    def _score_sequences(
        self,
        users: np.ndarray,
        history: sp.csr_matrix,
        sequences: list[np.ndarray] | None,
        *,
        history_given: bool,
    ) -> np.ndarray:
        return self._combine(users, history, sequences, history_given=history_given)

    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:  # pragma: no cover
        return self._combine(users, history, None, history_given=True)

    def _combine(
        self,
        users: np.ndarray,
        history: sp.csr_matrix,
        sequences: list[np.ndarray] | None,
        *,
        history_given: bool,
    ) -> np.ndarray:
        raise NotImplementedError
