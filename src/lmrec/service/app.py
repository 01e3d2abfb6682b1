"""`create_app`: the FastAPI app serving one model, built by a factory (no module globals).

    from lmrec.service import create_app
    app = create_app("models/itemknn", token="s3cret")      # uvicorn.run(app) or `lmrec serve`

Everything the app knows lives on the app object (`app.state.service`, `app.state.metrics`), so two apps
in one process (tests, a canary) never share state. The endpoints are thin adapters over
`RecommenderService`; this module adds what only HTTP has: auth, error bodies, metrics, OpenAPI.

Errors: every 4xx/5xx answer has the JSON body `{"error": code, "message": sentence, "details": ...}`.
Bad input is never a 500: unknown item ids are 422 (404 when the item is the path's resource), limits
and malformed bodies 422, a body over its size limit 413 (before it is read; `lmrec.service.limits`), a
missing/wrong token 401 (also before the body is read), a reused idempotency key 409, a capability the
model lacks (similar items, retraining a content model) 400.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from lmrec import __version__
from lmrec.errors import UnknownIdError
from lmrec.models.base import Recommender
from lmrec.retrieval.ann import AnnConfig
from lmrec.service.core import RecommenderService, RetrainBusy
from lmrec.service.limits import CostLimitError, GateRule, RequestGate, ServiceLimits, bearer_problem
from lmrec.service.metrics import Metrics
from lmrec.service.state import UnsupportedError
from lmrec.service.store import DEFAULT_TABLE, IdempotencyConflict

log = logging.getLogger("lmrec.service")

_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}


class ApiError(Exception):
    """An HTTP error with a code and a sentence, raised by the endpoints."""

    def __init__(self, status: int, error: str, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers


def _body(status: int, error: str, message: str, details: Any = None, headers: Any = None) -> JSONResponse:
    return JSONResponse(
        {"error": error, "message": message, "details": details}, status_code=status, headers=headers
    )


def _problem(error: dict[str, Any]) -> str:
    """One error of a validation failure as "where: what"."""
    if error["type"] == "json_invalid":
        return f"the request body is not valid JSON ({error['msg']} at character {error['loc'][-1]})"
    parts = [p for p in error["loc"] if p != "body"] or error["loc"] or ["request"]
    return f"{'.'.join(parts)}: {error['msg']}"


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _body(exc.status, exc.error, exc.message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type")),
            }
            for e in exc.errors()
        ]
        message = "; ".join(_problem(e) for e in errors[:5]) or "invalid request"
        return _body(422, "validation_error", message, errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return _body(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(UnknownIdError)
    async def unknown_id(_: Request, exc: UnknownIdError) -> JSONResponse:
        return _body(422, "unknown_id", str(exc))

    @app.exception_handler(UnsupportedError)
    async def unsupported(_: Request, exc: UnsupportedError) -> JSONResponse:
        return _body(400, "unsupported", str(exc))

    @app.exception_handler(IdempotencyConflict)
    async def conflict(_: Request, exc: IdempotencyConflict) -> JSONResponse:
        return _body(409, "idempotency_conflict", str(exc))

    @app.exception_handler(CostLimitError)
    async def too_costly(_: Request, exc: CostLimitError) -> JSONResponse:
        return _body(422, "limit_exceeded", str(exc))

    @app.exception_handler(RetrainBusy)
    async def busy(_: Request, exc: RetrainBusy) -> JSONResponse:
        return _body(409, "retrain_running", str(exc))

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:  # a bug, never bad input
        log.exception("unhandled error", exc_info=exc)
        return _body(500, "internal_error", "internal server error; the service log has the traceback")


class _MetricsMiddleware:
    """Counts every HTTP request by route template (not raw path: ids must not become labels)."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            endpoint = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe(scope["method"], endpoint, status, time.perf_counter() - start)


class _BearerToken(HTTPBearer):
    """The write endpoints' dependency: checks `Authorization: Bearer <token>` when a token is set.

    A subclass of FastAPI's HTTPBearer so that /docs shows the security scheme and its "Authorize" box.
    """

    def __init__(self, token: str | None) -> None:
        super().__init__(
            auto_error=False,
            scheme_name="bearer",
            description="Write endpoints need `Authorization: Bearer <token>` when the service has a token; "
            "with `auth_reads` (`lmrec serve --auth-reads`) so do the recommendation endpoints, /model and "
            "/metrics (/health and the docs stay open).",
        )
        self._token = token

    async def __call__(self, request: Request) -> HTTPAuthorizationCredentials | None:  # type: ignore[override]
        # `RequestGate` has already turned strangers away before their body was read; this check repeats
        # it for an app used without the gate (it is the same function)
        if self._token is not None:
            problem = bearer_problem(request.headers.get("Authorization"), self._token)
            if problem is not None:
                raise ApiError(401, "unauthorized", problem, headers={"WWW-Authenticate": "Bearer"})
        return await super().__call__(request)


