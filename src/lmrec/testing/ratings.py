"""Known published reference points for rating models: fit on a MovieLens-100K official fold, RMSE on its
test file (the checks of `tests/models/test_model_biased_mf.py` and `test_model_bayes_fm.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lmrec.data.interactions import Interactions

COLUMNS = ["user", "item", "rating", "timestamp"]


def fold_rmse(model: Any, ml100k_dir: Path, fold: int = 1, *, seed: int = 0) -> tuple[float, int]:
    """`model` fitted on u{fold}.base; its RMSE on u{fold}.test and how many test rows have an item unseen
    in the base file (scored through the model's fallback for unknown items)."""
    base = pd.read_csv(ml100k_dir / f"u{fold}.base", sep="\t", header=None, names=COLUMNS)
    test = pd.read_csv(ml100k_dir / f"u{fold}.test", sep="\t", header=None, names=COLUMNS)
    train = Interactions.from_frame(base)
    model.fit(train, seed=seed)
    users = train.user_vocab.index(test["user"].to_numpy(), missing="negative")
    items = train.item_vocab.index(test["item"].to_numpy(), missing="negative")
    errors = model.predict(users, items) - test["rating"].to_numpy()
    return float(np.sqrt(np.mean(errors**2))), int((items < 0).sum())
