"""Issue 17 (4-6): the service under a burst of costly and hostile requests, and the batch serialiser.

Two measurements, one run:

1. Burst against a real server. A synthetic log (`random_interactions`: 5,000 users x 2,000 items,
   density 0.02, seed 0) fits ItemKNN (k=50), saved and served by `lmrec serve` (one uvicorn worker, its
   own process, default limits, a token) on 127.0.0.1. After one warm-up request, twelve requests start
   at once:
   - 4 batch recommendations at the largest allowed cost: 1,000 users x n=100 = max_batch_cost (200);
   - 4 over-cost batches: 1,000 users x n=1,000 (422 before scoring);
   - 4 unauthenticated POST /events/batch declaring a 30 MiB body (401 before the body is read). They
     are sent over raw sockets: the client sends the headers, then streams the body in 64 KiB chunks
     until an answer arrives; how much it had sent by then is recorded.
   Meanwhile one client polls GET /health every 20 ms (latency measured by the client), and the server's
   RSS is sampled from /proc/<pid>/status every 5 ms; its peak (VmHWM, reset just before the burst
   through /proc/<pid>/clear_refs where the kernel allows it) is the figure checked against 600 MB.
2. Serialisation micro-benchmark, in this process: the same precomputed lists (1,000 users x n=100, and
   the issue's 1,000 x 1,000) answered through FastAPI as before (one pydantic object per item, the
   `response_model` validating and serialising them) and as now (`routes.batch_body`: plain dicts,
   encoded one list at a time); median wall time of repeated TestClient calls and their ratio.

Regenerate (about 2 minutes):
    .venv/bin/python benchmarks/service_limits.py --out benchmarks/results/service_limits
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from _server import free_port, start_server, status_kb

DATA = {"n_users": 5_000, "n_items": 2_000, "density": 0.02, "seed": 0}
TOKEN = "benchmark-token"
OVERSIZED = 30 * (1 << 20)
RSS_TARGET_MB = 600


def fit_model(work: Path) -> Path:
    from lmrec.models.knn import ItemKNN
    from lmrec.testing.datasets import random_interactions

    data = random_interactions(DATA["n_users"], DATA["n_items"], density=DATA["density"], seed=DATA["seed"])
    return ItemKNN(k=50).fit(data, seed=0).save(work / "itemknn")


def oversized_post(port: int) -> dict[str, Any]:
    """POST /events/batch without a token, declaring 30 MiB; stream the body until the server answers."""
    start = time.perf_counter()
    sent = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        head = (
            f"POST /events/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {OVERSIZED}\r\n\r\n"
        )
        sock.sendall(head.encode())
        chunk = b"[" * 65536
        while sent < OVERSIZED:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(chunk)
            except OSError:
                break
            sent += len(chunk)
        sock.settimeout(30)
        answer = b""
        while b"\r\n\r\n" not in answer:
            part = sock.recv(65536)
            if not part:
                break
            answer += part
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else None
    return {"status": status, "body_bytes_sent_before_answer": sent, "seconds": time.perf_counter() - start}


def batch_post(port: int, n: int) -> dict[str, Any]:
    users = [f"u{i:04d}" if i % 10 else f"stranger{i}" for i in range(1000)]  # 10% popularity fallback
    start = time.perf_counter()
    resp = httpx.post(
        f"http://127.0.0.1:{port}/recommendations/batch", json={"users": users, "n": n}, timeout=300
    )
    return {"status": resp.status_code, "bytes": len(resp.content), "seconds": time.perf_counter() - start}


def burst(port: int, pid: int) -> dict[str, Any]:
    batch_post(port, 100)  # warm-up: first-request imports and caches are not the burst's cost
    baseline_kb = status_kb(pid, "VmRSS")
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        hwm_reset = True
    except OSError:
        hwm_reset = False
    done = threading.Event()
    rss: list[int] = []
    health: list[float] = []

    def sample() -> None:
        while not done.is_set():
            rss.append(status_kb(pid, "VmRSS"))
            time.sleep(0.005)

    def poll_health() -> None:
        with httpx.Client(timeout=60) as client:
            while not done.is_set():
                start = time.perf_counter()
                client.get(f"http://127.0.0.1:{port}/health").raise_for_status()
                health.append(time.perf_counter() - start)
                time.sleep(0.02)

    results: dict[str, list[dict[str, Any]]] = {"allowed": [], "over_cost": [], "oversized": []}
    jobs = [("allowed", lambda: batch_post(port, 100))] * 4
    jobs += [("over_cost", lambda: batch_post(port, 1000))] * 4
    jobs += [("oversized", lambda: oversized_post(port))] * 4

    def run(kind: str, job: Any) -> None:
        results[kind].append(job())

    watchers = [threading.Thread(target=sample), threading.Thread(target=poll_health)]
    for w in watchers:
        w.start()
    time.sleep(0.2)
    start = time.perf_counter()
    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    time.sleep(0.2)
    done.set()
    for w in watchers:
        w.join()
    peak_kb = max(status_kb(pid, "VmHWM") if hwm_reset else 0, max(rss))
    health_ms = sorted(1000 * h for h in health)
    return {
        "baseline_rss_mb": round(baseline_kb / 1024, 1),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "peak_rss_sampled_mb": round(max(rss) / 1024, 1),
        "peak_from_vmhwm": hwm_reset,
        "rss_target_mb": RSS_TARGET_MB,
        "under_target": peak_kb / 1024 < RSS_TARGET_MB,
        "burst_seconds": round(wall, 2),
        "health": {
            "polls": len(health_ms),
            "p50_ms": round(statistics.median(health_ms), 1),
            "p99_ms": round(health_ms[min(len(health_ms) - 1, int(0.99 * len(health_ms)))], 1),
            "max_ms": round(health_ms[-1], 1),
        },
        "requests": {
            kind: {
                "statuses": sorted(r["status"] for r in rs),
                "max_seconds": round(max(r["seconds"] for r in rs), 3),
                **({"response_bytes": rs[0]["bytes"]} if "bytes" in rs[0] else {}),
                **(
                    {"max_body_bytes_sent_before_answer": max(r["body_bytes_sent_before_answer"] for r in rs)}
                    if kind == "oversized"
                    else {}
                ),
            }
            for kind, rs in results.items()
        },
    }


def serialisation(n_users: int, n: int, repeats: int) -> dict[str, Any]:
    """Old (pydantic per item + response_model) vs new (plain dicts) for the same lists, in one process."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from lmrec.service import schemas as S
    from lmrec.service.routes import batch_body
    from lmrec.service.state import RecList

    recs = [
        RecList(
            items=list(range(1000 + u, 1000 + u + n)),
            scores=[1.0 / (k + 1) + u * 1e-7 for k in range(n)],
            user=f"u{u:04d}",
            history_length=7,
            model_version=1,
        )
        for u in range(n_users)
    ]

    def old_out(rec: RecList) -> S.RecommendationOut:  # the endpoint before issue 17
        return S.RecommendationOut(
            user=rec.user,
            items=[S.ScoredItem(item=i, score=s) for i, s in zip(rec.items, rec.scores, strict=True)],
            fallback=rec.fallback,
            history_length=rec.history_length,
            model_version=rec.model_version,
            retrieval=rec.retrieval,  # type: ignore[arg-type]
        )

    app = FastAPI()

    @app.get("/old", response_model=S.BatchRecommendationOut)
    def old() -> S.BatchRecommendationOut:
        return S.BatchRecommendationOut(results=[old_out(r) for r in recs], model_version=1)

    @app.get("/new", response_model=S.BatchRecommendationOut)
    def new() -> Any:
        from fastapi.responses import Response

        return Response(batch_body(recs, 1), media_type="application/json")

    times: dict[str, list[float]] = {"old": [], "new": []}
    bodies: dict[str, Any] = {}
    with TestClient(app) as client:
        for _ in range(repeats):
            for name in ("old", "new"):  # interleaved: machine noise hits both alike
                start = time.perf_counter()
                resp = client.get(f"/{name}")
                times[name].append(time.perf_counter() - start)
                bodies[name] = resp.json()
    assert bodies["old"] == bodies["new"], "the two serialisers must answer the same JSON"
    old_s, new_s = statistics.median(times["old"]), statistics.median(times["new"])
    return {
        "users": n_users,
        "n": n,
        "items": n_users * n,
        "repeats": repeats,
        "old_seconds": round(old_s, 3),
        "new_seconds": round(new_s, 3),
        "speedup": round(old_s / new_s, 2),
        "same_json": True,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/service_limits"))
    ap.add_argument("--repeats", type=int, default=5, help="Calls per serialiser at 1,000 x 100.")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_dir = fit_model(work)
        port = free_port()
        proc = start_server(model_dir, port, work / "server.log", token=TOKEN)
        try:
            burst_result = burst(port, proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(json.dumps(burst_result, indent=2), flush=True)
    serial = [serialisation(1000, 100, args.repeats), serialisation(1000, 1000, 1)]
    print(json.dumps(serial, indent=2), flush=True)
    result = {
        "benchmark": "service_limits",
        "data": {**DATA, "model": "itemknn", "k": 50},
        "burst": burst_result,
        "serialisation": serial,
        "before_issue_17": {  # the figures for the code before these limits, for comparison
            "unauthenticated_30mb_events_batch": "parsed before its 401: RSS 160 -> 498 MB",
            "batch_1000_users_n_1000": "35 MB answer in 17.5 s (10.3 s building pydantic objects)",
            "four_such_batches_at_once": "2.4 GB RSS, /health stalled",
        },
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in load_before],
        },
        "command": ".venv/bin/python benchmarks/service_limits.py --out benchmarks/results/service_limits",
    }
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
