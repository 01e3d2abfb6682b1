"""Fixtures of the service tests: tiny fitted models, saved once, and apps with a private event store."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lmrec.data.interactions import Interactions
from lmrec.models.knn import ItemKNN
from lmrec.testing.datasets import random_interactions

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

if importlib.util.find_spec("fastapi") is None:  # the 'serve' extra is missing: nothing here can run
    collect_ignore_glob = ["test_*.py"]

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="session")
def data() -> Interactions:
    return random_interactions(n_users=30, n_items=25, seed=0)


@pytest.fixture(scope="session")
def knn(data: Interactions) -> ItemKNN:
    return ItemKNN(k=10).fit(data, seed=0)


@pytest.fixture()
def knn_dir(knn: ItemKNN, tmp_path: Path) -> Path:
    """A saved ItemKNN, one per test: a retrain saves its new version into the served folder."""
    return knn.save(tmp_path / "model")


@pytest.fixture()
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'events.sqlite'}"


@pytest.fixture()
def client(knn_dir: Path, store_url: str) -> Iterator[TestClient]:
    """ItemKNN served with a token; the TestClient context runs the app's startup and shutdown."""
    from fastapi.testclient import TestClient

    from lmrec.service import create_app

    with TestClient(create_app(knn_dir, store_url=store_url, token=TOKEN)) as c:
        yield c


@pytest.fixture()
def auth() -> dict[str, str]:
    """The header the write endpoints of `client` need."""
    return dict(AUTH)


@pytest.fixture(scope="session")
def explorer_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weighted hybrid (EASE + ItemKNN) of a MovieLens-shaped log with titles, saved with its display
    catalog: what the explorer page shows (tests/service/test_service_explorer.py, test_explorer_browser)."""
    from lmrec.data.cleaning import CleaningConfig, clean
    from lmrec.data.display import write_display
    from lmrec.data.loaders import load_dataset
    from lmrec.models.registry import make_model
    from lmrec.testing.movielens import write_movielens_folder

    root = tmp_path_factory.mktemp("explorer")
    raw = load_dataset(str(write_movielens_folder(root / "ml", n_users=80, n_items=40, n_interactions=1_600)))
    data, _ = clean(raw, CleaningConfig())
    blend = {
        "components": [{"name": "ease", "params": {"reg": 50.0}}, {"name": "itemknn", "params": {"k": 20}}],
        "weights": [0.5, 0.5],
    }
    model = make_model("weighted", blend).fit(data, seed=0)
    model.save(root / "model")
    assert raw.catalog is not None
    write_display(root / "model", raw.catalog, model.item_vocab_)
    return root / "model"
