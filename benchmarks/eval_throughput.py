"""Full-ranking evaluation throughput (issue 21): lmrec's `evaluate_ranking` against the other ways of
ranking the same fitted models, and against the machine's measured limits.

Two catalogs, five columns:
- Beauty (P2 leave-one-out, `amazon-beauty`, 22,363 users x 12,101 items, every repeat kept): ALS (128
  factors, implicit), EASE (reg 500) and ItemKNN (k 100) fitted on train; every user with a test target
  ranked from the train+valid history.
- 100k items (the Scale protocol's generator at a fifth of its users: 200,000 users, 100,000 items, 4M
  interactions, power-law popularity, seed 42; P1 temporal split 80/10/10): ALS (64 factors) and ItemKNN
  (k 50) fitted on train; a seeded sample of 10,240 test users ranked from the train+valid history (the
  sample bounds the run time; throughput per user does not depend on it).
Seen items are excluded everywhere; lists of 20.

Rows (each approach runs on the same users and models, interleaved, `--repeats` times; median):
- lmrec `evaluate_ranking` as shipped (NDCG/Recall/HR at 10 and 20 plus MRR@all computed, not only lists);
- the same with the numpy top-k engine only (a machine without torch); its metrics must equal the
  shipped engine's to the last digit;
- implicit's `recommend` (N=10, seen items filtered; ALS columns only): lists only, no metrics;
- the model's scores (`score`), seen items set to -inf, `torch.topk` of 20: RecBole's way, lists only and
  inexact on ties (torch picks among equal scores in no defined order): the rows whose list differs from
  lmrec's exact one are counted;
- the limit of this machine for the column: the larger of (a) the scoring product at the measured GEMM
  rate (2 x factors x items flops per user for ALS; 2 x history length x items for EASE's sparse-dense
  product, counted from the users' histories) and (b) writing and reading one float32 score row at the
  measured copy bandwidth (8 x items bytes per user; ItemKNN's limit is this one, although its sparse path
  reads less).
The verdicts: lmrec against the best other exact approach per column (another approach is exact on a
column when its lists equal lmrec's on every row: implicit's on Beauty, not on the 100k catalog, where
items without training data have zero factors and tie), Beauty ALS-128 >= 15,000 users/s, 100k-item
ALS-64 >= 2,000 and ItemKNN >= 10,000 users/s (2 threads). The environment is recorded (thread
variables such as OMP_WAIT_POLICY change how long idle threads spin).

Regenerate (about 15 minutes on 2 idle cores):
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

BATCH = 1024
LIST = 20
TARGETS = {("Beauty", "ALS-128"): 15_000, ("100k items", "ALS-64"): 2_000, ("100k items", "ItemKNN"): 10_000}


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


def beauty() -> tuple[Any, Any, np.ndarray, dict[str, Any]]:
    from lmrec.data.cleaning import CleaningConfig, clean
    from lmrec.data.loaders import load_dataset
    from lmrec.data.splits import leave_one_out
    from lmrec.models.registry import make_model

    data, _ = clean(load_dataset("amazon-beauty"), CleaningConfig(duplicates="keep_all"))
    split = leave_one_out(data)
    targets = split.test.csr()
    users = np.flatnonzero(np.diff(targets.indptr) > 0)
    models = {
        "ALS-128": make_model("als", {"factors": 128, "iterations": 15, "num_threads": 2}),
        "EASE": make_model("ease", {"reg": 500.0}),
        "ItemKNN": make_model("itemknn", {"k": 100}),
    }
    return split, targets, users, models


def hundred_k(sample: int, seed: int) -> tuple[Any, Any, np.ndarray, dict[str, Any]]:
    from lmrec.data.splits import temporal_ratio
    from lmrec.data.synthetic import synthetic_log
    from lmrec.experiment.prepare import sample_users
    from lmrec.models.registry import make_model

    data = synthetic_log(200_000, 100_000, 4_000_000, seed=seed)
    split = temporal_ratio(data, train=0.8, valid=0.1)
    targets = split.test.csr()
    users = sample_users(np.flatnonzero(np.diff(targets.indptr) > 0), sample, seed)
    models = {
        "ALS-64": make_model("als", {"factors": 64, "iterations": 15, "num_threads": 2}),
        "ItemKNN": make_model("itemknn", {"k": 50}),
    }
    return split, targets, users, models


def torch_topk_lists(model: Any, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
    """RecBole's way: scores, seen items at -inf, torch.topk (no tie rule)."""
    import torch

    out = []
    for lo in range(0, users.size, BATCH):
        bu = users[lo : lo + BATCH]
        rows = history[bu]
        t = torch.from_numpy(np.asarray(model.score(bu, rows), dtype=np.float32))
        r = np.repeat(np.arange(bu.size), np.diff(rows.indptr))
        t[torch.from_numpy(r), torch.from_numpy(rows.indices.astype(np.int64))] = -torch.inf
        out.append(torch.topk(t, LIST, dim=1).indices.numpy())
    return np.concatenate(out)


