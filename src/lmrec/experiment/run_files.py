"""The files `lmrec run` writes beside results.json so that a report can look at the lists themselves.

results.json holds means and tests, per_user.parquet one row of metrics per (model, test user). What a
report needs on top (popularity bias, personalization, calibration, slices by activity and popularity)
is small and written here:

- per_user.parquet gains two columns that do not depend on the model:
  `history_length` — the user's interactions in the history the test ranks from (train+valid, repeats
  counted), i.e. the user's activity; `target_popularity` — mean popularity of the user's test targets,
  popularity being the number of distinct users of an item in that same history;
  `history_popularity` — mean popularity of the items of the user's history (what the user consumed,
  each distinct item once), the reference a list's popularity is compared with.
- `recommendations.parquet`: one row per (model, test user): `model`, `user` (the user index of
  per_user.parquet) and `items`, the top-max(ns) item indices of the evaluated list, best first (a list
  of int32; shorter when fewer items were rankable). 943 users x 5 models x 20 items is ~0.2 MB.
- `items.parquet`: one row per catalog item: `item` (index), `item_id` (raw id, as text), `popularity`
  (distinct users in the test-time history, the popularity above), and `title` / `category` when the
  dataset's catalog has them (category: the first of the columns `CATEGORY_COLUMNS`, "|"-separated
  labels as in MovieLens genres).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

if TYPE_CHECKING:
    from lmrec.data.interactions import Interactions
    from lmrec.experiment.prepare import Prepared
    from lmrec.experiment.runner import ModelRun

RECOMMENDATIONS = "recommendations.parquet"
ITEMS = "items.parquet"
TITLE_COLUMNS = ("title", "name")
"""Catalog columns taken as an item's display title (the first present)."""
CATEGORY_COLUMNS = ("genres", "genre", "categories", "category")
"""Catalog columns taken as an item's categories (the first present), labels separated by "|"."""


def first_column(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    """The first of `names` that is a column of `frame` (None when none is)."""
    return next((c for c in names if c in frame.columns), None)


def user_facts(prep: Prepared, history: Interactions | None = None) -> pd.DataFrame:
    """Per test-target row (`user` = index): history_length and target_popularity (see module doc).
    history: the test-time history (default train+valid; train under `test_input: train`)."""
    history = prep.split.train_valid() if history is None else history
    popularity = history.item_user_counts().astype(np.float64)
    targets = prep.split.test.csr()
    length = np.zeros(targets.shape[0], dtype=np.int64)
    user_counts = history.user_counts()
    length[: user_counts.size] = user_counts
    return pd.DataFrame(
        {
            "user": np.arange(targets.shape[0], dtype=np.int64),
            "history_length": length,
            "target_popularity": _mean_popularity(targets, popularity),
            "history_popularity": _mean_popularity(history.csr(), popularity),
        }
    )


def _mean_popularity(matrix: sp.csr_matrix, popularity: np.ndarray) -> np.ndarray:
    """Per row: mean popularity of the row's distinct items (NaN for an empty row)."""
    binary = sp.csr_matrix(matrix, copy=True)
    binary.sum_duplicates()
    binary.data = np.ones_like(binary.data)
    sums = binary @ popularity
    counts = np.diff(binary.indptr)
    return np.divide(sums, counts, out=np.full(counts.shape, np.nan), where=counts > 0)


def with_user_facts(
    per_user: pd.DataFrame, prep: Prepared, history: Interactions | None = None
) -> pd.DataFrame:
    """`per_user` with the model-independent columns of `user_facts` joined on `user`."""
    facts = user_facts(prep, history)
    return per_user.merge(facts, on="user", how="left", validate="many_to_one")


def recommendations_frame(runs: list[ModelRun]) -> pd.DataFrame | None:
    """The evaluated top lists of every model that kept them (None when none did)."""
    parts = []
    for run in runs:
        if run.lists is None:
            continue
        lists = np.asarray(run.lists, dtype=np.int32)
        users = run.per_user["user"].to_numpy(dtype=np.int64)
        parts.append(
            pd.DataFrame(
                {
                    "model": run.label,
                    "user": users,
                    "items": [row[row >= 0] for row in lists],
                }
            )
        )
    if not parts:
        return None
    return pd.concat(parts, ignore_index=True)


def write_recommendations(folder: Path, runs: list[ModelRun]) -> Path | None:
    """`recommendations.parquet` (zstd) of the models that kept their lists; None if none did."""
    frame = recommendations_frame(runs)
    path = folder / RECOMMENDATIONS
    path.unlink(missing_ok=True)  # a rerun must not leave another run's lists behind
    if frame is None:
        return None
    frame.to_parquet(path, index=False, compression="zstd")
    return path


def items_frame(prep: Prepared, history: Interactions | None = None) -> pd.DataFrame:
    """One row per catalog item: index, raw id, test-time popularity, and title / category if any."""
    history = prep.split.train_valid() if history is None else history
    vocab = prep.split.train.item_vocab
    frame: dict[str, Any] = {
        "item": np.arange(len(vocab), dtype=np.int32),
        "item_id": [str(x) for x in vocab.ids],
        "popularity": history.item_user_counts().astype(np.int64),
    }
    if prep.catalog is not None:
        aligned = prep.catalog.aligned(vocab)
        for name, columns in (("title", TITLE_COLUMNS), ("category", CATEGORY_COLUMNS)):
            column = first_column(aligned, columns)
            if column is not None:
                frame[name] = [None if pd.isna(v) else str(v) for v in aligned[column]]
    return pd.DataFrame(frame)


def write_items(folder: Path, prep: Prepared, history: Interactions | None = None) -> Path:
    path = folder / ITEMS
    items_frame(prep, history).to_parquet(path, index=False, compression="zstd")
    return path
