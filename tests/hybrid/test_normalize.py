"""Score normalisation: hand-computed rows and properties (order kept within a row, -inf kept last)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lmrec.hybrid.normalize import NORMALIZERS, get_normalizer, minmax, rank, reciprocal_rank, zscore


def test_hand_computed_rows() -> None:
    s = np.array([[3.0, 1.0, 2.0, -np.inf]], dtype=np.float32)
    np.testing.assert_allclose(minmax(s)[0, :3], [1.0, 0.0, 0.5])
    np.testing.assert_allclose(zscore(s)[0, :3], [np.sqrt(1.5), -np.sqrt(1.5), 0.0], rtol=1e-6)
    np.testing.assert_allclose(rank(s)[0, :3], [1.0, 0.5, 0.75])
    np.testing.assert_allclose(reciprocal_rank(s)[0, :3], [1 / 61, 1 / 63, 1 / 62])
    for f in NORMALIZERS.values():
        assert f(s)[0, 3] == -np.inf


def test_mask_leaves_history_out_of_the_statistics() -> None:
    s = np.array([[10.0, 1.0, 2.0, 3.0]], dtype=np.float32)
    mask = np.array([[False, True, True, True]])
    np.testing.assert_allclose(minmax(s, mask)[0, 1:], [0.0, 0.5, 1.0])
    assert rank(s, mask)[0, 0] < rank(s, mask)[0, 1]  # a masked item ranks after every unmasked one


def test_constant_rows_do_not_divide_by_zero() -> None:
    s = np.full((2, 5), 7.0, dtype=np.float32)
    assert (minmax(s) == 0).all() and (zscore(s) == 0).all()


def test_unknown_name_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="minmax"):
        get_normalizer("softmax")


scores = arrays(
    np.float32,
    st.tuples(st.integers(1, 4), st.integers(2, 12)),
    elements=st.floats(-1e3, 1e3, width=32) | st.just(-np.inf),
)


@settings(max_examples=200, deadline=None)
@given(scores)
def test_every_normaliser_keeps_each_rows_order(s: np.ndarray) -> None:
    for name, f in NORMALIZERS.items():
        out = f(s, None)
        assert out.shape == s.shape and out.dtype == np.float32
        assert not np.isnan(out).any(), name
        for row_in, row_out in zip(s, out, strict=True):
            order = np.argsort(-row_in, kind="stable")
            kept = row_out[order]
            # never reorders: the normalised row, read in the input's order, does not increase
            assert (
                np.diff(kept[np.isfinite(kept)]) <= 1e-5 * (1 + np.abs(kept[np.isfinite(kept)][:-1]))
            ).all(), name
            assert (np.isinf(row_out) == np.isinf(row_in)).all(), name
