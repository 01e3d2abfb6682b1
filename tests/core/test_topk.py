import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lmrec.models.topk import HAS_TORCH, ranks, topk


def reference_topk(scores: np.ndarray, n: int) -> np.ndarray:
    """Slow, obviously-correct reference: sort each row by (-score, index)."""
    out = np.full((scores.shape[0], n), -1)
    for r, row in enumerate(scores):
        order = sorted(
            (i for i in range(row.size) if np.isfinite(row[i]) or row[i] > 0), key=lambda i: (-row[i], i)
        )
        out[r, : min(n, len(order))] = order[:n]
    return out


def test_ties_break_to_lower_index():
    items, scores = topk(np.array([[1.0, 3.0, 3.0, 3.0, 0.0]]), 2)
    assert items.tolist() == [[1, 2]]
    assert scores.tolist() == [[3.0, 3.0]]


def test_excluded_items_are_padding():
    items, scores = topk(np.array([[-np.inf, 2.0, -np.inf]]), 3)
    assert items.tolist() == [[1, -1, -1]]
    assert scores[0, 0] == 2.0 and np.isneginf(scores[0, 1:]).all()


def test_n_larger_than_catalog_pads():
    items, _ = topk(np.array([[0.5, 0.7]]), 4)
    assert items.tolist() == [[1, 0, -1, -1]]


def test_rejects_nan_and_bad_n():
    with pytest.raises(ValueError, match="NaN"):
        topk(np.array([[np.nan, 1.0]]), 1)
    with pytest.raises(ValueError, match="positive"):
        topk(np.zeros((1, 3)), 0)


@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=30),
        elements=st.sampled_from([0.0, 1.0, 2.0, 2.5, -1.0, -np.inf]),
    ),
    st.integers(1, 35),
)
def test_matches_sorting_reference(scores, n):
    items, top = topk(scores, n)
    assert items.shape == top.shape == (scores.shape[0], n)
    np.testing.assert_array_equal(items, reference_topk(scores, n))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(40, 200),
    st.integers(1, 5),
    st.data(),
)
def test_sparse_positive_rows_match_reference(rows, m, n, data):
    """Rows with few positive scores take the positives-only path; results must not change."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    scores = np.zeros((rows, m), dtype=np.float32)
    for r in range(rows):
        cnt = int(rng.integers(n, max(n, m // 8) + 1))
        cols = rng.choice(m, size=cnt, replace=False)
        scores[r, cols] = rng.choice([0.5, 1.0, 2.0], size=cnt)  # many ties among positives
    scores[:, rng.choice(m, size=3, replace=False)] = -np.inf
    items, _ = topk(scores, n)
    np.testing.assert_array_equal(items, reference_topk(scores, n))


def test_mixed_sparse_and_dense_rows_match_reference():
    rng = np.random.default_rng(11)
    scores = np.zeros((40, 300), dtype=np.float32)
    for r in range(40):
        if r % 3 == 0:  # dense row with ties
            scores[r] = rng.choice([0.0, 1.0, 2.0, -1.0], size=300)
        else:  # sparse positive row
            cols = rng.choice(300, size=int(rng.integers(5, 30)), replace=False)
            scores[r, cols] = rng.choice([0.5, 1.0, 3.0], size=cols.size)
    for n in (1, 5, 10):
        items, _ = topk(scores, n)
        np.testing.assert_array_equal(items, reference_topk(scores, n))


@given(
    hnp.arrays(
        np.float32,
        st.tuples(st.integers(1, 4), st.integers(1, 12)),
        elements=st.sampled_from([0.0, 1.0, 2.5]),
    )
)
@settings(max_examples=50, deadline=None)
def test_ranks_list_items_in_topk_order(scores: np.ndarray) -> None:
    """rank 0 is topk's first item, rank 1 its second...: the same tie rule (lower index first)."""
    items, _ = topk(scores, scores.shape[1])
    r = ranks(scores)
    for row in range(scores.shape[0]):
        np.testing.assert_array_equal(np.argsort(r[row]), items[row])


torch_engine = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed (extra lm)")


@torch_engine
@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(
        st.sampled_from([np.float32, np.float64]),
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40),
        elements=st.sampled_from([0.0, 1.0, 2.0, 2.5, -1.0, -np.inf]),
    ),
    st.integers(1, 45),
)
def test_torch_engine_matches_the_reference_on_tied_rows(scores, n):
    items, top = topk(scores, n, engine="torch") if n < scores.shape[1] else topk(scores, n)
    np.testing.assert_array_equal(items, reference_topk(scores, n))
    np.testing.assert_array_equal(top, topk(scores, n, engine="numpy")[1])


