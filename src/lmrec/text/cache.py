"""On-disk embedding cache: a text is encoded once per encoder, however many runs ask for it.

One `.npz` file per cache key holds the sha256 of every cached text (hex, `S64`) and its vector
(float32); no pickle. The key is the encoder's `name`, which names the model and every setting that
changes the vectors. For a corpus-dependent encoder (TF-IDF: a text's vector depends on the other texts)
the key also holds the sha256 of the whole corpus in order, and a miss re-encodes the whole corpus.

Files live in `$LMREC_CACHE/embeddings`, else `~/.cache/lmrec/embeddings`, or any folder passed in.
Writes go to a temporary file in the same folder that is then renamed over the old one, so a reader never
sees half a file; two processes adding to the same file at once keep one writer's additions (the
others re-encode on their next run). A file that cannot be read (truncated, not an npz, wrong
arrays) is reported with a `RuntimeWarning` and rebuilt from scratch: the cache only ever costs time.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lmrec.text.encoders import EncoderError, TextEncoder

CACHE_ENV = "LMREC_CACHE"
"""Environment variable naming lmrec's cache root (datasets use it too); embeddings go to a subfolder."""
FORMAT_VERSION = 1
_SLUG = re.compile(r"[^A-Za-z0-9._=-]+")


def default_cache_dir() -> Path:
    """`$LMREC_CACHE/embeddings`, else `~/.cache/lmrec/embeddings` (read at call time, not import time)."""
    root = os.environ.get(CACHE_ENV)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "lmrec"
    return base / "embeddings"


def text_hashes(texts: Sequence[str]) -> np.ndarray:
    """sha256 of each text (UTF-8) as 64 hex characters (`S64`)."""
    return np.array(
        [hashlib.sha256(t.encode("utf-8")).hexdigest().encode("ascii") for t in texts], dtype="S64"
    )


def corpus_hash(hashes: np.ndarray) -> str:
    """sha256 of a corpus: its texts' hashes in order (order and repeats matter to TF-IDF)."""
    return hashlib.sha256(np.ascontiguousarray(hashes, dtype="S64").tobytes()).hexdigest()


def cache_key(encoder: TextEncoder, hashes: np.ndarray) -> str:
    """The encoder name, plus the corpus hash when the encoder's vectors depend on the corpus."""
    if encoder.corpus_dependent:
        return f"{encoder.name}|corpus={corpus_hash(hashes)}"
    return encoder.name


