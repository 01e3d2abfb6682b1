"""Scale benchmark (shared/PROTOCOLS.md "Scale — synthetic"): 20M interactions, 1M users, 100k items.

Stages, each timed with its own peak RSS: generate -> write Parquet -> load -> clean -> split (P1) ->
fit Popularity and ItemKNN -> full-ranking evaluation on a seeded uniform sample of test users
(every item of the catalog is ranked; only users are sampled).

Regenerate: .venv/bin/python benchmarks/scale.py --out benchmarks/results/scale
Smaller smoke run: .venv/bin/python benchmarks/scale.py --users 20000 --items 5000 --interactions 400000
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from lmrec.data.cleaning import CleaningConfig, clean
from lmrec.data.loaders import load_dataset
from lmrec.data.splits import temporal_ratio
from lmrec.data.synthetic import write_synthetic_parquet
from lmrec.eval import evaluate_ranking
from lmrec.experiment.prepare import sample_users
from lmrec.experiment.report import to_markdown, write_json
from lmrec.models.knn import ItemKNN
from lmrec.models.popularity import Popularity
from lmrec.resources import measure, process_peak_rss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--interactions", type=int, default=20_000_000)
    ap.add_argument("--eval-users", type=int, default=20_000, help="uniform sample of test users")
    ap.add_argument("--knn-k", type=int, default=50)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    stages: list[dict[str, object]] = []

    def record(name: str, m, **extra) -> None:  # type: ignore[no-untyped-def]
        row = {"stage": name, **m.to_dict(), **extra}
        stages.append(row)
        print(json.dumps(row), flush=True)

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "synthetic.parquet"
        with measure() as m:
            write_synthetic_parquet(
                path, n_users=args.users, n_items=args.items, n_interactions=args.interactions, seed=args.seed
            )
        record("generate+write parquet", m, bytes=path.stat().st_size)
        gc.collect()
        with measure() as m:
            raw = load_dataset(
                str(path),
                format="tabular",
                columns={"user": "user", "item": "item", "timestamp": "timestamp"},
            )
        record("load", m, rows=len(raw.frame))
        with measure() as m:
            data, report = clean(raw, CleaningConfig(duplicates="keep_last"))
            del raw
            gc.collect()
        record(
            "clean",
            m,
            rows_out=len(data),
            users=data.n_users,
            items=data.n_items,
            removed=report.to_dict().get("removed"),
        )
    with measure() as m:
        split = temporal_ratio(data, train=0.8, valid=0.1)
        del data
        gc.collect()
    record("split P1", m, train=len(split.train), valid=len(split.valid), test=len(split.test))
    fit_data = split.train_valid()
    history = fit_data.csr()
    targets = split.test.csr()
    users = sample_users(np.flatnonzero(np.diff(targets.indptr) > 0), args.eval_users, args.seed)
    results = {}
    for name, model in (("Popularity", Popularity()), ("ItemKNN", ItemKNN(k=args.knn_k))):
        with measure() as m:
            model.fit(fit_data, seed=args.seed)
        record(f"fit {name}", m)
        with measure() as m:
            res = evaluate_ranking(
                model,
                targets,
                history,
                ns=[10, 20],
                users=users,
                item_popularity=fit_data.item_counts(),
                progress=False,
            )
        record(
            f"evaluate {name}",
            m,
            users=int(users.shape[0]),
            users_per_second=round(users.shape[0] / m.seconds, 1),
        )
        results[name] = {k: v for k, v in res.summary().items() if isinstance(v, float)}
    total = time.perf_counter() - t0
    payload = {
        "protocol": "Scale (shared/PROTOCOLS.md): synthetic power-law log, P1 temporal per-user 80/10/10, "
        "refit on train+valid, full ranking over the whole catalog for a seeded uniform sample of "
        f"{users.shape[0]} test users (users sampled, never items)",
        "config": vars(args) | {"out": str(args.out)},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "stages": stages,
        "metrics": results,
        "total_seconds": round(total, 1),
        "process_peak_rss_mb": round(process_peak_rss() / 2**20, 1),
    }
    print(
        json.dumps(
            {"total_seconds": payload["total_seconds"], "process_peak_rss_mb": payload["process_peak_rss_mb"]}
        )
    )
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        write_json(args.out / "results.json", payload)
        import pandas as pd

        md = [
            "# Scale benchmark",
            "",
            payload["protocol"],
            "",
            to_markdown(pd.DataFrame(stages)[["stage", "seconds", "peak_rss_mb"]], floatfmt=".1f"),
            "",
            f"Total {payload['total_seconds']} s; process peak RSS {payload['process_peak_rss_mb']} MB.",
            "",
            to_markdown(
                pd.DataFrame(results).T.reset_index(names="model")[
                    ["model", "NDCG@10", "Recall@10", "Recall@20"]
                ]
            ),
            "",
        ]
        (args.out / "leaderboard.md").write_text("\n".join(md))


if __name__ == "__main__":
    main()
