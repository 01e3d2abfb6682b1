"""Events stored since the model was trained, per user, in compact arrays: the service's online state.

The state lives until the next retrain, so it grows with every posted event. It used to be a list of
`(timestamp, event id, item)` tuples per user: a tuple, a boxed float and two boxed ints, about 160
bytes per event (tracemalloc, 200,000 events of 5,000 users). Here a user's events are rows of one
numpy structured array (20 bytes a row) that doubles when full: about 40 bytes per event, the spare
rows and the per-user overhead (one array, one small object, the key) included.

Order and identity are the tuples' ones: rows sorted by (timestamp, event id, item), and an event equal
to a stored one in all three is ignored. Events mostly arrive in time order, so an add is an O(1)
amortised append; an older event is inserted in place (a binary search and a shift of the later rows).

Not thread-safe on its own: `LiveModel` holds its lock around every call.
"""

from __future__ import annotations

import numpy as np

ROW = np.dtype([("timestamp", np.float64), ("id", np.int64), ("item", np.int32)])
"""One stored event; packed (20 bytes), the fields are compared in this order."""
INITIAL_ROWS = 2
"""Rows allocated for a user's first event; most users with online events have few."""


class _Rows:
    """One user's events: `rows[:n]` in order, `rows[n:]` spare capacity; `last` is `rows[n - 1]` as a
    tuple (a few dozen bytes per user that spare reading a numpy row back on each in-order add)."""

    __slots__ = ("last", "n", "rows")

    def __init__(self) -> None:
        self.rows = np.empty(INITIAL_ROWS, dtype=ROW)
        self.n = 0
        self.last: tuple[float, int, int] | None = None

    def add(self, entry: tuple[float, int, int]) -> bool:
        n, rows = self.n, self.rows
        last = self.last
        if last is None or entry > last:
            at = n  # in order: the common case, an append
        else:
            at = self._position(entry)
            if at < n and rows[at].item() == entry:
                return False
        if n == len(rows):  # full: double, so n appends cost O(n) copies in all
            grown = np.empty(2 * n, dtype=ROW)
            grown[:n] = rows
            self.rows = rows = grown
        if at < n:
            rows[at + 1 : n + 1] = rows[at:n]  # numpy copies overlapping views safely
        rows[at] = entry
        self.n = n + 1
        if at == n:
            self.last = entry
        return True

    def _position(self, entry: tuple[float, int, int]) -> int:
        """The first row not less than `entry` in (timestamp, id, item) order (`bisect_left`)."""
        lo, hi = 0, self.n
        for field, value in zip(ROW.names or (), entry, strict=True):
            column = self.rows[field][lo:hi]  # rows equal on the fields before: sorted on this one
            left = int(np.searchsorted(column, value, side="left"))
            right = int(np.searchsorted(column, value, side="right"))
            lo, hi = lo + left, lo + right
            if lo == hi:
                break
        return lo


class OnlineEvents:
    """Per canonical user key, the events the model does not hold yet, in (timestamp, event id) order."""

    def __init__(self) -> None:
        self._users: dict[str, _Rows] = {}
        self._events = 0

    def add(self, user: str, timestamp: float, event_id: int, item: int) -> bool:
        """Store an event of `user` (item index into the model's catalog); False when the very same event
        (timestamp, id and item) is stored already, so a replayed event never counts twice."""
        rows = self._users.get(user)
        if rows is None:
            rows = self._users[user] = _Rows()
        if not rows.add((float(timestamp), int(event_id), int(item))):
            return False
        self._events += 1
        return True

    def items(self, user: str) -> np.ndarray:
        """The user's item indices in (timestamp, event id) order: a new int64 array (empty when the user
        has no events), so it stays valid after the caller lets go of the lock."""
        rows = self._users.get(user)
        if rows is None:
            return np.empty(0, dtype=np.int64)
        return rows.rows["item"][: rows.n].astype(np.int64)

    @property
    def n_users(self) -> int:
        """Users with at least one event."""
        return len(self._users)

    @property
    def n_events(self) -> int:
        """Events stored, over all users."""
        return self._events
