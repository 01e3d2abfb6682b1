"""Latency of a full cascade per user (issue 4): retrieval + features + re-rank at n = 10.

Loads hybrids saved by an experiment run (default: the ML-100K hybrid benchmark, `lmrec run
benchmarks/configs/p2_ml100k_hybrids.yaml` saves every model under results/.../models/) and times
`recommend(user, n=10)` for single known users, one request at a time, as a service would answer them.
For the LambdaRank cascade each stage is also timed on its own: candidate retrieval (every retriever
scores the catalog, top-n_candidates each), feature building, LightGBM scoring. The single models the
cascade is built from are timed the same way in the same run, so the ratio is robust to a busy machine.

Regenerate (about a minute):
    .venv/bin/python benchmarks/cascade_latency.py --models benchmarks/results/p2_ml100k_hybrids/models \
        --out benchmarks/results/cascade_latency
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from lmrec import __version__
from lmrec.hybrid.features import candidate_features
from lmrec.models.base import Recommender

DEFAULT = (
    "ltr (all features)",
    "cascade ease+gru4rec -> weighted",
    "weighted sasrec+gru4rec+ease",
    "sasrec",
    "gru4rec",
    "ease",
)


def percentiles(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {f"p{q}": round(float(np.percentile(a, q)), 2) for q in (50, 95, 99)} | {
        "mean": round(float(a.mean()), 2)
    }


def time_model(model: Recommender, users: np.ndarray, n: int) -> dict[str, float]:
    model.recommend(users[:1], n=n)  # warm-up (lazy imports, first allocation)
    ms = []
    for u in users:
        t0 = time.perf_counter()
        model.recommend(np.array([u]), n=n)
        ms.append((time.perf_counter() - t0) * 1e3)
    return percentiles(ms)


def ltr_stages(model: Any, users: np.ndarray) -> dict[str, dict[str, float]]:
    """Per-stage latency of a LearnedRanker for single users."""
    stages: dict[str, list[float]] = {"retrieval": [], "features": [], "rerank": []}
    for u in users:
        batch = np.array([u])
        hist = model._history_rows(batch, None)
        t0 = time.perf_counter()
        cand, retrieved = model.candidates(batch, hist, None, history_given=False)
        t1 = time.perf_counter()
        _, _, X = candidate_features(
            model.config.features,
            cand,
            retrieved,
            hist,
            None,
            model.stats_,
            model._text(),
            model.config.recent,
        )
        t2 = time.perf_counter()
        model.booster_.predict(X, num_iteration=model.best_iteration_, num_threads=1)
        t3 = time.perf_counter()
        stages["retrieval"].append((t1 - t0) * 1e3)
        stages["features"].append((t2 - t1) * 1e3)
        stages["rerank"].append((t3 - t2) * 1e3)
    return {k: percentiles(v) for k, v in stages.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=Path, default=Path("benchmarks/results/p2_ml100k_hybrids/models"))
    parser.add_argument("--names", nargs="*", default=list(DEFAULT))
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cascade_latency"))
    args = parser.parse_args()
    if not args.models.is_dir():
        raise SystemExit(
            f"{args.models} does not exist: run the hybrid benchmark first (see this file's docstring)"
        )
    rng = np.random.default_rng(0)
    rows = []
    load = os.getloadavg()[0]
    for name in args.names:
        model = Recommender.load(args.models / name)
        users = np.sort(
            rng.choice(len(model.user_vocab_), min(args.users, len(model.user_vocab_)), replace=False)
        )
        row: dict[str, Any] = {"model": name, "kind": model.name, **time_model(model, users, args.n)}
        if model.name == "ltr":
            row["stages"] = ltr_stages(model, users)
        rows.append(row)
        print(row)
    base = next((r for r in rows if r["model"] == "sasrec"), rows[-1])
    for r in rows:
        r["p50_vs_" + base["model"]] = round(r["p50"] / base["p50"], 2)
    out = {
        "benchmark": "cascade_latency",
        "what": f"recommend(one known user, n={args.n}): ms per request, {args.users} users, one at a time",
        "models_from": str(args.models),
        "rows": rows,
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1m_at_start": load,
            "python": platform.python_version(),
            "lmrec_version": __version__,
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(out, indent=2))
    lines = [
        "# cascade_latency — per-user latency of hybrids (ms, one request at a time, n = 10)",
        "",
        f"Models from `{args.models}`; {args.users} known users; 1-minute load average at start {load:.2f}.",
        "",
        f"| model | kind | p50 | p95 | p99 | mean | p50 / {base['model']} p50 |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['kind']} | {r['p50']} | {r['p95']} | {r['p99']} | {r['mean']} "
            f"| {r['p50_vs_' + base['model']]} |"
        )
    for r in rows:
        if "stages" in r:
            lines += [
                "",
                f"Stages of `{r['model']}` (p50 / p95 ms): "
                + ", ".join(f"{k} {v['p50']} / {v['p95']}" for k, v in r["stages"].items()),
            ]
    (args.out / "leaderboard.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
