"""Items added to the served catalog at serving time, with their text: recommendable at once, kept across
restarts, no retraining.

Only a model with the capability `adds_items_from_text` takes them (`textseq`, or a switching hybrid with
rule item_count whose cold-item component is textseq): it scores a new item from its text vector like any
item nobody has interacted with. Adding items:

1. the texts (or catalog fields, or ready vectors) become text vectors as the model's recorded recipe says
   (`lmrec.text.new_items`);
2. a copy of the served model takes the items (`add_items`), and its retriever is prepared (an ANN index
   is rebuilt over the new item table) while the old model keeps answering;
3. the items are committed to the table `<event table>_items` of the event store (raw id, float32
   vector, text), and only then is the copy hot swapped in (version + 1) with the stored events replayed,
   so what the service acknowledged is on disk and the next recommendation can hold the new items.

At start, `CatalogItems.restore` re-adds the stored items the saved model does not hold yet (items baked
into the model by `lmrec items add` are skipped), before the service replays the events, so events on
added items count again after a restart.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from lmrec.errors import CapabilityError, LmrecError
from lmrec.models.base import Recommender, lacks_adds_items
from lmrec.service.state import canonical_id, lookup
from lmrec.service.store import ID_LENGTH, EventStore
from lmrec.text.new_items import NewItem, NewItemEncoder, NewItemError

if TYPE_CHECKING:
    from lmrec.service.core import RecommenderService

log = logging.getLogger("lmrec.service")

MAX_TEXT_LENGTH = 20_000
"""Longest item text stored (characters)."""


class ItemExistsError(LmrecError, ValueError):
    """An item to add is already in the served catalog."""


@dataclass(frozen=True)
class AddedItems:
    """What an add did: the raw ids added (canonical form), the new catalog size and model version."""

    items: list[int | str]
    n_items: int
    model_version: int


class CatalogItems:
    """The stored added items of one service (a table beside its event table) and their encoder."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        meta = sa.MetaData()
        self.table = sa.Table(
            f"{store.table_name}_items",
            meta,
            sa.Column(
                "id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                primary_key=True,
                autoincrement=True,
            ),
            sa.Column("item_id", sa.String(ID_LENGTH), nullable=False, unique=True),
            sa.Column("dim", sa.Integer(), nullable=False),
            sa.Column("vector", sa.LargeBinary(), nullable=False),
            sa.Column("text", sa.Text(), nullable=True),
            sa.Column("added_at", sa.Double(), nullable=False),
        )
        meta.create_all(store.engine)
        self._encoders: dict[str, NewItemEncoder] = {}  # by recipe

    # --- reading ----------------------------------------------------------------------------------
    def stored(self) -> tuple[list[str], np.ndarray | None]:
        """Raw ids (text) and vectors of every stored item, in the order they were added."""
        t = self.table
        with self.store.engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.item_id, t.c.dim, t.c.vector).order_by(t.c.id)).all()
        if not rows:
            return [], None
        dims = {int(r.dim) for r in rows}
        if len(dims) != 1:
            raise ValueError(f"{t.name}: stored item vectors have different lengths {sorted(dims)}")
        vectors = np.stack([np.frombuffer(r.vector, dtype="<f4") for r in rows])
        return [r.item_id for r in rows], vectors

    def count(self) -> int:
        with self.store.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(self.table)).scalar_one())

    def restore(self, model: Recommender) -> Recommender:
        """`model` with the stored items it does not hold yet (a copy when there are any)."""
        ids, vectors = self.stored()
        if vectors is None:
            return model
        fresh = lookup(model.item_vocab_, ids, what="item") < 0
        if not fresh.any():
            return model
        missing = [ids[i] for i in np.flatnonzero(fresh)]
        if not model.adds_items_from_text:
            log.warning(
                f"{len(missing)} item(s) added at serving time (e.g. {missing[:3]}) are not served: the "
                f"model {model.name} lacks the capability adds_items_from_text"
            )
            return model
        copied = copy.deepcopy(model)
        copied.add_items(np.array(missing, dtype=object), vectors[fresh])
        log.info(f"restored {len(missing)} item(s) added at serving time")
        return copied

    # --- writing ----------------------------------------------------------------------------------
    def prepare(self, model: Recommender, items: Sequence[NewItem]) -> tuple[list[str], np.ndarray]:
        """Canonical raw ids and text vectors of `items` for `model`; raises before anything changes."""
        if not model.adds_items_from_text:
            raise lacks_adds_items(model)
        recipe = model.item_text_recipe()
        if recipe is None:
            raise CapabilityError(f"{model.name} cannot add items: it records no item text recipe")
        vocab = model.item_vocab_
        ids = [canonical_id(vocab, i.item) for i in items]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise NewItemError(f"item ids given more than once: {repeated[:5]}")
        known = [ids[i] for i in np.flatnonzero(lookup(vocab, ids, what="item") >= 0)]
        if known:
            raise ItemExistsError(
                f"{len(known)} item(s) already in the catalog, e.g. {known[:5]}; only new items can be added"
            )
        for i in items:
            if i.text is not None and len(i.text) > MAX_TEXT_LENGTH:
                raise NewItemError(f"item {i.item!r}: text longer than {MAX_TEXT_LENGTH} characters")
        return ids, self._encoder(model, recipe).vectors(items)

    def _encoder(self, model: Recommender, recipe: dict[str, Any]) -> NewItemEncoder:
        # kept while the recipe stays the same (every add copies the model, the recipe with it), so a
        # sentence encoder is loaded once
        key = json.dumps(recipe, sort_keys=True, default=str)
        if key not in self._encoders:
            self._encoders = {
                key: NewItemEncoder(
                    recipe, int(recipe["dim"]), model_name=model.name, tuned=model.tuned_text_encoder()
                )
            }
        return self._encoders[key]

    def save(self, ids: Sequence[str], vectors: np.ndarray, texts: Sequence[str | None]) -> None:
        """Commit the added items (one transaction)."""
        now = time.time()
        rows = [
            {
                "item_id": i,
                "dim": int(v.shape[0]),
                "vector": np.ascontiguousarray(v, dtype="<f4").tobytes(),
                "text": t,
                "added_at": now,
            }
            for i, v, t in zip(ids, vectors, texts, strict=True)
        ]
        try:
            with self.store.engine.begin() as conn:
                conn.execute(sa.insert(self.table), rows)
        except sa.exc.IntegrityError:
            raise ItemExistsError(
                f"one of the items {list(ids)[:5]} was stored meanwhile (another process?); nothing was added"
            ) from None


