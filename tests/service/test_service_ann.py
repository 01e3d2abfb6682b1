"""The service's retrieval modes: ANN when asked (or by catalog size under "auto"), exact otherwise."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError
from lmrec.models.knn import ItemKNN
from lmrec.models.mf import ALS
from lmrec.retrieval import AnnConfig
from lmrec.service import create_app

pytest.importorskip("faiss")


@pytest.fixture(scope="module")
def als(data: Interactions) -> ALS:
    return ALS(factors=8, iterations=5, num_threads=1).fit(data, seed=0)


def items_of(body: dict[str, Any]) -> list[Any]:
    return [r["item"] for r in body["items"]]


def test_ann_mode_serves_every_kind_of_request(als: ALS, auth: dict[str, str]) -> None:
    """On 25 items HNSW finds the exact lists, so every answer must equal the exact app's; the flags say
    which path ranked it."""
    with (
        TestClient(create_app(als, retrieval="ann", token="test-token")) as ann,
        TestClient(create_app(als, retrieval="exact", token="test-token")) as exact,
    ):
        info = ann.get("/model").json()["retrieval"]
        assert (info["requested"], info["mode"], info["index"]) == ("ann", "ann", "hnsw")
        assert info["n_items"] == 25 and info["config"]["ef_search"] == AnnConfig().ef_search
        assert exact.get("/model").json()["retrieval"]["mode"] == "exact"
        for c in (ann, exact):
            c.post("/events", json={"user": "u002", "item": 111}, headers=auth)
        requests = [
            ("GET", "/users/u003/recommendations?n=5", None, "ann"),  # known user, trained vector
            ("GET", "/users/u002/recommendations?n=5", None, "ann"),  # folded in after an event
            ("GET", "/users/u003/recommendations?n=25&exclude_seen=false", None, "ann"),
            ("POST", "/recommendations", {"items": [101, 104], "n": 4}, "ann"),  # anonymous history
            ("POST", "/recommendations", {"items": [], "n": 4}, "exact"),  # popularity fallback
            ("GET", "/users/stranger/recommendations", None, "exact"),  # popularity fallback
        ]
        for method, path, body, mode in requests:
            got = ann.request(method, path, json=body).json()
            want = exact.request(method, path, json=body).json()
            assert got["retrieval"] == mode and want["retrieval"] == "exact", path
            assert items_of(got) == items_of(want), path
            np.testing.assert_allclose(
                [r["score"] for r in got["items"]], [r["score"] for r in want["items"]], rtol=1e-5
            )
        seen = {r["item"] for r in ann.get("/users/u002/recommendations?n=25").json()["items"]}
        assert 111 not in seen, "the new event is history: excluded by the ANN path too"
        batch = ann.post("/recommendations/batch", json={"users": ["u001", "ghost"], "n": 3}).json()
        assert [r["retrieval"] for r in batch["results"]] == ["ann", "exact"]


def test_a_list_the_index_cannot_fill_falls_back_to_exact(als: ALS) -> None:
    with TestClient(create_app(als, retrieval="ann", ann_config=AnnConfig(max_overfetch=3))) as c:
        history = [100 + i for i in range(10)]
        body = c.post("/recommendations", json={"items": history, "n": 5}).json()
        assert body["retrieval"] == "exact" and len(body["items"]) == 5
        assert c.get("/model").json()["retrieval"]["exact_fallbacks"] == 1
        assert "lmrec_ann_exact_fallbacks 1" in c.get("/metrics").text


def test_auto_mode_picks_by_catalog_size_and_model(als: ALS, knn: ItemKNN) -> None:
    with TestClient(create_app(als)) as c:  # default: auto, 25 items < exact_below
        info = c.get("/model").json()["retrieval"]
        assert (info["requested"], info["mode"]) == ("auto", "exact") and "exact_below" in info["reason"]
        assert c.get("/users/u001/recommendations").json()["retrieval"] == "exact"
    with TestClient(create_app(als, ann_config=AnnConfig(exact_below=10, ivf_from=20))) as c:
        info = c.get("/model").json()["retrieval"]
        assert (info["mode"], info["index"]) == ("ann", "ivf")
        assert c.get("/users/u001/recommendations").json()["retrieval"] == "ann"
    with TestClient(create_app(knn, ann_config=AnnConfig(exact_below=1))) as c:
        assert c.get("/model").json()["retrieval"]["reason"] == "no item vectors"
    with pytest.raises(ConfigError, match="user and item vectors"):
        create_app(knn, retrieval="ann")


def test_hot_swap_rebuilds_the_index(als: ALS, auth: dict[str, str]) -> None:
    with TestClient(create_app(als, retrieval="ann", token="test-token")) as c:
        c.post("/events", json={"user": "newcomer", "item": 107}, headers=auth)
        assert c.post("/admin/retrain", headers=auth).json()["version"] == 2
        info = c.get("/model").json()
        assert info["retrieval"]["mode"] == "ann" and info["n_users"] == 31
        model = c.app.state.service.live.model
        assert c.app.state.service.live.retriever.model is model, "the index belongs to the new model"
        body = c.get("/users/newcomer/recommendations").json()
        assert body["retrieval"] == "ann" and body["model_version"] == 2 and body["fallback"] is None
