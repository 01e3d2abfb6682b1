"""Fast delimited-text reading (CSV, TSV, MovieLens `::` and `|` files) with exact line numbers.

The pandas C parser is fast, but it pads short rows with NaN without saying so and, when `usecols` is
given, silently accepts long rows too. So reading takes two passes:

1. a vectorised numpy pass over the bytes counts the fields of every line (separators outside quotes) and
   turns each line with the wrong count into a `Problem` (file, line, raw text);
2. pandas' C engine parses the file, skipping exactly those lines and the blank ones, so row *i* maps to a
   known physical line.

Both passes stream the file in blocks, so memory stays proportional to the parsed columns. If a quoted
field spans lines (physical line numbers then differ from record numbers) the file is read by Python's
`csv` module instead: slow, but exact, and rare for interaction logs.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import pandas as pd

from lmrec.data.loaders._source import DataSource, detect_encoding, short
from lmrec.data.loaders._text import BOM, check_encoding_name, check_text, is_utf8, position
from lmrec.data.raw import Problem
from lmrec.errors import DataError

BLOCK = 1 << 23
"""Bytes per scanning block (8 MiB): the numpy temporaries of one block stay well under 100 MB."""
MAX_BAD_LINES = 1_000_000
"""Above this many malformed lines the file is rejected instead of listing every one as a Problem."""
_SUB = b"\x1f"
"""Stand-in for a multi-character separator such as `::` (the C parser needs one character)."""
ROW = "(row)"
"""`Problem.column` for problems about a whole line (wrong field count)."""


@dataclass(frozen=True)
class Delimited:
    """Columns as pandas read them, the 1-based line of each row, and the lines that could not be rows."""

    frame: pd.DataFrame
    lines: np.ndarray
    problems: list[Problem]
    header: list[str] | None


@dataclass
class _Scan:
    n_lines: int = 0
    header: list[str] | None = None
    expected: int = 0
    skip: list[np.ndarray] | None = None
    problems: list[Problem] | None = None
    multiline: bool = False
    nonblank: int = 0
    odd_numbers: bool = False
    content: bool = False
    """Some line holds more than white space."""
    """Some field starts like `+5`, `05` or `-05`, which pandas would read as an integer."""


def read_delimited(
    source: DataSource,
    name: str,
    *,
    sep: str,
    header: bool,
    names: Sequence[str] | None = None,
    usecols: Sequence[str] | None = None,
    quoting: bool = True,
    encoding: str = "utf-8",
    text_columns: Sequence[str] = (),
    exact_columns: Sequence[str] = (),
) -> Delimited:
    """Read `name` from `source`. Without a header, `names` names every field (and fixes their count).

    `text_columns` are kept as text even when every value looks like a number (ids such as "0001").
    `exact_columns` (ids) come back as integers only when pandas read every value as an integer and no
    value is written as `+5` or `05`; otherwise as the exact text of the file, so that `1e3`, `20.0` or
    2^64 - 1 are never turned into other numbers (`_source.int_ids` / `auto_ids` decide from the text).
    This costs a second pandas pass over those columns, only for such files.

    Bytes that are not valid in `encoding`, NUL bytes and carriage returns inside a line are errors
    naming the line and column (`_text.check_text`); a UTF-8 byte-order mark is skipped.

    `encoding="auto"` picks UTF-8 or latin-1 (see `detect_encoding`); it and multi-character separators
    read the whole file into memory, so use them for small files only.
    """
    label = source.label(name)
    encoding = check_encoding_name(encoding)
    display_sep = sep
    opener: Callable[[], Any]
    if len(sep) > 1 or encoding == "auto":
        data = source.read_bytes(name)
        if encoding == "auto":
            encoding = detect_encoding(data)
        if len(sep) > 1:
            check_text(data, label, encoding)  # before the 0x1f check: a binary file is reported as such
            if _SUB in data:
                line, column = position(data, data.index(_SUB))
                raise DataError(f"{label}: line {line}, column {column}: byte 0x1f, cannot split on {sep!r}")
            data = data.replace(sep.encode(encoding), _SUB)
            sep = _SUB.decode()

        def opener() -> IO[bytes]:
            return io.BytesIO(data)
    else:

        def opener() -> Any:
            return source.open(name)

    if len(sep.encode(encoding)) != 1:
        raise DataError(f"separator {display_sep!r} must be one byte in {encoding}")
    quote = ord('"') if quoting else None
    expected = None if header else len(names or ())
    if not header and not names:
        raise ValueError("names are required when the file has no header")
    scan = _scan(
        opener,
        label,
        sep=sep,
        quote=quote,
        header=header,
        expected=expected,
        encoding=encoding,
        display_sep=display_sep,
    )
    if header and scan.header is None:
        raise DataError(f"{label}: line 1: the file is empty (expected a header line)")
    if not header and not scan.content:
        raise DataError(f"{label}: line 1: the file is empty or holds only blank lines")
    columns = list(scan.header or ()) if header else list(names or ())
    if usecols is not None:
        missing = [c for c in usecols if c not in columns]
        if missing:
            raise DataError(f"{label}: no column(s) {missing}; the file has columns {columns}")
    if scan.multiline:
        return _read_python(
            opener,
            label,
            sep=sep,
            header=header,
            names=columns,
            usecols=usecols,
            encoding=encoding,
            display_sep=display_sep,
            text_columns=[*text_columns, *exact_columns],
        )
    skip = np.sort(np.concatenate(scan.skip)) if scan.skip else np.zeros(0, np.int64)
    first = 1 if header else 0
    wanted = list(usecols) if usecols is not None else columns
    if scan.n_lines - first - skip.size == 0:
        empty = pd.DataFrame({c: pd.Series(dtype="float64") for c in wanted})
        return Delimited(empty, np.zeros(0, np.int64), scan.problems or [], scan.header)

    def parse(cols: Sequence[str] | None, dtype: Any) -> pd.DataFrame:
        with opener() as fh:
            try:
                return pd.read_csv(
                    fh,
                    sep=sep,
                    header=0 if header else None,
                    names=None if header else list(columns),
                    usecols=list(cols) if cols is not None else None,
                    dtype=dtype,
                    skiprows=set(skip.tolist()) if skip.size else None,
                    skip_blank_lines=False,
                    engine="c",
                    encoding=encoding,
                    quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
                    index_col=False,
                    keep_default_na=False,
                    na_values=[""],
                    on_bad_lines="error",
                )
            except pd.errors.ParserError as exc:
                raise DataError(f"{label}: {exc}") from exc

    frame = parse(usecols, dict.fromkeys(text_columns, "str") or None)
    inexact = [c for c in exact_columns if c in frame and (frame[c].dtype.kind != "i" or scan.odd_numbers)]
    if inexact:  # not plain integers: the ids as written, for the caller to judge
        text = parse(inexact, "str")
        for c in inexact:
            frame[c] = text[c].to_numpy(dtype=object)
    expected_rows = scan.n_lines - first - skip.size
    if len(frame) != expected_rows:
        raise DataError(
            f"{label}: read {len(frame)} rows but counted {expected_rows} well-formed lines; "
            "the file may use bare carriage returns as line ends"
        )
    rows = np.arange(len(frame), dtype=np.int64)
    # Row i is the i-th line not skipped: shift it past every skipped line at or before it.
    adjust = skip - first - np.arange(skip.size)
    lines = first + rows + np.searchsorted(adjust, rows, side="right") + 1
    return Delimited(frame, lines, scan.problems or [], scan.header)


def _scan(
    opener: Callable[[], Any],
    label: str,
    *,
    sep: str,
    quote: int | None,
    header: bool,
    expected: int | None,
    encoding: str,
    display_sep: str,
) -> _Scan:
    out = _Scan(expected=expected or 0, skip=[], problems=[])
    sep_byte = sep.encode(encoding)[0]
    carry = b""
    with opener() as fh:
        while True:
            block = fh.read(BLOCK)
            final = not block
            buf = carry + block
            if not final:
                cut = buf.rfind(b"\n") + 1
                if cut == 0:
                    carry = buf
                    continue
                buf, carry = buf[:cut], buf[cut:]
            _scan_block(
                buf,
                out,
                label,
                final=final,
                sep=sep_byte,
                quote=quote,
                header=header,
                encoding=encoding,
                display_sep=display_sep,
            )
            if out.multiline or final:
                break
    bad = len(out.problems or [])
    if bad > 10 and bad > out.nonblank // 2:
        examples = "; ".join(f"line {p.line}: {p.value!r}" for p in (out.problems or [])[:3])
        raise DataError(
            f"{label}: {bad} of {out.nonblank} lines do not have {out.expected} fields separated by "
            f"{display_sep!r} (e.g. {examples}); is this the right format and separator?"
        )
    return out


def _scan_block(
    buf: bytes,
    out: _Scan,
    label: str,
    *,
    final: bool,
    sep: int,
    quote: int | None,
    header: bool,
    encoding: str,
    display_sep: str,
) -> None:
    bom = out.n_lines == 0 and buf.startswith(BOM) and (encoding == "auto" or is_utf8(encoding))
    if bom:
        buf = b"   " + buf[len(BOM) :]  # same length and line/field structure; pandas skips the BOM itself
    check_text(buf, label, encoding, out.n_lines + 1)
    arr = np.frombuffer(buf, dtype=np.uint8)
    if arr.size == 0:
        return
    out.odd_numbers = out.odd_numbers or _odd_numbers(arr, sep, quote)
    out.content = out.content or bool(buf.strip())
    ends = np.flatnonzero(arr == 10)
    if final and arr[-1] != 10:
        ends = np.append(ends, arr.size)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    cend = ends.copy()  # content end: without the '\r' of a CRLF ending
    nonempty = ends > starts
    cend[nonempty] -= arr[ends[nonempty] - 1] == 13
    if b"\r" in buf:
        cr = np.flatnonzero(arr == 13)
        lone = cr[(cr + 1 < arr.size) & (arr[np.minimum(cr + 1, arr.size - 1)] != 10)]
        if lone.size:
            line = out.n_lines + int(np.searchsorted(ends, lone[0])) + 1
            raise DataError(f"{label}: line {line} has a carriage return that does not end the line")
    first_global = out.n_lines
    if header and first_global == 0:
        text = buf[3 if bom else 0 : cend[0]].decode(encoding, "replace")
        if not text.strip():
            raise DataError(f"{label}: line 1: the first line should be the header but is empty")
        reader = csv.reader([text], delimiter=chr(sep), quoting=csv.QUOTE_MINIMAL)
        if quote is None:
            reader = csv.reader([text], delimiter=chr(sep), quoting=csv.QUOTE_NONE)
        out.header = next(reader)
        out.expected = len(out.header)
    fields = _field_counts(arr, starts, cend, sep, quote)
    if fields is None:
        out.multiline = True
        return
    blank = cend == starts
    bad = ~blank & (fields != out.expected)
    if header and first_global == 0:
        bad[0] = blank[0] = False
    out.nonblank += int((~blank).sum()) - (1 if header and first_global == 0 else 0)
    idx = np.flatnonzero(bad | blank)
    if idx.size:
        assert out.skip is not None
        out.skip.append(idx + first_global)
    assert out.problems is not None
    for i in np.flatnonzero(bad):
        if len(out.problems) >= MAX_BAD_LINES:
            raise DataError(f"{label}: more than {MAX_BAD_LINES} malformed lines; is the format right?")
        text = buf[starts[i] : cend[i]].decode(encoding, "replace").replace(chr(sep), display_sep)
        out.problems.append(
            Problem(
                label,
                int(first_global + i + 1),
                ROW,
                short(text),
                f"expected {out.expected} fields separated by {display_sep!r}, found {int(fields[i])}",
            )
        )
    out.n_lines += ends.size


def _odd_numbers(arr: np.ndarray, sep: int, quote: int | None) -> bool:
    """Whether a field starts with `+`, `0<digit>` or `-0<digit>` (pandas reads `+5`, `05` as 5)."""
    plus, zero, minus = arr == ord("+"), arr == ord("0"), arr == ord("-")
    if not (plus.any() or zero.any()):
        return False
    digit = (arr >= ord("0")) & (arr <= ord("9"))
    after = np.zeros(arr.size, bool)
    after[:-1] = digit[1:]
    boundary = np.ones(arr.size, bool)
    prev = arr[:-1]
    boundary[1:] = (prev == sep) | (prev == 10) | ((prev == quote) if quote is not None else False)
    lead0 = zero & after
    minus0 = np.zeros(arr.size, bool)
    minus0[:-1] = minus[:-1] & lead0[1:]
    return bool((boundary & (plus | lead0 | minus0)).any())


def _field_counts(
    arr: np.ndarray, starts: np.ndarray, cend: np.ndarray, sep: int, quote: int | None
) -> np.ndarray | None:
    """Fields per line (separators outside double quotes + 1); None if a quoted field spans lines."""
    is_sep = arr == sep
    if quote is not None and (arr == quote).any():
        qz = np.concatenate(([0], np.cumsum(arr == quote, dtype=np.int64)))
        if ((qz[cend] - qz[starts]) % 2).any():
            return None
        pos = np.flatnonzero(is_sep)
        line_of = np.searchsorted(cend, pos, side="right")
        outside = (qz[pos] - qz[starts[line_of]]) % 2 == 0
        return np.bincount(line_of[outside], minlength=starts.size) + 1
    csum = np.cumsum(is_sep, dtype=np.int32)
    before = np.where(starts > 0, csum[starts - 1], 0)
    upto = np.where(cend > starts, csum[np.maximum(cend - 1, 0)], before)
    return (upto - before).astype(np.int64) + 1


def _records(reader: Any, label: str, encoding: str) -> Any:
    """The csv reader's records; a decoding or csv error names the line it happened on."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except (UnicodeDecodeError, csv.Error) as exc:
            raise DataError(f"{label}: line {reader.line_num + 1}: {exc} (encoding {encoding})") from None


