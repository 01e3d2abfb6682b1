"""Partial results of a run, and resuming a stopped run from them.

After every finished model, `lmrec run` writes `partial_results.json` (what results.json would hold for the
models done so far) and `partial_per_user.parquet` (their per-user test metrics, which the paired tests
need). A run stopped late (a time limit, a crash in a later model) keeps them; `lmrec run --resume` then
reuses every finished model whose specification is unchanged, under an unchanged data, split and
evaluation setup, and trains only the rest. Both files are removed when results.json is complete.

A model stopped in the middle of training loses less: sequence models save training checkpoints in the
run's `checkpoints/` folder (`lmrec.models.sequential.checkpoint`: at the end of an epoch, once two minutes
have passed since the previous save, and after the last epoch), and under `--resume` the same fit (same
configuration, seed, data and catalog) continues from its last saved epoch to the same result; its fit time
in results.json includes the training time spent before the stop (`resumed_seconds`). A run without
`--resume` starts from scratch and clears that folder; a completed run removes it.

Resumed models carry no fitted object: hybrids whose components were resumed train those components
again (with the same seed, so to the same numbers), and `save_models` cannot save them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lmrec.errors import ConfigError
from lmrec.experiment.config import Experiment, ModelSpec
from lmrec.experiment.report import jsonable, write_json
from lmrec.experiment.run_files import recommendations_frame
from lmrec.experiment.runner import ModelRun
from lmrec.experiment.tuning import Trial

PARTIAL = "partial_results.json"
PARTIAL_USERS = "partial_per_user.parquet"
PARTIAL_LISTS = "partial_recommendations.parquet"
CHECKPOINTS = "checkpoints"

_NOT_SETUP = ("models", "threads", "ray", "output", "save_models", "name", "base_dir", "protocol")
"""Experiment fields that do not change a finished model's numbers (the models are compared one by one)."""


_NOT_EVALUATION = ("pairs", "significance")
"""Evaluation options that only add tests between finished models."""


def setup_fingerprint(exp: Experiment) -> str:
    """Hash of everything but the models that decides a model's numbers: data, cleaning, split,
    evaluation and seed."""
    setup = {k: v for k, v in dataclasses.asdict(exp).items() if k not in _NOT_SETUP}
    setup["evaluation"] = {k: v for k, v in setup["evaluation"].items() if k not in _NOT_EVALUATION}
    return _digest(setup)


_NEW_SEARCH_KEYS = {"optuna": None, "n_trials": None, "pruner": None, "widen": False}
"""Search options added in 0.4.0 (issue 22), left out of the fingerprint at their defaults so that a run
stopped under an older lmrec still resumes."""


def spec_fingerprint(spec: ModelSpec) -> str:
    record = dataclasses.asdict(spec)
    search = record.get("search")
    if isinstance(search, dict):
        record["search"] = {k: v for k, v in search.items() if _NEW_SEARCH_KEYS.get(k, ...) != v}
    return _digest(record)


