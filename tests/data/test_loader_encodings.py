"""`encoding=` on every loader: declared encodings are used, and an unknown name is a `DataError` raised
before anything is resolved, downloaded, read or decoded (it was a `LookupError` traceback)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fuzz_corpus_files import unisrec_files

from lmrec.data.loaders import (
    load_amazon,
    load_amazon_metadata,
    load_dataset,
    load_movielens,
    load_movielens_file,
    load_sequences,
    load_split_files,
    load_table,
    load_unisrec,
)
from lmrec.data.loaders.movielens_users import load_movielens_users
from lmrec.errors import DataError

MISSING = "/nonexistent/lmrec-encoding-test"

LOADERS: dict[str, Callable[..., Any]] = {
    "load_table": lambda e: load_table(f"{MISSING}.csv", encoding=e),
    "load_split_files": lambda e: load_split_files(MISSING, None, MISSING, encoding=e),
    "load_sequences": lambda e: load_sequences(MISSING, encoding=e),
    "load_amazon": lambda e: load_amazon(MISSING, encoding=e),
    "load_amazon_metadata": lambda e: load_amazon_metadata(MISSING, encoding=e),
    "load_movielens": lambda e: load_movielens(MISSING, encoding=e),
    "load_movielens_file": lambda e: load_movielens_file(MISSING, "u1.base", encoding=e),
    "load_movielens_users": lambda e: load_movielens_users(MISSING, encoding=e),
    "load_unisrec": lambda e: load_unisrec(MISSING, encoding=e),
    # a registered name: the encoding is refused before the copy is looked for or downloaded
    "load_dataset": lambda e: load_dataset("ml-100k", encoding=e, download=False),
}


@pytest.mark.parametrize("loader", LOADERS, ids=list(LOADERS))
@pytest.mark.parametrize(
    ("encoding", "message"),
    [("nope", "unknown encoding 'nope'"), ("utf-16", "not ASCII-compatible"), (1, "must be a name")],
)
def test_the_encoding_name_is_checked_before_anything_else(loader: str, encoding: Any, message: str) -> None:
    with pytest.raises(DataError, match=re.escape(message)):
        LOADERS[loader](encoding)


def test_load_table_auto_encoding_reads_the_header_too(tmp_path: Path) -> None:
    """`encoding="auto"` without a column mapping decoded the header line with the codec "auto"."""
    path = tmp_path / "data.csv"
    path.write_bytes("user,item\n1,caf\xe9\n".encode("latin-1"))
    assert load_table(path, encoding="auto").frame["item"].tolist() == ["caf\xe9"]


def test_load_split_files_passes_its_encoding(tmp_path: Path) -> None:
    for part in ("train", "test"):
        (tmp_path / f"{part}.csv").write_bytes(f"user,item\n1,{part}\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"train\.csv: line 2, column 8: byte 0xe9"):
        load_split_files(tmp_path / "train.csv", None, tmp_path / "test.csv")
    train, _, test = load_split_files(tmp_path / "train.csv", None, tmp_path / "test.csv", encoding="latin-1")
    assert (train.frame["item"].tolist(), test.frame["item"].tolist()) == (["train\xe9"], ["test\xe9"])


def test_load_unisrec_encoding(tmp_path: Path) -> None:
    files = unisrec_files()
    files["Sci.text"] = files["Sci.text"].replace(b"Item B", b"Item \xe9")
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    with pytest.raises(DataError, match=r"Sci\.text: line 3, column 8: byte 0xe9 is not valid utf-8"):
        load_unisrec(tmp_path)
    log = load_unisrec(tmp_path, encoding="latin-1")
    assert log.catalog is not None and log.catalog.frame.loc["B", "text"] == "Item \xe9"


def test_amazon_metadata_encoding_also_from_load_amazon(tmp_path: Path) -> None:
    review = {"reviewerID": "u", "asin": "a1", "overall": 5.0, "unixReviewTime": 1}
    (tmp_path / "reviews.json").write_text(json.dumps(review) + "\n")
    meta = tmp_path / "meta_Test.json"
    meta.write_bytes('{"asin": "a1", "title": "Caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(DataError, match=r"meta_Test\.json: line 1, column 29: byte 0xe9"):
        load_amazon_metadata(meta)
    catalog, _, _ = load_amazon_metadata(meta, encoding="latin-1")
    assert catalog.frame.loc["a1", "title"] == "Caf\xe9"
    log = load_amazon(tmp_path, encoding="latin-1")  # one encoding for the review and metadata files
    assert log.catalog is not None and log.catalog.frame.loc["a1", "title"] == "Caf\xe9"


def test_movielens_users_encoding(tmp_path: Path) -> None:
    (tmp_path / "u.user").write_bytes("1|24|M|m\xc3\xa9decin|85711\n".encode("latin-1"))
    assert load_movielens_users(tmp_path)["occupation"].tolist() == ["m\xc3\xa9decin"]  # latin-1 default
    assert load_movielens_users(tmp_path, encoding="utf-8")["occupation"].tolist() == ["m\xe9decin"]
    (tmp_path / "u.user").write_bytes(b"1|24|M|m\xe9decin|85711\n")
    with pytest.raises(DataError, match=r"u\.user: line 1, column 9: byte 0xe9 is not valid utf-8"):
        load_movielens_users(tmp_path, encoding="utf-8")
