"""Amazon review data (UCSD 2014 and 2018 releases): JSON-lines reviews and item metadata.

Reviews give the interactions (reviewerID, asin, overall, unixReviewTime). Metadata gives item text:
title, brand, categories, features, description, with HTML tags stripped, entities unescaped and lists
joined. 2018 metadata is strict JSON; 2014 metadata is Python-literal lines, parsed with
`ast.literal_eval` when `json.loads` fails.

Files are parsed by pyarrow's multi-threaded JSON reader when every line is well formed; otherwise (or
for the Python-literal format) line by line, so that each malformed line becomes a `Problem` with its
line number instead of aborting the load. Malformed metadata lines are reported in
`meta["catalog_problems"]`, not in `RawLog.problems` (which counts unparsed interaction lines).
"""

from __future__ import annotations

import ast
import html
import json
import re
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from lmrec.data.catalog import ItemCatalog
from lmrec.data.loaders._source import (
    DataSource,
    PathLike,
    Unparsed,
    as_source,
    catalog_problem_meta,
    raw_frame,
    short,
    str_ids,
)
from lmrec.data.loaders._text import BOM, check_encoding_name, check_text, decode_line, is_utf8, strip_bom
from lmrec.data.loaders.registry import AMAZON_2014_TERMS, AMAZON_2018_TERMS
from lmrec.data.raw import Problem, RawLog
from lmrec.errors import DataError

_REVIEW_FIELDS = {"reviewerID": "str", "asin": "str", "overall": "float", "unixReviewTime": "int"}
_META_FIELDS = {
    "asin": "str", "title": "str", "brand": "str", "category": "list", "categories": "list",
    "feature": "list", "description": "list",
}  # fmt: skip
"""2018 types; a 2014 file (Python literals, string descriptions, nested categories) fails the fast
reader and is read line by line, where values keep whatever type they have."""
_TAG = re.compile(r"<[A-Za-z/!][^<>]*(?:>|$)")
"""An HTML tag, or a tag cut off at the end of the text (2018 titles hold such fragments)."""
_SPACE = re.compile(r"\s+")
_JSON_SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz")
_BLOCK = 1 << 23
_SOLID = np.ones(256, dtype=bool)
_SOLID[[9, 10, 11, 12, 13, 32]] = False


def load_amazon(
    path: PathLike,
    *,
    file: str | None = None,
    meta: PathLike | None = None,
    item_text_from_reviews: bool = False,
    review_text_k: int = 5,
    review_text_field: str = "summary",
    catalog_items: Literal["log", "all"] = "log",
    name: str | None = None,
    encoding: str = "utf-8",
) -> RawLog:
    """Load Amazon reviews from a `.json(.gz)` file, or a folder/zip holding reviews and `meta_*` files.

    * `meta`: metadata file; in a folder a single `meta_*.json(.gz)` is found automatically.
    * `item_text_from_reviews`: add a `reviews` text column made of the first `review_text_k`
      `review_text_field` values (by time) of each item; for categories without metadata. Review text
      written after a test event is future information: a content model using it can leak.
    * `catalog_items`: "log" keeps metadata only for items that occur in the reviews; "all" keeps all.
    * `encoding`: of the review and metadata files (JSON is UTF-8; a byte invalid in it is an error naming
      line and column; an unknown name is an error before anything is read).

    Ids (`reviewerID`, `asin`) must be JSON strings or integers (kept as their decimal text); an object,
    list, boolean or float there is an error naming file, line and field.
    """
    if review_text_k < 1:
        raise ValueError(f"review_text_k must be >= 1, not {review_text_k}")
    encoding = check_encoding_name(encoding)
    source = DataSource(path)
    file = file or _reviews_file(source)
    label = source.label(file)
    fields = dict(_REVIEW_FIELDS)
    if item_text_from_reviews:
        fields[review_text_field] = "str"
    df, lines, problems = read_json_lines(source, file, fields, encoding, id_fields=("reviewerID", "asin"))
    item = str_ids(df["asin"])
    unparsed = Unparsed()
    frame = raw_frame(
        str_ids(df["reviewerID"]), item, df["overall"], df["unixReviewTime"], label, lines, unparsed
    )
    release = _release(source, file)
    info: dict[str, Any] = {
        "source": label,
        "format": "amazon-reviews",
        "release": release,
        "license": AMAZON_2018_TERMS if release == "2018" else AMAZON_2014_TERMS,
        "timestamp_kind": "unix",
        "explicit": True,
    }
    catalog_frame: pd.DataFrame | None = None
    text_fields: list[str] = []
    meta_source, meta_file = _meta_file(source, meta)
    if meta_file is not None:
        cat, meta_problems, meta_info = load_amazon_metadata(meta_source, file=meta_file, encoding=encoding)
        info.update(meta_info)
        info.update(catalog_problem_meta(meta_problems))
        catalog_frame, text_fields = cat.frame, list(cat.text_fields)
        if catalog_items == "log":
            catalog_frame = catalog_frame[catalog_frame.index.isin(item.dropna().unique())]
            info["metadata_items_in_log"] = len(catalog_frame)
    if item_text_from_reviews:
        texts = _review_text(item, frame["timestamp"], df[review_text_field], review_text_k)
        catalog_frame = texts.to_frame() if catalog_frame is None else catalog_frame.join(texts, how="outer")
        text_fields.append("reviews")
        info["reviews_text"] = (
            f"first {review_text_k} '{review_text_field}' values per item by time; includes text written "
            "after later test events, so content models using it can see the future"
        )
    catalog = ItemCatalog(catalog_frame, tuple(text_fields)) if catalog_frame is not None else None
    name = name or _default_name(source, file)
    return RawLog(frame, name, catalog, tuple(problems), info, bad_values=unparsed.table())


