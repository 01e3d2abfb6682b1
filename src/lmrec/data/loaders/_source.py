"""Where a dataset's files live (a folder, a zip archive or one file) and the typed frame every loader builds.

Loaders never extract archives: members are read straight from the zip, found by their base name so that
the official archives (which put everything under a top folder such as `ml-100k/`) and plain folders look
the same to them.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import pandas as pd

from lmrec.data.raw import RAW_COLUMNS, Problem, bad_values_table
from lmrec.errors import DataError

PathLike = str | os.PathLike[str]

_IGNORED_PREFIXES = ("__MACOSX/",)


class DataSource:
    """A folder (its top-level files), a zip archive (all members) or one file, addressed by base name."""

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            self.kind = "folder"
            self._members = {p.name: p.name for p in sorted(self.path.iterdir()) if p.is_file()}
        elif self.path.is_file() and zipfile.is_zipfile(self.path):
            self.kind = "zip"
            self._members = self._zip_members()
        elif self.path.is_file() and self.path.suffix.lower() == ".zip":
            # is_zipfile looks for the end-of-archive record: a cut-off download or another format
            raise DataError(
                f"{self.path}: not a zip archive (no end-of-archive record): truncated (an interrupted "
                "download?), damaged, or another format under a .zip name"
            )
        elif self.path.is_file():
            self.kind = "file"
            self._members = {self.path.name: self.path.name}
        else:
            raise DataError(f"{self.path}: no such file or folder")

    def _zip_members(self) -> dict[str, str]:
        members: dict[str, str] = {}
        clashes: dict[str, list[str]] = {}
        try:
            infos = self._infolist()
        except (zipfile.BadZipFile, EOFError, OSError) as exc:  # a damaged central directory
            raise DataError(f"{self.path}: the zip archive is damaged or truncated: {exc}") from None
        for info in infos:
            name = info.filename
            base = name.rsplit("/", 1)[-1]
            if info.is_dir() or name.startswith(_IGNORED_PREFIXES) or base.startswith("._"):
                continue
            if base in members:
                clashes.setdefault(base, [members[base]]).append(name)
            members[base] = name
        # A name that occurs twice cannot be addressed by base name; remember it to fail clearly on use.
        self._clashes = clashes
        return members

    def _infolist(self) -> list[zipfile.ZipInfo]:
        with zipfile.ZipFile(self.path) as zf:
            return zf.infolist()

    def __repr__(self) -> str:
        return f"DataSource({str(self.path)!r}, kind={self.kind!r})"

    def names(self) -> list[str]:
        """Base names of the files available, sorted."""
        return sorted(self._members)

    def has(self, name: str) -> bool:
        return name in self._members

    def find(self, *names: str) -> str | None:
        """The first of `names` that is present, or None."""
        return next((n for n in names if n in self._members), None)

    def _member(self, name: str) -> str:
        if name not in self._members:
            raise DataError(f"{self.path}: file {name!r} not found; present: {self.names()}")
        clashes = getattr(self, "_clashes", {})
        if name in clashes:
            raise DataError(f"{self.path}: several members are named {name!r}: {clashes[name]}")
        return self._members[name]

    def label(self, name: str) -> str:
        """How a file is named in problems and in the `source` column (path, or `archive.zip:member`)."""
        member = self._member(name)
        if self.kind == "folder":
            return str(self.path / member)
        if self.kind == "zip":
            return f"{self.path}:{member}"
        return str(self.path)

    def local_path(self, name: str) -> Path | None:
        """The file's path on disk (None inside a zip)."""
        member = self._member(name)
        if self.kind == "zip":
            return None
        return self.path / member if self.kind == "folder" else self.path

    @contextmanager
    def open(self, name: str, *, decompress: bool = True) -> Iterator[IO[bytes]]:
        """A binary stream of the file; `.gz` files are decompressed unless `decompress` is False."""
        member = self._member(name)
        try:
            with self._open_raw(member) as raw:
                if decompress and member.endswith(".gz"):
                    with gzip.GzipFile(fileobj=raw) as gz:
                        yield cast(IO[bytes], gz)
                else:
                    yield raw
        except (EOFError, gzip.BadGzipFile, zlib.error, zipfile.BadZipFile) as exc:
            # Raised lazily, by whichever reader pulls the bytes: name the file here, once for all.
            what = "gzip" if member.endswith(".gz") else "zip member" if self.kind == "zip" else "file"
            raise DataError(
                f"{self.label(name)}: the {what} is damaged or truncated (an interrupted download?): "
                f"{exc or type(exc).__name__}"
            ) from None

    @contextmanager
    def _open_raw(self, member: str) -> Iterator[IO[bytes]]:
        if self.kind == "zip":
            with zipfile.ZipFile(self.path) as zf:
                try:
                    fh = zf.open(member)
                except (RuntimeError, NotImplementedError) as exc:  # encrypted, or deflate64 / unknown method
                    raise DataError(
                        f"{self.path}:{member}: the zip member cannot be read ({exc}); extract the archive "
                        "with a tool that can and load the folder, or re-create it without encryption and "
                        "with deflate compression"
                    ) from None
                with fh:
                    yield fh
        else:
            path = self.path / member if self.kind == "folder" else self.path
            with open(path, "rb") as fh:
                yield fh

    def read_bytes(self, name: str) -> bytes:
        with self.open(name) as fh:
            return fh.read()

    def digest(self, name: str, algorithm: str) -> str:
        """Hex digest of the file as stored (compressed files are hashed compressed)."""
        h = hashlib.new(algorithm)
        with self.open(name, decompress=False) as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()


