"""Data card: hand-checked statistics, Gini against the O(n^2) definition, real ML-100K facts."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmrec.data.datacard import count_repeated_pairs, data_card, gini
from lmrec.data.interactions import Interactions
from lmrec.data.vocabulary import Vocabulary


def gini_definition(x: list[int]) -> float:
    """Mean absolute difference over all ordered pairs / (2 * mean), i.e. sum|xi-xj| / (2 n^2 mean)."""
    n, mean = len(x), sum(x) / len(x)
    return sum(abs(a - b) for a in x for b in x) / (2 * n * n * mean)


def test_gini_hand_cases():
    assert gini(np.array([0, 0, 0, 1])) == pytest.approx(0.75)  # (n - 1) / n with n = 4
    assert gini(np.array([5, 5, 5])) == pytest.approx(0.0)
    assert gini(np.array([1, 2, 3])) == pytest.approx(8 / 36)  # sum|xi-xj| = 8, 2 n^2 mean = 36
    assert math.isnan(gini(np.array([0, 0]))) and math.isnan(gini(np.array([], dtype=int)))
    with pytest.raises(ValueError):
        gini(np.array([-1, 2]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=1, max_size=40).filter(lambda x: sum(x) > 0))
def test_gini_equals_the_mean_absolute_difference_definition(x):
    assert gini(np.array(x)) == pytest.approx(gini_definition(x), abs=1e-12)


def test_card_of_a_hand_built_log():
    # 3 users in the vocabulary (one without events), 5 items (one without events)
    frame = pd.DataFrame(
        {
            "user": [1, 1, 1, 2, 2],
            "item": [10, 10, 11, 10, 12],
            "rating": [4.0, 5.0, 3.0, 4.0, 4.5],
            "timestamp": [0, 86_400, 100, 200, 300],
        }
    )
    data = Interactions.from_frame(
        frame, user_vocab=Vocabulary.from_ids([1, 2, 3]), item_vocab=Vocabulary.from_ids([10, 11, 12, 13, 14])
    )
    card = data_card(data, name="toy", timestamp_kind="unix")
    assert (card.n_users, card.n_items, card.n_interactions) == (3, 5, 5)
    assert (card.active_users, card.active_items, card.n_pairs) == (2, 3, 4)
    assert card.density == pytest.approx(4 / 15)
    assert card.user_length.min == 0 and card.user_length.max == 3 and card.user_length.median == 2
    assert card.item_popularity.mean == pytest.approx(1.0)
    assert card.gini_items == pytest.approx(gini_definition([3, 1, 1, 0, 0]))
    assert card.gini_users == pytest.approx(gini_definition([3, 2, 0]))
    assert card.top1_share == pytest.approx(3 / 5)  # ceil(0.01 * 5) = 1 item
    assert card.top10_share == pytest.approx(3 / 5)
    assert card.time_range == {"kind": "unix", "start": "1970-01-01T00:00:00Z", "end": "1970-01-02T00:00:00Z"}
    assert card.rating_histogram == {"3": 1, "4": 2, "4.5": 1, "5": 1}
    json.dumps(card.to_dict())
    md = card.to_markdown()
    assert "| distinct (user, item) pairs | 4 |" in md and "| 4.5 | 1 | 0.200 |" in md
    assert count_repeated_pairs(data) == 1


def test_card_without_ratings_and_with_position_times():
    data = Interactions.from_frame(
        pd.DataFrame({"user": [1, 1, 2], "item": [1, 2, 1], "timestamp": [0, 1, 0]})
    )
    card = data_card(data, timestamp_kind="position")
    assert card.rating_histogram is None
    assert card.time_range == {"kind": "position", "min": 0, "max": 1}
    assert data_card(data).time_range["kind"] == "unknown"


def test_many_distinct_ratings_are_binned():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"user": np.arange(500) % 7, "item": np.arange(500), "rating": rng.random(500)})
    hist = data_card(Interactions.from_frame(frame)).rating_histogram
    assert len(hist) == 20 and sum(hist.values()) == 500


def test_ml100k_card_matches_the_published_facts(ml100k_dir):
    frame = pd.read_csv(ml100k_dir / "u.data", sep="\t", names=["user", "item", "rating", "timestamp"])
    card = data_card(Interactions.from_frame(frame), name="ml-100k", timestamp_kind="unix")
    assert (card.n_users, card.n_items, card.n_interactions, card.n_pairs) == (943, 1682, 100_000, 100_000)
    assert card.user_length.min == 20
    assert card.rating_histogram == {"1": 6110, "2": 11370, "3": 27145, "4": 34174, "5": 21201}
    assert card.time_range["start"].startswith("1997-09-20") and card.time_range["end"].startswith(
        "1998-04-22"
    )
    counts = frame.groupby("item").size().to_numpy()
    assert card.gini_items == pytest.approx(gini_definition(counts.tolist()))
    top17 = np.sort(counts)[-17:].sum() / 100_000  # ceil(0.01 * 1682) = 17 items
    assert card.top1_share == pytest.approx(top17)