def load_amazon_metadata(
    path: PathLike | DataSource, *, file: str | None = None, encoding: str = "utf-8"
) -> tuple[ItemCatalog, list[Problem], dict[str, Any]]:
    """Item metadata (2014 or 2018 layout) as a catalog indexed by asin; the first record of an asin wins.

    `encoding` is the file's (default UTF-8, byte-order mark skipped; see `load_amazon`)."""
    encoding = check_encoding_name(encoding)
    source = as_source(path)
    file = file or (source.names()[0] if source.kind == "file" else _only_meta(source))
    df, lines, problems = read_json_lines(source, file, _META_FIELDS, encoding, id_fields=("asin",))
    label = source.label(file)
    asin = str_ids(df["asin"])
    missing = asin.isna().to_numpy()
    problems += [Problem(label, int(ln), "asin", "", "metadata record without asin") for ln in lines[missing]]
    dup = asin.duplicated(keep="first").to_numpy() & ~missing
    keep = ~missing & ~dup
    # 2018 `category` is one path (a flat list); 2014 `categories` is a list of paths.
    columns = {
        "title": [_text(v) for v in df["title"][keep]],
        "brand": [_text(v) for v in df["brand"][keep]],
        "categories": [
            _path(a) if _present(a) else _text(b)
            for a, b in zip(df["category"][keep], df["categories"][keep], strict=True)
        ],
        "features": [_text(v) for v in df["feature"][keep]],
        "description": [_text(v, sep=" ") for v in df["description"][keep]],
    }
    frame = pd.DataFrame({k: pd.Series(v, dtype="str") for k, v in columns.items()})
    frame.index = pd.Index(asin[keep].to_numpy(), name="item", dtype="str")
    text_fields = tuple(c for c in frame.columns if frame[c].notna().any())
    info = {
        "metadata_source": label,
        "metadata_lines": len(df),
        "metadata_items": int(keep.sum()),
        "metadata_duplicates": f"{int(dup.sum())} later records of an already seen asin were ignored "
        "(the first record of each asin is kept)",
    }
    return ItemCatalog(frame, text_fields), problems, info


# --- JSON lines -----------------------------------------------------------------------------------


def read_json_lines(
    source: DataSource,
    file: str,
    fields: dict[str, str],
    encoding: str = "utf-8",
    id_fields: tuple[str, ...] = (),
) -> tuple[pd.DataFrame, np.ndarray, list[Problem]]:
    """Columns `fields` of a JSON-lines file (missing keys -> NA), 1-based lines, malformed lines.

    A byte invalid in `encoding`, a NUL byte or a lone carriage return is an error naming line and
    column, as is an `id_fields` value that is not a string or an integer; an empty file is an error.
    """
    encoding = check_encoding_name(encoding)
    nonblank, bom = _nonblank_lines(source, file, encoding)
    if nonblank.size == 0:
        raise DataError(f"{source.label(file)}: line 1: the file is empty or holds only blank lines")
    fast = None if bom or not is_utf8(encoding) else _read_arrow(source, file, fields)
    if fast is not None and len(fast) == nonblank.size and _ids_ok(fast, id_fields):
        return fast, nonblank, []
    return _read_python(source, file, fields, encoding, id_fields)


def _ids_ok(frame: pd.DataFrame, id_fields: tuple[str, ...]) -> bool:
    """pyarrow reads a JSON string into a string column only, so a string column holds only JSON strings."""
    return all(pd.api.types.is_string_dtype(frame[f].dtype) or frame[f].isna().all() for f in id_fields)


