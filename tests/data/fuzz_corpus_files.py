"""The fuzz corpus's binary and multi-file formats: Parquet tables, zip archives and UniSRec / RecBole
atomic folders (see `fuzz_corpus` for what each expectation means). Files are built here, at run time, with
the installed pyarrow and zipfile, so a case is the same defect whatever the library versions write."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from fuzz_corpus import BASE, Case

CSV = b"user,item,rating,timestamp\n" + b"".join(b",".join(x.encode() for x in r) + b"\n" for r in BASE)
INT_IDS = (tuple(int(r[0]) for r in BASE), tuple(int(r[1]) for r in BASE))

# --- Parquet ----------------------------------------------------------------------------------------


def _table(**replace: Any) -> pa.Table:
    """BASE as a typed table; `replace` swaps (or, with None, drops) columns."""
    columns: dict[str, Any] = {
        "user": pa.array([int(r[0]) for r in BASE], pa.int64()),
        "item": pa.array([int(r[1]) for r in BASE], pa.int64()),
        "rating": pa.array([float(r[2]) for r in BASE]),
        "timestamp": pa.array([int(r[3]) for r in BASE], pa.int64()),
    }
    for name, column in replace.items():
        if column is None:
            del columns[name]
        else:
            columns[name] = column
    return pa.table(columns)


def _parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def parquet_cases() -> Iterator[Case]:
    def case(defect: str, data: bytes, expect: Any, line: int | None = None, **kw: Any) -> Case:
        return Case(f"parquet-{defect}", "data.parquet", data, expect, line, **kw)

    good = _parquet(_table())
    yield case("valid", good, "exact", ids=INT_IDS)
    text_ids = _table(user=pa.array(["a", "b", "c"]), item=pa.array(["x", "y", "z"]).dictionary_encode())
    yield case("text-ids", _parquet(text_ids), "exact", ids=(("a", "b", "c"), ("x", "y", "z")))
    binary = _table(item=pa.array([b"x", b"y", b"z"]))
    yield case("binary-ids", _parquet(binary), "exact", ids=(INT_IDS[0], ("x", "y", "z")))
    big = _table(item=pa.array([10, 2**64 - 1, 30], pa.uint64()))  # beyond int64: the exact decimal text
    yield case("id-uint64", _parquet(big), "exact", ids=(INT_IDS[0], ("10", str(2**64 - 1), "30")))
    dates = _table(timestamp=pa.array([1, 2, 3], pa.int32()).cast(pa.date32()))
    yield case("timestamp-date", _parquet(dates), "exact", ids=INT_IDS)
    # damaged files, and other formats under the name
    yield case("truncated", good[: len(good) // 2], "error")
    yield case("truncated-footer", good[:-3], "error")
    yield case("empty", b"", "error")
    yield case("magic-only", b"PAR1", "error")
    yield case("text-file", CSV, "error")
    yield case("damaged-page", good[:8] + bytes(40) + good[48:], "error", mentions="'user'")
    # columns that are missing or cannot hold their role
    yield case("no-item-column", _parquet(_table(item=None)), "error", mentions="'item'")
    for defect, replace, column in (
        ("user-list", {"user": pa.array([[1], [2], [3]])}, "user"),
        ("user-bool", {"user": pa.array([True, False, True])}, "user"),
        ("user-date", {"user": pa.array([1, 2, 3], pa.int32()).cast(pa.date32())}, "user"),
        ("user-decimal", {"user": pa.array([1, 2, 3]).cast(pa.decimal128(25, 2))}, "user"),
        ("item-struct", {"item": pa.array([{"x": 1}, {"x": 2}, {"x": 3}])}, "item"),
        ("rating-bool", {"rating": pa.array([True, False, True])}, "rating"),
        ("rating-list", {"rating": pa.array([[4.0], [5.0], [3.0]])}, "rating"),
        ("timestamp-bool", {"timestamp": pa.array([True, False, True])}, "timestamp"),
        ("timestamp-duration", {"timestamp": pa.array([1, 2, 3], pa.duration("s"))}, "timestamp"),
    ):
        yield case(f"type-{defect}", _parquet(_table(**replace)), "error", mentions=f"'{column}'")
    bad_utf8 = _table(item=pa.array([b"x", b"\xffy", b"z"]))
    yield case("binary-not-utf8", _parquet(bad_utf8), "error", 2, mentions="'item'")
    # values reported per row (the row is the `line`)
    odd = _table(item=pa.array([10.0, 20.5, 30.0]))
    yield case("id-float", _parquet(odd), "problem", 2)
    words = _table(rating=pa.array(["4", "five", "3"]))
    yield case("rating-word", _parquet(words), "problem", 2)


# --- zip archives -------------------------------------------------------------------------------------


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def _flag(data: bytes, local: tuple[int, int], central: tuple[int, int]) -> bytes:
    """Set byte `local[0]` of the local header and `central[0]` of the central one to the given values."""
    out = bytearray(data)
    out[local[0]] = local[1]
    cd = bytes(out).rfind(b"PK\x01\x02")
    out[cd + central[0]] = central[1]
    return bytes(out)


def zip_cases() -> Iterator[Case]:
    def case(defect: str, data: bytes, expect: Any, line: int | None = None, **kw: Any) -> Case:
        return Case(f"zip-{defect}", "data.zip", data, expect, line, **kw)

    good = _zip({"data/data.csv": CSV})
    yield case("valid", good, "exact", ids=INT_IDS)
    yield case("parquet-valid", _zip({"data.parquet": _parquet(_table())}), "exact", ids=INT_IDS)
    yield case("unisrec-valid", _zip(unisrec_files()), "exact", ids=UNISREC_IDS)
    # not a zip, or a damaged one
    yield case("not-a-zip", CSV, "error")
    yield case("truncated", good[: len(good) // 2], "error")
    yield case("empty-file", b"", "error")
    cd = good.rfind(b"PK\x01\x02")
    yield case("bad-central-directory", good[:cd] + b"XXXX" + good[cd + 4 :], "error")
    stored = _zip({"data.csv": CSV}, zipfile.ZIP_STORED)
    at = stored.index(b"1,10,4")
    yield case("bad-crc", stored[:at] + b"9" + stored[at + 1 :], "error", mentions="data.csv")
    deflated = _zip({"data.csv": CSV * 50})
    third = len(deflated) // 3
    broken = deflated[:third] + bytes(20) + deflated[third + 20 :]
    yield case("bad-deflate", broken, "error", mentions="data.csv")
    yield case("encrypted", _flag(stored, (6, stored[6] | 1), (8, 1)), "error", mentions="data.csv")
    yield case("unsupported-method", _flag(stored, (8, 99), (10, 99)), "error", mentions="data.csv")
    # archives without the member a loader needs
    yield case("empty-archive", _zip({}), "error")
    yield case("no-dataset-member", _zip({"README": b"hello\n"}), "error", mentions="README")
    item = b"1|Toy Story (1995)|01-Jan-1995||http://x" + b"|0" * 19 + b"\n"
    yield case("movielens-no-ratings", _zip({"ml-100k/u.item": item}), "error", mentions="u.data")
    files = unisrec_files()
    del files["Sci.text"]
    yield case("unisrec-missing-member", _zip(files), "error", mentions="Sci.text")
    yield case("two-tables", _zip({"a.csv": CSV, "b.csv": CSV}), "error", mentions="a.csv")
    same = _zip({"a/data.csv": CSV, "b/data.csv": CSV})
    yield case("same-name-twice", same, "error", mentions="b/data.csv")
    # a damaged member: its own error, named archive:member
    latin = _zip({"data.csv": CSV.replace(b"2,20", b"2,2\xe90")})
    yield case("member-latin1-byte", latin, "error", 3, mentions="data.csv")
    yield case("member-fake-parquet", _zip({"log.parquet": CSV}), "error", mentions="log.parquet")


# --- UniSRec / RecBole atomic files ---------------------------------------------------------------------

INTER_HEADER = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
UNISREC_SEQS = {"u1": ["A", "B", "C", "D"], "u2": ["B", "C", "D"]}
UNISREC_IDS = (("u1",) * 4 + ("u2",) * 3, ("A", "B", "C", "D", "B", "C", "D"))


def unisrec_files(prefix: str = "Sci") -> dict[str, bytes]:
    """The six files of a two-user dataset laid out as UniSRec publishes it (max_history 50)."""
    users = {u: i for i, u in enumerate(UNISREC_SEQS)}
    items = {a: i for i, a in enumerate("ABCD")}

    def row(u: str, p: int) -> str:
        seq = UNISREC_SEQS[u]
        return f"{users[u]}\t{' '.join(str(items[a]) for a in seq[:p])}\t{items[seq[p]]}\n"

    parts = {"train": "", "valid": "", "test": ""}
    for u, seq in UNISREC_SEQS.items():
        n = len(seq)
        parts["train"] += "".join(row(u, p) for p in range(n - 3, 0, -1))
        parts["valid"] += row(u, n - 2)
        parts["test"] += row(u, n - 1)
    files = {f"{prefix}.{part}.inter": INTER_HEADER + rows for part, rows in parts.items()}
    files[f"{prefix}.user2index"] = "".join(f"{u}\t{i}\n" for u, i in users.items())
    files[f"{prefix}.item2index"] = "".join(f"{a}\t{i}\n" for a, i in items.items())
    files[f"{prefix}.text"] = "item_id:token\ttext:token_seq\n" + "".join(f"{a}\tItem {a}\n" for a in items)
    return {name: text.encode() for name, text in files.items()}


def unisrec_cases() -> Iterator[Case]:
    base = unisrec_files()

    def case(
        defect: str, file: str, data: bytes | None, expect: Any, line: int | None = None, **kw: Any
    ) -> Case:
        """`file` replaced by `data` (None: removed) in the base dataset; the folder is what is loaded."""
        others = tuple((n, d) for n, d in base.items() if n != file)
        return Case(f"unisrec-{defect}", file, data, expect, line, others=others, folder=True, **kw)

    def edit(file: str, line: int, new: str) -> bytes:
        lines = base[file].decode().splitlines(keepends=True)
        lines[line - 1] = new
        return "".join(lines).encode()

    train, valid, test = "Sci.train.inter", "Sci.valid.inter", "Sci.test.inter"
    # test.inter line 2 is "0\t0 1 2\t3" (u1's last item D after A B C); line 3 is "1\t1 2\t3"
    yield case("valid", test, base[test], "exact", ids=UNISREC_IDS)
    yield case("crlf", test, base[test].replace(b"\n", b"\r\n"), "exact", ids=UNISREC_IDS)
    yield case("bom", test, b"\xef\xbb\xbf" + base[test], "exact", ids=UNISREC_IDS)
    yield case("token-seq-double-space", test, edit(test, 2, "0\t0  1 2\t3\n"), "exact", ids=UNISREC_IDS)
    text_latin = base["Sci.text"].replace(b"Item A", b"Item \xe9")
    yield case("text-latin1-declared", "Sci.text", text_latin, "exact", ids=UNISREC_IDS,
               options={"encoding": "latin-1"})  # fmt: skip
    # missing files and headers
    yield case("missing-text-file", "Sci.text", None, "error", mentions="Sci.text")
    no_column = INTER_HEADER.replace("item_id_list:token_seq", "items")
    yield case("inter-header-lacks-column", train, edit(train, 1, no_column), "error", 1)
    yield case("inter-no-header", valid, base[valid].split(b"\n", 1)[1], "error", 1)
    yield case("text-no-header", "Sci.text", base["Sci.text"].split(b"\n", 1)[1], "error", 1)
    yield case("inter-empty", test, b"", "error", 1)
    # integers where the files hold indices
    yield case("user-not-an-integer", valid, edit(valid, 2, "u1\t0 1\t2\n"), "error", 2)
    yield case("target-not-an-integer", test, edit(test, 3, "1\t1 2\tD\n"), "error", 3)
    yield case("target-leading-zero", test, edit(test, 3, "1\t1 2\t03\n"), "error", 3)
    yield case("target-unicode-digit", test, edit(test, 3, "1\t1 2\t\u00b3\n"), "error", 3)
    yield case("target-not-indexed", test, edit(test, 3, "1\t1 2\t9\n"), "error", 3)
    arabic_zero = base["Sci.item2index"].replace(b"A\t0", "A\t\u0660".encode())
    yield case("index-unicode-digit", "Sci.item2index", arabic_zero, "error", 1)
    yield case("index-not-an-integer", "Sci.user2index", b"u1\tzero\nu2\t1\n", "error", 1)
    # token_seq
    yield case("token-seq-commas", test, edit(test, 2, "0\t0,1,2\t3\n"), "error", 2)
    yield case("token-seq-word", test, edit(test, 2, "0\t0 x 2\t3\n"), "error", 2)
    yield case("token-seq-negative", test, edit(test, 2, "0\t0 -1 2\t3\n"), "error", 2)
    yield case("token-seq-wrong-history", test, edit(test, 2, "0\t0 2 1\t3\n"), "error", 2)
    # fields per line
    yield case("inter-two-fields", valid, edit(valid, 3, "1\t2\n"), "error", 3)
    yield case("inter-four-fields", valid, edit(valid, 3, "1\t1\t2\t9\n"), "error", 3)
    yield case("inter-truncated-last-line", test, base[test][:-3], "error", 3)
    yield case("index-three-fields", "Sci.item2index", edit("Sci.item2index", 2, "B\t1\tx\n"), "error", 2)
    yield case("text-no-tab", "Sci.text", edit("Sci.text", 3, "B Item B\n"), "error", 3)
    # bytes
    yield case("text-latin1-byte", "Sci.text", text_latin, "error", 2)
    yield case("inter-nul-byte", train, base[train].replace(b"0\t0\t1", b"0\t0\x00\t1"), "error", 2)
    yield case("inter-cr-only", valid, base[valid].replace(b"\n", b"\r"), "error", 1)
    utf16 = "\ufeff".encode("utf-16-le") + base[test].decode().encode("utf-16-le")
    yield case("inter-utf16", test, utf16, "error", 1)


def cases() -> list[Case]:
    return [*parquet_cases(), *zip_cases(), *unisrec_cases()]
