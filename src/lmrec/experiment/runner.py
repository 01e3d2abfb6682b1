"""Model stage of a ranking experiment: tune on validation, refit, score the test split once."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from rich.console import Console
from threadpoolctl import threadpool_limits

from lmrec.data.interactions import Interactions
from lmrec.data.leakage import assert_disjoint
from lmrec.data.splits import Split
from lmrec.distributed import Engine
from lmrec.eval import evaluate_ranking
from lmrec.eval.metrics import parse_metric
from lmrec.experiment.augmentation import FitAugmentation
from lmrec.experiment.config import Experiment, ModelSpec
from lmrec.experiment.features import item_features_for
from lmrec.experiment.hybrids import component_signatures, model_signature
from lmrec.experiment.prepare import Prepared, sample_users
from lmrec.experiment.tuning import Trial, scoring_values, select_key, tune
from lmrec.hybrid.components import HybridRecommender, component_label
from lmrec.hybrid.pool import ComponentPool
from lmrec.models.base import Recommender
from lmrec.models.fit_context import FitContext, Validation
from lmrec.models.registry import get_model_class, make_model
from lmrec.resources import measure


@dataclass
class ModelRun:
    """A model's search, selection and single test evaluation."""

    spec: ModelSpec
    trials: list[Trial]
    selected: dict[str, Any]
    test: dict[str, float]
    per_user: pd.DataFrame
    timings: dict[str, dict[str, Any]]
    model: Recommender | None = field(default=None, repr=False)
    config: dict[str, Any] | None = None
    """The fitted model's full configuration (defaults included)."""
    signature: str | None = None
    """Model name and configuration, to match hybrids' components with the run's single models."""
    components: list[str] = field(default_factory=list)
    """Signatures of a hybrid's components (empty for single models)."""
    resumed: bool = False
    """Taken from a stopped run's partial results (`lmrec run --resume`), not trained in this run."""
    augmentation: dict[str, Any] | None = None
    """What the entry's `augmentation` added to each fit data ("train", "train+valid"), with its checks."""
    lists: np.ndarray | None = field(default=None, repr=False)
    """Top-max(ns) item indices of every test user (rows as in `per_user`, -1 = empty slot), for the
    run's `recommendations.parquet`; None for models resumed from a run that did not keep them."""
    search: dict[str, Any] = field(default_factory=dict)
    """How the search ran (`tuning.Tuned.facts`: method, trials, fits, pruned, widenings, seconds)."""
    edge: list[str] = field(default_factory=list)
    """Grid parameters whose selected value is the smallest or largest of the grid (flagged loudly)."""

    @property
    def label(self) -> str:
        return self.spec.display


def user_popularity(data: Interactions) -> np.ndarray:
    """Distinct users per item (what novelty and ARP are defined on; repeats do not count twice)."""
    return data.item_user_counts()


def _users_with_targets(targets: sp.csr_matrix) -> np.ndarray:
    return np.flatnonzero(np.diff(targets.indptr) > 0)


def _with_threads(exp: Experiment, klass: type[Recommender], params: dict[str, Any]) -> dict[str, Any]:
    """torch models take the experiment's thread count unless their params set one (recorded in config)."""
    names = getattr(klass.config_class, "__dataclass_fields__", {})
    if exp.threads and klass.uses_torch and "num_threads" in names and "num_threads" not in params:
        return {**params, "num_threads": exp.threads}
    return params


def _metric_keys(exp: Experiment) -> tuple[list[str], list[int]]:
    return list(exp.evaluation.metrics), [int(n) for n in exp.evaluation.ns]


def test_history(split: Split, exp: Experiment) -> Interactions:
    """The history models are given at test time: train+valid (P1) or train (`test_input: train`,
    P1-peer)."""
    return split.train_valid() if exp.evaluation.test_input == "train+valid" else split.train


def _evaluate(
    exp: Experiment,
    model: Recommender,
    targets: Interactions,
    history: Interactions,
    users: np.ndarray,
    popularity: np.ndarray,
    *,
    progress: bool,
    keep_lists: bool = False,
    exclude: Interactions | None = None,
    engine: Engine | None = None,
) -> Any:
    """Rank `targets` from `history`; `exclude` (the validation events under P1-peer, whose model input
    is train only) is removed from the ranking too when seen items are excluded."""
    metrics, ns = _metric_keys(exp)
    extra = exclude.csr() if exclude is not None and exp.evaluation.exclude_seen else None
    return evaluate_ranking(
        model,
        targets.csr(),
        history.csr(),
        ns=ns,
        metrics=metrics,
        users=users,
        exclude_history=exp.evaluation.exclude_seen,
        exclude=extra,
        batch_size=exp.evaluation.batch_size,
        item_popularity=None if exp.evaluation.sampled_negatives else popularity,
        n_train_users=int(np.count_nonzero(history.user_counts())),
        sampled_negatives=exp.evaluation.sampled_negatives,
        seed=exp.seed,
        progress=progress,
        sequences=history.sequences() if model.uses_sequences else None,
        keep_lists=keep_lists,
        engine=engine,
    )


