"""Load test of `lmrec serve` (issue 5): latency and throughput of top-10 at fixed request rates.

What runs:
- Catalog: a synthetic implicit log (`lmrec.data.synthetic.synthetic_log`: 50,000 users, 2,000,000
  interactions, 125,000 item ids drawn with Zipf exponent 1.0, of which about 113k occur: the served catalog
  has more than 100k items). Seeded, so every run serves the same data.
- Models, fitted here and saved with `Recommender.save`, served by `lmrec serve` exactly as a user would:
  ItemKNN (k=100, cosine) ranked exactly over the whole catalog; SASRec (d=64, 2 blocks, sampled softmax with
  256 negatives, 1 epoch: the load test measures serving, not accuracy) ranked through the service's default
  retrieval (`auto`: a FAISS IVF index for a catalog this size). EASE is not served at this size: its dense
  item-item matrix would need 113k^2 x 4 bytes = 51 GB.
- Server: `lmrec serve` (one uvicorn worker) in its own process, BLAS/FAISS/torch limited to one thread.
- Load: locust (as a library) in this process, on loopback: one simulated client per request/s, each sending
  `GET /users/{id}/recommendations?n=10` for a uniformly drawn known user with exponential gaps of mean
  1 s, so the merged arrivals are a Poisson stream at the target rate (open loop: a slow answer does not
  delay the next request of the other clients). A response counts as an error unless it is HTTP 200 with
  exactly 10 items. 10 s of warm-up at 50 requests/s first (not recorded), then 50, 100 and 200
  requests/s for 60 s each. Latency is measured by the client, from sending the request to reading the
  whole response.
- Floor: the same load against `GET /health` (no model work) on the ItemKNN server: what the HTTP stack
  and the load generator cost on this machine, for reading the other rows.
- Target (issue 5): p99 < 15 ms at 200 requests/s with zero errors.

The two cores are shared by the server and the load generator; the load average before each step is
recorded. Stop other jobs first: the numbers are only meaningful on an otherwise idle machine.

Regenerate (about 15 minutes, plus about 8 minutes to fit the models the first time; they are cached in
--work):
    .venv/bin/python benchmarks/load.py --out benchmarks/results/load
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
from pathlib import Path
from typing import Any

import gevent
import numpy as np
from _server import free_port, start_server

ROOT = Path(__file__).resolve().parents[1]
RATES = (50, 100, 200)
SECONDS = 60
WARMUP = (50, 10)
P99_TARGET_MS = 15.0
N = 10
DATA = {"n_users": 50_000, "n_items": 125_000, "n_interactions": 2_000_000, "activity_sigma": 1.0, "seed": 0}
MODELS: dict[str, dict[str, Any]] = {
    "itemknn": {"k": 100},
    "sasrec": {
        "embedding_size": 64,
        "n_blocks": 2,
        "max_len": 50,
        "loss": "sampled",
        "n_negatives": 256,
        "negative_sharing": "batch",  # the draw the committed load test was fitted with
        "epochs": 1,
    },
}


def fit_models(work: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    """Fit and save each model once (cached in `work`); returns what was fitted, with timings."""
    from lmrec.data.synthetic import synthetic_log
    from lmrec.models.registry import get_model_class

    info: dict[str, dict[str, Any]] = {}
    data = None
    for name in names:
        folder = work / name
        meta = folder / "load_benchmark.json"
        if meta.is_file() and json.loads(meta.read_text()).get("params") == MODELS[name]:
            info[name] = json.loads(meta.read_text())
            continue
        if data is None:
            start = time.perf_counter()
            data = synthetic_log(**DATA)
            print(f"synthetic log: {len(data):,} interactions, {len(data.item_vocab):,} items "
                  f"({time.perf_counter() - start:.1f} s)", flush=True)  # fmt: skip
        start = time.perf_counter()
        model = get_model_class(name)(**MODELS[name]).fit(data, seed=0)
        fit_s = time.perf_counter() - start
        model.save(folder)
        info[name] = {
            "params": MODELS[name],
            "fit_seconds": round(fit_s, 1),
            "n_items": len(model.item_vocab_),
            "n_users": len(model.user_vocab_),
            "interactions": len(data),
        }
        meta.write_text(json.dumps(info[name], indent=2))
        print(f"{name}: fitted in {fit_s:.1f} s", flush=True)
    return info


def model_info(port: int) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/model", timeout=10) as r:
        body = json.loads(r.read())
    return {"name": body["name"], "n_items": body["n_items"], "retrieval": body["retrieval"]}


class Recorder:
    """Collects every request's latency and outcome during one step."""

    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.errors: list[str] = []
        self.recording = False

    def on_request(self, response_time: float, exception: Exception | None, **_: Any) -> None:
        if not self.recording:
            return
        self.latencies_ms.append(float(response_time))
        if exception is not None:
            self.errors.append(str(exception)[:200])


def client_class(host: str, users: list[str], *, floor: bool = False) -> type[FastHttpUser]:
    """Clients asking for top-N of random known users (floor: GET /health instead, which does no model
    work: the latency floor of the HTTP stack and the load generator on this machine)."""

    class TopN(FastHttpUser):
        """One client at 1 request/s on average, Poisson arrivals."""

        def on_start(self) -> None:
            self.rng = random.Random()
            self.next_at = time.monotonic() + self.rng.random()  # spread the clients' first requests

        def wait_time(self) -> float:
            self.next_at += self.rng.expovariate(1.0)
            return max(0.0, self.next_at - time.monotonic())

        @task
        def top_n(self) -> None:
            if floor:
                self.client.get("/health", name="/health")
                return
            user = users[self.rng.randrange(len(users))]
            with self.client.get(
                f"/users/{user}/recommendations?n={N}",
                name="/users/[id]/recommendations",
                catch_response=True,
            ) as resp:
                if resp.status_code != 200:
                    resp.failure(f"HTTP {resp.status_code}: {resp.text[:120]}")
                elif len(resp.json()["items"]) != N:
                    resp.failure(f"{len(resp.json()['items'])} items instead of {N}")

    TopN.host = host
    return TopN


