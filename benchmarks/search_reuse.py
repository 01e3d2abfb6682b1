"""Search cost of scoring-only parameters: ease_recency's reg x recency grid with one fit per reg
(`scoring_params`, the default) against a fit for every candidate, on the same prepared data.

The model entry is the `ease_recency` search of the experiment file (default
`benchmarks/configs/p1_ml_latest_small_recency.yaml`: its data, cleaning, split, evaluation, threads, seed
and grid, widened at edges as the file says). Both arms run through `lmrec.experiment.runner.run_model` in
this process, one candidate after the other; the "fit each" arm is the same search with the class's
`scoring_params` declaration switched off for its duration, so every candidate is fitted. After one
untimed warm-up fit, the arms run in turn (`--repeats` rounds, alternating which goes first); the script
stops if any candidate's validation scores, the selection or the test scores differ between the arms.

Reported per arm: trials, fits, the search's wall time (fits and validation scoring; not the refit or the
test) and its ratio to the "fit each" arm of the same round, the selection, its test NDCG@10, and the
process's peak RSS over the whole run.

Usage (about 15-20 minutes on ml-latest-small on two cores; `--config` another file with an
ease_recency search, e.g. benchmarks/configs/p1_ml100k_recency.yaml, about 2 minutes); results in
benchmarks/results/search_reuse/<config name>/:
    LMREC_DATA_HOME=../shared/data .venv/bin/python benchmarks/search_reuse.py
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "benchmarks/configs"
METRIC = "NDCG@10"
MODEL = "ease_recency"


@contextmanager
def scoring_declared(klass: type, declared: bool) -> Iterator[None]:
    """The model class with its `scoring_params` as shipped (True) or empty (False: fit every candidate)."""
    shipped = klass.scoring_params  # type: ignore[attr-defined]
    klass.scoring_params = shipped if declared else frozenset()  # type: ignore[attr-defined]
    try:
        yield
    finally:
        klass.scoring_params = shipped  # type: ignore[attr-defined]


def run_arm(exp: Any, prep: Any, arm: str, console: Any) -> tuple[dict[str, Any], Any]:
    from lmrec.experiment.runner import run_model
    from lmrec.models.registry import get_model_class

    spec = next(m for m in exp.models if m.name == MODEL)
    with scoring_declared(get_model_class(MODEL), arm == "rescored"):
        run = run_model(exp, spec, prep, console=console)
    row = {
        "arm": arm,
        "trials": len(run.trials),
        "fits": run.search["fits"],
        "search_seconds": run.search["seconds"],
        "fit_seconds_total": round(sum(t.fit_seconds for t in run.trials), 3),
        "selected": run.selected,
        f"test_{METRIC}": float(run.test[METRIC]),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    return row, run


def same_outcome(a: Any, b: Any) -> None:
    """Stop unless both arms scored every candidate alike and selected and tested the same."""

    def key(trial: Any) -> str:
        return json.dumps(trial.params, sort_keys=True)

    va, vb = ({key(t): t.valid for t in run.trials} for run in (a, b))
    if va != vb:
        differ = sorted(k for k in va.keys() | vb.keys() if va.get(k) != vb.get(k))
        raise SystemExit(f"the arms' validation scores differ for {differ[:3]}")
    if a.selected != b.selected or a.test != b.test:
        raise SystemExit(f"the arms selected or tested differently: {a.selected} vs {b.selected}")


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Search reuse: one fit per reg for ease_recency's reg x recency grid",
        "",
        f"Protocol: {result['protocol']}",
        f"Fitted on: train for the search (validation history train), then {result['fitted_on']} for the "
        f"test; history at test: {result['test_history']}.",
        f"Config: `{result['config']}` (model `{MODEL}`, search {json.dumps(result['search'])}); "
        f"{result['repeats']} round(s), arms alternating; peak RSS {result['peak_rss_mb']:.0f} MB. "
        "Validation scores of every candidate, the selection and the test scores are identical in the "
        "two arms (checked).",
        "",
        "| round | arm | trials | fits | search s | ratio to fit each | selected | test NDCG@10 |",
        "|---:|---|---:|---:|---:|---:|---|---:|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['round']} | {row['arm']} | {row['trials']} | {row['fits']} | "
            f"{row['search_seconds']:.1f} | {row['ratio']:.2f} | {json.dumps(row['selected'])} | "
            f"{row[f'test_{METRIC}']:.4f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=CONFIGS / "p1_ml_latest_small_recency.yaml")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, help="default: benchmarks/results/search_reuse/<config name>")
    args = parser.parse_args()
    args.out = args.out or REPO / "benchmarks/results/search_reuse" / args.config.stem

    from lmrec import __version__
    from lmrec.cli.output import progress_console
    from lmrec.experiment.prepare import prepare
    from lmrec.experiment.schema import load
    from lmrec.models.registry import make_model
    from lmrec.resources import process_peak_rss

    exp = load(args.config)
    spec = next((m for m in exp.models if m.name == MODEL), None)
    if spec is None or spec.search is None:
        raise SystemExit(f"{args.config}: no {MODEL} entry with a search")
    console = progress_console()
    prep = prepare(exp)
    first = dict(zip(spec.search.grid, (v[0] for v in spec.search.grid.values()), strict=True))
    make_model(MODEL, {**spec.params, **first}).fit(prep.split.train, seed=exp.seed)  # warm-up, untimed
    rows = []
    for round_ in range(1, args.repeats + 1):
        arms = ["fit each", "rescored"] if round_ % 2 else ["rescored", "fit each"]
        runs = {}
        for arm in arms:
            row, runs[arm] = run_arm(exp, prep, arm, console)
            rows.append({"round": round_, **row})
        same_outcome(runs["fit each"], runs["rescored"])
        base = next(r for r in rows if r["round"] == round_ and r["arm"] == "fit each")["search_seconds"]
        for row in rows:
            if row["round"] == round_:
                row["ratio"] = round(row["search_seconds"] / base, 3)
    result = {
        "benchmark": "search_reuse",
        "config": os.path.relpath(args.config, REPO),
        "protocol": exp.protocol,
        "search": dataclasses.asdict(spec.search),
        "fitted_on": spec.refit or exp.evaluation.refit,
        "test_history": exp.evaluation.test_input,
        "repeats": args.repeats,
        "rows": rows,
        "peak_rss_mb": round(process_peak_rss() / 2**20, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "threads": exp.threads,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "lmrec_version": __version__,
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=2))
    (args.out / "report.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
