"""The feedback event log of the service: durable, append-only, idempotent, behind SQLAlchemy Core.

The default is an embedded SQLite file in WAL mode with `synchronous=FULL`: every commit fsyncs the
write-ahead log, so an event the service has acknowledged survives `kill -9` and a power cut (NORMAL,
SQLite's usual WAL setting, may lose the last commits on power loss). Any other SQLAlchemy URL works the
same way, e.g. ``postgresql+psycopg://user@host/db``.

Raw ids are stored as text: the service accepts int or str ids, and the model's vocabulary decides what
they mean (an integer vocabulary reads "105" and 105 as the same item).

An optional idempotency key makes a retried post harmless: the key is unique in the table, a second
event with the same key is not stored again and the caller gets the id of the first one. Reusing a key
for a *different* event (other user, item or type) is refused with `IdempotencyConflict`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lmrec.errors import LmrecError

DEFAULT_TABLE = "lmrec_events"
ID_LENGTH = 256
"""Longest raw user/item id and idempotency key stored (the request schemas enforce the same bound)."""
TYPE_LENGTH = 64
READ_CHUNK = 10_000
"""Rows fetched per query while replaying the log (bounded memory per step)."""


class IdempotencyConflict(LmrecError, ValueError):
    """An idempotency key was reused for a different event."""


@dataclass(frozen=True)
class Event:
    """One feedback event as the service received it (raw ids as text)."""

    user: str
    item: str
    type: str = "interaction"
    timestamp: float | None = None
    """Unix seconds when it happened; None means "now" (the store fills in the receive time)."""
    idempotency_key: str | None = None


@dataclass(frozen=True)
class StoredEvent:
    """An event as stored: its id (increasing in insertion order) and its final timestamp."""

    id: int
    user: str
    item: str
    type: str
    timestamp: float
    received_at: float
    idempotency_key: str | None
    duplicate: bool = False
    """True when this post repeated an idempotency key already stored (nothing new was written)."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")  # fsync the WAL on every commit: acknowledged = on disk
    cur.execute("PRAGMA busy_timeout=10000")  # a second process writing the same file waits, not fails
    cur.close()


def sqlite_url(path: str) -> str:
    """The SQLAlchemy URL of an SQLite file."""
    return f"sqlite:///{path}"


