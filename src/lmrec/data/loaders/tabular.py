"""Any CSV / TSV / Parquet interaction table, given which columns hold user, item, rating and time.

CSV/TSV go through the two-pass reader of `_delimited` (exact line numbers, malformed lines listed as
Problems, pandas C engine for speed). Parquet is read with pyarrow (`_parquet`: a damaged file or a column of
the wrong type is a `DataError`), mapped columns only, integer ids downcast, so a 20M-row log stays at
roughly 30 bytes per row.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from lmrec.data.loaders._delimited import read_delimited
from lmrec.data.loaders._parquet import ParquetColumns, parquet_column_names
from lmrec.data.loaders._source import (
    NOT_A_NUMBER,
    NOT_AN_INTEGER_ID,
    DataSource,
    PathLike,
    Unparsed,
    auto_ids,
    detect_encoding,
    id_warning,
    int_ids,
    positions,
    raw_frame,
    str_ids,
)
from lmrec.data.loaders._text import check_encoding_name
from lmrec.data.loaders.registry import UNKNOWN_TERMS
from lmrec.data.raw import RawLog
from lmrec.errors import DataError

IdType = Literal["auto", "int", "str"]
_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
"""Field separator by file suffix (tables here and attribute tables)."""


@dataclass(frozen=True)
class ColumnMapping:
    """Which columns of a table are the user, item, rating and timestamp."""

    user: str = "user"
    """Column with the raw user id."""
    item: str = "item"
    """Column with the raw item id."""
    rating: str | None = None
    """Column with the rating or weight; None for purely implicit logs."""
    timestamp: str | None = None
    """Column with the event time (epoch number or date string); None keeps file order per user."""

    @classmethod
    def coerce(cls, columns: ColumnMapping | Mapping[str, str | None] | None) -> ColumnMapping:
        """Accept a mapping such as {"user": "userId", "item": "movieId"} (unknown keys are an error)."""
        if columns is None:
            return cls()
        if isinstance(columns, ColumnMapping):
            return columns
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(columns) - known)
        if unknown:
            raise DataError(f"column mapping keys {unknown} are unknown; use {sorted(known)}")
        return cls(**dict(columns))  # type: ignore[arg-type]

    def used(self) -> list[str]:
        return [c for c in (self.user, self.item, self.rating, self.timestamp) if c is not None]

    def roles(self) -> dict[str, str]:
        """Role (user, item, rating, timestamp) -> column name, for the mapped roles."""
        return {k: v for k, v in vars(self).items() if v is not None}


def load_table(
    path: PathLike,
    columns: ColumnMapping | Mapping[str, str | None] | None = None,
    *,
    file: str | None = None,
    sep: str | None = None,
    names: list[str] | None = None,
    timestamp_format: str | None = None,
    timestamp_unit: str = "s",
    id_type: IdType = "auto",
    explicit: bool | None = None,
    encoding: str = "utf-8",
    name: str | None = None,
    license: str = UNKNOWN_TERMS,
) -> RawLog:
    """Load an interaction table. `columns` maps user/item/rating/timestamp to the file's column names.

    Without `columns`, the columns must be named user and item; rating and timestamp are used if present.

    * `sep`: field separator (default: `,` for .csv, tab for .tsv/.tab); `names`: column names for a
      file without a header line.
    * `timestamp_format`: None reads numbers (epoch, in `timestamp_unit`); otherwise a `strftime` format
      or "ISO8601" for date strings, parsed as UTC when they carry no offset.
    * `id_type`: "auto" reads a column as integers when every value is an integer literal that fits int64
      (`12`, `-3`; not `1e3`, `012`, `+12` or 2^63) and otherwise as the exact text, the whole column,
      with a warning in `meta["warnings"]` naming the first line that made it text; "int" makes every
      other value NA (listed in `bad_values`); "str" keeps the text.
    * `encoding`: of the file (default UTF-8; a byte-order mark is skipped); a byte invalid in it is an
      error naming line and column, and an unknown encoding name is an error before anything is read.
    * `explicit`: whether ratings are explicit stars (default: a rating column is mapped).

    A mapped column that the file lacks raises `DataError` naming the file and its columns; so does a
    Parquet file pyarrow cannot read or a Parquet column whose type cannot hold its role (see `_parquet`).
    Without a timestamp column each event gets its position within its user's events, in file order.
    """
    if timestamp_unit not in _UNITS:
        raise ValueError(f"timestamp_unit must be one of {sorted(_UNITS)}, not {timestamp_unit!r}")
    encoding = check_encoding_name(encoding)
    source = DataSource(path)
    file = file or _only_table(source)
    suffixes = [s.lower() for s in Path(file).suffixes]
    if columns is None:
        present = _column_names(source, file, sep, names, encoding)
        columns = {"user": "user", "item": "item"}
        columns.update({k: k for k in ("rating", "timestamp") if k in present})
    mapping = ColumnMapping.coerce(columns)
    if ".parquet" in suffixes or ".pq" in suffixes:
        df: Any = ParquetColumns(source, file, mapping.roles())
        lines = df.lines
        problems: list[Any] = []
        fmt = "parquet"
    else:
        sep = sep or next((SEPARATORS[s] for s in suffixes if s in SEPARATORS), None)
        if sep is None:
            raise DataError(f"{source.label(file)}: cannot tell the separator from the name; pass sep=")
        d = read_delimited(
            source,
            file,
            sep=sep,
            header=names is None,
            names=names,
            usecols=mapping.used(),
            encoding=encoding,
            # id_type="str" promises the file's text: "0001" and "1" are two ids, not the integer 1
            text_columns=[mapping.user, mapping.item] if id_type == "str" else (),
            exact_columns=[mapping.user, mapping.item] if id_type != "str" else (),
        )
        df, lines, problems, fmt = d.frame, d.lines, d.problems, "csv" if sep == "," else f"delimited {sep!r}"
    label = source.label(file)
    convert = {"auto": auto_ids, "int": int_ids, "str": str_ids}[id_type]
    unparsed = Unparsed()  # raw text of values that do not parse, for the cleaning report
    ids = []
    warnings = []
    for role, column in (("user", mapping.user), ("item", mapping.item)):
        raw = df[column]  # a Parquet column is read on each access: once here
        ids.append(convert(raw))
        unparsed.check(role, raw, ids[-1], NOT_AN_INTEGER_ID)
        if id_type == "auto":
            warning = id_warning(raw, ids[-1], role, label, lines)
            warnings += [warning] if warning else []
        del raw
    user, item = ids
    rating = df[mapping.rating] if mapping.rating else None
    if mapping.timestamp:
        raw = df[mapping.timestamp]
        timestamp = _timestamps(raw, label, mapping.timestamp, timestamp_format, timestamp_unit)
        unparsed.check("timestamp", raw, timestamp, _timestamp_reason(timestamp_format))
        del raw
        kind = "unix"
    else:
        timestamp, kind = positions(user.reset_index(drop=True)), "position"
    del df
    frame = raw_frame(user, item, rating, timestamp, label, lines, unparsed)
    meta = {
        "source": label,
        "format": fmt,
        "license": license,
        "timestamp_kind": kind,
        "explicit": mapping.rating is not None if explicit is None else explicit,
        "columns": mapping.roles(),
    }
    if warnings:
        meta["warnings"] = warnings
    if kind == "position":
        meta["note"] = "no timestamp column: timestamp = position of the event within its user, in file order"
    name = name or Path(file).name.split(".")[0]
    return RawLog(frame, name, None, tuple(problems), meta, bad_values=unparsed.table())


def load_split_files(
    train: PathLike,
    valid: PathLike | None,
    test: PathLike,
    columns: ColumnMapping | Mapping[str, str | None] | None = None,
    *,
    encoding: str = "utf-8",
    **options: Any,
) -> tuple[RawLog, RawLog | None, RawLog]:
    """User-supplied train / valid / test files (valid may be None), each read with `load_table`.

    `encoding` is the three files' (see `load_table`); an unknown name is an error before any is read.
    """
    mapping = ColumnMapping.coerce(columns)
    encoding = check_encoding_name(encoding)
    paths = (train, valid, test)
    parts = [None if p is None else load_table(p, mapping, encoding=encoding, **options) for p in paths]
    return parts[0], parts[1], parts[2]  # type: ignore[return-value]


def _column_names(
    source: DataSource, file: str, sep: str | None, names: list[str] | None, encoding: str
) -> list[str]:
    """Column names of a table without reading its rows."""
    if names is not None:
        return list(names)
    if any(s.lower() in (".parquet", ".pq") for s in Path(file).suffixes):
        return parquet_column_names(source, file)
    with source.open(file) as fh:
        line = fh.readline()
    # `encoding` was checked by the caller; "auto" is decided on this line as read_delimited decides it
    codec = detect_encoding(line) if encoding == "auto" else encoding
    first = line.decode(codec, errors="replace").removeprefix("\ufeff")
    # a file with bare carriage returns is one "line" here; read_delimited reports it with its line
    first = (first.splitlines() or [""])[0]
    delimiter = sep or next((SEPARATORS[s] for s in Path(file).suffixes if s in SEPARATORS), ",")
    return next(csv.reader([first.rstrip("\r\n")], delimiter=delimiter), [])


def _only_table(source: DataSource) -> str:
    if source.kind == "file":
        return source.names()[0]
    tables = [
        n
        for n in source.names()
        if any(s in (".csv", ".tsv", ".tab", ".parquet", ".pq") for s in Path(n).suffixes)
    ]
    if len(tables) != 1:
        raise DataError(f"{source.path}: expected exactly one table file, found {tables}; name one")
    return tables[0]


def _timestamps(col: pd.Series, label: str, name: str, fmt: str | None, unit: str) -> np.ndarray:
    """Event times as float epoch seconds, NaN where missing or unparseable."""
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        return _epoch_seconds(col)
    if fmt is None:
        if col.dtype.kind in "iuf":
            return col.to_numpy(dtype=np.float64, na_value=np.nan) * _UNITS[unit]
        values = pd.to_numeric(col, errors="coerce")
        if values.notna().sum() == 0 and col.notna().any():
            example = col.dropna().iloc[0]
            raise DataError(
                f"{label}: column {name!r} holds no numbers (e.g. {example!r}); pass "
                "timestamp_format='ISO8601' or a strftime format such as '%Y-%m-%d %H:%M:%S'"
            )
        return values.to_numpy(dtype=np.float64, na_value=np.nan) * _UNITS[unit]
    parsed = pd.to_datetime(col.astype("str"), format=fmt, utc=True, errors="coerce")
    return _epoch_seconds(parsed)


def _timestamp_reason(fmt: str | None) -> str:
    if fmt is None:
        return f"{NOT_A_NUMBER} (epoch time expected; pass timestamp_format= for date strings)"
    return f"not a valid timestamp for format {fmt!r}"


def _epoch_seconds(col: pd.Series) -> np.ndarray:
    if getattr(col.dt, "tz", None) is None:
        col = col.dt.tz_localize("UTC")  # naive times are taken as UTC
    delta = col - pd.Timestamp(0, tz="UTC")
    return delta.dt.total_seconds().to_numpy(dtype=np.float64, na_value=np.nan)
