"""Find a named dataset locally or download it from its official URL, verified before use.

`resolve_dataset` looks, in this order, at: an explicit path; `$LMREC_DATA_HOME/<folder>` (or
`<folder>.zip`); the cache (`$LMREC_CACHE`, default `~/.cache/lmrec/datasets`); and finally the official
URL. Downloads are streamed to a temporary file next to the target, size and checksum are checked, and
only then is the file renamed into place, so a half-written or corrupted file is never used. A dataset
without a known checksum is downloaded only when the caller passes `verify=False`. When nothing works,
`DatasetNotFoundError` says what was tried and how to point at a local copy. There is never a fallback to a
different dataset.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from lmrec.data.loaders._source import DataSource, PathLike
from lmrec.data.loaders.registry import DATASETS, DatasetEntry, Download, get_entry
from lmrec.errors import DataError, DatasetNotFoundError

__all__ = [
    "CACHE_ENV",
    "DATASETS",
    "DATA_HOME_ENV",
    "DatasetEntry",
    "Download",
    "cache_dir",
    "fetch",
    "resolve_dataset",
    "verify_checksum",
    "verify_local_copy",
]

DATA_HOME_ENV = "LMREC_DATA_HOME"
CACHE_ENV = "LMREC_CACHE"
_ALGORITHMS = ("sha256", "md5", "sha1")


def cache_dir() -> Path:
    """Download cache: `$LMREC_CACHE`, else `~/.cache/lmrec/datasets`."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lmrec" / "datasets"


