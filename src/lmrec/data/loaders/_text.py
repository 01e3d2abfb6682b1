"""Checks on the raw bytes of a text file before any parser sees them, so that a bad byte is an error that
names the file, line and column instead of a `UnicodeDecodeError` from deep inside pandas or pyarrow.

Encoding policy: every text format is read as UTF-8 unless an `encoding` is declared (loader option
`encoding=`, `encoding:` in an experiment's dataset options, `--encoding` on the CLI). A UTF-8 byte-order
mark (Excel writes one) is skipped. Nothing is guessed silently: a byte that is not valid in the declared
encoding is an error suggesting `encoding="latin-1"`, because decoding a damaged UTF-8 file as latin-1
would turn its other accented characters into mojibake without a word. The one exception is
`encoding="auto"` (MovieLens `movies.dat`, whose 1M release is latin-1 and 10M release UTF-8), which is
asked for explicitly.

Also rejected here, each with its line: NUL bytes (binary or UTF-16 files) and carriage returns that do
not end a line (old Mac line endings, which the parsers would otherwise glue into one line or, in
whitespace-separated files, split into extra tokens).
"""

from __future__ import annotations

import codecs

import numpy as np

from lmrec.data.loaders._source import detect_encoding
from lmrec.errors import DataError

BOM = b"\xef\xbb\xbf"
_HINT = "declare the encoding (load option encoding='latin-1', or --encoding latin-1 on the command line)"


def check_encoding_name(encoding: str) -> str:
    """`encoding` as given, after checking Python knows it and that it keeps ASCII (separators, digits,
    newlines) as single bytes, which every reader here relies on. Loaders call this before they read or
    decode anything, so a misspelt name is this error and not a `LookupError` from deep inside a reader."""
    if not isinstance(encoding, str):  # e.g. `encoding: 1` in an experiment file
        raise DataError(f"encoding must be a name such as 'utf-8' or 'latin-1', not {encoding!r}")
    if encoding == "auto":
        return encoding
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise DataError(f"unknown encoding {encoding!r} (use e.g. 'utf-8', 'latin-1', 'cp1252')") from None
    if "\n,\t :0123456789".encode(encoding, errors="replace") != b"\n,\t :0123456789":
        raise DataError(
            f"encoding {encoding!r} is not ASCII-compatible; convert the file to UTF-8 "
            "(e.g. `iconv -f UTF-16 -t UTF-8`)"
        )
    return encoding


def is_utf8(encoding: str) -> bool:
    return encoding.lower().replace("-", "_") in ("utf_8", "utf8", "u8", "utf_8_sig")


def position(data: bytes, offset: int, first_line: int = 1) -> tuple[int, int]:
    """(line, column) of byte `offset`, both 1-based; the column counts characters (bad bytes count one)."""
    start = data.rfind(b"\n", 0, offset) + 1
    line = first_line + data.count(b"\n", 0, offset)
    column = len(data[start:offset].decode("utf-8", errors="replace")) + 1
    return line, column


def check_text(data: bytes, label: str, encoding: str, first_line: int = 1) -> None:
    """Raise `DataError` naming line and column for a NUL byte, a byte invalid in `encoding` or a lone
    carriage return in `data` (a block of whole lines starting at line `first_line`)."""
    if b"\0" in data:
        line, column = position(data, data.index(b"\0"), first_line)
        raise DataError(
            f"{label}: line {line}, column {column}: NUL byte (0x00); the file is binary or UTF-16/32, "
            "not a text file in an ASCII-compatible encoding"
        )
    codec = "utf-8" if is_utf8(encoding) else encoding
    if encoding != "auto":  # auto falls back to latin-1, which decodes any byte
        try:
            data.decode(codec)
        except UnicodeDecodeError as exc:
            line, column = position(data, exc.start, first_line)
            byte = data[exc.start]
            utf16 = " (a UTF-16 byte-order mark: convert the file to UTF-8)" if data[:2] in (
                b"\xff\xfe", b"\xfe\xff") and exc.start < 2 else ""  # fmt: skip
            raise DataError(
                f"{label}: line {line}, column {column}: byte 0x{byte:02x} is not valid {codec}{utf16}; "
                f"{_HINT}"
            ) from None
    if b"\r" in data:
        arr = np.frombuffer(data, dtype=np.uint8)
        cr = np.flatnonzero(arr == 13)
        follows = arr[np.minimum(cr + 1, arr.size - 1)]
        lone = cr[(cr + 1 < arr.size) & (follows != 10)]
        if lone.size:
            line, column = position(data, int(lone[0]), first_line)
            raise DataError(
                f"{label}: line {line}, column {column}: carriage return that does not end a line "
                "(old Mac line endings?); convert the file to \\n or \\r\\n line endings"
            )


def strip_bom(data: bytes, encoding: str) -> bytes:
    """`data` without a leading UTF-8 byte-order mark when the encoding is UTF-8 (or auto)."""
    if data.startswith(BOM) and (encoding == "auto" or is_utf8(encoding)):
        return data[len(BOM) :]
    return data


def decode_text(data: bytes, label: str, encoding: str) -> str:
    """A whole small file as text: checked by `check_text`, byte-order mark skipped, "auto" decided as UTF-8
    when the bytes are valid UTF-8 and latin-1 otherwise (`_source.detect_encoding`)."""
    encoding = check_encoding_name(encoding)
    check_text(data, label, encoding)
    data = strip_bom(data, encoding)
    if encoding == "auto":
        encoding = detect_encoding(data)
    return data.decode(encoding)


def decode_line(raw: bytes, label: str, line: int, encoding: str) -> str:
    """One line as text; a byte invalid in `encoding` is an error naming line and column."""
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        _, column = position(raw, exc.start, line)
        raise DataError(
            f"{label}: line {line}, column {column}: byte 0x{raw[exc.start]:02x} is not valid {encoding}; "
            f"{_HINT}"
        ) from None
