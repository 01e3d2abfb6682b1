"""`lmrec serve`: the limit and auth options reach the app, and exposing a tokenless service warns.

The server itself is not started: `uvicorn.run` is replaced by a recorder of the app it was given, which
the tests then drive with a TestClient (the app, not the recorder, is what is under test).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from lmrec.cli import serve as serve_cli
from lmrec.cli.app import app as cli


@pytest.fixture()
def served(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Apps `lmrec serve` would have run; no server starts and the test process keeps its GC settings."""
    import uvicorn

    apps: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: apps.append(app))
    monkeypatch.setattr(serve_cli, "_tune_interpreter", lambda: None)
    monkeypatch.delenv(serve_cli.TOKEN_ENV, raising=False)
    return apps


def run(args: list[str]) -> Any:
    return CliRunner().invoke(cli, ["serve", *args])


def test_help_documents_limits_and_what_is_public() -> None:
    text = " ".join(run(["--help"]).output.replace("│", " ").split())  # rich draws boxes
    for option in ("--auth-reads", "--max-body-bytes", "--max-event-body-bytes", "--max-batch-cost"):
        assert option in text
    assert "/model and /metrics" in text and "reads are public unless --auth-reads" in text


def test_options_reach_the_app(served: list[Any], knn_dir: Path, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'events.sqlite'}"
    args = [str(knn_dir), "--store", store, "--token", "t", "--auth-reads", "--max-batch-cost", "10"]
    result = run([*args, "--max-body-bytes", "200"])
    assert result.exit_code == 0, result.output
    assert "token needed by: reads and writes" in result.output
    with TestClient(served[0]) as client:
        assert client.get("/model").status_code == 401
        auth = {"Authorization": "Bearer t"}
        body = {"users": ["u001", "u002"], "n": 5}
        assert client.post("/recommendations/batch", json=body, headers=auth).status_code == 200
        resp = client.post("/recommendations/batch", json={**body, "n": 6}, headers=auth)
        assert resp.status_code == 422 and "10 one batch request may" in resp.json()["message"]
        resp = client.post("/recommendations", json={"items": list(range(101, 125)) * 3}, headers=auth)
        assert resp.status_code == 413


def test_tokenless_service_on_all_interfaces_warns(served: list[Any], knn_dir: Path, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'events.sqlite'}"
    result = run([str(knn_dir), "--store", store, "--host", "0.0.0.0"])
    assert result.exit_code == 0 and len(served) == 1
    assert "warning: serving on 0.0.0.0 without a token" in result.stderr
    assert "token needed by: nothing" in result.stdout
    quiet = run([str(knn_dir), "--store", store])
    assert quiet.exit_code == 0 and "warning" not in quiet.stderr


def test_auth_reads_without_a_token_is_a_usage_error(served: list[Any], knn_dir: Path) -> None:
    result = run([str(knn_dir), "--auth-reads"])
    assert result.exit_code == 2 and "needs a token" in result.output and served == []


@pytest.mark.parametrize(
    ("host", "token", "warns"),
    [
        ("127.0.0.1", None, False),
        ("localhost", None, False),
        ("::1", None, False),
        ("0.0.0.0", None, True),
        ("::", None, True),
        ("192.168.1.5", None, True),
        ("my-host.example", None, True),
        ("0.0.0.0", "secret", False),
    ],
)
def test_exposure_warning(host: str, token: str | None, warns: bool) -> None:
    assert (serve_cli.exposure_warning(host, token) is not None) == warns
