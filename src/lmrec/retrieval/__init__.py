"""Retrieval for embedding models: exact or approximate (FAISS) top-n by inner product.

- `embedding`: the `EmbeddingModel` protocol (`user_vectors`, `item_vectors`; score = user · item),
  implemented by ALS, BPR and the sequence models;
- `ann`: `AnnIndex` (exact / HNSW / IVF-Flat over the item vectors) and its frozen `AnnConfig`;
- `retriever`: `Retriever`, a model's `recommend` answered through an index ("exact" | "ann" | "auto").

Kept outside `lmrec.service` because nothing here is about HTTP: offline batch scoring and
benchmarks/ann.py use it as they are. faiss (the `serve` extra) is imported only when an approximate
index is built.
"""

from __future__ import annotations

from lmrec.retrieval.ann import AnnConfig, AnnIndex, SearchResult
from lmrec.retrieval.embedding import EmbeddingModel, is_embedding_model
from lmrec.retrieval.retriever import RETRIEVAL_MODES, Ranked, Retriever

__all__ = [
    "RETRIEVAL_MODES",
    "AnnConfig",
    "AnnIndex",
    "EmbeddingModel",
    "Ranked",
    "Retriever",
    "SearchResult",
    "is_embedding_model",
]
