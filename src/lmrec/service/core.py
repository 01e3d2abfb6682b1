"""`RecommenderService`: the one Python API that `create_app` (HTTP) and `lmrec serve` (CLI) adapt.

It ties the live model (`LiveModel`) to the durable event log (`EventStore`):

- an event is first committed to the store, then applied to the live model, so whatever the service
  acknowledged is on disk, and the user's next recommendations see it;
- on start, every stored event newer than the model's training data is replayed into the online
  histories, so a restart (even after kill -9) loses nothing acknowledged;
- `retrain` refits the model on its training data plus the stored events, outside every lock, saves it
  as the next version of the model folder (`lmrec.service.versions`: written, then switched atomically)
  and hot swaps it; requests keep being answered by the old model until the swap. A restart therefore
  serves the newest retrained model, with its version number. `create_app(retrain_every=...)` also runs
  it on a schedule (`lmrec.service.schedule`).

One service process per store: a second process writing to the same store is safe for the store, but
this process sees those events only after a restart or a retrain.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmrec import __version__
from lmrec.data.display import ItemDisplay
from lmrec.errors import LmrecError
from lmrec.experiment.report import jsonable
from lmrec.models.base import Recommender
from lmrec.retrieval.ann import AnnConfig
from lmrec.service.catalog_items import AddedItems, CatalogItems
from lmrec.service.catalog_items import add_items as add_catalog_items
from lmrec.service.files import DATA_CARD_FILE, METRICS_FILE, read_json
from lmrec.service.state import LiveModel, RawId, RecList, canonical_id, item_indices
from lmrec.service.store import DEFAULT_TABLE, Event, EventStore, StoredEvent, sqlite_url
from lmrec.text.new_items import NewItem

if TYPE_CHECKING:
    from lmrec.service.schedule import RetrainSchedule

STORE_FILE = "events.sqlite"
"""Default event store of `RecommenderService.open(model_dir)`: an SQLite file inside the model folder."""
EVENTS_UPTO = "service_events_upto"
"""Key in a model's `training_` info: newest stored event id its training data includes."""
EVENTS_UNUSED = "service_events_unused"
"""Key in a model's `training_` info: ids of stored events up to `EVENTS_UPTO` it could not learn from
(item not in its catalog). They are not consumed: every later retrain tries them again."""
MODEL_VERSION = "service_model_version"
"""Key in a model's `training_` info: its version (1 for a model `lmrec train` wrote, +1 per retrain)."""


class RetrainBusy(LmrecError, RuntimeError):
    """A retrain was requested while another one is running."""


