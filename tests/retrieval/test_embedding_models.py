"""The embedding-model protocol (score = user_vectors @ item_vectors.T) and the Retriever's modes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from lmrec.data.interactions import sequences_to_csr
from lmrec.errors import ConfigError
from lmrec.models.base import Recommender
from lmrec.models.knn import ItemKNN
from lmrec.models.mf import ALS, BPR
from lmrec.retrieval import AnnConfig, Retriever, is_embedding_model
from lmrec.testing.datasets import random_interactions, successor_sequences

pytest.importorskip("faiss")


@pytest.fixture(scope="module")
def factor_models() -> dict[str, Recommender]:
    data = random_interactions(n_users=40, n_items=30, seed=1)
    return {
        "als": ALS(factors=8, iterations=3, num_threads=1).fit(data, seed=0),
        "bpr": BPR(factors=8, iterations=5).fit(data, seed=0),
    }


@pytest.fixture(scope="module")
def sasrec() -> Recommender:
    from lmrec.models.sequential.sasrec import SASRec

    case = successor_sequences(n_users=30, n_items=12)
    return SASRec(embedding_size=8, epochs=1, num_threads=1).fit(case.data, seed=0)


def check_protocol(model: Any, users: np.ndarray, history: Any = None, sequences: Any = None) -> None:
    expected = model.score(users, history, sequences=sequences)
    vectors = model.user_vectors(users, history, sequences)
    assert vectors.dtype == np.float32 and vectors.shape[0] == len(users)
    np.testing.assert_allclose(vectors @ model.item_vectors().T, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["als", "bpr"])
def test_factor_models_are_embedding_models(factor_models: dict[str, Recommender], name: str) -> None:
    model = factor_models[name]
    assert is_embedding_model(model)
    check_protocol(model, np.arange(40))
    rng = np.random.default_rng(0)
    history = sp.csr_matrix((rng.random((4, 30)) < 0.2).astype(np.float32))
    check_protocol(model, np.array([-1, 3, -1, -1]), history)  # unknown users are folded in
    with pytest.raises(ValueError, match="out of range"):
        model.user_vectors(np.array([40]))  # type: ignore[attr-defined]


def test_sequence_models_are_embedding_models(sasrec: Any) -> None:
    assert is_embedding_model(sasrec) and not is_embedding_model(ItemKNN())
    check_protocol(sasrec, np.arange(30))
    sequences = [np.array([3, 4, 5]), np.array([7]), np.arange(12)[::-1].copy()]
    check_protocol(sasrec, np.array([-1, 2, -1]), sequences=sequences)
    history = sequences_to_csr(sequences, 12)
    check_protocol(sasrec, np.array([-1, -1, -1]), history)  # matrix only: item-index order
    with pytest.raises(ValueError, match="empty history"):
        sasrec.user_vectors(np.array([-1]), sequences=[np.array([], dtype=np.int64)])


@pytest.mark.parametrize("name", ["als", "sasrec"])
def test_ann_retriever_matches_exact_on_a_small_catalog(
    factor_models: dict[str, Recommender], sasrec: Any, name: str
) -> None:
    """On a catalog this small HNSW is exact, so the lists must equal the model's own, exclusions and
    popularity rows (empty histories) included."""
    model = sasrec if name == "sasrec" else factor_models[name]
    n_items = model.n_items
    retriever = Retriever(model, mode="ann")
    assert retriever.mode == "ann" and retriever.describe()["index"] == "hnsw"
    users = np.array([0, 1, 2, -1, -1])
    sequences = [np.array([1, 2]), np.array([3]), np.array([5, 6, 7]), np.array([4, 8]), np.array([], int)]
    history = sequences_to_csr(sequences, n_items)
    for exclude in (True, False):
        ranked = retriever.recommend(users, history, n=5, exclude_history=exclude, sequences=sequences)
        expected = model.recommend(users, history, n=5, exclude_history=exclude, sequences=sequences)
        np.testing.assert_array_equal(ranked.recs.items, expected.items)
        np.testing.assert_allclose(ranked.recs.scores, expected.scores, rtol=1e-4, atol=1e-5)
        assert ranked.ann.tolist() == [True, True, True, True, False], "the empty history is ranked exactly"
    known = retriever.recommend(np.arange(5), n=3)  # training histories
    np.testing.assert_array_equal(known.recs.items, model.recommend(np.arange(5), n=3).items)


def test_retriever_modes(factor_models: dict[str, Recommender]) -> None:
    als = factor_models["als"]
    auto = Retriever(als, mode="auto")
    assert auto.mode == "exact" and "exact_below" in auto.reason
    forced = Retriever(als, mode="auto", config=AnnConfig(exact_below=10))
    assert forced.mode == "ann" and forced.describe()["index"] == "hnsw"
    ivf = Retriever(als, mode="ann", config=AnnConfig(index="ivf"))
    assert ivf.describe()["index"] == "ivf"
    knn = ItemKNN(k=5).fit(random_interactions(n_users=10, n_items=8), seed=0)
    assert Retriever(knn, mode="auto").describe() == {
        "requested": "auto",
        "mode": "exact",
        "reason": "no item vectors",
        "index": "exact",
    }
    with pytest.raises(ConfigError, match="user and item vectors"):
        Retriever(knn, mode="ann")
    with pytest.raises(ConfigError, match="retrieval must be"):
        Retriever(als, mode="fast")


def test_untrained_items_of_a_sequence_model_rank_last_through_the_index() -> None:
    """Item 99 occurs only in a one-item history, so SASRec never trains its embedding: `score` ranks it
    below every other item, and the ANN path must too (it is not in the index)."""
    import pandas as pd

    from lmrec.data.interactions import Interactions
    from lmrec.models.sequential.sasrec import SASRec

    rows = [(f"u{u}", (u + t) % 10, t) for u in range(20) for t in range(6)] + [("solo", 99, 0)]
    frame = pd.DataFrame(rows, columns=["user", "item", "timestamp"])
    model = SASRec(embedding_size=8, epochs=1, num_threads=1).fit(Interactions.from_frame(frame), seed=0)
    untrained = int(model.item_vocab_.index([99])[0])
    assert np.isnan(model.item_vectors()[untrained]).all()
    retriever = Retriever(model, mode="ann")
    users = np.array([0, 1, -1])
    sequences = [np.array([1, 2]), np.array([3]), np.array([4, 5])]
    ranked = retriever.recommend(users, n=11, exclude_history=False, sequences=sequences)
    expected = model.recommend(users, n=11, exclude_history=False, sequences=sequences)
    np.testing.assert_array_equal(ranked.recs.items, expected.items)
    assert (ranked.recs.items[:, -1] == untrained).all()
    assert not ranked.ann.any(), "11 of 11 items: only the exact ranking can place the untrained one"
    top = retriever.recommend(users, n=5, sequences=sequences)
    assert top.ann.all() and untrained not in top.recs.items


@pytest.mark.parametrize("name", ["als", "sasrec"])
def test_user_vector_cache_gives_the_encoder_lists(
    factor_models: dict[str, Recommender], sasrec: Any, name: str
) -> None:
    model = sasrec if name == "sasrec" else factor_models[name]
    cached = Retriever(model, mode="ann")
    fresh = Retriever(model, mode="ann", config=AnnConfig(cache_user_vectors=False))
    assert fresh.user_cache is None and cached.user_cache is not None
    users = np.arange(model.history_.shape[0])
    filled = np.diff(model.history_.indptr) > 0
    assert cached.describe()["user_vectors_cached"] == int(filled.sum())
    np.testing.assert_allclose(
        cached.user_cache[filled], model.user_vectors(users[filled]), rtol=1e-5, atol=1e-6
    )
    a, b = cached.recommend(users, n=5), fresh.recommend(users, n=5)
    np.testing.assert_array_equal(a.recs.items, b.recs.items)
    # a history given with the request is encoded afresh, never read from the cache
    other = [np.array([3, 1]), np.array([2])]
    given = cached.recommend(users[:2], n=5, sequences=other)
    np.testing.assert_array_equal(
        given.recs.items, fresh.recommend(users[:2], n=5, sequences=other).recs.items
    )
