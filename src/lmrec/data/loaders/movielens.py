"""MovieLens in all its layouts, from a folder or straight from the official zip.

* 100K: `u.data` (tab-separated) and the official folds `u1.base` ... `ub.test`; `u.item` (`|`, latin-1)
  with 19 genre flags named in `u.genre`.
* 1M / 10M: `ratings.dat`, `movies.dat` (`::`; 1M is latin-1, 10M UTF-8), `tags.dat` (10M).
* 20M / 25M / 32M / latest: `ratings.csv`, `movies.csv`, optional `tags.csv`.

The variant is detected from the files present. Item text (title, genres, tags) goes to an `ItemCatalog`.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from lmrec.data.catalog import ItemCatalog
from lmrec.data.loaders._delimited import read_delimited
from lmrec.data.loaders._source import (
    NOT_AN_INTEGER_ID,
    DataSource,
    PathLike,
    Unparsed,
    catalog_problem_meta,
    int_ids,
    raw_frame,
)
from lmrec.data.loaders._text import check_encoding_name
from lmrec.data.loaders.registry import GROUPLENS_BENCHMARK_TERMS, GROUPLENS_LATEST_TERMS, find_entry
from lmrec.data.raw import Problem, RawLog
from lmrec.errors import DataError

ML100K_RATING_FILES = ("u.data", *(f"u{k}.{p}" for k in "12345ab" for p in ("base", "test")))
"""Files in the 100K four-column format: the full log and the official folds."""
_FOLD_NAME = re.compile(r"^(u\.data|u[1-5ab]\.(base|test))$")
GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
"""Genre flag order of the official `u.genre`; used only if a copy lacks that file (recorded in meta)."""
_NO_GENRE = {"unknown", "(no genres listed)"}
"""Placeholders that mean "no genre"; they become NA rather than text."""
_RATINGS_100K = ["user", "item", "rating", "timestamp"]
_RATING_FILES = ("u.data", "ratings.dat", "ratings.csv")
_CATALOG_FILES = ("u.item", "movies.dat", "movies.csv")
_Ratings = tuple[pd.DataFrame, pd.DataFrame, list[Problem]]
"""A ratings file read: the RawLog frame, its bad_values table, the lines that could not be parsed."""


def detect_variant(source: DataSource) -> str:
    """`100k`, `dat` (1M/10M) or `csv` (20M and later), from the files present."""
    if source.has("u.data"):
        return "100k"
    if source.has("ratings.dat"):
        return "dat"
    if source.has("ratings.csv"):
        return "csv"
    folds = [f for f in ML100K_RATING_FILES if source.has(f)]
    if folds:
        raise DataError(
            f"{source.path}: MovieLens-100K fold files {folds} but no u.data; load one fold with "
            f"load_movielens_file(path, {folds[0]!r})"
        )
    partial = [f for f in (*_CATALOG_FILES, "users.dat", "tags.csv", "tags.dat") if source.has(f)]
    if partial:
        needed = "ratings.dat" if partial[-1].endswith(".dat") else "ratings.csv"
        needed = "u.data" if partial[-1] == "u.item" else needed
        raise DataError(
            f"{source.path}: MovieLens files {partial} but no ratings file ({needed}); the copy is "
            "incomplete. Get the complete archive from https://grouplens.org/datasets/movielens/ "
            f"(files present: {source.names()})"
        )
    raise DataError(
        f"{source.path}: not a MovieLens dataset (no u.data, ratings.dat or ratings.csv among "
        f"{source.names()})"
    )


def load_movielens(
    path: PathLike, *, name: str | None = None, catalog: bool = True, encoding: str = "utf-8"
) -> RawLog:
    """Load a MovieLens folder or zip (any release); `path` may also be its ratings file.

    The frame holds every rating with its file and line; the catalog holds title, genres and, where the
    release has tags, a `tags` column (distinct tags, most frequent first). `encoding` is the ratings
    file's (catalog files have their release's own); ids must be integers that fit int64, anything else
    is NA with its text in `bad_values`.
    """
    encoding = check_encoding_name(encoding)
    path = Path(path)
    if path.is_file() and path.name in (*_RATING_FILES, *ML100K_RATING_FILES):
        if _FOLD_NAME.match(path.name) and path.name != "u.data":
            return load_movielens_file(path.parent, path.name, catalog=catalog, encoding=encoding)
        path = path.parent
    source = DataSource(path)
    variant = detect_variant(source)
    if variant == "100k":
        log = _read_100k_ratings(source, "u.data", encoding)
    elif variant == "dat":
        log = _read_dat_ratings(source, encoding)
    else:
        log = _read_csv_ratings(source, encoding)
    frame, bad, problems = log
    cat, cat_problems, cat_meta = _catalog(source, variant) if catalog else (None, [], {})
    meta = _meta(source, variant, "u.data" if variant == "100k" else f"ratings.{variant}")
    meta.update(cat_meta)
    meta.update(catalog_problem_meta(cat_problems))
    return RawLog(frame, name or _default_name(path), cat, tuple(problems), meta, bad_values=bad)


def load_movielens_file(
    folder_or_zip: PathLike, filename: str, *, catalog: bool = True, encoding: str = "utf-8"
) -> RawLog:
    """One file of MovieLens 100K (u.data, u1.base ... u5.test, ua/ub.base/test) as its own log.

    `folder_or_zip` is an ml-100k folder or zip, or a registered dataset name (resolved like
    `load_dataset` does: LMREC_DATA_HOME, cache, download). Used for the official rating-prediction folds.
    """
    encoding = check_encoding_name(encoding)
    location = Path(folder_or_zip)
    if not location.exists() and find_entry(str(folder_or_zip)) is not None:
        # Imported here: download imports this package's registry, so a module-level import would cycle.
        from lmrec.data.download import resolve_dataset

        location = resolve_dataset(str(folder_or_zip))
    source = DataSource(location)
    if not _FOLD_NAME.match(filename):
        raise DataError(
            f"{filename!r} is not a MovieLens-100K rating file; expected one of {ML100K_RATING_FILES}"
        )
    if not source.has(filename):
        present = [f for f in ML100K_RATING_FILES if source.has(f)]
        raise DataError(f"{source.path}: no {filename!r}; MovieLens-100K rating files present: {present}")
    frame, bad, problems = _read_100k_ratings(source, filename, encoding)
    cat, cat_problems, cat_meta = _catalog(source, "100k") if catalog else (None, [], {})
    meta = _meta(source, "100k", filename)
    meta.update(cat_meta)
    meta.update(catalog_problem_meta(cat_problems))
    name = f"{_default_name(location)}/{filename}"
    return RawLog(frame, name, cat, tuple(problems), meta, bad_values=bad)


# --- ratings --------------------------------------------------------------------------------------


def _read_100k_ratings(source: DataSource, filename: str, encoding: str = "utf-8") -> _Ratings:
    d = read_delimited(
        source, filename, sep="\t", header=False, names=_RATINGS_100K, quoting=False, encoding=encoding,
        exact_columns=_RATINGS_100K[:2],
    )  # fmt: skip
    return (*_frame(source, filename, d.frame, d.lines, _RATINGS_100K), d.problems)


def _read_dat_ratings(source: DataSource, encoding: str = "utf-8") -> _Ratings:
    d = read_delimited(
        source, "ratings.dat", sep="::", header=False, names=_RATINGS_100K, quoting=False, encoding=encoding,
        exact_columns=_RATINGS_100K[:2],
    )  # fmt: skip
    return (*_frame(source, "ratings.dat", d.frame, d.lines, _RATINGS_100K), d.problems)


def _read_csv_ratings(source: DataSource, encoding: str = "utf-8") -> _Ratings:
    cols = ["userId", "movieId", "rating", "timestamp"]
    d = read_delimited(
        source, "ratings.csv", sep=",", header=True, usecols=cols, encoding=encoding, exact_columns=cols[:2]
    )
    return (*_frame(source, "ratings.csv", d.frame, d.lines, cols), d.problems)


def _frame(
    source: DataSource, filename: str, df: pd.DataFrame, lines: np.ndarray, cols: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The RawLog frame and its `bad_values` table."""
    user, item, rating, ts = cols
    unparsed = Unparsed()
    ids = {c: int_ids(df[c]) for c in (user, item)}
    unparsed.check("user", df[user], ids[user], NOT_AN_INTEGER_ID)
    unparsed.check("item", df[item], ids[item], NOT_AN_INTEGER_ID)
    frame = raw_frame(ids[user], ids[item], df[rating], df[ts], source.label(filename), lines, unparsed)
    return frame, unparsed.table()