def resolve_dataset(
    name: str | DatasetEntry,
    path: PathLike | None = None,
    *,
    verify: bool = True,
    download: bool = True,
    url: str | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Folder, zip or file holding a complete copy of dataset `name`.

    An explicit `path` is final: if it does not hold the dataset that is an error, not a reason to look
    elsewhere. `url` replaces the official URL of a single-file dataset (mirrors, tests). `verify=False`
    skips checksum checks and allows downloads that have no known checksum.
    """
    entry = get_entry(name) if isinstance(name, str) else name
    official = entry
    if url is not None:
        if len(entry.downloads) != 1:
            raise DataError(f"{entry.name}: url= needs a dataset with exactly one download")
        entry = replace(entry, downloads=(replace(entry.downloads[0], urls=(url,)),))
    if path is not None:
        found, why = _match(entry, Path(path).expanduser(), explicit=True)
        if found is None:
            raise DatasetNotFoundError(f"dataset {entry.name!r}: {why}.\n{_hint(official)}")
        if verify:
            verify_local_copy(entry, found)
        return found
    tried: list[str] = []
    home = os.environ.get(DATA_HOME_ENV)
    for label, root in (
        (f"{DATA_HOME_ENV}={home}", Path(home).expanduser() if home else None),
        (f"cache {cache_dir()}", cache_dir()),
    ):
        if root is None:
            tried.append(f"{DATA_HOME_ENV} is not set")
            continue
        found, why = _match(entry, root, explicit=False)
        if found is not None:
            if verify:
                verify_local_copy(entry, found)
            return found
        tried.append(f"{label}: {why}")
    if not entry.downloads:
        tried.append("no official download is registered for this dataset: a local copy is required")
    elif not download:
        tried.append("downloading was disabled (download=False)")
    else:
        try:
            found = _download(entry, verify=verify, progress=progress, timeout=timeout)
        except _FetchFailed as exc:
            tried.append(str(exc))
        else:
            if verify:
                verify_local_copy(entry, found)
            return found
    listing = "\n".join(f"  - {t}" for t in tried)
    raise DatasetNotFoundError(
        f"dataset {entry.name!r} is not available. Tried:\n{listing}\n{_hint(official)}"
    )


def _hint(entry: DatasetEntry) -> str:
    files = ", ".join(f.replace("|", " or ") for f in entry.files)
    hint = (
        f"Point lmrec at a local copy with --data PATH (a folder or zip with {files}) or set "
        f"{DATA_HOME_ENV}=/folder/containing/{entry.folder_names[0]}"
    )
    if entry.url:
        return f"{hint}; official source: {entry.url}"
    if entry.obtain:
        return f"{hint}. There is no direct download; get it from {entry.obtain}"
    return f"{hint}; see {entry.homepage}" if entry.homepage else hint


def _match(entry: DatasetEntry, root: Path, *, explicit: bool) -> tuple[Path | None, str]:
    """A copy of `entry` at `root` itself or at `root/<folder>[.zip]`; else None and what was seen."""
    if not root.exists():
        return None, f"{root} does not exist"
    candidates = [root] if explicit else []
    if root.is_dir():
        for folder in entry.folder_names:
            candidates += [root / folder, root / f"{folder}.zip"]
        candidates += [root / d.filename for d in entry.downloads if d.filename.endswith(".zip")]
    seen: list[str] = []
    for cand in dict.fromkeys(candidates):
        if not cand.exists():
            continue
        try:
            source = DataSource(cand)
        except DataError as exc:
            seen.append(str(exc))
            continue
        if source.kind == "file" and len(entry.files) == 1 and explicit and cand == root:
            return cand, ""  # a single-file dataset given by its file (checksum still verified)
        missing = entry.missing(source.names())
        if not missing:
            return cand, ""
        seen.append(f"{cand} lacks {missing}")
    if seen:
        return None, "; ".join(seen)
    names = ", ".join(f"{f}/ or {f}.zip" for f in entry.folder_names)
    return None, (f"{root} does not hold {entry.name} files" if explicit else f"no {names} in {root}")


# --- verification ---------------------------------------------------------------------------------


def _parse_checksum(checksum: str) -> tuple[str, str]:
    algorithm, _, digest = checksum.partition(":")
    if algorithm not in _ALGORITHMS or not digest:
        raise ValueError(f"checksum {checksum!r} must look like 'sha256:<hex>' or 'md5:<hex>'")
    return algorithm, digest.lower()


def verify_checksum(path: PathLike, checksum: str) -> None:
    """Raise DataError unless the file at `path` has `checksum` (`sha256:<hex>` or `md5:<hex>`)."""
    algorithm, expected = _parse_checksum(checksum)
    actual = _file_digest(Path(path), algorithm)
    if actual != expected:
        raise DataError(f"{path}: {algorithm} is {actual}, expected {expected}")


def verify_local_copy(entry: DatasetEntry, location: PathLike) -> None:
    """Check the known per-file checksums (and the archive checksum for an official zip) of a copy."""
    location = Path(location)
    source = DataSource(location)
    archive = next((d for d in entry.downloads if d.filename == location.name and d.checksum), None)
    if source.kind == "zip" and archive is not None and archive.checksum is not None:
        _check(source, location.name, archive.checksum, entry, archive=True)
    single = source.kind == "file" and len(entry.files) == 1
    for fname, checksum in entry.file_checksums.items():
        if single and fname in entry.files[0].split("|"):
            _check(source, source.names()[0], checksum, entry)
        elif source.has(fname):
            _check(source, fname, checksum, entry)


def _check(
    source: DataSource, name: str, checksum: str, entry: DatasetEntry, *, archive: bool = False
) -> None:
    algorithm, expected = _parse_checksum(checksum)
    if archive:
        actual, label = _file_digest(source.path, algorithm), str(source.path)
    else:
        actual, label = source.digest(name, algorithm), source.label(name)
    if actual != expected:
        raise DataError(
            f"{label}: {algorithm} {actual} does not match the published {expected} for {entry.name}; the "
            "file is damaged, modified or from another release. Replace it with the official file, or load "
            "it as a plain path (load_dataset(path)) to use it without the registry's checks"
        )


def _file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- download -------------------------------------------------------------------------------------


class _FetchFailed(Exception):
    """A download attempt failed; the message says which URL and why."""


def _download(entry: DatasetEntry, *, verify: bool, progress: bool, timeout: float) -> Path:
    cache = cache_dir()
    single_zip = len(entry.downloads) == 1 and entry.downloads[0].filename.endswith(".zip")
    target_dir = cache if single_zip else cache / entry.folder_names[0]
    for dl in entry.downloads:
        if verify and dl.checksum is None:
            raise _FetchFailed(
                f"download of {dl.urls[0]} refused: no published checksum is registered for {dl.filename}, "
                "so the file could not be verified; pass verify=False (CLI: --no-verify) to accept it "
                "unverified"
            )
    for dl in entry.downloads:
        dest = target_dir / dl.filename
        if dest.exists():
            continue
        errors = []
        for url in dl.urls:
            try:
                fetch(
                    url,
                    dest,
                    checksum=dl.checksum if verify else None,
                    size=dl.size,
                    progress=progress,
                    timeout=timeout,
                )
                break
            except (OSError, DataError) as exc:
                errors.append(str(exc) if url in str(exc) else f"{url}: {exc}")
        else:
            raise _FetchFailed("download failed: " + "; ".join(errors))
    return target_dir / entry.downloads[0].filename if single_zip else target_dir


def fetch(
    url: str,
    dest: PathLike,
    *,
    checksum: str | None,
    size: int | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Stream `url` to `dest` atomically; size and checksum are verified before the file gets its name.

    On a size or checksum mismatch the partial file is deleted and `DataError` is raised; network errors
    propagate as `OSError` (`urllib.error.URLError` is one).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    algorithm, expected = _parse_checksum(checksum) if checksum else ("sha256", None)
    digest = hashlib.new(algorithm)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or size
            written = _copy(response, out, digest, total, f"{dest.name}", progress)
        if size is not None and written != size:
            raise DataError(
                f"{url}: got {written} bytes, expected {size}; the download is incomplete or wrong"
            )
        if expected is not None and digest.hexdigest() != expected:
            raise DataError(
                f"{url}: {algorithm} {digest.hexdigest()} does not match the published {expected}; "
                "the downloaded file was deleted"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _copy(
    response: IO[bytes], out: IO[bytes], digest: Any, total: int | None, label: str, progress: bool
) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    written = 0
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=Console(stderr=True), disable=not progress, transient=True) as bar:
        task = bar.add_task(f"downloading {label}", total=total)
        for block in iter(lambda: response.read(1 << 20), b""):
            out.write(block)
            digest.update(block)
            written += len(block)
            bar.update(task, advance=len(block))
    return written
