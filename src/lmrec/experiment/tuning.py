"""The search stage of a model: fit every candidate on train, score it on validation, keep the best.

Grid and random candidates are known in advance, so they can run as parallel tasks of an engine (Ray); a
grid with `widen: true` whose selection sits on an edge of a numeric parameter's grid gets further rounds
with that grid extended one step (`search.step_beyond`), and a selection still on an edge at the end is
flagged (a WARNING on the `lmrec.search` logger, `edge` in results.json). Optuna proposes each candidate
from the scores before it, so its trials run one after the other in this process
(`lmrec.experiment.optuna_search`). Selection reads the validation scores only, never the test split.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lmrec.distributed import Engine
from lmrec.errors import ConfigError
from lmrec.eval.metrics import parse_metric
from lmrec.experiment.config import MAX_WIDENINGS, Experiment, ModelSpec
from lmrec.experiment.search import candidates, grid_edges, step_beyond
from lmrec.models.base import Recommender
from lmrec.models.fit_context import FitContext
from lmrec.models.params import build_config
from lmrec.models.registry import get_model_class

log = logging.getLogger("lmrec.search")
"""Where a selection on the edge of its grid is flagged (`lmrec run` shows it on its progress console)."""

Fitted = tuple["Trial", Recommender | None, dict[str, Any]]
"""A trial, its fitted model (None when it was not fitted: an Optuna repeat) and the fit's timing."""


@dataclass
class Trial:
    """One configuration tried on the validation split."""

    params: dict[str, Any]
    valid: dict[str, float]
    fit_seconds: float
    training: dict[str, Any] = field(default_factory=dict)
    """Training log headline of models that train in epochs (epochs run, best epoch, s/epoch)."""
    pruned: bool = False
    """Stopped by the search's pruner (Optuna) before its training ended; never selected."""
    repeat_of: int | None = None
    """Index of the earlier trial with the same params (an Optuna proposal seen before: not fitted again,
    its score is the earlier one's)."""
    fit_of: int | None = None
    """Index of the earlier trial whose fitted model this one reuses, rescored: the two differ only in the
    model's `scoring_params` (`Recommender.rescored`), so this trial was not fitted."""


@dataclass
class Tuned:
    """What the search of one model found."""

    trials: list[Trial]
    best: Trial
    kept: tuple[float, Recommender, dict[str, Any]] | None
    """The best trial's score, fitted model and fit timing (None without validation)."""
    facts: dict[str, Any]
    """How the search ran (method, trials, fits, pruned, widenings, seconds), for results.json."""
    edge: list[str]
    """Numeric grid parameters whose selected value is the smallest or largest of the (final) grid."""
    parallel: bool
    """Candidates ran as engine tasks."""


def select_key(summary: dict[str, Any], label: str) -> str:
    """The summary key of the selection metric (sampled runs carry a "[sampled-k]" suffix)."""
    if label in summary:
        return label
    for key in summary:
        if key.startswith(label + "["):
            return key
    raise KeyError(f"selection metric {label} is not among the evaluated metrics {sorted(summary)}")


@dataclass
class _Search:
    """The trials of one search so far and the best fitted model (the others are dropped at once)."""

    spec: ModelSpec
    key: str
    has_valid: bool
    say: Callable[[str], None]
    trials: list[Trial] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    """Each trial's place in the search's candidate list (grid order, then widening rounds), which ties
    are broken by: a search that runs its candidates in another order selects what a Ray search does."""
    kept: tuple[float, Recommender, dict[str, Any]] | None = None
    kept_position: int = -1

    def score(self, trial: Trial) -> float:
        return float(trial.valid[select_key(trial.valid, self.key)])

    def add(
        self,
        trial: Trial,
        model: Recommender | None,
        timing: dict[str, Any],
        of: int,
        position: int | None = None,
    ) -> None:
        """Record a trial; `position`: its place among the candidates (default: the order trials come in)."""
        position = len(self.trials) if position is None else position
        self.trials.append(trial)
        self.positions.append(position)
        if not self.has_valid:
            return
        value, note = self.score(trial), ""
        if trial.pruned:
            note = f" (pruned after epoch {trial.training.get('epochs_run')})"
        elif trial.repeat_of is not None:
            note = f" (repeats trial {trial.repeat_of + 1}: not fitted again)"
        key, count = select_key(trial.valid, self.key), f"[{len(self.trials)}/{of}]"
        self.say(f"{self.spec.display} {count} {trial.params} valid {key}={value:.4f}{note}")
        eligible = model is not None and not trial.pruned
        if eligible and (self.kept is None or (value, -position) > (self.kept[0], -self.kept_position)):
            assert model is not None
            self.kept, self.kept_position = (value, model, timing), position

    def best(self) -> Trial:
        """The selected trial: the highest validation score among the trials not pruned (of equals, the
        earliest candidate); without validation, the only candidate."""
        if not self.has_valid:
            return self.trials[0]
        ranked = [
            (self.score(t), -p, i) for i, (t, p) in enumerate(zip(self.trials, self.positions, strict=True))
            if not t.pruned
        ]  # fmt: skip
        return self.trials[max(ranked)[2]]