class EventStore:
    """Append-only event table (created if missing) at `url`; thread-safe.

    url: any SQLAlchemy URL; ``sqlite://`` (no path) is a private in-memory database for tests and
    notebooks, which lives as long as this object (`close` keeps it: see there).
    table: table name, so several services (or test runs) can share one database.
    """

    def __init__(self, url: str, *, table: str = DEFAULT_TABLE) -> None:
        self.url = url
        self.table_name = table
        self._write_lock = threading.Lock()
        parsed = sa.engine.make_url(url)
        self.in_memory = parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")
        self.engine = self._make_engine(url)
        meta = sa.MetaData()
        self.table = sa.Table(
            table,
            meta,
            # BIGINT is no rowid alias in SQLite (no autoincrement there): INTEGER on SQLite
            sa.Column(
                "id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                primary_key=True,
                autoincrement=True,
            ),
            sa.Column("user_id", sa.String(ID_LENGTH), nullable=False, index=True),
            sa.Column("item_id", sa.String(ID_LENGTH), nullable=False),
            sa.Column("type", sa.String(TYPE_LENGTH), nullable=False),
            sa.Column("timestamp", sa.Double(), nullable=False),
            sa.Column("received_at", sa.Double(), nullable=False),
            sa.Column("idempotency_key", sa.String(ID_LENGTH), nullable=True, unique=True),
        )
        meta.create_all(self.engine)

    @staticmethod
    def _make_engine(url: str) -> Engine:
        parsed = sa.engine.make_url(url)
        if parsed.get_backend_name() != "sqlite":
            return sa.create_engine(url, pool_pre_ping=True)
        if parsed.database in (None, "", ":memory:"):
            # one shared connection, or every pooled connection would see its own empty database
            engine = sa.create_engine(
                url, poolclass=sa.pool.StaticPool, connect_args={"check_same_thread": False}
            )
        else:
            engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine

    def __repr__(self) -> str:
        url = self.engine.url.render_as_string(hide_password=True)
        return f"EventStore({url!r}, table={self.table_name!r})"

    # --- writing ----------------------------------------------------------------------------------
    def add(self, events: Sequence[Event], *, now: float | None = None) -> list[StoredEvent]:
        """Store `events` in one transaction (all or nothing); returns them in input order with ids.

        Events whose idempotency key is already stored (or repeated earlier in the same batch) are not
        written again: they come back with the first event's id and `duplicate=True`. The call returns
        only after the commit, so a returned event is durable.
        """
        if not events:
            return []
        received = time.time() if now is None else now
        with self._write_lock:
            try:
                return self._add(events, received)
            except sa.exc.IntegrityError:
                # another process inserted one of our keys between our check and our insert: the
                # retry sees it and reports a duplicate
                return self._add(events, received)

    def _add(self, events: Sequence[Event], received: float) -> list[StoredEvent]:
        t = self.table
        keys = sorted({e.idempotency_key for e in events if e.idempotency_key is not None})
        with self.engine.begin() as conn:
            existing: dict[str, StoredEvent] = {}
            for start in range(0, len(keys), 500):
                rows = conn.execute(sa.select(t).where(t.c.idempotency_key.in_(keys[start : start + 500])))
                existing.update({r.idempotency_key: self._row(r, duplicate=True) for r in rows})
            out: list[StoredEvent | None] = []
            fresh: list[dict[str, Any]] = []
            fresh_at: list[int] = []
            batch_keys: dict[str, int] = {}
            for pos, e in enumerate(events):
                key = e.idempotency_key
                if key is not None and key in existing:
                    _check_same(existing[key], e)
                    out.append(existing[key])
                    continue
                if key is not None and key in batch_keys:
                    first = events[batch_keys[key]]
                    _check_same_event(first, e, key)
                    out.append(None)  # filled in from the first occurrence after the insert
                    continue
                if key is not None:
                    batch_keys[key] = pos
                fresh.append(
                    {
                        "user_id": e.user,
                        "item_id": e.item,
                        "type": e.type,
                        "timestamp": received if e.timestamp is None else float(e.timestamp),
                        "received_at": received,
                        "idempotency_key": key,
                    }
                )
                fresh_at.append(pos)
                out.append(None)
            if fresh:
                ids = (
                    conn.execute(sa.insert(t).returning(t.c.id, sort_by_parameter_order=True), fresh)
                    .scalars()
                    .all()
                )
                for pos, row_id, values in zip(fresh_at, ids, fresh, strict=True):
                    out[pos] = StoredEvent(
                        id=int(row_id),
                        user=values["user_id"],
                        item=values["item_id"],
                        type=values["type"],
                        timestamp=values["timestamp"],
                        received_at=received,
                        idempotency_key=values["idempotency_key"],
                    )
            for pos, e in enumerate(events):
                if out[pos] is None and e.idempotency_key is not None:
                    original = out[batch_keys[e.idempotency_key]]
                    assert original is not None
                    out[pos] = _as_duplicate(original)
        return [o for o in out if o is not None]

    # --- reading ----------------------------------------------------------------------------------
    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(self.table)).scalar_one())

    def max_id(self) -> int:
        """Id of the newest event (0 for an empty log)."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(self.table.c.id))).scalar() or 0)

    def iter_events(self, *, after_id: int = 0, upto_id: int | None = None) -> Iterator[StoredEvent]:
        """Stored events with after_id < id (<= upto_id), in insertion order, read in chunks."""
        t = self.table
        last = after_id
        while True:
            query = sa.select(t).where(t.c.id > last)
            if upto_id is not None:
                query = query.where(t.c.id <= upto_id)
            with self.engine.connect() as conn:
                rows = [self._row(r) for r in conn.execute(query.order_by(t.c.id).limit(READ_CHUNK))]
            yield from rows
            if len(rows) < READ_CHUNK:
                return
            last = rows[-1].id

    def events_by_id(self, ids: Sequence[int]) -> Iterator[StoredEvent]:
        """The stored events with these ids, in id order (ids not stored are left out)."""
        t = self.table
        wanted = sorted(set(ids))
        for start in range(0, len(wanted), 500):
            with self.engine.connect() as conn:
                query = sa.select(t).where(t.c.id.in_(wanted[start : start + 500])).order_by(t.c.id)
                rows = [self._row(r) for r in conn.execute(query)]
            yield from rows

    def events(self, **kwargs: Any) -> list[StoredEvent]:
        return list(self.iter_events(**kwargs))

    @staticmethod
    def _row(r: Any, *, duplicate: bool = False) -> StoredEvent:
        return StoredEvent(
            id=int(r.id),
            user=r.user_id,
            item=r.item_id,
            type=r.type,
            timestamp=float(r.timestamp),
            received_at=float(r.received_at),
            idempotency_key=r.idempotency_key,
            duplicate=duplicate,
        )

    # --- lifecycle --------------------------------------------------------------------------------
    def drop(self) -> None:
        """Delete the table and everything in it (tests; there is no undo)."""
        self.table.drop(self.engine, checkfirst=True)

    def close(self) -> None:
        """Release the database connections (they reopen if the store is used again).

        An in-memory database lives in its one connection, so closing that would delete the table and
        every acknowledged event while the service may still answer: an app object can be started and
        shut down more than once in a process (test clients, schemathesis), and each shutdown closes the
        store. It is therefore kept until this object is garbage-collected.
        """
        if not self.in_memory:
            self.engine.dispose()


def _as_duplicate(e: StoredEvent) -> StoredEvent:
    return StoredEvent(**{**e.__dict__, "duplicate": True})


def _check_same(stored: StoredEvent, e: Event) -> None:
    if (stored.user, stored.item, stored.type) != (e.user, e.item, e.type):
        raise IdempotencyConflict(
            f"idempotency key {e.idempotency_key!r} was already used for event {stored.id} "
            f"(user {stored.user!r}, item {stored.item!r}, type {stored.type!r}); "
            "use a new key for a new event"
        )


def _check_same_event(first: Event, e: Event, key: str) -> None:
    if (first.user, first.item, first.type) != (e.user, e.item, e.type):
        raise IdempotencyConflict(f"idempotency key {key!r} is used for two different events in one batch")
