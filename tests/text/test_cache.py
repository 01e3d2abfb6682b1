"""Embedding cache: nothing is encoded twice, changes re-encode only what changed, files are safe."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from lmrec.text import EmbeddingCache, EncoderError, default_cache_dir
from lmrec.text.cache import text_hashes


class CountingEncoder:
    """Deterministic fake encoder that records every text it is asked to encode."""

    def __init__(self, dim: int = 4, corpus_dependent: bool = False, tag: str = "v1") -> None:
        self._dim = dim
        self.corpus_dependent = corpus_dependent
        self.tag = tag
        self.calls: list[list[str]] = []

    @property
    def name(self) -> str:
        return f"counting:{self.tag}:dim={self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def encoded(self) -> list[str]:
        return [t for call in self.calls for t in call]

    def encode(
        self, texts: Sequence[str], *, batch_size: int | None = None, progress: bool = False
    ) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
            out[i] = np.random.default_rng(seed).standard_normal(self._dim)
        if self.corpus_dependent:  # vectors that depend on the corpus, like TF-IDF
            out += len(texts)
        return out


TEXTS = ["Toy Story", "Heat", "Casino", "Heat", "Alien"]


def test_second_run_encodes_nothing(tmp_path: Path) -> None:
    enc = CountingEncoder()
    first = EmbeddingCache(tmp_path).encode(enc, TEXTS)
    assert enc.encoded == ["Toy Story", "Heat", "Casino", "Alien"]  # the repeat is encoded once
    np.testing.assert_array_equal(first[1], first[3])
    np.testing.assert_array_equal(first, enc.encode(TEXTS))
    enc.calls.clear()
    again = EmbeddingCache(tmp_path).encode(enc, list(reversed(TEXTS)))
    assert enc.calls == []
    np.testing.assert_array_equal(again, first[::-1])
    assert first.dtype == np.float32


def test_a_changed_text_re_encodes_only_that_text(tmp_path: Path) -> None:
    enc = CountingEncoder()
    cache = EmbeddingCache(tmp_path)
    before = cache.encode(enc, TEXTS)
    enc.calls.clear()
    changed = [*TEXTS[:2], "Casino (1995)", *TEXTS[3:]]
    after = cache.encode(enc, changed)
    assert enc.calls == [["Casino (1995)"]]
    np.testing.assert_array_equal(np.delete(after, 2, axis=0), np.delete(before, 2, axis=0))
    assert not np.array_equal(after[2], before[2])


def test_encoders_with_different_names_do_not_share_vectors(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    cache.encode(CountingEncoder(tag="v1"), TEXTS)
    other = CountingEncoder(tag="v2")
    cache.encode(other, TEXTS)
    assert len(other.encoded) == 4
    assert len(list(tmp_path.glob("*.npz"))) == 2


def test_corpus_dependent_encoder_is_cached_per_corpus(tmp_path: Path) -> None:
    enc = CountingEncoder(corpus_dependent=True)
    cache = EmbeddingCache(tmp_path)
    first = cache.encode(enc, TEXTS)
    assert enc.calls == [TEXTS]  # the whole corpus, repeats included: they change TF-IDF weights
    cache.encode(enc, TEXTS)
    assert len(enc.calls) == 1
    changed = cache.encode(enc, TEXTS[:-1])
    assert enc.calls[-1] == TEXTS[:-1]  # any change re-fits on the whole new corpus
    assert not np.array_equal(changed, first[:-1])
    cache.encode(enc, list(reversed(TEXTS)))
    assert len(enc.calls) == 3  # order is part of the corpus


def test_files_hold_no_pickle_and_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    enc = CountingEncoder()
    cache = EmbeddingCache(tmp_path / "nested" / "dir")
    cache.encode(enc, TEXTS)
    cache.encode(enc, ["one more"])
    files = list((tmp_path / "nested" / "dir").iterdir())
    assert [f.suffix for f in files] == [".npz"]
    with np.load(files[0], allow_pickle=False) as npz:
        assert str(npz["key"]) == enc.name
        assert npz["vectors"].shape == (5, 4)
        np.testing.assert_array_equal(np.sort(npz["hashes"]), np.sort(text_hashes([*set(TEXTS), "one more"])))


def test_a_corrupt_file_is_rebuilt_with_a_warning(tmp_path: Path) -> None:
    enc = CountingEncoder()
    cache = EmbeddingCache(tmp_path)
    good = cache.encode(enc, TEXTS)
    path = cache.path(enc.name)
    path.write_bytes(path.read_bytes()[:50])  # truncated write from some other tool
    enc.calls.clear()
    with pytest.warns(RuntimeWarning, match=r"cannot be read.*rebuilding it"):
        rebuilt = cache.encode(enc, TEXTS)
    np.testing.assert_array_equal(rebuilt, good)
    assert len(enc.encoded) == 4
    enc.calls.clear()
    cache.encode(enc, TEXTS)  # the rebuilt file is valid again
    assert enc.calls == []


def test_a_file_with_wrong_arrays_is_rebuilt(tmp_path: Path) -> None:
    enc = CountingEncoder()
    cache = EmbeddingCache(tmp_path)
    path = cache.path(enc.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        key=np.array(enc.name),
        format_version=np.array(1),
        hashes=np.zeros(2, "S64"),
        vectors=np.zeros(3),
    )
    with pytest.warns(RuntimeWarning, match="vectors of dtype float64"):
        cache.encode(enc, TEXTS)


def test_an_encoder_returning_the_wrong_shape_is_an_error_and_writes_nothing(tmp_path: Path) -> None:
    class Broken(CountingEncoder):
        def encode(
            self, texts: Sequence[str], *, batch_size: int | None = None, progress: bool = False
        ) -> np.ndarray:
            return np.zeros((1, 4), dtype=np.float32)

    with pytest.raises(EncoderError, match=r"shape \(1, 4\) for 4 texts"):
        EmbeddingCache(tmp_path).encode(Broken(), TEXTS)
    assert list(tmp_path.iterdir()) == []


def test_default_folder_follows_lmrec_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path / "root"))
    assert default_cache_dir() == tmp_path / "root" / "embeddings"
    assert EmbeddingCache().directory == tmp_path / "root" / "embeddings"
    monkeypatch.delenv("LMREC_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "lmrec" / "embeddings"
