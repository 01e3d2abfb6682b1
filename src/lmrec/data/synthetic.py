"""A seeded synthetic interaction log at benchmark scale, and a chunked Parquet writer.

Shape of the log: user activity is lognormal (heavy right tail, every user at least one event, the
total exactly `n_interactions`), item popularity is Zipf over a random permutation of the item ids, and
each user's timestamps strictly increase. Items are drawn independently per event, so a user can hit
the same item twice: repeated (user, item) pairs occur, as in real logs. At the default size
(1M users, 100k items, 20M events, seed 0) 3,213,792 events (16.1%) repeat an earlier pair of the same
user (`lmrec.data.datacard.count_repeated_pairs`); clean with `duplicates="keep_all"` to keep them.

The generator fills the output arrays chunk by chunk, so its peak memory is the three int64 output
columns (24 bytes per event) plus a few MB of scratch (measured at 20M events: 644 MB peak RSS before
`Interactions` is built, about 6 s; `Interactions`' own sortedness check then adds ~0.45 GB transiently).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lmrec.data.interactions import Interactions
from lmrec.data.vocabulary import Vocabulary

CHUNK = 1 << 21
"""Events generated per step (scratch memory). The log does not depend on it: numpy's generators give
the same stream whether values are drawn in one call or several."""


def _chunks(n: int, size: int | None = None) -> list[tuple[int, int]]:
    size = size or CHUNK
    return [(s, min(s + size, n)) for s in range(0, n, size)]


def _user_counts(rng: np.random.Generator, n_users: int, n_interactions: int, sigma: float) -> np.ndarray:
    """At least one event per user, the rest spread multinomially by lognormal weights (exact total)."""
    weights = rng.lognormal(0.0, sigma, n_users)
    extra = rng.multinomial(n_interactions - n_users, weights / weights.sum())
    return extra.astype(np.int64) + 1


def _fill_items(rng: np.random.Generator, out: np.ndarray, n_items: int, exponent: float) -> None:
    """Zipf(exponent) popularity by rank; ranks map to item indices through a random permutation."""
    weights = np.arange(1, n_items + 1, dtype=np.float64) ** -exponent
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    perm = rng.permutation(n_items)
    for s, e in _chunks(out.size):
        rank = np.searchsorted(cdf, rng.random(e - s), side="right")
        np.minimum(rank, n_items - 1, out=rank)  # guards the cdf[-1] == 1.0 rounding edge
        out[s:e] = perm[rank]


def _fill_times(
    rng: np.random.Generator, out: np.ndarray, indptr: np.ndarray, start: int, span: int, mean_gap: float
) -> None:
    """Per user: a uniform start in [start, start + span), then gaps of 1 + floor(Exp(mean_gap)) seconds."""
    n_users = indptr.size - 1
    first_time = start + rng.integers(0, span, n_users)
    for s, e in _chunks(out.size):
        gaps = 1 + np.floor(rng.exponential(mean_gap, e - s)).astype(np.int64)
        lo = np.searchsorted(indptr, s, side="right") - 1  # user owning event s
        hi = np.searchsorted(indptr, e, side="left")  # users lo..hi-1 have events in [s, e)
        seg_start = np.maximum(indptr[lo:hi], s) - s
        fresh = indptr[lo:hi] >= s
        gaps[seg_start[fresh]] = first_time[lo:hi][fresh]  # a user's first event sits at its start time
        if not fresh[0]:
            gaps[0] += out[s - 1]  # the first user continues from the previous chunk
        # cumulative sum restarted at each user's segment
        run = np.cumsum(gaps)
        offset = np.where(seg_start > 0, run[np.maximum(seg_start - 1, 0)], 0)
        run -= np.repeat(offset, np.diff(np.append(seg_start, e - s)))
        out[s:e] = run


def _generate(
    n_users: int,
    n_items: int,
    n_interactions: int,
    zipf_exponent: float,
    activity_sigma: float,
    start: int,
    span_seconds: int,
    mean_gap_seconds: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """User index, item index and timestamp per event (user-major, time-ascending) and item raw ids."""
    if n_users < 1 or n_items < 1:
        raise ValueError(f"need n_users >= 1 and n_items >= 1, got {n_users}, {n_items}")
    if n_interactions < n_users:
        raise ValueError(
            f"every user has an event, so n_interactions ({n_interactions}) >= n_users ({n_users})"
        )
    if zipf_exponent < 0 or activity_sigma < 0 or span_seconds < 1 or mean_gap_seconds < 0:
        raise ValueError("zipf_exponent, activity_sigma, mean_gap_seconds must be >= 0 and span_seconds >= 1")
    rng_users, rng_items, rng_times = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )

    counts = _user_counts(rng_users, n_users, n_interactions, activity_sigma)
    indptr = np.zeros(n_users + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    users = np.repeat(np.arange(n_users, dtype=np.int64), counts)
    del counts
    items = np.empty(n_interactions, np.int64)
    _fill_items(rng_items, items, n_items, zipf_exponent)
    times = np.empty(n_interactions, np.int64)
    _fill_times(rng_times, times, indptr, start, span_seconds, mean_gap_seconds)

    used = np.bincount(items, minlength=n_items) > 0
    if not used.all():
        remap = np.cumsum(used) - 1
        for s, e in _chunks(n_interactions):
            items[s:e] = remap[items[s:e]]
    return users, items, times, np.flatnonzero(used).astype(np.int64) + 1


def synthetic_log(
    n_users: int = 1_000_000,
    n_items: int = 100_000,
    n_interactions: int = 20_000_000,
    *,
    zipf_exponent: float = 1.0,
    activity_sigma: float = 1.5,
    start: int = 1_500_000_000,
    span_seconds: int = 2 * 365 * 86_400,
    mean_gap_seconds: float = 3_600.0,
    seed: int = 0,
) -> Interactions:
    """A deterministic synthetic implicit log (no ratings) with Unix-second timestamps.

    Raw user ids are 1..n_users (every user has at least one event); raw item ids are 1..n_items, but
    only items drawn at least once are in the item vocabulary (so a log written to Parquet and read
    back has the same catalog). `activity_sigma` is the lognormal sigma of user activity (default: median
    7 events, longest user about 11.5k at the default size); `zipf_exponent` the exponent s of item
    popularity p(rank k) ∝ k^-s; gaps between a user's events are 1 + Exp(`mean_gap_seconds`) seconds
    after a start drawn uniformly from [start, start + span_seconds).
    """
    users, items, times, item_ids = _generate(
        n_users, n_items, n_interactions, zipf_exponent, activity_sigma, start, span_seconds,
        mean_gap_seconds, seed,
    )  # fmt: skip
    return Interactions(
        users=users,
        items=items,
        user_vocab=Vocabulary(np.arange(1, n_users + 1, dtype=np.int64)),
        item_vocab=Vocabulary(item_ids),
        timestamps=times,
    )


def write_synthetic_parquet(
    path: str | Path,
    *,
    n_users: int = 1_000_000,
    n_items: int = 100_000,
    n_interactions: int = 20_000_000,
    zipf_exponent: float = 1.0,
    activity_sigma: float = 1.5,
    start: int = 1_500_000_000,
    span_seconds: int = 2 * 365 * 86_400,
    mean_gap_seconds: float = 3_600.0,
    seed: int = 0,
    row_group_size: int = 1_000_000,
) -> Path:
    """Generate the same log as `synthetic_log` (same arguments, same events, same row order) and write
    it to Parquet as int64 columns user, item, timestamp (raw ids), one row group at a time.

    Skips building `Interactions`, so peak memory is the three generated columns plus one row group.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    users, items, times, item_ids = _generate(
        n_users, n_items, n_interactions, zipf_exponent, activity_sigma, start, span_seconds,
        mean_gap_seconds, seed,
    )  # fmt: skip
    path = Path(path)
    schema = pa.schema([("user", pa.int64()), ("item", pa.int64()), ("timestamp", pa.int64())])
    with pq.ParquetWriter(path, schema) as writer:
        for s, e in _chunks(n_interactions, row_group_size):
            table = pa.table(
                {"user": users[s:e] + 1, "item": item_ids[items[s:e]], "timestamp": times[s:e]}, schema=schema
            )
            writer.write_table(table, row_group_size=row_group_size)
    return path


def write_parquet(data: Interactions, path: str | Path, *, row_group_size: int = 1_000_000) -> Path:
    """Write raw ids (user, item as int64 or string) [, rating float32][, timestamp int64] in row groups.

    Only one row group of raw ids is materialised at a time.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    columns: dict[str, pa.DataType] = {
        "user": pa.int64() if data.user_vocab.is_integer else pa.string(),
        "item": pa.int64() if data.item_vocab.is_integer else pa.string(),
    }
    if data.ratings is not None:
        columns["rating"] = pa.float32()
    if data.timestamps is not None:
        columns["timestamp"] = pa.int64()
    schema = pa.schema(list(columns.items()))
    with pq.ParquetWriter(path, schema) as writer:
        for s, e in _chunks(len(data), row_group_size) or [(0, 0)]:
            arrays = {
                "user": data.user_vocab.id(data.users[s:e]),
                "item": data.item_vocab.id(data.items[s:e]),
                "rating": None if data.ratings is None else data.ratings[s:e],
                "timestamp": None if data.timestamps is None else data.timestamps[s:e],
            }
            table = pa.table({k: pa.array(arrays[k], type=t) for k, t in columns.items()}, schema=schema)
            writer.write_table(table, row_group_size=row_group_size)
    return path
