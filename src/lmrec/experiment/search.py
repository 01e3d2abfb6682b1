"""Hyper-parameter candidates for a model: fixed params, a full grid, or seeded random draws."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from lmrec.errors import ConfigError
from lmrec.experiment.config import Experiment, ModelSpec


def _draw(space: Any, key: str, rng: np.random.Generator) -> Any:
    if isinstance(space, list):
        if not space:
            raise ConfigError(f"search space for {key!r} is an empty list")
        return space[int(rng.integers(len(space)))]
    if isinstance(space, dict) and len(space) == 1:
        kind, bounds = next(iter(space.items()))
        if not (isinstance(bounds, list) and len(bounds) == 2):
            raise ConfigError(f"search space {key!r}: {kind} needs [low, high], got {bounds!r}")
        lo, hi = bounds
        if kind == "uniform":
            return float(rng.uniform(lo, hi))
        if kind == "loguniform":
            if lo <= 0 or hi <= 0:
                raise ConfigError(f"search space {key!r}: loguniform bounds must be positive")
            return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        if kind == "int":
            return int(rng.integers(int(lo), int(hi) + 1))
        raise ConfigError(f"search space {key!r}: unknown distribution {kind!r} (uniform, loguniform, int)")
    raise ConfigError(
        f"search space {key!r} must be a list of choices or {{uniform|loguniform|int: [low, high]}}"
    )


def candidates(spec: ModelSpec, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Every configuration to try on validation, each merged over the fixed `params` (de-duplicated)."""
    base = dict(spec.params)
    search = spec.search
    if search is None:
        return [base]
    out: list[dict[str, Any]] = []
    if search.grid is not None:
        keys = list(search.grid)
        for key in keys:
            if not isinstance(search.grid[key], list) or not search.grid[key]:
                raise ConfigError(f"model {spec.display}: grid for {key!r} must be a non-empty list")
        for values in itertools.product(*(search.grid[k] for k in keys)):
            out.append({**base, **dict(zip(keys, values, strict=True))})
    elif search.random is not None:
        if search.n_iter <= 0:
            raise ConfigError(f"model {spec.display}: search.n_iter must be positive")
        for _ in range(search.n_iter):
            out.append({**base, **{k: _draw(v, k, rng) for k, v in search.random.items()}})
    else:
        return [base]
    unique: list[dict[str, Any]] = []
    for cand in out:
        if cand not in unique:
            unique.append(cand)
    return unique


def validate_models(exp: Experiment) -> None:
    """Check every candidate of every model now, so a typo fails before any data is loaded (the check
    `parse_experiment` runs; repeated here for an `Experiment` built in Python)."""
    from lmrec.experiment.schema import model_problems

    problems = model_problems(exp.models, exp.seed)
    if problems:
        raise ConfigError("; ".join(problems))
