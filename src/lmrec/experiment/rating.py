"""Rating-prediction experiments (protocol P3): per fold, tune on a carve-out of train, score test once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.console import Console

from lmrec.data import splits
from lmrec.data.attributes import SideAttributes
from lmrec.data.catalog import ItemCatalog
from lmrec.data.interactions import Interactions
from lmrec.data.leakage import assert_disjoint, check_split
from lmrec.data.loaders import load_dataset, load_movielens_file
from lmrec.data.raw import RawLog
from lmrec.errors import ConfigError
from lmrec.eval.rating import mae, rmse
from lmrec.experiment.attributes import load_attribute_tables
from lmrec.experiment.config import Experiment, ModelSpec
from lmrec.experiment.prepare import clean_given_split, cleaning_config
from lmrec.experiment.search import candidates
from lmrec.experiment.tuning import flag_edges
from lmrec.models.registry import get_model_class, make_model
from lmrec.resources import measure

VALID_FRACTION = 0.1


@dataclass
class Fold:
    """One train/test pair, cleaned and checked, with its validation carve-out of train."""

    name: str
    split: splits.Split
    fit_part: Interactions
    valid_part: Interactions
    facts: dict[str, Any] = field(default_factory=dict)
    catalog: ItemCatalog | None = None
    """The item catalog read with the train file (for `attributes: {item: {source: catalog}}`)."""
    attributes: SideAttributes = field(default_factory=SideAttributes)
    """User and item attributes for this fold's vocabularies (models with `uses_attributes`)."""


def _load_part(exp: Experiment, ref: str, data_path: str | None) -> RawLog:
    """A fold file: a path, or an official MovieLens fold name (u1.base ...) of the dataset."""
    path = exp.resolve(ref)
    if path is not None and path.exists():
        kwargs: dict[str, Any] = dict(exp.dataset.options)
        if exp.dataset.format:
            kwargs["format"] = exp.dataset.format
        if exp.dataset.columns:
            kwargs["columns"] = exp.dataset.columns
        return load_dataset(str(path), **kwargs)
    location = data_path or (str(exp.resolve(exp.dataset.path)) if exp.dataset.path else None)
    if location is None and exp.dataset.name is None:
        raise ConfigError(f"fold file {ref!r} does not exist and the experiment names no dataset")
    return load_movielens_file(location if location is not None else str(exp.dataset.name), ref)


def _predict(model: Any, part: Interactions) -> np.ndarray:
    return np.asarray(model.predict(part.users, part.items), dtype=np.float64)


def _require_ratings(part: Interactions, what: str) -> np.ndarray:
    if part.ratings is None:
        raise ConfigError(f"task=rating needs explicit ratings, but the {what} part has none")
    return part.ratings.astype(np.float64)


def load_fold(exp: Experiment, train_ref: str, test_ref: str, data_path: str | None) -> Fold:
    """Load, clean and leakage-check one fold; carve the validation part out of its train part."""
    parts = {"train": _load_part(exp, train_ref, data_path), "test": _load_part(exp, test_ref, data_path)}
    split, reports = clean_given_split(parts, cleaning_config(exp.cleaning.options))
    leak = check_split(split)
    assert_disjoint(split.train, split)
    fit_part, valid_part = splits.holdout_ratings(split.train, frac=VALID_FRACTION, seed=exp.seed)
    return Fold(
        name=f"{train_ref} -> {test_ref}",
        split=split,
        catalog=parts["train"].catalog,
        fit_part=fit_part,
        valid_part=valid_part,
        facts={
            "cleaning": {k: r.to_dict() for k, r in reports.items()},
            "leakage_check": leak.to_dict(),
            "rows": {"fit": len(fit_part), "valid": len(valid_part), "test": len(split.test)},
        },
    )


def _describe(attributes: SideAttributes) -> dict[str, Any]:
    """What the fold's attribute rows hold, for results.json: groups and widths, ids without a row."""
    out: dict[str, Any] = {}
    for side, given in (("user", attributes.user), ("item", attributes.item)):
        if given is not None:
            out[side] = {"groups": dict(given.groups), "ids_without_row": given.missing_rows}
    return out


