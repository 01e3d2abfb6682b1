"""Beyond-accuracy measures: hand-computed values and properties."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lmrec.eval.beyond import (
    average_recommended_popularity,
    coverage_from_counts,
    gini_index,
    intra_list_diversity,
    item_coverage,
    novelty,
    personalization,
    popularity_gini,
    recommendation_counts,
)

# 3 users, catalog of 6 items; -1 = empty slot
LISTS = np.array([[0, 1, 2], [0, 3, -1], [0, 1, 4]])
POP = np.array([8, 4, 2, 1, 0, 3])  # distinct training users per item, 8 training users


def test_counts_and_coverage_by_hand() -> None:
    # item 0 in 3 lists, 1 in 2, 2/3/4 in 1, item 5 never
    np.testing.assert_array_equal(recommendation_counts(LISTS, 6), [3, 2, 1, 1, 1, 0])
    assert item_coverage(LISTS, 6) == pytest.approx(5 / 6)
    # top-1 only: every list starts with item 0
    assert item_coverage(LISTS, 6, n=1) == pytest.approx(1 / 6)
    assert coverage_from_counts(np.array([0, 0, 2])) == pytest.approx(1 / 3)


def test_gini_by_hand() -> None:
    # sorted counts [0,1,1,1,2,3], m=6, total 8; weights 2k-m-1 = -5,-3,-1,1,3,5
    # Σ = 0·-5 + 1·-3 + 1·-1 + 1·1 + 2·3 + 3·5 = 18 -> 18 / (6·8) = 0.375
    assert popularity_gini(LISTS, 6) == pytest.approx(18 / 48)
    assert gini_index(np.array([5, 5, 5, 5])) == pytest.approx(0.0)
    # all mass on one of m items: (m-1)/m
    assert gini_index(np.array([0, 0, 0, 7])) == pytest.approx(3 / 4)
    assert math.isnan(gini_index(np.zeros(4)))
    with pytest.raises(ValueError, match="non-negative"):
        gini_index(np.array([1, -1]))


def test_novelty_by_hand() -> None:
    # self-information -log2(pop/8): item0 0, item1 1, item2 2, item3 3, item4 (pop 0 -> 1) 3
    expected = [(0 + 1 + 2) / 3, (0 + 3) / 2, (0 + 1 + 3) / 3]
    np.testing.assert_allclose(novelty(LISTS, POP, 8), expected)
    with pytest.raises(ValueError, match="distinct-user"):
        novelty(LISTS, POP, 4)


def test_arp_by_hand() -> None:
    np.testing.assert_allclose(average_recommended_popularity(LISTS, POP), [14 / 3, 9 / 2, 12 / 3])
    np.testing.assert_allclose(average_recommended_popularity(LISTS, POP, n=1), [8, 8, 8])


def test_ild_by_hand() -> None:
    vectors = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [-3.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    # user 0: items 0,1,2: cos(0,1)=0, cos(0,2)=cos(1,2)=1/√2 -> distances 1, 1-1/√2, 1-1/√2
    # user 1: items 0,3: cos = -1 -> distance 2
    # user 2: items 0,1,4: item 4 is a zero vector (cos 0): distances 1, 1, 1
    r = 1 / math.sqrt(2)
    expected = [(1 + 2 * (1 - r)) / 3, 2.0, 1.0]
    np.testing.assert_allclose(intra_list_diversity(LISTS, vectors), expected)
    np.testing.assert_allclose(intra_list_diversity(LISTS, vectors, batch_size=1), expected)
    # fewer than two items: undefined
    assert np.isnan(intra_list_diversity(LISTS, vectors, n=1)).all()
    with pytest.raises(TypeError, match="dense"):
        intra_list_diversity(LISTS, sp.csr_matrix(vectors))


def test_empty_lists_and_bad_input() -> None:
    empty = np.full((2, 3), -1)
    assert np.isnan(novelty(empty, POP, 8)).all()
    assert np.isnan(average_recommended_popularity(empty, POP)).all()
    assert item_coverage(empty, 6) == 0.0
    with pytest.raises(ValueError, match="catalog has 6 items"):
        item_coverage(np.array([[6]]), 6)
    with pytest.raises(ValueError, match="other than -1"):
        item_coverage(np.array([[-2]]), 6)
    with pytest.raises(TypeError, match="integer"):
        item_coverage(np.array([[0.5]]), 6)


@st.composite
def list_batches(draw: st.DrawFn) -> np.ndarray:
    users = draw(st.integers(1, 10))
    length = draw(st.integers(1, 6))
    rows = [draw(st.permutations(range(12)))[:length] for _ in range(users)]
    lists = np.array(rows, dtype=np.int64)
    cut = draw(arrays(np.int64, users, elements=st.integers(0, length)))
    lists[np.arange(length)[None, :] >= cut[:, None]] = -1  # trailing empty slots
    return lists


@settings(max_examples=100, deadline=None)
@given(list_batches())
def test_properties(lists: np.ndarray) -> None:
    vectors = np.random.default_rng(0).normal(size=(12, 3))
    pop = np.arange(12)
    cov = item_coverage(lists, 12)
    assert 0 <= cov <= 1
    g = popularity_gini(lists, 12)
    assert np.isnan(g) or -1e-12 <= g <= 11 / 12 + 1e-12
    ild = intra_list_diversity(lists, vectors)
    ok = ~np.isnan(ild)
    assert ((ild[ok] >= -1e-12) & (ild[ok] <= 2 + 1e-12)).all()
    assert np.array_equal(ok, (lists >= 0).sum(axis=1) >= 2)
    nov = novelty(lists, pop, 20)
    assert (nov[~np.isnan(nov)] >= 0).all()
    # per-user values do not depend on the order of users
    perm = np.random.default_rng(1).permutation(lists.shape[0])
    np.testing.assert_allclose(intra_list_diversity(lists[perm], vectors), ild[perm])
    np.testing.assert_allclose(
        average_recommended_popularity(lists[perm], pop), average_recommended_popularity(lists, pop)[perm]
    )
    # coverage never shrinks with longer lists
    length = lists.shape[1]
    covs = [item_coverage(lists, 12, n=n) for n in range(1, length + 1)]
    assert all(b >= a for a, b in itertools.pairwise(covs))


def test_personalization_by_hand_and_against_all_pairs() -> None:
    # LISTS at n=3: pairs (0,1) share item 0, (0,2) share 0 and 1, (1,2) share 0 -> overlaps 1, 2, 1
    assert personalization(LISTS, 6) == pytest.approx(1 - (1 + 2 + 1) / 3 / 3)
    same = np.array([[1, 2], [1, 2], [1, 2]])
    assert personalization(same, 5) == pytest.approx(0.0)
    assert personalization(np.array([[0, 1], [2, 3]]), 4) == pytest.approx(1.0)
    assert math.isnan(personalization(np.array([[0, 1]]), 4))
    rng = np.random.default_rng(0)
    lists = np.stack([rng.choice(30, size=5, replace=False) for _ in range(40)])
    brute = np.mean([len(set(a) & set(b)) / 5 for a, b in itertools.combinations(lists.tolist(), 2)])
    assert personalization(lists, 30) == pytest.approx(1 - brute)
    assert personalization(lists, 30, n=2) == pytest.approx(
        1 - np.mean([len(set(a[:2]) & set(b[:2])) / 2 for a, b in itertools.combinations(lists.tolist(), 2)])
    )
