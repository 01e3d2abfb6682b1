"""Fault test: kill -9 the real service (uvicorn in its own process) while a client streams events,
restart it on the same SQLite file, and check that every acknowledged event is stored and counts in the
user's recommendations.

Slow (two server start-ups, ~10-20 s): runs with `-m slow`. All traffic stays on 127.0.0.1, the event
loop is bounded in count and time, and the test kills only the server process it started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from lmrec.models.knn import ItemKNN
from lmrec.service.store import EventStore
from lmrec.testing.datasets import random_interactions

pytestmark = pytest.mark.slow

TOKEN = "fault-token"
MAX_EVENTS = 3000
KILL_AFTER = 300
"""Acknowledged events before the kill."""
DEADLINE = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(model_dir: Path, store: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "LMREC_SERVICE_TOKEN": TOKEN}
    cmd = [sys.executable, "-m", "lmrec.cli", "serve", str(model_dir), "--port", str(port), "--store", store]
    with log.open("ab") as out:
        proc = subprocess.Popen([*cmd, "--log-level", "warning"], env=env, stdout=out, stderr=out)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the service exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"the service did not answer within 60 s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_acknowledged_events_survive_kill_9(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("kill -9 fault test starts real servers: run with -m slow")
    model_dir = ItemKNN(k=10).fit(random_interactions(), seed=0).save(tmp_path / "model")
    store = f"sqlite:///{tmp_path / 'events.sqlite'}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "service.log"
    proc = start(model_dir, store, port, log)

    acked: dict[str, tuple[str, int]] = {}  # idempotency key -> (user, item)
    enough = threading.Event()

    def stream() -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        end = time.monotonic() + DEADLINE
        with httpx.Client(base_url=url, headers=headers, timeout=5) as client:
            for i in range(MAX_EVENTS):
                if time.monotonic() > end:
                    return
                event = {"user": f"fault-{i % 7}", "item": 100 + i % 25, "idempotency_key": f"k{i}"}
                try:
                    resp = client.post("/events", json=event)
                except httpx.TransportError:
                    return  # the server is gone: this event was never acknowledged
                if resp.status_code == 200:
                    acked[event["idempotency_key"]] = (event["user"], event["item"])
                if len(acked) >= KILL_AFTER:
                    enough.set()

    streamer = threading.Thread(target=stream)
    try:
        streamer.start()
        assert enough.wait(DEADLINE), f"only {len(acked)} events acknowledged before the deadline"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)
        streamer.join(timeout=30)
        assert not streamer.is_alive()

        events = EventStore(store)
        stored = {e.idempotency_key: e for e in events.events()}
        events.close()
        missing = sorted(set(acked) - set(stored))
        assert not missing, f"{len(missing)} acknowledged events lost, e.g. {missing[:5]}"
        assert all((stored[k].user, int(stored[k].item)) == v for k, v in acked.items())

        proc = start(model_dir, store, port, log)
        per_user = Counter(e.user for e in stored.values())
        for user, count in per_user.items():
            body = httpx.get(f"{url}/users/{user}/recommendations", timeout=5).json()
            assert body["fallback"] is None and body["history_length"] == count
        key = next(iter(acked))
        user, item = acked[key]
        again = httpx.post(
            f"{url}/events",
            json={"user": user, "item": item, "idempotency_key": key},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=5,
        ).json()
        assert again["duplicates"] == 1, "idempotency keys survive the restart"
    finally:
        enough.set()
        stop(proc)
        streamer.join(timeout=30)