def as_source(path: PathLike | DataSource) -> DataSource:
    return path if isinstance(path, DataSource) else DataSource(path)


def detect_encoding(data: bytes) -> str:
    """'utf-8' when the bytes decode as UTF-8, else 'latin-1' (which decodes anything).

    MovieLens 1M is latin-1 and 10M is UTF-8 with the same layout; an accented latin-1 byte is never
    valid UTF-8 on its own, so the test is reliable for these files.
    """
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


# --- the typed frame ------------------------------------------------------------------------------


INT64_MAX = int(np.iinfo(np.int64).max)
_INT_LITERAL = r"-?(?:0|[1-9][0-9]*)"
"""An id is an integer only when written as one: optional minus, digits, no leading zero or plus sign."""


def compact_int(values: np.ndarray) -> np.ndarray:
    """int32 when every value fits (halves memory on 20M-row logs), else int64; never wraps around."""
    values = np.asarray(values)
    if values.dtype.kind == "u" and values.size and values.max() > INT64_MAX:
        raise ValueError(f"value {values.max()} does not fit int64")
    if values.size and (values.min() < np.iinfo(np.int32).min or values.max() > np.iinfo(np.int32).max):
        return values.astype(np.int64, copy=False)
    return values.astype(np.int32, copy=False)


def exact_ints(column: Any) -> tuple[np.ndarray, np.ndarray]:
    """(int64 values, mask) of the values that are exact integer literals fitting int64.

    Surrounding white space is ignored; `1e3`, `20.0`, `020`, `+20`, `nan` and anything beyond
    +-(2^63 - 1) are not integer literals (reading them as numbers would change the id). Numbers already
    parsed as integers count as literals when they fit; floats never do. Missing values are not in the mask.
    """
    s = column if isinstance(column, pd.Series) else pd.Series(column)
    n = len(s)
    if s.dtype.kind in "iu":  # numpy or nullable integers
        present = s.notna().to_numpy()
        v = s.to_numpy(dtype=np.uint64 if s.dtype.kind == "u" else np.int64, na_value=0)
        fits = present & (v <= INT64_MAX) if s.dtype.kind == "u" else present
        return np.where(fits, v, 0).astype(np.int64), fits
    values = np.zeros(n, np.int64)
    ok = np.zeros(n, bool)
    if s.dtype.kind in "fcbmM":
        return values, ok
    present = np.flatnonzero(s.notna().to_numpy())
    text = pd.Series([_as_text(v) for v in s.iloc[present]], dtype=object).str.strip()
    literal = np.array(text.str.fullmatch(_INT_LITERAL).to_numpy(dtype=bool))
    long = literal & (text.str.len().to_numpy() >= 19)
    for i in np.flatnonzero(long):  # 19+ characters: compare exactly, as Python ints
        literal[i] = -INT64_MAX - 1 <= int(text.iloc[i]) <= INT64_MAX
    at = present[literal]
    values[at] = text[literal].astype(np.int64).to_numpy()
    ok[at] = True
    return values, ok


