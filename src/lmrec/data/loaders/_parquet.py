"""Parquet interaction tables, read a column at a time; whatever is wrong with a file is a `DataError`.

A Parquet file has no lines: its rows are numbered from 1 in the `line` column, and errors name the file
and the column (and the row, where one value is at fault). Refused with a `DataError`:

* a file pyarrow cannot open (truncated, another format under a `.parquet` name, a damaged footer) or a
  column it cannot read (a damaged data page): pyarrow's `ArrowInvalid` / `OSError`, with its reason;
* a mapped column that is missing;
* a mapped column whose type cannot hold its role, checked from the schema before any value is read. Ids
  must be integers or text (or floats, whose non-integer values are reported per row as before), ratings
  numbers or text, timestamps numbers, times, dates or text. Lists, structs, booleans, dates or decimals
  as ids, booleans as ratings and the like would otherwise become strings such as "[1]" or "True" or
  numbers such as 1.0, and no value may change silently (issue 17).

Binary columns (how some writers store text without a UTF-8 annotation) are read as UTF-8 text, and a
value that is not valid UTF-8 is an error naming its row; date columns are read as midnight UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from lmrec.data.loaders._source import DataSource
from lmrec.errors import DataError

_DAMAGED = "not a readable Parquet file (truncated, damaged, or another format under a .parquet name): {exc}"


def _arrow_errors() -> tuple[type[BaseException], ...]:
    import pyarrow as pa

    # ArrowInvalid (bad magic bytes, size) is an ArrowException; a damaged footer or page header is an
    # OSError ("Couldn't deserialize thrift"); ArrowIOError is both.
    return (pa.ArrowException, OSError)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def open_parquet(source: DataSource, file: str) -> Any:
    """A `pyarrow.parquet.ParquetFile`; a `DataError` naming the file when pyarrow cannot open it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    label = source.label(file)
    local = source.local_path(file)
    try:
        where: Any = str(local) if local is not None else pa.BufferReader(source.read_bytes(file))
        return pq.ParquetFile(where, memory_map=local is not None)
    except _arrow_errors() as exc:
        raise DataError(f"{label}: {_DAMAGED.format(exc=_reason(exc))}") from None


def parquet_column_names(source: DataSource, file: str) -> list[str]:
    """Column names of a Parquet file, read from its footer only."""
    return list(open_parquet(source, file).schema_arrow.names)


# --- column types ----------------------------------------------------------------------------------


def _is(t: Any, *names: str) -> bool:
    import pyarrow as pa

    # getattr: string_view and friends exist only in newer pyarrow releases
    return any(getattr(pa.types, f"is_{n}", lambda _: False)(t) for n in names)


def _text(t: Any) -> bool:
    return _is(t, "string", "large_string", "string_view")


def _binary(t: Any) -> bool:
    return _is(t, "binary", "large_binary", "binary_view")


def _id_type(t: Any) -> bool:
    return _is(t, "integer", "floating", "null") or _text(t) or _binary(t)


def _rating_type(t: Any) -> bool:
    return _is(t, "integer", "floating", "decimal", "null") or _text(t)


def _timestamp_type(t: Any) -> bool:
    return _is(t, "integer", "floating", "decimal", "timestamp", "date", "null") or _text(t)


_ROLES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "user": (_id_type, "ids must be integers or text"),
    "item": (_id_type, "ids must be integers or text"),
    "rating": (_rating_type, "ratings must be numbers (or text holding numbers)"),
    "timestamp": (_timestamp_type, "timestamps must be epoch numbers, times, dates or text"),
}


def _value_type(t: Any) -> Any:
    """The type of the values: a dictionary-encoded column (a pandas categorical) is judged by them."""
    import pyarrow as pa

    return t.value_type if pa.types.is_dictionary(t) else t


def check_types(label: str, schema: Any, roles: dict[str, str]) -> None:
    """`DataError` for the first mapped column (role -> column name) whose type cannot hold its role."""
    for role, column in roles.items():
        t = _value_type(schema.field(column).type)
        ok, rule = _ROLES[role]
        if not ok(t):
            raise DataError(
                f"{label}: column {column!r} ({role}) has Parquet type {t}; {rule} (reading it would "
                "change its values: convert the column, or map another one)"
            )


class ParquetColumns:
    """Columns of a Parquet file, each read only when asked for: peak memory is one column, not the table.

    `roles` maps user/item/rating/timestamp to column names; their presence and types are checked here.
    """

    def __init__(self, source: DataSource, file: str, roles: dict[str, str]) -> None:
        self.label = source.label(file)
        self.file = open_parquet(source, file)
        schema = self.file.schema_arrow
        present = schema.names
        missing = [c for c in roles.values() if c not in present]
        if missing:
            raise DataError(f"{self.label}: no column(s) {missing}; the file has columns {present}")
        check_types(self.label, schema, roles)
        n = self.file.metadata.num_rows
        self.lines = np.arange(1, n + 1, dtype=np.int32 if n < 2**31 - 1 else np.int64)

    def __getitem__(self, name: str) -> pd.Series:
        try:
            column = self.file.read(columns=[name]).column(0)
        except _arrow_errors() as exc:  # the footer was fine but a data page is not
            raise DataError(
                f"{self.label}: column {name!r} cannot be read; the file is damaged or truncated: "
                f"{_reason(exc)}"
            ) from None
        if _binary(_value_type(column.type)):
            column = self._as_text(column, name)
        if _is(column.type, "date"):  # as midnight UTC, which `_timestamps` reads like any other time
            import pyarrow as pa

            column = column.cast(pa.timestamp("s"))
        return column.to_pandas()

    def _as_text(self, column: Any, name: str) -> Any:
        import pyarrow as pa

        try:
            return column.cast(pa.string())
        except pa.ArrowInvalid:
            for row, value in enumerate(column.to_pylist(), start=1):
                try:
                    if value is not None:
                        value.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise DataError(
                        f"{self.label}: row {row}, column {name!r}: binary value {value[:40]!r} is not "
                        f"UTF-8 text (byte 0x{value[exc.start]:02x} at offset {exc.start})"
                    ) from None
            raise
