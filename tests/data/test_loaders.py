"""Loaders: real staged datasets (counts from shared/data/README.md) and small hand-made files."""

from __future__ import annotations

import gzip
import json
import re
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmrec.data.loaders import (
    ColumnMapping,
    detect_format,
    load_amazon,
    load_amazon_metadata,
    load_dataset,
    load_movielens,
    load_movielens_file,
    load_sequences,
    load_split_files,
    load_table,
)
from lmrec.data.loaders.amazon import clean_text
from lmrec.data.raw import RAW_COLUMNS, RawLog
from lmrec.errors import DataError, DatasetNotFoundError


def _check_raw(log: RawLog) -> None:
    assert list(log.frame.columns) == list(RAW_COLUMNS)
    assert log.frame["rating"].dtype == np.float32
    assert log.frame["timestamp"].dtype == np.float64
    assert log.meta["timestamp_kind"] in ("unix", "position")
    assert {"source", "license", "explicit"} <= set(log.meta)


def _zip_folder(folder: Path, dest: Path, prefix: str) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f"{prefix}/{f.name}")
    return dest


def bad_rows(log: RawLog) -> list[tuple[int, str, str, str]]:
    t = log.bad_values
    return list(
        zip(t["row"].tolist(), t["column"].astype(str), t["value"], t["reason"].astype(str), strict=True)
    )


# --- MovieLens ------------------------------------------------------------------------------------


def test_ml100k_folder_counts_catalog_and_provenance(ml100k_dir: Path) -> None:
    log = load_movielens(ml100k_dir)
    _check_raw(log)
    f = log.frame
    assert (len(f), f["user"].nunique(), f["item"].nunique()) == (100_000, 943, 1_682)
    assert log.problems == ()
    assert f["line"].tolist() == list(range(1, 100_001))
    assert f["source"].iloc[0] == str(ml100k_dir / "u.data")
    assert f[["rating", "timestamp"]].notna().all().all()
    assert sorted(f["rating"].value_counts().items()) == [
        (1, 6110),
        (2, 11370),
        (3, 27145),
        (4, 34174),
        (5, 21201),
    ]
    first = f.iloc[0]
    assert (first["user"], first["item"], first["rating"], first["timestamp"]) == (196, 242, 3.0, 881250949.0)
    assert log.meta["explicit"] is True and log.meta["timestamp_kind"] == "unix"
    assert "redistribute" in log.meta["license"] or "redistribution" in log.meta["license"]
    cat = log.catalog
    assert cat is not None and len(cat) == 1_682 and cat.text_fields == ("title", "genres")
    assert cat.frame.loc[1, "title"] == "Toy Story (1995)"
    assert cat.frame.loc[1, "genres"] == "Animation|Children's|Comedy"
    assert cat.frame.loc[1, "release_date"] == "01-Jan-1995"
    assert cat.frame.loc[267, "title"] == "unknown" and pd.isna(cat.frame.loc[267, "genres"])
    # latin-1 titles decode: u.item has accented characters
    assert cat.frame["title"].str.contains("é").any()


def test_ml100k_zip_matches_folder(ml100k_dir: Path, tmp_path: Path) -> None:
    archive = _zip_folder(ml100k_dir, tmp_path / "ml-100k.zip", "ml-100k")
    from_zip, from_dir = load_movielens(archive), load_movielens(ml100k_dir)
    assert from_zip.name == "ml-100k"
    assert from_zip.frame["source"].iloc[0] == f"{archive}:ml-100k/u.data"
    cols = ["user", "item", "rating", "timestamp", "line"]
    pd.testing.assert_frame_equal(from_zip.frame[cols], from_dir.frame[cols])
    pd.testing.assert_frame_equal(from_zip.catalog.frame, from_dir.catalog.frame)


def test_ml100k_official_folds(ml100k_dir: Path) -> None:
    full = load_movielens(ml100k_dir, catalog=False).frame
    key = lambda f: set(zip(f["user"], f["item"], strict=True))  # noqa: E731
    base, test = load_movielens_file(ml100k_dir, "u1.base"), load_movielens_file(ml100k_dir, "u1.test")
    assert (len(base.frame), len(test.frame)) == (80_000, 20_000)
    assert key(base.frame) | key(test.frame) == key(full) and not key(base.frame) & key(test.frame)
    assert base.name == "ml-100k/u1.base" and base.catalog is not None
    assert len(load_movielens_file(ml100k_dir, "ua.test").frame) == 9_430
    with pytest.raises(DataError, match="not a MovieLens-100K rating file"):
        load_movielens_file(ml100k_dir, "u.item")
    # the dispatcher sends a fold file path to the same loader
    assert len(load_dataset(ml100k_dir / "u2.test").frame) == 20_000