def run_step(user_class: type[FastHttpUser], rate: int, seconds: float, recorder: Recorder | None) -> None:
    env = Environment(user_classes=[user_class])
    if recorder is not None:
        env.events.request.add_listener(recorder.on_request)
    runner = env.create_local_runner()
    runner.start(rate, spawn_rate=rate * 10)  # every client within 0.1 s; their phases are random
    gevent.sleep(1.5)  # let every client send its first request
    if recorder is not None:
        recorder.recording = True
    started = time.perf_counter()
    gevent.sleep(seconds)
    if recorder is not None:
        recorder.recording = False
        recorder.elapsed = time.perf_counter() - started  # type: ignore[attr-defined]
    runner.quit()


def summarize(rate: int, recorder: Recorder) -> dict[str, Any]:
    ms = np.asarray(recorder.latencies_ms)
    pct = {f"p{q}_ms": round(float(np.percentile(ms, q)), 2) for q in (50, 95, 99)}
    return {
        "target_rps": rate,
        "seconds": round(recorder.elapsed, 1),  # type: ignore[attr-defined]
        "requests": int(ms.size),
        "achieved_rps": round(ms.size / recorder.elapsed, 1),  # type: ignore[attr-defined]
        "errors": len(recorder.errors),
        "error_examples": sorted(set(recorder.errors))[:3],
        **pct,
        "max_ms": round(float(ms.max()), 2),
        "meets_target": bool(pct["p99_ms"] < P99_TARGET_MS and not recorder.errors),
    }


def load_model(
    name: str, model_dir: Path, rates: tuple[int, ...], seconds: float, log: Path, *, floor: bool = False
) -> dict[str, Any]:
    from lmrec.models.base import Recommender

    users = [str(u) for u in Recommender.load(model_dir).user_vocab_.ids.tolist()]
    port = free_port()
    server = start_server(model_dir, port, log)
    try:
        info = model_info(port)
        user_class = client_class(f"http://127.0.0.1:{port}", users, floor=floor)
        print(f"{name}: warm-up {WARMUP[1]} s at {WARMUP[0]} requests/s", flush=True)
        run_step(user_class, WARMUP[0], WARMUP[1], None)
        steps = []
        for rate in rates:
            load_before = os.getloadavg()[0]
            recorder = Recorder()
            run_step(user_class, rate, seconds, recorder)
            step = {**summarize(rate, recorder), "load_average_before": round(load_before, 2)}
            steps.append(step)
            print(f"{name} @ {rate} rps: {step['achieved_rps']} rps, p50 {step['p50_ms']} ms, "
                  f"p99 {step['p99_ms']} ms, errors {step['errors']}", flush=True)  # fmt: skip
            gevent.sleep(2)
        if server.poll() is not None:
            raise RuntimeError(f"the server died during the test; see {log}")
        if floor:
            info = {**info, "retrieval": {"mode": "none: GET /health"}}
        return {"model": name, "served": info, "steps": steps}
    finally:
        server.terminate()
        server.wait(30)


def report(results: dict[str, Any]) -> str:
    lines = [
        "# Load test: `lmrec serve`, top-10 for known users",
        "",
        f"Regenerate: `{results['command']}`. {results['catalog']}. Server: one uvicorn worker, one BLAS/"
        "FAISS/torch thread; load: locust on loopback, Poisson arrivals, 60 s per rate after a 10 s warm-up. "
        f"Target: p99 < {P99_TARGET_MS:g} ms at 200 requests/s, zero errors.",
        "",
        "| model | retrieval | target rps | achieved rps | requests | errors | p50 ms | p95 ms | p99 ms "
        "| max ms | meets target |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in results["models"]:
        r = m["served"]["retrieval"]
        kind = r.get("index") or r.get("mode")
        for s in m["steps"]:
            lines.append(
                f"| {m['model']} | {kind} | {s['target_rps']} | {s['achieved_rps']} | {s['requests']} | "
                f"{s['errors']} | {s['p50_ms']} | {s['p95_ms']} | {s['p99_ms']} | {s['max_ms']} | "
                f"{'yes' if s['meets_target'] else 'no'} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "load")
    parser.add_argument("--work", type=Path, default=ROOT / ".cache" / "load-benchmark",
                        help="where the fitted models are kept between runs (not committed)")  # fmt: skip
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--rates", nargs="+", type=int, default=list(RATES))
    parser.add_argument("--no-floor", action="store_true", help="skip the GET /health latency floor")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    fitted = fit_models(args.work, args.models)
    models = []
    for name in args.models:
        res = load_model(
            name, args.work / name, tuple(args.rates), args.seconds, args.work / f"server_{name}.log"
        )
        models.append({**res, "fit": fitted[name]})
    if not args.no_floor:
        name = args.models[0]
        log = args.work / "server_floor.log"
        models.append(load_model("floor", args.work / name, tuple(args.rates), args.seconds, log, floor=True))
    n_items = models[0]["served"]["n_items"]
    results = {
        "command": "python benchmarks/load.py " + " ".join(sys.argv[1:]).replace(str(ROOT) + "/", ""),
        "catalog": f"synthetic log {DATA}: {n_items:,} items served",
        "protocol": __doc__,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "models": models,
        "total_seconds": round(time.perf_counter() - start, 1),
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "report.md").write_text(report(results))
    print(report(results))


if __name__ == "__main__":
    main()
