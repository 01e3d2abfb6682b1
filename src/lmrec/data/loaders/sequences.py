"""Whitespace-separated sequence files without timestamps.

Two layouts, one reader:

* `sequence`: one line per user, `user item item ...` (S3-Rec / ICLRec files: Beauty.txt, Yelp.txt);
* `pairs`: one `user item` line per event, in time order (SASRec files: Video.txt).

A `pairs` file is a `sequence` file whose lines have one item each, so both are read the same way: the
event's timestamp is its position within its user's events, counted in file order (0, 1, 2, ...), even if a
user's lines are not contiguous. `meta["timestamp_kind"]` is "position".

Parsing is vectorised: one `bytes.split()` for the tokens and numpy over the raw bytes for the line of
each token, so a 300k-event file loads in a few tens of milliseconds.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from lmrec.data.loaders._delimited import ROW
from lmrec.data.loaders._source import (
    NOT_AN_INTEGER_ID,
    DataSource,
    PathLike,
    Unparsed,
    int_ids,
    positions,
    raw_frame,
    short,
    str_ids,
)
from lmrec.data.loaders._text import check_encoding_name, check_text, strip_bom
from lmrec.data.loaders.registry import UNKNOWN_TERMS
from lmrec.data.raw import Problem, RawLog
from lmrec.errors import DataError

Layout = Literal["auto", "sequence", "pairs"]
_WHITESPACE = np.zeros(256, dtype=bool)
_WHITESPACE[[9, 10, 11, 12, 13, 32]] = True  # exactly what bytes.split() splits on
_TO_NEWLINE = bytes.maketrans(b"\t\x0b\x0c\r ", b"\n\n\n\n\n")
_UNIT_SEP = b"\x1f"


def load_sequences(
    path: PathLike,
    *,
    file: str | None = None,
    layout: Layout = "auto",
    id_type: Literal["int", "str"] = "int",
    name: str | None = None,
    license: str = UNKNOWN_TERMS,
    encoding: str = "utf-8",
) -> RawLog:
    """Load a sequence or user-item-lines file (or the one `.txt` file of a folder/zip, or `file` in it).

    `layout="pairs"` demands exactly two tokens per line; `"sequence"` and `"auto"` accept one or more
    items per line. A line with a user but no item is a Problem. With `id_type="int"` (both published
    layouts use integer ids) a token that is not an integer becomes NA, its text in `bad_values`, for
    cleaning to report. An integer id must be written as one and fit int64: `1e3`, `012` or 2^63 are
    NA too, never 1000, 12 or a wrapped number.

    `encoding` is the file's (default UTF-8, byte-order mark skipped); an invalid byte, a NUL byte or a
    carriage return inside a line (which would split or join tokens) is an error naming line and column.
    """
    if layout not in ("auto", "sequence", "pairs"):
        raise ValueError(f"layout must be 'auto', 'sequence' or 'pairs', not {layout!r}")
    encoding = check_encoding_name(encoding)
    source = DataSource(path)
    file = file or _only_text_file(source)
    label = source.label(file)
    data = source.read_bytes(file)
    check_text(data, label, encoding, 1)
    data = strip_bom(data, encoding)
    tokens, line_of, n_lines = _tokens(data, id_type, "latin-1" if encoding == "auto" else encoding)
    if tokens.size == 0:
        raise DataError(f"{label}: line 1: the file is empty or holds only blank lines (no user, no item)")
    counts = np.bincount(line_of, minlength=n_lines)
    bad = (counts == 1) | ((counts > 2) if layout == "pairs" else np.zeros(n_lines, dtype=bool))
    problems = _problems(data, label, np.flatnonzero(bad), counts, layout)
    first = np.ones(tokens.size, dtype=bool)
    first[1:] = line_of[1:] != line_of[:-1]  # the first token of a line is its user
    keep = ~bad[line_of]
    user_tok = tokens[first & keep]
    user_line = line_of[first & keep]
    item_mask = ~first & keep
    item_tok = tokens[item_mask]
    item_line = line_of[item_mask]
    # Each item's user is the first token of its line.
    user_of_line = np.full(n_lines, -1, dtype=np.int64)
    user_of_line[user_line] = np.arange(user_line.size)
    users_by_line = user_of_line[item_line]
    convert = int_ids if id_type == "int" else str_ids
    user_tok = user_tok.reset_index(drop=True)
    users = convert(user_tok)
    user = users.iloc[users_by_line].reset_index(drop=True)
    item_tok = item_tok.reset_index(drop=True)
    item = convert(item_tok)
    unparsed = Unparsed()
    if users.hasnans:  # a bad user token is reported on every event row of its line
        unparsed.check("user", user_tok.iloc[users_by_line], user, NOT_AN_INTEGER_ID)
    unparsed.check("item", item_tok, item, NOT_AN_INTEGER_ID)
    frame = raw_frame(user, item, None, positions(user), label, item_line + 1)
    contiguous = _contiguous(user)
    meta = {
        "source": label,
        "format": f"sequences-{layout}",
        "license": license,
        "timestamp_kind": "position",
        "explicit": False,
        "users_contiguous": contiguous,
    }
    if not contiguous:
        meta["note"] = "some users' lines are not contiguous; positions count per user in file order"
    return RawLog(frame, name or Path(file).stem, None, tuple(problems), meta, bad_values=unparsed.table())


def _only_text_file(source: DataSource) -> str:
    if source.kind == "file":
        return source.names()[0]
    txt = [n for n in source.names() if n.endswith((".txt", ".txt.gz"))]
    if len(txt) != 1:
        raise DataError(f"{source.path}: expected exactly one .txt sequence file, found {txt}; name one")
    return txt[0]


def _tokens(data: bytes, id_type: str, encoding: str = "utf-8") -> tuple[pd.Series, np.ndarray, int]:
    """Token values, the 0-based line of each token, and the number of lines."""
    arr = np.frombuffer(data, dtype=np.uint8)
    ws = _WHITESPACE[arr]
    start = ~ws
    start[1:] &= ws[:-1]
    starts = np.flatnonzero(start)
    newline_count = np.cumsum(arr == 10, dtype=np.int64)
    line_of = newline_count[starts]  # a token never starts at a newline, so this is its 0-based line
    n_lines = int(newline_count[-1]) + (1 if arr.size and arr[-1] != 10 else 0) if arr.size else 0
    if starts.size == 0:
        return pd.Series([], dtype="str"), line_of, n_lines
    if _UNIT_SEP in data:
        values = pd.Series(np.char.decode(np.array(data.split()), encoding), dtype="str")
    else:
        # One token per line, parsed by pandas' C reader: ~10x faster than converting a list of bytes.
        values = pd.read_csv(
            io.BytesIO(data.translate(_TO_NEWLINE)),
            header=None,
            names=["token"],
            sep=_UNIT_SEP.decode(),
            quoting=csv.QUOTE_NONE,
            keep_default_na=False,
            dtype="str" if id_type == "str" or _odd_numbers(arr, starts) else None,
            engine="c",
            encoding=encoding,
        )["token"]
        if id_type == "int" and values.dtype.kind != "i":
            # floats or unsigned: the tokens' text decides (exactly), not pandas' numbers
            values = pd.Series(np.char.decode(np.array(data.split()), encoding), dtype="str")
    if len(values) != starts.size:  # both split on the same whitespace set, so this cannot happen
        raise AssertionError(f"token count mismatch: {len(values)} != {starts.size}")
    return values, line_of, n_lines


def _odd_numbers(arr: np.ndarray, starts: np.ndarray) -> bool:
    """Whether a token starts like `+5`, `05` or `-05`, which pandas would read as the integer 5."""
    nxt = arr[np.minimum(starts + 1, arr.size - 1)]
    nxt2 = arr[np.minimum(starts + 2, arr.size - 1)]
    digit1 = (nxt >= 48) & (nxt <= 57) & (starts + 1 < arr.size)
    digit2 = (nxt2 >= 48) & (nxt2 <= 57) & (starts + 2 < arr.size)
    first = arr[starts]
    lead0 = (first == 48) & digit1
    minus0 = (first == 45) & (nxt == 48) & digit2
    return bool(((first == 43) | lead0 | minus0).any())


def _problems(
    data: bytes, label: str, bad_lines: np.ndarray, counts: np.ndarray, layout: str
) -> list[Problem]:
    if bad_lines.size == 0:
        return []
    lines = data.split(b"\n")
    reason = "expected 2 tokens (user item)" if layout == "pairs" else "a user with no items"
    return [
        Problem(
            label,
            int(i) + 1,
            ROW,
            short(lines[i].decode("utf-8", "replace").strip()),
            f"{reason}, found {int(counts[i])}",
        )
        for i in bad_lines
    ]


def _contiguous(user: pd.Series) -> bool:
    """True when each user's events form one block of rows."""
    codes = pd.factorize(user, use_na_sentinel=True)[0]
    change = np.ones(codes.size, dtype=bool)
    change[1:] = codes[1:] != codes[:-1]
    return int(change.sum()) == int(np.unique(codes).size)
