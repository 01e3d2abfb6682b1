"""Accepted feedback is never lost: events of new users with any id type become part of the next model,
and a retrain inside the service is saved (written, then switched), so a restart serves it with its version.

Every app here serves a model folder with its default store (`events.sqlite` inside it), and a restart is
a new app over the same folder: what a restarted `lmrec serve MODEL_DIR` sees.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from lmrec.data.interactions import Interactions
from lmrec.data.vocabulary import Vocabulary
from lmrec.hybrid import WeightedHybrid
from lmrec.models.base import Recommender
from lmrec.models.knn import ItemKNN
from lmrec.service import RecommenderService, create_app
from lmrec.service.store import Event, EventStore, sqlite_url

NEWBIE = [{"user": "newbie", "item": 101}, {"user": "newbie", "item": 102}]


@pytest.fixture(scope="module")
def int_users(data: Interactions) -> Interactions:
    """The tests' log with integer user ids 7, 14, ..., 210 (user index u is raw id 7 * (u + 1))."""
    return Interactions(
        users=data.users,
        items=data.items,
        user_vocab=Vocabulary(np.arange(1, 31, dtype=np.int64) * 7),
        item_vocab=data.item_vocab,
    )


@pytest.fixture()
def int_dir(int_users: Interactions, tmp_path: Path) -> Path:
    """A saved ItemKNN trained on integer user ids."""
    return ItemKNN(k=10).fit(int_users, seed=0).save(tmp_path / "model")


def recs(c: TestClient, user: object, n: int = 5) -> dict[str, Any]:
    resp = c.get(f"/users/{user}/recommendations", params={"n": n})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_new_string_user_of_an_integer_model_survives_retrain_and_restart(int_dir: Path) -> None:
    with TestClient(create_app(int_dir)) as c:
        assert c.post("/events/batch", json={"events": NEWBIE}).status_code == 200
        online = recs(c, "newbie")
        assert online["fallback"] is None and online["history_length"] == 2
        old_user = recs(c, 14)
        body = c.post("/admin/retrain").json()
        assert (body["events_used"], body["events_skipped"], body["new_users"]) == (2, 0, 1)
        assert body["version"] == 2 and body["saved_as"].startswith("versions/000002-")
        learned = recs(c, "newbie")
        assert (
            learned["fallback"] is None and learned["history_length"] == 2 and learned["model_version"] == 2
        )
        anonymous = c.post("/recommendations", json={"items": [101, 102], "n": 5}).json()
        assert learned["items"] == anonymous["items"], "ranked from their history, now training data"
        assert not {101, 102} & {r["item"] for r in learned["items"]}
        info = c.get("/model").json()
        assert info["n_users"] == 31 and info["online_events"] == 0
    with TestClient(create_app(int_dir)) as c:  # restart over the same folder and store
        info = c.get("/model").json()
        assert info["version"] == 2 and info["events_in_model"] == 2 and info["online_events"] == 0
        assert recs(c, "newbie") == learned, "their events still personalise, from the model now"
        # the widened vocabulary keeps the old integer users as they were, under every spelling
        for spelling in (14, "14", "0014"):
            again = recs(c, spelling)
            assert again["user"] == 14 and again["fallback"] is None
            assert (
                again["items"] == old_user["items"] and again["history_length"] == old_user["history_length"]
            )
    model = Recommender.load(int_dir)
    assert model.user_vocab_.integer_text and model.training_["service_model_version"] == 2


def test_old_integer_ids_stay_one_user_after_widening(int_dir: Path) -> None:
    """Spelled "0014" or 14, one user: they must not become two users when the vocabulary widens to text."""
    with TestClient(create_app(int_dir)) as c:
        events = [*NEWBIE, {"user": "0014", "item": 118}, {"user": 21, "item": 119}]
        stored = c.post("/events/batch", json={"events": events}).json()["events"]
        assert [e["user"] for e in stored] == ["newbie", "newbie", "14", "21"]
        assert c.post("/admin/retrain").json()["new_users"] == 1
        model = c.app.state.service.live.model
        assert len(model.user_vocab_) == 31 and model.user_vocab_.integer_text
        u14 = int(model.user_vocab_.index([14])[0])
        assert 18 in model.history_[u14].indices, "the event of '0014' went to user 14"
        c.post("/events", json={"user": "014", "item": 121})  # after widening: still user 14
        assert recs(c, 14)["history_length"] == model.history_[u14].nnz + 1
        assert c.post("/admin/retrain").json()["new_users"] == 0


