"""Request and response bodies of the HTTP service (pydantic), with the limits the service enforces.

Raw ids are JSON integers or strings (1-256 characters), as in the data files the model was trained on;
an integer catalog also accepts its ids as numeric strings ("105"). Every request body forbids unknown
fields, so a typo ("idempotencyKey") is an error, not a silently ignored field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

MAX_N = 1000
"""Longest recommendation list a request may ask for."""
MAX_BATCH_USERS = 1000
"""Users per batch recommendation request."""
MAX_BATCH_EVENTS = 1000
"""Events per batch post."""
MAX_HISTORY = 10_000
"""Items in an ad-hoc history."""
MAX_ID_LENGTH = 256

RawId = (
    Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]
    | Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH)]
)
N = Annotated[int, Field(ge=1, le=MAX_N, description=f"List length, 1 to {MAX_N}.")]
EventType = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$"),
    Field(description="Free label such as click, view, purchase (letters, digits, _ . : -; at most 64)."),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- requests -------------------------------------------------------------------------------------
class EventIn(_Body):
    """One feedback event. Every event type adds the item to the user's history."""

    user: RawId = Field(description="Raw user id; a user the model has not seen is fine.")
    item: RawId = Field(description="Raw item id; must be in the model's catalog.")
    type: EventType = "interaction"
    timestamp: float | None = Field(
        None,
        ge=0,
        le=1e11,
        allow_inf_nan=False,
        description="Unix seconds when it happened (default: when the service received it).",
    )
    idempotency_key: Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH)] | None = Field(
        None, description="Posting again with the same key stores nothing new (safe retries)."
    )


class EventBatchIn(_Body):
    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)


class HistoryRecommendationIn(_Body):
    """An anonymous or session user described by their history (raw item ids, oldest first)."""

    items: list[RawId] = Field(max_length=MAX_HISTORY)
    n: N = 10
    exclude_seen: bool = Field(True, description="Leave the history's items out of the list.")


class BatchRecommendationIn(_Body):
    users: list[RawId] = Field(min_length=1, max_length=MAX_BATCH_USERS)
    n: N = 10
    exclude_seen: bool = True


# --- responses ------------------------------------------------------------------------------------
Retrieval = Annotated[
    Literal["exact", "ann"],
    Field(
        description='How the list was ranked: "ann" by the approximate nearest-neighbour index over the '
        'item vectors, "exact" by scoring the whole catalog (also the fallback and rows the index could '
        "not fill). /model says which mode the service runs in."
    ),
]


def _display_fields() -> Any:
    return Field(
        None,
        description="The catalog's other display fields of the item (genres, dates...), when the model "
        "folder holds a display catalog (`catalog.parquet`, written by `lmrec train` and `lmrec run`).",
    )


class ScoredItem(BaseModel):
    item: int | str
    score: float
    title: str | None = Field(
        None, description="The item's title, when the model folder holds a display catalog."
    )
    fields: dict[str, str] | None = _display_fields()


class RecommendationOut(BaseModel):
    user: int | str | None = Field(None, description="The user asked about (null for an ad-hoc history).")
    items: list[ScoredItem]
    fallback: str | None = Field(
        None,
        description='null when the model ranked the items; "popularity" when the user is unknown (no '
        "training data, no events) or the history is empty: the items with the most training users.",
    )
    history_length: int = Field(description="Items in the history used: training data + online events.")
    model_version: int
    retrieval: Retrieval


class BatchRecommendationOut(BaseModel):
    results: list[RecommendationOut]
    model_version: int


class SimilarItemsOut(BaseModel):
    item: int | str
    title: str | None = Field(None, description="The asked item's title (with a display catalog).")
    fields: dict[str, str] | None = _display_fields()
    similar: list[ScoredItem]
    model_version: int
    retrieval: Retrieval


class StoredEventOut(BaseModel):
    id: int
    user: str
    item: str
    type: str
    timestamp: float
    duplicate: bool = Field(description="True when the idempotency key was already stored.")


class EventsOut(BaseModel):
    accepted: int = Field(description="Events newly stored by this request.")
    duplicates: int
    events: list[StoredEventOut]


class HealthOut(BaseModel):
    status: str
    model: str
    model_version: int
    uptime_seconds: float


class ErrorOut(BaseModel):
    """The body of every 4xx/5xx answer."""

    error: str = Field(description="Machine-readable code, e.g. unknown_id, validation_error, unauthorized.")
    message: str = Field(description="What is wrong, in one sentence.")
    details: Any = None


class RetrainOut(BaseModel):
    version: int = Field(description="Version of the new model (kept across restarts).")
    events_in_model: int = Field(description="Newest stored event id the new model's training data covers.")
    events_used: int
    events_skipped: int = Field(
        description="Events not learned from (item not in the catalog); kept as unused, never consumed."
    )
    new_users: int
    interactions: int
    seconds: float
    saved_as: str | None = Field(
        None, description="Folder of the new version inside the model folder (None: not served from one)."
    )
