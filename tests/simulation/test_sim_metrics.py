"""Every per-round metric on a hand-computed case."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.simulation import metrics as m


def test_gini() -> None:
    assert m.gini(np.array([1, 1, 1, 1])) == 0.0
    # x = [0, 0, 0, 4]: sum (2i-n-1) x_i = (2*4-5)*4 = 12; / (4*4) = 0.75
    assert m.gini(np.array([4, 0, 0, 0])) == pytest.approx(0.75)
    assert m.gini(np.zeros(3)) == 0.0


def test_exposure_and_coverage() -> None:
    slates = np.array([[0, 1], [1, -1]])
    np.testing.assert_array_equal(m.exposure(slates, 4), [1, 2, 0, 0])
    assert m.coverage(slates, 4) == 0.5


def test_jaccard_of_sets() -> None:
    sets = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]], dtype=bool)
    pairs = np.array([[0, 1], [0, 2], [2, 2]])
    # {0,1} vs {1,2}: 1/3; vs empty: 0; empty vs empty: 0
    assert m.mean_jaccard(sets, pairs) == pytest.approx((1 / 3) / 3)
    np.testing.assert_array_equal(m.slate_sets(np.array([[2, -1]]), 3), [[False, False, True]])


def test_sample_pairs_all_or_sampled() -> None:
    assert m.sample_pairs(3, 10, np.random.default_rng(0)).tolist() == [[0, 1], [0, 2], [1, 2]]
    pairs = m.sample_pairs(100, 50, np.random.default_rng(0))
    assert pairs.shape == (50, 2) and (pairs[:, 0] != pairs[:, 1]).all()


def test_intra_list_diversity() -> None:
    v = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    # slate [0, 1, 2]: pairs cos 0, 1, 0 -> distances 1, 0, 1 -> 2/3; slate [0, 1]: 1; slate [2, -1]: skipped
    slates = np.array([[0, 1, 2], [0, 1, -1], [2, -1, -1]])
    assert m.intra_list_diversity(slates, v) == pytest.approx((2 / 3 + 1) / 2)


def test_novelty() -> None:
    pop = np.array([3, 0])
    # n_users 3: p = 4/4 = 1 -> 0 bits; p = 1/4 -> 2 bits
    assert m.novelty(np.array([0, 1]), pop, 3) == pytest.approx(1.0)
    assert np.isnan(m.novelty(np.array([], dtype=np.int64), pop, 3))


def test_entropy_rows_and_engagement() -> None:
    np.testing.assert_allclose(
        m.entropy_rows(np.array([[1, 1, 0, 0], [2, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]])), [1, 0, 0, 2]
    )
    assert m.engagement(np.array([True, False, True, False]), 4) == 0.5
