"""Contract tests of every endpoint: shapes, limits, errors as JSON bodies, auth, and never a 5xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from lmrec.data.features import ItemFeatures
from lmrec.data.interactions import Interactions
from lmrec.models.content import ContentBased
from lmrec.models.knn import ItemKNN
from lmrec.service import create_app


def error_of(resp: Any, status: int) -> dict[str, Any]:
    """The JSON error body of `resp`, after checking its status and shape."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "message", "details"}
    assert isinstance(body["message"], str) and body["message"]
    return body


def history_ids(knn: ItemKNN, user: int) -> set[int]:
    h = knn.history_
    return set(knn.item_vocab_.id(h.indices[h.indptr[user] : h.indptr[user + 1]]).tolist())


# --- ops ------------------------------------------------------------------------------------------
def test_health(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["model"] == "itemknn" and body["model_version"] == 1


def test_model_info(client: TestClient, knn: ItemKNN) -> None:
    body = client.get("/model").json()
    assert body["name"] == "itemknn" and body["class"] == "ItemKNN"
    assert body["config"]["k"] == 10
    assert body["n_users"] == 30 and body["n_items"] == 25
    assert body["lmrec_version"] and body["saved_with_lmrec_version"]
    assert body["version"] == 1 and body["events_in_model"] == 0 and body["similar_items"] is False


def test_metrics_prometheus_text(client: TestClient, auth: dict[str, str]) -> None:
    client.get("/health")
    client.get("/users/u001/recommendations")
    client.get("/users/u001/recommendations?n=0")
    client.post("/events", json={"user": "u001", "item": 105}, headers=auth)
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = resp.text.splitlines()
    values = {ln.rsplit(" ", 1)[0]: float(ln.rsplit(" ", 1)[1]) for ln in lines if not ln.startswith("#")}
    route = 'endpoint="/users/{user_id}/recommendations"'
    assert values[f'lmrec_http_requests_total{{method="GET",{route},status="200"}}'] == 1
    assert values[f'lmrec_http_requests_total{{method="GET",{route},status="422"}}'] == 1
    assert values[f'lmrec_http_request_duration_seconds_bucket{{method="GET",{route},le="+Inf"}}'] == 2
    assert values[f'lmrec_http_request_duration_seconds_count{{method="GET",{route}}}'] == 2
    assert values["lmrec_events_stored"] == 1
    assert values["lmrec_events_accepted_total"] == 1
    assert values["lmrec_model_version"] == 1
    assert values['lmrec_model_info{lmrec_version="0.1.0",model="itemknn"}'] == 1
    assert "# TYPE lmrec_http_request_duration_seconds histogram" in lines
    assert not any("u001" in ln for ln in lines), "raw ids must not become metric labels"


def test_openapi_lists_every_endpoint_and_the_bearer_scheme(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]) == {
        "/health",
        "/metrics",
        "/model",
        "/users/{user_id}/recommendations",
        "/recommendations",
        "/recommendations/batch",
        "/items/{item_id}/similar",
        "/events",
        "/events/batch",
        "/admin/retrain",
        "/items",
        "/users/{user_id}/history",
        "/users/{user_id}/explanation",
    }
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "security" in spec["paths"]["/events"]["post"]
    assert "security" in spec["paths"]["/items"]["post"]
    assert "security" not in spec["paths"]["/recommendations"]["post"]


# --- recommendations ------------------------------------------------------------------------------
def test_known_user_matches_the_python_api(client: TestClient, knn: ItemKNN) -> None:
    body = client.get("/users/u003/recommendations", params={"n": 5}).json()
    expected = knn.recommend_ids(["u003"], n=5)[0]
    assert body["user"] == "u003" and body["fallback"] is None and body["model_version"] == 1
    assert [r["item"] for r in body["items"]] == expected["items"]
    np.testing.assert_allclose([r["score"] for r in body["items"]], expected["scores"], rtol=1e-6)
    assert body["history_length"] == len(history_ids(knn, 3))
    assert not history_ids(knn, 3) & {r["item"] for r in body["items"]}


def test_exclude_seen_false_keeps_history_items(client: TestClient, knn: ItemKNN) -> None:
    body = client.get("/users/u003/recommendations", params={"n": 25, "exclude_seen": "false"}).json()
    assert history_ids(knn, 3) <= {r["item"] for r in body["items"]}


def test_n_up_to_the_catalog(client: TestClient, knn: ItemKNN) -> None:
    body = client.get("/users/u003/recommendations", params={"n": 1000}).json()
    assert len(body["items"]) == 25 - len(history_ids(knn, 3))


def test_unknown_user_gets_flagged_popularity(client: TestClient, data: Interactions) -> None:
    body = client.get("/users/stranger/recommendations", params={"n": 4}).json()
    assert body["fallback"] == "popularity" and body["history_length"] == 0
    users_per_item = np.diff(data.csr().tocsc().indptr)
    order = np.lexsort((np.arange(25), -users_per_item))[:4]
    assert [r["item"] for r in body["items"]] == (order + 100).tolist()
    assert [r["score"] for r in body["items"]] == users_per_item[order].tolist()


