"""The event store: idempotency keys, all-or-nothing batches, SQLite WAL durability, and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from lmrec.models.knn import ItemKNN
from lmrec.service import create_app
from lmrec.service.store import Event, EventStore, IdempotencyConflict

POSTGRES_URL = os.environ.get("LMREC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
"""The machine's local PostgreSQL (trust auth); the tests skip when nothing answers there."""


# --- idempotency ----------------------------------------------------------------------------------
def test_idempotency_key_stores_once(client: TestClient, auth: dict[str, str]) -> None:
    event = {"user": "u001", "item": 105, "idempotency_key": "order-17"}
    first = client.post("/events", json=event, headers=auth).json()
    again = client.post("/events", json=event, headers=auth).json()
    assert (first["accepted"], first["duplicates"]) == (1, 0)
    assert (again["accepted"], again["duplicates"]) == (0, 1)
    assert again["events"][0]["id"] == first["events"][0]["id"] and again["events"][0]["duplicate"]
    assert client.app.state.service.store.count() == 1
    assert client.get("/model").json()["online_events"] == 1, "a duplicate must not count twice online"


def test_duplicate_keys_inside_one_batch(client: TestClient, auth: dict[str, str]) -> None:
    events = [
        {"user": "u001", "item": 105, "idempotency_key": "a"},
        {"user": "u001", "item": 106, "idempotency_key": "b"},
        {"user": "u001", "item": 105, "idempotency_key": "a"},
        {"user": "u002", "item": 107},
    ]
    body = client.post("/events/batch", json={"events": events}, headers=auth).json()
    assert (body["accepted"], body["duplicates"]) == (3, 1)
    ids = [e["id"] for e in body["events"]]
    assert ids[2] == ids[0] and len(set(ids)) == 3


def test_reusing_a_key_for_another_event_is_409(client: TestClient, auth: dict[str, str]) -> None:
    client.post("/events", json={"user": "u001", "item": 105, "idempotency_key": "k"}, headers=auth)
    resp = client.post("/events", json={"user": "u001", "item": 106, "idempotency_key": "k"}, headers=auth)
    assert resp.status_code == 409 and resp.json()["error"] == "idempotency_conflict"
    assert "k" in resp.json()["message"]
    assert client.app.state.service.store.count() == 1


def test_canonical_ids_make_105_and_string_105_one_item(client: TestClient, auth: dict[str, str]) -> None:
    client.post("/events", json={"user": "u001", "item": 105, "idempotency_key": "x"}, headers=auth)
    again = client.post("/events", json={"user": "u001", "item": "105", "idempotency_key": "x"}, headers=auth)
    assert again.json()["duplicates"] == 1


# --- SQLite durability ----------------------------------------------------------------------------
def test_sqlite_runs_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    store = EventStore(f"sqlite:///{tmp_path / 'e.sqlite'}")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    store.close()


def test_a_second_app_on_the_same_file_sees_the_events(knn_dir: Path, store_url: str) -> None:
    with TestClient(create_app(knn_dir, store_url=store_url)) as c:
        c.post("/events/batch", json={"events": [{"user": "u001", "item": 100 + i} for i in range(5)]})
    second = EventStore(store_url)
    assert [e.item for e in second.events()] == [str(100 + i) for i in range(5)]
    second.close()
    with TestClient(create_app(knn_dir, store_url=store_url)) as c:
        metrics = c.get("/metrics").text
        assert "lmrec_events_stored 5" in metrics.splitlines()


def test_store_api_round_trip(tmp_path: Path) -> None:
    store = EventStore(f"sqlite:///{tmp_path / 'e.sqlite'}", table="custom_events")
    stored = store.add(
        [Event("u1", "i1", "view", 10.0, "k1"), Event("u2", "i2"), Event("u1", "i1", "view", 10.0, "k1")],
        now=50.0,
    )
    assert [e.id for e in stored] == [1, 2, 1] and [e.duplicate for e in stored] == [False, False, True]
    assert stored[1].timestamp == 50.0 and stored[1].received_at == 50.0
    with pytest.raises(IdempotencyConflict):
        store.add([Event("u1", "other", "view", 10.0, "k1")])
    assert store.count() == 2 and store.max_id() == 2
    assert [e.id for e in store.iter_events(after_id=1)] == [2]
    store.close()


