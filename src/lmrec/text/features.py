"""Catalog + item vocabulary + text encoder -> `ItemFeatures` for content-aware models.

This is the one place a catalog becomes vectors: render one text per item (`template.py`), encode the
texts through the on-disk cache (`cache.py`, `encoders.py`), and lay the vectors out by item index.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lmrec.data.catalog import ItemCatalog
from lmrec.data.features import ItemFeatures
from lmrec.data.vocabulary import Vocabulary
from lmrec.errors import DataError
from lmrec.text.cache import EmbeddingCache, checked_vectors
from lmrec.text.encoders import TextEncoder, encoder_spec, make_encoder
from lmrec.text.template import ItemTextTemplate, item_texts


def item_features(
    catalog: ItemCatalog,
    item_vocab: Vocabulary,
    encoder: TextEncoder | str | Mapping[str, Any],
    template: ItemTextTemplate | str | None = None,
    *,
    cache_dir: str | Path | None = None,
    cache: bool = True,
    progress: bool = False,
    stats: dict[str, Any] | None = None,
) -> ItemFeatures:
    """Text embeddings of the catalog's items, one row per index of `item_vocab`.

    encoder: a `TextEncoder` or a spec for `make_encoder` ("minilm", "tfidf:128", a model folder, ...).
    template: an `ItemTextTemplate` or its format string; default: the catalog's text fields joined.
    cache_dir: embedding cache folder (default `$LMREC_CACHE/embeddings` or ~/.cache/lmrec/embeddings);
    cache=False encodes without reading or writing it.
    progress: show a progress bar while encoding (sentence encoders).
    stats: if given, filled with `texts` (items with text), `encoded` (texts run through the encoder; the
    rest came from the cache) and `seconds` (wall time of this call).

    Items without a catalog row or whose text renders empty get a zero vector and `has_content` False.
    Only items with text are encoded, so a corpus-dependent encoder (TF-IDF) is fitted on exactly those
    texts, in item-index order. `source` records the encoder name and the template; `recipe` the encoder
    spec and template, so that a model can later encode a new item's text the same way.
    """
    started = time.perf_counter()
    texts = item_texts(catalog, item_vocab, template)
    rows = np.flatnonzero(texts.has_text)
    if rows.size == 0:
        cat_ids = catalog.frame.index[:3].tolist()
        raise DataError(
            f"none of the {len(item_vocab)} items has text with template {texts.template.template!r}: "
            f"{int(texts.in_catalog.sum())} have a catalog row (catalog ids look like {cat_ids}, "
            f"vocabulary ids like {item_vocab.ids[:3].tolist()}); check that both use the same ids"
        )
    enc = make_encoder(encoder)
    corpus = [texts.texts[i] for i in rows]
    if cache:
        store = EmbeddingCache(cache_dir)
        encoded = store.encode(enc, corpus, progress=progress)
        n_encoded = store.encoded
    else:
        encoded = checked_vectors(enc, corpus, enc.encode(corpus, progress=progress))
        n_encoded = len(corpus)
    if stats is not None:
        stats.update(texts=len(corpus), encoded=n_encoded, seconds=round(time.perf_counter() - started, 3))
    vectors = np.zeros((len(item_vocab), encoded.shape[1]), dtype=np.float32)
    vectors[rows] = encoded
    return ItemFeatures(
        vectors=vectors,
        has_content=texts.has_text,
        source=f"{enc.name} | template={texts.template.template!r}",
        texts=tuple(texts.texts[i] if texts.has_text[i] else "" for i in range(len(item_vocab))),
        recipe={
            "encoder": encoder_spec(enc),
            "encoder_name": enc.name,
            "corpus_dependent": bool(enc.corpus_dependent),
            "template": texts.template.template,
            "list_fields": list(texts.template.list_fields),
            "list_separator": texts.template.list_separator,
        },
    )
