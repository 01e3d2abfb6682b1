"""The endpoints of the service: each one parses, calls `RecommenderService`, and shapes the answer.

Most endpoints are plain `def`s: FastAPI runs them in its thread pool, which suits the blocking database
driver. Single-user recommendations, the hot path, go through `RecommendBatcher` instead (one worker
thread, requests answered in arrival order and in batches under load; see `lmrec.service.batching`).
/health is `async`: it answers on the event loop even when every pool thread is busy.

Recommendation lists are answered as JSON built from plain dicts and lists (`rec_json`), in the shape of
`schemas.RecommendationOut`, which stays the documented response model: one pydantic object per
recommended item made a 1,000 x 1,000 batch spend 10 s building objects. A batch is encoded one list
at a time (`batch_body`), so that encoding never holds the GIL for long.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from lmrec.data.display import ItemDisplay
from lmrec.errors import UnknownIdError
from lmrec.service import schemas as S
from lmrec.service.batching import RecommendBatcher
from lmrec.service.core import RecommenderService
from lmrec.service.explorer import add_explorer_routes
from lmrec.service.limits import BatchSlots, ServiceLimits, check_batch_cost
from lmrec.service.metrics import CONTENT_TYPE, Metrics
from lmrec.service.state import RecList
from lmrec.service.store import Event

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": S.ErrorOut, "description": "The model lacks what the request needs"},
    422: {"model": S.ErrorOut, "description": "Invalid input: unknown id, limit exceeded, malformed body"},
}
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": S.ErrorOut, "description": "Missing or wrong bearer token"},
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    **AUTH_ERRORS,
    409: {"model": S.ErrorOut, "description": "Idempotency key reused for another event, or busy"},
    413: {"model": S.ErrorOut, "description": "Body larger than max_event_body_bytes (not read)"},
}
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    413: {"model": S.ErrorOut, "description": "Body larger than max_body_bytes (not read)"},
}
EVENT_PATHS = frozenset({"/events", "/events/batch"})
"""Routes whose body may be as large as `ServiceLimits.max_event_body_bytes` (others: max_body_bytes)."""

NQuery = Annotated[int, Query(ge=1, le=S.MAX_N, description=f"List length, 1 to {S.MAX_N}.")]
ExcludeQuery = Annotated[bool, Query(description="Leave the user's history items out of the list.")]
IdPath = Annotated[str, Path(min_length=1, max_length=S.MAX_ID_LENGTH)]


def _scored(rec: RecList, display: ItemDisplay | None = None) -> list[dict[str, Any]]:
    """The items of a list with their scores, and their title and display fields when the model folder
    holds a display catalog (`lmrec.data.display`)."""
    if display is None:
        return [{"item": i, "score": s} for i, s in zip(rec.items, rec.scores, strict=True)]
    return [
        {"item": i, "score": s, **display.describe(i)} for i, s in zip(rec.items, rec.scores, strict=True)
    ]


def rec_json(rec: RecList, display: ItemDisplay | None = None) -> dict[str, Any]:
    """A list as the JSON object `schemas.RecommendationOut` describes (scores are finite: `RecList`
    drops the rest), without building a pydantic object per item."""
    return {
        "user": rec.user,
        "items": _scored(rec, display),
        "fallback": rec.fallback,
        "history_length": rec.history_length,
        "model_version": rec.model_version,
        "retrieval": rec.retrieval,
    }


_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def batch_body(recs: list[RecList], version: int, display: ItemDisplay | None = None) -> bytes:
    """The JSON body of POST /recommendations/batch (`schemas.BatchRecommendationOut`).

    Encoded one list at a time: `json.dumps` is C code that holds the GIL for the whole call, so one
    call over a 100,000-item answer would stall the event loop (and /health) for the best part of a
    second; one list is a millisecond or so, after which the other threads get their turn.
    """
    results = ",".join([_encode(rec_json(r, display)) for r in recs])
    return f'{{"results":[{results}],"model_version":{int(version)}}}'.encode()


def add_routes(
    app: FastAPI,
    service: RecommenderService,
    metrics: Metrics,
    require_token: Callable[..., Any],
    batcher: RecommendBatcher,
    *,
    limits: ServiceLimits,
    auth_reads: bool = False,
) -> None:
    """Attach every endpoint to `app`, closed over `service` (no module state).

    Writes always declare `require_token`; reads (every endpoint but /health) declare it too with
    `auth_reads`. `RequestGate` enforces it from these declarations before reading a body.
    """
    write = [Depends(require_token)]
    read = write if auth_reads else []
    slots = BatchSlots(limits.max_concurrent_batches)
    read_errors = {**ERRORS, **AUTH_ERRORS} if auth_reads else ERRORS
    body_errors = {**BODY_ERRORS, **AUTH_ERRORS} if auth_reads else BODY_ERRORS

    @app.get("/health", response_model=S.HealthOut, tags=["ops"])
    async def health() -> S.HealthOut:
        """Liveness and the served model (no database round trip)."""
        return S.HealthOut(
            status="ok",
            model=service.live.model.name,
            model_version=service.live.version,
            uptime_seconds=round(time.time() - service.started_at, 3),
        )

    @app.get("/metrics", response_class=PlainTextResponse, dependencies=read, tags=["ops"])
    def prometheus() -> PlainTextResponse:
        """Prometheus text format: requests and latency by endpoint, events stored, model version."""
        return PlainTextResponse(metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/model", dependencies=read, tags=["ops"])
    def model_info() -> dict[str, Any]:
        """The served model: name, config, versions, catalog size, training info, online state, and
        `retrieval` (mode "exact" or "ann", the index kind, its parameters and build time)."""
        return service.model_info()

    @app.get(
        "/users/{user_id}/recommendations",
        response_model=S.RecommendationOut,
        responses=read_errors,
        dependencies=read,
        tags=["recommendations"],
    )
    async def user_recommendations(user_id: IdPath, n: NQuery = 10, exclude_seen: ExcludeQuery = True) -> Any:
        """Top-n for a user by raw id. Their events posted so far count at once. A user with neither
        training data nor events gets the most popular training items, flagged `fallback: popularity`."""
        rec = await batcher.recommend(user_id, n, exclude_seen=exclude_seen)
        return JSONResponse(rec_json(rec, service.display))

    @app.post(
        "/recommendations",
        response_model=S.RecommendationOut,
        responses=body_errors,
        dependencies=read,
        tags=["recommendations"],
    )
    def history_recommendations(body: S.HistoryRecommendationIn) -> Any:
        """Top-n for an anonymous or session user given their history (raw item ids, oldest first);
        sequence models read the order. An empty history gets the popularity fallback."""
        rec = service.recommend_history(body.items, body.n, exclude_seen=body.exclude_seen)
        return JSONResponse(rec_json(rec, service.display))

    @app.post(
        "/recommendations/batch",
        response_model=S.BatchRecommendationOut,
        responses=body_errors,
        dependencies=read,
        tags=["recommendations"],
        description=f"Top-n for up to {S.MAX_BATCH_USERS} users at once (same rules as the single-user "
        f"endpoint). Users x n may be at most `max_batch_cost` ({limits.max_batch_cost:,} here; 422 "
        f"otherwise, before anything is scored); {limits.max_concurrent_batches} are computed at once, "
        "later ones wait their turn.",
    )
    async def batch_recommendations(body: S.BatchRecommendationIn) -> Any:
        check_batch_cost(len(body.users), body.n, limits)
        async with slots:
            content = await run_in_threadpool(batch, body)
        return Response(content, media_type="application/json")

    def batch(body: S.BatchRecommendationIn) -> bytes:
        recs = service.recommend_users(body.users, body.n, exclude_seen=body.exclude_seen)
        return batch_body(recs, recs[0].model_version if recs else service.live.version, service.display)

    @app.get(
        "/items/{item_id}/similar",
        response_model=S.SimilarItemsOut,
        responses={**read_errors, 404: {"model": S.ErrorOut, "description": "Unknown item"}},
        dependencies=read,
        tags=["recommendations"],
    )
    def similar_items(item_id: IdPath, n: NQuery = 10) -> Any:
        """The n items most similar to an item (models with a similar-items capability; 400 otherwise)."""
        from lmrec.service.app import ApiError

        try:
            rec = service.similar_items(item_id, n)
        except UnknownIdError as exc:
            raise ApiError(404, "unknown_id", str(exc)) from None
        item: int | str = int(item_id) if service.live.model.item_vocab_.is_integer else item_id
        return JSONResponse(
            {
                "item": item,
                **({} if service.display is None else service.display.describe(item)),
                "similar": _scored(rec, service.display),
                "model_version": rec.model_version,
                "retrieval": rec.retrieval,
            }
        )

    add_explorer_routes(app, service, read, read_errors)  # GET /explorer and the page's two reads

    @app.post(
        "/events", response_model=S.EventsOut, responses=WRITE_ERRORS, dependencies=write, tags=["events"]
    )
    def post_event(event: S.EventIn) -> S.EventsOut:
        """Store one feedback event durably (answered after the commit) and apply it to the user's
        history. Repeating an `idempotency_key` stores nothing new."""
        return _events_out(service.add_events([_event(event)]), metrics)

    @app.post(
        "/events/batch",
        response_model=S.EventsOut,
        responses=WRITE_ERRORS,
        dependencies=write,
        tags=["events"],
    )
    def post_events(body: S.EventBatchIn) -> S.EventsOut:
        """Store up to 1000 events in one transaction: all or none (one unknown item rejects the batch)."""
        return _events_out(service.add_events([_event(e) for e in body.events]), metrics)

    @app.post(
        "/admin/retrain",
        response_model=S.RetrainOut,
        responses=WRITE_ERRORS,
        dependencies=write,
        tags=["ops"],
    )
    def retrain() -> S.RetrainOut:
        """Refit on the training data plus every stored event, then hot swap the model (requests keep
        being answered meanwhile). Blocks until the new model serves."""
        info = service.retrain()
        return S.RetrainOut(**{k: info[k] for k in S.RetrainOut.model_fields})


def _event(e: S.EventIn) -> Event:
    return Event(
        user=str(e.user),
        item=str(e.item),
        type=e.type,
        timestamp=e.timestamp,
        idempotency_key=e.idempotency_key,
    )


def _events_out(stored: list[Any], metrics: Metrics) -> S.EventsOut:
    accepted = sum(not e.duplicate for e in stored)
    metrics.inc("events_accepted", accepted, "Events newly stored through this process.")
    metrics.inc("events_duplicate", len(stored) - accepted, "Events refused as repeated idempotency keys.")
    return S.EventsOut(
        accepted=accepted,
        duplicates=len(stored) - accepted,
        events=[
            S.StoredEventOut(
                id=e.id, user=e.user, item=e.item, type=e.type, timestamp=e.timestamp, duplicate=e.duplicate
            )
            for e in stored
        ],
    )
