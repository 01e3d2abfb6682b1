"""Checks that no evaluation event reaches training data.

An *event* is identified by (user, item, timestamp): with `duplicates="keep_all"` the same pair may
legitimately be in train and test at different times (repeat consumption), which is not leakage.
Logs without timestamps can only be keyed by (user, item), so there any pair shared between parts is
reported. Two rows with identical (user, item, timestamp) on both sides of a cut count as leakage:
the test target is literally in the training data (de-duplicate with keep_first/keep_last if that is
not wanted).

Matching is exact and vectorised: events become packed int64 keys (see `pack_event_keys`) and are
looked up with a sort + binary search; no Python loop over events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lmrec.data.interactions import Interactions
from lmrec.data.ordering import pack_event_keys
from lmrec.data.splits import Split, same_vocab
from lmrec.errors import LeakageError

N_EXAMPLES = 5
_Events = tuple[np.ndarray, np.ndarray, np.ndarray | None]  # user index, item index, timestamp


@dataclass(frozen=True)
class LeakageReport:
    """What a leakage check looked at (it raises `LeakageError` instead of returning on failure)."""

    split: str
    event_key: str
    """"user,item,timestamp" or "user,item" (no timestamps)."""
    rows: dict[str, int]
    overlaps: tuple[str, ...]
    """Pairs of parts checked for shared events, e.g. "test vs train"."""
    temporal: str
    """The time-order check done: "per_user", "global", "none" or "skipped: no timestamps"."""
    checks: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "event_key": self.event_key,
            "rows": dict(self.rows),
            "overlaps": list(self.overlaps),
            "temporal": self.temporal,
            "checks": list(self.checks),
        }


def _events(data: Interactions) -> _Events:
    return data.users, data.items, data.timestamps


def _isin(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Exact membership of int64 keys (sort + binary search; the sort is near-linear on sorted input)."""
    if not reference.size or not values.size:
        return np.zeros(values.size, bool)
    ref = np.sort(reference)
    idx = np.minimum(np.searchsorted(ref, values), ref.size - 1)
    return ref[idx] == values


def shared_events(known: _Events, query: _Events, n_users: int, n_items: int) -> np.ndarray:
    """Indices of `query` events that also occur in `known` (same user, item and timestamp).

    Without timestamps on either side the key is (user, item).
    """
    ku, ki, kt = known
    qu, qi, qt = query
    if kt is None or qt is None:
        ib = np.int64(max(1, int(n_items - 1).bit_length()))
        return np.flatnonzero(_isin((qu << ib) | qi, (ku << ib) | ki))
    full = pack_event_keys([ku, qu], [kt, qt], n_users, [ki, qi], n_items)
    if full is not None:
        return np.flatnonzero(_isin(full[1], full[0]))
    # keys too wide for the item: match (user, time) first, then confirm the item on the few candidates
    ut = pack_event_keys([ku, qu], [kt, qt], n_users)
    if ut is None:
        cand_q, cand_k = np.arange(qu.size), np.arange(ku.size)
    else:
        cand_q = np.flatnonzero(_isin(ut[1], ut[0]))
        cand_k = np.flatnonzero(_isin(ut[0], ut[1]))
    left = pd.DataFrame({"u": qu[cand_q], "i": qi[cand_q], "t": qt[cand_q], "row": cand_q})
    right = pd.DataFrame({"u": ku[cand_k], "i": ki[cand_k], "t": kt[cand_k]}).drop_duplicates()
    return np.unique(left.merge(right, on=["u", "i", "t"])["row"].to_numpy(np.int64))


def _raw(vocab: Any, index: Any) -> Any:
    return vocab.ids[int(index)].item()


def _describe_events(data: Interactions, rows: np.ndarray) -> str:
    parts = []
    for r in rows[:N_EXAMPLES]:
        text = f"user {_raw(data.user_vocab, data.users[r])!r}, item {_raw(data.item_vocab, data.items[r])!r}"
        if data.timestamps is not None:
            text += f", t={int(data.timestamps[r])}"
        parts.append(f"({text})")
    return "; ".join(parts)


