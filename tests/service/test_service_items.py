"""POST /items: an item added with its text at serving time is recommended at once and after a restart,
without retraining (textseq); models without the capability, texts a model cannot encode and malformed
items get clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from lmrec.data.catalog import ItemCatalog
from lmrec.data.features import ItemFeatures
from lmrec.data.interactions import Interactions
from lmrec.service import RecommenderService, create_app
from lmrec.testing.datasets import successor_sequences

torch = pytest.importorskip("torch", reason="textseq needs torch (extra 'lm')")

from lmrec.models.sequential.textseq import TextSeq  # noqa: E402

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SMALL: dict[str, Any] = {
    "embedding_size": 32,
    "epochs": 40,
    "batch_size": 16,
    "dropout": 0.0,
    "adaptor_dropout": 0.0,
    "learning_rate": 5e-3,
    "num_threads": 1,
}
N_ITEMS = 30
WORDS = "apple river stone cloud ember frost grove harbor island jungle kettle lantern meadow nectar".split()


def successor_data() -> Interactions:
    return successor_sequences(n_users=120, n_items=N_ITEMS).data


def random_features(data: Interactions) -> ItemFeatures:
    rng = np.random.default_rng(0)
    return ItemFeatures(rng.normal(size=(data.n_items, 24)), np.ones(data.n_items, dtype=bool), source="test")


def catalog_of(data: Interactions) -> ItemCatalog:
    """Distinct, wordy titles (item k: three words of its own), so every item has its own text."""
    rng = np.random.default_rng(1)
    titles = [" ".join(rng.choice(WORDS, 3, replace=False)) + f" number {k}" for k in range(data.n_items)]
    import pandas as pd

    frame = pd.DataFrame(
        {"title": titles, "genres": ["Toys|Games"] * data.n_items}, index=data.item_vocab.ids
    )
    return ItemCatalog(frame, ("title", "genres"))


@pytest.fixture(scope="module")
def textseq_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A textseq on the successor task with random text vectors (no recorded encoder: vectors only)."""
    data = successor_data()
    model = TextSeq(**SMALL).fit(data, seed=0, item_features=random_features(data))
    return model.save(tmp_path_factory.mktemp("textseq") / "model")


def top_items(client: TestClient, user: str, n: int = 5) -> tuple[list[Any], list[float], dict[str, Any]]:
    resp = client.get(f"/users/{user}/recommendations", params={"n": n})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    return [r["item"] for r in body["items"]], [r["score"] for r in body["items"]], body


def text_vector(folder: Path, item: int) -> list[float]:
    """The stored text vector of a catalog item (row item index + 1 of the model's text buffer)."""
    with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
        ids, text = npz["item_ids"], npz["state_net.items.text"]
    return text[int(np.flatnonzero(ids == item)[0]) + 1].tolist()


def test_item_added_over_http_is_recommended_at_once_and_after_a_restart(
    textseq_dir: Path, tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path / 'events.sqlite'}"
    user = "u007"
    with TestClient(create_app(textseq_dir, store_url=store, token=TOKEN)) as c:
        before, scores, _ = top_items(c, user)
        twin = before[0]  # the warm item this user is most likely to take next
        resp = c.post("/items", json=[{"item": 5000, "vector": text_vector(textseq_dir, twin)}], headers=AUTH)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body == {"added": 1, "items": [5000], "n_items": N_ITEMS + 1, "model_version": 2}
        after, after_scores, rec = top_items(c, user)
        # the new item has its twin's text, so the same score: both lead the list, nothing else moved
        assert set(after[:2]) == {twin, 5000} and rec["model_version"] == 2
        np.testing.assert_allclose(after_scores[:2], scores[0], rtol=1e-5)
        assert [i for i in after if i != 5000] == before[:4]
        # the new item is part of the catalog: events on it are accepted and count at once
        event = c.post("/events", json={"user": "new-user", "item": 5000}, headers=AUTH)
        assert event.status_code == 200, event.text
        session = c.get("/users/new-user/recommendations").json()
        assert session["fallback"] is None and session["history_length"] == 1
        assert c.get("/model").json()["n_items"] == N_ITEMS + 1
    # a restart re-adds the stored item before replaying the events
    with TestClient(create_app(textseq_dir, store_url=store, token=TOKEN)) as c:
        restarted, restarted_scores, rec = top_items(c, user)
        assert restarted == after and rec["model_version"] == 1
        np.testing.assert_allclose(restarted_scores, after_scores, rtol=1e-5)
        assert c.get("/users/new-user/recommendations").json()["history_length"] == 1
        assert c.get("/model").json()["n_items"] == N_ITEMS + 1
        again = c.post(
            "/items", json=[{"item": 5000, "vector": text_vector(textseq_dir, twin)}], headers=AUTH
        )
        assert again.status_code == 409 and again.json()["error"] == "item_exists"
    # the saved model itself is untouched: the added items live in the store
    assert RecommenderService.open(textseq_dir, store_url="sqlite://").live.model.n_items == N_ITEMS