def _training_summary(model: Recommender) -> dict[str, Any]:
    """The headline of a model's training log (epochs, epoch time, best epoch) for results.json."""
    info = getattr(model, "training_", None) or {}
    keys = ("epochs_run", "best_epoch", "best_valid", "metric", "seconds_per_epoch", "stopped_early")
    out = {k: info[k] for k in keys if k in info}
    if info.get("pruned"):  # stopped by the search's pruner (`lmrec.experiment.optuna_search`)
        out["pruned"] = True
    if info.get("diagnostics"):  # facts a model records about its fit (CFGAN: the generator's collapse)
        out["diagnostics"] = info["diagnostics"]
    if info.get("resumed_after_epoch"):  # continued from a checkpoint of a stopped run (`--resume`)
        out["resumed_after_epoch"] = info["resumed_after_epoch"]
        out["resumed_seconds"] = info.get("resumed_seconds", 0.0)
    tuned = info.get("finetune")  # textseq's second stage (text encoder's top blocks trained), if any
    if tuned:
        tuned_keys = (*keys, "kept", "frozen_best_valid", "cache_seconds")
        out["finetune"] = {k: tuned[k] for k in tuned_keys if k in tuned}
    return out


def _training_curve(info: dict[str, Any]) -> dict[str, Any]:
    """Loss per epoch and validation metric per evaluated epoch of a training log (empty without one)."""
    if not info.get("losses"):
        return {}
    curve: dict[str, Any] = {"loss": list(info["losses"])}
    valid, epochs = list(info.get("valid") or []), list(info.get("valid_epochs") or [])
    if valid and len(epochs) == len(valid):  # checkpoints older than `valid_epochs` lack the epochs
        curve.update({"valid": valid, "valid_epochs": epochs, "metric": info.get("metric")})
    return curve


def _final_training(model: Recommender) -> dict[str, Any]:
    """What results.json keeps of the final model's training: the headline (`_training_summary`), its
    per-epoch curve, and for hybrids each component's curve, the blend weights and the learned ranker's
    feature importance and candidate recall on validation (what the report plots)."""
    info = getattr(model, "training_", None) or {}
    out = _training_summary(model)
    curve = _training_curve(info)
    if curve:
        out["curve"] = curve
    if isinstance(model, HybridRecommender):
        hybrid: dict[str, Any] = {}
        comps = {
            label: {**_training_summary(comp), "curve": _training_curve(getattr(comp, "training_", {}) or {})}
            for label, comp in zip(
                (component_label(s) for s in model.component_specs_), model.components_, strict=True
            )
        }
        hybrid["components"] = {k: v for k, v in comps.items() if v["curve"]}
        if "weights" in info:
            hybrid["weights"] = dict(zip(comps, info["weights"], strict=False))
        ranker = info.get("ranker") or {}
        keys = ("feature_gain", "valid_candidate_recall", "best_iteration", "best_epoch", "network")
        hybrid["ranker"] = {k: ranker[k] for k in keys if k in ranker}
        out["hybrid"] = {k: v for k, v in hybrid.items() if v}
    return out


def _fit_timing(measured: dict[str, Any], training: dict[str, Any]) -> dict[str, Any]:
    """A fit's timing including the training time of the stopped process(es) a resumed fit continued
    from, so that `fit_s` is the cost of the whole fit; the peak RSS is this process's only."""
    before = training.get("resumed_seconds", 0.0)
    if not before:
        return measured
    return {**measured, "seconds": round(measured["seconds"] + before, 3), "resumed_seconds": before}


def _retrieval_measures(
    model: Recommender, targets: Interactions, history: Interactions, users: np.ndarray
) -> dict[str, float]:
    """Candidate recall of cascades (the share of targets that survive retrieval); empty for other models."""
    recall = getattr(model, "candidate_recall", None)
    if recall is None:
        return {}
    seqs = history.sequences() if model.uses_sequences else None
    return {k: round(v, 6) for k, v in recall(targets.csr(), history.csr(), users, seqs).items()}


def _blas_threads(exp: Experiment) -> Any:
    """The experiment's BLAS thread count, applied again where a Ray worker runs a trial (the driver's
    limit does not reach other processes)."""
    return threadpool_limits(exp.threads) if exp.threads else nullcontext()


