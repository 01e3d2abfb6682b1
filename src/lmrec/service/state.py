"""The live model of the service and each user's online history: what makes new events count at once.

A user's history at request time is their training history followed by the events the service has
stored since the model was trained, in time order (event timestamp, then event id). How a model reads
it depends on what it is:

- history-based models (ItemKNN, EASE, popularity exclusions, ...) get the updated history row;
- sequence models (`uses_sequences`) get the updated ordered sequence (training sequence + new items);
- models that fold users in (capability `folds_in_users`: ALS, BPR, and a hybrid with such a component,
  `Recommender.folds_in()`) score a user with new events as a folded-in user, so the new events move
  their vector; without new events a known user keeps their trained vector;
- BiasedMF ignores histories when scoring (it is a rating model): new events only remove the items from
  the ranking.

Unknown users with no events get the documented fallback, popularity over the training data (the
number of training users per item), flagged `fallback="popularity"`; so does an empty ad-hoc history.

Retrieval (`lmrec.retrieval.Retriever`): "exact" ranks with the model's own `recommend`; "ann" (and "auto"
for embedding models with a large catalog) ranks users with a non-empty history through an ANN index over
the model's item vectors, built when the model is installed (at start and before each hot swap, outside
the lock). Every list says which one ranked it (`retrieval`).

Everything that reads or replaces the model or the histories holds one lock, held only to copy what a
request needs; scoring runs outside it, so a hot swap never waits for a long request, and a request
always scores with one consistent (model, histories) pair.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lmrec.data.interactions import users_per_item
from lmrec.data.vocabulary import Vocabulary, as_int64
from lmrec.errors import LmrecError, UnknownIdError
from lmrec.models.base import Recommender
from lmrec.models.topk import topk
from lmrec.retrieval.ann import AnnConfig
from lmrec.retrieval.retriever import Retriever
from lmrec.service.online import OnlineEvents

if TYPE_CHECKING:
    from lmrec.service.store import StoredEvent

POPULARITY = "popularity"
APPLY_CHUNK = 10_000
"""Events looked up and applied per step."""
SCORE_CHUNK = 128
"""Users scored at once in a batch request (bounds the users x catalog score matrix)."""

RawId = int | str


class UnsupportedError(LmrecError, ValueError):
    """The served model lacks a capability a request needs (e.g. similar items)."""


@dataclass(frozen=True)
class RecList:
    """One ranked list with raw ids, as the service returns it."""

    items: list[RawId]
    scores: list[float]
    user: RawId | None = None
    fallback: str | None = None
    """None when the model ranked the items; "popularity" for the unknown-user fallback."""
    history_length: int = 0
    """Items in the history the list was computed from (training + online events)."""
    model_version: int = 0
    """Version of the model that ranked (1 for a model `lmrec train` wrote, +1 per retrain; saved with the
    model, so kept across restarts)."""
    retrieval: str = "exact"
    """How the list was ranked: "ann" by an ANN index, "exact" by a full scoring (or the fallback)."""


def canonical_id(vocab: Vocabulary, raw: RawId) -> str:
    """The text form an id is stored under: vocabularies that read integers (integer ones, and integer
    ones widened to text) read "007", "7" and 7 as one id (`Vocabulary.canonical`)."""
    return vocab.canonical([raw])[0]


def lookup(vocab: Vocabulary, raw: Sequence[RawId], *, what: str) -> np.ndarray:
    """Indices of raw ids, -1 for ids not in `vocab` (int and numeric-string ids both work)."""
    if not len(raw):
        return np.empty(0, dtype=np.int64)
    return vocab.index(np.array(vocab.canonical(raw)), missing="negative", what=what)


def item_indices(vocab: Vocabulary, raw: Sequence[RawId]) -> np.ndarray:
    """Indices of raw item ids; unknown ones raise `UnknownIdError` naming them (up to 5)."""
    idx = lookup(vocab, raw, what="item")
    if (idx < 0).any():
        bad = [raw[i] for i in np.flatnonzero(idx < 0)[:5]]
        raise UnknownIdError(f"{int((idx < 0).sum())} unknown item id(s), e.g. {bad}")
    return idx


class LiveModel:
    """The served model, its version, and the online events applied on top of its training data.

    events_upto: id of the newest stored event already inside the model's training data (0 for a model
    trained without the store); only later events are applied as online history.
    events_unused: ids of stored events up to `events_upto` that the model could *not* learn from (their
    item is not in its catalog): they are not in the model, so they count as online events too.
    retrieval, ann_config: how lists are ranked (`Retriever`: "exact", "ann" or "auto"); a hot swap
    builds the new model's index with the same settings.
    """

    def __init__(
        self,
        model: Recommender,
        *,
        version: int = 1,
        events_upto: int = 0,
        events_unused: Iterable[int] = (),
        retrieval: str = "exact",
        ann_config: AnnConfig | None = None,
        retriever: Retriever | None = None,
    ) -> None:
        model.check_is_fitted()
        self._lock = threading.Lock()
        self.retrieval = retrieval
        self.ann_config = ann_config
        self._install(model, version, events_upto, frozenset(events_unused), retriever)

    def prepare(self, model: Recommender) -> Retriever:
        """The retriever `model` will be served with (builds its ANN index: call it outside any lock)."""
        return Retriever(model, self.retrieval, self.ann_config)

    def _install(
        self,
        model: Recommender,
        version: int,
        events_upto: int,
        events_unused: frozenset[int],
        retriever: Retriever | None,
    ) -> None:
        if retriever is not None and retriever.model is not model:
            raise ValueError("the retriever was prepared for another model")
        self.retriever = retriever if retriever is not None else self.prepare(model)
        self.model = model
        self.version = version
        self.events_upto = events_upto
        self.events_unused = events_unused
        # users per item, as Popularity(count="users") counts them
        self._popularity = users_per_item(model.history_).astype(np.float32)[None, :]
        self._online = OnlineEvents()
        self.skipped = 0
        """Stored events that could not be applied (item unknown to this model)."""

    # --- events -----------------------------------------------------------------------------------
    def apply(self, events: Iterable[StoredEvent]) -> int:
        """Add stored events to their users' online histories; returns how many were new here.

        Safe to call twice with the same event (it is recognised by its id), so a request racing a swap
        never counts an event twice.
        """
        added = 0
        it = iter(events)
        while chunk := list(itertools.islice(it, APPLY_CHUNK)):  # a replay of millions stays lean
            while True:
                with self._lock:
                    model = self.model
                items = lookup(model.item_vocab_, [e.item for e in chunk], what="item")
                with self._lock:
                    if model is self.model:  # else swapped meanwhile: look the items up again
                        added += self._insert(model, chunk, items)
                        break
        return added

    def _insert(self, model: Recommender, events: list[StoredEvent], items: np.ndarray) -> int:
        """Caller holds the lock."""
        added = 0
        for e, item in zip(events, items, strict=True):
            if e.id <= self.events_upto and e.id not in self.events_unused:
                continue
            if item < 0:
                self.skipped += 1
                continue
            key = canonical_id(model.user_vocab_, e.user)
            added += self._online.add(key, e.timestamp, e.id, int(item))
        return added

    def swap(
        self,
        model: Recommender,
        *,
        events_upto: int,
        events_unused: Iterable[int] = (),
        replay: Iterable[StoredEvent] = (),
        retriever: Retriever | None = None,
    ) -> int:
        """Serve `model` from now on (version + 1); `replay` re-applies the stored events the model does
        not hold (after `events_upto`, and `events_unused`). Requests already scoring finish with the
        model they started with. `retriever`: from `prepare(model)`, so that a caller holding a lock need
        not wait for an index build."""
        model.check_is_fitted()
        fresh = LiveModel(
            model,
            version=self.version + 1,
            events_upto=events_upto,
            events_unused=events_unused,
            retrieval=self.retrieval,
            ann_config=self.ann_config,
            retriever=retriever,
        )
        fresh.apply(replay)
        with self._lock:
            self.model, self.version, self.events_upto = fresh.model, fresh.version, fresh.events_upto
            self.events_unused = fresh.events_unused
            self.retriever = fresh.retriever
            self._popularity, self._online, self.skipped = fresh._popularity, fresh._online, fresh.skipped
            return self.version

    def online_users(self) -> int:
        with self._lock:
            return self._online.n_users

    def online_events(self) -> int:
        with self._lock:
            return self._online.n_events

    def user_state(self, user_id: RawId) -> tuple[Recommender, int, np.ndarray, np.ndarray, int]:
        """(model, user index or -1, training items, online items, version): what a list for `user_id`
        is ranked from now, read under one lock. The training items are oldest first when the model keeps
        the order; the online items are the events applied since, in event order."""
        with self._lock:
            model, version = self.model, self.version
            online = self._online.items(canonical_id(model.user_vocab_, user_id))
        user = int(lookup(model.user_vocab_, [user_id], what="user")[0])
        return model, user, model.user_history(user), online, version

    # --- recommendations --------------------------------------------------------------------------
    def recommend_users(
        self, user_ids: Sequence[RawId], n: int, *, exclude_seen: bool = True
    ) -> list[RecList]:
        """Top-n for users by raw id: known users, users known only from their events, and the rest
        (popularity fallback)."""
        with self._lock:
            model, pop, version, retriever = self.model, self._popularity, self.version, self.retriever
            keys = [canonical_id(model.user_vocab_, u) for u in user_ids]
            online = [self._online.items(k) for k in keys]
        users = lookup(model.user_vocab_, list(user_ids), what="user")
        # answer with the id in the vocabulary's type: user 42 of an integer vocabulary, not "42"
        shown = [
            int(k) if model.user_vocab_.reads_integers and as_int64(k) is not None else u
            for k, u in zip(keys, user_ids, strict=True)
        ]
        out: list[RecList | None] = [None] * len(user_ids)
        plain = [r for r in range(len(keys)) if users[r] >= 0 and not online[r].size]
        fresh = [r for r in range(len(keys)) if online[r].size]
        for r in range(len(keys)):
            if users[r] < 0 and not online[r].size:
                out[r] = self._ranked(model, pop, n, shown[r], fallback=POPULARITY)
        # in chunks: a batch x catalog score matrix of 1000 users and 100k items would be 400 MB
        for s in range(0, len(plain), SCORE_CHUNK):
            part = plain[s : s + SCORE_CHUNK]
            ranked = retriever.recommend(users[part], n=n, exclude_history=exclude_seen)
            recs = ranked.recs
            sizes = np.diff(model.history_.indptr)[users[part]]
            for j, r in enumerate(part):
                out[r] = self._as_list(
                    model, recs.items[j], recs.scores[j], shown[r], int(sizes[j]), ann=bool(ranked.ann[j])
                )
        for s in range(0, len(fresh), SCORE_CHUNK):
            part = fresh[s : s + SCORE_CHUNK]
            seqs = [np.concatenate([model.user_history(int(users[r])), online[r]]) for r in part]
            idx = users[part].copy()
            if model.folds_in():  # re-derive the user from the updated history
                idx[:] = -1
            lists = self._score_histories(retriever, idx, seqs, n, exclude_seen)
            for j, r in enumerate(part):
                items, scores, ann = lists[j]
                out[r] = self._as_list(model, items, scores, shown[r], len(seqs[j]), ann=ann)
        return [dataclasses.replace(o, model_version=version) for o in out if o is not None]

    def recommend_history(self, items: Sequence[RawId], n: int, *, exclude_seen: bool = True) -> RecList:
        """Top-n for an anonymous user with an ordered history of raw item ids (oldest first)."""
        with self._lock:
            model, pop, version, retriever = self.model, self._popularity, self.version, self.retriever
        seq = item_indices(model.item_vocab_, items)
        if seq.size == 0:
            out = self._ranked(model, pop, n, None, fallback=POPULARITY)
        else:
            ((top, scores, ann),) = self._score_histories(retriever, np.array([-1]), [seq], n, exclude_seen)
            out = self._as_list(model, top, scores, None, len(seq), ann=ann)
        return dataclasses.replace(out, model_version=version)

    def similar_items(self, item: RawId, n: int) -> RecList:
        """The n items most similar to `item` (models with `has_similar_items` only)."""
        with self._lock:
            model, version = self.model, self.version
        if not model.has_similar_items:
            raise UnsupportedError(
                f"the served model ({model.name}) has no similar items: it lacks the capability "
                "has_similar_items (serve a model that has it, e.g. content)"
            )
        idx = item_indices(model.item_vocab_, [item])
        top, scores = model.similar_items(idx, n=n)
        return dataclasses.replace(self._as_list(model, top[0], scores[0], None, 0), model_version=version)

    # --- helpers ----------------------------------------------------------------------------------
    @staticmethod
    def _score_histories(
        retriever: Retriever, users: np.ndarray, seqs: list[np.ndarray], n: int, exclude_seen: bool
    ) -> list[tuple[np.ndarray, np.ndarray, bool]]:
        from lmrec.data.interactions import sequences_to_csr

        model = retriever.model
        history = sequences_to_csr(seqs, model.n_items)
        ranked = retriever.recommend(
            users,
            history,
            n=n,
            exclude_history=exclude_seen,
            sequences=seqs if model.uses_sequences else None,
        )
        recs = ranked.recs
        return [(recs.items[j], recs.scores[j], bool(ranked.ann[j])) for j in range(len(seqs))]

    @classmethod
    def _ranked(
        cls, model: Recommender, scores: np.ndarray, n: int, user: RawId | None, *, fallback: str
    ) -> RecList:
        items, top = topk(scores, n)
        return cls._as_list(model, items[0], top[0], user, 0, fallback=fallback)

    @staticmethod
    def _as_list(
        model: Recommender,
        items: np.ndarray,
        scores: np.ndarray,
        user: RawId | None,
        history_length: int,
        *,
        fallback: str | None = None,
        ann: bool = False,
    ) -> RecList:
        valid = (items >= 0) & np.isfinite(scores)
        return RecList(
            items=model.item_vocab_.id(items[valid]).tolist(),
            scores=[float(s) for s in scores[valid]],
            user=user,
            fallback=fallback,
            history_length=history_length,
            retrieval="ann" if ann else "exact",
        )
