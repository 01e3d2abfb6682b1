"""lmrec's exact top-k, numpy engine against torch engine, on the same score rows (issue 21, item 1).

Rows shaped like the evaluator's: a 2,048-user block of (a) dense factor scores over Beauty's 12,101 items
(128 factors, as ALS-128), (b) the same with every item vector repeated ~10 times (identical factors tie
exactly), (c) item-kNN-like rows over 12,101 items (a few hundred positive scores, the rest 0, so zero-scored
items tie), (d) dense factor scores over 100,000 items (64 factors). Top 20 per row. Scores are synthetic
(seeded normal factors): the cost of top-k depends on the shape and the ties, not on what the factors mean.
Each case runs both engines interleaved, 5 times; the verdict is the ratio of median times in this run,
and the lists of both engines must be identical (exact lower-index tie rule).

Regenerate (about a minute):
    .venv/bin/python benchmarks/topk.py --out benchmarks/results/topk
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np


def cases(rng: np.random.Generator) -> dict[str, np.ndarray]:
    users = 2048
    out = {}
    u = rng.normal(size=(users, 128)).astype(np.float32)
    out["dense 12,101 items (ALS-128-like)"] = u @ rng.normal(size=(12101, 128)).astype(np.float32).T
    base = rng.normal(size=(1210, 128)).astype(np.float32)
    tied = base[rng.integers(0, base.shape[0], size=12101)]
    out["tied factors 12,101 items"] = u @ tied.T
    knn = np.zeros((users, 12101), dtype=np.float32)
    for r in range(users):
        cols = rng.choice(12101, size=int(rng.integers(50, 600)), replace=False)
        knn[r, cols] = np.round(rng.random(cols.size), 2)  # 2-decimal similarities: ties among positives
    out["mostly zero 12,101 items (ItemKNN-like)"] = knn
    u64 = rng.normal(size=(1024, 64)).astype(np.float32)
    out["dense 100,000 items (ALS-64-like, 1,024 users)"] = (
        u64 @ rng.normal(size=(100000, 64)).astype(np.float32).T
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from lmrec.models.topk import topk

    torch.set_num_threads(args.threads)
    rows = []
    for name, scores in cases(np.random.default_rng(0)).items():
        times: dict[str, list[float]] = {"numpy": [], "torch": []}
        lists = {}
        for _ in range(args.repeats):
            for engine in ("numpy", "torch"):
                t0 = time.perf_counter()
                lists[engine] = topk(scores, 20, engine=engine)
                times[engine].append(time.perf_counter() - t0)
        identical = bool(
            np.array_equal(lists["numpy"][0], lists["torch"][0])
            and np.array_equal(lists["numpy"][1], lists["torch"][1])
        )
        med = {k: statistics.median(v) for k, v in times.items()}
        row = {
            "case": name,
            "users": scores.shape[0],
            "items": scores.shape[1],
            "numpy_users_per_s": round(scores.shape[0] / med["numpy"]),
            "torch_users_per_s": round(scores.shape[0] / med["torch"]),
            "speedup": round(med["numpy"] / med["torch"], 2),
            "identical_lists": identical,
        }
        rows.append(row)
        print(row, flush=True)
        if not identical:
            raise SystemExit(f"{name}: the engines disagree")
    result = {
        "benchmark": "topk",
        "n": 20,
        "repeats": args.repeats,
        "threads": args.threads,
        "cases": rows,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_avg": os.getloadavg()},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "| case | users x items | numpy users/s | torch users/s | speedup | identical lists |",
        "|---|---|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r['case']} | {r['users']:,} x {r['items']:,} | {r['numpy_users_per_s']:,} | "
        f"{r['torch_users_per_s']:,} | {r['speedup']}x | {r['identical_lists']} |"
        for r in rows
    ]
    (args.out / "report.md").write_text("# Exact top-20: numpy vs torch engine\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
