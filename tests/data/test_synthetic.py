"""Synthetic log: exact sizes, power-law shape, per-user time order, determinism, Parquet round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmrec.data.synthetic as synthetic
from lmrec.data.datacard import count_repeated_pairs, gini
from lmrec.data.synthetic import synthetic_log, write_parquet, write_synthetic_parquet

SMALL = {"n_users": 10_000, "n_items": 2_000, "n_interactions": 200_000}


@pytest.fixture(scope="module")
def small():
    return synthetic_log(**SMALL, seed=1)


def test_sizes_are_exact_and_every_user_is_active(small):
    assert len(small) == 200_000 and small.n_users == 10_000
    assert small.user_counts().min() >= 1
    assert small.user_vocab.ids[0] == 1 and small.user_vocab.ids[-1] == 10_000
    assert small.item_counts().min() >= 1  # only drawn items are in the vocabulary
    assert small.ratings is None


def test_timestamps_strictly_increase_within_each_user(small):
    same_user = np.diff(small.users) == 0
    assert (np.diff(small.timestamps)[same_user] > 0).all()
    assert small.timestamps.min() >= 1_500_000_000


def test_item_popularity_follows_zipf():
    data = synthetic_log(2_000, 100, 400_000, zipf_exponent=1.0, seed=3)
    counts = np.sort(data.item_counts())[::-1]
    harmonic = (1 / np.arange(1, 101)).sum()
    assert counts[0] / len(data) == pytest.approx(1 / harmonic, rel=0.03)
    assert counts[0] / counts[1] == pytest.approx(2.0, rel=0.08)
    assert counts[0] / counts[9] == pytest.approx(10.0, rel=0.15)
    flat = synthetic_log(2_000, 100, 400_000, zipf_exponent=0.0, seed=3)
    assert gini(flat.item_counts()) < 0.05 < 0.4 < gini(data.item_counts())


def test_user_activity_is_heavy_tailed(small):
    counts = small.user_counts()
    assert counts.max() > 20 * np.median(counts)
    assert 0 < count_repeated_pairs(small) < len(small)


def test_deterministic_per_seed_and_independent_of_the_chunk_size(monkeypatch):
    a = synthetic_log(3_000, 500, 50_000, seed=4)
    b = synthetic_log(3_000, 500, 50_000, seed=4)
    c = synthetic_log(3_000, 500, 50_000, seed=5)
    monkeypatch.setattr(synthetic, "CHUNK", 997)  # many chunks, users straddling chunk borders
    d = synthetic_log(3_000, 500, 50_000, seed=4)
    for x in (b, d):
        for name in ("users", "items", "timestamps"):
            np.testing.assert_array_equal(getattr(a, name), getattr(x, name))
    assert not np.array_equal(a.items, c.items)


def test_parquet_files_hold_the_same_log(tmp_path, small):
    path = write_synthetic_parquet(tmp_path / "s.parquet", **SMALL, seed=1, row_group_size=30_000)
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == 7 and meta.num_rows == 200_000
    frame = pd.read_parquet(path)
    assert list(frame.columns) == ["user", "item", "timestamp"]
    assert all(str(t) == "int64" for t in frame.dtypes)
    expected = small.to_frame()
    pd.testing.assert_frame_equal(frame, expected)
    again = write_parquet(small, tmp_path / "t.parquet", row_group_size=50_000)
    pd.testing.assert_frame_equal(pd.read_parquet(again), expected)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="n_interactions"):
        synthetic_log(10, 5, 9)
    with pytest.raises(ValueError):
        synthetic_log(10, 0, 20)
    with pytest.raises(ValueError):
        synthetic_log(10, 5, 20, zipf_exponent=-1.0)


def test_write_parquet_keeps_string_ids_and_ratings(tmp_path):
    from lmrec.data.interactions import Interactions

    frame = pd.DataFrame({"user": ["b", "a"], "item": ["0001", "x"], "rating": [1.0, 2.5]})
    data = Interactions.from_frame(frame)
    back = pd.read_parquet(write_parquet(data, tmp_path / "s.parquet"))
    assert back.to_dict("list") == {"user": ["a", "b"], "item": ["x", "0001"], "rating": [2.5, 1.0]}
