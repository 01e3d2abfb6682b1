"""Item text for content models: templates over catalog fields, text encoders, an embedding cache.

The usual entry point is `item_features(catalog, item_vocab, encoder)`, which returns the
`ItemFeatures` that content-aware models take in `fit(..., item_features=...)`::

    from lmrec.text import item_features
    features = item_features(raw.catalog, data.item_vocab, "minilm")   # or "tfidf:128"

Heavy libraries (torch, sentence-transformers, scikit-learn) load only when an encoder encodes.
"""

from lmrec.text.cache import EmbeddingCache, default_cache_dir
from lmrec.text.encoders import (
    DEFAULT_MODEL,
    EncoderError,
    SentenceTransformerEncoder,
    TextEncoder,
    TfidfLsaEncoder,
    make_encoder,
)
from lmrec.text.features import item_features
from lmrec.text.template import ItemTexts, ItemTextTemplate, item_texts

__all__ = [
    "DEFAULT_MODEL",
    "EmbeddingCache",
    "EncoderError",
    "ItemTextTemplate",
    "ItemTexts",
    "SentenceTransformerEncoder",
    "TextEncoder",
    "TfidfLsaEncoder",
    "default_cache_dir",
    "item_features",
    "item_texts",
    "make_encoder",
]
