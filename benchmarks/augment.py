"""Augmentation judged over seeds (issue 19): one experiment file run once per seed, every augmented model
paired with the same model without augmentation, overall and by user-activity bucket.

The experiment file names each model entry `<model>` (no augmentation) or `<model>+<method>` (the same
model and parameters with `augmentation:`), as `benchmarks/configs/augment_ml100k.yaml` does. For each seed
the whole file runs with `seed` replaced (the split does not depend on it when it is temporal; model
initialisation and the seeded augmenters do), into `OUT/seed_<s>/` (results.json, leaderboard.md; the
per-user files stay local). Then, per (model, augmenter):

- the test metric's mean over seeds with a 95% t-interval over seeds (seed-to-seed spread);
- a paired test against the unaugmented model over the test users, each user's metric averaged over the
  seeds first (users are the unit, as in every other lmrec paired test): mean difference, relative change,
  paired t and Wilcoxon p-values, bootstrap 95% CI of the mean difference. Its p-values hold for these
  seeds; how much the difference itself moves from seed to seed is the next item;
- the difference over seeds: each seed's mean(augmented) - mean(plain), with a 95% t-interval and a paired
  t-test over the seeds (none when the difference is the same in every seed: a deterministic augmenter
  and model);
- the same test within user-activity buckets (`history_length`: the user's interactions in the history the
  test ranks from), so that the users augmentation targets (the sparse ones) are seen apart.

Usage:
    LMREC_DATA_HOME=../shared/data OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/augment.py \
        benchmarks/configs/augment_ml100k.yaml --seeds 0 1 2 3 4 --out benchmarks/results/augment_ml100k
`--resume` keeps the seeds whose results.json and per-user metrics already exist (each finished seed's are
committed, so a run can span sessions), and continues a seed stopped part-way from the models it finished
(`lmrec run --resume`, from its local partial files).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--metric", default="NDCG@10")
    parser.add_argument(
        "--buckets", default="40,80,160", help="history_length bucket edges (upper, inclusive)"
    )
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()

    from lmrec import __version__
    from lmrec.cli.output import progress_console, training_log
    from lmrec.experiment.pipeline import run_experiment
    from lmrec.experiment.schema import load
    from lmrec.resources import process_peak_rss

    exp = load(args.config)
    started = time.perf_counter()
    seconds: dict[int, float] = {}
    for seed in args.seeds:
        folder = args.out / f"seed_{seed}"
        if args.resume and finished(folder):
            continue
        t0 = time.perf_counter()
        console = progress_console()
        with training_log(console):  # per-epoch lines (CFGAN's and ASReP's generators too), as `lmrec run`
            run_experiment(
                dataclasses.replace(exp, seed=seed, name=f"{exp.name} (seed {seed})"),
                out=folder,
                console=console,
                progress=sys.stderr.isatty(),
                resume=args.resume,  # a seed stopped part-way keeps the models it finished
            )
        seconds[seed] = round(time.perf_counter() - t0, 1)
        slim_per_user(folder)
    edges = [int(x) for x in args.buckets.split(",")]
    result = aggregate(args.out, args.seeds, args.metric, edges)
    result.update(
        {
            "benchmark": "augment",
            "config": str(args.config),
            "experiment": exp.name,
            "protocol": exp.protocol,
            "seeds": args.seeds,
            "run_seconds_per_seed": seconds,
            "total_seconds": round(time.perf_counter() - started, 1),
            "peak_rss_mb": round(process_peak_rss() / 2**20, 1),
            "machine": {"platform": platform.platform(), "threads": exp.threads},
            "lmrec": __version__,
        }
    )
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "report.md").write_text(markdown(result))
    print(markdown(result))


SLIM = "per_user_metrics.parquet"
"""A seed's per-user ranking metrics and history length, float32: what the paired tests read, committed (the
run's own per_user.parquet, with its beyond-accuracy columns, is 18 MB a seed on Toys and stays local)."""
RANKING_METRIC = re.compile(r"^(NDCG|HR|Recall|Precision|MRR|MAP)@")