def _register_metrics(metrics: Metrics, service: RecommenderService) -> None:
    metrics.gauge(
        "events_stored", "Feedback events in the event store.", lambda: [({}, service.store.count())]
    )
    metrics.gauge(
        "model_version",
        "Version of the served model (+1 per hot swap).",
        lambda: [({}, service.live.version)],
    )
    metrics.gauge(
        "model_info",
        "The served model (value 1).",
        lambda: [({"model": service.live.model.name, "lmrec_version": __version__}, 1)],
    )
    metrics.gauge(
        "ann_exact_fallbacks",
        "Lists the ANN index could not fill after exclusions, ranked exactly instead (current model).",
        lambda: [({}, _fallbacks(service))],
    )
    metrics.gauge(
        "online_users", "Users with events newer than the model.", lambda: [({}, service.live.online_users())]
    )
    metrics.gauge(
        "online_events",
        "Events newer than the model, applied online.",
        lambda: [({}, service.live.online_events())],
    )


def _fallbacks(service: RecommenderService) -> int:
    index = service.live.retriever.index
    return 0 if index is None else index.exact_fallbacks


def create_app(
    model: str | Path | Recommender | RecommenderService,
    *,
    store_url: str | None = None,
    token: str | None = None,
    table: str = DEFAULT_TABLE,
    title: str = "lmrec",
    retrieval: str = "auto",
    ann_config: AnnConfig | None = None,
    retrain_every: float | None = None,
    retrain_min_events: int = 1,
    limits: ServiceLimits | None = None,
    auth_reads: bool = False,
) -> FastAPI:
    """The HTTP app serving `model`: a saved model folder, a fitted model, or a ready service.

    store_url: SQLAlchemy URL of the event store (default: `events.sqlite` in the model folder; an
    in-memory database for a model object). token: when set, the write endpoints (events, retrain)
    need `Authorization: Bearer <token>`. table: event table name (several services can share a
    database). retrieval: "exact", "ann" or "auto" (ANN for embedding models with a large catalog; see
    `lmrec.retrieval.Retriever`), with `ann_config` for the index. A ready service keeps its own store
    and retrieval settings. retrain_every: seconds between scheduled retrains, each run only when at
    least `retrain_min_events` new events are stored (see `lmrec.service.schedule`); None: retrain only
    on request. The schedule runs while the app runs (its lifespan); the app closes the store when it
    shuts down.

    limits: request body sizes and the users x n of a batch recommendation (`ServiceLimits`; its
    defaults when None), enforced before a body is read or a list is scored. auth_reads: the token is
    needed by every endpoint but /health and the docs: recommendations, similar items, and /model and
    /metrics, which show the model's config, data card and traffic (without it these are public).
    """
    from lmrec.service.batching import RecommendBatcher
    from lmrec.service.items_route import add_item_routes
    from lmrec.service.routes import add_routes
    from lmrec.service.schedule import RetrainSchedule

    if auth_reads and token is None:
        raise ValueError("auth_reads=True needs a token: without one there is nothing to check reads against")
    limits = limits or ServiceLimits()

    if isinstance(model, RecommenderService):
        service = model
    else:
        service = RecommenderService.open(
            model, store_url=store_url, table=table, retrieval=retrieval, ann_config=ann_config
        )

    if retrain_every is not None:
        service.schedule = RetrainSchedule(service, retrain_every, min_events=retrain_min_events)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if service.schedule is not None:
            service.schedule.start()
        try:
            yield
        finally:
            if service.schedule is not None:
                service.schedule.stop()
            batcher.close()
            service.close()

    app = FastAPI(
        title=f"{title} recommender service",
        version=__version__,
        description=(
            f"Serving `{service.live.model.name}` with online learning: posted events change the user's "
            "next recommendations at once. Unknown users get popularity, flagged `fallback`."
        ),
        lifespan=lifespan,
    )
    metrics = Metrics()
    batcher = RecommendBatcher(service, metrics)
    app.state.service = service
    app.state.metrics = metrics
    _register_metrics(metrics, service)
    _install_error_handlers(app)
    bearer = _BearerToken(token)
    add_routes(app, service, metrics, bearer, batcher, limits=limits, auth_reads=auth_reads)
    add_item_routes(app, service, bearer)  # POST /items: models that add items from text
    default = GateRule(None, False, limits.max_body_bytes, "max_body_bytes")
    app.add_middleware(RequestGate, rules=_gate_rules(app, bearer, limits), default=default, token=token)
    app.add_middleware(_MetricsMiddleware, metrics=metrics)  # outermost: it also counts the gate's 401/413
    return app


def _gate_rules(app: FastAPI, bearer: _BearerToken, limits: ServiceLimits) -> list[GateRule]:
    """One rule per route: the token when the route declares the bearer dependency (so /docs and the
    gate agree on which routes are protected), the event limit for the event posts."""
    from lmrec.service.routes import EVENT_PATHS

    rules = []
    for route in app.router.routes:
        if not isinstance(route, APIRoute):  # /docs, /openapi.json: open, default limit
            continue
        needs_token = any(d.dependency is bearer for d in route.dependencies)
        name = "max_event_body_bytes" if route.path in EVENT_PATHS else "max_body_bytes"
        rules.append(GateRule(route, needs_token, getattr(limits, name), name))
    return rules
