"""The files of a results folder that a report reads, and what is missing from them.

A folder written by `lmrec run` holds results.json (always) and, since the report exists,
per_user.parquet with the activity columns, recommendations.parquet and items.parquet
(`lmrec.experiment.run_files`). Folders of older runs, or committed benchmark folders whose Parquet
files are not in git, have less: every section of the report says what it could not show and which file
it needed, instead of failing. A simulation folder (`lmrec simulate`) has results.json and
per_round.parquet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lmrec.errors import DataError
from lmrec.experiment.run_files import ITEMS, RECOMMENDATIONS

PER_USER = "per_user.parquet"
PER_ROUND = "per_round.parquet"
RESULTS = "results.json"


@dataclass
class RunFiles:
    """What one results folder holds (None: the file is absent)."""

    folder: Path
    results: dict[str, Any]
    per_user: pd.DataFrame | None = None
    recommendations: pd.DataFrame | None = None
    items: pd.DataFrame | None = None
    per_round: pd.DataFrame | None = None
    missing: list[str] = field(default_factory=list)
    """Files the report would use that the folder lacks."""

    @property
    def kind(self) -> str:
        """ "simulation" (`lmrec simulate`), "rating" (`task: rating`) or "ranking"."""
        if self.per_round is not None or "policies" in self.results.get("config", {}):
            return "simulation"
        if self.results.get("experiment", {}).get("task") == "rating":
            return "rating"
        return "ranking"

    @property
    def name(self) -> str:
        exp = self.results.get("experiment") or self.results.get("config") or {}
        return str(self.results.get("name") or exp.get("name") or self.folder.name)

    def labels(self) -> list[str]:
        """Model labels in the run's order."""
        return [str(m["label"]) for m in self.results.get("models", [])]


def _parquet(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise DataError(f"{path}: cannot read it as Parquet ({exc})") from None


def read_run(folder: str | Path) -> RunFiles:
    """The files of `folder`; a folder without results.json (or with a damaged one) is a DataError."""
    folder = Path(folder)
    path = folder / RESULTS
    if not path.is_file():
        raise DataError(
            f"{folder} is not a results folder: it has no {RESULTS} (write one with `lmrec run` or "
            "`lmrec simulate`)"
        )
    try:
        results = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(results, dict):
        raise DataError(f"{path} does not hold a results object")
    run = RunFiles(folder=folder, results=results)
    run.per_round = _parquet(folder / PER_ROUND)
    if run.kind == "simulation":
        if run.per_round is None:
            run.missing.append(PER_ROUND)
        return run
    if run.kind == "rating":
        return run
    for name, attr in ((PER_USER, "per_user"), (RECOMMENDATIONS, "recommendations"), (ITEMS, "items")):
        frame = _parquet(folder / name)
        setattr(run, attr, frame)
        if frame is None:
            run.missing.append(name)
    if run.per_user is not None and "history_length" not in run.per_user.columns:
        run.missing.append(f"{PER_USER} columns history_length, target_popularity (an older lmrec run)")
    return run
