"""Dataset resolution and downloads, against a local http.server (the machine has no internet)."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import socket
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from lmrec.data.download import DATASETS, DatasetEntry, Download, cache_dir, fetch, resolve_dataset
from lmrec.data.loaders import load_dataset, load_movielens
from lmrec.errors import DataError, DatasetNotFoundError

U_DATA = b"1\t10\t5\t881250949\n2\t10\t3\t881250950\n2\t11\t4\t881250951\n"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, folder it serves) of an HTTP server on 127.0.0.1."""
    root = tmp_path / "served"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No LMREC_DATA_HOME, and a private cache, in every test."""
    monkeypatch.delenv("LMREC_DATA_HOME", raising=False)
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _tiny_zip(path: Path, payload: bytes = U_DATA) -> tuple[str, int]:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("tiny/u.data", payload)
    data = path.read_bytes()
    return "sha256:" + hashlib.sha256(data).hexdigest(), len(data)


def _entry(url: str, checksum: str | None, size: int | None = None) -> DatasetEntry:
    return DatasetEntry(
        name="tiny", kind="movielens", description="test", license="test terms", files=("u.data",),
        downloads=(Download((url,), "tiny.zip", checksum, size),),
    )  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_download_verified_then_served_from_cache(server: tuple[str, Path], isolated: Path) -> None:
    base, root = server
    checksum, size = _tiny_zip(root / "tiny.zip")
    entry = _entry(f"{base}/tiny.zip", checksum, size)
    got = resolve_dataset(entry, progress=False)
    assert got == isolated / "tiny.zip" and got.read_bytes() == (root / "tiny.zip").read_bytes()
    assert [p.name for p in isolated.iterdir()] == ["tiny.zip"]  # no partial files left behind
    log = load_movielens(got, catalog=False)
    assert len(log.frame) == 3 and log.frame["source"].iloc[0] == f"{got}:tiny/u.data"
    (root / "tiny.zip").unlink()  # the second call must not need the network
    assert resolve_dataset(entry, progress=False) == got


def test_bad_checksum_deletes_the_file_and_says_so(server: tuple[str, Path], isolated: Path) -> None:
    base, root = server
    _tiny_zip(root / "tiny.zip")
    entry = _entry(f"{base}/tiny.zip", "sha256:" + "0" * 64)
    with pytest.raises(DatasetNotFoundError, match=r"does not match the published 0000.*deleted"):
        resolve_dataset(entry, progress=False)
    assert not isolated.exists() or list(isolated.iterdir()) == []


def test_size_mismatch_is_refused(server: tuple[str, Path]) -> None:
    base, root = server
    checksum, size = _tiny_zip(root / "tiny.zip")
    with pytest.raises(DatasetNotFoundError, match=rf"got {size} bytes, expected {size + 1}"):
        resolve_dataset(_entry(f"{base}/tiny.zip", checksum, size + 1), progress=False)


def test_http_404_reports_url_and_local_lookups(server: tuple[str, Path], isolated: Path) -> None:
    base, _ = server
    url = f"{base}/missing.zip"
    with pytest.raises(DatasetNotFoundError) as info:
        resolve_dataset(_entry(url, "sha256:" + "1" * 64), progress=False)
    message = str(info.value)
    assert url in message and "404" in message
    assert "LMREC_DATA_HOME is not set" in message and str(isolated) in message
    assert "--data PATH" in message and "LMREC_DATA_HOME=/folder/containing/tiny" in message


def test_connection_refused_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("LMREC_DATA_HOME", str(home))
    url = f"http://127.0.0.1:{_free_port()}/tiny.zip"
    with pytest.raises(DatasetNotFoundError) as info:
        resolve_dataset(_entry(url, "sha256:" + "1" * 64), progress=False, timeout=5)
    message = str(info.value)
    assert url in message and "refused" in message.lower()
    assert f"LMREC_DATA_HOME={home}: no tiny/ or tiny.zip in {home}" in message


def test_unknown_checksum_needs_verify_false(server: tuple[str, Path], isolated: Path) -> None:
    base, root = server
    _tiny_zip(root / "tiny.zip")
    entry = _entry(f"{base}/tiny.zip", None)
    with pytest.raises(DatasetNotFoundError, match=r"no published checksum.*verify=False"):
        resolve_dataset(entry, progress=False)
    assert not (isolated / "tiny.zip").exists()
    assert resolve_dataset(entry, verify=False, progress=False) == isolated / "tiny.zip"


def test_url_override_keeps_the_registry_checksum(server: tuple[str, Path]) -> None:
    base, root = server
    _tiny_zip(root / "ml-100k.zip")  # not the real archive: must fail the published size/sha256
    with pytest.raises(DatasetNotFoundError, match=r"expected 4924029; the download is incomplete") as info:
        resolve_dataset("ml-100k", url=f"{base}/ml-100k.zip", progress=False)
    assert "official source: https://files.grouplens.org/datasets/movielens/ml-100k.zip" in str(info.value)


def test_fetch_is_atomic_on_failure(server: tuple[str, Path], tmp_path: Path) -> None:
    base, root = server
    _tiny_zip(root / "tiny.zip")
    dest = tmp_path / "out" / "tiny.zip"
    with pytest.raises(DataError, match="does not match"):
        fetch(f"{base}/tiny.zip", dest, checksum="md5:" + "0" * 32, progress=False)
    assert list(dest.parent.iterdir()) == []
    checksum = "md5:" + hashlib.md5((root / "tiny.zip").read_bytes()).hexdigest()
    assert fetch(f"{base}/tiny.zip", dest, checksum=checksum, progress=False) == dest


def test_lookup_order_path_then_env_then_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, isolated: Path
) -> None:
    entry = _entry("http://127.0.0.1:9/never.zip", None)
    home, explicit = tmp_path / "home", tmp_path / "explicit"
    for folder in (home / "tiny", explicit, isolated / "tiny"):
        folder.mkdir(parents=True)
        (folder / "u.data").write_bytes(U_DATA)
    monkeypatch.setenv("LMREC_DATA_HOME", str(home))
    assert resolve_dataset(entry, explicit) == explicit
    assert resolve_dataset(entry) == home / "tiny"
    monkeypatch.setenv("LMREC_DATA_HOME", str(tmp_path / "empty"))
    assert resolve_dataset(entry) == isolated / "tiny"
    # a wrong explicit path is an error, never a reason to use the cache instead
    (tmp_path / "empty-dir").mkdir()
    with pytest.raises(DatasetNotFoundError, match=r"empty-dir lacks \['u.data'\]"):
        resolve_dataset(entry, tmp_path / "empty-dir")


def test_env_home_with_zip(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    _tiny_zip(home / "tiny.zip")
    monkeypatch.setenv("LMREC_DATA_HOME", str(home))
    assert resolve_dataset(_entry("http://127.0.0.1:9/x.zip", None)) == home / "tiny.zip"


def test_local_ml100k_checksums(ml100k_dir: Path, tmp_path: Path) -> None:
    assert resolve_dataset("ml-100k", ml100k_dir) == ml100k_dir
    copy = tmp_path / "ml-100k"
    shutil.copytree(ml100k_dir, copy)
    with open(copy / "u.data", "ab") as fh:
        fh.write(b"1\t1\t1\t1\n")
    with pytest.raises(DataError, match=r"u\.data: sha256 .* does not match the published 06416e59"):
        load_dataset("ml-100k", path=copy)
    assert len(load_dataset("ml-100k", path=copy, verify=False).frame) == 100_001
    assert len(load_dataset(copy).frame) == 100_001  # a plain path is loaded as is


def test_single_file_dataset_given_as_its_file(shared_data: Path, tmp_path: Path) -> None:
    beauty = shared_data / "amazon-s3rec" / "Beauty.txt"
    if not beauty.is_file():
        pytest.skip("S3-Rec files not staged")
    renamed = tmp_path / "my_beauty.txt"
    shutil.copy(beauty, renamed)
    log = load_dataset("amazon-beauty", path=renamed)
    assert len(log.frame) == 198_502 and log.name == "amazon-beauty"
    renamed.write_bytes(beauty.read_bytes()[:-50])
    with pytest.raises(DataError, match="does not match the published 226cce9c"):
        load_dataset("amazon-beauty", path=renamed)


def test_registry_entries_are_consistent() -> None:
    assert {"ml-100k", "ml-1m", "ml-latest-small", "amazon-beauty", "amazon-games", "yelp"} <= set(DATASETS)
    for entry in DATASETS.values():
        assert entry.license and entry.files and entry.kind in ("movielens", "amazon", "sequences", "unisrec")
        for dl in entry.downloads:
            assert dl.checksum is None or dl.checksum.split(":")[0] in ("sha256", "md5")
    assert DATASETS["ml-100k"].url == "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
    assert DATASETS["amazon-beauty"].url is None


def test_no_download_for_local_only_dataset_says_so(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="no official download is registered") as info:
        resolve_dataset("amazon-beauty")
    assert "LMREC_DATA_HOME=/folder/containing/amazon-s3rec" in str(info.value)
    assert str(cache_dir()) in str(info.value)
