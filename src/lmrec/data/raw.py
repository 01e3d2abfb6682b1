"""A log as read from files, before cleaning: typed columns plus where each row came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from lmrec.data.catalog import ItemCatalog

RAW_COLUMNS = ("user", "item", "rating", "timestamp", "source", "line")


@dataclass(frozen=True)
class Problem:
    """One bad input row: where it is, which column, what was there, and why it is bad."""

    source: str
    line: int
    column: str
    value: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: column {self.column!r} = {self.value!r}: {self.reason}"


@dataclass(frozen=True)
class RawLog:
    """Events straight from the files.

    `frame` has columns user, item (raw ids; missing = NA), rating (float, NaN where missing or
    unparseable), timestamp (float seconds or sequence position, NaN where missing/unparseable),
    source (file name) and line (1-based line or row number in that file). Loaders never drop rows
    because of bad values; they leave NaN so cleaning can count and report them. Rows that cannot be
    parsed at all (wrong field count) are listed in `problems`.
    """

    frame: pd.DataFrame
    name: str
    catalog: ItemCatalog | None = None
    problems: tuple[Problem, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    """Free-form facts: source path/url, license, `timestamp_kind` ("unix" or "position"), `explicit`."""

    def __post_init__(self) -> None:
        missing = [c for c in RAW_COLUMNS if c not in self.frame.columns]
        if missing:
            raise ValueError(f"raw log {self.name!r} lacks columns {missing}")