def finished(folder: Path) -> bool:
    """Whether a seed's run completed: its results and per-user metrics (the slim copy, or the run's own
    file from which the slim copy is made) are there."""
    per_user = (folder / SLIM).exists() or (folder / "per_user.parquet").exists()
    return (folder / "results.json").exists() and per_user


def slim_per_user(folder: Path) -> None:
    """Write `folder`/SLIM from the run's per_user.parquet."""
    frame = pd.read_parquet(folder / "per_user.parquet")
    metrics = [c for c in frame.columns if RANKING_METRIC.match(c)]
    slim = frame[["model", "user", "history_length", *metrics]].astype({m: np.float32 for m in metrics})
    slim.to_parquet(folder / SLIM, index=False)


def _seed_cost(res: dict[str, Any]) -> dict[str, Any]:
    """A seed's time and peak memory from its results.json. A seed resumed across processes has entries
    timed by earlier runs, so its time is the sum over entries of augmentation (each augmented dataset
    once, not again for the entries that reuse it), search or fit, and evaluation, as each entry recorded
    them when it ran, not the last process's wall time (also kept, `last_run_seconds`); its peak RSS is the
    largest of the entries' stage peaks and the last process's."""
    work, peaks = 0.0, [res["total"].get("process_peak_rss_mb")]
    for m in res["models"]:
        timings = m["timings"]
        search = timings.get("search_fit_seconds_total") or {}
        work += float(search.get("seconds", 0.0))
        for stage in ("fit", "evaluate"):
            timing = timings.get(stage) or {}
            if not (stage == "fit" and timing.get("reused_selected_trial")):  # else counted in the search
                work += float(timing.get("seconds", 0.0))
            peaks.append(timing.get("peak_rss_mb"))
        for fit in (m.get("augmentation") or {}).values():  # one per fit the entry augmented
            if isinstance(fit, dict) and not fit.get("memo"):  # a memo reuses another entry's data
                work += float(fit.get("seconds", 0.0))
    known = [p for p in peaks if p is not None]
    return {
        "seconds": round(work, 1),
        "last_run_seconds": round(res["total"]["seconds"], 1),
        "peak_rss_mb": max(known) if known else None,
    }


