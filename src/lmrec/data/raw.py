"""A log as read from files, before cleaning: typed columns plus where each row came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lmrec.data.catalog import ItemCatalog

RAW_COLUMNS = ("user", "item", "rating", "timestamp", "source", "line")
VALUE_COLUMNS = ("user", "item", "rating", "timestamp")
"""Columns whose values a loader parses (and may fail to)."""
BAD_VALUE_COLUMNS = ("row", "column", "value", "reason")


def bad_values_table(rows: Any = (), columns: Any = (), values: Any = (), reasons: Any = ()) -> pd.DataFrame:
    """A `RawLog.bad_values` table, sorted by (row, column); all empty when called without arguments."""
    column = pd.Categorical(columns, categories=VALUE_COLUMNS)
    if (column.codes < 0).any():
        raise ValueError(f"bad value columns must be among {VALUE_COLUMNS}, not {sorted(set(columns))}")
    table = pd.DataFrame(
        {
            "row": np.asarray(rows, dtype=np.int64),
            "column": column,
            "value": pd.Series(values, dtype="str"),
            "reason": pd.Categorical(reasons),
        }
    )
    return table.sort_values(["row", "column"], kind="stable", ignore_index=True)


def _column_codes(column: pd.Series) -> np.ndarray:
    """Index into VALUE_COLUMNS per row (-1: not a value column), without comparing strings row by row."""
    return np.asarray(pd.Categorical(column, categories=VALUE_COLUMNS).codes, dtype=np.int64)


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
    because of bad values; they leave NaN so cleaning can count and report them, and list the text
    they could not parse in `bad_values` so the report can tell `four` from an empty cell. Rows that
    cannot be parsed at all (wrong field count) are listed in `problems`.
    """

    frame: pd.DataFrame
    name: str
    catalog: ItemCatalog | None = None
    problems: tuple[Problem, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    """Free-form facts: source path/url, license, `timestamp_kind` ("unix" or "position"), `explicit`."""
    bad_values: pd.DataFrame = field(default_factory=bad_values_table)
    """Values present in the file that did not parse, one row per (frame row, column), failing rows
    only (so it stays tiny next to the frame): `row` (0-based position in `frame`, which holds NaN/NA
    there), `column` (user/item/rating/timestamp), `value` (the text as in the file, cut to 200
    characters) and `reason` ("not a number", "not a valid timestamp for format '%Y-%m-%d'", ...).
    Empty or blank cells are missing values, not bad ones, and are not listed. Build with
    `bad_values_table`."""
    given_parts: np.ndarray | None = None
    """For data published already split (UniSRec's `.train/.valid/.test.inter`): the part of that split
    each frame row belongs to, as int8 per row, 0 train, 1 valid, 2 test. None for unsplit data. The
    experiment split method `given` keeps it (see `lmrec.data.splits.given_split`)."""

    def __post_init__(self) -> None:
        missing = [c for c in RAW_COLUMNS if c not in self.frame.columns]
        if missing:
            raise ValueError(f"raw log {self.name!r} lacks columns {missing}")
        self._check_bad_values()
        if self.given_parts is not None:
            parts = np.asarray(self.given_parts)
            if parts.shape != (len(self.frame),) or parts.dtype.kind not in "iu":
                raise ValueError(f"raw log {self.name!r}: given_parts must be one integer per frame row")
            if parts.size and (parts.min() < 0 or parts.max() > 2):
                raise ValueError(
                    f"raw log {self.name!r}: given_parts must be 0 (train), 1 (valid) or 2 (test)"
                )

    def _check_bad_values(self) -> None:
        """The side table must point at rows the frame holds as missing: a subset of the frame (or a
        re-ordered one) must not carry a table that describes other rows."""
        table = self.bad_values
        absent = [c for c in BAD_VALUE_COLUMNS if c not in table.columns]
        if absent:
            raise ValueError(f"raw log {self.name!r}: bad_values lacks columns {absent}")
        if table.empty:
            return
        rows = table["row"].to_numpy()
        if rows.dtype.kind not in "iu" or rows.min() < 0 or rows.max() >= len(self.frame):
            raise ValueError(f"raw log {self.name!r}: bad_values rows must be positions in the frame")
        codes = _column_codes(table["column"])
        if (codes < 0).any():
            raise ValueError(f"raw log {self.name!r}: bad_values columns must be among {VALUE_COLUMNS}")
        for code in np.unique(codes):
            column = VALUE_COLUMNS[code]
            at = rows[codes == code]
            if np.unique(at).size != at.size:
                raise ValueError(f"raw log {self.name!r}: bad_values lists a {column} cell twice")
            if not self.frame[column].iloc[at].isna().all():
                raise ValueError(
                    f"raw log {self.name!r}: bad_values lists {column} cells that the frame holds as values"
                )


class BadValueIndex:
    """`RawLog.bad_values` by column, for lookups: which rows hold unparsed text, the text and the reason."""

    def __init__(self, table: pd.DataFrame, n_rows: int) -> None:
        self.n_rows = n_rows
        self._by_column: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        if table.empty:
            return
        codes = _column_codes(table["column"])
        rows = table["row"].to_numpy(np.int64)
        for code in np.unique(codes[codes >= 0]):
            at = np.flatnonzero(codes == code)
            at = at[np.argsort(rows[at], kind="stable")]
            self._by_column[VALUE_COLUMNS[code]] = (
                rows[at],
                table["value"].to_numpy(dtype=object)[at],
                table["reason"].astype("str").to_numpy(dtype=object)[at],
            )

    def mask(self, column: str) -> np.ndarray:
        """Boolean mask over the frame's rows: True where `column` held text that did not parse."""
        out = np.zeros(self.n_rows, bool)
        if column in self._by_column:
            out[self._by_column[column][0]] = True
        return out

    def get(self, column: str, row: int) -> tuple[str, str] | None:
        """(text, reason) of the row's unparsed value; None when the value parsed or the cell was empty."""
        if column not in self._by_column:
            return None
        rows, values, reasons = self._by_column[column]
        i = int(np.searchsorted(rows, row))
        if i < rows.size and rows[i] == row:
            return str(values[i]), str(reasons[i])
        return None
