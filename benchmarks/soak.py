"""Soak test of `lmrec serve` (issue 17): 10 minutes at 200 requests/s of mixed reads and event writes.

What runs:
- Data and model: MovieLens-100K (the real log, `load_dataset("ml-100k")`, default cleaning), all of it,
  fits ALS (64 factors, 15 iterations; it folds posted events into a user's vector at once), saved with
  `Recommender.save` and served by `lmrec serve` exactly as a user would: one uvicorn worker in its own
  process, BLAS/torch limited to one thread, a write token (reads stay public), default limits, a fresh
  SQLite event store.
- Load: locust (as a library) in this process on loopback, 200 simulated clients at 1 request/s each with
  exponential gaps (the merged arrivals are a Poisson stream at 200 requests/s, open loop). Each request is
  drawn from this mix:
  - 40% `GET /users/{id}/recommendations?n=10` for a uniformly drawn MovieLens user;
  - 20% `POST /recommendations` with an anonymous history of 5-20 random catalog items, n=10;
  - 10% `POST /recommendations/batch` for 20 random users, n=10;
  - 30% `POST /events` (with the token): a random catalog item for a MovieLens user (two thirds) or for
    one of 500 new users with string ids (`soak-<k>`, one third), so histories, the event store and the
    online state grow during the soak as they do in production.
  A read counts as an error unless HTTP 200 with exactly 10 items (the batch: 20 lists of 10); a write
  unless HTTP 200.
- Phases: 60 s of warm-up at the full rate (not recorded), then 600 s recorded. The server's resident
  memory (VmRSS, /proc/<pid>/status) is sampled every 5 s from the start.
- Checks (issue 17): zero 5xx; p50/p99 reported overall and per endpoint; RSS drift under 5%, drift being
  the median RSS of the last 60 s of the soak against the median of its first 60 s (after warm-up).

The two cores are shared by the server and the load generator; the load average before the soak is
recorded. Stop other jobs first: the latencies only mean something on an otherwise idle machine.

Regenerate (about 12 minutes):
    LMREC_DATA_HOME=../shared/data .venv/bin/python benchmarks/soak.py --out benchmarks/results/soak
"""

from __future__ import annotations

# locust patches the standard library with gevent: it must be imported before anything that uses sockets
from locust import FastHttpUser, task  # isort: skip
from locust.env import Environment  # isort: skip

import argparse
import json
import os
import platform
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import gevent
import numpy as np
from _server import free_port, start_server, status_kb

ROOT = Path(__file__).resolve().parents[1]
RATE = 200
SECONDS = 600
WARMUP_S = 60
RSS_EVERY_S = 5.0
DRIFT_WINDOW_S = 60.0
DRIFT_TARGET = 0.05
TOKEN = "soak-token"
N = 10
BATCH_USERS = 20
NEW_USERS = 500
MIX = (("user", 0.40), ("history", 0.20), ("batch", 0.10), ("event", 0.30))
MODEL = {"name": "als", "params": {"factors": 64, "iterations": 15}}
ENDPOINTS = {
    "user": "GET /users/[id]/recommendations",
    "history": "POST /recommendations",
    "batch": "POST /recommendations/batch",
    "event": "POST /events",
}


def fit_model(work: Path) -> tuple[Path, dict[str, Any]]:
    """Fit ALS on all of MovieLens-100K once (cached in `work`)."""
    from lmrec.data.cleaning import CleaningConfig, clean
    from lmrec.data.loaders import load_dataset
    from lmrec.models.registry import make_model

    folder = work / "als_ml100k"
    meta = folder / "soak_benchmark.json"
    if meta.is_file() and json.loads(meta.read_text()).get("model") == MODEL:
        return folder, json.loads(meta.read_text())
    data, _ = clean(load_dataset("ml-100k"), CleaningConfig())
    start = time.perf_counter()
    model = make_model(MODEL["name"], MODEL["params"]).fit(data, seed=0)
    fit_s = time.perf_counter() - start
    model.save(folder)
    info = {
        "model": MODEL,
        "dataset": "ml-100k (all interactions, default cleaning)",
        "interactions": len(data),
        "n_users": len(model.user_vocab_),
        "n_items": len(model.item_vocab_),
        "fit_seconds": round(fit_s, 1),
    }
    meta.write_text(json.dumps(info, indent=2))
    return folder, info


class Recorder:
    """Every request's endpoint, latency and status while recording."""

    def __init__(self) -> None:
        self.recording = False
        self.latencies_ms: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, Counter[int]] = defaultdict(Counter)
        self.failures: dict[str, Counter[str]] = defaultdict(Counter)

    def on_request(self, name: str, response_time: float, response: Any, exception: Any, **_: Any) -> None:
        if not self.recording:
            return
        self.latencies_ms[name].append(float(response_time))
        self.statuses[name][int(getattr(response, "status_code", 0) or 0)] += 1
        if exception is not None:
            self.failures[name][str(exception)[:160]] += 1


