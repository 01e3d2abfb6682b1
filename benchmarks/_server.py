"""Start `lmrec serve` in its own process for a service benchmark, and read its memory from /proc.

Shared by the service benchmarks (load.py, service_limits.py, soak.py); run them as scripts
(`python benchmarks/<name>.py`), which puts this folder on the import path.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    model_dir: Path,
    port: int,
    log: Path,
    *,
    token: str | None = None,
    extra_args: tuple[str, ...] = (),
    fresh_events: bool = True,
    timeout_s: float = 300,
) -> subprocess.Popen[bytes]:
    """`lmrec serve model_dir` on 127.0.0.1:port (BLAS/torch limited to one thread), once /health answers.

    fresh_events: delete the model's event store first, so no online state of an earlier run is replayed.
    """
    env = {**os.environ, **ONE_THREAD}
    if token is not None:
        env["LMREC_SERVICE_TOKEN"] = token
    if fresh_events:
        (model_dir / "events.sqlite").unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "lmrec.cli", "serve", str(model_dir), "--port", str(port)]
    cmd += ["--log-level", "warning"]
    proc = subprocess.Popen([*cmd, *extra_args], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"lmrec serve exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"lmrec serve did not answer /health within {timeout_s:g} s; see {log}")


def status_kb(pid: int, field: str) -> int:
    """A field of /proc/<pid>/status in KiB (VmRSS: resident now, VmHWM: peak resident)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)