def run_trial(
    params: dict[str, Any],
    *,
    exp: Experiment,
    spec: ModelSpec,
    train_fit: Interactions,
    split: Split,
    validation: Validation | None,
    valid_users: np.ndarray | None,
    train_pop: np.ndarray,
    fit_kwargs: dict[str, Any],
    context: FitContext | None = None,
    reuse: Recommender | None = None,
) -> tuple[Trial, Recommender, dict[str, Any]]:
    """Fit one search candidate on the training data and score it on validation (in this process, or as
    a Ray task: then with `threads` BLAS threads and no fit context, the run's folders being local).
    `reuse`: a model fitted for a candidate that differs from this one only in the model's
    `scoring_params`; it is rescored with this candidate's values instead of fitting again."""
    context = context or FitContext()
    with _blas_threads(exp), measure() as m_fit:
        if reuse is not None:
            model = reuse.rescored(scoring_values(type(reuse), params))
        else:
            model = make_model(spec.name, params)
            model.fit(train_fit, seed=exp.seed, validation=validation, context=context, **fit_kwargs)
    valid = {}
    if valid_users is not None:
        # a model that learned from some users' validation targets (a learned ranker) is scored on the
        # other validation users only, so its validation number stays an out-of-sample estimate
        learned = getattr(model, "validation_fit_users_", None)
        scored = valid_users if learned is None else np.setdiff1d(valid_users, learned)
        with _blas_threads(exp):
            res = _evaluate(exp, model, split.valid, split.train, scored, train_pop, progress=False)
        valid = {**res.summary(), **_retrieval_measures(model, split.valid, split.train, scored)}
        if learned is not None:
            valid["valid_users_scored"] = int(scored.size)
    training = _training_summary(model)
    fit_timing = _fit_timing(m_fit.to_dict(), training)
    if validation is not None:
        params = {**params, **model.selected_params()}
    trial = Trial(
        params=params,
        valid=valid,
        fit_seconds=fit_timing["seconds"],
        training=training,
        pruned=bool(training.get("pruned")),
    )
    return trial, model, fit_timing


