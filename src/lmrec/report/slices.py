"""Accuracy by slice of users: by activity (history length) and by the popularity of their test targets.

Users are cut into `BUCKETS` groups of about equal size by the quantiles of the slicing column over the
test users (equal values stay together, so there can be fewer groups); each group reports its range,
its user count and, per model, the mean of the selection metric with its bootstrap CI. The columns come
from per_user.parquet (`lmrec.experiment.run_files`): `history_length` is the number of interactions
the test ranks from, `target_popularity` the mean number of distinct users of the user's test targets
in that history (under leave-one-out: of the one target).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lmrec.eval import mean_ci
from lmrec.report.accuracy import N_BOOT, key_metric, per_model
from lmrec.report.inputs import RunFiles

BUCKETS = 5
SLICES = {
    "history_length": "user activity (interactions in the history)",
    "target_popularity": "popularity of the test target(s) (distinct users in the history)",
}


def _fmt(x: float) -> str:
    return f"{x:.0f}" if float(x).is_integer() or abs(x) >= 100 else f"{x:.1f}"


def bucket_users(values: pd.Series, buckets: int = BUCKETS) -> tuple[pd.Series, list[dict[str, Any]]]:
    """Group of each user (index = user) by quantiles of `values`, and each group's range and size."""
    clean = values.dropna()
    if clean.empty:
        return pd.Series(dtype=np.int64), []
    raw = pd.qcut(clean, q=min(buckets, clean.nunique()), labels=False, duplicates="drop")
    position = {code: i for i, code in enumerate(sorted(raw.unique()))}
    codes = raw.map(position)
    groups = []
    for code in range(len(position)):
        members = clean[codes == code]
        low, high = float(members.min()), float(members.max())
        label = _fmt(low) if low == high else f"{_fmt(low)}–{_fmt(high)}"
        groups.append({"label": label, "low": low, "high": high, "users": int(members.size)})
    return codes.astype(np.int64), groups


def by_slice(run: RunFiles, column: str, *, seed: int = 0) -> dict[str, Any] | None:
    """The selection metric per model and user group of `column`; None without the column."""
    per_user = run.per_user
    key = key_metric(run)
    if per_user is None or column not in per_user.columns or key not in per_user.columns:
        return None
    values = per_user.drop_duplicates("user").set_index("user")[column]
    codes, groups = bucket_users(values)
    models: dict[str, Any] = {}
    for label in run.labels():
        frame = per_model(per_user, label).set_index("user")
        group_of = codes.reindex(frame.index)
        stats = [
            mean_ci(frame.loc[(group_of == g).to_numpy(), key].to_numpy(np.float64), n_boot=N_BOOT, seed=seed)
            for g in range(len(groups))
        ]
        models[label] = {
            "mean": [s[0] for s in stats],
            "low": [s[1] for s in stats],
            "high": [s[2] for s in stats],
        }
    return {
        "column": column,
        "what": SLICES.get(column, column),
        "metric": key,
        "groups": groups,
        "models": models,
    }