class EmbeddingCache:
    """Embeddings on disk, keyed by encoder name and text hash."""

    encoded: int = 0
    """Texts the last `encode` call had to run through the encoder (0: all from the cache)."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory).expanduser() if directory is not None else default_cache_dir()

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.directory)!r})"

    def path(self, key: str) -> Path:
        """The file of a cache key: readable prefix plus a hash of the full key (keys can be long)."""
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
        return self.directory / f"{_SLUG.sub('-', key)[:80].strip('-')}-{digest}.npz"

    def encode(self, encoder: TextEncoder, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Vectors of `texts` (float32, row i for texts[i]), encoding only texts not cached yet.

        Repeated texts are encoded once. Corpus-dependent encoders are cached per corpus: any change
        to the texts re-encodes all of them.
        """
        texts = list(texts)
        hashes = text_hashes(texts)
        key = cache_key(encoder, hashes)
        path = self.path(key)
        stored_hashes, stored = self._read(path, key)
        if encoder.corpus_dependent:
            # the key holds the corpus hash, so a valid file holds exactly this corpus, in this order
            if len(texts) and np.array_equal(stored_hashes, hashes):
                self.encoded = 0
                return stored
            self.encoded = len(texts)
            vectors = checked_vectors(encoder, texts, encoder.encode(texts, progress=progress))
            self._write(path, key, hashes, vectors)
            return vectors
        unique, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
        found = _lookup(stored_hashes, unique)
        missing = np.flatnonzero(found < 0)
        self.encoded = int(missing.size)
        if missing.size:
            order = missing[np.argsort(first[missing])]  # encode in the order texts were given
            batch = [texts[first[i]] for i in order]
            new = checked_vectors(encoder, batch, encoder.encode(batch, progress=progress))
            if stored.shape[0] and stored.shape[1] != new.shape[1]:
                warnings.warn(
                    f"embedding cache {path} holds {stored.shape[1]}-d vectors but encoder {encoder.name!r} "
                    f"now gives {new.shape[1]}-d ones; rebuilding the file",
                    RuntimeWarning,
                    stacklevel=2,
                )
                stored_hashes, stored = stored_hashes[:0], np.zeros((0, new.shape[1]), dtype=np.float32)
            stored_hashes = np.concatenate([stored_hashes, unique[order]])
            stored = np.concatenate([stored, new]) if stored.shape[0] else new
            self._write(path, key, stored_hashes, stored)
            found = _lookup(stored_hashes, unique)
        return np.ascontiguousarray(stored[found[inverse]])

    def _read(self, path: Path, key: str) -> tuple[np.ndarray, np.ndarray]:
        empty = (np.zeros(0, dtype="S64"), np.zeros((0, 0), dtype=np.float32))
        if not path.is_file():
            return empty
        try:
            # np.load leaks its own file handle when the file is not a valid archive: pass ours
            with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as npz:
                stored_key = str(npz["key"])
                version = int(npz["format_version"])
                hashes = npz["hashes"]
                vectors = npz["vectors"]
            problem = _invalid(stored_key, key, version, hashes, vectors)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            problem = f"cannot be read ({type(exc).__name__}: {exc})"
        if problem:
            warnings.warn(f"embedding cache {path} {problem}; rebuilding it", RuntimeWarning, stacklevel=3)
            return empty
        return hashes, vectors

    def _write(self, path: Path, key: str, hashes: np.ndarray, vectors: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(
                    handle,
                    key=np.array(key),
                    format_version=np.array(FORMAT_VERSION),
                    hashes=np.asarray(hashes, dtype="S64"),
                    vectors=np.asarray(vectors, dtype=np.float32),
                )
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _invalid(stored_key: str, key: str, version: int, hashes: np.ndarray, vectors: np.ndarray) -> str:
    """Why a read cache file cannot be used ("" when it can)."""
    if version != FORMAT_VERSION:
        return f"has format version {version}, not {FORMAT_VERSION}"
    if stored_key != key:
        return f"belongs to key {stored_key!r}, not {key!r}"
    if hashes.dtype != np.dtype("S64") or hashes.ndim != 1:
        return f"has text hashes of dtype {hashes.dtype} and shape {hashes.shape}"
    if vectors.dtype != np.float32 or vectors.ndim != 2 or vectors.shape[0] != hashes.shape[0]:
        return f"has vectors of dtype {vectors.dtype} and shape {vectors.shape} for {hashes.shape[0]} texts"
    if not np.isfinite(vectors).all():
        return "has NaN/inf vectors"
    return ""


def _lookup(stored: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Row of each wanted hash in `stored` (-1 when absent)."""
    if stored.shape[0] == 0:
        return np.full(wanted.shape[0], -1, dtype=np.int64)
    return np.asarray(pd.Index(stored).get_indexer(wanted), dtype=np.int64)


def checked_vectors(encoder: TextEncoder, texts: list[str], vectors: np.ndarray) -> np.ndarray:
    """An encoder's output as contiguous float32, or an EncoderError if its shape or values are wrong."""
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or vectors.shape[0] != len(texts):
        raise EncoderError(
            f"encoder {encoder.name!r} returned an array of shape {vectors.shape} for {len(texts)} texts"
        )
    if not np.isfinite(vectors).all():
        raise EncoderError(f"encoder {encoder.name!r} returned NaN/inf vectors")
    return np.ascontiguousarray(vectors, dtype=np.float32)
