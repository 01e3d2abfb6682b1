"""AnnIndex: recall against the exact ranking, exclusions, the exact fallback, items without vectors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from lmrec.errors import ConfigError
from lmrec.models.topk import topk
from lmrec.retrieval import AnnConfig, AnnIndex
from lmrec.retrieval.synthetic import clustered_catalog

pytest.importorskip("faiss")


@pytest.fixture(scope="module")
def catalog() -> tuple[np.ndarray, np.ndarray]:
    """20k clustered items x 32 d and 200 queries (seeded)."""
    return clustered_catalog(20_000, 200, 32, n_clusters=128, seed=7)


@pytest.fixture(scope="module")
def indexes(catalog: tuple[np.ndarray, np.ndarray]) -> dict[str, AnnIndex]:
    items, _ = catalog
    return {kind: AnnIndex(items, AnnConfig(index=kind)) for kind in ("exact", "hnsw", "ivf")}


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
@pytest.mark.parametrize("n", [10, 100])
def test_recall_against_exact(
    catalog: tuple[np.ndarray, np.ndarray], indexes: dict[str, AnnIndex], kind: str, n: int
) -> None:
    _, queries = catalog
    truth, _ = indexes["exact"].search_exact(queries, n)
    found = indexes[kind].search(queries, n)
    assert indexes[kind].kind == kind
    assert recall(found.items, truth) >= 0.95
    assert not found.exact.any(), "no exclusions: no row should need the exact fallback"
    # returned scores are the exact inner products, best first
    items, _ = catalog
    np.testing.assert_allclose(
        found.scores, np.einsum("bd,bkd->bk", queries, items[found.items]), rtol=1e-5, atol=1e-4
    )
    assert (np.diff(found.scores, axis=1) <= 0).all()


def test_exact_kind_is_the_shared_topk(catalog: tuple[np.ndarray, np.ndarray]) -> None:
    items, queries = catalog
    index = AnnIndex(items[:500], AnnConfig(index="exact"))
    found = index.search(queries[:20], 7)
    expected_items, expected_scores = topk(queries[:20] @ items[:500].T, 7)
    np.testing.assert_array_equal(found.items, expected_items)
    np.testing.assert_array_equal(found.scores, expected_scores)
    assert found.exact.all()


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_exclusions_are_never_returned(
    catalog: tuple[np.ndarray, np.ndarray], indexes: dict[str, AnnIndex], kind: str
) -> None:
    """Each query excludes its own exact top-30 plus 20 random items: none may come back, and the list
    is still full and close to the exact list computed with the same exclusions."""
    _, queries = catalog
    rng = np.random.default_rng(0)
    top30, _ = indexes["exact"].search_exact(queries, 30)
    cols = np.hstack([top30, rng.integers(0, 20_000, size=(len(queries), 20))])
    exclude = sp.csr_matrix(
        (np.ones(cols.size), (np.repeat(np.arange(len(queries)), cols.shape[1]), cols.ravel())),
        shape=(len(queries), 20_000),
    )
    found = indexes[kind].search(queries, 50, exclude=exclude)
    truth, _ = indexes["exact"].search_exact(queries, 50, exclude=exclude)
    for row in range(len(queries)):
        assert not set(found.items[row]) & set(cols[row])
        assert (found.items[row] >= 0).all()
    assert recall(found.items, truth) >= 0.95


def test_short_lists_fall_back_to_exact(
    indexes: dict[str, AnnIndex], catalog: tuple[np.ndarray, np.ndarray]
) -> None:
    """Row 0 excludes all but 3 items (the ANN candidates cannot fill 10 slots: only 3 exist, which the
    exact ranking finds); row 1 excludes more than max_overfetch items; row 2 is ordinary."""
    items, queries = catalog
    index = AnnIndex(items[:2000], AnnConfig(index="hnsw", max_overfetch=100))
    exclude = sp.lil_matrix((3, 2000))
    exclude[0, 3:] = 1
    exclude[1, :150] = 1
    found = index.search(queries[:3], 10, exclude=exclude.tocsr())
    assert found.exact.tolist() == [True, True, False]
    assert index.exact_fallbacks == 2
    assert sorted(found.items[0][:3].tolist()) == [0, 1, 2] and (found.items[0][3:] == -1).all()
    truth, _ = index.search_exact(queries[:2], 10, exclude=exclude.tocsr()[:2])
    np.testing.assert_array_equal(found.items[:2], truth)
    assert index.describe()["exact_fallbacks"] == 2


def test_items_without_a_vector_are_ranked_last(catalog: tuple[np.ndarray, np.ndarray]) -> None:
    items, queries = catalog
    vectors = items[:300].copy()
    vectors[[5, 7]] = np.nan
    for kind in ("exact", "hnsw"):
        index = AnnIndex(vectors, AnnConfig(index=kind))
        found = index.search(queries[:10], 20)
        assert not {5, 7} & set(found.items.ravel().tolist())
        everything = index.search(queries[:2], 300)
        assert everything.items[:, -2:].tolist() == [[5, 7], [5, 7]]
        assert index.describe()["items_without_vector"] == 2
    with pytest.raises(ValueError, match="partly NaN"):
        AnnIndex(np.array([[1.0, np.nan], [1.0, 2.0]]))


def test_config_checks_and_auto_kinds() -> None:
    cfg = AnnConfig(exact_below=100, ivf_from=1000)
    assert [cfg.kind_for(n) for n in (99, 100, 999, 1000)] == ["exact", "hnsw", "hnsw", "ivf"]
    assert AnnConfig().nlist_for(20_000) == 512 and AnnConfig().nlist_for(10) == 1
    for bad in ({"index": "lsh"}, {"ef_search": 0}, {"nlist": 0}, {"max_overfetch": -1}, {"hnsw_m": 1.5}):
        with pytest.raises(ConfigError):
            AnnConfig(**bad)  # type: ignore[arg-type]
    hnsw = AnnIndex(np.eye(4, dtype=np.float32), AnnConfig(index="hnsw"))
    hnsw.set_search_params(ef_search=16, nprobe=3)
    assert (hnsw.config.ef_search, hnsw.config.nprobe, hnsw._faiss.hnsw.efSearch) == (16, 3, 16)
    index = AnnIndex(np.eye(4, dtype=np.float32), AnnConfig(index="exact"))
    with pytest.raises(ValueError, match="shape"):
        index.search(np.ones((1, 3)), 2)
    with pytest.raises(ValueError, match="exclude"):
        index.search(np.ones((1, 4)), 2, exclude=sp.csr_matrix((2, 4)))