# --- catalog --------------------------------------------------------------------------------------


def _catalog(source: DataSource, variant: str) -> tuple[ItemCatalog | None, list[Problem], dict[str, object]]:
    meta: dict[str, object] = {}
    if variant == "100k":
        if not source.has("u.item"):
            return None, [], {"catalog": "absent (no u.item)"}
        items, problems, meta = _items_100k(source)
    elif variant == "dat":
        if not source.has("movies.dat"):
            return None, [], {"catalog": "absent (no movies.dat)"}
        d = read_delimited(
            source,
            "movies.dat",
            sep="::",
            header=False,
            names=["item", "title", "genres"],
            quoting=False,
            encoding="auto",
            exact_columns=["item"],
        )
        items, problems = _items(source, "movies.dat", d.frame, d.lines, "item")
        problems = d.problems + problems
    else:
        if not source.has("movies.csv"):
            return None, [], {"catalog": "absent (no movies.csv)"}
        d = read_delimited(
            source, "movies.csv", sep=",", header=True, usecols=["movieId", "title", "genres"],
            exact_columns=["movieId"],
        )  # fmt: skip
        items, problems = _items(source, "movies.csv", d.frame, d.lines, "movieId")
        problems = d.problems + problems
    items["genres"] = items["genres"].map(_genre_text, na_action="ignore")
    text = ["title", "genres"]
    tags_file = source.find("tags.csv") if variant == "csv" else source.find("tags.dat")
    if tags_file is not None:
        tags, tag_problems = _tags(source, tags_file)
        items = items.join(tags, how="left")
        problems += tag_problems
        text.append("tags")
        meta["tags"] = (
            f"{tags_file}: distinct tags per movie, most frequent first (all time: may post-date events)"
        )
    meta["catalog"] = f"{len(items)} movies"
    return ItemCatalog(items, tuple(text)), problems, meta


