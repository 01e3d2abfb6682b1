"""Deterministic train/validation/test splits over one shared pair of vocabularies.

Every part of a `Split` keeps the vocabularies of the whole dataset, so the catalog that full ranking
scores is every item of the dataset (PROTOCOLS.md) and indices are comparable across parts. Per-user
splits work on the canonical order of `Interactions` (user, timestamp, item; given order without
timestamps) and are vectorised: positions within a user come from `indptr`, never a per-user loop.

Fractions are applied with exact integer arithmetic: a ratio r is read as the decimal it prints as
(`Fraction(str(r))`), so floor(n * 0.8) is computed as n * 4 // 5 and never suffers float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

from lmrec.data.interactions import Interactions
from lmrec.data.raw import RawLog
from lmrec.data.vocabulary import Vocabulary
from lmrec.errors import DataError


def same_vocab(a: Vocabulary, b: Vocabulary) -> bool:
    """True when two vocabularies hold the same raw ids in the same order (identity is the fast path)."""
    return a is b or (a.ids.dtype == b.ids.dtype and np.array_equal(a.ids, b.ids))


@dataclass(frozen=True, eq=False)
class Split:
    """Train / validation / test logs over the same vocabularies. A split without validation has an
    empty `valid` log (check `len(split.valid)`), so every part is always an `Interactions`."""

    train: Interactions
    valid: Interactions
    test: Interactions
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    """How the split was made (JSON-able). `params["temporal"]` is "per_user", "global" or None and
    tells `check_split` which time-order check applies."""

    def __post_init__(self) -> None:
        for part_name, part in self.parts().items():
            if not (
                same_vocab(part.user_vocab, self.train.user_vocab)
                and same_vocab(part.item_vocab, self.train.item_vocab)
            ):
                raise ValueError(
                    f"split {self.name!r}: part {part_name!r} has different vocabularies than train"
                )

    def parts(self) -> dict[str, Interactions]:
        """The parts by name, in the order train, valid, test."""
        return {"train": self.train, "valid": self.valid, "test": self.test}

    def train_valid(self) -> Interactions:
        """Train and validation events together (what a model refitted for the test sees).

        `Interactions.concat` merges the two sorted logs in near-linear time.
        """
        if not len(self.valid):
            return self.train
        # computed once: every refit of a run then gets the same object (hybrids share fitted models
        # by data identity, and the merge of a large log is not free)
        cached = self.__dict__.get("_train_valid")
        if cached is None:
            cached = self.train.concat(self.valid)
            object.__setattr__(self, "_train_valid", cached)
        return cached

    def describe(self) -> dict[str, Any]:
        """Rows / users / items per part and how many valid/test users and items are cold."""
        out: dict[str, Any] = {"name": self.name, "params": self.params, "parts": {}, "cold": {}}
        for part_name, part in self.parts().items():
            out["parts"][part_name] = {
                "rows": len(part),
                "users": int(np.count_nonzero(part.user_counts())),
                "items": int(np.count_nonzero(part.item_counts())),
            }
        out["cold"]["valid"] = {"vs_train": _cold(self.valid, self.train)}
        out["cold"]["test"] = {
            "vs_train": _cold(self.test, self.train),
            "vs_train_valid": _cold(self.test, self.train_valid()),
        }
        return out


def _cold(part: Interactions, known: Interactions) -> dict[str, int]:
    """Users / items of `part` without any event in `known`, and `part` rows on cold items."""
    users = (part.user_counts() > 0) & (known.user_counts() == 0)
    cold_items = (part.item_counts() > 0) & (known.item_counts() == 0)
    return {
        "users": int(np.count_nonzero(users)),
        "items": int(np.count_nonzero(cold_items)),
        "rows_on_cold_items": int(np.count_nonzero(cold_items[part.items])),
    }


# --- helpers ----------------------------------------------------------------------------------------
def _fraction(value: float, name: str) -> Fraction:
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be in [0, 1], not {value}")
    return Fraction(str(value)).limit_denominator(10**9)  # keeps n * numerator inside int64


def _floor_times(n: np.ndarray, frac: Fraction) -> np.ndarray:
    """floor(n * frac) exactly, elementwise, for int64 n."""
    return n * np.int64(frac.numerator) // np.int64(frac.denominator)


def _positions(data: Interactions) -> tuple[np.ndarray, np.ndarray]:
    """Per event: position within its user (0-based, canonical order) and that user's event count."""
    counts = data.user_counts()
    indptr = data.indptr()
    return np.arange(len(data), dtype=np.int64) - indptr[data.users], counts[data.users]


