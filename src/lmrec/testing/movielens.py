"""A MovieLens-100K-shaped folder from a synthetic log: `u.data` plus a `u.item` catalog with titles and
genres, so that tests and examples exercise the catalog paths (titles in outputs, calibration by genre)
without the real dataset. `load_dataset(folder)` reads it as MovieLens-100K."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lmrec.data.loaders.movielens import GENRES_100K
from lmrec.data.synthetic import synthetic_log

WORDS = ("Red", "Silent", "Last", "Lost", "Golden", "Night", "River", "Star", "Winter", "Paper")


def title_of(item: int) -> str:
    """The title `write_movielens_folder` gives raw item id `item`."""
    first, second = WORDS[item % len(WORDS)], WORDS[(item // len(WORDS)) % len(WORDS)]
    return f"{first} {second} {item} ({1950 + item % 50})"


def write_movielens_folder(
    folder: str | Path, *, n_users: int = 200, n_items: int = 80, n_interactions: int = 4_000, seed: int = 0
) -> Path:
    """Write u.data (user, item, rating, timestamp; ids from 1) and u.item (title, dates, URL, 19 genre
    flags: each item has one to three genres) into `folder`; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frame = synthetic_log(
        n_users=n_users, n_items=n_items, n_interactions=n_interactions, seed=seed
    ).to_frame()
    rng = np.random.default_rng(seed)
    ratings = rng.integers(1, 6, size=len(frame))
    lines = [
        f"{u}\t{i}\t{r}\t{t}"
        for u, i, r, t in zip(frame["user"], frame["item"], ratings, frame["timestamp"], strict=True)
    ]
    (folder / "u.data").write_text("\n".join(lines) + "\n")
    rows = []
    for item in range(1, int(frame["item"].max()) + 1):
        flags = ["0"] * len(GENRES_100K)
        for g in rng.choice(np.arange(1, len(GENRES_100K)), size=int(rng.integers(1, 4)), replace=False):
            flags[int(g)] = "1"
        rows.append(f"{item}|{title_of(item)}|01-Jan-1995||http://example.org/{item}|" + "|".join(flags))
    (folder / "u.item").write_text("\n".join(rows) + "\n", encoding="latin-1")
    return folder
