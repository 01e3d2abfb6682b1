"""Canonical event order: `canonical_order` against `np.lexsort`, and `Interactions` built from any order."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmrec.data import interactions, ordering
from lmrec.data.interactions import Interactions
from lmrec.data.ordering import bit_width, canonical_order, time_codes
from lmrec.data.vocabulary import Vocabulary

I64_MIN, I64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)

# few distinct values, so (user, time, item) ties are common; vocabulary sizes and time spreads pick
# the path: one packed sort, several radix passes (wide keys), offset or dense-rank time codes
rows_st = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 6), st.integers(-3, 4)), min_size=0, max_size=80
)
vocab_st = st.sampled_from([7, 2**20, 2**31])
time_scale_st = st.sampled_from([1, 10**3, 2**39, 2**45, 2**60])
chunk_st = st.sampled_from([3, 1 << 20])  # rows per key-building step: several chunks, or one


def columns(rows: list[tuple[int, int, int]], n_users: int, n_items: int, scale: int):
    arr = np.array(rows, dtype=np.int64).reshape(-1, 3)
    # spread the small values over the whole vocabulary, keeping their ties
    users = arr[:, 0] * np.int64((n_users - 1) // 6)
    items = arr[:, 1] * np.int64((n_items - 1) // 6)
    return users, items, arr[:, 2] * np.int64(scale)


@settings(max_examples=150, deadline=None)
@given(rows_st, vocab_st, vocab_st, time_scale_st, st.booleans(), chunk_st)
def test_canonical_order_equals_lexsort(rows, n_users, n_items, scale, presorted_runs, chunk):
    users, items, times = columns(rows, n_users, n_items, scale)
    with mock.patch.object(ordering, "_CHUNK", chunk):
        got = canonical_order(users, items, times, n_users, n_items, presorted_runs=presorted_runs)
    np.testing.assert_array_equal(got, np.lexsort((items, times, users)))


@settings(max_examples=60, deadline=None)
@given(rows_st, vocab_st, st.booleans())
def test_canonical_order_without_times_keeps_input_order_per_user(rows, n_users, presorted_runs):
    users, items, _ = columns(rows, n_users, 7, 1)
    got = canonical_order(users, items, None, n_users, 7, presorted_runs=presorted_runs)
    np.testing.assert_array_equal(got, np.argsort(users, kind="stable"))


@settings(max_examples=60, deadline=None)
@given(st.lists(rows_st, min_size=1, max_size=5), vocab_st, vocab_st, time_scale_st)
def test_canonical_order_merges_presorted_runs(parts, n_users, n_items, scale):
    runs = []
    for rows in parts:
        u, i, t = columns(rows, n_users, n_items, scale)
        o = np.lexsort((i, t, u))
        runs.append((u[o], i[o], t[o]))
    users, items, times = (np.concatenate(c) for c in zip(*runs, strict=True))
    got = canonical_order(users, items, times, n_users, n_items, presorted_runs=True)
    np.testing.assert_array_equal(got, np.lexsort((items, times, users)))


@pytest.mark.parametrize("presorted_runs", [False, True])
@pytest.mark.parametrize(("vocab_bits", "passes"), [(20, 2), (31, 2), (40, 3)])
def test_wide_keys_take_several_radix_passes_and_still_match_lexsort(vocab_bits, passes, presorted_runs):
    rng = np.random.default_rng(vocab_bits)
    n, n_users, n_items = 5000, 2**vocab_bits, 2**vocab_bits
    users = rng.integers(0, 4, n) * np.int64(2 ** (vocab_bits - 2))
    items = rng.integers(0, 4, n) * np.int64(2 ** (vocab_bits - 2))
    times = rng.integers(0, 4, n) * np.int64(2**38)  # offset codes of 40 bits
    codes, tb = time_codes([times])
    fields = [(users, 0, bit_width(n_users)), (codes[0], 0, tb), (items, 0, bit_width(n_items))]
    assert ordering._passes(fields, n) == passes  # the case this test is about
    if presorted_runs:  # two sorted halves; with 20-bit ids the timsort merge of (user, time) keys is used
        half = n // 2
        first = np.lexsort((items[:half], times[:half], users[:half]))
        second = np.lexsort((items[half:], times[half:], users[half:])) + half
        o = np.concatenate([first, second])
        users, items, times = users[o], items[o], times[o]
    with mock.patch.object(ordering, "_CHUNK", 1000):  # several chunks per pass
        got = canonical_order(users, items, times, n_users, n_items, presorted_runs=presorted_runs)
    np.testing.assert_array_equal(got, np.lexsort((items, times, users)))


def test_extreme_int64_timestamps_are_ordered():
    times = np.array([I64_MAX, I64_MIN, 0, I64_MAX, -1, I64_MIN], dtype=np.int64)
    users = np.zeros(times.size, np.int64)
    items = np.array([1, 0, 0, 0, 1, 1], dtype=np.int64)
    got = canonical_order(users, items, times, 1, 2)
    np.testing.assert_array_equal(got, np.lexsort((items, times, users)))


def test_empty_and_single_row():
    empty = np.zeros(0, np.int64)
    assert canonical_order(empty, empty, empty, 3, 3).tolist() == []
    assert canonical_order(empty, empty, None, 3, 3).tolist() == []
    one = np.array([2], dtype=np.int64)
    assert canonical_order(one, one, one, 3, 3).tolist() == [0]


# --- Interactions -----------------------------------------------------------------------------------
def build(users, items, times, ratings, n_users: int, n_items: int) -> Interactions:
    return Interactions(
        users=users,
        items=items,
        user_vocab=Vocabulary(np.arange(n_users, dtype=np.int64)),
        item_vocab=Vocabulary(np.arange(n_items, dtype=np.int64)),
        ratings=ratings,
        timestamps=times,
    )


def assert_same(a: Interactions, b: Interactions) -> None:
    for name in ("users", "items", "ratings", "timestamps"):
        x, y = getattr(a, name), getattr(b, name)
        if x is None or y is None:
            assert x is None and y is None, name
        else:
            np.testing.assert_array_equal(x, y, err_msg=name)


@settings(max_examples=80, deadline=None)
@given(rows_st, st.sampled_from([7, 1000]), time_scale_st, st.integers(0, 2**32 - 1))
def test_interactions_from_shuffled_equals_from_sorted(rows, n_users, scale, seed):
    users, items, times = columns(rows, n_users, 7, scale)
    # ratings number the rows, so the order of rows with equal (user, time, item) is checked too
    ratings = np.arange(users.size, dtype=np.float32)
    o = np.lexsort((items, times, users))
    from_sorted = build(users[o], items[o], times[o], ratings[o], n_users, 7)
    perm = np.random.default_rng(seed).permutation(users.size)
    from_shuffled = build(users[perm], items[perm], times[perm], ratings[perm], n_users, 7)
    for name in ("users", "items", "timestamps"):
        np.testing.assert_array_equal(getattr(from_shuffled, name), getattr(from_sorted, name))
    # tied rows keep their (shuffled) input order
    ref = np.lexsort((items[perm], times[perm], users[perm]))
    np.testing.assert_array_equal(from_shuffled.ratings, ratings[perm][ref])
    assert_same(
        build(users[perm], items[perm], times[perm], None, n_users, 7),
        build(users[o], items[o], times[o], None, n_users, 7),
    )


@settings(max_examples=40, deadline=None)
@given(rows_st, st.integers(0, 2**32 - 1))
def test_interactions_without_times_keep_input_order_per_user(rows, seed):
    users, items, _ = columns(rows, 7, 7, 1)
    perm = np.random.default_rng(seed).permutation(users.size)
    log = build(users[perm], items[perm], None, None, 7, 7)
    ref = np.argsort(users[perm], kind="stable")
    np.testing.assert_array_equal(log.users, users[perm][ref])
    np.testing.assert_array_equal(log.items, items[perm][ref])


@settings(max_examples=60, deadline=None)
@given(rows_st, rows_st, st.booleans())
def test_concat_equals_a_sort_of_both_logs(rows_a, rows_b, with_times):
    (ua, ia, ta), (ub, ib, tb) = columns(rows_a, 7, 7, 1), columns(rows_b, 7, 7, 1)
    ra = np.arange(ua.size, dtype=np.float32)
    rb = np.arange(ub.size, dtype=np.float32) + ua.size
    a = build(ua, ia, ta if with_times else None, ra, 7, 7)
    b = build(ub, ib, tb if with_times else None, rb, 7, 7)
    got = a.concat(b)
    # reference: lexsort of the two (canonical) logs one after the other
    cu, ci, cr = (np.concatenate([getattr(a, c), getattr(b, c)]) for c in ("users", "items", "ratings"))
    if with_times:
        ct = np.concatenate([a.timestamps, b.timestamps])
        ref = np.lexsort((ci, ct, cu))
        np.testing.assert_array_equal(got.timestamps, ct[ref])
    else:
        ref = np.argsort(cu, kind="stable")
        assert got.timestamps is None
    np.testing.assert_array_equal(got.users, cu[ref])
    np.testing.assert_array_equal(got.items, ci[ref])
    np.testing.assert_array_equal(got.ratings, cr[ref])


@pytest.mark.parametrize("n_logs", [10, 80])
def test_log_of_many_sorted_runs(n_logs):
    """10 runs take the timsort merge, 80 (more than `_FEW_RUNS`) the full sort: same answer."""
    rng = np.random.default_rng(n_logs)
    logs = []
    for _ in range(n_logs):
        n = int(rng.integers(1, 30))
        logs.append(build(rng.integers(0, 5, n), rng.integers(0, 5, n), rng.integers(0, 3, n), None, 5, 5))
    users, items, times = (
        np.concatenate([getattr(x, c) for x in logs]) for c in ("users", "items", "timestamps")
    )
    breaks = interactions._order_breaks(users, times, items, stop_at=10**9)
    assert (breaks < interactions._FEW_RUNS) == (n_logs == 10)
    whole = build(users, items, times, np.arange(users.size, dtype=np.float32), 5, 5)
    ref = np.lexsort((items, times, users))
    for name, col in (("users", users), ("items", items), ("timestamps", times)):
        np.testing.assert_array_equal(getattr(whole, name), col[ref])
    np.testing.assert_array_equal(whole.ratings, ref.astype(np.float32))
    pairwise = logs[0]
    for log in logs[1:]:
        pairwise = pairwise.concat(log)
    assert_same(pairwise, build(users, items, times, None, 5, 5))


@settings(max_examples=60, deadline=None)
@given(rows_st, st.booleans(), st.sampled_from([1, 2, 5, 1 << 20]))
def test_order_breaks_counts_rows_before_their_predecessor(rows, with_times, chunk):
    users, items, times = columns(rows, 7, 7, 1)
    t = times if with_times else None
    expected = 0
    for j in range(1, users.size):
        prev = (users[j - 1], times[j - 1], items[j - 1]) if with_times else (users[j - 1],)
        this = (users[j], times[j], items[j]) if with_times else (users[j],)
        expected += this < prev
    assert interactions._order_breaks(users, t, items, stop_at=10**9, chunk=chunk) == expected
    stopped = interactions._order_breaks(users, t, items, stop_at=2, chunk=chunk)
    assert stopped == expected if expected < 2 else stopped >= 2


def test_sorted_input_is_kept_without_a_copy():
    users = np.array([0, 0, 1, 1, 2], dtype=np.int64)
    items = np.array([1, 0, 0, 0, 3], dtype=np.int64)
    times = np.array([5, 6, 1, 1, 0], dtype=np.int64)
    log = build(users, items, times, None, 3, 4)
    assert log.users is users and log.items is items and log.timestamps is times