def tune(
    exp: Experiment,
    spec: ModelSpec,
    *,
    run: Callable[..., Fitted],
    inputs: dict[str, Any],
    context: FitContext,
    prepare: Callable[[dict[str, Any]], dict[str, Any]],
    engine: Engine | None = None,
    console: Console | None = None,
    progress: bool = False,
) -> Tuned:
    """Search `spec`'s candidates on validation: `run(params, **inputs, context=...)` fits and scores one
    (`runner.run_trial`, also as an engine task); `prepare` completes a candidate's params (the run's
    thread count for torch models)."""
    say: Callable[[str], None] = console.log if console is not None else (lambda _msg: None)
    search, klass = spec.search, get_model_class(spec.name)
    method = "fixed" if search is None else search.method
    has_valid = inputs.get("valid_users") is not None
    state = _Search(spec, parse_metric(exp.select_by).key, has_valid, say)
    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, disable=not progress or console is None, transient=True,
    )  # fmt: skip
    facts: dict[str, Any] = {"method": method}
    started, parallel = time.perf_counter(), False
    with bar:
        task = bar.add_task(f"tuning {spec.display} on validation", total=None)
        if method == "optuna":
            assert search is not None
            _no_search_without_validation(spec, has_valid)
            from lmrec.experiment.optuna_search import optuna_trials

            def fit(params: dict[str, Any], report: Callable[[int, float], bool] | None) -> Fitted:
                hooked = dataclasses.replace(context, epoch_report=report)
                return run(prepare(params), **inputs, context=hooked)

            bar.update(task, total=search.trials)
            say(f"{spec.display}: {search.trials} Optuna trials, one after the other in this process")
            trials = optuna_trials(
                spec, seed=exp.seed, fit=fit, score=state.score, prunable=klass.reports_epochs, facts=facts
            )
            for trial, model, timing in trials:
                state.add(trial, model, timing, search.trials)
                bar.advance(task)
        else:
            cands = [prepare(c) for c in candidates(spec, np.random.default_rng(exp.seed))]
            if len(cands) > 1:
                _no_search_without_validation(spec, has_valid)
            parallel = bool(
                engine is not None and engine.parallel and klass.parallel_trials and len(cands) > 1
                and (exp.ray is None or exp.ray.search)
            )  # fmt: skip
            threads = exp.threads or 1
            rounds = _Rounds(
                state,
                run,
                inputs,
                context,
                engine if parallel else None,
                bar,
                task,
                threads,
                progress,
                klass.scoring_params,
            )
            rounds(cands)
            if method == "grid" and search is not None and search.widen and has_valid:
                facts["widened"] = _widen(spec, state, rounds, cands, prepare, klass.config_class)
    best = state.best()
    edge = flag_edges(spec, best.params, facts.get("widened", [])) if method == "grid" and has_valid else []
    facts.update(
        trials=len(state.trials),
        fits=sum(t.repeat_of is None and t.fit_of is None for t in state.trials),
        pruned=sum(t.pruned for t in state.trials),
        seconds=round(time.perf_counter() - started, 3),
    )
    return Tuned(state.trials, best, state.kept, facts, edge, parallel)


def _no_search_without_validation(spec: ModelSpec, has_valid: bool) -> None:
    if not has_valid:
        raise ValueError(f"model {spec.display}: a search needs a validation split, and this split has none")


def flag_edges(
    spec: ModelSpec, selected: dict[str, Any], widened: list[dict[str, Any]] | None = None
) -> list[str]:
    """The grid parameters whose selected value is an end of their grid (with the values `widened` added),
    each flagged with a WARNING on the `lmrec.search` logger; [] for a search without a grid."""
    if spec.search is None or spec.search.grid is None:
        return []
    widened = widened or []
    grid = {k: list(v) for k, v in spec.search.grid.items()}
    for added in widened:
        for key, value in added.items():
            grid[key].append(value)
    edges = grid_edges(grid, selected)
    for key, side in edges.items():
        values = sorted(v for v in grid[key] if isinstance(v, int | float))
        tail = f" (after {len(widened)} widening(s))" if spec.search.widen else (
            "; extend the grid, or set `widen: true` in its search"
        )  # fmt: skip
        log.warning(
            f"WARNING: {spec.display}: the selected {key}={selected[key]!r} is the {side} value of its "
            f"grid {values}: the best value may lie beyond it{tail}"
        )
    return list(edges)


def fit_params(params: dict[str, Any], scoring: frozenset[str]) -> dict[str, Any]:
    """What a candidate's fit depends on: its params without the model's `scoring_params`."""
    return {k: v for k, v in params.items() if k not in scoring}


def scoring_values(cls: type[Recommender], params: dict[str, Any]) -> dict[str, Any]:
    """A candidate's values of `cls.scoring_params`, its config's default where the candidate sets none
    (what a fresh fit with these params would score with)."""
    fields = dataclasses.fields(cls.config_class)
    defaults = {f.name: f.default for f in fields if f.name in cls.scoring_params}
    return {k: params.get(k, defaults[k]) for k in cls.scoring_params}