def test_added_items_are_ranked_by_the_ann_index_too(textseq_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    store = f"sqlite:///{tmp_path / 'events.sqlite'}"
    with TestClient(create_app(textseq_dir, store_url=store, token=TOKEN, retrieval="ann")) as c:
        before, _, rec = top_items(c, "u011")
        assert rec["retrieval"] == "ann"
        twin = before[0]
        resp = c.post("/items", json=[{"item": 6000, "vector": text_vector(textseq_dir, twin)}], headers=AUTH)
        assert resp.status_code == 200, resp.text
        after, _, rec = top_items(c, "u011")
        assert rec["retrieval"] == "ann" and 6000 in after[:2]
        assert c.get("/model").json()["retrieval"]["n_items"] == N_ITEMS + 1


def test_a_model_without_the_capability_gets_a_clear_409(client: TestClient, auth: dict[str, str]) -> None:
    resp = client.post("/items", json=[{"item": 999, "vector": [0.1, 0.2]}], headers=auth)
    assert resp.status_code == 409, resp.text
    body = resp.json()
    assert body["error"] == "capability_missing"
    assert "adds_items_from_text" in body["message"] and "textseq" in body["message"]
    assert "itemknn" in body["message"]


def test_bad_items_are_refused_and_nothing_is_added(textseq_dir: Path) -> None:
    with TestClient(create_app(textseq_dir, store_url="sqlite://", token=TOKEN)) as c:
        vec = text_vector(textseq_dir, 100)
        cases = [
            ([{"item": 7000, "vector": vec}], {}, 401, "unauthorized"),
            ([{"item": 100, "vector": vec}], AUTH, 409, "item_exists"),
            ([{"item": 7000, "vector": vec[:5]}], AUTH, 422, "invalid_item"),
            ([{"item": 7000, "vector": vec, "text": "x"}], AUTH, 422, "validation_error"),
            ([{"item": 7000}], AUTH, 422, "validation_error"),
            ([], AUTH, 422, "validation_error"),
            ([{"item": 7000, "vector": vec}, {"item": 7000, "vector": vec}], AUTH, 422, "invalid_item"),
            ([{"item": "abc", "vector": vec}], AUTH, 422, "invalid_item"),
            # this model was fitted on vectors made outside lmrec.text: it cannot encode a text
            ([{"item": 7000, "text": "a red kettle"}], AUTH, 422, "invalid_item"),
        ]
        for body, headers, status, error in cases:
            resp = c.post("/items", json=body, headers=headers)
            assert resp.status_code == status, (body, resp.text)
            assert resp.json()["error"] == error, resp.text
        message = c.post("/items", json=[{"item": 7000, "text": "a red kettle"}], headers=AUTH).json()[
            "message"
        ]
        assert "vector" in message and "24" in message
        assert c.get("/model").json()["n_items"] == N_ITEMS and c.get("/health").json()["model_version"] == 1


def test_a_corpus_dependent_encoder_refuses_texts_but_takes_vectors(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    from lmrec.text import item_features

    data = successor_data()
    features = item_features(catalog_of(data), data.item_vocab, "tfidf:16", cache=False)
    model = TextSeq(**{**SMALL, "epochs": 2}).fit(data, seed=0, item_features=features)
    assert model.item_text_recipe()["corpus_dependent"] is True
    with TestClient(create_app(model, token=TOKEN)) as c:
        resp = c.post("/items", json=[{"item": 8000, "text": "apple river"}], headers=AUTH)
        assert resp.status_code == 422 and resp.json()["error"] == "invalid_item"
        assert "corpus-dependent" in resp.json()["message"] and "vector" in resp.json()["message"]
        vector = features.vectors[3].tolist()
        assert c.post("/items", json=[{"item": 8000, "vector": vector}], headers=AUTH).status_code == 200


def minilm_or_skip() -> Any:
    from lmrec.text.encoders import EncoderError, make_encoder

    encoder = make_encoder("minilm")
    try:
        encoder.encode(["probe"])
    except EncoderError as exc:
        pytest.skip(f"MiniLM cannot be loaded offline here: {exc}")
    return encoder


def test_text_posted_to_the_service_is_encoded_by_the_recorded_encoder(tmp_path: Path) -> None:
    """End to end with a pretrained encoder: the model records minilm at fit time, the service rebuilds it
    and encodes the posted fields (rendered by the recorded template) to the very vector of the twin."""
    pytest.importorskip("sentence_transformers")
    minilm_or_skip()
    from lmrec.text import item_features

    data = successor_data()
    catalog = catalog_of(data)
    features = item_features(catalog, data.item_vocab, "minilm", cache=False)
    model = TextSeq(**SMALL).fit(data, seed=0, item_features=features)
    folder = model.save(tmp_path / "model")
    store = f"sqlite:///{tmp_path / 'events.sqlite'}"
    user = "u007"
    with TestClient(create_app(folder, store_url=store, token=TOKEN)) as c:
        before, scores, _ = top_items(c, user)
        twin = before[0]
        row = catalog.frame.loc[twin]
        new = [
            {"item": 9000, "fields": {"title": row["title"], "genres": row["genres"]}},
            {"item": 9001, "text": "something else entirely: a kettle by the harbor"},
        ]
        resp = c.post("/items", json=new, headers=AUTH)
        assert resp.status_code == 200, resp.text
        after, after_scores, _ = top_items(c, user)
        assert set(after[:2]) == {twin, 9000}
        np.testing.assert_allclose(after_scores[:2], scores[0], rtol=1e-4)
    with TestClient(create_app(folder, store_url=store, token=TOKEN)) as c:
        assert top_items(c, user)[0][:2] == after[:2]
