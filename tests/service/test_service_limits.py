"""Issue 17 (4-6): no request can exhaust the service.

Bodies over their limit are refused 413, and strangers' bodies 401, before a byte is read (proved by
driving the app through ASGI with a `receive` that counts what it hands out); batch recommendations over
users x n are refused 422 before anything is scored; reads can require the token (`auth_reads`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lmrec.service import create_app
from lmrec.service import schemas as S
from lmrec.service.limits import MIB, ServiceLimits

TOKEN = "test-token"  # the `client` fixture's token (conftest)
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Upload:
    """An ASGI `receive` streaming `chunks` chunks of `size` bytes; counts the chunks it handed out."""

    def __init__(self, chunks: int, size: int = 64 * 1024) -> None:
        self.chunks, self.size, self.read = chunks, size, 0

    async def __call__(self) -> dict[str, Any]:
        if self.read >= self.chunks:
            await asyncio.sleep(3600)  # the client waits for an answer; a test would time out here
        self.read += 1
        return {"type": "http.request", "body": b"x" * self.size, "more_body": self.read < self.chunks}


def call(app: Any, path: str, receive: Upload, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """POST `path` to `app` over raw ASGI; the status and JSON body of the answer."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=30))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body)


@pytest.fixture()
def app(knn_dir: Path, store_url: str) -> Iterator[Any]:
    application = create_app(knn_dir, store_url=store_url, token=TOKEN)
    yield application
    application.state.service.close()


JSON = {"content-type": "application/json"}


# --- before reading -------------------------------------------------------------------------------
def test_stranger_with_a_huge_body_is_refused_unread(app: Any) -> None:
    upload = Upload(chunks=480)  # 30 MiB
    status, body = call(app, "/events/batch", upload, {**JSON, "content-length": str(30 * MIB)})
    assert status == 401 and body["error"] == "unauthorized"
    assert upload.read == 0


def test_stranger_streaming_without_length_is_refused_unread(app: Any) -> None:
    upload = Upload(chunks=480)
    status, _ = call(app, "/events", upload, {**JSON, "authorization": "Bearer wrong"})
    assert status == 401 and upload.read == 0


def test_declared_length_over_the_limit_is_refused_unread(app: Any) -> None:
    upload = Upload(chunks=480)
    status, body = call(app, "/events/batch", upload, {**JSON, **AUTH, "content-length": str(30 * MIB)})
    assert status == 413 and body["error"] == "body_too_large" and upload.read == 0
    assert "31,457,280 bytes" in body["message"] and "16,777,216" in body["message"]
    assert "max_event_body_bytes" in body["message"] and "--max-event-body-bytes" in body["message"]


def test_chunked_body_is_cut_at_the_limit(app: Any) -> None:
    upload = Upload(chunks=480)  # 30 MiB in 64 KiB chunks, no Content-Length
    status, body = call(app, "/recommendations/batch", upload, JSON)
    assert status == 413 and "without Content-Length" in body["message"]
    assert "--max-body-bytes" in body["message"]
    assert upload.read == MIB // upload.size + 1  # the first chunk over 1 MiB, and not one more


def test_chunked_body_under_the_limit_reaches_the_app(app: Any) -> None:
    upload = Upload(chunks=2)  # 128 KiB of "x": read in full, then the JSON parser refuses it
    status, body = call(app, "/recommendations/batch", upload, JSON)
    assert status == 422 and body["error"] == "validation_error" and upload.read == 2


def test_invalid_json_too_large_is_413_not_a_parse_error(client: TestClient) -> None:
    small = client.post("/recommendations/batch", content=b"{" * 100, headers=JSON)
    assert small.status_code == 422 and "not valid JSON" in small.json()["message"]  # parsed when small
    big = client.post("/recommendations/batch", content=b"{" * (MIB + 1), headers=JSON)
    assert big.status_code == 413 and big.json()["error"] == "body_too_large"


def test_streamed_upload_through_http_is_capped(client: TestClient) -> None:
    chunks = (b" " * 65536 for _ in range(40))  # httpx sends an iterator chunked, without Content-Length
    resp = client.post("/recommendations", content=chunks, headers=JSON)
    assert resp.status_code == 413 and "without Content-Length" in resp.json()["message"]


def test_event_bodies_have_their_own_larger_limit(client: TestClient) -> None:
    events = [{"user": "u001", "item": 105, "idempotency_key": f"k{i:03d}"} for i in range(900)]
    body = json.dumps({"events": events}).encode() + b" " * (2 * MIB)  # JSON may end in white space
    resp = client.post("/events/batch", content=body, headers={**JSON, **AUTH})
    assert resp.status_code == 200 and resp.json()["accepted"] == 900
    resp = client.post("/recommendations", content=b'{"items": [101]}' + b" " * (2 * MIB), headers=JSON)
    assert resp.status_code == 413


def test_body_limits_are_configurable(knn_dir: Path, store_url: str) -> None:
    app = create_app(knn_dir, store_url=store_url, token=TOKEN, limits=ServiceLimits(max_body_bytes=100))
    with TestClient(app) as client:
        assert client.post("/recommendations", json={"items": [101, 102]}).status_code == 200
        resp = client.post("/recommendations", json={"items": list(range(101, 125))})
        assert resp.status_code == 413 and "100 bytes" in resp.json()["message"]
        resp = client.post("/events", json={"user": "u001", "item": 105, "type": "x" * 64}, headers=AUTH)
        assert resp.status_code == 200  # the event limit is separate


