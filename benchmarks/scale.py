"""Scale benchmark (shared/PROTOCOLS.md "Scale — synthetic"): 20M interactions, 1M users, 100k items.

Stages, each timed with its own peak RSS: generate -> write Parquet -> load -> clean -> split (P1) ->
fit Popularity, ItemKNN and ALS -> full-ranking evaluation of every test user (all of them; every item of
the catalog is ranked), in this process or, with --ray, in shards on a Ray cluster.

A sampler thread reads the resident memory of this process and of every Ray process of the machine
twice a second, so the table gives the peak RSS of each process, not only of the driver. With --ray, the
results are compared with nothing here (run both modes and compare results.json: the metrics must be
identical), and a scaling estimate for 8 and 64 workers is written from the measured per-user time,
the measured fixed overhead and the bytes each worker receives (an estimate, not a measurement).

Regenerate:
  .venv/bin/python benchmarks/scale.py --out benchmarks/results/scale
  .venv/bin/python benchmarks/scale.py --ray local --out benchmarks/results/scale_ray
Smaller smoke run: .venv/bin/python benchmarks/scale.py --users 20000 --items 5000 --interactions 400000
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import platform
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from lmrec.data.cleaning import CleaningConfig, clean
from lmrec.data.loaders import load_dataset
from lmrec.data.splits import temporal_ratio
from lmrec.data.synthetic import write_synthetic_parquet
from lmrec.distributed import make_engine
from lmrec.eval import evaluate_ranking
from lmrec.experiment.prepare import sample_users
from lmrec.experiment.report import to_markdown, write_json
from lmrec.models.knn import ItemKNN
from lmrec.models.mf import ALS
from lmrec.models.popularity import Popularity
from lmrec.resources import measure, process_peak_rss


class RssSampler(threading.Thread):
    """Peak RSS of this process and of every Ray process (name starting "ray::" or a Ray daemon), by pid."""

    DAEMONS = ("raylet", "gcs_server", "plasma_store", "dashboard", "log_monitor", "runtime_env")

    def __init__(self, period: float = 0.5, *, own_only: bool = True) -> None:
        super().__init__(daemon=True)
        self.period = period
        self.own_only = own_only
        """Only this process and its descendants (a `--ray local` instance is): other Ray clusters on the
        machine (a test session's) are not this run's. False for a cluster started elsewhere."""
        self.peaks: dict[int, tuple[str, int]] = {}
        self._halt = threading.Event()

    def _label(self, proc: psutil.Process) -> str | None:
        if proc.pid == os.getpid():
            return "driver (this process)"
        try:
            cmd = " ".join(proc.cmdline())
        except (psutil.Error, OSError):
            return None
        if proc.name().startswith("ray::") or cmd.startswith("ray::"):
            return "ray worker"
        for daemon in self.DAEMONS:
            if daemon in cmd and "ray" in cmd:
                return f"ray {daemon}"
        return None

    def run(self) -> None:
        me = psutil.Process()
        while not self._halt.is_set():
            procs = [me, *me.children(recursive=True)] if self.own_only else list(psutil.process_iter())
            for proc in procs:
                try:
                    name = self._label(proc)
                    if name is None:
                        continue
                    rss = proc.memory_info().rss
                except (psutil.Error, OSError):
                    continue
                old = self.peaks.get(proc.pid)
                if old is None or rss > old[1]:
                    self.peaks[proc.pid] = (name, rss)
            self._halt.wait(self.period)

    def stop(self) -> list[dict[str, Any]]:
        self._halt.set()
        self.join()
        rows = [
            {"pid": pid, "process": n, "peak_rss_mb": round(r / 2**20, 1)}
            for pid, (n, r) in self.peaks.items()
        ]
        return sorted(rows, key=lambda r: -r["peak_rss_mb"])


def _warm(_: int) -> None:
    import lmrec.eval.evaluator
    import lmrec.models.topk  # noqa: F401 - the imports are the point

    time.sleep(1.0)  # long enough that the pieces land on different workers


def _nbytes(obj: Any) -> int:
    return len(pickle.dumps(obj, protocol=5))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--interactions", type=int, default=20_000_000)
    ap.add_argument("--eval-users", type=int, default=0, help="uniform sample of test users (0: all)")
    ap.add_argument("--knn-k", type=int, default=50)
    ap.add_argument("--als-factors", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--ray", default=None, help="evaluate on Ray: local, auto or HOST:PORT")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    stages: list[dict[str, object]] = []
    sampler = RssSampler(own_only=args.ray in (None, "local"))
    sampler.start()

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
    del split
    gc.collect()
    with_targets = np.flatnonzero(np.diff(targets.indptr) > 0)
    users = with_targets if args.eval_users <= 0 else sample_users(with_targets, args.eval_users, args.seed)
    popularity = np.asarray((history > 0).sum(axis=0)).ravel()
    results: dict[str, dict[str, float]] = {}
    estimate: dict[str, Any] = {}
    models = (
        ("Popularity", Popularity()),
        ("ItemKNN", ItemKNN(k=args.knn_k)),
        ("ALS", ALS(factors=args.als_factors, num_threads=2)),
    )
    with make_engine(args.ray) as engine:
        where = engine.describe()
        print(json.dumps({"engine": where}), flush=True)
        if engine.parallel:  # worker processes start (and import lmrec) once, outside the timed stages
            with measure() as m:
                engine.map(_warm, list(range(engine.workers)), {})
            record("start Ray workers", m)
        for name, model in models:
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
                    item_popularity=popularity,
                    batch_size=args.batch_size,
                    progress=False,
                    engine=engine,
                )
            record(
                f"evaluate {name}",
                m,
                users=int(users.shape[0]),
                users_per_second=round(users.shape[0] / m.seconds, 1),
            )
            results[name] = {k: v for k, v in res.summary().items() if isinstance(v, float)}
            estimate[name] = {"seconds": m.seconds, "model_bytes": _nbytes(model)}
            del model
            gc.collect()
    shared_bytes = _nbytes(history) + _nbytes(targets)
    if where["engine"] == "ray":
        scaling = scaling_estimate(estimate, shared_bytes, int(users.shape[0]), int(where["workers"]))
    total = time.perf_counter() - t0
    processes = sampler.stop()
    payload = {
        "protocol": "Scale (shared/PROTOCOLS.md): synthetic power-law log, P1 temporal per-user 80/10/10, "
        "models fitted on train+valid, history at test train+valid (excluded from the ranking), full ranking "
        "over the whole catalog for "
        + ("every one of the " if args.eval_users <= 0 else "a seeded uniform sample of ")
        + f"{users.shape[0]} test users (users sampled, never items)",
        "config": vars(args) | {"out": str(args.out)},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "engine": where,
        "stages": stages,
        "metrics": results,
        "processes": processes,
        "scaling_estimate": scaling if where["engine"] == "ray" else None,
        "transfer": {
            "history_and_targets_bytes": shared_bytes,
            **{k: v["model_bytes"] for k, v in estimate.items()},
        },
        "total_seconds": round(total, 1),
        "process_peak_rss_mb": round(process_peak_rss() / 2**20, 1),
    }
    print(json.dumps({"total_seconds": payload["total_seconds"], "processes": processes[:6]}))
    if args.out is not None:
        write(args.out, payload)


NETWORK_BYTES_PER_S = 1.25e9
"""10 Gbit/s between nodes, the assumption of the scaling estimate."""


def scaling_estimate(
    measured: dict[str, Any], shared_bytes: int, n_users: int, workers: int
) -> dict[str, Any]:
    """Evaluation time on 8 and 64 one-CPU workers on separate nodes, from this run: the per-user cost
    of one worker (measured time x measured workers / users, overhead included, so pessimistic) split
    over the workers, plus every node pulling the model, the history and the targets once from the head
    at 10 Gbit/s one after the other (worst case). An estimate, not a measurement."""
    out: dict[str, Any] = {"assumptions": scaling_estimate.__doc__, "measured_workers": workers}
    for name, m in measured.items():
        per_user = m["seconds"] * workers / n_users
        pulled = m["model_bytes"] + shared_bytes
        out[name] = {
            "measured_seconds": round(m["seconds"], 1),
            "worker_seconds_per_user": per_user,
            "bytes_per_node": pulled,
            **{
                f"estimated_seconds_{w}_workers": round(
                    n_users * per_user / w + w * pulled / NETWORK_BYTES_PER_S, 1
                )
                for w in (8, 64)
            },
        }
    return out


def write(out: Path, payload: dict[str, Any]) -> None:
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "results.json", payload)
    stages = pd.DataFrame(payload["stages"])
    cols = ["stage", "seconds", "peak_rss_mb"] + (
        ["users_per_second"] if "users_per_second" in stages else []
    )
    procs = pd.DataFrame(payload["processes"])
    md = [
        "# Scale benchmark" + (" on Ray" if payload["engine"]["engine"] == "ray" else ""),
        "",
        payload["protocol"] + f"; engine: {json.dumps(payload['engine'])}",
        "",
        to_markdown(stages[cols], floatfmt=".1f"),
        "",
        f"Total {payload['total_seconds']} s; driver peak RSS {payload['process_peak_rss_mb']} MB.",
        "",
        "## Peak RSS of every process (sampled twice a second)",
        "",
        to_markdown(procs.head(20), floatfmt=".1f"),
        "",
        *(
            [f"Removed from this table: {payload['processes_removed']['why']}.", ""]
            if payload.get("processes_removed")
            else []
        ),
        to_markdown(
            pd.DataFrame(payload["metrics"]).T.reset_index(names="model")[
                ["model", "NDCG@10", "Recall@10", "Recall@20"]
            ]
        ),
        "",
    ]
    est = payload.get("scaling_estimate")
    if est:
        rows = [{"model": k, **v} for k, v in est.items() if isinstance(v, dict)]
        md += [
            "## Scaling estimate (not a measurement)",
            "",
            est["assumptions"],
            "",
            to_markdown(pd.DataFrame(rows)),
            "",
        ]
    (out / "leaderboard.md").write_text("\n".join(md))


if __name__ == "__main__":
    main()