def _random_rank(data: Interactions, seed: int) -> np.ndarray:
    """Per event: its rank within its user under a seeded random shuffle (0..n-1 per user).

    One random 32-bit key per event, sorted together with the user index as a single int64 key.
    """
    pos, _ = _positions(data)
    rng = np.random.default_rng(seed)
    key = (data.users << np.int64(32)) | rng.integers(0, 2**32, len(data), dtype=np.int64)
    order = np.argsort(key, kind="stable")
    rank = np.empty(len(data), np.int64)
    rank[order] = pos  # `order` visits users block by block, so pos lists the ranks 0..n-1 per block
    return rank


def _three_way(data: Interactions, part: np.ndarray, name: str, params: dict[str, Any]) -> Split:
    """Split from a part label per event: 0 train, 1 valid, 2 test."""
    return Split(
        train=data.subset(part == 0),
        valid=data.subset(part == 1),
        test=data.subset(part == 2),
        name=name,
        params=params,
    )


def _ratio_parts(
    pos: np.ndarray, n: np.ndarray, train: float, valid: float
) -> tuple[np.ndarray, dict[str, Any]]:
    ft, fv = _fraction(train, "train"), _fraction(valid, "valid")
    if ft + fv > 1:
        raise ValueError(f"train + valid must be <= 1, got {train} + {valid}")
    a, b = _floor_times(n, ft), _floor_times(n, ft + fv)
    part = (pos >= a).astype(np.int8) + (pos >= b).astype(np.int8)
    return part, {"train": train, "valid": valid, "test": float(1 - ft - fv)}


# --- per-user splits ----------------------------------------------------------------------------------
def leave_one_out(data: Interactions, min_len: int = 3) -> Split:
    """P2: per user, the last event is test, the second-to-last valid, the rest train.

    Users with fewer than `min_len` events go wholly to train (they have no targets), so with the
    default 3 every evaluated user keeps at least one training event. `min_len` must be >= 2.
    """
    if min_len < 2:
        raise ValueError(f"min_len must be >= 2 (one valid and one test event), not {min_len}")
    pos, n = _positions(data)
    from_end = n - pos  # 1 for the last event
    part = np.where(n >= min_len, np.clip(3 - from_end, 0, 2), 0).astype(np.int8)
    return _three_way(data, part, "leave_one_out", {"min_len": min_len, "temporal": "per_user"})


def temporal_ratio(data: Interactions, train: float = 0.8, valid: float = 0.1) -> Split:
    """P1: per user with n events, a = floor(n * train), b = floor(n * (train + valid)); positions
    [0, a) train, [a, b) valid, [b, n) test, in canonical (time) order.

    Applied exactly as the protocol says, so a user with a single event has it in test (cold at test
    time) and a user with fewer than 10 events may have an empty validation part; `describe()` counts
    such users.
    """
    pos, n = _positions(data)
    part, fr = _ratio_parts(pos, n, train, valid)
    return _three_way(data, part, "temporal_ratio", {**fr, "temporal": "per_user"})


