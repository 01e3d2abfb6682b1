"""Side attributes of users or items (demographics, genres, release year) as sparse feature rows aligned
with a vocabulary, for models that declare `uses_attributes` (the Bayesian FM).

Each column of a table becomes one feature group, encoded by a rule:
- "category": one-hot of the value (as text);
- "multi" or "multi:SEP": multi-hot of the values split on SEP (default "|", MovieLens genres), each
  1/(number of values), so a row's group sums to 1 like a one-hot one;
- "bin:W": one-hot of floor(number / W) (age in 5-year bins: "bin:5");
- "prefix:N": one-hot of the first N characters (a zip code's region: "prefix:1");
- "year:W": one-hot of floor(year / W) of a date (any format pandas reads, e.g. 01-Jan-1995).
A missing or empty value gives that row nothing in that group (not a "missing" category: no training row
would tell the model what it means). Rows of vocabulary ids absent from the table are all zero, and the
count is kept (`missing_rows`) so that a caller can report it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lmrec.data.vocabulary import Vocabulary
from lmrec.errors import ConfigError, DataError

RULES = ("category", "multi", "bin", "prefix", "year")


@dataclass(frozen=True, eq=False)
class Attributes:
    """Feature rows for the ids of one vocabulary (users or items), one group per encoded column."""

    matrix: sp.csr_matrix
    """(len(vocab), n_features) float64; row r describes vocabulary index r."""
    groups: tuple[tuple[str, int], ...]
    """(column, width) per feature group, in column order of `matrix`."""
    missing_rows: int = 0
    """Vocabulary ids the table did not list (all-zero rows)."""

    def __post_init__(self) -> None:
        width = sum(w for _, w in self.groups)
        if width != self.matrix.shape[1]:
            raise ValueError(f"attribute groups cover {width} columns, the matrix has {self.matrix.shape[1]}")

    @property
    def n_rows(self) -> int:
        return int(self.matrix.shape[0])

    def check_rows(self, n_rows: int, side: str, who: str) -> None:
        if self.n_rows != n_rows:
            raise ValueError(
                f"{who}: {side} attributes have {self.n_rows} rows but the data has {n_rows} {side}s; "
                "build them for the same vocabulary"
            )

    def describe(self) -> str:
        """One line: "age (14), gender (2), occupation (21)"."""
        return ", ".join(f"{name} ({width})" for name, width in self.groups)


def _parse_rule(column: str, rule: str) -> tuple[str, str | int | None]:
    kind, _, arg = str(rule).partition(":")
    if kind not in RULES:
        raise ConfigError(f"attribute column {column!r}: unknown rule {rule!r}; rules: {', '.join(RULES)}")
    if kind == "category":
        if arg:
            raise ConfigError(f"attribute column {column!r}: 'category' takes no argument, got {rule!r}")
        return kind, None
    if kind == "multi":
        return kind, arg or "|"
    if not arg.isdigit() or int(arg) < 1:
        raise ConfigError(
            f"attribute column {column!r}: {kind!r} needs a positive integer, e.g. '{kind}:5'; got {rule!r}"
        )
    return kind, int(arg)


def _codes(
    values: pd.Series, kind: str, arg: str | int | None, where: str, locate: Callable[[int], str]
) -> pd.Series:
    """One label per row (text), missing where the value is missing or empty; 'multi' is handled apart.
    `locate` names a row in errors ("line 7" of a file, or "row 5")."""
    present = values.notna() & (values.astype(str).str.strip() != "")
    text = values.where(present).astype("string").str.strip()
    if kind == "category":
        return text
    if kind == "prefix":
        return text.str[: int(arg or 1)]
    if kind == "bin":
        numbers = pd.to_numeric(text, errors="coerce")
        bad = present & numbers.isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{where}: {locate(row)}: {values.iloc[row]!r} is not a number ({int(bad.sum())} such)"
            )
        width = int(arg or 1)
        return (np.floor(numbers / width) * width).astype("Int64").astype("string")
    years = pd.to_datetime(text, errors="coerce", format="mixed").dt.year
    bad = present & years.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{where}: {locate(row)}: {values.iloc[row]!r} is not a date ({int(bad.sum())} such)")
    width = int(arg or 1)
    return (np.floor(years / width) * width).astype("Int64").astype("string")


def _one_hot(labels: pd.Series) -> sp.csr_matrix:
    present = labels.notna().to_numpy()
    cats = np.unique(labels[present].to_numpy(dtype=str))
    rows = np.flatnonzero(present)
    cols = np.searchsorted(cats, labels[present].to_numpy(dtype=str))
    return sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(len(labels), cats.size))


def _multi_hot(values: pd.Series, sep: str) -> sp.csr_matrix:
    lists = [
        sorted({p.strip() for p in str(v).split(sep) if p.strip()}) if pd.notna(v) else [] for v in values
    ]
    cats = np.unique([p for parts in lists for p in parts]) if any(lists) else np.empty(0, dtype=str)
    counts = np.array([len(parts) for parts in lists])
    rows = np.repeat(np.arange(len(lists)), counts)
    cols = np.searchsorted(cats, [p for parts in lists for p in parts])
    data = np.repeat(1.0 / np.maximum(counts, 1), counts)
    return sp.csr_matrix((data, (rows, cols)), shape=(len(lists), cats.size))


def encode_attributes(
    table: pd.DataFrame,
    vocab: Vocabulary,
    columns: Mapping[str, str],
    *,
    where: str = "attributes",
    lines: np.ndarray | None = None,
) -> Attributes:
    """Encode `columns` (column -> rule) of `table` (indexed by raw id) for every id of `vocab`.

    `where` names the table in errors (a file); `lines`, the 1-based file line of each row, makes them name
    the line (otherwise the 0-based row). The table's index must be unique; the categories of each group
    are the values present in the table, so the encoding does not depend on which rows are used.
    """

    def locate(row: int) -> str:
        return f"line {int(lines[row])}" if lines is not None else f"row {row}"

    if not columns:
        raise ConfigError(f"{where}: no attribute columns given")
    absent = [c for c in columns if c not in table.columns]
    if absent:
        raise DataError(f"{where}: no column(s) {absent}; the table has {list(table.columns)}")
    if not table.index.is_unique:
        repeated = np.flatnonzero(table.index.duplicated())[:5]
        ids = table.index[repeated].tolist()
        shown = ", ".join(f"{i!r} ({locate(int(r))})" for i, r in zip(ids, repeated, strict=True))
        raise DataError(f"{where}: ids listed more than once: {shown}")
    rules = {c: _parse_rule(c, r) for c, r in columns.items()}
    ids = vocab.ids
    index = table.index
    if ids.dtype.kind in "iu" and index.dtype.kind not in "iu":
        index = pd.Index(pd.to_numeric(index, errors="coerce"))
    elif ids.dtype.kind not in "iu":
        index = pd.Index(index.astype(str))
    pos = pd.Index(index).get_indexer(ids)
    found = pos >= 0
    blocks, groups = [], []
    for column, (kind, arg) in rules.items():
        values = table[column]
        if kind == "multi":
            encoded = _multi_hot(values, str(arg))
        else:
            encoded = _one_hot(_codes(values, kind, arg, f"{where}, column {column}", locate))
        rows = sp.csr_matrix((len(ids), encoded.shape[1]))
        if found.any():
            select = sp.csr_matrix(
                (np.ones(int(found.sum())), (np.flatnonzero(found), pos[found])), shape=(len(ids), len(table))
            )
            rows = sp.csr_matrix(select @ encoded)
        blocks.append(rows)
        groups.append((column, int(encoded.shape[1])))
    matrix = sp.csr_matrix(sp.hstack(blocks, format="csr"), dtype=np.float64)
    return Attributes(matrix, tuple(groups), missing_rows=int((~found).sum()))


@dataclass(frozen=True, eq=False)
class SideAttributes:
    """The user and the item attributes given to one fit (either may be absent)."""

    user: Attributes | None = None
    item: Attributes | None = None

    def check(self, n_users: int, n_items: int, who: str) -> None:
        if self.user is not None:
            self.user.check_rows(n_users, "user", who)
        if self.item is not None:
            self.item.check_rows(n_items, "item", who)