def run_model(
    exp: Experiment,
    spec: ModelSpec,
    prep: Prepared,
    *,
    console: Console | None = None,
    progress: bool = False,
    features_memo: dict[Any, Any] | None = None,
    component_pool: ComponentPool | None = None,
    checkpoint_dir: Path | None = None,
    augment_memo: dict[Any, Any] | None = None,
    engine: Engine | None = None,
) -> ModelRun:
    """Tune `spec` on validation (train → valid), then refit (or keep) and evaluate on test exactly once.

    Models that support it train with the validation targets for early stopping; their selected epoch
    count becomes a selected hyper-parameter, so a train+valid refit runs exactly that many epochs.
    component_pool: fitted models shared with the hybrids of the run (the selected train-fitted model of
    every spec goes in; hybrids take their components from it when parameters, data and seed match).
    checkpoint_dir: where models that keep training checkpoints (the sequence models) save them, so a
    stopped fit continues. Both reach the models as their fit's `FitContext`.
    augment_memo: augmented logs shared by the entries with the same `augmentation`. An entry's
    augmentation changes its fit data only (train for the search, train+valid for the refit): validation
    and test are scored with the split's own parts as targets and histories, and the item popularity of
    the beyond-accuracy metrics is the real fit data's.
    engine: where evaluations run (user shards) and, for models that allow it (`parallel_trials`), the
    candidates of grid and random searches (one task each); the same numbers as in this process
    (`lmrec.distributed`). Optuna trials always run one after the other in this process: each proposal
    depends on the scores before it (`lmrec.experiment.tuning`, `lmrec.experiment.optuna_search`).
    """
    log: Callable[[str], None] = console.log if console is not None else (lambda _msg: None)
    split = prep.split
    select = parse_metric(exp.select_by)
    klass = get_model_class(spec.name)
    context = FitContext(checkpoint_dir=checkpoint_dir, component_pool=component_pool)
    has_valid = len(split.valid) > 0
    train_pop = user_popularity(split.train)
    refit = spec.refit or exp.evaluation.refit
    fit_kwargs: dict[str, Any] = {}
    text_stats: dict[str, Any] = {}
    augment = None
    if spec.augmentation is not None:
        augment = FitAugmentation(spec, prep, seed=exp.seed, memo=augment_memo, features_memo=features_memo)
    train_fit = split.train if augment is None else augment(split.train, "train")
    # hybrids use item features only when a component needs them, which their `item_text` says
    if klass.uses_item_features and (klass.requires_item_features or spec.item_text is not None):
        fit_kwargs["item_features"] = item_features_for(
            spec, prep, {} if features_memo is None else features_memo, text_stats
        )
    validation = None
    if has_valid:
        valid_users = sample_users(
            _users_with_targets(split.valid.csr()), exp.evaluation.user_sample, exp.seed
        )
        if klass.supports_validation:
            validation = Validation(
                targets=split.valid,
                history=split.train,
                metric=select.label,
                exclude_seen=exp.evaluation.exclude_seen,
                users=valid_users,
            )
    trial_inputs: dict[str, Any] = {
        "exp": exp, "spec": spec, "train_fit": train_fit, "split": split, "validation": validation,
        "valid_users": valid_users if has_valid else None, "train_pop": train_pop, "fit_kwargs": fit_kwargs,
    }  # fmt: skip
    tuned = tune(
        exp, spec, run=run_trial, inputs=trial_inputs, context=context,
        prepare=lambda params: _with_threads(exp, klass, params), engine=engine, console=console,
        progress=progress,
    )  # fmt: skip
    trials, best, kept, parallel = tuned.trials, tuned.best, tuned.kept, tuned.parallel
    if component_pool is not None and kept is not None and not isinstance(kept[1], HybridRecommender):
        pooled = {**fit_kwargs, **({"validation": validation} if validation is not None else {})}
        component_pool.add(kept[1], train_fit, pooled)  # augmented data: only alike-augmented hybrids match

    fit_data = split.train_valid() if refit == "train+valid" else split.train
    assert_disjoint(fit_data, split)
    if augment is None or refit == "train":
        model_data = fit_data if augment is None else train_fit
    else:
        model_data = augment(fit_data, refit)
    kept_model = kept[1] if kept is not None else None
    with measure() as m_fit:
        if refit == "train" and kept_model is not None:
            model = (
                kept_model  # the selected trial's model: refitting it on the same data and seed is a no-op
            )
        elif isinstance(kept_model, HybridRecommender):
            # hybrids refit their components on train+valid (early-stopped ones keep their best-on-validation
            # fit, as the single sequence models do) and keep the weights chosen on validation unchanged
            model = kept_model.refit(model_data, seed=exp.seed, context=context)
        else:
            model = make_model(spec.name, best.params)
            model.fit(model_data, seed=exp.seed, context=context, **fit_kwargs)
        if augment is not None:  # pseudo-items were fit input only: the model keeps the real history
            model.keep_history(fit_data)
            model.training_["augmentation"] = augment.record(refit)
    fit_timing = _fit_timing(m_fit.to_dict(), _training_summary(model))
    if component_pool is not None and model is not kept_model and not isinstance(model, HybridRecommender):
        component_pool.add(model, model_data, fit_kwargs)  # the refitted model, for the hybrids' refits
    if refit == "train" and kept is not None:
        fit_timing = {**kept[2], "reused_selected_trial": True}
    history = test_history(split, exp)
    test_users = sample_users(_users_with_targets(split.test.csr()), exp.evaluation.user_sample, exp.seed)
    with measure() as m_eval:
        res = _evaluate(
            exp,
            model,
            split.test,
            history,
            test_users,
            user_popularity(fit_data),
            progress=progress,
            keep_lists=not exp.evaluation.sampled_negatives,  # sampled ranking has no full lists
            exclude=split.valid if exp.evaluation.test_input == "train" else None,
            engine=engine,
        )
    summary = {**res.summary(), **_retrieval_measures(model, split.test, history, test_users)}
    key = select_key(summary, select.key)
    log(
        f"{spec.display} test {key}={summary[key]:.4f} "
        f"(fit {fit_timing['seconds']:.1f}s, eval {m_eval.seconds:.1f}s)"
    )
    per_user = res.per_user.copy()
    return ModelRun(
        spec=spec,
        trials=trials,
        selected=best.params,
        test=summary,
        per_user=per_user,
        timings={
            "fit": fit_timing,
            "evaluate": {
                **m_eval.to_dict(),
                "users": int(test_users.shape[0]),
                "users_per_second": round(test_users.shape[0] / max(m_eval.seconds, 1e-9), 1),
            },
            "search_fit_seconds_total": {
                "seconds": round(sum(t.fit_seconds for t in trials), 3),
                "engine": engine.name if parallel and engine is not None else "local",
            },
            "training": _final_training(model),
            **({"item_text": text_stats} if text_stats else {}),
        },
        model=model,
        config=dataclasses.asdict(model.config),
        signature=_signature(model, spec),
        components=component_signatures(model),
        augmentation=None if augment is None else augment.facts,
        lists=res.lists,
        search=tuned.facts,
        edge=tuned.edge,
    )


def _signature(model: Recommender, spec: ModelSpec) -> str:
    """The model's signature, marked when its fit data was augmented: a hybrid's (unaugmented) component
    is not the same model as an augmented single one."""
    plain = model_signature(model)
    return plain if spec.augmentation is None else f"{plain} + augmentation {spec.augmentation.describe()}"


def describe_spec(spec: ModelSpec) -> dict[str, Any]:
    return dataclasses.asdict(spec)