def test_ml_latest_small_counts_equal_its_readme(shared_data: Path) -> None:
    folder = shared_data / "ml-latest-small"
    if not (folder / "ratings.csv").is_file():
        pytest.skip("ml-latest-small not staged")
    readme = (folder / "README.txt").read_text()
    ratings, tags, movies = map(
        int,
        re.search(
            r"contains (\d+) ratings and (\d+) tag applications across (\d+) "
            r"movies",
            readme,
        ).groups(),
    )
    users = int(re.search(r"created by (\d+) users", readme).group(1))
    log = load_movielens(folder)
    _check_raw(log)
    f = log.frame
    assert (len(f), f["user"].nunique(), len(log.catalog)) == (ratings, users, movies)
    assert f["line"].iloc[0] == 2 and f["line"].iloc[-1] == ratings + 1  # header is line 1
    assert set(np.unique(f["rating"])) <= {x / 2 for x in range(1, 11)}
    assert log.catalog.text_fields == ("title", "genres", "tags")
    assert "sandra 'boring' bullock" in log.catalog.frame.loc[339, "tags"]
    assert tags == len(pd.read_csv(folder / "tags.csv"))


def test_ml1m_format_from_fake_dat_files(tmp_path: Path) -> None:
    (tmp_path / "ratings.dat").write_bytes(
        b"1::1193::5::978300760\n1::661::3::978302109\n2::1193::x::978298413\n2::3408\n\n3::661::4::978297867\n"
    )
    (tmp_path / "movies.dat").write_bytes(
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "661::Misérables, Les (1995)::Drama|Musical\n"
        "662::no genres field\n"
        "1193::Repeated id (1975)::Drama\n".encode("latin-1")
    )
    (tmp_path / "users.dat").write_bytes(b"1::F::1::10::48067\n")
    log = load_movielens(tmp_path)
    _check_raw(log)
    f = log.frame
    assert f["line"].tolist() == [1, 2, 3, 6]
    assert f["user"].tolist() == [1, 1, 2, 3] and f["item"].tolist() == [1193, 661, 1193, 661]
    assert np.isnan(f["rating"].iloc[2]) and f["rating"].iloc[3] == 4.0  # bad value kept as NaN
    assert bad_rows(log) == [(2, "rating", "x", "not a number")]  # ... and its text in bad_values
    [problem] = log.problems
    assert (problem.line, problem.value) == (4, "2::3408") and "expected 4 fields" in problem.reason
    assert log.meta["release"] == "ml-1m"
    assert log.catalog.frame.loc[661, "title"] == "Misérables, Les (1995)"
    assert log.catalog.frame.loc[661, "genres"] == "Drama|Musical"
    # bad catalog lines are reported in meta, not among the interaction problems
    assert len(log.catalog) == 2 and log.meta["catalog_problems"] == 2
    assert "movies.dat:3" in log.meta["catalog_problem_examples"][0]
    assert "repeated movie id" in log.meta["catalog_problem_examples"][1]


def test_ml10m_format_utf8_and_tags(tmp_path: Path) -> None:
    (tmp_path / "ratings.dat").write_text("1::122::5::838985046\n1::185::4.5::838983525\n")
    (tmp_path / "movies.dat").write_text(
        "122::Boomerang (1992)::Comedy|Romance\n185::Net, The (1995)::Action\n"
        "186::Amélie (2001)::(no genres listed)\n",
        encoding="utf-8",
    )
    (tmp_path / "tags.dat").write_text(
        "15::122::dull::1\n16::122::Eddie Murphy::2\n17::122::Dull::3\n18::185::hacker::4\n", encoding="utf-8"
    )
    log = load_movielens(tmp_path)
    assert log.meta["release"] == "ml-10m" and log.frame["rating"].tolist() == [5.0, 4.5]
    cat = log.catalog.frame
    assert cat.loc[186, "title"] == "Amélie (2001)" and pd.isna(cat.loc[186, "genres"])
    assert cat.loc[122, "tags"] == "dull, Eddie Murphy"  # case-insensitive count: dull x2 first
    assert cat.loc[185, "tags"] == "hacker" and pd.isna(cat.loc[186, "tags"])