@pytest.mark.parametrize("n", ["0", "1001", "-3", "ten", "1.5"])
def test_n_out_of_range_is_422(client: TestClient, n: str) -> None:
    body = error_of(client.get("/users/u001/recommendations", params={"n": n}), 422)
    assert body["error"] == "validation_error" and "n" in body["message"]


def test_history_recommendations(client: TestClient, knn: ItemKNN) -> None:
    body = client.post("/recommendations", json={"items": [101, "104", 110], "n": 3}).json()
    history = np.zeros((1, 25), dtype=np.float32)
    history[0, [1, 4, 10]] = 1
    recs = knn.recommend(np.array([-1]), history, n=3)
    assert body["user"] is None and body["fallback"] is None and body["history_length"] == 3
    assert [r["item"] for r in body["items"]] == (recs.items[0] + 100).tolist()


def test_empty_history_gets_popularity(client: TestClient) -> None:
    assert client.post("/recommendations", json={"items": []}).json()["fallback"] == "popularity"


def test_unknown_item_in_history_is_named(client: TestClient) -> None:
    body = error_of(client.post("/recommendations", json={"items": [101, 999, "nope"]}), 422)
    assert body["error"] == "unknown_id" and "999" in body["message"] and "nope" in body["message"]


def test_batch_recommendations(client: TestClient, knn: ItemKNN) -> None:
    body = client.post("/recommendations/batch", json={"users": ["u002", "ghost", "u007"], "n": 2}).json()
    assert [r["user"] for r in body["results"]] == ["u002", "ghost", "u007"]
    assert [r["fallback"] for r in body["results"]] == [None, "popularity", None]
    for row, user in ((0, "u002"), (2, "u007")):
        assert [r["item"] for r in body["results"][row]["items"]] == knn.recommend_ids([user], n=2)[0][
            "items"
        ]


def test_similar_items_needs_the_capability(client: TestClient) -> None:
    body = error_of(client.get("/items/105/similar"), 400)
    assert body["error"] == "unsupported" and "similar" in body["message"]


def test_similar_items_of_a_content_model(data: Interactions) -> None:
    rng = np.random.default_rng(0)
    features = ItemFeatures(rng.normal(size=(25, 8)).astype(np.float32), np.ones(25, dtype=bool))
    model = ContentBased().fit(data, item_features=features)
    with TestClient(create_app(model)) as c:
        body = c.get("/items/107/similar", params={"n": 3}).json()
        items, scores = model.similar_items(np.array([7]), n=3)
        assert body["item"] == 107 and [r["item"] for r in body["similar"]] == (items[0] + 100).tolist()
        np.testing.assert_allclose([r["score"] for r in body["similar"]], scores[0], rtol=1e-6)
        assert error_of(c.get("/items/4242/similar"), 404)["error"] == "unknown_id"
        assert error_of(c.get("/items/107/similar", params={"n": 0}), 422)["error"] == "validation_error"


# --- events and auth ------------------------------------------------------------------------------
def test_write_endpoints_need_the_token(client: TestClient) -> None:
    event = {"user": "u001", "item": 105}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dGVzdA=="}):
        resp = client.post("/events", json=event, headers=headers)
        assert error_of(resp, 401)["error"] == "unauthorized"
        assert resp.headers["www-authenticate"] == "Bearer"
    assert error_of(client.post("/events/batch", json={"events": [event]}), 401)
    assert error_of(client.post("/admin/retrain"), 401)
    assert client.app.state.service.store.count() == 0
    assert client.get("/users/u001/recommendations").status_code == 200  # reads stay open


def test_no_token_configured_leaves_writes_open(knn_dir: Path, store_url: str) -> None:
    with TestClient(create_app(knn_dir, store_url=store_url)) as c:
        assert c.post("/events", json={"user": "u001", "item": 105}).json()["accepted"] == 1


def test_post_event_answers_with_the_stored_event(client: TestClient, auth: dict[str, str]) -> None:
    body = client.post(
        "/events",
        json={"user": "u001", "item": "105", "type": "click", "timestamp": 1700000000.5},
        headers=auth,
    ).json()
    assert body["accepted"] == 1 and body["duplicates"] == 0
    (event,) = body["events"]
    assert event == {
        "id": 1,
        "user": "u001",
        "item": "105",
        "type": "click",
        "timestamp": 1700000000.5,
        "duplicate": False,
    }


def test_unknown_item_event_is_refused_and_nothing_is_stored(
    client: TestClient, auth: dict[str, str]
) -> None:
    body = error_of(client.post("/events", json={"user": "u001", "item": 999}, headers=auth), 422)
    assert body["error"] == "unknown_id" and "999" in body["message"]
    batch = {"events": [{"user": "u001", "item": 105}, {"user": "u002", "item": 998}]}
    assert "998" in error_of(client.post("/events/batch", json=batch, headers=auth), 422)["message"]
    assert client.app.state.service.store.count() == 0