def _digest(obj: Any) -> str:
    text = json.dumps(jsonable(obj), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_record(run: ModelRun) -> dict[str, Any]:
    """A finished model as results.json (and the partial file) stores it."""
    return {
        "label": run.label,
        "model": run.spec.name,
        "spec_fingerprint": spec_fingerprint(run.spec),
        "trials": [dataclasses.asdict(t) for t in run.trials],
        "selected": run.selected,
        "config": run.config,
        "signature": run.signature,
        "components": run.components,
        "test": run.test,
        "timings": run.timings,
        **({"augmentation": run.augmentation} if run.augmentation is not None else {}),
        **({"search": run.search} if run.search else {}),
        **({"edge": run.edge} if run.edge else {}),
        **({"resumed": True} if run.resumed else {}),
    }


def write_partial(folder: Path, exp: Experiment, header: dict[str, Any], runs: list[ModelRun]) -> None:
    """Write the finished models' results and per-user metrics (after every model)."""
    per_user = pd.concat([r.per_user.assign(model=r.label) for r in runs], ignore_index=True)
    per_user.to_parquet(folder / PARTIAL_USERS, index=False, compression="zstd")  # committed with partials
    lists = recommendations_frame(runs)  # the evaluated lists, for the report of the resumed run
    if lists is not None:
        lists.to_parquet(folder / PARTIAL_LISTS, index=False, compression="zstd")
    payload = {
        **header,
        "complete": False,
        "setup_fingerprint": setup_fingerprint(exp),
        "models": [run_record(r) for r in runs],
    }
    write_json(folder / PARTIAL, payload)


def remove_partial(folder: Path) -> None:
    for name in (PARTIAL, PARTIAL_USERS, PARTIAL_LISTS):
        (folder / name).unlink(missing_ok=True)
    remove_checkpoints(folder)


def remove_checkpoints(folder: Path) -> None:
    """Delete the run's training checkpoints (only `*.pt` files, then the folder if it is empty)."""
    path = folder / CHECKPOINTS
    if not path.is_dir():
        return
    for f in [*path.glob("*.pt"), *path.glob("*.pt.tmp")]:
        f.unlink()
    if not any(path.iterdir()):
        path.rmdir()


def load_finished(folder: Path, exp: Experiment) -> list[ModelRun]:
    """The models of a stopped run in `folder` that `exp` can reuse: the leading models whose spec is
    unchanged (in the experiment's order). Raises a ConfigError naming the difference when the partial
    results come from another setup, or when their per-user file is missing."""
    path = folder / PARTIAL
    if not path.exists():
        return []
    saved = json.loads(path.read_text())
    where = f"{path}"
    if "setup_fingerprint" not in saved:
        raise ConfigError(
            f"{where} was written by an lmrec version without resume support (no per-user metrics); "
            "run without --resume"
        )
    if saved["setup_fingerprint"] != setup_fingerprint(exp):
        raise ConfigError(
            f"{where} comes from a different data, cleaning, split, evaluation or seed setup than "
            f"{exp.name!r}; run without --resume (or with another --out)"
        )
    users_path = folder / PARTIAL_USERS
    if not users_path.exists():
        raise ConfigError(
            f"{where}: its per-user metrics {users_path.name} are missing; run without --resume"
        )
    per_user = pd.read_parquet(users_path)
    lists_path = folder / PARTIAL_LISTS
    lists = pd.read_parquet(lists_path) if lists_path.exists() else None
    done = []
    for spec, record in zip(exp.models, saved["models"], strict=False):
        if record["spec_fingerprint"] != spec_fingerprint(spec) or record["label"] != spec.display:
            break  # the experiment changed from this model on: train it and the rest again
        rows = per_user[per_user["model"] == spec.display].drop(columns="model").reset_index(drop=True)
        if rows.empty:
            raise ConfigError(f"{users_path}: no per-user rows for the finished model {spec.display!r}")
        done.append(
            ModelRun(
                spec=spec,
                trials=[Trial(**t) for t in record["trials"]],
                selected=record["selected"],
                test=record["test"],
                per_user=rows,
                timings=record["timings"],
                config=record["config"],
                signature=record["signature"],
                components=record["components"],
                augmentation=record.get("augmentation"),
                search=record.get("search", {}),
                edge=record.get("edge", []),
                resumed=True,
                lists=_lists_of(lists, spec.display, rows["user"].to_numpy()),
            )
        )
    return done


def _lists_of(lists: pd.DataFrame | None, label: str, users: np.ndarray) -> np.ndarray | None:
    """A finished model's saved top lists as a users x L array (rows as `users`, -1 = empty slot); None
    when the stopped run did not keep them (an older lmrec) or they do not cover its users."""
    if lists is None:
        return None
    rows = lists[lists["model"] == label].set_index("user")["items"]
    if not rows.index.is_unique or not np.isin(users, rows.index).all():
        return None
    chosen = [np.asarray(rows.loc[u], dtype=np.int32) for u in users]
    width = max((r.size for r in chosen), default=0)
    out = np.full((len(chosen), width), -1, dtype=np.int32)
    for i, r in enumerate(chosen):
        out[i, : r.size] = r
    return out
