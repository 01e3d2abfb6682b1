"""A corpus of malformed and odd input files, one per (format, defect), each with what must happen.

Run as a script to write the corpus to a folder (`python tests/data/fuzz_corpus.py OUT`); the tests in
`test_fuzz_loaders.py` build it in a temporary folder and run every case through `load_dataset` and
`lmrec data info`. Each case expects one of:

* `error`: a `DataError` whose message names the file, (where the defect has one) the line (a Parquet
  file's row) and, where given, `mentions` (a column, an archive member, a missing file); the CLI exits
  with code 2 and prints no traceback;
* `problem`: the log loads and a `Problem`, a `bad_values` row or a warning names the file and line;
* `exact`: the log loads and the user/item ids are exactly the given values (type included): odd but
  valid input is read without changing a value.

Formats: CSV and TSV tables (plain and `.gz`), MovieLens `u.data`, `ratings.dat`, `ratings.csv`,
Amazon JSON lines (plain and `.gz`), whitespace sequence files (plain and `.gz`) and user-item lines
(`format="user-item-lines"`) here; Parquet tables, zip archives and UniSRec / RecBole atomic folders in
`fuzz_corpus_files`.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Expect = Literal["error", "problem", "exact"]
INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class Case:
    """One input on disk and what loading it must do."""

    name: str
    """Unique id: `<format>-<defect>`."""
    file: str
    """File name (the case folder holds only this file; the file itself is what is loaded)."""
    data: bytes | None
    """File content as stored (compressed for `.gz` names)."""
    expect: Expect
    line: int | None = None
    """Line the error/problem must name (None: the defect has no line, e.g. a truncated archive)."""
    ids: tuple[tuple[Any, ...], tuple[Any, ...]] | None = None
    """For `exact`: the expected (users, items), in file order."""
    options: dict[str, Any] = field(default_factory=dict)
    """Keyword options of `load_dataset` (and, as `--encoding` / `--format`, of the CLI)."""
    others: tuple[tuple[str, bytes], ...] = ()
    """Further files (name, content) written beside `file`, for formats that are a folder of files."""
    folder: bool = False
    """Load the case folder instead of `file` (then `data=None` means `file` is missing)."""
    mentions: str | None = None
    """For `error`: text the message must contain besides the path (a column, a member, a file name)."""

    def write(self, root: Path) -> Path:
        """Write the case under `root`; the path to load."""
        folder = root / self.name
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in ((self.file, self.data), *self.others):
            if data is not None:
                (folder / name).write_bytes(data)
        return folder if self.folder else folder / self.file


# --- the formats ----------------------------------------------------------------------------------

Row = tuple[str, str, str, str]
"""user, item, rating, timestamp as they appear in the file."""
BASE: tuple[Row, ...] = (("1", "10", "4", "100"), ("2", "20", "5", "200"), ("3", "30", "3", "300"))


@dataclass(frozen=True)
class Format:
    """How rows become a file of one format, and how its ids come back."""

    name: str
    file: str
    render: Callable[[list[Row]], bytes]
    first_data_line: int
    """File line of the first row (2 after a header)."""
    int_ids: bool
    """True when the format's ids are integers by definition (MovieLens, sequences)."""
    text_ids: bool = True
    """False for formats whose ids are never decided by their text (JSON ids are strings)."""
    options: tuple[tuple[str, str], ...] = ()
    """`load_dataset` options every case of the format gets (e.g. the format, when the name cannot tell)."""


def _table(sep: str, header: str | None) -> Callable[[list[Row]], bytes]:
    def render(rows: list[Row]) -> bytes:
        head = [header] if header is not None else []
        return "".join(f"{x}\n" for x in head + [sep.join(r) for r in rows]).encode()

    return render


def _json(rows: list[Row]) -> bytes:
    out = []
    for u, i, r, t in rows:
        out.append(f'{{"reviewerID": "{u}", "asin": "{i}", "overall": {r}, "unixReviewTime": {t}}}\n')
    return "".join(out).encode()


def _seq(rows: list[Row]) -> bytes:
    return "".join(f"{u} {i}\n" for u, i, _, _ in rows).encode()


FORMATS = (
    Format("csv", "data.csv", _table(",", "user,item,rating,timestamp"), 2, False),
    Format("tsv", "data.tsv", _table("\t", "user\titem\trating\ttimestamp"), 2, False),
    Format("udata", "u.data", _table("\t", None), 1, True),
    Format("dat", "ratings.dat", _table("::", None), 1, True),
    Format("mlcsv", "ratings.csv", _table(",", "userId,movieId,rating,timestamp"), 2, True),
    Format("json", "reviews.json", _json, 1, False, text_ids=False),
    Format("seq", "seq.txt", _seq, 1, True),
    Format("uil", "pairs.txt", _seq, 1, True, options=(("format", "user-item-lines"),)),
)
GZ_FORMATS = ("csv", "tsv", "json", "seq")