def client_class(
    host: str, users: list[str], items: list[str], mix: tuple[tuple[str, float], ...] = MIX
) -> type[FastHttpUser]:
    kinds = [k for k, _ in mix]
    weights = [w for _, w in mix]
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def expect(resp: Any, lists: int) -> None:
        if resp.status_code != 200:
            resp.failure(f"HTTP {resp.status_code}: {resp.text[:120]}")
            return
        body = resp.json()
        got = [len(r["items"]) for r in body["results"]] if lists > 1 else [len(body["items"])]
        if got != [N] * lists:
            resp.failure(f"list lengths {sorted(set(got))} instead of {N} x {lists}")

    class Mixed(FastHttpUser):
        """One client at 1 request/s on average, Poisson arrivals, one request kind per draw."""

        def on_start(self) -> None:
            self.rng = random.Random()
            self.next_at = time.monotonic() + self.rng.random()

        def wait_time(self) -> float:
            self.next_at += self.rng.expovariate(1.0)
            return max(0.0, self.next_at - time.monotonic())

        @task
        def one(self) -> None:
            rng = self.rng
            kind = rng.choices(kinds, weights)[0]
            name = ENDPOINTS[kind]
            if kind == "user":
                user = users[rng.randrange(len(users))]
                url = f"/users/{user}/recommendations?n={N}"
                with self.client.get(url, name=name, catch_response=True) as resp:
                    expect(resp, 1)
            elif kind == "history":
                body = {"items": rng.sample(items, rng.randint(5, 20)), "n": N}
                with self.client.post("/recommendations", json=body, name=name, catch_response=True) as resp:
                    expect(resp, 1)
            elif kind == "batch":
                body = {"users": rng.sample(users, BATCH_USERS), "n": N}
                with self.client.post(
                    "/recommendations/batch", json=body, name=name, catch_response=True
                ) as resp:
                    expect(resp, BATCH_USERS)
            else:
                new = rng.random() < 1 / 3
                user = f"soak-{rng.randrange(NEW_USERS)}" if new else users[rng.randrange(len(users))]
                event = {"user": user, "item": items[rng.randrange(len(items))]}
                with self.client.post(
                    "/events", json=event, headers=auth, name=name, catch_response=True
                ) as resp:
                    if resp.status_code != 200:
                        resp.failure(f"HTTP {resp.status_code}: {resp.text[:120]}")

    Mixed.host = host
    return Mixed


