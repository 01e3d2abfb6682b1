"""Dataset loaders: every file format becomes a `RawLog` (typed rows with file:line provenance + catalog).

`load_dataset` is the one entry point the CLI and experiments use: it takes a registered name
(`ml-100k`, `amazon-beauty`, ...; see `registry.DATASETS`) or a path, and dispatches on what the path
holds. The format modules can also be used directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lmrec.data.loaders._source import DataSource, PathLike
from lmrec.data.loaders._text import check_encoding_name
from lmrec.data.loaders.amazon import load_amazon, load_amazon_metadata
from lmrec.data.loaders.movielens import ML100K_RATING_FILES, load_movielens, load_movielens_file
from lmrec.data.loaders.registry import DATASETS, DatasetEntry, find_entry
from lmrec.data.loaders.sequences import load_sequences
from lmrec.data.loaders.tabular import ColumnMapping, load_split_files, load_table
from lmrec.data.loaders.unisrec import load_unisrec
from lmrec.data.raw import RawLog
from lmrec.errors import DataError, DatasetNotFoundError

__all__ = [
    "DATASETS",
    "FORMATS",
    "ColumnMapping",
    "detect_format",
    "load_amazon",
    "load_amazon_metadata",
    "load_dataset",
    "load_movielens",
    "load_movielens_file",
    "load_sequences",
    "load_split_files",
    "load_table",
    "load_unisrec",
]

FORMATS = ("movielens", "amazon", "sequences", "user-item-lines", "tabular", "unisrec")
"""Values of `format=`: `user-item-lines` is `sequences` with exactly one item per line; `unisrec` is a
folder of UniSRec / RecBole atomic files (`<D>.train/valid/test.inter`, index files, `<D>.text`)."""
_MOVIELENS_MARKERS = ("u.data", "ratings.dat", "ratings.csv", "u.item", "movies.dat", "movies.csv")
_TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".parquet", ".pq")


def load_dataset(
    name_or_path: str | PathLike,
    *,
    path: PathLike | None = None,
    format: str | None = None,
    columns: ColumnMapping | Mapping[str, str | None] | None = None,
    verify: bool = True,
    download: bool = True,
    **options: Any,
) -> RawLog:
    """Load a registered dataset by name, or whatever dataset a path holds.

    * For a registered name, `path` is a local copy (folder, zip or file) that replaces the lookup in
      LMREC_DATA_HOME / cache / official download; see `lmrec.data.download.resolve_dataset`.
    * For anything else `name_or_path` (or `path`, with `name_or_path` then only naming the log) is read
      as a MovieLens folder/zip/fold file, Amazon JSON reviews, a sequence file or a table.
    * `format` forces one of FORMATS; `columns` maps user/item/rating/timestamp for tables (and implies
      `format="tabular"`; without it a table's columns must be named user, item[, rating, timestamp]).
    * `options` go to the format's loader (e.g. `sep`, `timestamp_format`, `item_text_from_reviews`);
      every loader takes `encoding`, whose name is checked here before anything is resolved or read.
    """
    if format is not None and format not in FORMATS:
        raise DataError(f"format must be one of {FORMATS}, not {format!r}")
    if "encoding" in options:
        check_encoding_name(options["encoding"])
    key = str(name_or_path)
    entry = find_entry(key)
    if entry is not None:
        return _load_entry(entry, path, format, columns, verify, download, options)
    location = Path(path) if path is not None else Path(key).expanduser()
    if not location.exists():
        if path is not None:
            raise DatasetNotFoundError(f"{location}: no such file or folder (given as the path of {key!r})")
        raise DatasetNotFoundError(
            f"{key!r} is neither a registered dataset ({', '.join(sorted(DATASETS))}) nor an existing path"
        )
    name = key if path is not None else None
    if format is None:
        format = "tabular" if columns is not None else detect_format(location)
    return _load_path(location, format, columns, name, None, options)


def _load_entry(
    entry: DatasetEntry,
    path: PathLike | None,
    format: str | None,
    columns: Any,
    verify: bool,
    download: bool,
    options: dict[str, Any],
) -> RawLog:
    # Imported here: download imports this package's registry, so a module-level import would cycle.
    from lmrec.data.download import resolve_dataset

    location = resolve_dataset(entry, path, verify=verify, download=download)
    kind = format or entry.kind
    file = entry.load_file
    if file is not None and DataSource(location).kind == "file":
        file = None  # the dataset was given as its one file, maybe under another name
    log = _load_path(location, kind, columns, entry.name, file, {**entry.options, **options})
    log.meta.setdefault("dataset", entry.name)
    log.meta["license"] = entry.license
    if entry.url:
        log.meta["official_url"] = entry.url
    return log


def _load_path(
    location: Path, kind: str, columns: Any, name: str | None, file: str | None, options: dict[str, Any]
) -> RawLog:
    if kind == "movielens":
        if location.is_file() and location.name in ML100K_RATING_FILES and location.name != "u.data":
            return load_movielens_file(location.parent, location.name, **options)
        return load_movielens(location, name=name, **options)
    if kind == "amazon":
        return load_amazon(location, file=file, name=name, **options)
    if kind in ("sequences", "user-item-lines"):
        if kind == "user-item-lines":
            options = {**options, "layout": "pairs"}
        return load_sequences(location, file=file, name=name, **options)
    if kind == "unisrec":
        return load_unisrec(location, name=name, **options)
    if kind == "tabular":
        return load_table(location, columns, file=file, name=name, **options)
    raise DataError(f"format must be one of {FORMATS}, not {kind!r}")


def detect_format(path: PathLike) -> str:
    """Which loader fits `path`: by the files of a folder/zip, or by a file's name."""
    path = Path(path)
    source = DataSource(path)
    if source.kind == "file":
        name = path.name.lower()
        suffixes = [s.lower() for s in path.suffixes]
        if path.name in ML100K_RATING_FILES or path.name in ("ratings.dat", "ratings.csv"):
            return "movielens"
        if name.endswith((".json", ".json.gz", ".jsonl", ".jsonl.gz")):
            return "amazon"
        if name.endswith((".txt", ".txt.gz")):
            return "sequences"
        if any(s in _TABLE_SUFFIXES for s in suffixes):
            return "tabular"
        raise DataError(f"{path}: cannot tell the format from the name; pass format= (one of {FORMATS})")
    names = source.names()
    if any(n.endswith(".train.inter") for n in names):
        return "unisrec"
    if any(source.has(m) for m in _MOVIELENS_MARKERS):
        return "movielens"
    if any(n.lower().endswith((".json", ".json.gz", ".jsonl", ".jsonl.gz")) for n in names):
        return "amazon"
    if any(n.lower().endswith((".txt", ".txt.gz")) for n in names):
        return "sequences"
    if any(s.lower() in _TABLE_SUFFIXES for n in names for s in Path(n).suffixes):
        return "tabular"
    raise DataError(f"{path}: no known dataset files among {names}; pass format= (one of {FORMATS})")