def random_ratio(data: Interactions, train: float = 0.8, valid: float = 0.1, *, seed: int) -> Split:
    """Like `temporal_ratio`, but on a per-user random shuffle (`np.random.default_rng(seed)`).

    The floor rule applies to the shuffled positions; the parts themselves keep canonical order.
    """
    _, n = _positions(data)
    rank = _random_rank(data, seed)
    part, fr = _ratio_parts(rank, n, train, valid)
    return _three_way(data, part, "random_ratio", {**fr, "seed": seed, "temporal": None})


def holdout_ratings(data: Interactions, frac: float = 0.1, *, seed: int) -> tuple[Interactions, Interactions]:
    """Carve a per-user random validation set out of a training log: (fit part, held-out part).

    Each user gives floor(n * frac) random events (so users with fewer than 1/frac events give none).
    Used to tune on P3 folds without touching the test fold.
    """
    _, n = _positions(data)
    held = _random_rank(data, seed) < _floor_times(n, _fraction(frac, "frac"))
    return data.subset(~held), data.subset(held)


# --- global time cut ------------------------------------------------------------------------------------
def global_temporal(
    data: Interactions,
    *,
    timestamp_kind: str,
    valid_start: int | None = None,
    test_start: int | None = None,
    valid_frac: float | None = None,
    test_frac: float | None = None,
) -> Split:
    """One time cut for everybody: t < valid_start train, valid_start <= t < test_start valid, rest test.

    Give either the two cut timestamps or `valid_frac` / `test_frac`: then test_start is the timestamp of
    the event at position floor(n * (1 - test_frac)) in global time order (and likewise valid_start), and
    events tied with a cut go to the later part, so the fractions are met up to ties.
    `timestamp_kind` must be "unix": `Interactions` does not record whether its timestamps are real
    times or positions in a sequence file, so the caller states it (from the loader's meta or the
    cleaning report); positions are not a global time axis and are refused.
    """
    if timestamp_kind != "unix":
        raise DataError(f"global_temporal needs Unix timestamps, but timestamp_kind is {timestamp_kind!r}")
    if data.timestamps is None or len(data) == 0:
        raise DataError("global_temporal needs a non-empty log with timestamps")
    t = data.timestamps
    by_frac = valid_frac is not None or test_frac is not None
    if by_frac == (valid_start is not None or test_start is not None):
        raise ValueError("give either valid_start/test_start or valid_frac/test_frac")
    if by_frac:
        fv, ft = _fraction(valid_frac or 0.0, "valid_frac"), _fraction(test_frac or 0.0, "test_frac")
        if fv + ft >= 1:
            raise ValueError("valid_frac + test_frac must be < 1")
        st = np.sort(t)

        def cut(f: Fraction) -> int:
            k = len(st) * (1 - f).numerator // (1 - f).denominator  # exact floor(n * (1 - f))
            return int(st[k]) if k < len(st) else int(st[-1]) + 1

        valid_start, test_start = cut(fv + ft), cut(ft)
    if valid_start is None or test_start is None:
        raise ValueError("give both valid_start and test_start")
    if valid_start > test_start:
        raise ValueError(f"valid_start ({valid_start}) must be <= test_start ({test_start})")
    part = (t >= valid_start).astype(np.int8) + (t >= test_start).astype(np.int8)
    params = {
        "valid_start": int(valid_start),
        "test_start": int(test_start),
        "valid_frac": valid_frac,
        "test_frac": test_frac,
        "temporal": "global",
    }
    return _three_way(data, part, "global_temporal", params)