def percentiles(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    out = {f"p{q}_ms": round(float(np.percentile(a, q)), 2) for q in (50, 95, 99)}
    return {**out, "max_ms": round(float(a.max()), 2)}


def soak(
    model_dir: Path,
    rate: int,
    seconds: float,
    warmup_s: float,
    log: Path,
    mix: tuple[tuple[str, float], ...] = MIX,
) -> dict[str, Any]:
    from lmrec.models.base import Recommender

    model = Recommender.load(model_dir)
    users = [str(u) for u in model.user_vocab_.ids.tolist()]
    items = [str(i) for i in model.item_vocab_.ids.tolist()]
    port = free_port()
    server = start_server(model_dir, port, log, token=TOKEN)
    rss: list[tuple[float, int]] = []
    t0 = time.monotonic()

    def sample_rss() -> None:
        while server.poll() is None:
            rss.append((time.monotonic() - t0, status_kb(server.pid, "VmRSS")))
            gevent.sleep(RSS_EVERY_S)

    try:
        load_before = os.getloadavg()[0]
        sampler = gevent.spawn(sample_rss)
        recorder = Recorder()
        env = Environment(user_classes=[client_class(f"http://127.0.0.1:{port}", users, items, mix)])
        env.events.request.add_listener(recorder.on_request)
        runner = env.create_local_runner()
        runner.start(rate, spawn_rate=100)  # all clients within 2 s, well inside the warm-up
        print(f"warm-up: {warmup_s:g} s at {rate} requests/s", flush=True)
        gevent.sleep(warmup_s)
        recorder.recording = True
        started = time.monotonic()
        for done in range(0, int(seconds), 60):
            gevent.sleep(min(60, seconds - done))
            n = sum(len(v) for v in recorder.latencies_ms.values())
            mb = rss[-1][1] / 1024
            print(f"soak: {done + 60:.0f}/{seconds:g} s, {n:,} requests, RSS {mb:.0f} MB", flush=True)
        recorder.recording = False
        elapsed = time.monotonic() - started
        runner.quit()
        sampler.kill()
        if server.poll() is not None:
            raise RuntimeError(f"the server died during the soak; see {log}")
        final_rss_kb = status_kb(server.pid, "VmRSS")
        peak_rss_kb = status_kb(server.pid, "VmHWM")
    finally:
        server.terminate()
        server.wait(30)
    soak_start = started - t0
    soak_end = soak_start + elapsed
    first = [kb for t, kb in rss if soak_start <= t < soak_start + DRIFT_WINDOW_S]
    last = [kb for t, kb in rss if soak_end - DRIFT_WINDOW_S <= t <= soak_end]
    first_mb = float(np.median(first)) / 1024
    last_mb = float(np.median(last)) / 1024
    drift = (last_mb - first_mb) / first_mb
    all_ms = [ms for v in recorder.latencies_ms.values() for ms in v]
    statuses: Counter[int] = Counter()
    for c in recorder.statuses.values():
        statuses.update(c)
    n_5xx = sum(v for k, v in statuses.items() if k >= 500)
    n_failed = sum(sum(c.values()) for c in recorder.failures.values())
    return {
        "target_rps": rate,
        "mix": [list(kw) for kw in mix],
        "warmup_seconds": warmup_s,
        "seconds": round(elapsed, 1),
        "requests": len(all_ms),
        "achieved_rps": round(len(all_ms) / elapsed, 1),
        "load_average_before": round(load_before, 2),
        "overall": percentiles(all_ms),
        "endpoints": {
            name: {
                "requests": len(ms),
                **percentiles(ms),
                "statuses": {str(k): v for k, v in sorted(recorder.statuses[name].items())},
                "failures": sum(recorder.failures[name].values()),
                "failure_examples": [m for m, _ in recorder.failures[name].most_common(3)],
            }
            for name, ms in sorted(recorder.latencies_ms.items())
        },
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "n_5xx": n_5xx,
        "failures": n_failed,
        "rss": {
            "first_minute_median_mb": round(first_mb, 1),
            "last_minute_median_mb": round(last_mb, 1),
            "drift": round(drift, 4),
            "final_mb": round(final_rss_kb / 1024, 1),
            "peak_mb": round(peak_rss_kb / 1024, 1),
            "samples_s_mb": [(round(t, 1), round(kb / 1024, 1)) for t, kb in rss],
        },
        "checks": {
            "zero_5xx": n_5xx == 0,
            "zero_failures": n_failed == 0,
            "rss_drift_under_5pct": abs(drift) < DRIFT_TARGET,
        },
    }


def report(results: dict[str, Any]) -> str:
    s = results["soak"]
    m = results["model"]
    lines = [
        "# Soak test: `lmrec serve`, mixed reads and writes for 10 minutes",
        "",
        f"Regenerate: `{results['command']}`. Model: {m['model']['name']} {m['model']['params']} on "
        f"{m['dataset']} ({m['interactions']:,} interactions, {m['n_users']:,} users, "
        f"{m['n_items']:,} items). "
        "Server: one uvicorn worker, one BLAS/torch thread, write token, SQLite event store; load: locust on "
        f"loopback, Poisson arrivals at {s['target_rps']} requests/s, {s['warmup_seconds']:g} s warm-up then "
        f"{s['seconds']:g} s recorded; load average before: {s['load_average_before']}. Mix: "
        + ", ".join(f"{round(w * 100)}% {ENDPOINTS[k]}" for k, w in s["mix"])
        + ".",
        "",
        f"Achieved {s['achieved_rps']} requests/s, {s['requests']:,} requests; HTTP statuses "
        f"{s['statuses']}; 5xx: {s['n_5xx']}; failed checks: {s['failures']}.",
        "",
        "| endpoint | requests | p50 ms | p95 ms | p99 ms | max ms | failures |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    o = s["overall"]
    lines.append(f"| all | {s['requests']} | {o['p50_ms']} | {o['p95_ms']} | {o['p99_ms']} | {o['max_ms']} | "
                 f"{s['failures']} |")  # fmt: skip
    for name, e in s["endpoints"].items():
        lines.append(
            f"| {name} | {e['requests']} | {e['p50_ms']} | {e['p95_ms']} | {e['p99_ms']} | {e['max_ms']} | "
            f"{e['failures']} |"
        )
    r = s["rss"]
    lines += [
        "",
        f"Server RSS: median {r['first_minute_median_mb']} MB in the soak's first minute, "
        f"{r['last_minute_median_mb']} MB in its last: drift {r['drift'] * 100:+.2f}% (target: under 5%); "
        f"peak {r['peak_mb']} MB.",
        "",
        "Checks: " + ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in s["checks"].items()) + ".",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "soak")
    parser.add_argument("--work", type=Path, default=ROOT / ".cache" / "soak-benchmark",
                        help="where the fitted model is kept between runs (not committed)")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--warmup", type=float, default=WARMUP_S)
    parser.add_argument("--rate", type=int, default=RATE)
    parser.add_argument("--reads-only", action="store_true",
                        help="no event writes (the read share scaled up): tells memory growth from stored "
                        "events apart from a leak")  # fmt: skip
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    model_dir, info = fit_model(args.work)
    mix = tuple((k, w / (1 - dict(MIX)["event"])) for k, w in MIX if k != "event") if args.reads_only else MIX
    result = soak(model_dir, args.rate, args.seconds, args.warmup, args.work / "server.log", mix)
    results = {
        "command": "python benchmarks/soak.py " + " ".join(sys.argv[1:]).replace(str(ROOT) + "/", ""),
        "protocol": __doc__,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "model": info,
        "soak": result,
        "total_seconds": round(time.perf_counter() - start, 1),
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "report.md").write_text(report(results))
    print(report(results))


if __name__ == "__main__":
    main()