def _ids(fmt: Format, rows: list[Row]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    conv: Callable[[str], Any] = int if fmt.int_ids or fmt.name in ("csv", "tsv") else str
    if fmt.name == "json":
        conv = str
    return tuple(conv(r[0]) for r in rows), tuple(conv(r[1]) for r in rows)


def _with(rows: tuple[Row, ...], at: int, user: str | None = None, item: str | None = None) -> list[Row]:
    out = list(rows)
    u, i, r, t = out[at]
    out[at] = (user if user is not None else u, item if item is not None else i, r, t)
    return out


# --- the defects ----------------------------------------------------------------------------------


def _cases_for(fmt: Format) -> Iterator[Case]:
    base = fmt.render(list(BASE))
    line2 = fmt.first_data_line + 1  # the file line of BASE[1]

    def case(defect: str, data: bytes, expect: Expect, line: int | None = None, **kw: Any) -> Case:
        kw["options"] = {**dict(fmt.options), **kw.get("options", {})}
        return Case(f"{fmt.name}-{defect}", fmt.file, data, expect, line, **kw)

    yield case("valid", base, "exact", ids=_ids(fmt, list(BASE)))
    # encodings
    latin = fmt.render(_with(BASE, 1, item="2\xe90"))
    yield case("latin1-byte", latin.replace("\xe9".encode(), b"\xe9"), "error", line2)
    yield case("bom", b"\xef\xbb\xbf" + base, "exact", ids=_ids(fmt, list(BASE)))
    yield case("utf16", "\ufeff".encode("utf-16-le") + base.decode().encode("utf-16-le"), "error", 1)
    yield case("nul-byte", base.replace(b"20", b"2\x000", 1), "error", line2)
    # line endings
    yield case("crlf", base.replace(b"\n", b"\r\n"), "exact", ids=_ids(fmt, list(BASE)))
    yield case("cr-only", base.replace(b"\n", b"\r"), "error", 1)
    yield case("lone-cr", base.replace(b"20", b"2\r0", 1), "error", line2)
    yield case("no-final-newline", base.rstrip(b"\n"), "exact", ids=_ids(fmt, list(BASE)))
    # structure
    yield case("empty", b"", "error", 1)
    yield case("blank-lines-only", b"\n\n  \n", "error", 1)
    yield case("binary", bytes(range(256)) * 4, "error", 1)
    truncated = base[: len(base) - len(base.splitlines()[-1]) // 2 - 1]
    yield case("truncated-last-line", truncated, "problem", fmt.first_data_line + 2)
    if fmt.name == "json":
        yield case("not-an-object", base.replace(base.splitlines()[1], b"[1, 2]"), "problem", 2)
        yield from _json_cases(fmt, case)
        return
    # ids that must not change
    yield from _id_cases(fmt, case, line2)


def _id_cases(fmt: Format, case: Callable[..., Case], line2: int) -> Iterator[Case]:
    """An odd value in the item id of the second row: either read exactly (as text) or reported."""
    odd = {
        "uint64": str(2**64 - 1),
        "int64-overflow": str(2**63),
        "int64-underflow": str(-(2**63) - 1),
        "beyond-uint64": str(2**70),
        "exponent": "1e3",
        "decimal": "20.0",
        "leading-zero": "020",
        "plus-sign": "+20",
        "word": "abc",
        "nan-word": "nan",
        "inf-word": "inf",
    }
    for defect, value in odd.items():
        rows = _with(BASE, 1, item=value)
        data = fmt.render(rows)
        if fmt.int_ids:
            # an integer-id format: the value is not an id it can hold -> a bad value naming its line
            yield case(f"id-{defect}", data, "problem", line2)
        else:
            # auto ids: the whole column is text, exactly as written (and a warning names the line)
            items = tuple(r[1] for r in rows)
            users = tuple(int(r[0]) for r in rows)
            yield case(f"id-{defect}", data, "exact", line2, ids=(users, items))
    big = _with(BASE, 1, item=str(INT64_MAX))
    yield case("id-int64-max", fmt.render(big), "exact", ids=_ids(fmt, big))
    neg = _with(BASE, 1, item="-20")
    yield case("id-negative", fmt.render(neg), "exact", ids=_ids(fmt, neg))
    if fmt.name == "seq":
        return
    # a row with a field too many / too few
    data = fmt.render(list(BASE)).splitlines(keepends=True)
    sep = {"csv": b",", "mlcsv": b",", "dat": b"::", "uil": b" "}.get(fmt.name, b"\t")
    short = data.copy()
    keep = 1 if fmt.name == "uil" else 2  # a user-item line is two fields: one too few is the user alone
    short[line2 - 1] = sep.join(data[line2 - 1].rstrip(b"\n").split(sep)[:keep]) + b"\n"
    yield case("short-row", b"".join(short), "problem", line2)
    long = data.copy()
    long[line2 - 1] = data[line2 - 1].rstrip(b"\n") + sep + b"9\n"
    yield case("long-row", b"".join(long), "problem", line2)
    # declared encoding: the same latin-1 byte reads exactly with encoding="latin-1"
    if not fmt.int_ids:
        rows = _with(BASE, 1, item="2\xe90")
        data = fmt.render(rows).replace("\xe9".encode(), b"\xe9")
        items = tuple(r[1] for r in rows)
        yield case(
            "latin1-declared", data, "exact", ids=(tuple(int(r[0]) for r in rows), items),
            options={"encoding": "latin-1"},
        )  # fmt: skip


def _json_cases(fmt: Format, case: Callable[..., Case]) -> Iterator[Case]:
    def line(**fields: Any) -> bytes:
        record = {"reviewerID": "A", "asin": "B", "overall": 4.0, "unixReviewTime": 100, **fields}
        return (json.dumps(record) + "\n").encode()

    good = fmt.render(list(BASE))
    for defect, value in {
        "id-object": {"x": 1},
        "id-list": [1, 2],
        "id-true": True,
        "id-float": 1e3,
        "id-null-bytes": "a\x00b",
    }.items():
        data = good + line(asin=value)
        if defect == "id-null-bytes":  # a valid JSON string: kept exactly
            users, items = _ids(fmt, list(BASE))
            yield case(defect, data, "exact", ids=((*users, "A"), (*items, "a\x00b")))
        else:
            yield case(defect, data, "error", 4)
    users, items = _ids(fmt, list(BASE))
    yield case("id-int", good + line(asin=123), "exact", ids=((*users, "A"), (*items, "123")))
    yield case(
        "id-big-int", good + line(asin=2**64 + 1), "exact", ids=((*users, "A"), (*items, str(2**64 + 1)))
    )
    yield case("rating-true", good + line(overall=True), "problem", 4)
    yield case("rating-word", good + line(overall="five"), "problem", 4)
    yield case(
        "escaped-latin", good + line(asin="caf\u00e9"), "exact", ids=((*users, "A"), (*items, "caf\u00e9"))
    )
    yield case("trailing-garbage", good + line()[:-1] + b" x\n", "problem", 4)


def _gz_cases(fmt: Format, plain: list[Case]) -> Iterator[Case]:
    gz_file = fmt.file + ".gz"
    for c in plain:
        if c.name.endswith(("-valid", "-latin1-byte", "-cr-only", "-truncated-last-line", "-id-word")):
            yield Case(c.name.replace(fmt.name, fmt.name + "gz", 1), gz_file, gzip.compress(c.data, mtime=0),
                       c.expect, c.line, c.ids, c.options)  # fmt: skip
    whole = gzip.compress(fmt.render(list(BASE)), mtime=0)
    yield Case(f"{fmt.name}gz-truncated", gz_file, whole[: len(whole) // 2], "error")
    yield Case(f"{fmt.name}gz-not-gzip", gz_file, fmt.render(list(BASE)), "error")
    yield Case(f"{fmt.name}gz-bad-crc", gz_file, whole[:-8] + b"\0\0\0\0" + whole[-4:], "error")
    yield Case(f"{fmt.name}gz-empty", gz_file, b"", "error")


def corpus() -> list[Case]:
    """Every case, in a stable order; names are unique."""
    from fuzz_corpus_files import cases  # it imports Case from here

    out: list[Case] = []
    for fmt in FORMATS:
        plain = list(_cases_for(fmt))
        out += plain
        if fmt.name in GZ_FORMATS:
            out += list(_gz_cases(fmt, plain))
    out += cases()
    names = [c.name for c in out]
    if len(set(names)) != len(names):
        raise AssertionError("duplicate case names")
    return out


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "fuzz-corpus")
    cases = corpus()
    for c in cases:
        c.write(root)
    print(f"wrote {len(cases)} cases under {root}")