def _as_text(value: Any) -> str:
    """Text of a value in an object column: strings as is, Python/numpy integers as decimals, others ''."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
        return str(int(value))
    return ""


def _nullable_ints(values: np.ndarray, bad: np.ndarray, index: pd.Index) -> pd.Series:
    if not bad.any():
        return pd.Series(compact_int(values), index=index)
    good = values[~bad]
    wide = good.size and (good.min() < np.iinfo(np.int32).min or good.max() > np.iinfo(np.int32).max)
    out = pd.array(np.where(bad, 0, values).astype(np.int64), dtype="Int64" if wide else "Int32")
    out[bad] = pd.NA
    return pd.Series(out, index=index)


def int_ids(column: Any) -> pd.Series:
    """Raw integer ids; values that are not integers become NA (nullable Int32/Int64 only when needed).

    Text must be an exact integer literal that fits int64 (see `exact_ints`): `1e3` or `2^64 - 1` become
    NA, for `Unparsed` to report, rather than 1000 or a wrapped negative number. Parsed floats (a Parquet
    column) count when integer-valued and within int64.
    """
    s = column if isinstance(column, pd.Series) else pd.Series(column)
    if s.dtype.kind != "f":
        values, ok = exact_ints(s)
        return _nullable_ints(values, ~ok, s.index)
    values = s.to_numpy(dtype=np.float64, na_value=np.nan)
    # beyond +-2^63 an integer-valued float would wrap around in the int64 cast
    bad = ~np.isfinite(values) | (values != np.round(values)) | (np.abs(values) >= 2.0**63)
    return _nullable_ints(np.where(bad, 0, values).astype(np.int64), bad, s.index)


def str_ids(column: Any) -> pd.Series:
    """Raw string ids; missing and empty values become NA."""
    s = column if isinstance(column, pd.Series) else pd.Series(column)
    if s.dtype.kind in "iuf":
        s = int_ids(s).astype("str")
    s = s.astype("str")
    return s.mask(s.str.len() == 0)


def auto_ids(column: Any) -> pd.Series:
    """Integer ids when every value present is an integer literal that fits int64, else the exact text.

    One odd value (`abc`, `1e3`, `020`, 2^63) makes the whole column text, never a mix of numbers and
    strings; `id_warning` says which line caused it. Typed floats (Parquet) go through `int_ids`.
    """
    s = column if isinstance(column, pd.Series) else pd.Series(column)
    if s.dtype.kind == "f":
        return int_ids(s)
    if s.dtype.kind == "u" and s.size and s.max() > INT64_MAX:
        return s.astype("str").mask(
            s.isna()
        )  # an unsigned parse is canonical: its decimal text is the file's text
    values, ok = exact_ints(s)
    present = s.notna().to_numpy()
    if s.dtype.kind in "iu" or (s.dtype.kind not in "b" and np.array_equal(ok, present)):
        return _nullable_ints(values, ~ok, s.index)
    return str_ids(s)


def id_warning(raw: pd.Series, ids: pd.Series, role: str, label: str, lines: np.ndarray) -> str | None:
    """A sentence naming the first line whose value made an otherwise integer id column text, or None."""
    if pd.api.types.is_integer_dtype(ids.dtype):
        return None
    _, ok = exact_ints(raw)
    present = raw.notna().to_numpy()
    odd = np.flatnonzero(present & ~ok)
    if not ok.any() or odd.size == 0:
        return None
    i = int(odd[0])
    return (
        f"{label}: line {int(lines[i])}: {role} id {str(raw.iloc[i])[:VALUE_CHARS]!r} is not an integer that "
        f"fits int64, so all {role} ids are read as text, exactly as written ({int(ok.sum())} of "
        f"{int(present.sum())} look like integers); pass id_type='str' if text is meant"
    )


def floats(column: Any, dtype: str = "float64") -> np.ndarray:
    """Numbers with NaN where a value is missing or not a number."""
    s = column if isinstance(column, pd.Series) else pd.Series(column)
    if s.dtype.kind not in "fiu":
        s = pd.to_numeric(s, errors="coerce")
    return s.to_numpy(dtype=dtype, na_value=np.nan)


NOT_A_NUMBER = "not a number"
NOT_AN_INTEGER_ID = "not an integer id"
VALUE_CHARS = 200
"""Raw text kept per bad value; a runaway cell (a whole review in the rating column) is cut."""


class Unparsed:
    """Collects the raw text of values a loader could not parse, for `RawLog.bad_values`.

    Only failing rows are kept, and a column costs one NaN scan over the parsed values unless something
    failed, so clean files load as fast as before.
    """

    def __init__(self) -> None:
        self._parts: list[pd.DataFrame] = []

    def check(self, column: str, raw: Any, parsed: Any, reason: str) -> None:
        """Record rows where `raw` holds non-blank text but `parsed` (same positions) is missing."""
        candidates = _missing_positions(parsed)
        if candidates.size == 0:
            return
        raw = raw if isinstance(raw, pd.Series) else pd.Series(raw)
        values = raw.iloc[candidates]
        present = values.notna().to_numpy()
        text = values[present].astype("str")
        nonblank = (text.str.strip().str.len() > 0).to_numpy()  # blank cells are missing, not bad
        if not nonblank.any():
            return
        rows = candidates[present][nonblank]
        text = text[nonblank].str.slice(0, VALUE_CHARS).to_numpy(dtype=object)
        self._parts.append(bad_values_table(rows, [column] * rows.size, text, [reason] * rows.size))

    def table(self) -> pd.DataFrame:
        if not self._parts:
            return bad_values_table()
        if len(self._parts) == 1:
            return self._parts[0]
        parts = [
            (p["row"].to_numpy(), p["column"].astype("str"), p["value"], p["reason"].astype("str"))
            for p in self._parts
        ]
        return bad_values_table(*(np.concatenate([p[i] for p in parts]) for i in range(4)))


def _missing_positions(parsed: Any) -> np.ndarray:
    """Positions of NaN/NA in parsed values; O(1) for dtypes that cannot hold them."""
    dtype = getattr(parsed, "dtype", None)
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        return np.zeros(0, np.int64)
    if isinstance(parsed, np.ndarray) and parsed.dtype.kind == "f":
        return np.flatnonzero(np.isnan(parsed))
    return np.flatnonzero(pd.isna(parsed))


def raw_frame(
    user: pd.Series,
    item: pd.Series,
    rating: Any,
    timestamp: Any,
    source: str | pd.Categorical,
    line: np.ndarray,
    unparsed: Unparsed | None = None,
) -> pd.DataFrame:
    """The RawLog frame: ids as given, float32 rating, float64 timestamp, categorical source, int line.

    `rating`/`timestamp` may be None (all NaN); when parsed here, values that are not numbers go to
    `unparsed`. `source` is one file label or a categorical per row; a categorical keeps a 20M-row log
    from holding 20M copies of the same path.
    """
    n = len(user)
    if isinstance(source, str):
        source = pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[source])
    ratings = np.full(n, np.nan, np.float32) if rating is None else floats(rating, "float32")
    times = np.full(n, np.nan) if timestamp is None else floats(timestamp, "float64")
    if unparsed is not None:
        if rating is not None:
            unparsed.check("rating", rating, ratings, NOT_A_NUMBER)
        if timestamp is not None:
            unparsed.check("timestamp", timestamp, times, NOT_A_NUMBER)
    cols = {
        "user": user.reset_index(drop=True),
        "item": item.reset_index(drop=True),
        "rating": ratings,
        "timestamp": times,
        "source": source,
        "line": compact_int(np.asarray(line)),
    }
    # copy=False keeps one block per column: no 2-D consolidation copy of a 20M-row log.
    return pd.DataFrame(cols, columns=list(RAW_COLUMNS), copy=False)


def positions(users: pd.Series) -> np.ndarray:
    """0, 1, 2, ... per user in row (file) order; NaN where the user is missing."""
    pos = users.groupby(users, sort=False, dropna=True).cumcount()
    return pos.reindex(users.index).to_numpy(dtype=np.float64, na_value=np.nan)


def catalog_problem_meta(problems: list[Problem]) -> dict[str, Any]:
    """Bad metadata lines go to meta, not `RawLog.problems`, which counts unparsed *interaction* lines."""
    if not problems:
        return {}
    return {"catalog_problems": len(problems), "catalog_problem_examples": [str(p) for p in problems[:20]]}


def short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