def add_items(service: RecommenderService, catalog: CatalogItems, items: Sequence[NewItem]) -> AddedItems:
    """Add `items` to the served model (see the module docstring); the caller holds no lock and
    serialises adds (and retrains) itself."""
    if not items:
        raise NewItemError("no items to add")
    live = service.live
    model = live.model
    ids, vectors = catalog.prepare(model, items)
    fresh = copy.deepcopy(model)
    fresh.add_items(np.array(ids, dtype=object), vectors)
    retriever = live.prepare(fresh)  # an ANN index build must not hold up requests
    with service._write_lock:
        if live.model is not model:
            raise ItemExistsError("the served model changed while the items were prepared; post them again")
        catalog.save(ids, vectors, [_text(i) for i in items])
        version = live.swap(
            fresh,
            events_upto=live.events_upto,
            replay=service.store.iter_events(after_id=live.events_upto),
            retriever=retriever,
        )
    shown: list[int | str] = [int(i) for i in ids] if fresh.item_vocab_.is_integer else list(ids)
    return AddedItems(items=shown, n_items=fresh.n_items, model_version=version)


def _text(item: NewItem) -> str | None:
    if item.text is not None:
        return item.text
    if item.fields is not None:
        return json.dumps(dict(item.fields), sort_keys=True, default=str)
    return None