def test_gate_rejections_are_counted_under_their_endpoint(client: TestClient) -> None:
    client.post("/recommendations/batch", content=b"{" * (MIB + 1), headers=JSON)
    client.post("/events/batch", json={"events": []})
    text = client.get("/metrics").text
    assert 'method="POST",endpoint="/recommendations/batch",status="413"} 1' in text
    assert 'method="POST",endpoint="/events/batch",status="401"} 1' in text


# --- cost of a batch ------------------------------------------------------------------------------
def test_over_cost_batch_is_refused_before_scoring(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = client.app.state.service.live  # type: ignore[attr-defined]
    scored: list[int] = []
    original = live.recommend_users
    monkeypatch.setattr(
        live, "recommend_users", lambda users, *a, **k: scored.append(len(users)) or original(users, *a, **k)
    )
    users = [f"u{i % 30:03d}" for i in range(1000)]
    resp = client.post("/recommendations/batch", json={"users": users, "n": 101})
    assert resp.status_code == 422 and resp.json()["error"] == "limit_exceeded"
    message = resp.json()["message"]
    assert "1000 users x n=101" in message and "101,000" in message and "100,000" in message
    assert "max_batch_cost" in message and "--max-batch-cost" in message
    assert scored == []
    ok = client.post("/recommendations/batch", json={"users": users, "n": 100})
    assert ok.status_code == 200 and len(ok.json()["results"]) == 1000 and scored == [1000]


def test_batch_cost_is_configurable(knn_dir: Path, store_url: str) -> None:
    app = create_app(knn_dir, store_url=store_url, limits=ServiceLimits(max_batch_cost=12))
    with TestClient(app) as client:
        users = ["u001", "u002", "ghost"]
        assert client.post("/recommendations/batch", json={"users": users, "n": 4}).status_code == 200
        assert client.post("/recommendations/batch", json={"users": users, "n": 5}).status_code == 422


@pytest.mark.parametrize("slots", [1, 4])
def test_concurrent_batches_wait_for_a_slot(
    knn_dir: Path, store_url: str, monkeypatch: pytest.MonkeyPatch, slots: int
) -> None:
    import threading
    import time

    import httpx

    app = create_app(knn_dir, store_url=store_url, limits=ServiceLimits(max_concurrent_batches=slots))
    live = app.state.service.live
    original, lock = live.recommend_users, threading.Lock()
    active, peak = [0], [0]

    def slow(*args: Any, **kwargs: Any) -> Any:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.2)
        with lock:
            active[0] -= 1
        return original(*args, **kwargs)

    monkeypatch.setattr(live, "recommend_users", slow)

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            body = {"users": ["u001", "ghost"], "n": 3}
            calls = [client.post("/recommendations/batch", json=body) for _ in range(4)]
            return [r.status_code for r in await asyncio.gather(*calls)]

    try:
        assert asyncio.run(burst()) == [200] * 4
    finally:
        app.state.service.close()
    assert peak[0] == min(slots, 4)


@pytest.mark.parametrize(
    "field", ["max_body_bytes", "max_event_body_bytes", "max_batch_cost", "max_concurrent_batches"]
)
@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_limits_must_be_positive_integers(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        ServiceLimits(**{field: value})


def test_batch_body_keeps_the_documented_shape(client: TestClient) -> None:
    body = client.post("/recommendations/batch", json={"users": ["u003", "ghost", 7], "n": 3}).json()
    parsed = S.BatchRecommendationOut.model_validate(body)
    # display fields (title, fields) are left out when the model has no display catalog
    assert parsed.model_dump(mode="json", exclude_unset=True) == body
    assert [r["user"] for r in body["results"]] == ["u003", "ghost", 7]
    assert body["results"][1]["fallback"] == "popularity" and len(body["results"][0]["items"]) == 3


# --- auth for reads -------------------------------------------------------------------------------
@pytest.fixture()
def private(knn_dir: Path, store_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(knn_dir, store_url=store_url, token=TOKEN, auth_reads=True)) as c:
        yield c


READS = [
    ("GET", "/users/u001/recommendations", None),
    ("POST", "/recommendations", {"items": [101]}),
    ("POST", "/recommendations/batch", {"users": ["u001"]}),
    ("GET", "/items/101/similar", None),
    ("GET", "/model", None),
    ("GET", "/metrics", None),
]


@pytest.mark.parametrize(("method", "path", "body"), READS)
def test_auth_reads_protects_every_read(private: TestClient, method: str, path: str, body: Any) -> None:
    resp = private.request(method, path, json=body)
    assert resp.status_code == 401 and resp.headers["www-authenticate"] == "Bearer"
    assert private.request(method, path, json=body, headers=AUTH).status_code in (200, 400)


def test_auth_reads_leaves_health_and_docs_open(private: TestClient) -> None:
    assert private.get("/health").status_code == 200
    assert private.get("/docs").status_code == 200
    spec = private.get("/openapi.json").json()
    assert "security" in spec["paths"]["/recommendations/batch"]["post"]
    assert "security" in spec["paths"]["/model"]["get"]
    assert "security" not in spec["paths"]["/health"]["get"]


@pytest.mark.parametrize(("method", "path", "body"), READS)
def test_reads_are_public_by_default(client: TestClient, method: str, path: str, body: Any) -> None:
    assert client.request(method, path, json=body).status_code in (200, 400)


def test_auth_reads_needs_a_token(knn_dir: Path, store_url: str) -> None:
    with pytest.raises(ValueError, match="needs a token"):
        create_app(knn_dir, store_url=store_url, auth_reads=True)
