"""Full-ranking evaluation throughput (issue 21): lmrec's `evaluate_ranking` with the numpy and the torch
top-k engines on the same fitted models, against the machine's measured limits.

Data: Amazon Beauty (P2 leave-one-out, `amazon-beauty`, 22,363 users x 12,101 items, every repeat kept):
ALS (128 factors, implicit), EASE (reg 500) and ItemKNN (k 100) fitted on train, every user with a test
target ranked over the whole catalog from the train+valid history, seen items excluded, NDCG/Recall/HR at
10 and 20 plus MRR@all. Each model is evaluated with each engine, interleaved, `--repeats` times; the
verdict is users per second (median) and the ratio between the engines in this one run; the metrics of
both engines must be identical to the last digit. The limits beside them: GEMM GFLOP/s (torch float32
4096^3, the scoring product's kernel) and memory bandwidth (numpy copy of 512 MiB), measured in the run.

Regenerate (about 10 minutes on 2 cores):
    LMREC_DATA_HOME=../shared/data .venv/bin/python benchmarks/eval_throughput.py \
        --out benchmarks/results/eval_throughput
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np


def gemm_gflops(threads: int) -> float:
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(4096, 4096), torch.randn(4096, 4096)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * 4096**3 / best / 1e9


def copy_gb_per_s() -> float:
    src = np.ones(512 * 2**20 // 8)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return 2 * src.nbytes / best / 1e9  # read + write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    from lmrec import __version__
    from lmrec.data.cleaning import CleaningConfig, clean
    from lmrec.data.loaders import load_dataset
    from lmrec.data.splits import leave_one_out
    from lmrec.eval import evaluate_ranking
    from lmrec.models import topk as topk_module
    from lmrec.models.registry import make_model

    limits = {"gemm_gflops": round(gemm_gflops(args.threads), 1), "copy_gb_per_s": round(copy_gb_per_s(), 1)}
    print(limits, flush=True)
    data, _ = clean(load_dataset("amazon-beauty"), CleaningConfig(duplicates="keep_all"))
    split = leave_one_out(data)
    history, targets = split.train_valid().csr(), split.test.csr()
    models = {
        "ALS-128": make_model("als", {"factors": 128, "iterations": 15, "num_threads": args.threads}),
        "EASE": make_model("ease", {"reg": 500.0}),
        "ItemKNN": make_model("itemknn", {"k": 100}),
    }
    engines = {"numpy": 1 << 62, "torch": topk_module.TORCH_MIN_SCORES}  # engine "auto" switches on size
    rows: list[dict[str, Any]] = []
    with threadpool_limits(args.threads):
        for name, model in models.items():
            t0 = time.perf_counter()
            model.fit(split.train, seed=0)
            fit_s = time.perf_counter() - t0
            times: dict[str, list[float]] = {e: [] for e in engines}
            summaries: dict[str, dict[str, float]] = {}
            for _ in range(args.repeats):
                for engine, threshold in engines.items():
                    topk_module.TORCH_MIN_SCORES = threshold
                    t0 = time.perf_counter()
                    res = evaluate_ranking(
                        model, targets, history, ns=(10, 20),
                        metrics=("ndcg", "recall", "hit_rate", "MRR@all"), batch_size=1024,
                    )  # fmt: skip
                    times[engine].append(time.perf_counter() - t0)
                    summaries[engine] = res.summary()
            topk_module.TORCH_MIN_SCORES = engines["torch"]
            users = res.n_users
            per_s = {e: users / statistics.median(v) for e, v in times.items()}
            same = summaries["numpy"] == summaries["torch"]
            row = {
                "model": name,
                "users": users,
                "items": int(targets.shape[1]),
                "fit_seconds": round(fit_s, 1),
                "numpy_users_per_s": round(per_s["numpy"]),
                "torch_users_per_s": round(per_s["torch"]),
                "speedup": round(per_s["torch"] / per_s["numpy"], 2),
                "identical_metrics": same,
                "NDCG@10": summaries["torch"]["NDCG@10"],
            }
            rows.append(row)
            print(row, flush=True)
            if not same:
                raise SystemExit(f"{name}: the engines' metrics differ")
    result = {
        "benchmark": "eval_throughput",
        "dataset": "amazon-beauty (P2 leave-one-out, test targets, train+valid history, seen excluded)",
        "repeats": args.repeats,
        "threads": args.threads,
        "limits": limits,
        "rows": rows,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_avg": os.getloadavg()},
        "lmrec": __version__,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Full-ranking evaluation throughput on Beauty (22,363 users x 12,101 items)",
        "",
        f"Limits measured in the run: GEMM {limits['gemm_gflops']} GFLOP/s, copy "
        f"{limits['copy_gb_per_s']} GB/s; {args.threads} threads; load average "
        f"{os.getloadavg()[0]:.1f} at the end.",
        "",
        "| model | numpy engine users/s | torch engine users/s | speedup | identical metrics | NDCG@10 |",
        "|---|---:|---:|---:|---|---:|",
    ]
    lines += [
        f"| {r['model']} | {r['numpy_users_per_s']:,} | {r['torch_users_per_s']:,} | {r['speedup']}x | "
        f"{r['identical_metrics']} | {r['NDCG@10']:.4f} |"
        for r in rows
    ]
    (args.out / "report.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