def _temporal_violations(early: Interactions, late: Interactions, mode: str) -> str | None:
    """A message when some event of `late` is earlier than an event of `early` (per user or global)."""
    if not len(early) or not len(late):
        return None
    if early.timestamps is None or late.timestamps is None:
        raise ValueError("time-order checks need timestamps")
    if mode == "global":
        latest = int(early.timestamps.max())
        bad = np.flatnonzero(late.timestamps < latest)
        if not bad.size:
            return None
        return f"{bad.size} event(s) are earlier than the latest ({latest}) of the earlier part, e.g. " + (
            _describe_events(late, bad)
        )
    ce, cl = early.user_counts(), late.user_counts()
    ie, il = early.indptr(), late.indptr()
    both = np.flatnonzero((ce > 0) & (cl > 0))
    last_early = early.timestamps[ie[both + 1] - 1]  # parts are in canonical order: time ascending
    first_late = late.timestamps[il[both]]
    bad = both[first_late < last_early]
    if not bad.size:
        return None
    examples = ", ".join(
        f"user {_raw(early.user_vocab, u)!r}: t={int(late.timestamps[il[u]])} is before "
        f"t={int(early.timestamps[ie[u + 1] - 1])}"
        for u in bad[:N_EXAMPLES]
    )
    return (
        f"{bad.size} user(s) have an event earlier than one of their events in the earlier part: {examples}"
    )


def check_split(split: Split, *, temporal: str | None = None) -> LeakageReport:
    """Raise `LeakageError` if the split leaks; return what was checked otherwise.

    Checks (b) that every part has the split's vocabularies, (a) that no valid/test event occurs in
    train and no test event in valid, and (c) with `temporal` "per_user" (every user's valid/test events
    are not earlier than their train events) or "global" (one cut for all). `temporal=None` takes
    `split.params["temporal"]` (set by the split functions); "none" skips the time-order check.
    """
    parts = split.parts()
    for name, part in parts.items():
        if not (
            same_vocab(part.user_vocab, split.train.user_vocab)
            and same_vocab(part.item_vocab, split.train.item_vocab)
        ):
            raise LeakageError(f"split {split.name!r}: part {name!r} has different vocabularies than train")
    n_users, n_items = split.train.n_users, split.train.n_items
    order = [k for k in ("train", "valid", "test") if k in parts]
    pairs = [(later, earlier) for i, later in enumerate(order) for earlier in order[:i]]
    problems = []
    for later, earlier in pairs:
        rows = shared_events(_events(parts[earlier]), _events(parts[later]), n_users, n_items)
        if rows.size:
            problems.append(
                f"{rows.size} {later} event(s) also in {earlier}, e.g. {_describe_events(parts[later], rows)}"
            )
    mode = temporal if temporal is not None else (split.params.get("temporal") or "none")
    if mode not in ("per_user", "global", "none"):
        raise ValueError(f"temporal must be 'per_user', 'global' or 'none', not {mode!r}")
    has_times = split.train.timestamps is not None
    if mode != "none" and has_times:
        for later, earlier in pairs:
            msg = _temporal_violations(parts[earlier], parts[later], mode)
            if msg:
                problems.append(f"{later} vs {earlier} ({mode} time order): {msg}")
    if problems:
        raise LeakageError(f"split {split.name!r} leaks:\n  " + "\n  ".join(problems))
    return LeakageReport(
        split=split.name,
        event_key="user,item,timestamp" if has_times else "user,item",
        rows={k: len(v) for k, v in parts.items()},
        overlaps=tuple(f"{later} vs {earlier}" for later, earlier in pairs),
        temporal=mode if (has_times or mode == "none") else "skipped: no timestamps",
        checks=("vocabularies", "shared events", "time order"),
    )


def assert_disjoint(
    fit_data: Interactions, split: Split, *, parts: tuple[str, ...] = ("test",)
) -> LeakageReport:
    """Raise `LeakageError` if `fit_data` contains any event of the given split parts (default test).

    `fit_data` may use other vocabularies (e.g. a log with items removed for a cold-start run): its
    events are matched through raw ids.
    """
    held = split.parts()
    users, items, times = fit_data.users, fit_data.items, fit_data.timestamps
    if not (
        same_vocab(fit_data.user_vocab, split.train.user_vocab)
        and same_vocab(fit_data.item_vocab, split.train.item_vocab)
    ):
        users = split.train.user_vocab.index(fit_data.user_vocab.id(users), missing="negative")
        items = split.train.item_vocab.index(fit_data.item_vocab.id(items), missing="negative")
        known = (users >= 0) & (items >= 0)  # events with ids outside the split cannot be split events
        users, items = users[known], items[known]
        times = None if times is None else times[known]
    problems = []
    for name in parts:
        if name not in held:
            raise ValueError(f"split {split.name!r} has no part {name!r}")
        rows = shared_events(
            (users, items, times), _events(held[name]), split.train.n_users, split.train.n_items
        )
        if rows.size:
            problems.append(
                f"{rows.size} {name} event(s) are in the fit data, e.g. {_describe_events(held[name], rows)}"
            )
    if problems:
        raise LeakageError(f"fit data for split {split.name!r} leaks:\n  " + "\n  ".join(problems))
    has_times = times is not None and split.train.timestamps is not None
    return LeakageReport(
        split=split.name,
        event_key="user,item,timestamp" if has_times else "user,item",
        rows={"fit": len(fit_data), **{k: len(held[k]) for k in parts}},
        overlaps=tuple(f"{k} vs fit" for k in parts),
        temporal="none",
        checks=("shared events",),
    )


