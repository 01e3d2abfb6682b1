"""UniSRec / RecBole atomic files: a published leave-one-out split plus one text per item.

A dataset `<D>` (e.g. `Scientific`, Hou et al., KDD 2022; also used by VQ-Rec) is six TAB-separated
UTF-8 files (another encoding can be declared with `encoding=`):

* `<D>.train.inter`, `<D>.valid.inter`, `<D>.test.inter`: header `user_id:token  item_id_list:token_seq
  item_id:token`, then one row per prediction: a user index, the space-separated item indices before the
  target (only the last `max_history` of them) and the target item index. Training rows are every target
  but the first, listed per user from the longest history to the shortest; valid and test have one row
  per user;
* `<D>.user2index`, `<D>.item2index`: `raw id<TAB>index`, no header (reviewerID / ASIN for Amazon);
* `<D>.text`: header `item_id:token  text:token_seq`, then `raw item id<TAB>text`.

The rows are prefixes of one sequence per user. The loader rebuilds it (the shortest training history,
then the training targets, the valid target, the test target), checks every row of the three files
against it, and returns one event per sequence position: raw ids from the index files, timestamp = the
position (the files hold no times), repeated (user, item) pairs kept, and `RawLog.given_parts` marking
the published split, which the split method `given` keeps exactly. Anything malformed or inconsistent is
a `DataError` naming the file, line and column: a published split is used as is or not at all. An index
is an ASCII decimal written without leading zeros (`012`, `1.0` or a non-ASCII digit are errors, never the
index 12 or 1); a token_seq is indices separated by spaces (empty tokens from repeated spaces are skipped,
as RecBole does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lmrec.data.catalog import ItemCatalog
from lmrec.data.loaders._source import DataSource, PathLike, raw_frame, short
from lmrec.data.loaders._text import check_encoding_name, decode_text
from lmrec.data.loaders.registry import UNKNOWN_TERMS
from lmrec.data.raw import RawLog
from lmrec.errors import DataError

USER, HISTORY, TARGET = "user_id:token", "item_id_list:token_seq", "item_id:token"
TEXT_ID, TEXT = "item_id:token", "text:token_seq"
PARTS = ("train", "valid", "test")
SUFFIXES = (*(f".{p}.inter" for p in PARTS), ".user2index", ".item2index", ".text")
"""The files of a dataset `<D>`: `<D>` + each suffix."""
_INDEX = re.compile(r"0|[1-9][0-9]*", re.ASCII)
"""An index as the files write it: `str(int)`."""


def load_unisrec(
    path: PathLike,
    *,
    dataset: str | None = None,
    max_history: int = 50,
    name: str | None = None,
    license: str = UNKNOWN_TERMS,
    encoding: str = "utf-8",
) -> RawLog:
    """Load UniSRec atomic files from a folder or zip (`dataset` picks `<D>` when it holds several).

    `max_history` is the truncation length of the histories (UniSRec's MAX_ITEM_LIST_LENGTH, 50): a history
    must be the whole prefix before its target, or exactly its last `max_history` items. `encoding` is the
    six files' (default UTF-8, byte-order mark skipped); a byte invalid in it is an error naming file, line
    and column.
    """
    if max_history < 1:
        raise ValueError(f"max_history must be >= 1, not {max_history}")
    encoding = check_encoding_name(encoding)
    source = DataSource(path)
    prefix = dataset or _prefix(source)
    missing = [prefix + s for s in SUFFIXES if not source.has(prefix + s)]
    if missing:
        raise DataError(f"{source.path}: UniSRec dataset {prefix!r} lacks {missing}")
    users = _read_index(source, prefix + ".user2index", encoding)
    items = _read_index(source, prefix + ".item2index", encoding)
    rows = {p: _read_inter(source, f"{prefix}.{p}.inter", users, items, encoding) for p in PARTS}
    seqs = _rebuild(rows, users, max_history)
    labels = [source.label(f"{prefix}.{p}.inter") for p in PARTS]
    frame = raw_frame(
        pd.Series(users.ids[seqs.user], dtype="str"),
        pd.Series(items.ids[seqs.item], dtype="str"),
        None,
        seqs.position,
        pd.Categorical.from_codes(seqs.file, categories=labels),
        seqs.line,
    )
    catalog = _read_text(source, prefix + ".text", encoding)
    pairs = pd.DataFrame({"u": seqs.user, "i": seqs.item})
    meta: dict[str, Any] = {
        "source": str(source.path),
        "format": "unisrec-atomic",
        "license": license,
        "timestamp_kind": "position",
        "explicit": False,
        "max_history": max_history,
        "rows": {p: len(r.user) for p, r in rows.items()},
        "repeated_pairs": int(pairs.duplicated().sum()),
        "given_split": f"{prefix}.{{train,valid,test}}.inter: per user, the valid target is the "
        "second-to-last event and the test target the last; split method `given` keeps it (keep repeated "
        "pairs: cleaning duplicates: keep_all)",
        "items_with_text": int(catalog.frame["text"].notna().sum()),
    }
    unused = len(users.ids) - int(np.unique(seqs.user).size)
    if unused:
        meta["note"] = f"{unused} users of {prefix}.user2index have no rows"
    return RawLog(frame, name or prefix, catalog, (), meta, given_parts=seqs.part)


def _prefix(source: DataSource) -> str:
    found = [n[: -len(".train.inter")] for n in source.names() if n.endswith(".train.inter")]
    if len(found) != 1:
        raise DataError(
            f"{source.path}: expected one <dataset>.train.inter file, found {found}; pass dataset="
        )
    return found[0]


# --- reading ------------------------------------------------------------------------------------------


def _lines(source: DataSource, file: str, encoding: str) -> tuple[str, list[str]]:
    label = source.label(file)
    text = decode_text(source.read_bytes(file), label, encoding)  # bad bytes: line and column
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return label, [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def _fields(label: str, number: int, line: str, width: int, what: str) -> list[str]:
    fields = line.split("\t")
    if len(fields) != width:
        raise DataError(
            f"{label}:{number}: expected {width} TAB-separated fields ({what}), found {len(fields)}: "
            f"{short(line)!r}"
        )
    return fields


def _header(label: str, lines: list[str], names: tuple[str, ...]) -> list[int]:
    """Field positions of `names` in the header line."""
    header = lines[0].split("\t") if lines else []
    absent = [n for n in names if n not in header]
    if absent:
        raise DataError(
            f"{label}:1: the header {header} lacks {absent}; a RecBole atomic file starts with them"
        )
    return [header.index(n) for n in names]


@dataclass(frozen=True)
class _Index:
    """`raw id<TAB>index` lines: raw id per index (dense array) and which indices exist."""

    label: str
    ids: np.ndarray
    known: np.ndarray


def _read_index(source: DataSource, file: str, encoding: str) -> _Index:
    label, lines = _lines(source, file, encoding)
    raw: dict[int, str] = {}
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        key, value = _fields(label, number, line, 2, "raw id, index")
        if not _INDEX.fullmatch(value):
            raise DataError(
                f"{label}:{number}: column 2 (index) = {short(value, 40)!r} is not a non-negative integer "
                "written in ASCII digits without leading zeros"
            )
        if not key:
            raise DataError(f"{label}:{number}: column 1 (raw id) is empty")
        if key in seen:
            raise DataError(
                f"{label}:{number}: column 1 (raw id) {key!r} was given at line {seen[key]} already"
            )
        if int(value) in raw:
            raise DataError(
                f"{label}:{number}: column 2 (index) {value} was given to {raw[int(value)]!r} already"
            )
        seen[key] = number
        raw[int(value)] = key
    size = max(raw, default=-1) + 1
    ids = np.full(size, "", dtype=object)
    known = np.zeros(size, bool)
    for i, key in raw.items():
        ids[i], known[i] = key, True
    return _Index(label, ids, known)


@dataclass
class _Rows:
    """The rows of one `.inter` file, in file order."""

    label: str
    history_at: int
    """1-based field number of the history column, for messages."""
    user: list[int] = field(default_factory=list)
    history: list[list[int]] = field(default_factory=list)
    target: list[int] = field(default_factory=list)
    line: list[int] = field(default_factory=list)


def _read_inter(source: DataSource, file: str, users: _Index, items: _Index, encoding: str) -> _Rows:
    label, lines = _lines(source, file, encoding)
    iu, ih, it = _header(label, lines, (USER, HISTORY, TARGET))
    width = len(lines[0].split("\t"))
    header = lines[0].split("\t")
    out = _Rows(label, ih + 1)
    for number, line in enumerate(lines[1:], start=2):
        f = _fields(label, number, line, width, ", ".join(header))
        out.user.append(_id(f[iu], users, label, number, USER, iu))
        history = [t for t in f[ih].split(" ") if t]  # RecBole skips empty tokens too
        out.history.append([_id(t, items, label, number, HISTORY, ih, f[ih]) for t in history])
        out.target.append(_id(f[it], items, label, number, TARGET, it))
        out.line.append(number)
    return out


def _id(
    token: str, index: _Index, label: str, number: int, column: str, at: int, seq: str | None = None
) -> int:
    if not _INDEX.fullmatch(token):
        where = "" if seq is None else f" in {short(seq, 80)!r}"
        rule = "" if seq is None else "; a token_seq is item indices separated by spaces"
        raise DataError(
            f"{label}:{number}: column {at + 1} ({column}): {short(token, 40)!r}{where} is not a "
            f"non-negative integer written in ASCII digits without leading zeros{rule}"
        )
    value = int(token)
    if value >= index.known.size or not index.known[value]:
        raise DataError(
            f"{label}:{number}: column {at + 1} ({column}): index {value} is not in {index.label}"
        )
    return value


def _read_text(source: DataSource, file: str, encoding: str) -> ItemCatalog:
    label, lines = _lines(source, file, encoding)
    ii, it = _header(label, lines, (TEXT_ID, TEXT))
    width = len(lines[0].split("\t"))
    ids: list[str] = []
    texts: list[str | None] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines[1:], start=2):
        f = _fields(label, number, line, width, f"{TEXT_ID}, {TEXT}")
        if f[ii] in seen:
            raise DataError(
                f"{label}:{number}: column {ii + 1} ({TEXT_ID}) {f[ii]!r} has text at line {seen[f[ii]]}"
            )
        seen[f[ii]] = number
        ids.append(f[ii])
        texts.append(f[it].strip() or None)  # the published texts end in ". "
    frame = pd.DataFrame({"text": pd.Series(texts, dtype="str")})
    frame.index = pd.Index(ids, name="item", dtype="str")
    return ItemCatalog(frame, ("text",))


# --- rebuilding the sequences ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Events:
    """One event per sequence position, users in index order: indices, position, file, line, part."""

    user: np.ndarray
    item: np.ndarray
    position: np.ndarray
    file: np.ndarray
    line: np.ndarray
    part: np.ndarray


def _one_row_per_user(rows: _Rows, users: _Index) -> dict[int, int]:
    first: dict[int, int] = {}
    for r, u in enumerate(rows.user):
        if u in first:
            raise DataError(
                f"{rows.label}:{rows.line[r]}: second row of user {users.ids[u]!r} (index {u}; first at line "
                f"{rows.line[first[u]]}); valid and test hold one row per user"
            )
        first[u] = r
    return first


def _rebuild(rows: dict[str, _Rows], users: _Index, max_history: int) -> _Events:
    train, valid, test = rows["train"], rows["valid"], rows["test"]
    v_of, t_of = _one_row_per_user(valid, users), _one_row_per_user(test, users)
    for one, other, other_of in ((valid, test, t_of), (test, valid, v_of)):
        for r, u in enumerate(one.user):
            if u not in other_of:
                raise DataError(
                    f"{one.label}:{one.line[r]}: user {users.ids[u]!r} has no row in {other.label}"
                )
    by_user: dict[int, list[int]] = {u: [] for u in v_of}
    for r, u in enumerate(train.user):
        if u not in by_user:
            raise DataError(
                f"{train.label}:{train.line[r]}: user {users.ids[u]!r} has no row in {valid.label}"
            )
        by_user[u].append(r)
    cols: list[list[int]] = [[], [], [], [], [], []]
    for u in sorted(by_user):
        t_rows = by_user[u]
        if len(t_rows) > 1 and len(train.history[t_rows[0]]) >= len(train.history[t_rows[-1]]):
            t_rows = t_rows[::-1]  # the published order: longest history first
        chain = [(0, r) for r in t_rows] + [(1, v_of[u]), (2, t_of[u])]
        files = (train, valid, test)
        f0, r0 = chain[0]
        start = files[f0].history[r0]
        if len(start) >= max_history:
            raise DataError(
                f"{files[f0].label}:{files[f0].line[r0]}: the shortest history of user {users.ids[u]!r} has "
                f"{len(start)} items (max_history = {max_history}), so earlier items may be cut off and the "
                "sequence cannot be rebuilt"
            )
        seq = start + [files[f].target[r] for f, r in chain]
        for k, (f, r) in enumerate(chain):
            p = len(start) + k
            expected = seq[max(0, p - max_history) : p]
            found = files[f].history[r]
            if found != expected:
                raise DataError(
                    f"{files[f].label}:{files[f].line[r]}: column {files[f].history_at} ({HISTORY}) of user "
                    f"{users.ids[u]!r} does not match the sequence rebuilt from the user's rows: expected "
                    f"the last <= {max_history} of the {p} items before this target ({_tail(expected)}), "
                    f"found {_tail(found)}"
                )
        n = len(seq)
        cols[0] += [u] * n
        cols[1] += seq
        cols[2] += range(n)
        cols[3] += [f0] * len(start) + [f for f, _ in chain]
        cols[4] += [files[f0].line[r0]] * len(start) + [files[f].line[r] for f, r in chain]
        cols[5] += [0] * (n - 2) + [1, 2]
    user, item, position, file, line, part = (np.asarray(c, dtype=np.int64) for c in cols)
    return _Events(user, item, position, file.astype(np.int8), line, part.astype(np.int8))


def _tail(items: list[int], k: int = 6) -> str:
    shown = " ".join(map(str, items[-k:]))
    return f"{len(items)} items ending {shown}" if len(items) > k else f"[{shown}]"