MALFORMED_EVENTS = [
    ({"user": "u001"}, "item"),
    ({"item": 105}, "user"),
    ({"user": "u001", "item": 105, "type": "bad type!"}, "type"),
    ({"user": "u001", "item": 105, "type": ""}, "type"),
    ({"user": "u001", "item": 105, "timestamp": -1}, "timestamp"),
    ({"user": "u001", "item": 105, "timestamp": "yesterday"}, "timestamp"),
    ({"user": "u001", "item": 105, "timestamp": 1e300}, "timestamp"),
    ({"user": "u001", "item": 105, "idempotencyKey": "k"}, "idempotencyKey"),
    ({"user": "u001", "item": 1.5}, "item"),
    ({"user": "u001", "item": True}, "item"),
    ({"user": "", "item": 105}, "user"),
    ({"user": "x" * 257, "item": 105}, "user"),
    ({"user": "u001", "item": 105, "idempotency_key": ""}, "idempotency_key"),
    ({"user": ["u001"], "item": 105}, "user"),
]


@pytest.mark.parametrize(("event", "field"), MALFORMED_EVENTS)
def test_malformed_event_is_422_naming_the_field(
    client: TestClient, auth: dict[str, str], event: dict[str, Any], field: str
) -> None:
    body = error_of(client.post("/events", json=event, headers=auth), 422)
    assert body["error"] == "validation_error" and field in body["message"]


def test_event_batch_limits(client: TestClient, auth: dict[str, str]) -> None:
    assert error_of(client.post("/events/batch", json={"events": []}, headers=auth), 422)
    many = {"events": [{"user": "u001", "item": 105}] * 1001}
    assert "events" in error_of(client.post("/events/batch", json=many, headers=auth), 422)["message"]
    ok = {"events": [{"user": "u001", "item": 105 + i} for i in range(3)]}
    assert client.post("/events/batch", json=ok, headers=auth).json()["accepted"] == 3


BAD_REQUESTS = [
    ("POST", "/recommendations", {"items": "101"}),
    ("POST", "/recommendations", {"items": [101], "n": 0}),
    ("POST", "/recommendations", {"items": [101], "n": 1001}),
    ("POST", "/recommendations", {"items": [101], "extra": 1}),
    ("POST", "/recommendations", {"items": [{"id": 1}]}),
    ("POST", "/recommendations", {"items": [101] * 10_001}),
    ("POST", "/recommendations", None),
    ("POST", "/recommendations/batch", {"users": []}),
    ("POST", "/recommendations/batch", {"users": ["u001"] * 1001}),
    ("POST", "/recommendations/batch", {"users": ["u001"], "n": 5000}),
    ("POST", "/recommendations/batch", {"users": [None]}),
    ("POST", "/events/batch", {"events": [{"user": "u001"}]}),
    ("POST", "/events/batch", [{"user": "u001", "item": 105}]),
    ("GET", "/users/" + "x" * 300 + "/recommendations", None),
    ("GET", "/nowhere", None),
    ("DELETE", "/events", None),
]


@pytest.mark.parametrize(("method", "path", "body"), BAD_REQUESTS)
def test_bad_input_is_4xx_with_a_json_body(
    client: TestClient, auth: dict[str, str], method: str, path: str, body: Any
) -> None:
    resp = client.request(method, path, json=body, headers=auth)
    assert 400 <= resp.status_code < 500, resp.text
    error_of(resp, resp.status_code)


def test_invalid_json_is_422(client: TestClient, auth: dict[str, str]) -> None:
    headers = {**auth, "content-type": "application/json"}
    body = error_of(client.post("/events", content=b'{"user": "u001", ', headers=headers), 422)
    assert "JSON" in body["message"]


def test_integer_user_ids(auth: dict[str, str]) -> None:
    """MovieLens-style integer user ids: the path's "42" and "042" are user 42, answered as an integer."""
    import pandas as pd

    frame = pd.DataFrame({"user": [42, 42, 7, 7, 7], "item": [1, 2, 2, 3, 4]})
    model = ItemKNN(k=5).fit(Interactions.from_frame(frame), seed=0)
    with TestClient(create_app(model, token="test-token")) as c:
        body = c.get("/users/042/recommendations").json()
        assert body["user"] == 42 and body["fallback"] is None and body["history_length"] == 2
        c.post("/events", json={"user": "42", "item": "3"}, headers=auth)
        assert c.get("/users/42/recommendations").json()["history_length"] == 3
        assert c.get("/users/abc/recommendations").json()["fallback"] == "popularity"


def test_large_batch_equals_single_requests(client: TestClient, auth: dict[str, str]) -> None:
    """300 users (more than one scoring chunk), some with online events: same lists as one by one."""
    client.post(
        "/events/batch",
        json={"events": [{"user": f"u{u:03d}", "item": 110} for u in range(0, 30, 3)]},
        headers=auth,
    )
    users = [f"u{u % 30:03d}" for u in range(300)]
    batch = client.post("/recommendations/batch", json={"users": users, "n": 4}).json()["results"]
    single = {u: client.get(f"/users/{u}/recommendations", params={"n": 4}).json() for u in set(users)}
    assert [r["items"] for r in batch] == [single[u]["items"] for u in users]