def aggregate(out: Path, seeds: list[int], metric: str, edges: list[int]) -> dict[str, Any]:
    """The tables described in the module doc, from the seeds' result folders."""
    from lmrec.eval.significance import compare

    frames, models, runs = [], {}, {}
    for seed in seeds:
        folder = out / f"seed_{seed}"
        res = json.loads((folder / "results.json").read_text())
        runs[seed] = _seed_cost(res)
        for m in res["models"]:
            entry = models.setdefault(
                m["label"], {"model": m["model"], "test": [], "fit_s": [], "synthetic": []}
            )
            entry["test"].append(m["test"])
            entry["fit_s"].append(m["timings"]["fit"]["seconds"])
            fits = m.get("augmentation") or {}
            aug = fits.get(m.get("refit_on") or "train+valid") or fits.get("train") or {}  # the test model's
            entry["synthetic"].append(aug.get("rows_synthetic", 0))
            entry["augment_seconds"] = aug.get("seconds")
        if not (folder / SLIM).exists():
            slim_per_user(folder)  # a seed from before the slim copy existed
        frames.append(pd.read_parquet(folder / SLIM).assign(seed=seed))
    per_user = pd.concat(frames, ignore_index=True)
    _check_same_users(per_user, seeds)
    mean_user = per_user.groupby(["model", "user"])[metric].mean()
    activity = per_user.groupby("user")["history_length"].first()
    bucket = pd.cut(activity, [0, *edges, np.inf], labels=_bucket_labels(edges))
    rows, tests, by_bucket = [], [], []
    for label, entry in models.items():
        values = np.array([t[metric] for t in entry["test"]])
        rows.append(
            {
                "model": label,
                metric: float(values.mean()),
                "ci95_over_seeds": _t_interval(values),
                "per_seed": [round(float(v), 5) for v in values],
                "fit_s_mean": round(float(np.mean(entry["fit_s"])), 2),
                "synthetic_rows_mean": float(np.mean(entry["synthetic"])),
            }
        )
        base = label.split("+")[0]
        if base == label:
            continue
        if base not in models:
            raise SystemExit(
                f"model entry {label!r} is named as an augmented {base!r}, but no entry is labelled {base!r} "
                "to pair it with (label entries <model> and <model>+<method>)"
            )
        a, b = mean_user.loc[base], mean_user.loc[label]
        c = compare(a, b, metric)
        plain = np.array([t[metric] for t in models[base]["test"]])
        tests.append(
            {"model": label, "baseline": base, **_test_row(c), "over_seeds": _over_seeds(values - plain)}
        )
        for name, users in activity.groupby(bucket, observed=False):
            ids = users.index.intersection(a.index)
            if len(ids) < 2:
                continue
            cb = compare(a.loc[ids], b.loc[ids], metric)
            by_bucket.append({"model": label, "baseline": base, "bucket": str(name), **_test_row(cb)})
    return {
        "metric": metric,
        "runs": runs,
        "buckets": {
            "by": "history_length",
            "edges": edges,
            "users": activity.groupby(bucket, observed=False).size().to_dict(),
        },
        "models": rows,
        "against_no_augmentation": tests,
        "by_activity": by_bucket,
    }


def _check_same_users(per_user: pd.DataFrame, seeds: list[int]) -> None:
    """Averaging a user's metric over seeds needs the same test users with the same histories in every
    seed (a split that does not depend on the seed); stop, naming the seed, otherwise."""
    keys = ["model", "user", "history_length"]
    first = per_user[per_user["seed"] == seeds[0]][keys].sort_values(keys).reset_index(drop=True)
    for seed in seeds[1:]:
        other = per_user[per_user["seed"] == seed][keys].sort_values(keys).reset_index(drop=True)
        if not first.equals(other):
            raise SystemExit(
                f"seed {seed} has other test users or history lengths than seed {seeds[0]}: the split "
                "depends on the seed (random_ratio, cold_items, a user sample), so per-user metrics "
                "cannot be averaged over seeds"
            )


def _over_seeds(diffs: np.ndarray) -> dict[str, Any]:
    """Each seed's difference of means: their mean, a 95% t-interval and a one-sample t-test against 0."""
    from scipy import stats

    out: dict[str, Any] = {"per_seed": [round(float(d), 5) for d in diffs], "mean": float(diffs.mean())}
    if diffs.size < 2 or float(np.ptp(diffs)) < 1e-12:
        return {**out, "ci95": None, "t_pvalue": None, "same_every_seed": diffs.size > 1}
    return {
        **out,
        "ci95": _t_interval(diffs),
        "t_pvalue": float(stats.ttest_1samp(diffs, 0.0).pvalue),
        "same_every_seed": False,
    }


def _bucket_labels(edges: list[int]) -> list[str]:
    lows = [1, *[e + 1 for e in edges]]
    return [f"{lo}-{hi}" for lo, hi in zip(lows, edges, strict=False)] + [f">{edges[-1]}"]


def _t_interval(values: np.ndarray) -> list[float] | None:
    from scipy import stats

    if values.size < 2:
        return None
    half = float(stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size))
    return [float(values.mean() - half), float(values.mean() + half)]


def _test_row(c: Any) -> dict[str, Any]:
    return {
        "n_users": c.n_users,
        "baseline_mean": c.mean_a,
        "mean": c.mean_b,
        "diff": c.mean_diff,
        "relative": c.relative_improvement,
        "t_pvalue": c.t_pvalue,
        "wilcoxon_pvalue": c.wilcoxon_pvalue,
        "ci_low": c.ci_low,
        "ci_high": c.ci_high,
    }


