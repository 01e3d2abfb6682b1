"""Retraining from the training data plus stored events, the hot swap, and the `lmrec serve` command."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from lmrec.cli.app import app as cli
from lmrec.data.features import ItemFeatures
from lmrec.data.interactions import Interactions
from lmrec.models.content import ContentBased
from lmrec.models.knn import ItemKNN
from lmrec.service import RecommenderService, create_app
from lmrec.service.retrain import training_log
from lmrec.service.store import Event, StoredEvent


def stored(i: int, user: str, item: str, t: float) -> StoredEvent:
    return StoredEvent(i, user, item, "click", t, t, None)


def test_retrain_learns_the_events_and_hot_swaps(knn_dir: Path, store_url: str, auth: dict[str, str]) -> None:
    with TestClient(create_app(knn_dir, store_url=store_url, token="test-token")) as c:
        events = [
            {"user": "u004", "item": 118},
            {"user": "u004", "item": 120},
            {"user": "zz-new", "item": 101},
        ]
        c.post("/events/batch", json={"events": events}, headers=auth)
        before = c.get("/users/u004/recommendations").json()
        body = c.post("/admin/retrain", headers=auth).json()
        assert body["version"] == 2 and body["events_in_model"] == 3
        assert (body["events_used"], body["events_skipped"], body["new_users"]) == (3, 0, 1)
        info = c.get("/model").json()
        assert info["version"] == 2 and info["n_users"] == 31 and info["online_events"] == 0
        assert info["training"]["service_events_upto"] == 3
        after = c.get("/users/u004/recommendations").json()
        assert after["model_version"] == 2 and after["history_length"] == before["history_length"]
        model = c.app.state.service.live.model
        u = int(model.user_vocab_.index(["u004"])[0])
        assert {18, 20} <= set(model.history_[u].indices.tolist()), "the events are training data now"
        assert c.get("/users/zz-new/recommendations").json()["fallback"] is None
        c.post("/events", json={"user": "u004", "item": 103}, headers=auth)
        assert c.get("/model").json()["online_events"] == 1, "events after the retrain apply online"


def test_retrained_model_equals_an_offline_fit(knn: ItemKNN, data: Interactions) -> None:
    service = RecommenderService.open(knn)
    service.add_events([Event("u001", str(100 + i)) for i in range(3)])
    service.retrain()
    offline = ItemKNN(k=10).fit(training_log(knn, service.store.events()).data, seed=0)
    np.testing.assert_allclose(service.live.model.similarity_.toarray(), offline.similarity_.toarray())
    service.close()


def test_training_log_appends_events_in_time_order() -> None:
    from lmrec.models.sequential.sasrec import SASRec
    from lmrec.testing.datasets import successor_sequences

    case = successor_sequences(n_users=10, n_items=8)
    model = SASRec(embedding_size=8, epochs=1, num_threads=1).fit(case.data, seed=0)
    events = [stored(2, "u003", "101", 20.0), stored(1, "u003", "105", 10.0), stored(3, "new", "102", 5.0)]
    log = training_log(model, events)
    assert log.events_used == 3 and log.new_users == 1
    sequences = log.data.sequences()
    users = log.data.user_vocab
    u3, new = users.index(["u003", "new"])
    np.testing.assert_array_equal(sequences[u3], np.concatenate([case.data.sequences()[3], [5, 1]]))
    np.testing.assert_array_equal(sequences[new], [2])


def test_requests_keep_working_during_a_retrain(knn: ItemKNN) -> None:
    service = RecommenderService.open(knn)
    service.add_events([Event("u001", "110")])
    errors: list[BaseException] = []
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            try:
                assert len(service.recommend_user("u001", 5).items) == 5
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)
                return

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    for _ in range(3):
        service.retrain()
    stop.set()
    for t in threads:
        t.join()
    assert not errors and service.live.version == 4
    service.close()


def test_retrain_refusals(data: Interactions, knn: ItemKNN, auth: dict[str, str]) -> None:
    features = ItemFeatures(np.eye(25, dtype=np.float32), np.ones(25, dtype=bool))
    content = ContentBased().fit(data, item_features=features)
    with TestClient(create_app(content)) as c:
        body = c.post("/admin/retrain").json()
        assert body["error"] == "unsupported" and "item features" in body["message"]
    with TestClient(create_app(knn)) as c:
        lock = c.app.state.service._retrain_lock
        with lock:
            resp = c.post("/admin/retrain")
        assert resp.status_code == 409 and resp.json()["error"] == "retrain_running"


def test_serve_command_help_and_bad_folder(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0 and "--store" in result.output and "--token" in result.output
    result = runner.invoke(cli, ["serve", str(tmp_path)])
    assert result.exit_code != 0 and "model.json" in result.output