def _items_100k(source: DataSource) -> tuple[pd.DataFrame, list[Problem], dict[str, object]]:
    meta: dict[str, object] = {}
    if source.has("u.genre"):
        text = source.read_bytes("u.genre").decode("latin-1")
        pairs = [ln.rsplit("|", 1) for ln in text.splitlines() if ln.strip()]
        genres = [g for g, _ in sorted(pairs, key=lambda p: int(p[1]))]
    else:
        genres = list(GENRES_100K)
        meta["genre_names"] = "official u.genre order (u.genre absent)"
    names = ["item", "title", "release_date", "video_release_date", "imdb_url", *genres]
    d = read_delimited(
        source, "u.item", sep="|", header=False, names=names, quoting=False, encoding="latin-1",
        exact_columns=["item"],
    )  # fmt: skip
    flags = d.frame[genres].apply(pd.to_numeric, errors="coerce").fillna(0).to_numpy() == 1
    labels = np.asarray(genres, dtype=object)
    d.frame["genres"] = ["|".join(labels[row]) or np.nan for row in flags]
    items, problems = _items(source, "u.item", d.frame, d.lines, "item", extra=["release_date", "imdb_url"])
    return items, d.problems + problems, meta


def _items(
    source: DataSource,
    filename: str,
    df: pd.DataFrame,
    lines: np.ndarray,
    id_col: str,
    extra: list[str] | None = None,
) -> tuple[pd.DataFrame, list[Problem]]:
    """Catalog rows indexed by movie id; a missing or repeated id is a Problem (the first row wins)."""
    label = source.label(filename)
    cols = ["title", "genres", *(extra or [])]
    out = pd.DataFrame({c: df[c].astype("str").str.strip().replace("", np.nan) for c in cols})
    ids = int_ids(df[id_col])
    missing = ids.isna().to_numpy()
    dup = ids.duplicated(keep="first").to_numpy() & ~missing
    raw = df[id_col].astype("str").to_numpy()
    why = np.where(missing, "missing or non-integer movie id", "repeated movie id; the first row is kept")
    problems = [
        Problem(label, int(lines[i]), id_col, str(raw[i]), str(why[i])) for i in np.flatnonzero(missing | dup)
    ]
    keep = ~missing & ~dup
    out = out[keep]
    out.index = pd.Index(ids[keep].to_numpy().astype(np.int64), name="item")
    return out, problems


def _genre_text(value: str) -> str | float:
    kept = [g for g in str(value).split("|") if g and g not in _NO_GENRE]
    return "|".join(kept) if kept else np.nan


def _tags(source: DataSource, filename: str) -> tuple[pd.DataFrame, list[Problem]]:
    if filename.endswith(".dat"):
        d = read_delimited(
            source,
            filename,
            sep="::",
            header=False,
            names=["user", "item", "tag", "timestamp"],
            quoting=False,
            encoding="auto",
            exact_columns=["item"],
        )
        item_col = "item"
    else:
        d = read_delimited(
            source, filename, sep=",", header=True, usecols=["movieId", "tag"], exact_columns=["movieId"]
        )
        item_col = "movieId"
    tags = pd.DataFrame(
        {
            "item": int_ids(d.frame[item_col]).to_numpy(),
            "tag": d.frame["tag"].astype("str").str.strip(),
            "order": np.arange(len(d.frame)),
        }
    )
    tags = tags[tags["item"].notna() & tags["tag"].notna() & (tags["tag"].str.len() > 0)]
    tags["key"] = tags["tag"].str.lower()
    # Count each tag case-insensitively, keep its first spelling, order by frequency then first use.
    agg = tags.groupby(["item", "key"], sort=False).agg(
        tag=("tag", "first"), n=("tag", "size"), first=("order", "min")
    )
    agg = agg.reset_index().sort_values(["item", "n", "first"], ascending=[True, False, True])
    joined = agg.groupby("item", sort=True)["tag"].agg(", ".join).rename("tags")
    joined.index = joined.index.astype(np.int64)
    return joined.to_frame(), d.problems


# --- meta -----------------------------------------------------------------------------------------


def _meta(source: DataSource, variant: str, ratings_file: str) -> dict[str, object]:
    release = {"100k": "ml-100k", "csv": "csv (20M and later)"}.get(variant, "")
    if variant == "dat":
        release = (
            "ml-1m" if source.has("users.dat") else "ml-10m" if source.has("tags.dat") else "1M/10M layout"
        )
    latest = variant == "csv" and "latest" in source.path.name
    return {
        "source": source.label(ratings_file),
        "format": f"movielens-{variant}",
        "release": release,
        "license": GROUPLENS_LATEST_TERMS if latest else GROUPLENS_BENCHMARK_TERMS,
        "timestamp_kind": "unix",
        "explicit": True,
    }


def _default_name(path: Path) -> str:
    return path.stem if path.suffix == ".zip" else path.name