def markdown(result: dict[str, Any]) -> str:
    metric = result["metric"]
    runs = result["runs"]
    peak = max((r["peak_rss_mb"] or 0.0) for r in runs.values())
    lines = [
        f"# {result['experiment']}: augmentation over {len(result['seeds'])} seeds",
        "",
        f"Protocol: {result['protocol']}",
        "",
        f"Config: `{result['config']}`; seeds {result['seeds']}; the entries' augmentation, fit and "
        f"evaluation took {sum(r['seconds'] for r in runs.values()):,.0f} s in all (longest seed "
        f"{max(r['seconds'] for r in runs.values()):,.0f} s, summed over the runs a seed was resumed in), "
        f"peak RSS {peak} MB. "
        f"Per-user {metric} is averaged over the seeds before the "
        "paired tests.",
        "",
        f"| model | {metric} (mean of seeds) | 95% CI over seeds | fit s | synthetic rows |",
        "|---|---:|---|---:|---:|",
    ]
    for r in result["models"]:
        ci = r["ci95_over_seeds"]
        ci_text = f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "–"
        lines.append(
            f"| {r['model']} | {r[metric]:.4f} | {ci_text} | {r['fit_s_mean']:.1f} |"
            f" {r['synthetic_rows_mean']:.0f} |"
        )
    lines += ["", "## Against the same model without augmentation (paired over test users)", ""]
    lines += _tests_md(result["against_no_augmentation"], bucket=False)
    lines += [
        "",
        f"Over seeds: each seed's {metric} difference (augmented - plain), their mean with a 95% t-interval "
        "and a paired t-test over the seeds (how far the gain moves with the seed).",
        "",
        "| model | baseline | per-seed differences | mean | 95% CI over seeds | t p over seeds |",
        "|---|---|---|---:|---|---:|",
    ]
    for r in result["against_no_augmentation"]:
        seeds = r.get("over_seeds")
        if seeds is None:  # a report aggregated before this table existed
            continue
        ci, p = seeds["ci95"], seeds["t_pvalue"]
        ci_text = (
            f"[{ci[0]:+.4f}, {ci[1]:+.4f}]"
            if ci
            else ("same every seed" if seeds["same_every_seed"] else "–")
        )
        p_text = f"{p:.2g}" if p is not None else "–"
        per_seed = ", ".join(f"{d:+.4f}" for d in seeds["per_seed"])
        lines.append(
            f"| {r['model']} | {r['baseline']} | {per_seed} | {seeds['mean']:+.4f} | {ci_text} | {p_text} |"
        )
    sizes = ", ".join(f"{k}: {v}" for k, v in result["buckets"]["users"].items())
    lines += ["", f"## By user activity (history length; users per bucket: {sizes})", ""]
    lines += _tests_md(result["by_activity"], bucket=True)
    return "\n".join(lines) + "\n"


def _tests_md(rows: list[dict[str, Any]], *, bucket: bool) -> list[str]:
    head = (
        "| model | baseline |"
        + (" bucket |" if bucket else "")
        + " users | baseline | model | diff | relative | t p | Wilcoxon p | 95% CI of diff |"
    )
    out = [head, "|---|---|" + ("---|" if bucket else "") + "---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        rel = "–" if r["relative"] != r["relative"] else f"{r['relative']:+.1%}"
        out.append(
            f"| {r['model']} | {r['baseline']} |"
            + (f" {r['bucket']} |" if bucket else "")
            + f" {r['n_users']} | {r['baseline_mean']:.4f} | {r['mean']:.4f} | {r['diff']:+.4f} | {rel} |"
            f" {r['t_pvalue']:.2g} | {r['wilcoxon_pvalue']:.2g} | [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}] |"
        )
    return out


if __name__ == "__main__":
    main()