def _read_python(
    opener: Callable[[], Any],
    label: str,
    *,
    sep: str,
    header: bool,
    names: Sequence[str],
    usecols: Sequence[str] | None,
    encoding: str,
    display_sep: str,
    text_columns: Sequence[str] = (),
) -> Delimited:
    """Exact but slow path for files whose quoted fields contain line breaks."""
    wanted = list(usecols) if usecols is not None else list(names)
    where = [list(names).index(c) for c in wanted]
    cols: list[list[str]] = [[] for _ in wanted]
    lines: list[int] = []
    problems: list[Problem] = []
    expected = len(names)
    with opener() as fh:
        text = io.TextIOWrapper(fh, encoding=encoding, newline="")
        reader = csv.reader(text, delimiter=sep)
        previous = 0
        for record in _records(reader, label, encoding):
            start, previous = previous + 1, reader.line_num
            if not record or (header and start == 1):
                continue
            if len(record) != expected:
                problems.append(
                    Problem(
                        label,
                        start,
                        ROW,
                        short(display_sep.join(record)),
                        f"expected {expected} fields separated by {display_sep!r}, found {len(record)}",
                    )
                )
                continue
            for out, j in zip(cols, where, strict=True):
                out.append(record[j])
            lines.append(start)
    data: dict[str, Any] = {}
    for name, values in zip(wanted, cols, strict=True):
        s = pd.Series(values, dtype="str").replace("", np.nan)
        try:
            data[name] = s if name in text_columns else pd.to_numeric(s)
        except (ValueError, TypeError):
            data[name] = s
    return Delimited(
        pd.DataFrame(data, columns=wanted),
        np.asarray(lines, np.int64),
        problems,
        list(names) if header else None,
    )
