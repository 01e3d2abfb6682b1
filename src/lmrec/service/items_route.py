"""`POST /items`: add items with their text to the served catalog (see `lmrec.service.catalog_items`).

The body is a JSON array of items, each `{"item": id, "text": "..."}`, `{"item": id, "fields": {...}}`
(catalog fields rendered by the model's text template) or `{"item": id, "vector": [...]}` (a ready text
vector of the model's encoder). Token-protected like every write. Answers: 200 with the added ids, the
new catalog size and model version; 409 `capability_missing` when the served model cannot add items
(it names the capability and the model to serve, textseq), 409 `item_exists` for an id already in the
catalog, 422 for a text the model cannot encode (corpus-dependent encoder, no recorded encoder) or a
malformed item, 503 when the text encoder cannot be loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from lmrec.errors import CapabilityError
from lmrec.service import schemas as S
from lmrec.service.catalog_items import MAX_TEXT_LENGTH, ItemExistsError
from lmrec.service.core import RecommenderService
from lmrec.text.encoders import EncoderError
from lmrec.text.new_items import NewItem, NewItemError

MAX_ITEMS = 1000
"""Items per request."""
MAX_VECTOR = 8192
"""Longest text vector accepted."""
MAX_FIELDS = 64
"""Catalog fields per item."""

FieldName = Annotated[str, StringConstraints(min_length=1, max_length=S.MAX_ID_LENGTH)]
FieldValue = str | int | float | list[str | int | float] | None


class ItemIn(BaseModel):
    """One new item: its raw id and exactly one of text, fields or vector."""

    model_config = ConfigDict(extra="forbid")

    item: S.RawId = Field(description="Raw id of the new item (not in the catalog yet).")
    text: str | None = Field(
        None, min_length=1, max_length=MAX_TEXT_LENGTH, description="The item's text, encoded as it is."
    )
    fields: dict[FieldName, FieldValue] | None = Field(
        None,
        max_length=MAX_FIELDS,
        description='Catalog fields ({"title": ..., "genres": ...}) rendered by the model\'s template.',
    )
    vector: list[float] | None = Field(
        None,
        min_length=1,
        max_length=MAX_VECTOR,
        description="A text vector made with the model's encoder (the only way for TF-IDF models).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ItemIn:
        given = [k for k in ("text", "fields", "vector") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of text, fields or vector, not {' and '.join(given) or 'none'}"
            )
        return self


class ItemsOut(BaseModel):
    added: int
    items: list[int | str] = Field(description="The added ids, as the catalog spells them.")
    n_items: int = Field(description="Catalog size now.")
    model_version: int = Field(description="Version of the model that serves them (+1 per add).")


ITEM_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": S.ErrorOut, "description": "Missing or wrong bearer token"},
    409: {"model": S.ErrorOut, "description": "The model cannot add items, or an item exists already"},
    422: {"model": S.ErrorOut, "description": "An item cannot be encoded or is malformed"},
    503: {"model": S.ErrorOut, "description": "The model's text encoder cannot be loaded here"},
}


def add_item_routes(app: FastAPI, service: RecommenderService, require_token: Callable[..., Any]) -> None:
    """Attach `POST /items` to `app` (write endpoint: `require_token`)."""

    @app.post(
        "/items",
        response_model=ItemsOut,
        responses=ITEM_ERRORS,
        dependencies=[Depends(require_token)],
        tags=["items"],
    )
    def post_items(
        body: Annotated[list[ItemIn], Body(min_length=1, max_length=MAX_ITEMS)],
    ) -> ItemsOut:
        """Add up to 1000 new items with their text: recommendable at once from their text, kept across
        restarts, without retraining (models with the capability adds_items_from_text: textseq)."""
        from lmrec.service.app import ApiError

        items = [NewItem(i.item, text=i.text, fields=i.fields, vector=i.vector) for i in body]
        try:
            added = service.add_items(items)
        except CapabilityError as exc:
            raise ApiError(409, "capability_missing", str(exc)) from None
        except ItemExistsError as exc:
            raise ApiError(409, "item_exists", str(exc)) from None
        except EncoderError as exc:
            raise ApiError(503, "encoder_unavailable", str(exc)) from None
        except (NewItemError, ValueError) as exc:
            raise ApiError(422, "invalid_item", str(exc)) from None
        return ItemsOut(
            added=len(added.items),
            items=added.items,
            n_items=added.n_items,
            model_version=added.model_version,
        )