# --- augmented fit data -----------------------------------------------------------------------------
# Structural: `lmrec.augment` types are not imported, so data/ does not depend on augment/; any object with
# `data` (Interactions) and `synthetic` (bool per row) is checked.


def _synthetic_part(augmented: Any) -> tuple[Interactions, Interactions]:
    mask = np.asarray(augmented.synthetic, dtype=bool)
    data: Interactions = augmented.data
    if mask.shape != (len(data),):
        raise LeakageError(f"synthetic mask has shape {mask.shape}, expected ({len(data)},)")
    return data.subset(~mask), data.subset(mask)


def check_augmented(augmented: Any, source: Interactions, *, name: str = "augmented") -> LeakageReport:
    """Raise `LeakageError` unless `augmented` is `source` plus marked pseudo-interactions only.

    Checks (a) "real rows": the rows not marked synthetic are exactly `source`'s rows (same users, items,
    timestamps, ratings, in order), so no unmarked row was added, dropped or changed; (b) "synthetic
    pairs new": every synthetic (user, item) pair is absent from `source` (an augmenter adds items new to
    the user, so no pseudo row duplicates or shadows a real one); (c) "synthetic before real" (logs with
    timestamps): every synthetic event is earlier than the user's first event in `source`, the prepending
    `lmrec.augment` documents. With `source` the fit data after `assert_disjoint`, the augmented data holds
    no held-out event except as a marked guess that the evaluation never reads.
    """
    real, synthetic = _synthetic_part(augmented)
    problems = []
    same = (
        len(real) == len(source)
        and np.array_equal(real.users, source.users)
        and np.array_equal(real.items, source.items)
        and _same_optional(real.timestamps, source.timestamps)
        and _same_optional(real.ratings, source.ratings)
    )
    if not same:
        problems.append(
            f"the {len(real)} unmarked rows are not the {len(source)} rows of the data that was augmented"
        )
    shadow = _isin(synthetic.pair_keys(), source.pair_keys())
    if shadow.any():
        rows = np.flatnonzero(shadow)
        problems.append(
            f"{rows.size} synthetic row(s) repeat a pair of the real data, e.g. "
            + _describe_events(synthetic, rows)
        )
    src_times, syn_times = source.timestamps, synthetic.timestamps
    has_times = src_times is not None and syn_times is not None
    if src_times is not None and syn_times is not None and len(synthetic):
        u = synthetic.users
        if len(source):
            first = src_times[np.minimum(source.indptr()[:-1], len(source) - 1)]
            late = (source.user_counts()[u] == 0) | (syn_times >= first[u])
        else:
            late = np.ones(u.size, bool)
        if late.any():
            rows = np.flatnonzero(late)
            problems.append(
                f"{rows.size} synthetic event(s) are not before their user's first real event, e.g. "
                + _describe_events(synthetic, rows)
            )
    if problems:
        raise LeakageError(f"{name} data is not its source plus marked rows:\n  " + "\n  ".join(problems))
    return LeakageReport(
        split=name,
        event_key="user,item,timestamp" if has_times else "user,item",
        rows={"real": len(real), "synthetic": len(synthetic)},
        overlaps=("synthetic vs real",),
        temporal="synthetic before real" if has_times else "skipped: no timestamps",
        checks=("real rows", "synthetic pairs new", *(("synthetic before real",) if has_times else ())),
    )


def _same_optional(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(np.array_equal(a, b))


def assert_no_synthetic(augmented: Any, logs: dict[str, Interactions]) -> None:
    """Raise `LeakageError` if a log handed to evaluation (a history or a target set) holds a synthetic
    event of `augmented`: pseudo-interactions are model input only.

    Events are matched by (user, item, timestamp) when both sides have timestamps (a pseudo event sits
    before its user's first real one, so it matches no real event of a per-user time-ordered split), else
    by (user, item); there, a target pair that an augmenter happened to propose is reported too, so check
    histories only, or logs with timestamps.
    """
    _, synthetic = _synthetic_part(augmented)
    problems = []
    for name, log in logs.items():
        rows = shared_events(_events(synthetic), _events(log), log.n_users, log.n_items)
        if rows.size:
            problems.append(f"{rows.size} {name} event(s) are synthetic, e.g. {_describe_events(log, rows)}")
    if problems:
        raise LeakageError("synthetic rows reach evaluation:\n  " + "\n  ".join(problems))
