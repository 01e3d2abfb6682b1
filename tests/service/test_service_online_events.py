"""The service's online state (`OnlineEvents`): order, duplicates, counts, and its memory per event.

The reference is the representation it replaced, a sorted list of (timestamp, event id, item) tuples per
user kept with `bisect`: every sequence of adds must give the same answers.
"""

from __future__ import annotations

import bisect
import gc
import tracemalloc
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmrec.models.knn import ItemKNN
from lmrec.service.online import OnlineEvents
from lmrec.service.state import LiveModel
from lmrec.service.store import StoredEvent

Event = tuple[str, float, int, int]


class TupleLists:
    """The old representation: per user a sorted list of (timestamp, id, item) tuples."""

    def __init__(self) -> None:
        self.users: dict[str, list[tuple[float, int, int]]] = {}

    def add(self, user: str, timestamp: float, event_id: int, item: int) -> bool:
        rows = self.users.setdefault(user, [])
        entry = (timestamp, event_id, item)
        at = bisect.bisect_left(rows, entry)
        if at < len(rows) and rows[at] == entry:
            return False
        rows.insert(at, entry)
        return True


def test_out_of_order_events_are_read_in_time_order_with_ties_by_event_id() -> None:
    online = OnlineEvents()
    for timestamp, event_id, item in [(30.0, 3, 7), (10.0, 5, 1), (20.0, 9, 4), (20.0, 2, 8), (5.0, 8, 0)]:
        assert online.add("u", timestamp, event_id, item)
    got = online.items("u")
    assert got.dtype == np.int64 and got.tolist() == [0, 1, 8, 4, 7]


def test_a_duplicate_event_is_ignored_and_not_counted() -> None:
    online = OnlineEvents()
    assert online.add("u", 1.0, 1, 3) and online.add("u", 2.0, 2, 4) and online.add("v", 2.0, 2, 4)
    assert not online.add("u", 2.0, 2, 4), "the newest event again"
    assert not online.add("u", 1.0, 1, 3), "an older event again (the out-of-order path)"
    assert online.add("u", 1.0, 1, 5), "same timestamp and id but another item is another entry"
    assert (online.n_users, online.n_events) == (2, 4)
    assert online.items("u").tolist() == [3, 5, 4] and online.items("v").tolist() == [4]


def test_items_are_a_copy_and_an_unknown_user_has_none() -> None:
    online = OnlineEvents()
    assert online.items("nobody").shape == (0,) and online.items("nobody").dtype == np.int64
    assert (online.n_users, online.n_events) == (0, 0)
    online.add("u", 1.0, 1, 3)
    got = online.items("u")
    online.add("u", 0.5, 2, 9)  # shifts the stored rows
    assert got.tolist() == [3] and online.items("u").tolist() == [9, 3]


events_st = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from([0.0, 1.0, 1.5, 2.0, 1e9]),
        st.integers(1, 6),
        st.integers(0, 4),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(events_st)
def test_any_sequence_of_adds_reads_as_the_tuple_lists_would(events: list[Event]) -> None:
    """Many ties and repeats (few timestamps, ids and items), arriving in any order."""
    online, reference = OnlineEvents(), TupleLists()
    for e in events:
        assert online.add(*e) == reference.add(*e)
    assert online.n_users == len(reference.users)
    assert online.n_events == sum(len(v) for v in reference.users.values())
    for user, rows in reference.users.items():
        assert online.items(user).tolist() == [item for _, _, item in rows]


def test_live_model_applies_out_of_order_events_once(knn: ItemKNN) -> None:
    """Through `LiveModel`: newest first, then the same events again (a replay racing a swap)."""
    items = [str(i) for i in knn.item_vocab_.ids[:3].tolist()]
    events = [
        StoredEvent(
            id=i,
            user="new-user",
            item=items[i - 1],
            type="click",
            timestamp=t,
            received_at=t,
            idempotency_key=None,
        )
        for i, t in [(3, 300.0), (1, 100.0), (2, 100.0)]
    ]
    live = LiveModel(knn)
    assert live.apply(events) == 3 and live.apply(events) == 0
    assert (live.online_users(), live.online_events()) == (1, 3)
    assert live._online.items("new-user").tolist() == knn.item_vocab_.index(np.array(items)).tolist()
    (rec,) = live.recommend_users(["new-user"], 5)
    assert rec.fallback is None and rec.history_length == 3


N_EVENTS, N_USERS = 200_000, 5_000
BYTES_PER_EVENT = 60


def bytes_per_event(make: Callable[[], OnlineEvents | TupleLists]) -> float:
    """Memory held per event after N_EVENTS adds, mostly in time order, for N_USERS users. The floats
    and ints are made per event, as the service makes them from each stored event it then drops."""
    rng = np.random.default_rng(0)
    users = [f"user-{u}" for u in range(N_USERS)]
    who = rng.integers(0, N_USERS, N_EVENTS).tolist()
    timestamps = 1.7e9 + np.arange(N_EVENTS) * 0.01 + rng.random(N_EVENTS) * 0.05  # some out of order
    items = rng.integers(0, 3_000, N_EVENTS)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        store = make()
        for i in range(N_EVENTS):
            store.add(users[who[i]], float(timestamps[i]), i + 1_000_000, int(items[i]))
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    del store
    return held / N_EVENTS


def test_online_state_holds_few_bytes_per_event() -> None:
    """Issue 17: the soak's RSS drifted with the posted events. The tuple lists hold ~160 bytes per event
    here, the arrays ~40."""
    held = bytes_per_event(OnlineEvents)
    assert held < BYTES_PER_EVENT, f"{held:.1f} bytes per event"


@pytest.mark.slow
def test_the_memory_bound_would_fail_the_tuple_lists() -> None:
    """The bound above discriminates: the old representation is well above it."""
    assert bytes_per_event(TupleLists) > 2 * BYTES_PER_EVENT