def test_in_service_retrains_survive_a_restart_with_their_version(knn_dir: Path) -> None:
    with TestClient(create_app(knn_dir)) as c:
        c.post("/events", json={"user": "u004", "item": 118})
        assert c.post("/admin/retrain").json()["version"] == 2
        c.post("/events", json={"user": "fresh", "item": 103})
        assert c.post("/admin/retrain").json()["version"] == 3
        served = [recs(c, u) for u in ("u004", "fresh")]
        n_users = c.get("/model").json()["n_users"]
    assert len(list((knn_dir / "versions").iterdir())) == 2, "the served version and the one it replaced"
    with TestClient(create_app(knn_dir)) as c:
        info = c.get("/model").json()
        assert (info["version"], info["n_users"], info["online_events"]) == (3, n_users, 0)
        assert c.get("/health").json()["model_version"] == 3
        assert [recs(c, u) for u in ("u004", "fresh")] == served
        c.post("/events", json={"user": "u004", "item": 104})
        assert c.post("/admin/retrain").json()["version"] == 4, "the counter goes on after a restart"
    assert Recommender.load(knn_dir).training_["service_model_version"] == 4


def test_a_scheduled_retrain_is_saved_too(knn_dir: Path) -> None:
    app = create_app(knn_dir, retrain_every=60)
    with TestClient(app) as c:
        c.post("/events", json={"user": "u004", "item": 118})
        assert app.state.service.schedule.tick()["version"] == 2  # what the schedule's thread runs
    with TestClient(create_app(knn_dir)) as c:
        assert c.get("/model").json()["version"] == 2


def test_a_failed_save_keeps_the_current_model_served_and_on_disk(knn_dir: Path) -> None:
    (knn_dir / "versions").write_text("not a folder")  # the new version cannot be written
    before = (knn_dir / "model.json").read_text()
    service = RecommenderService.open(knn_dir)
    service.add_events([Event("u004", "118")])
    with pytest.raises(OSError):
        service.retrain()
    assert service.live.version == 1 and service.model_info()["online_events"] == 1
    assert (knn_dir / "model.json").read_text() == before
    service.close()


def test_leftovers_of_a_crashed_save_are_cleaned_and_the_replaced_version_kept(knn_dir: Path) -> None:
    service = RecommenderService.open(knn_dir)
    service.add_events([Event("u004", "118")])
    service.retrain()
    (second,) = (knn_dir / "versions").iterdir()
    junk = [knn_dir / "versions" / ".000003-dead.tmp", knn_dir / "versions" / "000003-beef"]
    for folder in junk:  # a crash after writing, before the switch
        folder.mkdir()
    service.add_events([Event("u004", "119")])
    saved = service.retrain()["saved_as"]
    assert sorted(p.name for p in (knn_dir / "versions").iterdir()) == sorted([second.name, Path(saved).name])
    assert json.loads((knn_dir / "model.json").read_text())["stored_in"] == saved
    service.close()


def test_events_a_retrain_cannot_use_are_never_consumed(knn_dir: Path) -> None:
    """An event for an item outside the catalog (written by another model's service into a shared store)
    stays unused: listed in the model, retried by every retrain, and not mistaken for learned."""
    store = EventStore(sqlite_url(str(knn_dir / "events.sqlite")))
    (alien,) = store.add([Event("u004", "9999")])
    store.close()
    service = RecommenderService.open(knn_dir)
    service.add_events([Event("u004", "118")])
    info = service.retrain()
    assert (info["events_used"], info["events_skipped"], info["unused_event_ids"]) == (1, 1, [alien.id])
    model = service.live.model
    assert model.training_["service_events_unused"] == [alien.id]
    assert model.training_["service_events_upto"] == 2
    service.close()
    restarted = RecommenderService.open(knn_dir)
    assert restarted.live.events_unused == {alien.id}
    assert restarted.live.skipped == 1, "replayed at start as not in the model (and still unusable)"
    info = restarted.retrain()
    assert (info["events_used"], info["events_skipped"]) == (0, 1), "retried, and 118 not learned twice"
    assert restarted.live.model.history_.nnz == model.history_.nnz
    restarted.close()


def test_a_retrained_hybrid_is_saved_with_its_components(data: Interactions, tmp_path: Path) -> None:
    comps = [{"name": "pop"}, {"name": "itemknn", "params": {"k": 10}}]
    folder = WeightedHybrid(components=comps, weights=[0.3, 0.7]).fit(data, seed=0).save(tmp_path / "h")
    with TestClient(create_app(folder)) as c:
        c.post("/events/batch", json={"events": NEWBIE})
        c.post("/admin/retrain")
        served = recs(c, "newbie")
    with TestClient(create_app(folder)) as c:
        assert c.get("/model").json()["version"] == 2 and recs(c, "newbie") == served