def _nonblank_lines(source: DataSource, file: str, encoding: str = "utf-8") -> tuple[np.ndarray, bool]:
    """1-based numbers of lines that hold anything but whitespace (pyarrow skips the others), and whether
    the file starts with a UTF-8 byte-order mark; checks every byte (`_text.check_text`) on the way."""
    out, base, carry = [], 0, b""
    label = source.label(file)
    bom = False
    with source.open(file) as fh:
        while True:
            block = fh.read(_BLOCK)
            buf = carry + block
            if block:
                cut = buf.rfind(b"\n") + 1
                buf, carry = buf[:cut], buf[cut:]
            if base == 0 and buf.startswith(BOM) and is_utf8(encoding):
                bom, buf = True, b" " * len(BOM) + buf[len(BOM) :]
            check_text(buf, label, encoding, base + 1)
            arr = np.frombuffer(buf, dtype=np.uint8)
            if arr.size:
                ends = np.flatnonzero(arr == 10)
                if not block and arr[-1] != 10:
                    ends = np.append(ends, arr.size)
                solid = np.cumsum(_SOLID[arr], dtype=np.int64)
                before = np.concatenate(([0], solid[ends[:-1]])) if ends.size else np.zeros(0, np.int64)
                upto = solid[np.minimum(ends, arr.size - 1)]
                out.append(np.flatnonzero(upto - before > 0) + base + 1)
                base += ends.size
            if not block:
                break
    return (np.concatenate(out) if out else np.zeros(0, np.int64)), bom


def _read_arrow(source: DataSource, file: str, fields: dict[str, str]) -> pd.DataFrame | None:
    """pyarrow's JSON reader with an explicit schema; None when any line is malformed or mistyped."""
    import pyarrow as pa
    import pyarrow.json as pj

    types = {"str": pa.string(), "float": pa.float64(), "int": pa.int64(), "list": pa.list_(pa.string())}
    schema = pa.schema([(k, types[v]) for k, v in fields.items()])
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    try:
        with source.open(file) as fh:
            table = pj.read_json(fh, read_options=pj.ReadOptions(block_size=1 << 24), parse_options=options)
    except pa.ArrowException:  # any line it cannot read: the line-by-line reader names it
        return None
    return table.to_pandas()


def _read_python(
    source: DataSource,
    file: str,
    fields: dict[str, str],
    encoding: str = "utf-8",
    id_fields: tuple[str, ...] = (),
) -> tuple[pd.DataFrame, np.ndarray, list[Problem]]:
    label = source.label(file)
    values: dict[str, list[Any]] = {k: [] for k in fields}
    lines: list[int] = []
    problems: list[Problem] = []
    with source.open(file) as fh:
        for number, raw in enumerate(fh, start=1):
            if number == 1:
                raw = strip_bom(raw, encoding)
            text = decode_line(raw, label, number, encoding).strip()
            if not text:
                continue
            record = _parse(text)
            if not isinstance(record, dict):
                reason = record if isinstance(record, str) else "not a JSON object"
                problems.append(Problem(label, number, "(json)", short(text), reason))
                continue
            for k in id_fields:
                _check_id(record.get(k), label, number, k)
            for k, out in values.items():
                out.append(record.get(k))
            lines.append(number)
    frame = pd.DataFrame({k: _column(v, fields[k]) for k, v in values.items()})
    return frame, np.asarray(lines, dtype=np.int64), problems


def _check_id(value: Any, label: str, line: int, key: str) -> None:
    """An id is a string or an integer; anything else would become made-up text such as "{'x': 1}"."""
    if value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return
    kind = {bool: "a boolean", float: "a non-integer number", dict: "an object", list: "a list"}.get(
        type(value), type(value).__name__
    )
    raise DataError(
        f"{label}: line {line}, field {key!r}: {short(repr(value), 80)} is {kind}, not an id "
        "(ids are strings or integers)"
    )


