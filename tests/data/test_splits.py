"""Splits (P1, P2, global, random, given files, rating hold-out) and the leakage checks guarding them."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmrec.data.interactions import Interactions
from lmrec.data.leakage import assert_disjoint, check_split, shared_events
from lmrec.data.splits import (
    Split,
    global_temporal,
    holdout_ratings,
    leave_one_out,
    random_ratio,
    split_from_frames,
    temporal_ratio,
)
from lmrec.data.vocabulary import Vocabulary
from lmrec.errors import DataError, LeakageError

COLUMNS = ["user", "item", "rating", "timestamp"]


@pytest.fixture(scope="module")
def ml100k(ml100k_dir) -> Interactions:
    frame = pd.read_csv(ml100k_dir / "u.data", sep="\t", names=COLUMNS)
    return Interactions.from_frame(frame)


def toy(rows: list[tuple[int, int, int]], **kw) -> Interactions:
    return Interactions.from_frame(pd.DataFrame(rows, columns=["user", "item", "timestamp"]), **kw)


def events(data: Interactions) -> list[tuple]:
    return sorted(map(tuple, data.to_frame().values.tolist()))


def assert_partition(data: Interactions, split: Split) -> None:
    """Every event of `data` lands in exactly one part (as a multiset)."""
    assert events(data) == sorted(events(split.train) + events(split.valid) + events(split.test))
    for part in split.parts().values():
        assert part.user_vocab is data.user_vocab and part.item_vocab is data.item_vocab


# --- real data ----------------------------------------------------------------------------------------
def test_every_real_split_of_ml100k_passes_the_leakage_checks(ml100k):
    splits = [
        leave_one_out(ml100k),
        temporal_ratio(ml100k),
        random_ratio(ml100k, seed=7),
        global_temporal(ml100k, timestamp_kind="unix", valid_frac=0.1, test_frac=0.1),
    ]
    for split in splits:
        report = check_split(split)
        assert report.event_key == "user,item,timestamp"
        assert report.temporal == (split.params["temporal"] or "none")
        assert_disjoint(split.train, split)
        assert_disjoint(split.train_valid(), split)
        assert sum(report.rows.values()) == len(ml100k)
        json.dumps(split.describe())
        json.dumps(report.to_dict())


def test_ml100k_p1_and_p2_sizes(ml100k):
    loo = leave_one_out(ml100k)
    assert (len(loo.valid), len(loo.test), len(loo.train)) == (943, 943, 100_000 - 2 * 943)
    p1 = temporal_ratio(ml100k)
    n = ml100k.user_counts()
    assert len(p1.train) == int((n * 8 // 10).sum())
    assert len(p1.valid) == int((n * 9 // 10 - n * 8 // 10).sum())
    np.testing.assert_array_equal(p1.test.user_counts(), n - n * 9 // 10)


def test_ml100k_official_fold_from_frames(ml100k_dir):
    base = pd.read_csv(ml100k_dir / "u1.base", sep="\t", names=COLUMNS)
    test = pd.read_csv(ml100k_dir / "u1.test", sep="\t", names=COLUMNS)
    split = split_from_frames(base, None, test, name="u1")
    assert (len(split.train), len(split.valid), len(split.test)) == (80_000, 0, 20_000)
    assert (split.train.n_users, split.train.n_items) == (943, 1682)
    check_split(split)
    fit, held = holdout_ratings(split.train, 0.1, seed=3)
    assert len(fit) + len(held) == 80_000
    tuned = Split(fit, held, split.test, "u1+holdout", {"temporal": None})
    check_split(tuned)
    assert_disjoint(fit, tuned, parts=("valid", "test"))


# --- exact floor rule ----------------------------------------------------------------------------------
def test_ratio_floor_is_exact_where_float_arithmetic_is_not():
    assert math.floor(100 * 0.29) == 28  # the float trap the splitter must avoid
    data = toy([(1, i, i) for i in range(100)])
    split = temporal_ratio(data, train=0.29, valid=0.1)
    assert (len(split.train), len(split.valid), len(split.test)) == (29, 10, 61)
    assert split.train.timestamps.max() < split.valid.timestamps.min()


@settings(max_examples=80, deadline=None)
@given(
    # distinct events (repeated pairs at other times allowed); identical events are a separate test
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 8), st.integers(0, 6)),
        min_size=1,
        max_size=80,
        unique=True,
    ),
    st.sampled_from([(0.8, 0.1), (0.7, 0.2), (0.5, 0.0), (0.6, 0.3)]),
    st.integers(0, 3),
)
def test_split_properties(rows, ratios, seed):
    data = toy(rows)
    n = data.user_counts()
    num = [round(r * 10) for r in ratios]
    for split in (temporal_ratio(data, *ratios), random_ratio(data, *ratios, seed=seed)):
        assert_partition(data, split)
        a, b = n * num[0] // 10, n * (num[0] + num[1]) // 10
        np.testing.assert_array_equal(split.train.user_counts(), a)
        np.testing.assert_array_equal(split.valid.user_counts(), b - a)
        np.testing.assert_array_equal(split.test.user_counts(), n - b)
        check_split(split)
    loo = leave_one_out(data, min_len=3)
    assert_partition(data, loo)
    np.testing.assert_array_equal(loo.test.user_counts(), (n >= 3).astype(int))
    np.testing.assert_array_equal(loo.valid.user_counts(), (n >= 3).astype(int))
    check_split(loo)  # includes the per-user time order
    cut = global_temporal(data, timestamp_kind="unix", valid_start=2, test_start=4)
    assert_partition(data, cut)
    assert (cut.train.timestamps < 2).all() and (cut.test.timestamps >= 4).all()
    check_split(cut)


def test_leave_one_out_takes_the_last_events_in_time_order_and_keeps_short_users_in_train():
    data = toy([(1, 10, 5), (1, 11, 1), (1, 12, 9), (1, 13, 7), (2, 10, 1), (2, 11, 2)])
    split = leave_one_out(data)
    assert split.test.to_frame()[["user", "item"]].values.tolist() == [[1, 12]]
    assert split.valid.to_frame()[["user", "item"]].values.tolist() == [[1, 13]]
    assert sorted(split.train.to_frame()["user"].tolist()) == [1, 1, 2, 2]
    with pytest.raises(ValueError, match="min_len"):
        leave_one_out(data, min_len=1)


def test_random_ratio_is_deterministic_per_seed():
    rng = np.random.default_rng(0)
    data = toy([(int(u), int(i), int(t)) for u, i, t in rng.integers(0, 50, (2000, 3))])
    a, b, c = (random_ratio(data, seed=s) for s in (1, 1, 2))
    assert events(a.test) == events(b.test)
    assert events(a.test) != events(c.test)


def test_holdout_ratings_takes_floor_share_per_user():
    rng = np.random.default_rng(1)
    data = toy([(int(u), int(i), int(t)) for u, i, t in rng.integers(0, 30, (900, 3))])
    fit, held = holdout_ratings(data, 0.25, seed=5)
    np.testing.assert_array_equal(held.user_counts(), data.user_counts() // 4)
    assert events(data) == sorted(events(fit) + events(held))
    again, _ = holdout_ratings(data, 0.25, seed=5)
    assert events(again) == events(fit)


def test_global_temporal_fractions_and_guards():
    data = toy([(u, u, t) for u, t in zip(range(10), range(100, 110), strict=True)])
    split = global_temporal(data, timestamp_kind="unix", valid_frac=0.2, test_frac=0.3)
    assert (len(split.train), len(split.valid), len(split.test)) == (5, 2, 3)
    assert split.params["valid_start"] == 105 and split.params["test_start"] == 107
    with pytest.raises(DataError, match="Unix"):
        global_temporal(data, timestamp_kind="position", valid_frac=0.1, test_frac=0.1)
    no_time = Interactions.from_frame(pd.DataFrame({"user": [1], "item": [1]}))
    with pytest.raises(DataError, match="timestamps"):
        global_temporal(no_time, timestamp_kind="unix", valid_frac=0.1, test_frac=0.1)
    with pytest.raises(ValueError, match="either"):
        global_temporal(data, timestamp_kind="unix", valid_start=1, valid_frac=0.1)
    with pytest.raises(ValueError):
        temporal_ratio(data, train=0.9, valid=0.2)


def test_split_from_frames_builds_the_union_vocabulary_and_validates():
    train = pd.DataFrame({"user": [1, 2], "item": ["a", "b"]})
    test = pd.DataFrame({"user": [3], "item": ["c"]})
    split = split_from_frames(train, None, test)
    assert split.train.item_vocab.to_list() == ["a", "b", "c"] and split.test.n_users == 3
    assert split.describe()["cold"]["test"]["vs_train"] == {"users": 1, "items": 1, "rows_on_cold_items": 1}
    with pytest.raises(DataError, match="different optional columns"):
        split_from_frames(train.assign(timestamp=[1, 2]), None, test)
    with pytest.raises(DataError, match="column 'item' is missing at row 0"):
        split_from_frames(train, None, pd.DataFrame({"user": [3], "item": [None]}))


def test_split_rejects_parts_with_other_vocabularies():
    data = toy([(1, 1, 1), (1, 2, 2)])
    other = toy([(1, 1, 1), (1, 3, 2)])
    with pytest.raises(ValueError, match="different vocabularies"):
        Split(data, data.subset(np.zeros(2, bool)), other, "bad")


# --- leakage -------------------------------------------------------------------------------------------
def test_test_rows_copied_into_train_are_detected(ml100k):
    split = temporal_ratio(ml100k)
    leaked_train = split.train.concat(split.test.subset(np.arange(len(split.test)) % 500 == 0))
    leaky = Split(leaked_train, split.valid, split.test, "copied", {"temporal": None})
    with pytest.raises(LeakageError, match=r"21 test event\(s\) also in train"):
        check_split(leaky)
    with pytest.raises(LeakageError, match=r"test event\(s\) are in the fit data"):
        assert_disjoint(leaked_train, split)


def test_a_shuffled_split_labelled_temporal_is_detected(ml100k):
    shuffled = random_ratio(ml100k, seed=0)
    check_split(shuffled)  # fine as what it is: a random split
    with pytest.raises(LeakageError, match="per_user time order"):
        check_split(shuffled, temporal="per_user")
    with pytest.raises(LeakageError, match="global time order"):
        check_split(temporal_ratio(ml100k), temporal="global")  # per-user cuts are not one global cut


def test_tampered_vocabulary_is_detected():
    data = toy([(1, 1, 1), (1, 2, 2), (1, 3, 3)])
    split = temporal_ratio(data, 0.34, 0.33)
    object.__setattr__(split, "test", toy([(1, 3, 3)]))
    with pytest.raises(LeakageError, match="different vocabularies"):
        check_split(split)


def test_repeat_consumption_at_other_times_is_not_leakage_but_pairs_without_times_are():
    data = toy([(1, 7, 1), (1, 8, 2), (1, 7, 3)])  # item 7 consumed again later
    split = leave_one_out(data, min_len=3)
    assert check_split(split).event_key == "user,item,timestamp"
    frame = data.to_frame().drop(columns="timestamp")
    no_time = Interactions.from_frame(frame)
    split = Split(
        no_time.subset(np.array([True, False, False])),
        no_time.subset(np.array([False, True, False])),
        no_time.subset(np.array([False, False, True])),
        "untimed",
        {"temporal": "per_user"},
    )
    with pytest.raises(LeakageError, match=r"1 test event\(s\) also in train"):
        check_split(split)
    nothing = no_time.subset(np.zeros(3, bool))
    ok = Split(split.train, split.valid, nothing, "untimed-ok", {"temporal": "per_user"})
    assert check_split(ok).temporal == "skipped: no timestamps"


def test_identical_events_straddling_a_cut_are_reported():
    data = toy([(1, 1, 1), (1, 2, 5), (1, 2, 5)])  # an exact duplicate event kept with keep_all
    with pytest.raises(LeakageError, match=r"test event\(s\) also in valid"):
        check_split(leave_one_out(data))


def test_assert_disjoint_matches_through_raw_ids_when_vocabularies_differ(ml100k):
    split = leave_one_out(ml100k)
    leaked = split.train.concat(split.test).to_frame()
    fit = Interactions.from_frame(leaked[leaked["item"] != 1])  # own (smaller) vocabularies
    assert fit.item_vocab is not split.train.item_vocab
    with pytest.raises(LeakageError, match="fit data"):
        assert_disjoint(fit, split)
    clean_fit = split.train_valid().to_frame()
    assert_disjoint(Interactions.from_frame(clean_fit[clean_fit["item"] != 1]), split)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)), max_size=30),
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)), max_size=30),
    # small keys; times beyond 2**40 (dense ranks); vocabularies too wide for (user, time, item) keys
    st.sampled_from([(4, 4, 1), (4, 4, 2**40), (2**41, 2**22, 1)]),
)
def test_shared_events_is_exact_including_the_wide_key_fallback(known, query, sizes):
    n_users, n_items, time_scale = sizes

    def arrays(rows):
        a = np.array(rows, dtype=np.int64).reshape(-1, 3)
        return a[:, 0], a[:, 1], a[:, 2] * time_scale

    got = shared_events(arrays(known), arrays(query), n_users, n_items)
    expected = [j for j, row in enumerate(query) if row in set(known)]
    assert got.tolist() == expected


def test_vocabulary_object_identity_is_not_required():
    data = toy([(1, 1, 1), (1, 2, 2), (1, 3, 3)])
    twin_vocab = Vocabulary(data.user_vocab.ids.copy())
    twin = Interactions(data.users, data.items, twin_vocab, data.item_vocab, timestamps=data.timestamps)
    train = twin.subset(np.array([True, True, False]))
    test = data.subset(np.array([False, False, True]))
    split = Split(train, data.subset(np.zeros(3, bool)), test, "equal-vocab", {"temporal": "per_user"})
    assert check_split(split).rows == {"train": 2, "valid": 0, "test": 1}