def test_incomplete_movielens_copy_names_the_missing_file(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "ml-1m"
    if not (folder / "movies.dat").is_file():
        (tmp_path / "movies.dat").write_text("1::Toy Story (1995)::Animation\n")
        folder = tmp_path
    with pytest.raises(DataError, match=r"no ratings file \(ratings.dat\)"):
        load_movielens(folder)


# --- Amazon ---------------------------------------------------------------------------------------


def test_amazon2014_musical_instruments(shared_data: Path) -> None:
    folder = shared_data / "amazon2014-musical-instruments-5core"
    if not folder.is_dir():
        pytest.skip("Musical Instruments not staged")
    log = load_amazon(folder)
    _check_raw(log)
    f = log.frame
    assert (len(f), f["user"].nunique(), f["item"].nunique()) == (10_261, 1_429, 900)
    assert log.catalog is None and log.problems == () and log.meta["release"] == "2014"
    assert f["line"].tolist() == list(range(1, 10_262))
    assert f["timestamp"].notna().all() and set(np.unique(f["rating"])) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert f.iloc[0][["user", "item"]].tolist() == ["A2IBPI20UZIR0U", "1384719342"]
    with_text = load_amazon(folder, item_text_from_reviews=True, review_text_k=3)
    cat = with_text.catalog
    assert cat is not None and len(cat) == 900 and cat.text_fields == ("reviews",)
    assert cat.frame["reviews"].str.count(r" \| ").max() == 2  # at most 3 summaries
    assert "future" in with_text.meta["reviews_text"]


def test_amazon2018_magazine_with_metadata(shared_data: Path) -> None:
    folder = shared_data / "amazon2018-magazine-subscriptions"
    if not folder.is_dir():
        pytest.skip("Magazine Subscriptions not staged")
    log = load_amazon(folder)
    _check_raw(log)
    f = log.frame
    assert (len(f), f["user"].nunique(), f["item"].nunique()) == (2_375, 348, 157)
    assert log.meta["release"] == "2018" and log.meta["metadata_lines"] == 3_385
    assert log.meta["metadata_items"] == 2_320 and "1065" in log.meta["metadata_duplicates"]
    cat = log.catalog
    assert len(cat) == 151 and cat.frame.index.isin(f["item"]).all()  # 6 of 157 items lack metadata
    assert {"title", "brand", "categories", "description"} <= set(cat.text_fields)
    text = cat.frame[list(cat.text_fields)].stack()
    assert not text.str.contains("<span").any() and not text.str.contains("&amp;").any()
    assert cat.frame["categories"].str.startswith("Magazine Subscriptions > ").any()
    everything, _, info = load_amazon_metadata(folder / "meta_Magazine_Subscriptions.json.gz")
    assert len(everything) == 2_320 and info["metadata_lines"] == 3_385
    assert len(load_amazon(folder, catalog_items="all").catalog) == 2_320


def test_amazon_malformed_lines_become_problems(tmp_path: Path) -> None:
    rows = [
        {"reviewerID": "u1", "asin": "a", "overall": 5.0, "unixReviewTime": 100, "summary": "good"},
        {
            "reviewerID": "u2",
            "asin": "a",
            "overall": "4.0",
            "unixReviewTime": 90,
            "summary": "<b>fine</b> &amp; ok",
        },
    ]
    lines = [
        json.dumps(rows[0]),
        "",
        '{"reviewerID": "u3", "asin": ',
        json.dumps(rows[1]),
        "[1, 2]",
        json.dumps({"reviewerID": "u4", "overall": 3}),
    ]
    path = tmp_path / "reviews_Test_5.json.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    log = load_amazon(path, item_text_from_reviews=True)
    f = log.frame
    assert f["line"].tolist() == [1, 4, 6]
    assert f["rating"].tolist() == [5.0, 4.0, 3.0]  # "4.0" as text is still a number
    assert pd.isna(f["item"].iloc[2]) and np.isnan(f["timestamp"].iloc[2])  # missing keys -> NA, kept
    assert [(p.line, p.column) for p in log.problems] == [(3, "(json)"), (5, "(json)")]
    assert "malformed JSON" in log.problems[0].reason
    assert log.catalog.frame.loc["a", "reviews"] == "fine & ok | good"  # earliest review first


def test_amazon2014_python_literal_metadata(tmp_path: Path) -> None:
    meta = tmp_path / "meta_Test.json"
    meta.write_text(
        "{'asin': 'B1', 'title': 'Strings &amp; Things', 'description': '<p>Bright<br/>tone</p>', "
        "'categories': [['Musical Instruments', 'Strings'], ['Gifts']], 'brand': 'Acme'}\n"
        "{'asin': 'B1', 'title': 'second copy'}\n"
        "{'asin': 'B2', 'title': broken\n"
    )
    cat, problems, info = load_amazon_metadata(meta)
    row = cat.frame.loc["B1"]
    assert row["title"] == "Strings & Things" and row["description"] == "Bright tone"
    assert row["categories"] == "Musical Instruments > Strings; Gifts" and row["brand"] == "Acme"
    assert len(cat) == 1 and "1 later record" in info["metadata_duplicates"]
    assert [p.line for p in problems] == [3]


def test_clean_text() -> None:
    assert clean_text('<span class="a-size-medium a-color-secondary"') is None
    assert clean_text("a < b &lt;br&gt; c") == "a < b c"
    assert clean_text("  Rock &amp;\n Roll ") == "Rock & Roll"


# --- sequences ------------------------------------------------------------------------------------

SEQUENCE_FILES = [
    ("amazon-s3rec/Beauty.txt", "auto", 22_363, 12_101, 198_502),
    ("amazon-s3rec/Sports_and_Outdoors.txt", "auto", 35_598, 18_357, 296_337),
    ("amazon-s3rec/Toys_and_Games.txt", "sequence", 19_412, 11_924, 167_597),
    ("yelp-s3rec/Yelp.txt", "sequence", 30_431, 20_033, 316_354),
    ("amazon-games-sasrec/Video.txt", "pairs", 31_013, 23_715, 287_107),
]


@pytest.mark.parametrize(("rel", "layout", "users", "items", "events"), SEQUENCE_FILES)
def test_sequence_files_counts_and_speed(
    shared_data: Path, rel: str, layout: str, users: int, items: int, events: int
) -> None:
    path = shared_data / rel
    if not path.is_file():
        pytest.skip(f"{rel} not staged")
    start = time.process_time()  # CPU time: other processes on a shared machine do not count
    log = load_sequences(path, layout=layout)  # type: ignore[arg-type]
    elapsed = time.process_time() - start
    _check_raw(log)
    f = log.frame
    assert (f["user"].nunique(), f["item"].nunique(), len(f)) == (users, items, events)
    assert log.problems == () and log.meta["timestamp_kind"] == "position" and log.meta["explicit"] is False
    assert f["rating"].isna().all() and f["user"].dtype == np.int32
    expected = f.groupby("user", sort=False).cumcount().to_numpy()
    assert np.array_equal(f["timestamp"].to_numpy(), expected)
    assert elapsed < 2.0, f"{rel} took {elapsed:.2f}s of CPU"


def test_sequence_line_numbers_and_positions(tmp_path: Path) -> None:
    path = tmp_path / "seq.txt"
    path.write_text("1 10 11 12\n\n2 20\n3\n4 40 x 41\n")
    log = load_sequences(path)
    f = log.frame
    assert f["line"].tolist() == [1, 1, 1, 3, 5, 5, 5]
    assert f["timestamp"].tolist() == [0, 1, 2, 0, 0, 1, 2]
    assert pd.isna(f["item"].iloc[5])  # "x" is not an integer id: NA for cleaning to report
    assert bad_rows(log) == [(5, "item", "x", "not an integer id")]
    path.write_text("1 10\nu2 20 21\n")  # a bad user token is listed for every event of its line
    assert bad_rows(load_sequences(path)) == [
        (1, "user", "u2", "not an integer id"),
        (2, "user", "u2", "not an integer id"),
    ]
    [problem] = log.problems
    assert problem.line == 4 and "no items" in problem.reason


def test_pairs_with_interleaved_users(tmp_path: Path) -> None:
    path = tmp_path / "pairs.txt"
    path.write_text("1 5\n2 6\n1 7\n2 8 9\n1 9\n")
    log = load_sequences(path, layout="pairs")
    f = log.frame
    assert f["user"].tolist() == [1, 2, 1, 1] and f["timestamp"].tolist() == [0, 0, 1, 2]
    assert log.meta["users_contiguous"] is False and [p.line for p in log.problems] == [4]
    as_sequences = load_sequences(path, layout="sequence", id_type="str")
    assert as_sequences.frame["item"].tolist() == ["5", "6", "7", "8", "9", "9"]


# --- tables ---------------------------------------------------------------------------------------


def test_csv_table_with_dates_bad_rows_and_exact_lines(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_bytes(
        b"uid,iid,stars,when,note\r\n"
        b'u1,i1,5,2020-01-01T00:00:00Z,"a, quoted"\r\n'
        b"\r\n"
        b"u2,i2,,2020-01-02 00:00:00,x\r\n"
        b"u3,i3,4\r\n"
        b"u4,i4,1,not a date,x,extra\r\n"
        b'u5,i5,2,2020-01-03,"x"\r\n'
    )
    cols = {"user": "uid", "item": "iid", "rating": "stars", "timestamp": "when"}
    log = load_table(path, cols, timestamp_format="ISO8601")
    _check_raw(log)
    f = log.frame
    assert f["line"].tolist() == [2, 4, 7]
    assert f["user"].tolist() == ["u1", "u2", "u5"] and np.isnan(f["rating"].iloc[1])
    assert f["timestamp"].tolist() == [1577836800.0, 1577923200.0, 1578009600.0]
    assert [(p.line, p.reason) for p in log.problems] == [
        (5, "expected 5 fields separated by ',', found 3"),
        (6, "expected 5 fields separated by ',', found 6"),
    ]
    assert log.meta["explicit"] is True and log.meta["timestamp_kind"] == "unix"
    with pytest.raises(DataError, match=r"log\.csv: no column\(s\) \['user_id'\]; the file has columns"):
        load_table(path, {"user": "user_id", "item": "iid"})
    with pytest.raises(DataError, match="timestamp_format"):
        load_table(path, {"user": "uid", "item": "iid", "timestamp": "note"})


def test_table_without_header_or_timestamp(tmp_path: Path) -> None:
    path = tmp_path / "log.tsv"
    path.write_text("7\t1\t3.5\n8\t2\t4\n7\t3\t1\n")
    log = load_table(path, ColumnMapping(user="u", item="i", rating="r"), names=["u", "i", "r"])
    f = log.frame
    assert f["user"].dtype == np.int32 and f["line"].tolist() == [1, 2, 3]
    assert f["timestamp"].tolist() == [0.0, 0.0, 1.0] and log.meta["timestamp_kind"] == "position"


def test_str_ids_keep_the_text_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("user,item\n1,0001\n2,1\n")
    # without id_type="str" these are the integers 1 and 1; with it, two different ids
    assert load_table(path, id_type="str").frame["item"].tolist() == ["0001", "1"]
    path.write_text('user,item,note\n1,0001,"two\nlines"\n2,1,x\n')  # the csv-module path
    assert load_table(path, {"user": "user", "item": "item"}, id_type="str").frame["item"].tolist() == [
        "0001",
        "1",
    ]


def test_quoted_newlines_keep_exact_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "multi.csv"
    path.write_text('user,item,rating,comment\n1,2,3,"two\nlines"\n3,4,four,x\n5\n6,7,,"y"\n')
    log = load_table(path, {"user": "user", "item": "item", "rating": "rating"})
    assert log.frame["line"].tolist() == [2, 4, 6] and [p.line for p in log.problems] == [5]
    assert bad_rows(log) == [(1, "rating", "four", "not a number")]  # the slow csv-module path too


def test_parquet_table(tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    frame = pd.DataFrame({
        "u": np.array([10, 11, 10], dtype=np.int64),
        "i": ["a", None, "c"],
        "r": [1.0, 2.0, np.nan],
        "t": pd.to_datetime(["2020-01-01", "2020-01-02", None]),
        "unused": [1, 2, 3],
    })  # fmt: skip
    frame.to_parquet(path)
    log = load_table(path, {"user": "u", "item": "i", "rating": "r", "timestamp": "t"})
    f = log.frame
    assert f["user"].dtype == np.int32 and f["line"].tolist() == [1, 2, 3]
    assert f["item"].iloc[0] == "a" and pd.isna(f["item"].iloc[1])
    assert f["timestamp"].iloc[0] == 1577836800.0 and np.isnan(f["timestamp"].iloc[2])
    with pytest.raises(DataError, match=r"no column\(s\) \['x'\]; the file has columns \['u', 'i', 'r', 't'"):
        load_table(path, {"user": "x", "item": "i"})


def test_load_split_files(tmp_path: Path) -> None:
    for part, rows in (("train", "1,1,5\n1,2,4\n"), ("valid", "1,3,3\n"), ("test", "1,4,2\n")):
        (tmp_path / f"{part}.csv").write_text("user,item,rating\n" + rows)
    train, valid, test = load_split_files(
        tmp_path / "train.csv",
        tmp_path / "valid.csv",
        tmp_path / "test.csv",
        {"user": "user", "item": "item", "rating": "rating"},
    )
    assert (len(train.frame), len(valid.frame), len(test.frame)) == (2, 1, 1)
    assert test.frame["source"].iloc[0].endswith("test.csv")
    train2, none, _ = load_split_files(tmp_path / "train.csv", None, tmp_path / "test.csv", {})
    assert none is None and train2.meta["explicit"] is False


@pytest.mark.slow
def test_parquet_20m_rows_is_lean(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    import resource

    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("20M-row memory check: run with -m slow")

    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    n = 20_000_000
    table = pa.table(
        {
            "user": rng.integers(0, 1_000_000, n),
            "item": rng.integers(0, 100_000, n),
            "timestamp": rng.integers(1_000_000_000, 1_600_000_000, n),
        }
    )
    pq.write_table(table, tmp_path / "big.parquet")
    del table
    log = load_table(tmp_path / "big.parquet", {"user": "user", "item": "item", "timestamp": "timestamp"})
    assert len(log.frame) == n and log.frame["item"].dtype == np.int32
    assert log.frame.memory_usage(deep=True).sum() < 30 * n
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 3 * 2**20  # KiB: under 3 GiB


# --- values that do not parse ---------------------------------------------------------------------


def test_csv_keeps_the_text_of_values_that_do_not_parse(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(
        "user,item,rating,when\n"
        "1,10,4,2020-01-01\n"
        "1,11,four,2020-01-02\n"
        "2,10,x,2020-01-03\n"
        "2,11,,2020-01-04\n"
        "3,10,5,2020-13-45\n"
        "u7,12,3,2020-01-05\n"
        "3,12, ,\n"
    )
    cols = {"user": "user", "item": "item", "rating": "rating", "timestamp": "when"}
    log = load_table(path, cols, timestamp_format="%Y-%m-%d", id_type="int")
    _check_raw(log)
    f = log.frame
    assert len(f) == 7  # nothing dropped: bad values are NaN/NA, left for cleaning to count
    assert f["rating"].isna().tolist() == [False, True, True, True, False, False, True]
    assert f["timestamp"].isna().tolist() == [False, False, False, False, True, False, True]
    assert pd.isna(f["user"].iloc[5])
    # empty and blank cells are missing values, not bad ones: only failing text is listed
    assert bad_rows(log) == [
        (1, "rating", "four", "not a number"),
        (2, "rating", "x", "not a number"),
        (4, "timestamp", "2020-13-45", "not a valid timestamp for format '%Y-%m-%d'"),
        (5, "user", "u7", "not an integer id"),
    ]
    clean_copy = tmp_path / "ok.csv"
    clean_copy.write_text("user,item,rating,when\n1,10,4,2020-01-01\n")
    assert load_table(clean_copy, cols, timestamp_format="%Y-%m-%d").bad_values.empty


def test_epoch_timestamp_column_with_text(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("user,item,timestamp\n1,2,100\n1,3,yesterday\n1,4,\n")
    [(row, column, value, reason)] = bad_rows(load_table(path))
    assert (row, column, value) == (1, "timestamp", "yesterday")
    assert reason.startswith("not a number") and "timestamp_format" in reason


def test_parquet_bad_values(tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    frame = pd.DataFrame({"user": [10.0, 1.5, 1e20], "item": ["a", "b", "c"], "rating": ["5", "five", None]})
    frame.to_parquet(path)
    log = load_table(path, {"user": "user", "item": "item", "rating": "rating"})
    assert bad_rows(log) == [
        (1, "user", "1.5", "not an integer id"),
        (1, "rating", "five", "not a number"),
        (2, "user", "1e+20", "not an integer id"),  # would wrap around in int64
    ]
    assert log.frame["rating"].iloc[0] == 5.0 and log.frame["user"].iloc[0] == 10


def test_amazon_overall_that_is_not_a_number(tmp_path: Path) -> None:
    records = [
        {"reviewerID": "u1", "asin": "a", "overall": 5.0, "unixReviewTime": 100},
        {"reviewerID": "u1", "asin": "b", "overall": "five", "unixReviewTime": 101},
        {"reviewerID": "u2", "asin": "a", "overall": True, "unixReviewTime": 102},
        {"reviewerID": "u2", "asin": "b", "overall": [4], "unixReviewTime": "yesterday"},
        {"reviewerID": "u3", "asin": "b", "unixReviewTime": 103},
        {"reviewerID": "u3", "asin": "a", "overall": "4.0", "unixReviewTime": 104},
    ]
    path = tmp_path / "reviews_Test.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    log = load_amazon(path)
    _check_raw(log)
    assert log.frame["rating"].tolist()[::5] == [5.0, 4.0] and log.frame["rating"].isna().sum() == 4
    assert log.problems == ()
    assert bad_rows(log) == [
        (1, "rating", "five", "not a number"),
        (2, "rating", "true", "not a number"),  # JSON true is not read as the rating 1
        (3, "rating", "[4]", "not a number"),
        (3, "timestamp", "yesterday", "not a number"),
    ]


# --- dispatch -------------------------------------------------------------------------------------


def test_detect_format_and_dispatch(shared_data: Path, tmp_path: Path) -> None:
    beauty = shared_data / "amazon-s3rec" / "Beauty.txt"
    if not beauty.is_file():
        pytest.skip("S3-Rec files not staged")
    assert detect_format(shared_data / "ml-100k") == "movielens"
    assert detect_format(shared_data / "amazon2018-magazine-subscriptions") == "amazon"
    assert detect_format(beauty) == "sequences"
    games = load_dataset(shared_data / "amazon-games-sasrec" / "Video.txt", format="user-item-lines")
    assert games.meta["format"] == "sequences-pairs" and len(games.frame) == 287_107
    with pytest.raises(DataError, match=r"exactly one \.txt"):
        load_dataset(shared_data / "amazon-s3rec")
    (tmp_path / "events.csv").write_text("user,item,timestamp\na,b,10\n")
    table = load_dataset(tmp_path / "events.csv")  # default mapping: columns named user/item/timestamp
    assert table.frame["timestamp"].tolist() == [10.0]
    with pytest.raises(DataError, match="format must be one of"):
        load_dataset(tmp_path / "events.csv", format="excel")


def test_load_dataset_by_name(shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LMREC_DATA_HOME", str(shared_data))
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path / "cache"))
    beauty = load_dataset("amazon-beauty")
    assert beauty.name == "amazon-beauty" and len(beauty.frame) == 198_502
    assert "S3-Rec" in beauty.meta["license"] and beauty.meta["dataset"] == "amazon-beauty"
    assert load_dataset("AMAZON-GAMES").meta["format"] == "sequences-pairs"
    ml = load_dataset("ml-100k", path=shared_data / "ml-100k")
    assert len(ml.frame) == 100_000 and ml.name == "ml-100k"
    fold = load_movielens_file("ml-100k", "u3.test")
    assert len(fold.frame) == 20_000
    with pytest.raises(DatasetNotFoundError, match="neither a registered dataset"):
        load_dataset("no-such-dataset")
    with pytest.raises(DatasetNotFoundError, match=r"lacks \['ratings.dat'\]"):
        load_dataset("ml-1m", download=False)
