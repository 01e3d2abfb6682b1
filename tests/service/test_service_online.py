"""End to end: train -> save -> serve -> post events -> the user's recommendations change as expected.

History models must rank exactly as the Python API does for the updated history, sequence models must
read the new event as the latest step, factor models fold the user in, and a restart must replay the
stored events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from fastapi.testclient import TestClient

from lmrec.data.interactions import Interactions
from lmrec.models.base import Recommender
from lmrec.models.ease import EASE
from lmrec.models.knn import ItemKNN
from lmrec.models.mf import ALS
from lmrec.service import create_app
from lmrec.testing.datasets import block_identity, successor_sequences


def top(resp: Any) -> list[Any]:
    assert resp.status_code == 200, resp.text
    return [r["item"] for r in resp.json()["items"]]


def row(model: Recommender, user: int, extra: list[int]) -> sp.csr_matrix:
    """User's training history plus item indices `extra`, as one binary row."""
    h = model.history_[user].toarray()
    h[0, extra] = 1
    return sp.csr_matrix(h.astype(np.float32))


@pytest.mark.parametrize("make", [lambda: ItemKNN(k=20), lambda: EASE(reg=1.0)], ids=["itemknn", "ease"])
def test_items_that_cooccur_with_new_events_rise(make: Any, tmp_path: Path, auth: dict[str, str]) -> None:
    """block_identity: block b's users only touch block b's items. A block-0 user who now clicks two
    items of block 2 must get the other block-2 items, which they never saw, next to their own missed
    item. Train, save, and serve the saved folder (default store: events.sqlite beside the model)."""
    case = block_identity()  # 4 blocks x 6 items, raw item ids 100..123
    model_dir = make().fit(case.data, seed=0).save(tmp_path / "model")
    app = create_app(model_dir, token="test-token")
    with TestClient(app) as c:
        before = top(c.get("/users/u000/recommendations", params={"n": 5}))
        assert not {114, 115, 116, 117} & set(before)
        resp = c.post(
            "/events/batch",
            json={"events": [{"user": "u000", "item": 112, "type": "click"}, {"user": "u000", "item": 113}]},
            headers=auth,
        )
        assert resp.json()["accepted"] == 2
        after = c.get("/users/u000/recommendations", params={"n": 5}).json()
        assert set(top_items := [r["item"] for r in after["items"]]) == {
            114,
            115,
            116,
            117,
            100 + case.expected[0, 0],
        }
        assert not {112, 113} & set(top_items), "the clicked items are history now: excluded"
        assert after["history_length"] == 5 + 2 and after["fallback"] is None
        other = top(c.get("/users/u001/recommendations", params={"n": 5}))
        assert not {114, 115, 116, 117} & set(other), "another user's list must not move"
    assert (model_dir / "events.sqlite").is_file()


def test_online_ranking_equals_the_python_api(
    knn: ItemKNN, knn_dir: Path, store_url: str, auth: dict[str, str]
) -> None:
    with TestClient(create_app(knn_dir, store_url=store_url, token="test-token")) as c:
        for item in (118, "120", 105):
            assert c.post("/events", json={"user": "u004", "item": item}, headers=auth).status_code == 200
        body = c.get("/users/u004/recommendations", params={"n": 8}).json()
        expected = knn.recommend(np.array([4]), row(knn, 4, [18, 20, 5]), n=8)
        valid = expected.items[0] >= 0
        assert [r["item"] for r in body["items"]] == (expected.items[0][valid] + 100).tolist()
        np.testing.assert_allclose([r["score"] for r in body["items"]], expected.scores[0][valid], rtol=1e-6)
        stored = c.app.state.service.store.events()
        assert [(e.user, e.item) for e in stored] == [("u004", "118"), ("u004", "120"), ("u004", "105")]


def test_a_new_user_is_served_from_their_events(knn: ItemKNN, knn_dir: Path, store_url: str) -> None:
    with TestClient(create_app(knn_dir, store_url=store_url)) as c:
        assert c.get("/users/newbie/recommendations").json()["fallback"] == "popularity"
        c.post(
            "/events/batch",
            json={"events": [{"user": "newbie", "item": 101}, {"user": "newbie", "item": 102}]},
        )
        body = c.get("/users/newbie/recommendations", params={"n": 4}).json()
        anonymous = c.post("/recommendations", json={"items": [101, 102], "n": 4}).json()
        assert body["fallback"] is None and body["history_length"] == 2
        assert body["items"] == anonymous["items"]