def test_a_failed_batch_stores_nothing(tmp_path: Path) -> None:
    store = EventStore(f"sqlite:///{tmp_path / 'e.sqlite'}")
    store.add([Event("u1", "i1", idempotency_key="k")])
    with pytest.raises(IdempotencyConflict):
        store.add([Event("u2", "i2"), Event("u3", "i3", idempotency_key="k")])
    assert store.count() == 1
    store.close()


# --- PostgreSQL -----------------------------------------------------------------------------------
@pytest.fixture()
def postgres_table() -> Iterator[str]:
    """A fresh table name in the local test database, dropped afterwards; skips without a server."""
    pytest.importorskip("psycopg", reason="psycopg is installed by the 'serve' extra")
    engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL}: {str(exc).splitlines()[0]}")
    finally:
        engine.dispose()
    name = f"lmrec_events_test_{uuid.uuid4().hex[:12]}"
    yield name
    store = EventStore(POSTGRES_URL, table=name)
    store.drop()
    store.close()


def test_postgres_store(postgres_table: str) -> None:
    store = EventStore(POSTGRES_URL, table=postgres_table)
    first = store.add([Event("u1", "i1", "view", 1.0, "k1"), Event("u2", "i2", "click", 2.0)])
    again = store.add([Event("u1", "i1", "view", 1.0, "k1"), Event("u1", "i3", "click", 3.0)])
    assert [e.duplicate for e in again] == [True, False] and again[0].id == first[0].id
    with pytest.raises(IdempotencyConflict):
        store.add([Event("u9", "i9", "view", 1.0, "k1")])
    other = EventStore(POSTGRES_URL, table=postgres_table)  # a second connection pool sees the commits
    assert [(e.user, e.item, e.type) for e in other.events()] == [
        ("u1", "i1", "view"),
        ("u2", "i2", "click"),
        ("u1", "i3", "click"),
    ]
    other.close()
    store.close()


def test_postgres_backed_service(postgres_table: str, knn: ItemKNN, auth: dict[str, str]) -> None:
    app = create_app(knn, store_url=POSTGRES_URL, table=postgres_table, token="test-token")
    with TestClient(app) as c:
        before = c.get("/users/u004/recommendations").json()
        assert (
            c.post(
                "/events", json={"user": "u004", "item": 118, "idempotency_key": "pg-1"}, headers=auth
            ).json()["accepted"]
            == 1
        )
        assert (
            c.post(
                "/events", json={"user": "u004", "item": 118, "idempotency_key": "pg-1"}, headers=auth
            ).json()["duplicates"]
            == 1
        )
        after = c.get("/users/u004/recommendations").json()
        assert after["history_length"] == before["history_length"] + 1
    with TestClient(create_app(knn, store_url=POSTGRES_URL, table=postgres_table)) as c:
        assert c.get("/users/u004/recommendations").json() == after  # restart: replayed from PostgreSQL


def test_in_memory_store_survives_close_and_an_app_restart(knn: ItemKNN) -> None:
    """Regression (found by schemathesis): an app over a model object has an in-memory store; its first
    shutdown closed the store and dropped the database, so every later request that read the store
    (/metrics, /admin/retrain, events) was a 500. The app must keep working across restarts."""
    store = EventStore("sqlite://")
    store.add([Event("u1", "i1")])
    store.close()
    assert store.count() == 1
    app = create_app(knn)
    with TestClient(app) as c:
        assert c.post("/events", json={"user": "u001", "item": 105}).status_code == 200
    with TestClient(app) as c:  # started again after a shutdown
        assert c.get("/metrics").status_code == 200
        assert c.post("/events", json={"user": "u001", "item": 106}).json()["events"][0]["id"] == 2
        assert c.post("/admin/retrain").json()["events_in_model"] == 2
