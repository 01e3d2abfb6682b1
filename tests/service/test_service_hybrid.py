"""Serving a hybrid: recommendations equal the Python API, and a retrain keeps the weights chosen on
validation while its components learn the new events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from lmrec.data.interactions import Interactions
from lmrec.hybrid import WeightedHybrid
from lmrec.service import RecommenderService, create_app
from lmrec.service.retrain import training_log
from lmrec.service.store import Event


def blend(data: Interactions) -> WeightedHybrid:
    comps = [{"name": "pop"}, {"name": "itemknn", "params": {"k": 10}}]
    return WeightedHybrid(components=comps, weights=[0.3, 0.7]).fit(data, seed=0)


def test_served_hybrid_matches_the_python_api(data: Interactions, tmp_path: Path, store_url: str) -> None:
    model = blend(data)
    folder = model.save(tmp_path / "hybrid")
    with TestClient(create_app(folder, store_url=store_url)) as c:
        body = c.get("/users/u003/recommendations", params={"n": 5}).json()
    expected = model.recommend_ids(["u003"], n=5)[0]
    assert [r["item"] for r in body["items"]] == expected["items"]
    np.testing.assert_allclose([r["score"] for r in body["items"]], expected["scores"], rtol=1e-6)


def test_retrained_hybrid_keeps_its_weights_and_refits_its_components(data: Interactions) -> None:
    model = blend(data)
    service = RecommenderService.open(model)
    service.add_events([Event("u001", str(100 + i)) for i in range(3)])
    service.retrain()
    fresh = service.live.model
    assert isinstance(fresh, WeightedHybrid) and fresh is not model
    np.testing.assert_array_equal(fresh.weights_, model.weights_)
    offline = blend(training_log(model, service.store.events()).data)
    users = np.arange(len(offline.user_vocab_))
    np.testing.assert_allclose(fresh.score(users), offline.score(users), rtol=1e-6)
    service.close()