def implicit_lists(model: Any, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
    imp = model.to_implicit()
    items, _ = imp.recommend(users, history[users], N=10, filter_already_liked_items=True)
    return np.asarray(items)


def limit_users_per_s(
    name: str, model: Any, users: np.ndarray, history: Any, limits: dict[str, float]
) -> float:
    n_items = history.shape[1]
    memory_s = 8 * n_items / (limits["copy_gb_per_s"] * 1e9)
    if name.startswith("ALS"):
        flops = 2 * model.item_factors_.shape[1] * n_items
    elif name == "EASE":
        flops = 2 * float(np.diff(history.indptr)[users].mean()) * n_items
    else:
        flops = 0.0
    return 1.0 / max(memory_s, flops / (limits["gemm_gflops"] * 1e9))


def run_column(
    catalog: str,
    name: str,
    model: Any,
    split: Any,
    targets: sp.csr_matrix,
    users: np.ndarray,
    limits: dict[str, float],
    repeats: int,
) -> dict[str, Any]:
    from lmrec.eval import evaluate_ranking
    from lmrec.models import topk as topk_module

    history = split.train_valid().csr()
    t0 = time.perf_counter()
    model.fit(split.train, seed=0)
    fit_s = time.perf_counter() - t0
    torch_threshold = topk_module.TORCH_MIN_SCORES
    summaries: dict[str, dict[str, float]] = {}
    lists: dict[str, np.ndarray] = {}

    def evaluate(engine_threshold: int, key: str) -> Callable[[], None]:
        def go() -> None:
            topk_module.TORCH_MIN_SCORES = engine_threshold
            try:
                res = evaluate_ranking(
                    model, targets, history, users=users, ns=(10, 20),
                    metrics=("ndcg", "recall", "hit_rate", "MRR@all"), batch_size=BATCH, keep_lists=True,
                )  # fmt: skip
            finally:
                topk_module.TORCH_MIN_SCORES = torch_threshold
            summaries[key] = res.summary()
            lists[key] = res.lists  # type: ignore[assignment]

        return go

    approaches: dict[str, Callable[[], None]] = {
        "lmrec": evaluate(torch_threshold, "lmrec"),
        "lmrec numpy engine": evaluate(1 << 62, "lmrec numpy engine"),
    }
    if name.startswith("ALS"):
        approaches["implicit recommend (N=10)"] = lambda: lists.__setitem__(
            "implicit", implicit_lists(model, users, history)
        )
    approaches["score + torch.topk (inexact on ties)"] = lambda: lists.__setitem__(
        "torch", torch_topk_lists(model, users, history)
    )
    times: dict[str, list[float]] = {a: [] for a in approaches}
    for _ in range(repeats):
        for label, go in approaches.items():
            t0 = time.perf_counter()
            go()
            times[label].append(time.perf_counter() - t0)
    per_s = {a: users.size / statistics.median(v) for a, v in times.items()}
    same = summaries["lmrec"] == summaries["lmrec numpy engine"]
    exact = lists["lmrec"]
    row: dict[str, Any] = {
        "catalog": catalog,
        "model": name,
        "users": int(users.size),
        "items": int(targets.shape[1]),
        "fit_seconds": round(fit_s, 1),
        "users_per_s": {a: round(v) for a, v in per_s.items()},
        "limit_users_per_s": round(limit_users_per_s(name, model, users, history, limits)),
        "engines_identical_metrics": same,
        "torch_topk_rows_differing": int((lists["torch"] != exact).any(axis=1).sum()),
        "NDCG@10": summaries["lmrec"]["NDCG@10"],
    }
    if "implicit" in lists:
        row["implicit_rows_differing"] = int((lists["implicit"] != exact[:, :10]).any(axis=1).sum())
    # another approach is exact on this column when its lists equal lmrec's exact ones on every row
    exact_others = [
        per_s[a] for a, differing in (("implicit recommend (N=10)", row.get("implicit_rows_differing")),)
        if differing == 0
    ]  # fmt: skip
    row["best_other_exact_users_per_s"] = round(max(exact_others)) if exact_others else None
    row["lmrec_vs_best_other_exact"] = round(per_s["lmrec"] / max(exact_others), 2) if exact_others else None
    row["lmrec_vs_fastest_other"] = round(
        per_s["lmrec"] / max(v for a, v in per_s.items() if not a.startswith("lmrec")), 2
    )
    target = TARGETS.get((catalog, name))
    if target is not None:
        row["target_users_per_s"] = target
        row["target_met"] = per_s["lmrec"] >= target
    print(json.dumps(row), flush=True)
    if not same:
        raise SystemExit(f"{catalog} {name}: the engines' metrics differ")
    return row


def report(rows: list[dict[str, Any]], limits: dict[str, float], threads: int) -> str:
    approaches = list(dict.fromkeys(a for r in rows for a in r["users_per_s"]))
    head = [f"{r['catalog']} {r['model']}" for r in rows]
    lines = [
        "# Full-ranking evaluation throughput (users/s, median, one run)",
        "",
        f"Limits measured in the run: GEMM {limits['gemm_gflops']} GFLOP/s, copy {limits['copy_gb_per_s']} "
        f"GB/s; {threads} threads; load average {os.getloadavg()[0]:.1f} at the end. Protocols: models "
        "fitted on train; at test each user's train+valid history is given and excluded (Beauty: P2 "
        "leave-one-out, every test user; 100k items: Scale's generator at 200k users, P1 temporal, 10,240 "
        "sampled test users). lmrec rows compute NDCG/Recall/HR@10,20 and MRR@all; the other rows only "
        "produce lists.",
        "",
        "| users/s | " + " | ".join(head) + " |",
        "|---|" + "---:|" * len(rows),
    ]
    for a in approaches:
        cells = [f"{r['users_per_s'][a]:,}" if a in r["users_per_s"] else "–" for r in rows]
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    lines.append(
        "| limit of this machine | " + " | ".join(f"≈ {r['limit_users_per_s']:,}" for r in rows) + " |"
    )
    lines.append(
        "| lmrec / limit | "
        + " | ".join(f"{r['users_per_s']['lmrec'] / r['limit_users_per_s']:.0%}" for r in rows)
        + " |"
    )
    lines.append(
        "| lmrec / best other exact approach | "
        + " | ".join(
            "no other exact approach"
            if r["lmrec_vs_best_other_exact"] is None
            else f"{r['lmrec_vs_best_other_exact']}x"
            for r in rows
        )
        + " |"
    )
    lines.append(
        "| lmrec / fastest other (exact or not) | "
        + " | ".join(f"{r['lmrec_vs_fastest_other']}x" for r in rows)
        + " |"
    )
    lines.append(
        "| target | "
        + " | ".join(
            (f"≥ {r['target_users_per_s']:,}: " + ("met" if r["target_met"] else "NOT met"))
            if "target_users_per_s" in r
            else "–"
            for r in rows
        )
        + " |"
    )
    lines += [
        "",
        "| column | users | fit s | NDCG@10 | engines identical | torch.topk rows differing "
        "| implicit rows differing |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    for r, h in zip(rows, head, strict=True):
        lines.append(
            f"| {h} | {r['users']:,} | {r['fit_seconds']} | {r['NDCG@10']:.4f} | "
            f"{r['engines_identical_metrics']} | {r['torch_topk_rows_differing']:,} | "
            f"{_count(r.get('implicit_rows_differing'))} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sample", type=int, default=10_240, help="100k-item test users evaluated")
    parser.add_argument("--only", choices=("beauty", "100k"), default=None)
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    from lmrec import __version__

    limits = {"gemm_gflops": round(gemm_gflops(args.threads), 1), "copy_gb_per_s": round(copy_gb_per_s(), 1)}
    print(limits, flush=True)
    setups = {"Beauty": beauty, "100k items": lambda: hundred_k(args.sample, 42)}
    if args.only:
        setups = {k: v for k, v in setups.items() if (k == "Beauty") == (args.only == "beauty")}
    rows: list[dict[str, Any]] = []
    with threadpool_limits(args.threads):
        for catalog, setup in setups.items():
            split, targets, users, models = setup()
            for name, model in models.items():
                rows.append(run_column(catalog, name, model, split, targets, users, limits, args.repeats))
    result = {
        "benchmark": "eval_throughput",
        "repeats": args.repeats,
        "threads": args.threads,
        "limits": limits,
        "rows": rows,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_avg": os.getloadavg()},
        "environment": {
            k: os.environ.get(k)
            for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        },
        "lmrec": __version__,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "report.md").write_text(report(rows, limits, args.threads))


def _count(value: int | None) -> str:
    """A row count with thousands separators, "–" where it was not measured."""
    return "–" if value is None else f"{value:,}"


if __name__ == "__main__":
    main()
