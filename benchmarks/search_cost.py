"""Search cost (issue 22, item 3): Optuna against grid search at an equal trial budget, on P1.

For each model the grid arm is the grid of the experiment file (`benchmarks/configs/p1_ml100k.yaml`: its
data, cleaning, split, evaluation, threads and seed), and the Optuna arm searches the box that grid spans
with as many trials as the grid has candidates: a numeric parameter becomes {int: [min, max]} when the
grid holds integers, {loguniform: [min, max]} when it spans a factor of 10 or more, else {uniform: [min,
max]}; anything else stays a list of choices. TPE is seeded from the run's seed, median pruning is on
(it only acts on models that train in epochs). Both arms run through `lmrec.experiment.runner.run_model`
in this process, one trial after the other, so selection is on validation only and the wall times are
comparable (after one untimed warm-up fit per model, the arms alternating which goes first over the
seeds); the test split is scored once per arm, with the selected configuration, for reference.

Per model, arm and seed the results record the best validation NDCG@10 reached, the running best after
every trial, the trial at which the arm first reached its best, the search's wall time (fits and
validation scoring, not the refit or the test), fits, pruned trials, the selected configuration and its
test NDCG@10. With more seeds (`--seeds`), TPE's sampling and the models' initialisations change; the
split (temporal) does not.

Models: ease (reg), als (factors, reg, alpha at iterations 15), rp3beta (alpha, beta, k) from the config;
`--models ease als rp3beta sasrec` adds a SASRec search (learning rate x dropout, early stopping on
validation), where pruning can act (slow: about an hour per seed on two cores; `--seeds 42` keeps one).

Usage (one command; the full run takes about 20-40 minutes on two cores):
    LMREC_DATA_HOME=../shared/data .venv/bin/python benchmarks/search_cost.py
`--quick`: small grids and one seed, for checking that the script works (a minute or two), written to
benchmarks/results/search_cost_quick unless --out says otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
METRIC = "NDCG@10"

SASREC = {
    "params": {"embedding_size": 64, "max_len": 50, "epochs": 30, "patience": 3},
    "grid": {"learning_rate": [0.0003, 0.001, 0.003], "dropout": [0.2, 0.5]},
}
"""The opt-in epoch-trained model (not in P1's config). An epoch takes 10-15 s on ML-100K's P1 train split
on two busy cores, so a trial takes minutes and the two arms about an hour per seed."""

QUICK = {
    "ease": {"params": {}, "grid": {"reg": [100, 300, 1000]}},
    "als": {"params": {"iterations": 5}, "grid": {"factors": [16, 32], "reg": [1.0, 10.0]}},
    "rp3beta": {"params": {}, "grid": {"alpha": [0.5, 1.0], "beta": [0.2, 0.4]}},
    "sasrec": {
        "params": {"embedding_size": 16, "max_len": 50, "epochs": 3, "patience": 2},
        "grid": {"learning_rate": [0.001, 0.003], "dropout": [0.2, 0.5]},
    },
}


def optuna_space(grid: dict[str, list[Any]]) -> dict[str, Any]:
    """The box a grid spans, in the experiment files' space syntax (see the module docstring)."""
    space: dict[str, Any] = {}
    for key, values in grid.items():
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(numbers) != len(values) or len(set(numbers)) < 2:
            space[key] = list(values)
            continue
        low, high = min(numbers), max(numbers)
        if all(isinstance(v, int) for v in numbers):
            space[key] = {"int": [low, high]}
        elif low > 0 and high / low >= 10:
            space[key] = {"loguniform": [float(low), float(high)]}
        else:
            space[key] = {"uniform": [float(low), float(high)]}
    return space


def budget(grid: dict[str, list[Any]]) -> int:
    return int(np.prod([len(v) for v in grid.values()]))


def model_setups(exp: Any, names: list[str], quick: bool) -> dict[str, dict[str, Any]]:
    """Fixed params and grid of every benchmarked model: the experiment file's, SASREC, or QUICK's."""
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        if quick:
            out[name] = QUICK[name]
            continue
        spec = next((m for m in exp.models if m.name == name and m.search and m.search.grid), None)
        if spec is not None:
            assert spec.search is not None and spec.search.grid is not None
            out[name] = {"params": dict(spec.params), "grid": dict(spec.search.grid)}
        elif name == "sasrec":
            out[name] = SASREC
        else:
            raise SystemExit(f"{name}: no grid search for it in the experiment file")
    return out


def run_arm(exp: Any, prep: Any, name: str, setup: dict[str, Any], arm: str, console: Any) -> dict[str, Any]:
    from lmrec.experiment.runner import run_model
    from lmrec.experiment.schema import as_document, parse

    search: dict[str, Any] = {"grid": setup["grid"]}
    if arm == "optuna":
        search = {
            "optuna": optuna_space(setup["grid"]),
            "n_trials": budget(setup["grid"]),
            "pruner": "median",
        }
    doc = as_document(exp)
    doc["models"] = [{"name": name, "label": f"{name} {arm}", "params": setup["params"], "search": search}]
    checked = parse(doc, base_dir=exp.base_dir)  # the same schema check as an experiment file's
    run = run_model(checked, checked.models[0], prep, console=console)
    scores = [
        float("nan") if t.pruned else float(t.valid[METRIC]) for t in run.trials
    ]  # a pruned trial cannot be selected, so it does not raise the running best
    running = np.fmax.accumulate(np.nan_to_num(scores, nan=-np.inf))
    best = float(running[-1])
    return {
        "model": name,
        "arm": arm,
        "seed": exp.seed,
        "budget": budget(setup["grid"]),
        "search": search,
        "trials": len(run.trials),
        "fits": run.search["fits"],
        "pruned": run.search["pruned"],
        f"best_valid_{METRIC}": best,
        "trial_reaching_best": int(np.argmax(running >= best)) + 1,
        "running_best": [round(float(v), 6) for v in running],
        "search_seconds": run.search["seconds"],
        "fit_seconds_total": round(sum(t.fit_seconds for t in run.trials), 3),
        "selected": run.selected,
        f"test_{METRIC}": float(run.test[METRIC]),
        "edge": run.edge,
        "sampler": run.search.get("sampler"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def warm_up(exp: Any, prep: Any, name: str, setup: dict[str, Any]) -> None:
    """One untimed fit of the grid's first candidate, so neither arm pays for first-call costs (BLAS
    threads, imports, caches) in its wall time; the arms also alternate which goes first over the seeds.
    Skipped for models that train in epochs (a fit costs minutes; their first-call costs are small next to
    it)."""
    from lmrec.models.registry import get_model_class, make_model

    if get_model_class(name).reports_epochs:
        return
    first = {k: v[0] for k, v in setup["grid"].items()}
    make_model(name, {**setup["params"], **first}).fit(prep.split.train, seed=exp.seed)


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model: both arms' best validation score and search wall time (means over seeds), and the trial
    at which Optuna first matched the grid's best (None when it never did)."""
    out = []
    frame = pd.DataFrame(rows)
    for name, group in frame.groupby("model", sort=False):
        grid, opt = group[group["arm"] == "grid"], group[group["arm"] == "optuna"]
        matched = []
        for _, o in opt.iterrows():
            target = float(grid[grid["seed"] == o["seed"]][f"best_valid_{METRIC}"].iloc[0])
            hits = [i + 1 for i, v in enumerate(o["running_best"]) if v >= round(target, 6)]
            matched.append(hits[0] if hits else None)
        out.append(
            {
                "model": name,
                "budget": int(group["budget"].iloc[0]),
                "seeds": len(opt),
                f"grid best valid {METRIC}": float(grid[f"best_valid_{METRIC}"].mean()),
                f"optuna best valid {METRIC}": float(opt[f"best_valid_{METRIC}"].mean()),
                "optuna − grid": float(
                    opt[f"best_valid_{METRIC}"].mean() - grid[f"best_valid_{METRIC}"].mean()
                ),
                "optuna ≥ grid (seeds)": int(
                    sum(
                        float(o[f"best_valid_{METRIC}"])
                        >= float(grid[grid["seed"] == o["seed"]][f"best_valid_{METRIC}"].iloc[0]) - 1e-12
                        for _, o in opt.iterrows()
                    )
                ),
                "grid search_s": float(grid["search_seconds"].mean()),
                "optuna search_s": float(opt["search_seconds"].mean()),
                "optuna trial matching grid best": matched,
                "optuna pruned": int(opt["pruned"].sum()),
                f"grid test {METRIC}": float(grid[f"test_{METRIC}"].mean()),
                f"optuna test {METRIC}": float(opt[f"test_{METRIC}"].mean()),
            }
        )
    return out


def markdown(result: dict[str, Any]) -> str:
    from lmrec.experiment.report import to_markdown

    summary = pd.DataFrame(result["summary"])
    summary["optuna trial matching grid best"] = [
        ", ".join("never" if m is None else str(m) for m in ms)
        for ms in summary["optuna trial matching grid best"]
    ]
    runs = pd.DataFrame(result["runs"])[
        ["model", "arm", "seed", "trials", "fits", "pruned", f"best_valid_{METRIC}", "trial_reaching_best",
         "search_seconds", f"test_{METRIC}", "selected", "edge"]
    ]  # fmt: skip
    runs["selected"] = runs["selected"].map(lambda p: ", ".join(f"{k}={_short(v)}" for k, v in p.items()))
    runs["edge"] = runs["edge"].map(lambda e: ", ".join(e) or "—")
    quick = " (quick: small grids, not the benchmark)" if result["quick"] else ""
    lines = [
        f"# Search cost: Optuna (TPE) against grid search at an equal trial budget{quick}",
        "",
        f"Protocol: {result['protocol']}",
        "",
        f"Data and split of `{result['config']}`; selection on validation {METRIC} only. The Optuna arm "
        "searches the box the grid spans with as many trials as the grid has candidates (TPE seeded from "
        "the seed, median pruning for models that train in epochs). search_s is the search's wall time "
        "(every fit and its validation scoring, one after the other, in one process); the test column "
        "scores the selected configuration once, for reference.",
        "",
        f"Machine: {result['machine']['cpus']} CPUs, threads {result['machine']['threads']}, load average "
        f"{result['machine']['load_before']} before and {result['machine']['load_after']} after; "
        f"total {result['seconds']:.0f} s.",
        "",
        "## Summary (means over seeds)",
        "",
        to_markdown(summary),
        "",
        "## Every run",
        "",
        to_markdown(runs),
        "",
    ]
    return "\n".join(lines)


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "benchmarks" / "configs" / "p1_ml100k.yaml")
    parser.add_argument("--models", nargs="+", default=["ease", "als", "rp3beta"])
    parser.add_argument(
        "--seeds", type=int, nargs="+", help="default: 3 seeds from the file's (1 with --quick)"
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument("--quick", action="store_true", help="small grids, one seed: checks the script works")
    args = parser.parse_args()

    from rich.console import Console

    from lmrec.experiment.pipeline import machine_info
    from lmrec.experiment.prepare import prepare
    from lmrec.experiment.report import write_json
    from lmrec.experiment.schema import load

    exp = load(args.config)
    seeds = args.seeds or ([exp.seed] if args.quick else [exp.seed, exp.seed + 1, exp.seed + 2])
    out = args.out or REPO / "benchmarks" / "results" / ("search_cost_quick" if args.quick else "search_cost")
    out.mkdir(parents=True, exist_ok=True)
    setups = model_setups(exp, args.models, args.quick)
    console = Console(stderr=True)
    load_before = [round(x, 2) for x in os.getloadavg()]
    started = time.perf_counter()
    rows = []
    for seed in seeds:
        seeded = dataclasses.replace(exp, seed=seed)
        prep = prepare(seeded)
        for name, setup in setups.items():
            warm_up(seeded, prep, name, setup)
            arms = ("grid", "optuna") if seeds.index(seed) % 2 == 0 else ("optuna", "grid")
            for arm in arms:
                row = run_arm(seeded, prep, name, setup, arm, console)
                rows.append(row)
                console.log(
                    f"{name} {arm} seed {seed}: best valid {METRIC} {row[f'best_valid_{METRIC}']:.4f} "
                    f"in {row['trials']} trials, search {row['search_seconds']:.1f} s"
                )
    result = {
        "benchmark": "search_cost",
        "config": str(args.config.resolve().relative_to(REPO)) if args.config.resolve().is_relative_to(REPO)
        else str(args.config),
        "protocol": exp.protocol,
        "quick": args.quick,
        "seeds": seeds,
        "models": {k: {"params": v["params"], "grid": v["grid"], "optuna": optuna_space(v["grid"]),
                       "budget": budget(v["grid"])} for k, v in setups.items()},
        "summary": summarise(rows),
        "runs": rows,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": {
            **machine_info(exp.threads),
            "load_before": load_before,
            "load_after": [round(x, 2) for x in os.getloadavg()],
            "platform": platform.platform(),
        },
        "command": " ".join(sys.argv),
    }  # fmt: skip
    write_json(out / "results.json", result)
    (out / "leaderboard.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