def group_by_fit(cands: list[dict[str, Any]], scoring: frozenset[str]) -> list[int]:
    """The indices of `cands` reordered so that those with the same fit params follow each other (groups
    in order of first appearance, each group in its own order): one fit then serves the whole group."""
    groups: list[tuple[dict[str, Any], list[int]]] = []
    for i, cand in enumerate(cands):
        key = fit_params(cand, scoring)
        for seen, members in groups:
            if seen == key:
                members.append(i)
                break
        else:
            groups.append((key, [i]))
    return [i for _, members in groups for i in members]


@dataclass
class _Rounds:
    """Runs lists of known candidates: in this process one by one, or as one engine task each.

    In this process a candidate that differs from the one before only in the model's `scoring_params`
    reuses its fitted model, rescored (`Recommender.rescored`), instead of fitting again."""

    state: _Search
    fit: Callable[..., Fitted]
    inputs: dict[str, Any]
    context: FitContext
    engine: Engine | None
    bar: Progress
    task: Any
    threads: int
    progress: bool
    scoring: frozenset[str] = frozenset()
    total: int = 0
    last: tuple[dict[str, Any], int, Recommender, dict[str, Any]] | None = None
    """The last fit in this process: its fit params, trial index, model and fit timing."""

    def _reusable(self, params: dict[str, Any]) -> tuple[int, Recommender, dict[str, Any]] | None:
        if not self.scoring or self.last is None or self.last[0] != fit_params(params, self.scoring):
            return None
        return self.last[1], self.last[2], self.last[3]

    def __call__(self, cands: list[dict[str, Any]]) -> None:
        first = self.total  # the position of cands[0] among all the search's candidates
        self.total += len(cands)
        self.bar.update(self.task, total=self.total)
        done: list[Any] | None = None
        order = list(range(len(cands)))
        if self.engine is None and self.scoring:
            order = group_by_fit(cands, self.scoring)
        if self.engine is not None:
            label = self.state.spec.display
            self.state.say(f"{label}: {len(cands)} candidates as Ray tasks ({self.threads} CPU each)")
            done = self.engine.map(
                self.fit, cands, self.inputs, cpus_per_item=self.threads,
                describe=f"tuning {self.state.spec.display} on validation" if self.progress else None,
            )  # fmt: skip
        for i in order:
            params = cands[i]
            if done is not None:
                (trial, model, timing), done[i] = done[i], None  # only the best model is kept
            elif (reuse := self._reusable(params)) is not None:
                trial, model, rescoring = self.fit(
                    params, **self.inputs, context=self.context, reuse=reuse[1]
                )
                trial = dataclasses.replace(trial, fit_of=reuse[0])  # its fit_seconds: the rescoring's
                # the model's own cost is the fit it shares plus its rescoring (what a kept model reports)
                timing = {
                    **reuse[2],
                    "seconds": round(reuse[2]["seconds"] + rescoring["seconds"], 4),
                    "rescored_fit_of_trial": reuse[0],
                }
            else:
                self.last = None  # not held while the next fit runs (an EASE matrix each)
                trial, model, timing = self.fit(params, **self.inputs, context=self.context)
                if self.scoring and model is not None:
                    self.last = (fit_params(params, self.scoring), len(self.state.trials), model, timing)
            self.state.add(trial, model, timing, self.total, position=first + i)
            self.bar.advance(self.task)


def _widen(
    spec: ModelSpec,
    state: _Search,
    rounds: _Rounds,
    first: list[dict[str, Any]],
    prepare: Callable[[dict[str, Any]], dict[str, Any]],
    config_class: type,
) -> list[dict[str, Any]]:
    """Up to `MAX_WIDENINGS` rounds: each grid parameter whose selection sits on an edge gets the value one
    step beyond it (when the model's config accepts it), and the new combinations are searched. Returns
    the values added per round."""
    assert spec.search is not None and spec.search.grid is not None
    grid = {k: list(v) for k, v in spec.search.grid.items()}
    tried, widened = list(first), []
    for _ in range(MAX_WIDENINGS):
        best = state.best()
        added: dict[str, Any] = {}
        for key, side in grid_edges(grid, best.params).items():
            value = step_beyond(grid[key], side)
            try:
                build_config(config_class, {**best.params, key: value}, spec.name)
            except ConfigError as exc:
                state.say(f"{spec.display}: {key} cannot be widened beyond {best.params[key]!r}: {exc}")
                continue
            added[key] = value
        if not added:
            break
        for key, value in added.items():
            grid[key].append(value)
        keys = list(grid)
        new = []
        for values in itertools.product(*(grid[k] for k in keys)):
            cand = prepare({**spec.params, **dict(zip(keys, values, strict=True))})
            if cand not in tried and cand not in new:
                new.append(cand)
        at = {k: best.params[k] for k in added}
        state.say(
            f"{spec.display}: the selection {at} sits on the edge of its grid; widened by {added}: "
            f"{len(new)} new candidates"
        )
        widened.append(added)
        tried += new
        rounds(new)
    return widened
