"""The service answers with the catalog's title and display fields beside each item id when the model
folder holds a display catalog (`catalog.parquet`), and with ids only otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lmrec.data.cleaning import CleaningConfig, clean
from lmrec.data.display import write_display
from lmrec.data.loaders import load_dataset
from lmrec.models.knn import ItemKNN
from lmrec.service import create_app
from lmrec.testing.movielens import title_of, write_movielens_folder


@pytest.fixture(scope="module")
def titled_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("titled")
    raw = load_dataset(str(write_movielens_folder(root / "ml", n_users=60, n_items=30, n_interactions=900)))
    data, _ = clean(raw, CleaningConfig())
    model = ItemKNN(k=10).fit(data, seed=0)
    model.save(root / "model")
    assert raw.catalog is not None
    write_display(root / "model", raw.catalog, model.item_vocab_)
    return root / "model"


def test_every_list_carries_titles_and_fields(titled_dir: Path, tmp_path: Path) -> None:
    with TestClient(create_app(titled_dir, store_url=f"sqlite:///{tmp_path / 'e.sqlite'}")) as client:
        lists = [
            client.get("/users/5/recommendations?n=4").json()["items"],
            client.post("/recommendations", json={"items": [1, 2], "n": 4}).json()["items"],
            client.post("/recommendations/batch", json={"users": [5, 6], "n": 4}).json()["results"][1][
                "items"
            ],
            client.get("/users/unknown-user/recommendations?n=4").json()["items"],  # popularity fallback
        ]
        for items in lists:
            assert len(items) == 4
            for entry in items:
                assert entry["title"] == title_of(entry["item"])
                assert entry["fields"]["release_date"] == "01-Jan-1995" and entry["fields"]["genres"]


def test_without_a_display_catalog_the_answers_are_unchanged(titled_dir: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    ItemKNN.load(titled_dir).save(plain)
    with TestClient(create_app(plain, store_url=f"sqlite:///{tmp_path / 'e.sqlite'}")) as client:
        items = client.get("/users/5/recommendations?n=3").json()["items"]
    assert all(set(entry) == {"item", "score"} for entry in items)
