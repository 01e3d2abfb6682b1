"""Refit a served model on its original training data plus the stored feedback events.

The saved model keeps its training history (and, for sequence models, the training sequences in time
order), so the original log is rebuilt from the model itself; stored events are appended to each user's
history in time order (event timestamp, then event id). Timestamps of the rebuilt log are positions,
which is all the models read from them: the order within each user.

Users first seen in the events join the user vocabulary whatever their id type: a model trained on
integer user ids that meets "newbie" widens its user vocabulary to integer text (`Vocabulary.merge`), in
which old user 196 is still 196, "196" and "0196", as before. An event can be left out only when its item
is not in the model's catalog (the service refuses such events, so this happens only with a store written
for another model); such events are reported with their ids (`RetrainLog.unused`) and the caller keeps
them as not learned from, never as consumed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lmrec.data.interactions import Interactions
from lmrec.models.base import Recommender
from lmrec.models.registry import make_model
from lmrec.service.state import UnsupportedError, lookup

if TYPE_CHECKING:
    from lmrec.service.store import StoredEvent


@dataclass(frozen=True)
class RetrainLog:
    """The rebuilt training log and what went into it."""

    data: Interactions
    events_used: int
    events_skipped: int
    new_users: int
    unused: tuple[int, ...] = ()
    """Ids of the skipped events (item not in the catalog), in id order."""


def _training_sequences(model: Recommender) -> list[np.ndarray]:
    """Every user's training items, in time order when the model keeps it (`user_history`)."""
    return [model.user_history(u) for u in range(len(model.user_vocab_))]


def training_log(model: Recommender, events: Iterable[StoredEvent]) -> RetrainLog:
    """The model's training log followed by `events` (per user, in time order)."""
    model.check_is_fitted()
    events = sorted(events, key=lambda e: (e.timestamp, e.id))
    old_users = model.user_vocab_
    items = lookup(model.item_vocab_, [e.item for e in events], what="item")
    keep = items >= 0
    raw_users = [e.user for e, k in zip(events, keep, strict=True) if k]
    vocab = old_users.merge(raw_users)
    remap = vocab.index(old_users.ids, what="user")  # every old user keeps their raw id
    sequences = _training_sequences(model)
    users = [np.full(len(s), remap[u], dtype=np.int64) for u, s in enumerate(sequences)]
    new_users = vocab.index(np.array(vocab.canonical(raw_users), dtype=str), what="user")
    all_users = np.concatenate([*users, new_users])
    all_items = np.concatenate([*sequences, items[keep]])
    # positions as timestamps: training events keep their order and every event comes after them
    positions = np.concatenate(
        [np.empty(0, np.int64)] + [np.arange(len(s), dtype=np.int64) for s in sequences]
    )
    event_pos = len(positions) + np.arange(int(keep.sum()), dtype=np.int64)
    data = Interactions(
        users=all_users,
        items=all_items,
        user_vocab=vocab,
        item_vocab=model.item_vocab_,
        timestamps=np.concatenate([positions, event_pos]),
    )
    return RetrainLog(
        data=data,
        events_used=int(keep.sum()),
        events_skipped=int((~keep).sum()),
        new_users=len(vocab) - len(old_users),
        unused=tuple(sorted(e.id for e, k in zip(events, keep, strict=True) if not k)),
    )


def refit(
    model: Recommender, events: Iterable[StoredEvent], *, seed: int | None = 0
) -> tuple[Recommender, dict[str, Any]]:
    """A new model of the same class and config fitted on the training log plus `events`."""
    if model.requires_item_features:
        raise UnsupportedError(
            f"{type(model).__name__} needs item features to refit, which the service does not have; "
            "retrain it offline with `lmrec train` and restart the service"
        )
    from lmrec.hybrid.components import HybridRecommender

    log = training_log(model, events)
    if isinstance(model, HybridRecommender):
        # a hybrid keeps what validation chose (weights, a trained ranker, early-stopped components) and
        # refits the rest of its components on the longer log, as for its train+valid refit
        needs_text = [type(c).__name__ for c in model.components_ if c.requires_item_features]
        if needs_text:
            raise UnsupportedError(
                f"{type(model).__name__}: components {needs_text} need item features to refit, which the "
                "service does not have; retrain it offline with `lmrec run` and restart the service"
            )
        fresh: Recommender = copy.deepcopy(model).refit(log.data, seed=seed)
    else:
        fresh = make_model(model.name, config=model.config).fit(log.data, seed=seed)
    info = {
        "events_used": log.events_used,
        "events_skipped": log.events_skipped,
        "new_users": log.new_users,
        "interactions": len(log.data),
        "unused_events": list(log.unused),
    }
    return fresh, info
