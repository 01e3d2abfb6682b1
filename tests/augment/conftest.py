"""Tiny experiment inputs for the augmentation tests: a log with an item catalog (MovieLens csv layout, so
`text` augmentation has titles to embed) and helpers that build experiment files around it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

GENRES = ("Space", "Western", "Romance", "Horror", "Cooking", "Sports")
WORDS = {
    "Space": "rocket galaxy astronaut orbit",
    "Western": "cowboy saloon desert sheriff",
    "Romance": "love wedding heart kiss",
    "Horror": "ghost blood haunted scream",
    "Cooking": "kitchen recipe chef bread",
    "Sports": "football goal stadium team",
}


@pytest.fixture(scope="session")
def catalog_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """150 users, 60 movies in 6 genres of 10; a user watches 4-20 movies, 85% from a favourite genre."""
    rng = np.random.default_rng(8)
    n_users, per_genre = 150, 10
    genre_of = np.repeat(np.arange(len(GENRES)), per_genre)
    rows = []
    for u in range(n_users):
        fav = u % len(GENRES)
        n = int(rng.integers(4, 21))
        own = np.flatnonzero(genre_of == fav)
        other = np.flatnonzero(genre_of != fav)
        k_own = min(round(0.85 * n), own.size)
        items = np.concatenate(
            [rng.choice(own, k_own, replace=False), rng.choice(other, n - k_own, replace=False)]
        )
        rng.shuffle(items)
        for j, i in enumerate(items):
            rows.append((u + 1, int(i) + 1, 4.0, 1_000_000 + 1000 * u + 10 * j))
    folder = tmp_path_factory.mktemp("catalog") / "tiny-ml"
    folder.mkdir()
    pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"]).to_csv(
        folder / "ratings.csv", index=False
    )
    movies = pd.DataFrame(
        {
            "movieId": np.arange(genre_of.size) + 1,
            "title": [f"{WORDS[GENRES[g]]} {i} (2001)" for i, g in enumerate(genre_of)],
            "genres": [GENRES[g] for g in genre_of],
        }
    )
    movies.to_csv(folder / "movies.csv", index=False)
    return folder


@pytest.fixture(scope="session")
def experiment_doc(catalog_folder: Path) -> Callable[..., dict[str, Any]]:
    """Builds an experiment document over `catalog_folder`: experiment_doc(models, **top-level overrides)."""

    def build(models: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
        return _doc(catalog_folder, models, **overrides)

    return build


def _doc(folder: Path, models: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "augment-tiny",
        "seed": 3,
        "dataset": {"path": str(folder), "format": "movielens"},
        "cleaning": {"duplicates": "keep_first"},
        "split": {"method": "temporal_ratio", "params": {"train": 0.8, "valid": 0.1}},
        "evaluation": {"ns": [10], "metrics": ["ndcg", "recall"], "select_by": "NDCG@10"},
        "save_models": False,
        "models": models,
    }
    doc.update(overrides)
    return doc


@pytest.fixture(scope="session")
def weak_log_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A power-law log without taste structure (`synthetic_log`), where item-kNN is far from perfect."""
    from lmrec.data.synthetic import synthetic_log

    path = tmp_path_factory.mktemp("weak") / "events.csv"
    synthetic_log(n_users=300, n_items=200, n_interactions=3000, seed=2).to_frame().to_csv(path, index=False)
    return path
