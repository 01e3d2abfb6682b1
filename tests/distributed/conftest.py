"""A real local Ray cluster for the distributed tests: a head node (`ray start --head` on 127.0.0.1) and a
second, worker node process, one CPU each, so tasks cross raylet processes as on a real cluster.

Both run with `--block` as children of the test process and are stopped by terminating them (not by
`ray stop`, which would stop every Ray process of the machine). The tests skip, saying why, only where
Ray is not installed or the cluster cannot start.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in reversed(procs):
        proc.terminate()
    for proc in reversed(procs):
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """Address HOST:PORT of a running two-node local cluster (2 CPUs in all)."""
    if importlib.util.find_spec("ray") is None:  # not imported here: Ray reads its token when imported
        pytest.skip("Ray is not installed (pip install 'lmrec[distributed]')")
    if "ray" in sys.modules:
        pytest.fail("ray was imported before the cluster fixture set the session's auth token")
    ray_bin = Path(sys.executable).with_name("ray")
    if not ray_bin.exists():
        pytest.skip(f"the `ray` command is missing beside {sys.executable}")
    port = _free_port()
    address = f"127.0.0.1:{port}"
    temp = tempfile.mkdtemp(prefix="lmray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    # token authentication on (Ray's default), with a token of this test session that every node and
    # driver shares, this process included
    token = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    saved = {k: os.environ.get(k) for k in token}
    os.environ.update(token)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--block", "--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
    log = open(Path(temp) / "cluster.log", "wb")
    procs = [
        subprocess.Popen(
            [str(ray_bin), "start", "--head", "--port", str(port), "--include-dashboard", "false",
             "--temp-dir", temp, *common],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )
    ]  # fmt: skip
    try:
        _wait_for_port(port, procs[0], temp)
        procs.append(
            subprocess.Popen(
                [str(ray_bin), "start", "--address", address, *common],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )
        )  # fmt: skip
        _wait_for_cpus(address, 2, procs, temp)
        yield address
    finally:
        _stop(procs)
        log.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(temp, ignore_errors=True)


def _wait_for_port(port: int, head: subprocess.Popen[bytes], temp: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if head.poll() is not None:
            pytest.skip(f"`ray start --head` exited: {_tail(temp)}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    pytest.skip(f"the Ray head did not listen on port {port} within 60 s: {_tail(temp)}")


def _wait_for_cpus(address: str, cpus: int, procs: list[subprocess.Popen[bytes]], temp: str) -> None:
    """Until the cluster reports `cpus` CPUs (both nodes registered), asked from a short-lived driver."""
    probe = (
        "import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR', log_to_driver=False); "
        "print(int(ray.cluster_resources().get('CPU', 0)))"
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            pytest.skip(f"a Ray node process exited: {_tail(temp)}")
        out = subprocess.run(
            [sys.executable, "-c", probe, address], capture_output=True, text=True, timeout=60, check=False
        )
        if out.returncode == 0 and out.stdout.strip().splitlines()[-1:] == [str(cpus)]:
            return
        time.sleep(1)
    pytest.skip(f"the Ray cluster at {address} did not reach {cpus} CPUs within 90 s: {_tail(temp)}")


def _tail(temp: str) -> str:
    path = Path(temp) / "cluster.log"
    text = path.read_text(errors="replace") if path.exists() else ""
    return " | ".join(text.strip().splitlines()[-3:]) or "no output"