def run_fold(exp: Experiment, spec: ModelSpec, fold: Fold, log: Callable[[str], None]) -> dict[str, Any]:
    """Select on the validation carve-out, refit on the whole train part, score the test part once."""
    trials: list[dict[str, Any]] = []  # JSON records: params, valid_rmse
    valid_truth = _require_ratings(fold.valid_part, "validation")
    side = fold.attributes if get_model_class(spec.name).uses_attributes else None
    for params in candidates(spec, np.random.default_rng(exp.seed)):
        model = make_model(spec.name, params).fit(fold.fit_part, seed=exp.seed, attributes=side)
        err = rmse(valid_truth, _predict(model, fold.valid_part))
        trials.append({"params": params, "valid_rmse": float(err)})
        log(f"{spec.display} {fold.name}: {params} valid RMSE={err:.4f}")
    best = min(trials, key=lambda t: t["valid_rmse"])
    edge = flag_edges(spec, best["params"])  # rating folds do not widen: the selection is flagged
    with measure() as m_fit:
        model = make_model(spec.name, best["params"]).fit(fold.split.train, seed=exp.seed, attributes=side)
    with measure() as m_pred:
        pred = _predict(model, fold.split.test)
    truth = _require_ratings(fold.split.test, "test")
    result = {"RMSE": float(rmse(truth, pred)), "MAE": float(mae(truth, pred)), "n_test": int(truth.size)}
    log(f"{spec.display} {fold.name}: test RMSE={result['RMSE']:.4f} MAE={result['MAE']:.4f}")
    return {
        "fold": fold.name,
        "selected": best["params"],
        "trials": trials,
        **({"edge": edge} if edge else {}),
        "test": result,
        "timings": {"fit": m_fit.to_dict(), "predict": m_pred.to_dict()},
    }


def run_rating(
    exp: Experiment, *, console: Console | None = None, data_path: str | None = None
) -> dict[str, Any]:
    """All models over all folds; returns a JSON-able dict with per-fold and mean RMSE/MAE."""
    log: Callable[[str], None] = console.log if console is not None else (lambda _m: None)
    unfit = [s.display for s in exp.models if not get_model_class(s.name).predicts_ratings]
    if unfit:  # refused before any data is read
        raise ConfigError(
            f"task=rating needs models that predict ratings (capability predicts_ratings); {unfit} do "
            "not: use a rating model such as biasedmf or bayesfm"
        )
    given: list[dict[str, str | None]] = [dict(f) for f in exp.split.folds] or [
        {"train": exp.split.train, "test": exp.split.test}
    ]
    refs: list[tuple[str, str]] = []
    for f in given:
        train_ref, test_ref = f.get("train"), f.get("test")
        if not train_ref or not test_ref:
            raise ConfigError(f"split.folds entries need train and test, got {f}")
        refs.append((train_ref, test_ref))
    folds = [load_fold(exp, train_ref, test_ref, data_path) for train_ref, test_ref in refs]
    tables = load_attribute_tables(exp, catalog=folds[0].catalog, data_path=data_path)
    for fold in folds:
        fold.attributes = tables.encode(fold.split.train.user_vocab, fold.split.train.item_vocab)
        fold.facts["attributes"] = _describe(fold.attributes)
    models = []
    for spec in exp.models:
        results = [run_fold(exp, spec, fold, log) for fold in folds]
        mean = {k: float(np.mean([r["test"][k] for r in results])) for k in ("RMSE", "MAE")}
        models.append({"label": spec.display, "model": spec.name, "folds": results, "mean": mean})
    return {
        "task": "rating",
        "validation": f"seeded {VALID_FRACTION:.0%} per-user carve-out of each train fold",
        "folds": [{"name": f.name, **f.facts} for f in folds],
        "models": models,
    }