# --- user-supplied parts ----------------------------------------------------------------------------------
def given_split(data: Interactions, raw: RawLog) -> Split:
    """The split published with the data (`raw.given_parts`, e.g. UniSRec's .train/.valid/.test.inter), kept
    exactly: each event of `data` (the cleaned `raw`) gets the part of its raw row, matched by (user,
    timestamp), which the loaders that record a given split make unique per user (positions).

    Refused when cleaning removed any row (a repeated pair dropped by `duplicates`, a k-core, a rating
    threshold): the parts would then differ from the published ones, silently.
    """
    if raw.given_parts is None:
        raise DataError(
            f"{raw.name}: this data comes without a given split (its loader records none); "
            "choose another split method"
        )
    if len(data) != len(raw.frame):
        raise DataError(
            f"{raw.name}: cleaning kept {len(data)} of {len(raw.frame)} rows, but the given split can only "
            "be kept exactly when every row stays: use cleaning duplicates: keep_all (repeated pairs are "
            "part of the published sequences) and no k-core or min_rating"
        )
    if data.timestamps is None:
        raise DataError(f"{raw.name}: the given split is matched by (user, timestamp), but the log has none")
    users = data.user_vocab.index(raw.frame["user"].to_numpy(), what="user")
    times = np.floor(raw.frame["timestamp"].to_numpy(np.float64)).astype(np.int64)
    order = np.lexsort((times, users))
    users, times = users[order], times[order]
    tied = (users[1:] == users[:-1]) & (times[1:] == times[:-1])
    if tied.any():
        at = int(order[int(np.flatnonzero(tied)[0]) + 1])
        raise DataError(
            f"{raw.name}: two rows of one user share a timestamp (frame row {at}); parts are ambiguous"
        )
    if not (np.array_equal(users, data.users) and np.array_equal(times, data.timestamps)):
        raise DataError(
            f"{raw.name}: the cleaned events are not the raw rows; cannot carry the given split over"
        )
    part = np.asarray(raw.given_parts, dtype=np.int8)[order]
    return _three_way(
        data, part, "given", {"source": str(raw.meta.get("source", raw.name)), "temporal": "per_user"}
    )


def split_from_frames(
    train: pd.DataFrame,
    valid: pd.DataFrame | None,
    test: pd.DataFrame,
    *,
    name: str = "given",
    user_col: str = "user",
    item_col: str = "item",
    rating_col: str | None = "rating",
    timestamp_col: str | None = "timestamp",
    temporal: str | None = None,
) -> Split:
    """A split from already-cleaned frames of raw ids (e.g. ML-100K u1.base / u1.test).

    The vocabularies are the union of all parts, so the catalog is every item of the dataset. All parts
    must have the same optional columns. `temporal` records whether the parts are a time split.
    """
    frames = {"train": train, "valid": valid, "test": test}
    given = {k: f for k, f in frames.items() if f is not None}
    for key, frame in given.items():
        for col in (user_col, item_col):
            if col not in frame:
                raise DataError(f"split part {key!r} has no column {col!r} (columns: {list(frame.columns)})")
            missing = frame[col].isna().to_numpy()
            if missing.any():
                raise DataError(
                    f"split part {key!r}: column {col!r} is missing at row {int(np.argmax(missing))} "
                    f"({int(missing.sum())} rows); clean the parts first"
                )
    optional = [c for c in (rating_col, timestamp_col) if c]
    layouts = {k: tuple(c for c in optional if c in f) for k, f in given.items()}
    if len(set(layouts.values())) > 1:
        raise DataError(f"split parts have different optional columns: {layouts}")
    uv = Vocabulary.from_ids(np.concatenate([f[user_col].to_numpy() for f in given.values()]))
    iv = Vocabulary.from_ids(np.concatenate([f[item_col].to_numpy() for f in given.values()]))
    parts = {
        k: Interactions.from_frame(
            f,
            user_col=user_col,
            item_col=item_col,
            rating_col=rating_col,
            timestamp_col=timestamp_col,
            user_vocab=uv,
            item_vocab=iv,
        )
        for k, f in given.items()
    }
    return Split(
        train=parts["train"],
        valid=parts["valid"] if "valid" in parts else parts["train"].subset(np.zeros(len(train), bool)),
        test=parts["test"],
        name=name,
        params={"source": "frames", "temporal": temporal},
    )
