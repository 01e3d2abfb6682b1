"""ANN retrieval benchmark (issue 5): recall of `AnnIndex` against the exact top-n, and query latency.

Catalogs:
- synthetic: 100k items x 64 d, clustered (`lmrec.retrieval.synthetic.clustered_catalog`: 256 clusters,
  noise 0.6, log-normal item norms with sigma 0.3), 1000 queries drawn like the items;
- ml-latest-small and Amazon Beauty (S3Rec file): ALS (64 factors, 15 iterations, seed 0) fitted on the
  whole cleaned log (under a few seconds each); queries are the user vectors of up to 1000 sampled users.

Indexes: exact (numpy scores + the shared top-k, what the service does without ANN), HNSW and IVF-Flat
with the default `AnnConfig` (inner product through the norm-equalising L2 reduction), and HNSW on raw
inner products (`mips_reduction=False`) to show what the reduction buys.

Measured per index: build seconds; recall@10 and recall@100 = mean over queries of
|ANN top-n ∩ exact top-n| / n, without exclusions (a list the index cannot fill is answered exactly, as
the service does, and counted in exact_fallback_rows); on the real catalogs also recall@100 with each
user's training items excluded (the service's default); per-query latency of `AnnIndex.search` for
n=100 at batch 1 (p50/p95 over single queries) and batch 256 (p50/p95 per batch, and per query). A sweep
of ef_search / nprobe at batch 256 shows the recall-latency trade-off.

One thread (OMP_NUM_THREADS=1: FAISS and BLAS), so the numbers are per core; the machine's load average
at the start is recorded, as other jobs may share it.

Regenerate (about 70 s on one core):
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ann.py --out benchmarks/results/ann
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
import scipy.sparse as sp

from lmrec.retrieval import AnnConfig, AnnIndex
from lmrec.retrieval.synthetic import clustered_catalog

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
N = 100


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = [
        len(set(f[f >= 0].tolist()) & set(t[t >= 0].tolist())) / len(t)
        for f, t in zip(found, truth, strict=True)
    ]
    return round(float(np.mean(hits)), 4)


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1e3
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
    }


def latency(index: AnnIndex, queries: np.ndarray, singles: int, batches: int) -> dict[str, Any]:
    index.search(queries[:1], N)  # warm-up
    one = []
    for q in queries[:singles]:
        start = time.perf_counter()
        index.search(q[None, :], N)
        one.append(time.perf_counter() - start)
    many = []
    for b in range(batches):
        part = queries[(b * 256) % len(queries) :][:256]
        if len(part) < 256:
            part = np.resize(part, (256, queries.shape[1]))
        start = time.perf_counter()
        index.search(part, N)
        many.append(time.perf_counter() - start)
    batch = percentiles(many)
    return {
        "batch_1": percentiles(one),
        "batch_256": {**batch, "per_query_ms": round(batch["p50_ms"] / 256, 4)},
        "samples": {"batch_1": len(one), "batch_256": len(many)},
    }


def evaluate(
    name: str,
    items: np.ndarray,
    queries: np.ndarray,
    history: sp.csr_matrix | None,
    args: argparse.Namespace,
    **info: Any,
) -> dict[str, Any]:
    print(f"== {name}: {items.shape[0]} items x {items.shape[1]} d, {len(queries)} queries", flush=True)
    exact = AnnIndex(items, AnnConfig(index="exact"))
    truth = {n: exact.search_exact(queries, n)[0] for n in (10, N)}
    truth_excluded = None if history is None else exact.search_exact(queries, N, exclude=history)[0]
    variants = {
        "exact": AnnConfig(index="exact"),
        "hnsw": AnnConfig(index="hnsw"),
        "ivf": AnnConfig(index="ivf"),
        "hnsw_raw_inner_product": AnnConfig(index="hnsw", mips_reduction=False),
    }
    out: dict[str, Any] = {
        "n_items": int(items.shape[0]),
        "dim": int(items.shape[1]),
        "queries": len(queries),
    }
    out.update(info)
    out["indexes"] = {}
    for label, cfg in variants.items():
        index = exact if label == "exact" else AnnIndex(items, cfg)
        row: dict[str, Any] = {"build_seconds": round(index.build_seconds, 2), "config": cfg.__dict__.copy()}
        row["recall@10"] = recall(index.search(queries, 10).items, truth[10])
        found = index.search(queries, N)
        row["recall@100"] = recall(found.items, truth[N])
        if label != "exact":
            row["exact_fallback_rows@100"] = int(found.exact.sum())
        if history is not None:
            found = index.search(queries, N, exclude=history)
            row["recall@100_history_excluded"] = recall(found.items, truth_excluded)
            if label != "exact":
                row["exact_fallback_rows@100_history_excluded"] = int(found.exact.sum())
        if label != "hnsw_raw_inner_product":
            row["latency"] = latency(index, queries, args.singles, args.batches)
        if label in ("hnsw", "ivf"):
            row["sweep"] = sweep(index, queries, truth[N], label)
        print(f"   {label}: {json.dumps({k: v for k, v in row.items() if k != 'config'})}", flush=True)
        out["indexes"][label] = row
    exact_p50 = out["indexes"]["exact"]["latency"]["batch_1"]["p50_ms"]
    for label in ("hnsw", "ivf"):
        out["indexes"][label]["speedup_batch_1_p50"] = round(
            exact_p50 / out["indexes"][label]["latency"]["batch_1"]["p50_ms"], 2
        )
    return out


def sweep(index: AnnIndex, queries: np.ndarray, truth: np.ndarray, kind: str) -> list[dict[str, Any]]:
    """Recall@100 and ms/query (one batch of up to 256 queries) per ef_search (HNSW) or nprobe (IVF)."""
    knob = "ef_search" if kind == "hnsw" else "nprobe"
    values = (64, 128, 256, 512, 1024) if kind == "hnsw" else (4, 8, 16, 32, 64, 128)
    default = getattr(index.config, knob)
    part = queries[:256]
    rows = []
    for v in values:
        index.set_search_params(**{knob: v})
        start = time.perf_counter()
        found = index.search(part, N)
        seconds = time.perf_counter() - start
        rows.append(
            {
                knob: v,
                "recall@100": recall(found.items, truth[:256]),
                "exact_fallback_rows": int(found.exact.sum()),
                "ms_per_query": round(seconds / 256 * 1e3, 4),
            }
        )
    index.set_search_params(**{knob: default})
    return rows


def real_catalog(path: Path, args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix, dict]:
    from lmrec.data.cleaning import CleaningConfig, clean
    from lmrec.data.loaders import load_dataset
    from lmrec.models.mf import ALS

    data, _ = clean(load_dataset(str(path)), CleaningConfig())
    start = time.perf_counter()
    model = ALS(factors=64, iterations=15, num_threads=1).fit(data, seed=args.seed)
    fit_seconds = time.perf_counter() - start
    rng = np.random.default_rng(args.seed)
    users = np.sort(rng.choice(data.n_users, size=min(args.queries, data.n_users), replace=False))
    info = {
        "model": "ALS(factors=64, iterations=15)",
        "fit_seconds": round(fit_seconds, 2),
        "interactions": len(data),
        "users": data.n_users,
    }
    return model.item_vectors(), model.user_vectors(users), model.history_[users], info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=100_000, help="synthetic catalog size")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--singles", type=int, default=300, help="batch-1 queries timed")
    ap.add_argument("--batches", type=int, default=8, help="batches of 256 timed")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shared-data", type=Path, default=SHARED)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    import faiss

    started = time.perf_counter()
    load = os.getloadavg()
    items, queries = clustered_catalog(args.items, args.queries, args.dim, seed=args.seed)
    results = {
        "synthetic_100k": evaluate(
            "synthetic", items, queries, None, args, generator="clustered_catalog(256 clusters)"
        )
    }
    for name, rel in (("ml-latest-small", "ml-latest-small"), ("beauty", "amazon-s3rec/Beauty.txt")):
        path = args.shared_data / rel
        if not path.exists():
            print(f"skipping {name}: {path} not found", flush=True)
            continue
        vectors, users, history, info = real_catalog(path, args)
        results[name] = evaluate(name, vectors, users, sp.csr_matrix(history), args, **info)
    payload = {
        "command": "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ann.py --out benchmarks/results/ann",
        # paths relative to the repository, not this machine's folders
        "config": {
            k: os.path.relpath(v, Path(__file__).resolve().parents[1]) if isinstance(v, Path) else v
            for k, v in vars(args).items()
        },
        "n": N,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "faiss": faiss.__version__,
            "numpy": np.__version__,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "load_average_at_start": [round(x, 2) for x in load],
        },
        "total_seconds": round(time.perf_counter() - started, 1),
        "results": results,
    }
    text = json.dumps(payload, indent=2)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(text + "\n")
        print(f"wrote {args.out / 'results.json'}")
    else:
        print(text)


if __name__ == "__main__":
    main()
