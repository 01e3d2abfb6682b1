"""Rating-prediction experiments (protocol P3): per fold, tune on a carve-out of train, score test once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.console import Console

from lmrec.data import splits
from lmrec.data.cleaning import clean
from lmrec.data.interactions import Interactions
from lmrec.data.loaders import load_dataset, load_movielens_file
from lmrec.data.raw import RawLog
from lmrec.errors import ConfigError
from lmrec.eval.rating import mae, rmse
from lmrec.experiment.config import Experiment, ModelSpec
from lmrec.experiment.prepare import cleaning_config
from lmrec.experiment.search import candidates
from lmrec.models.registry import get_model_class
from lmrec.resources import measure

VALID_FRACTION = 0.1


@dataclass
class FoldResult:
    fold: str
    selected: dict[str, Any]
    trials: list[dict[str, Any]]
    test: dict[str, float]
    timings: dict[str, Any]


def _load_part(exp: Experiment, ref: str) -> RawLog:
    """A fold file: an official MovieLens fold name (u1.base ...) of the dataset, or a path."""
    path = exp.resolve(ref)
    if path is not None and path.exists():
        kwargs: dict[str, Any] = dict(exp.dataset.options)
        if exp.dataset.format:
            kwargs["format"] = exp.dataset.format
        if exp.dataset.columns:
            kwargs["columns"] = exp.dataset.columns
        return load_dataset(str(path), **kwargs)
    location = exp.resolve(exp.dataset.path) if exp.dataset.path else None
    return load_movielens_file(location if location is not None else exp.dataset.name, ref)


def _predict(model: Any, part: Interactions) -> np.ndarray:
    return np.asarray(model.predict(part.users, part.items), dtype=np.float64)


def _require_ratings(part: Interactions, what: str) -> np.ndarray:
    if part.ratings is None:
        raise ConfigError(f"task=rating needs explicit ratings, but the {what} part has none")
    return part.ratings.astype(np.float64)


def run_fold(
    exp: Experiment, spec: ModelSpec, train_ref: str, test_ref: str, log: Callable[[str], None]
) -> FoldResult:
    cfg = cleaning_config(exp.cleaning.options)
    train_i, _ = clean(_load_part(exp, train_ref), cfg)
    test_i, _ = clean(_load_part(exp, test_ref), cfg)
    split = splits.split_from_frames(train_i.to_frame(), None, test_i.to_frame())
    train, test = split.train, split.test
    fit_part, valid_part = splits.holdout_ratings(train, frac=VALID_FRACTION, seed=exp.seed)
    klass = get_model_class(spec.name)
    trials = []
    for params in candidates(spec, np.random.default_rng(exp.seed)):
        model = klass(**params).fit(fit_part, seed=exp.seed)
        err = rmse(_require_ratings(valid_part, "validation"), _predict(model, valid_part))
        trials.append({"params": params, "valid_rmse": float(err)})
        log(f"{spec.display} {train_ref}: {params} valid RMSE={err:.4f}")
    best = min(trials, key=lambda t: t["valid_rmse"])
    with measure() as m_fit:
        model = klass(**best["params"]).fit(train, seed=exp.seed)
    with measure() as m_pred:
        pred = _predict(model, test)
    truth = _require_ratings(test, "test")
    result = {"RMSE": float(rmse(truth, pred)), "MAE": float(mae(truth, pred)), "n_test": int(truth.size)}
    log(f"{spec.display} {test_ref}: test RMSE={result['RMSE']:.4f} MAE={result['MAE']:.4f}")
    return FoldResult(
        fold=f"{train_ref} -> {test_ref}",
        selected=best["params"],
        trials=trials,
        test=result,
        timings={"fit": m_fit.to_dict(), "predict": m_pred.to_dict()},
    )


def run_rating(exp: Experiment, *, console: Console | None = None) -> dict[str, Any]:
    """All models over all folds; returns a JSON-able dict with per-fold and mean RMSE/MAE."""
    log: Callable[[str], None] = console.log if console is not None else (lambda _m: None)
    folds = list(exp.split.folds) or [{"train": exp.split.train, "test": exp.split.test}]
    for f in folds:
        if not f.get("train") or not f.get("test"):
            raise ConfigError(f"split.folds entries need train and test, got {f}")
    models = []
    for spec in exp.models:
        results = [run_fold(exp, spec, f["train"], f["test"], log) for f in folds]
        models.append(
            {
                "label": spec.display,
                "model": spec.name,
                "folds": [r.__dict__ for r in results],
                "mean": {k: float(np.mean([r.test[k] for r in results])) for k in ("RMSE", "MAE")},
            }
        )
    return {
        "task": "rating",
        "validation": f"random {VALID_FRACTION:.0%} per-user carve-out of each train fold",
        "models": models,
    }
