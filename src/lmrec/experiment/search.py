"""Hyper-parameter candidates for a model: fixed params, a full grid, or seeded random draws; the edges of a
grid search's selection, and the step that widens a grid beyond one (Optuna's trials are proposed while
the search runs: `lmrec.experiment.optuna_search`)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
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
    if search.optuna is not None:
        raise ConfigError(f"model {spec.display}: optuna search proposes its candidates while it runs")
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


def space_probes(spec: ModelSpec) -> list[dict[str, Any]]:
    """Values an Optuna (or random) space can reach, for the parse-time check of what the model's config
    refuses: every choice and both bounds of each key, the other keys at their first choice or low bound,
    merged over the fixed `params`. The space must have been checked first (`schema._check_space`)."""
    search = spec.search
    space = (search.optuna or search.random or {}) if search is not None else {}
    ends = {k: list(v) if isinstance(v, list) else list(next(iter(v.values()))) for k, v in space.items()}
    first = {k: v[0] for k, v in ends.items()}
    out = [{**spec.params, **first, key: value} for key, values in ends.items() for value in values]
    unique: list[dict[str, Any]] = []
    for probe in out or [dict(spec.params)]:
        if probe not in unique:
            unique.append(probe)
    return unique


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numbers(values: list[Any]) -> list[float]:
    """The distinct numeric values of a grid, ascending."""
    return sorted({v for v in values if _is_number(v)})


def grid_edges(grid: Mapping[str, list[Any]], selected: Mapping[str, Any]) -> dict[str, str]:
    """Parameter -> "smallest" or "largest" for each numeric grid parameter (3 or more numeric values)
    whose selected value is the smallest or largest of its grid: the best value may lie beyond it."""
    out: dict[str, str] = {}
    for key, values in grid.items():
        nums, value = _numbers(values), selected.get(key)
        if len(nums) < 3 or not _is_number(value):
            continue
        if value == nums[0]:
            out[key] = "smallest"
        elif value == nums[-1]:
            out[key] = "largest"
    return out


def step_beyond(values: list[Any], side: str) -> int | float:
    """The value one step past the smallest or largest (`side`) of a grid's numeric values (3 or more).

    The step is the one at that end of the grid: a ratio when the values look log-spaced, else a
    difference. Log-spaced means all positive and the neighbours' ratios more even than their differences
    (max/min of the ratios below max/min of the differences): constant ratios (1, 10, 100) are, constant
    differences (100, 200, 300) are not, and so do grids like 1, 3, 10, 30 or 25, 50, 100, 200, 300, 500.
    A grid of integers stays integers (rounded). The caller checks that the model accepts the value (a
    step below 1, 2, 4 is 0)."""
    nums = np.asarray(_numbers(values), dtype=np.float64)
    if nums.size < 3:
        raise ValueError(f"a grid needs 3 or more numeric values to be widened, got {values}")
    diffs = np.diff(nums)
    ratios = nums[1:] / nums[:-1] if nums[0] > 0 else None
    log_spaced = ratios is not None and ratios.max() / ratios.min() < diffs.max() / diffs.min()
    if side == "largest":
        new = nums[-1] * ratios[-1] if log_spaced and ratios is not None else nums[-1] + diffs[-1]
    else:
        new = nums[0] / ratios[0] if log_spaced and ratios is not None else nums[0] - diffs[0]
    if all(isinstance(v, int) for v in values if _is_number(v)):
        return round(new)  # never the edge again: distinct integers are at least 1 apart
    return float(f"{new:.12g}")  # 1000.0, not 1000.0000000000001


def validate_models(exp: Experiment) -> None:
    """Check every candidate of every model now, so a typo fails before any data is loaded (the check
    `parse_experiment` runs; repeated here for an `Experiment` built in Python)."""
    from lmrec.experiment.schema import model_problems

    problems = model_problems(exp.models, exp.seed)
    if problems:
        raise ConfigError("; ".join(problems))