@torch_engine
@pytest.mark.parametrize("kind", ["random", "tied factors", "mostly zero", "excluded", "late ties"])
def test_engines_agree_on_large_rows(kind):
    """The cases issue 21 names: identical item factors tie exactly (ALS), item-kNN rows are mostly
    zeros (zero-scored items tie), and excluded items are -inf. "late ties": wide rows whose k-th value
    is tied far past the torch window and past the first prefixes `_boundary_ties` scans (ALS items
    without training data score exactly 0 and fill the lists of users with few positive scores)."""
    rng = np.random.default_rng(5)
    users, items, n = 300, 3000, 20
    if kind == "late ties":
        items = 40_000
        scores = np.full((users, items), -1.0, dtype=np.float32)
        scores -= rng.random(scores.shape).astype(np.float32)  # distinct negatives below the ties
        for r in range(users):
            start = int(rng.integers(0, items - 2000))  # the tied zeros start anywhere, up to the end
            scores[r, start + rng.choice(items - start, size=min(200, items - start), replace=False)] = 0.0
            scores[r, rng.choice(items, size=int(rng.integers(0, 25)), replace=False)] = rng.random() + 0.5
    elif kind == "tied factors":
        factors = rng.normal(size=(items // 10, 8)).astype(np.float32)
        item_vecs = factors[rng.integers(0, factors.shape[0], size=items)]  # every vector ~10 times
        scores = rng.normal(size=(users, 8)).astype(np.float32) @ item_vecs.T
    elif kind == "mostly zero":
        scores = np.zeros((users, items), dtype=np.float32)
        for r in range(users):
            cols = rng.choice(items, size=int(rng.integers(0, 40)), replace=False)
            scores[r, cols] = rng.choice([0.25, 0.5, 1.0], size=cols.size)
    else:
        scores = rng.normal(size=(users, items)).astype(np.float32)
        if kind == "excluded":
            scores[rng.random(scores.shape) < 0.995] = -np.inf  # ~15 rankable items per row
    a, sa = topk(scores, n, engine="torch")
    b, sb = topk(scores, n, engine="numpy")
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(sa, sb)


def test_engine_errors():
    with pytest.raises(ValueError, match="engine must be one of"):
        topk(np.zeros((1, 3)), 1, engine="gpu")
    with pytest.raises(ValueError, match="float32/float64"):
        topk(np.zeros((1, 3), dtype=np.int64), 1, engine="torch")


@torch_engine
def test_torch_engine_finds_a_nan_and_accepts_infinities():
    """The torch engine checks NaN through a sum: +inf meeting -inf (a NaN sum) must not be taken for a
    NaN score, a real NaN must be found."""
    scores = np.zeros((64, 500), dtype=np.float32)
    scores[3, 3], scores[4, 4] = np.inf, -np.inf
    items, _ = topk(scores, 2, engine="torch")
    assert items[3].tolist() == [3, 0] and 4 not in items[4].tolist()
    scores[10, 20] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        topk(scores, 2, engine="torch")


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("threshold", [1, 1 << 62], ids=["torch sum", "numpy sum"])
def test_nan_rows_finds_only_nan(monkeypatch: pytest.MonkeyPatch, threshold: int) -> None:
    """One sum finds a NaN; +inf, -inf, both in one block, and a sum overflowing float32 are not NaN (and
    raise no warning)."""
    from lmrec.models import topk as topk_module

    if threshold == 1 and not HAS_TORCH:
        pytest.skip("torch is not installed (extra lm)")
    monkeypatch.setattr(topk_module, "TORCH_MIN_SCORES", threshold)
    scores = np.zeros((5, 4), dtype=np.float32)
    scores[0, 0], scores[1, 1], scores[2] = np.inf, -np.inf, 3e38
    assert topk_module.nan_rows(scores).tolist() == []
    scores[3, 2] = np.nan
    assert topk_module.nan_rows(scores).tolist() == [3]
    with pytest.raises(ValueError, match="NaN"):
        topk(scores, 2, engine="numpy")


def test_threaded_numpy_engine_and_rank_counts_match_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """The row halves in two threads (`lmrec.row_threads`) give the single-thread lists and ranks, on
    any machine (the pool is forced on)."""
    from lmrec import row_threads
    from lmrec.eval.batch import first_target_rank

    monkeypatch.setattr(row_threads, "THREADS", 2)
    monkeypatch.setattr(row_threads, "MIN_SCORES", 1)
    rng = np.random.default_rng(11)
    scores = np.round(rng.normal(size=(257, 900)), 1).astype(np.float32)  # rounding: many ties
    scores[rng.random(scores.shape) < 0.3] = -np.inf
    items, _ = topk(scores, 15, engine="numpy")
    np.testing.assert_array_equal(items, reference_topk(scores, 15))
    targets = sp.csr_matrix((np.ones(257), (np.arange(257), rng.integers(0, 900, 257))), shape=scores.shape)
    order = ranks(scores)
    expected = np.where(
        np.isneginf(scores[np.arange(257), targets.indices]), 0, order[np.arange(257), targets.indices] + 1
    )
    np.testing.assert_array_equal(first_target_rank(scores, targets), expected)
