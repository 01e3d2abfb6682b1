"""Bayesian hyper-parameter search with Optuna: `search: {optuna: SPACE, n_trials: N, pruner: median|none}`.

The space has random search's syntax (`lmrec.experiment.search`): a list of choices, or {uniform |
loguniform | int: [low, high]}. Choices go to Optuna as their positions, so a choice may be any value (a
list, a mapping); TPE treats them as unordered either way.

Sampler: Optuna's TPE, seeded from the experiment seed. Every fit is seeded too, so the same file on the
same data gives the same trials. The first `startup_trials(n)` trials are the sampler's random draws (a
third of the budget, at most Optuna's default of 10, so a budget of 12 still leaves TPE 8 trials to
learn from).

Trials run one after the other in the driver process, never as parallel (Ray) tasks, even when the run
has an engine: each proposal depends on the scores of the trials before it, and running them in order is
what keeps the search deterministic.

Pruning (`pruner: median`, the default): a model that trains in epochs (`reports_epochs`: the sequence
models) reports its validation score after every evaluation (`FitContext.epoch_report`), and Optuna's
MedianPruner stops the trial when that score is below the median of the earlier trials' scores at the same
epoch, once `min(5, startup)` trials have finished. The stopped model keeps its best weights so far, is
scored on validation like any trial and recorded as `pruned`; a pruned trial is never selected (the search
cut its training; it did not end by itself). Other models are never pruned.

Repeats: a proposal equal to an earlier trial's params (likely with lists of choices and small int ranges)
is not fitted again; the study is told the earlier outcome and the trial, which counts against
`n_trials`, is recorded with `repeat_of`.

optuna is imported here only (the `tune` extra).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from lmrec.experiment.config import ModelSpec
from lmrec.experiment.tuning import Fitted, Trial

EpochReport = Callable[[int, float], bool]
"""(epoch, validation value) -> stop the training now."""


def startup_trials(n_trials: int) -> int:
    """Random trials before TPE models the scores: a third of the budget, at least 1, at most 10."""
    return min(10, max(1, n_trials // 3))


def distributions(space: Mapping[str, Any]) -> dict[str, Any]:
    """Optuna distributions of a space in random search's syntax (already checked by the schema)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for key, entry in space.items():
        if isinstance(entry, list):
            out[key] = CategoricalDistribution(list(range(len(entry))))
            continue
        ((kind, (low, high)),) = entry.items()
        if kind == "int":
            out[key] = IntDistribution(int(low), int(high))
        else:
            out[key] = FloatDistribution(float(low), float(high), log=kind == "loguniform")
    return out


def _values(space: Mapping[str, Any], suggested: Mapping[str, Any]) -> dict[str, Any]:
    return {k: space[k][v] if isinstance(space[k], list) else v for k, v in suggested.items()}


def optuna_trials(
    spec: ModelSpec,
    *,
    seed: int,
    fit: Callable[[dict[str, Any], EpochReport | None], Fitted],
    score: Callable[[Trial], float],
    prunable: bool,
    facts: dict[str, Any],
) -> Iterator[Fitted]:
    """The trials of `spec`'s Optuna search, in order: `fit(params, report)` fits and scores one candidate
    on validation (report: the pruning hook, or None); `score` reads a trial's selection metric (higher
    is better). `facts` gets the sampler and pruner used, for results.json."""
    import optuna
    from optuna.trial import TrialState

    search = spec.search
    assert search is not None and search.optuna is not None
    space, n = search.optuna, search.trials
    startup = startup_trials(n)
    pruning = prunable and search.pruner != "none"
    pruner = optuna.pruners.MedianPruner(n_startup_trials=min(5, startup)) if pruning else None
    facts.update(
        sampler=f"TPE, seed {seed}, {startup} random startup trials",
        pruner="median" if pruning else "none",
    )
    if search.pruner != "none" and not prunable:
        facts["pruner"] = "none (the model does not train in epochs)"
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # lmrec logs every trial itself
    try:
        study = optuna.create_study(
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup),
            pruner=pruner or optuna.pruners.NopPruner(),
        )
        dists = distributions(space)
        done: list[tuple[dict[str, Any], Trial, list[tuple[int, float]]]] = []  # params, trial, reports
        for _ in range(n):
            asked = study.ask(dists)
            params = {**spec.params, **_values(space, asked.params)}
            earlier = next((i for i, (p, _t, _r) in enumerate(done) if p == params), None)
            model: Any = None
            if earlier is not None:
                _p, first, reports = done[earlier]
                trial, timing = (
                    dataclasses.replace(first, fit_seconds=0.0, repeat_of=earlier),
                    dict[str, Any](),
                )
                for step, value in reports:  # the pruner's statistics see what the first fit reported
                    asked.report(value, step)
            else:
                reports = []

                def report(epoch: int, value: float, asked: Any = asked, reports: Any = reports) -> bool:
                    reports.append((epoch, value))
                    asked.report(value, epoch)
                    return bool(asked.should_prune())

                trial, model, timing = fit(params, report if pruning else None)
            if trial.pruned:
                study.tell(asked, state=TrialState.PRUNED)
            else:
                study.tell(asked, score(trial))
            done.append((params, trial, reports))
            yield trial, model, timing
            del model  # the caller keeps the best one
    finally:
        optuna.logging.set_verbosity(verbosity)
