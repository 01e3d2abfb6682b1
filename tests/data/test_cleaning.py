"""Cleaning: every removed row counted by reason, duplicates by time order, k-core, canonical order."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmrec.data.cleaning import CleaningConfig, clean
from lmrec.data.loaders import load_amazon, load_table
from lmrec.data.ordering import canonical_order, pack_event_keys
from lmrec.data.raw import Problem, RawLog, bad_values_table
from lmrec.data.vocabulary import Vocabulary
from lmrec.errors import ConfigError, DataError, UnknownIdError


def raw_log(
    rows: list[tuple],
    *,
    problems: tuple[Problem, ...] = (),
    meta: dict | None = None,
    bad: list[tuple[int, str, str, str]] | None = None,
) -> RawLog:
    """A raw log from rows; `bad` lists (row, column, text, reason) the "loader" could not parse."""
    frame = pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])
    frame["source"] = "f.tsv"
    frame["line"] = np.arange(1, len(frame) + 1)
    bad_values = bad_values_table(*zip(*bad, strict=True)) if bad else bad_values_table()
    meta = meta or {"timestamp_kind": "unix"}
    return RawLog(frame, "toy", problems=problems, meta=meta, bad_values=bad_values)


def read_ml100k(ml100k_dir) -> RawLog:
    frame = pd.read_csv(ml100k_dir / "u.data", sep="\t", names=["user", "item", "rating", "timestamp"])
    frame["rating"] = frame["rating"].astype(float)
    frame["timestamp"] = frame["timestamp"].astype(float)
    frame["source"] = "u.data"
    frame["line"] = np.arange(1, len(frame) + 1)
    return RawLog(frame, "ml-100k", meta={"timestamp_kind": "unix"})


def assert_consistent(report) -> None:
    assert report.rows_in - sum(r.count for r in report.removed.values()) == report.rows_out
    json.dumps(report.to_dict())
    assert report.summary()


def test_ml100k_defaults_keep_every_row_in_canonical_order(ml100k_dir):
    raw = read_ml100k(ml100k_dir)
    data, report = clean(raw)
    assert (len(data), data.n_users, data.n_items) == (100_000, 943, 1682)
    assert report.removed == {} and report.rows_out == 100_000 and report.timestamp_kind == "unix"
    assert_consistent(report)
    # independent reference: pandas sort of the raw frame by (user, timestamp, item)
    expected = raw.frame.sort_values(["user", "timestamp", "item"], kind="stable").reset_index(drop=True)
    got = data.to_frame()
    np.testing.assert_array_equal(got["user"], expected["user"])
    np.testing.assert_array_equal(got["item"], expected["item"])
    np.testing.assert_array_equal(got["timestamp"], expected["timestamp"].astype(np.int64))
    np.testing.assert_array_equal(got["rating"], expected["rating"].astype(np.float32))


def test_ml100k_threshold_and_core_match_a_naive_reference(ml100k_dir):
    raw = read_ml100k(ml100k_dir)
    data, report = clean(raw, CleaningConfig(min_rating=4, user_core=10, item_core=10))
    ref = raw.frame[raw.frame["rating"] >= 4]
    while True:  # naive k-core with pandas, one filter per pass
        uc = ref.groupby("user")["item"].transform("size")
        ic = ref.groupby("item")["user"].transform("size")
        keep = (uc >= 10) & (ic >= 10)
        if keep.all():
            break
        ref = ref[keep]
    assert len(data) == len(ref) == report.rows_out
    assert data.n_users == ref["user"].nunique() and data.n_items == ref["item"].nunique()
    assert report.removed["below_threshold"].count == int((raw.frame["rating"] < 4).sum())
    assert report.removed["k_core"].count == sum(r.rows_removed for r in report.core_rounds)
    assert len(report.core_rounds) >= 2
    assert_consistent(report)


def test_invalid_rows_are_counted_by_first_reason_with_located_examples():
    rows = [
        (1, 10, 4.0, 100.0),
        (None, 10, 4.0, 101.0),  # missing user
        ("", 11, 4.0, 102.0),  # empty user counts as missing
        (2, None, 4.0, 103.0),  # missing item
        (2, 11, np.nan, 104.0),  # missing rating in an explicit log
        (2, 12, np.inf, 105.0),
        (3, 10, 9.0, 106.0),  # out of range
        (3, 11, 3.0, np.nan),  # missing timestamp while others have one
        (None, None, np.nan, np.nan),  # several faults: counted once, as missing user
        (3, 12, 5.0, 107.0),
    ]
    data, report = clean(raw_log(rows), CleaningConfig(rating_range=(1, 5)))
    counts = {k: v.count for k, v in report.removed.items()}
    assert counts == {
        "missing_user": 3,
        "missing_item": 1,
        "bad_rating": 2,
        "rating_out_of_range": 1,
        "bad_timestamp": 1,
    }
    assert len(data) == 2 and report.rows_out == 2
    assert_consistent(report)
    assert [str(p) for p in report.removed["missing_user"].examples] == [
        "f.tsv:2: column 'user' = '': missing user id",
        "f.tsv:3: column 'user' = '': missing user id",
        "f.tsv:9: column 'user' = '': missing user id",
    ]
    assert str(report.removed["rating_out_of_range"].examples[0]) == (
        "f.tsv:7: column 'rating' = '9': rating outside [1, 5]"
    )
    assert str(report.removed["bad_timestamp"].examples[0]) == (
        "f.tsv:8: column 'timestamp' = '': missing timestamp (other rows have one)"
    )
    assert report.users_in == 3 and report.users_out == 2


def test_non_numeric_rating_and_timestamp_are_invalid():
    rows = [(1, 1, "4", "10"), (1, 2, "four", "11"), (2, 1, "3", "yesterday"), (2, 2, "5", "12")]
    data, report = clean(raw_log(rows))
    assert report.removed["bad_rating"].count == 1
    assert str(report.removed["bad_rating"].examples[0]) == "f.tsv:2: column 'rating' = 'four': not a number"
    assert str(report.removed["bad_timestamp"].examples[0]).startswith(
        "f.tsv:3: column 'timestamp' = 'yesterday'"
    )
    assert len(data) == 2


def test_values_the_loader_could_not_parse_are_shown_by_their_text():
    nan = np.nan
    rows = [
        (1, 10, 4.0, 100.0),
        (1, 11, nan, 101.0),  # 'four'
        (2, 10, nan, 102.0),  # 'x'
        (2, 11, nan, 103.0),  # empty cell: missing
        (3, 10, 5.0, nan),  # '2020-13-45'
        (None, 12, nan, nan),  # bad user, bad rating and bad timestamp: counted once, as bad_user
        (3, 12, 2.0, nan),  # empty: missing
        (3, 13, 1.0, 104.0),
    ]
    fmt = "not a valid timestamp for format '%Y-%m-%d'"
    bad = [
        (1, "rating", "four", "not a number"),
        (2, "rating", "x", "not a number"),
        (4, "timestamp", "2020-13-45", fmt),
        (5, "user", "u7", "not an integer id"),
        (5, "rating", "?", "not a number"),
        (5, "timestamp", "soon", fmt),
    ]
    data, report = clean(raw_log(rows, bad=bad))
    assert {k: v.count for k, v in report.removed.items()} == {
        "bad_user": 1,
        "bad_rating": 3,
        "bad_timestamp": 2,
    }
    assert report.rows_in == 8 and report.rows_out == len(data) == 2
    assert_consistent(report)
    shown = {k: [str(p) for p in v.examples] for k, v in report.removed.items()}
    assert shown == {
        "bad_user": ["f.tsv:6: column 'user' = 'u7': not an integer id"],
        "bad_rating": [
            "f.tsv:2: column 'rating' = 'four': not a number",
            "f.tsv:3: column 'rating' = 'x': not a number",
            "f.tsv:4: column 'rating' = '': missing rating (other rows have one)",
        ],
        "bad_timestamp": [
            f"f.tsv:5: column 'timestamp' = '2020-13-45': {fmt}",
            "f.tsv:7: column 'timestamp' = '': missing timestamp (other rows have one)",
        ],
    }
    with pytest.raises(DataError, match=r"f\.tsv:2: column 'rating' = 'four': not a number"):
        clean(raw_log(rows, bad=bad), CleaningConfig(on_invalid="error"))


def test_an_all_unparsed_rating_column_still_counts_as_ratings():
    # every rating is text: the log is explicit with bad ratings, not silently implicit
    rows = [(1, 1, np.nan, 1.0), (1, 2, np.nan, 2.0)]
    bad = [(0, "rating", "good", "not a number"), (1, "rating", "bad", "not a number")]
    with pytest.raises(DataError, match="no rows left") as err:
        clean(raw_log(rows, bad=bad))
    assert "column 'rating' = 'good': not a number" in str(err.value)


def test_raw_log_rejects_bad_values_that_do_not_match_the_frame():
    rows = [(1, 1, 4.0, 1.0), (1, 2, np.nan, 2.0)]
    with pytest.raises(ValueError, match="holds as values"):
        raw_log(rows, bad=[(0, "rating", "four", "not a number")])  # row 0 has a rating
    with pytest.raises(ValueError, match="positions in the frame"):
        raw_log(rows, bad=[(2, "rating", "four", "not a number")])
    with pytest.raises(ValueError, match="twice"):
        raw_log(rows, bad=[(1, "rating", "a", "not a number"), (1, "rating", "b", "not a number")])


def test_report_of_a_loaded_csv_names_file_line_and_text(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(
        "user,item,rating,when\n"
        "1,10,4,2020-01-01\n"
        "1,11,four,2020-01-02\n"
        "2,10,x,2020-01-03\n"
        "2,11,,2020-01-04\n"
        "3,10,5,2020-13-45\n"
        "3,12,2,2020-01-05\n"
    )
    cols = {"user": "user", "item": "item", "rating": "rating", "timestamp": "when"}
    _, report = clean(load_table(path, cols, timestamp_format="%Y-%m-%d"))
    assert [str(p) for p in report.removed["bad_rating"].examples] == [
        f"{path}:3: column 'rating' = 'four': not a number",
        f"{path}:4: column 'rating' = 'x': not a number",
        f"{path}:5: column 'rating' = '': missing rating (other rows have one)",
    ]
    [bad_time] = report.removed["bad_timestamp"].examples
    assert (
        str(bad_time)
        == f"{path}:6: column 'timestamp' = '2020-13-45': not a valid timestamp for format '%Y-%m-%d'"
    )
    assert report.rows_out == 2
    assert_consistent(report)


def test_report_of_amazon_reviews_with_a_word_for_a_rating(tmp_path):
    path = tmp_path / "reviews.json"
    records = [
        {"reviewerID": "u1", "asin": "a", "overall": 5.0, "unixReviewTime": 100},
        {"reviewerID": "u1", "asin": "b", "overall": "five", "unixReviewTime": 101},
        {"reviewerID": "u2", "asin": "a", "unixReviewTime": 102},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    _, report = clean(load_amazon(path))
    assert [str(p) for p in report.removed["bad_rating"].examples] == [
        f"{path}:2: column 'rating' = 'five': not a number",
        f"{path}:3: column 'rating' = '': missing rating (other rows have one)",
    ]
    assert_consistent(report)


def test_vocabulary_must_be_sorted_and_names_the_kind_of_unknown_id():
    with pytest.raises(ValueError, match="sorted in ascending order"):
        Vocabulary(np.array([3, 1, 2]))
    with pytest.raises(ValueError, match="unique"):
        Vocabulary(np.array(["a", "b", "b"]))
    assert Vocabulary.from_ids([3, 1, 2, 3]).ids.tolist() == [1, 2, 3]
    vocab = Vocabulary(np.array([1, 2, 3]))
    with pytest.raises(UnknownIdError) as err:
        vocab.index([9999, 7, 2], what="user")
    assert str(err.value) == "2 unknown user id(s), e.g. [9999, 7]"  # no KeyError quotes
    with pytest.raises(UnknownIdError, match=r"^1 unknown id\(s\), e\.g\. \[9999\]$"):
        vocab.index([9999])


def test_at_most_five_examples_per_reason_in_file_order():
    rows = [(None if i % 2 else 1, i, 1.0, float(i)) for i in range(40)]
    _, report = clean(raw_log(rows))
    rem = report.removed["missing_user"]
    assert rem.count == 20
    assert [p.line for p in rem.examples] == [2, 4, 6, 8, 10]


def test_on_invalid_error_names_the_rows_and_covers_loader_problems():
    with pytest.raises(DataError, match=r"f\.tsv:2: column 'item' = '': missing item id"):
        clean(raw_log([(1, 1, 1.0, 1.0), (1, None, 1.0, 2.0)]), CleaningConfig(on_invalid="error"))
    bad_line = Problem("f.tsv", 7, "line", "1\t2", "expected 4 fields, found 2")
    log = raw_log([(1, 1, 1.0, 1.0)], problems=(bad_line,))
    with pytest.raises(DataError, match="expected 4 fields"):
        clean(log, CleaningConfig(on_invalid="error"))
    data, report = clean(log)  # drop mode: carried into the report, not counted in rows_in
    assert report.loader_problems.count == 1 and report.loader_problems.examples == (bad_line,)
    assert len(data) == 1 and "could not parse" in report.summary()


def test_duplicates_follow_time_order_not_file_order():
    # file order: the t=300 row comes first, the t=100 row last
    rows = [(1, 5, 3.0, 300.0), (1, 6, 1.0, 50.0), (1, 5, 1.0, 200.0), (1, 5, 5.0, 100.0)]
    last, rep_last = clean(raw_log(rows), CleaningConfig(duplicates="keep_last"))
    first, rep_first = clean(raw_log(rows), CleaningConfig(duplicates="keep_first"))
    kept_last = last.to_frame().set_index("item").loc[5]
    kept_first = first.to_frame().set_index("item").loc[5]
    assert (kept_last["timestamp"], kept_last["rating"]) == (300, 3.0)
    assert (kept_first["timestamp"], kept_first["rating"]) == (100, 5.0)
    assert rep_last.removed["duplicate"].count == rep_first.removed["duplicate"].count == 2
    assert str(rep_last.removed["duplicate"].examples[0]) == (
        "f.tsv:3: column 'item' = '5': repeats the (user, item) pair of line 1 (kept: the last in time order)"
    )
    everything, rep_all = clean(raw_log(rows), CleaningConfig(duplicates="keep_all"))
    assert len(everything) == 4 and "duplicate" not in rep_all.removed
    with pytest.raises(DataError, match=r"f\.tsv:3: column 'item' = '5': repeats the \(user, item\) pair"):
        clean(raw_log(rows), CleaningConfig(duplicates="error"))


def test_duplicates_with_equal_times_fall_back_to_file_order():
    rows = [(1, 5, 2.0, 100.0), (1, 5, 4.0, 100.0)]
    last, _ = clean(raw_log(rows), CleaningConfig(duplicates="keep_last"))
    first, _ = clean(raw_log(rows), CleaningConfig(duplicates="keep_first"))
    assert last.ratings.tolist() == [4.0] and first.ratings.tolist() == [2.0]


def test_threshold_applies_after_deduplication():
    # the user first rated item 5 highly, later re-rated it 2: with keep_last the latest opinion decides
    rows = [(1, 5, 5.0, 100.0), (1, 5, 2.0, 200.0), (1, 6, 4.0, 150.0)]
    data, report = clean(raw_log(rows), CleaningConfig(min_rating=4))
    assert data.to_frame()["item"].tolist() == [6]
    assert report.removed["duplicate"].count == 1 and report.removed["below_threshold"].count == 1
    assert str(report.removed["below_threshold"].examples[0]).endswith("rating below min_rating=4")


def test_implicit_and_timestampless_logs():
    rows = [(2, "b", np.nan, np.nan), (1, "a", np.nan, np.nan), (2, "a", np.nan, np.nan)]
    data, report = clean(raw_log(rows))
    assert data.ratings is None and data.timestamps is None and report.implicit
    assert report.timestamp_kind is None
    # without timestamps the input order is kept within each user
    assert data.to_frame().values.tolist() == [[1, "a"], [2, "b"], [2, "a"]]
    with pytest.raises(ConfigError, match="no ratings"):
        clean(raw_log(rows), CleaningConfig(min_rating=1))
    with pytest.raises(DataError, match="no rows left"):
        clean(raw_log(rows), CleaningConfig(require_timestamp=True))
    _, noted = clean(raw_log(rows), CleaningConfig(rating_range=(1, 5)))
    assert noted.notes == ("rating_range not applied: the log has no ratings",)


def test_fractional_timestamps_are_floored_and_counted():
    data, report = clean(raw_log([(1, 1, 1.0, 10.7), (1, 2, 1.0, 10.2), (1, 3, 1.0, 9.0)]))
    assert data.timestamps.tolist() == [9, 10, 10] and data.items.tolist() == [2, 0, 1]
    assert report.floored_timestamps == 2


def test_string_ids_keep_leading_zeros():
    data, _ = clean(raw_log([("u1", "0001", 1.0, 1.0), ("u1", "1", 1.0, 2.0)]))
    assert data.item_vocab.to_list() == ["0001", "1"]


def test_config_validation():
    with pytest.raises(ConfigError):
        CleaningConfig(duplicates="keep_latest")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        CleaningConfig(on_invalid="skip")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        CleaningConfig(rating_range=(5, 1))
    with pytest.raises(ConfigError):
        CleaningConfig(user_core=-1)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 6), st.integers(0, 6), st.integers(0, 4)),
        min_size=1,
        max_size=60,
    ),
    st.sampled_from([1, 10**3, 2**45]),
)
def test_canonical_order_matches_lexsort(rows, scale):
    users, items, times = (np.array(c, dtype=np.int64) for c in zip(*rows, strict=True))
    times = times * scale  # 2**45 spreads times beyond 2**40: dense-rank path
    order = canonical_order(users, items, times, 7, 7)
    expected = np.lexsort((np.arange(len(rows)), items, times, users))
    np.testing.assert_array_equal(order, expected)


def test_canonical_order_with_wide_keys_breaks_time_ties_by_item_then_input_position():
    n_users, n_items = 2**25, 2**20  # 25 + 20 bits leave too few bits for the time codes
    rng = np.random.default_rng(0)
    users = rng.integers(0, 3, 500)
    items = rng.integers(0, 5, 500)
    times = rng.integers(0, 4, 500) * (2**30)
    assert pack_event_keys([users], [times], n_users, [items], n_items) is None
    order = canonical_order(users, items, times, n_users, n_items)
    np.testing.assert_array_equal(order, np.lexsort((np.arange(500), items, times, users)))