class RecommenderService:
    """A fitted model serving recommendations and learning from feedback events.

    model_meta: what `model.json` said (lmrec version that saved the model, ...), shown by `model_info`.
    retrieval: "exact" (the model's own full ranking), "ann" (an ANN index over the item vectors of an
    embedding model: ALS, BPR, sequence models) or "auto" (ANN for embedding models whose catalog has at
    least `ann_config.exact_below` items); see `lmrec.retrieval.Retriever`.
    """

    def __init__(
        self,
        model: Recommender,
        store: EventStore,
        *,
        model_dir: Path | None = None,
        model_meta: dict[str, Any] | None = None,
        retrieval: str = "auto",
        ann_config: AnnConfig | None = None,
    ) -> None:
        model.check_is_fitted()
        self.store = store
        self.model_dir = model_dir
        self.model_meta = model_meta or {}
        self.started_at = time.time()
        self.last_retrain: dict[str, Any] | None = None
        self.schedule: RetrainSchedule | None = None  # set by create_app(retrain_every=...)
        self._write_lock = threading.Lock()  # store.add + apply, and the swap, happen one at a time
        self._retrain_lock = threading.Lock()
        info = model.training_ if isinstance(model.training_, dict) else {}
        self.catalog = CatalogItems(store)  # items added at serving time, re-added before the replay
        # titles and other display fields beside the ids of every answer (`lmrec.data.display`)
        self.display: ItemDisplay | None = None if model_dir is None else ItemDisplay.read(model_dir)
        model = self.catalog.restore(model)
        self.live = LiveModel(
            model,
            version=int(info.get(MODEL_VERSION, 1)),
            events_upto=int(info.get(EVENTS_UPTO, 0)),
            events_unused=[int(i) for i in info.get(EVENTS_UNUSED, [])],
            retrieval=retrieval,
            ann_config=ann_config,
        )
        with self._write_lock:
            self.live.apply(self._not_in_model(self.live.events_upto, self.live.events_unused))

    @classmethod
    def open(
        cls,
        source: str | Path | Recommender,
        *,
        store_url: str | None = None,
        table: str = DEFAULT_TABLE,
        retrieval: str = "auto",
        ann_config: AnnConfig | None = None,
    ) -> RecommenderService:
        """Serve a saved model folder (or a fitted model object).

        store_url: SQLAlchemy URL of the event store. Default: an SQLite file `events.sqlite` inside the
        model folder; for a model object, a private in-memory SQLite database (nothing is kept).
        retrieval, ann_config: see the class docstring.
        """
        model_dir: Path | None = None
        meta: dict[str, Any] = {}
        if isinstance(source, Recommender):
            model = source
        else:
            model_dir = Path(source)
            model = Recommender.load(model_dir)
            meta = json.loads((model_dir / "model.json").read_text())
        if store_url is None:
            store_url = sqlite_url(str(model_dir / STORE_FILE)) if model_dir is not None else "sqlite://"
        store = EventStore(store_url, table=table)
        try:
            return cls(
                model, store, model_dir=model_dir, model_meta=meta, retrieval=retrieval, ann_config=ann_config
            )
        except BaseException:
            store.close()
            raise

    # --- reading --------------------------------------------------------------------------------
    def recommend_users(
        self, user_ids: Sequence[RawId], n: int = 10, *, exclude_seen: bool = True
    ) -> list[RecList]:
        return self.live.recommend_users(user_ids, n, exclude_seen=exclude_seen)

    def recommend_user(self, user_id: RawId, n: int = 10, *, exclude_seen: bool = True) -> RecList:
        return self.recommend_users([user_id], n, exclude_seen=exclude_seen)[0]

    def recommend_history(self, items: Sequence[RawId], n: int = 10, *, exclude_seen: bool = True) -> RecList:
        return self.live.recommend_history(items, n, exclude_seen=exclude_seen)

    def similar_items(self, item: RawId, n: int = 10) -> RecList:
        return self.live.similar_items(item, n)

    def model_info(self) -> dict[str, Any]:
        live = self.live
        model = live.model
        return {
            "name": model.name,
            "class": type(model).__name__,
            "config": jsonable(model.config, portable=False),
            "version": live.version,
            "lmrec_version": __version__,
            "saved_with_lmrec_version": self.model_meta.get("lmrec_version"),
            "n_users": len(model.user_vocab_),
            "n_items": len(model.item_vocab_),
            "uses_sequences": bool(model.uses_sequences),
            "similar_items": bool(model.has_similar_items),
            "adds_items_from_text": bool(model.adds_items_from_text),
            "retrieval": jsonable(live.retriever.describe(), portable=False),
            "training": jsonable(getattr(model, "training_", {}), portable=False),
            "events_in_model": live.events_upto,
            "online_users": live.online_users(),
            "online_events": live.online_events(),
            "data_card": self._model_file(DATA_CARD_FILE),
            "metrics": self._model_file(METRICS_FILE),
            "last_retrain": self.last_retrain,
            "retrain_schedule": None if self.schedule is None else self.schedule.status(),
        }

    def _model_file(self, name: str) -> Any:
        """A description file saved beside the model (`lmrec.service.files`), or None."""
        return None if self.model_dir is None else read_json(self.model_dir / name)

    # --- writing --------------------------------------------------------------------------------
    def add_events(self, events: Sequence[Event]) -> list[StoredEvent]:
        """Validate, store (durably) and apply events; all or nothing.

        Items must be in the model's catalog (`UnknownIdError` otherwise, nothing stored); users may be
        new. Ids are stored in canonical form, so 105 and "105" are one item of an integer catalog.
        """
        vocab = self.live.model.item_vocab_
        item_indices(vocab, [e.item for e in events])  # raises before anything is written
        users = self.live.model.user_vocab_
        canonical = [
            Event(
                user=canonical_id(users, e.user),
                item=canonical_id(vocab, e.item),
                type=e.type,
                timestamp=e.timestamp,
                idempotency_key=e.idempotency_key,
            )
            for e in events
        ]
        with self._write_lock:
            stored = self.store.add(canonical)
            self.live.apply(e for e in stored if not e.duplicate)
        return stored

    def add_items(self, items: Sequence[NewItem]) -> AddedItems:
        """Add new items with their text to the served catalog (models with `adds_items_from_text`):
        stored durably, recommendable at once, no retraining (`lmrec.service.catalog_items`)."""
        if not self._retrain_lock.acquire(blocking=False):  # a swap in between would drop the items
            raise RetrainBusy("a retrain or another item add is running; try again when it has finished")
        try:
            return add_catalog_items(self, self.catalog, items)
        finally:
            self._retrain_lock.release()

    def _not_in_model(
        self, upto: int, unused: Iterable[int], *, until: int | None = None
    ) -> Iterator[StoredEvent]:
        """Stored events the model has not learned from: the unused ones, then those after `upto`."""
        yield from self.store.events_by_id(sorted(unused))
        yield from self.store.iter_events(after_id=upto, upto_id=until)

    def retrain(self, *, seed: int | None = 0, save: bool = True) -> dict[str, Any]:
        """Refit on the training data plus every stored event the model has not learned from, save it as
        the next version of the model folder (when serving one and `save`), then hot swap; returns a
        summary. A failure anywhere before the swap leaves the current model serving, and on disk."""
        from lmrec.service.retrain import refit
        from lmrec.service.versions import save_version

        if not self._retrain_lock.acquire(blocking=False):
            raise RetrainBusy("a retrain is already running; try again when it has finished")
        try:
            start = time.perf_counter()
            live = self.live
            base, version = live.model, live.version + 1
            upto = self.store.max_id()
            events = self._not_in_model(live.events_upto, live.events_unused, until=upto)
            fresh, info = refit(base, events, seed=seed)
            unused = info.pop("unused_events")
            marks = {EVENTS_UPTO: upto, EVENTS_UNUSED: unused, MODEL_VERSION: version}
            fresh.training_ = {**fresh.training_, **marks}
            retriever = live.prepare(fresh)  # the ANN index build must not hold up event posts
            saved = None
            if save and self.model_dir is not None:
                # last step before the swap (which cannot fail): what serves is what a restart loads
                saved = save_version(fresh, self.model_dir, version).relative_to(self.model_dir)
            with self._write_lock:
                swapped = live.swap(
                    fresh,
                    events_upto=upto,
                    events_unused=unused,
                    replay=self._not_in_model(upto, unused),
                    retriever=retriever,
                )
            assert swapped == version, "only one retrain runs at a time"
            self.last_retrain = {
                **info,
                "unused_event_ids": unused[:20],
                "saved_as": None if saved is None else saved.as_posix(),
                "version": version,
                "events_in_model": upto,
                "seconds": round(time.perf_counter() - start, 3),
                "finished_at": time.time(),
            }
            return self.last_retrain
        finally:
            self._retrain_lock.release()

    def close(self) -> None:
        self.store.close()