def _parse(text: str) -> Any:
    """The record, or an error message (str) when neither JSON nor a Python literal."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        error = f"malformed JSON: {exc.msg} at column {exc.colno}"
    try:
        record = ast.literal_eval(text)  # 2014 metadata is written as Python dict literals
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return error
    return record if isinstance(record, dict) else "not a JSON object"


def _column(values: list[Any], kind: str) -> pd.Series:
    if kind in ("float", "int"):
        # Kept as read, so that `raw_frame` can report a value such as "five" by its text. JSON values that
        # are not numbers or strings (true, lists, objects) become their JSON text: pandas would read
        # true as 1 and cannot show a list.
        return pd.Series([_scalar(v) for v in values], dtype=object)
    if kind == "str":
        return pd.Series([None if v is None else str(v) for v in values], dtype="str")
    return pd.Series(values, dtype=object)


def _scalar(value: Any) -> Any:
    """A number or string as is; any other value as its JSON text (Python repr if it has none)."""
    if (
        value is None
        or isinstance(value, str)
        or (isinstance(value, int | float) and not isinstance(value, bool))
    ):
        return value
    try:
        return json.dumps(value)
    except (TypeError, ValueError):  # Python-literal lines can hold sets, tuples as keys, bytes
        return repr(value)


# --- text -----------------------------------------------------------------------------------------


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value))


def _text(value: Any, sep: str = "; ") -> str | None:
    """Clean text of a metadata value: strings cleaned, lists joined by `sep`, nested lists as paths."""
    if not _present(value):
        return None
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list | tuple | np.ndarray):
        nested = any(isinstance(v, list | tuple | np.ndarray) for v in value)
        parts = [_path(v) if nested else _text(v) for v in value]
        return sep.join(p for p in parts if p) or None
    return clean_text(str(value))


def _path(value: Any) -> str | None:
    if isinstance(value, list | tuple | np.ndarray):
        parts = [clean_text(str(v)) for v in value]
        return " > ".join(p for p in parts if p) or None
    return _text(value)


def clean_text(text: str) -> str | None:
    """Strip HTML tags (also a tag cut off at the end), unescape entities, collapse white space."""
    text = _TAG.sub(" ", text)
    text = _TAG.sub(" ", html.unescape(text))  # entities can hide markup: "&lt;br&gt;"
    text = _SPACE.sub(" ", text).strip()
    return text or None


def _review_text(item: pd.Series, timestamp: pd.Series, text: pd.Series, k: int) -> pd.Series:
    frame = pd.DataFrame({"item": item.to_numpy(), "t": timestamp.to_numpy(), "text": text.to_numpy()})
    frame["order"] = np.arange(len(frame))
    frame = frame[frame["item"].notna() & frame["text"].notna()]
    frame = frame.sort_values(["item", "t", "order"], kind="stable")
    first = frame.groupby("item", sort=True).head(k)
    cleaned = first.assign(text=[clean_text(str(t)) for t in first["text"]]).dropna(subset=["text"])
    joined = cleaned.groupby("item", sort=True)["text"].agg(" | ".join).rename("reviews")
    joined.index = joined.index.astype("str").rename("item")
    return joined.astype("str")


# --- files ----------------------------------------------------------------------------------------


def _is_json(name: str) -> bool:
    return name.lower().endswith(_JSON_SUFFIXES)


def _reviews_file(source: DataSource) -> str:
    if source.kind == "file":
        return source.names()[0]
    reviews = [n for n in source.names() if _is_json(n) and not n.startswith("meta_")]
    if len(reviews) != 1:
        raise DataError(
            f"{source.path}: expected exactly one review file (*.json[.gz], not meta_*), "
            f"found {reviews}; name one with file="
        )
    return reviews[0]


def _meta_file(source: DataSource, meta: PathLike | None) -> tuple[DataSource, str | None]:
    if meta is not None:
        meta_source = DataSource(meta)
        return meta_source, meta_source.names()[0] if meta_source.kind == "file" else _only_meta(meta_source)
    if source.kind == "file":
        return source, None
    found = [n for n in source.names() if _is_json(n) and n.startswith("meta_")]
    if len(found) > 1:
        raise DataError(f"{source.path}: several metadata files {found}; pass meta=")
    return source, found[0] if found else None


def _only_meta(source: DataSource) -> str:
    found = [n for n in source.names() if _is_json(n) and n.startswith("meta_")]
    if len(found) != 1:
        raise DataError(f"{source.path}: expected one meta_*.json[.gz] file, found {found}")
    return found[0]


def _release(source: DataSource, file: str) -> str:
    """'2014' or '2018', from the keys of the first record (2014 has `helpful`, 2018 `vote`/`verified`)."""
    with source.open(file) as fh:
        first = fh.readline().decode("utf-8", errors="replace").removeprefix("\ufeff")
    record = _parse(first.strip()) if first.strip() else None
    if isinstance(record, dict):
        if "helpful" in record:
            return "2014"
        if "verified" in record or "vote" in record or "style" in record:
            return "2018"
    return "unknown"


def _default_name(source: DataSource, file: str) -> str:
    if source.kind == "folder":
        return source.path.name
    base = Path(file).name
    for suffix in _JSON_SUFFIXES:
        if base.lower().endswith(suffix):
            return base[: -len(suffix)]
    return base