def test_events_replay_after_a_restart(knn_dir: Path, store_url: str) -> None:
    """A second app on the same SQLite file (a restart) serves the same online histories."""
    with TestClient(create_app(knn_dir, store_url=store_url)) as c:
        c.post(
            "/events/batch", json={"events": [{"user": "u004", "item": 118}, {"user": "fresh", "item": 103}]}
        )
        first = [c.get(f"/users/{u}/recommendations").json() for u in ("u004", "fresh")]
    with TestClient(create_app(knn_dir, store_url=store_url)) as c:
        assert [c.get(f"/users/{u}/recommendations").json() for u in ("u004", "fresh")] == first
        assert c.get("/model").json()["online_events"] == 2


def test_factor_model_folds_the_user_in(data: Interactions, auth: dict[str, str]) -> None:
    model = ALS(factors=8, iterations=5, num_threads=1).fit(data, seed=0)
    with TestClient(create_app(model, token="test-token")) as c:
        assert (
            top(c.get("/users/u002/recommendations", params={"n": 3}))
            == model.recommend_ids(["u002"], n=3)[0]["items"]
        )
        c.post("/events", json={"user": "u002", "item": 111}, headers=auth)
        body = c.get("/users/u002/recommendations", params={"n": 3}).json()
    folded = model.recommend(np.array([-1]), row(model, 2, [11]), n=3)
    assert [r["item"] for r in body["items"]] == (folded.items[0] + 100).tolist()


def test_sequence_model_reads_the_new_event_as_the_latest_step(auth: dict[str, str]) -> None:
    """successor task: the next item is always last + 1. After a user jumps to item j, SASRec must
    predict j + 1 (through `sequences`: training sequence + the new event)."""
    from lmrec.models.sequential.sasrec import SASRec

    case = successor_sequences(n_users=120, n_items=20)
    model = SASRec(
        embedding_size=16, epochs=20, batch_size=16, dropout=0.0, learning_rate=5e-3, num_threads=1
    )
    model.fit(case.data, seed=0)
    seqs = case.data.sequences()
    hits = 0
    with TestClient(create_app(model, token="test-token")) as c:
        for u in range(20):
            jump = int((seqs[u][-1] + 7) % 20)
            c.post(
                "/events", json={"user": f"u{u:03d}", "item": 100 + jump, "timestamp": 1e9 + u}, headers=auth
            )
            resp = c.get(f"/users/u{u:03d}/recommendations", params={"n": 1, "exclude_seen": "false"})
            hits += top(resp) == [100 + (jump + 1) % 20]
        anonymous = c.post("/recommendations", json={"items": [103, 104, 105], "n": 1, "exclude_seen": False})
        assert top(anonymous) == [106]
    assert hits >= 18, f"SASRec followed the new event for only {hits}/20 users"


def test_events_apply_in_time_order_not_arrival_order(auth: dict[str, str]) -> None:
    from lmrec.models.sequential.sasrec import SASRec

    case = successor_sequences(n_users=120, n_items=20)
    model = SASRec(
        embedding_size=16, epochs=20, batch_size=16, dropout=0.0, learning_rate=5e-3, num_threads=1
    )
    model.fit(case.data, seed=0)
    with TestClient(create_app(model, token="test-token")) as c:
        # posted newest first: the service must still see 110 as the latest step
        events = [
            {"user": "brand-new", "item": 110, "timestamp": 2e9},
            {"user": "brand-new", "item": 109, "timestamp": 1e9},
        ]
        c.post("/events/batch", json={"events": events}, headers=auth)
        service = c.app.state.service
        sequence = c.post(
            "/recommendations", json={"items": [109, 110], "n": 3, "exclude_seen": False}
        ).json()
        assert (
            c.get("/users/brand-new/recommendations", params={"n": 3, "exclude_seen": "false"}).json()[
                "items"
            ]
            == sequence["items"]
        )
        assert service.live.online_events() == 2
