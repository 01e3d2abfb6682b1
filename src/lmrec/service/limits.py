"""What a request may cost the service, and the ASGI gate that enforces it before any work is done.

    from lmrec.service import create_app
    from lmrec.service.limits import ServiceLimits
    app = create_app("models/itemknn", token="s3cret", limits=ServiceLimits(max_batch_cost=50_000))

`RequestGate` sits in front of the FastAPI app (pure ASGI, so it sees the request before the framework
reads a byte of its body) and answers, in this order:

1. 401 when the matched route needs the bearer token and the request lacks it: a stranger's body is never
   read, whatever its size (FastAPI itself reads and parses the body before it runs the auth dependency);
2. 413 when `Content-Length` is larger than the route's limit: the body is not read either;
3. 413 when the body streamed so far (chunked uploads have no `Content-Length`) passes the limit: reading
   stops at the first chunk over it.

Only then does the app see the request: the gate buffers the body (at most the limit, which FastAPI would
buffer anyway) and hands it on chunk by chunk. The cost of a batch recommendation (users x n) is checked
by the endpoint after parsing the bounded body and before any scoring (`check_batch_cost`), and at most
`max_concurrent_batches` of them are computed at once (`BatchSlots`).
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.routing import Match

MIB = 1 << 20


@dataclass(frozen=True)
class ServiceLimits:
    """Limits of one service; every one is a `lmrec serve` option of the same name (`--max-body-bytes`)."""

    max_body_bytes: int = 1 * MIB
    """Largest request body of every endpoint except the event posts (recommendation requests)."""
    max_event_body_bytes: int = 16 * MIB
    """Largest request body of POST /events and POST /events/batch."""
    max_batch_cost: int = 100_000
    """Largest users x n of one POST /recommendations/batch: the items it returns (and the JSON it
    costs: about 35 bytes each)."""
    max_concurrent_batches: int = 2
    """Batch recommendations computed at once; later ones wait their turn on the event loop (holding no
    thread). Each one keeps a core busy and its answer in memory, so this bounds both, and leaves the
    interpreter free enough to answer /health and single-user requests meanwhile."""

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_event_body_bytes", "max_batch_cost", "max_concurrent_batches"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ServiceLimits.{name} must be a positive integer, not {value!r}")


class CostLimitError(ValueError):
    """A request would cost more than a `ServiceLimits` entry allows (answered 422, before any work)."""


def check_batch_cost(users: int, n: int, limits: ServiceLimits) -> None:
    """Raise `CostLimitError` when `users` lists of `n` items pass `limits.max_batch_cost`."""
    cost = users * n
    if cost > limits.max_batch_cost:
        raise CostLimitError(
            f"{users} users x n={n} asks for {cost:,} recommended items, more than the "
            f"{limits.max_batch_cost:,} one batch request may (max_batch_cost); ask for fewer users or a "
            "smaller n, or raise the limit with `lmrec serve --max-batch-cost` "
            "(create_app(limits=ServiceLimits(max_batch_cost=...)))"
        )


class BatchSlots:
    """At most `n` holders at once (`async with slots:`), the others wait in arrival order.

    An asyncio semaphore made for the running event loop on first use (and again if the app is later
    served by another loop, as successive test clients do), so the limit can be built with the app.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self._loop: asyncio.AbstractEventLoop | None = None
        self._semaphore: asyncio.Semaphore | None = None

    def _current(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._loop is not loop:
            self._loop, self._semaphore = loop, asyncio.Semaphore(self.n)
        return self._semaphore

    async def __aenter__(self) -> None:
        await self._current().acquire()

    async def __aexit__(self, *exc: object) -> None:
        self._current().release()


def bearer_problem(authorization: str | None, token: str) -> str | None:
    """What is wrong with an `Authorization` header value for `token`, or None when it grants access."""
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return "this endpoint needs the header 'Authorization: Bearer <token>' with the service's token"
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        return "wrong bearer token"
    return None


@dataclass(frozen=True)
class GateRule:
    """What the gate enforces for one route."""

    route: Any
    """A Starlette route (matched with `route.matches(scope)`)."""
    needs_token: bool
    max_body_bytes: int
    limit_name: str
    """The `ServiceLimits` field behind `max_body_bytes`, named in the 413 message."""


def _error(status: int, error: str, message: str, headers: Iterable[tuple[bytes, bytes]] = ()) -> Any:
    """The ASGI messages of a JSON error body in the service's shape (see `lmrec.service.app`)."""
    body = json.dumps({"error": error, "message": message, "details": None}).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),  # the unread rest of the body must not be taken for a request
            *headers,
        ],
    }
    return start, {"type": "http.response.body", "body": body}


def _too_large(size: int | None, rule: GateRule) -> tuple[Any, Any]:
    option = "--" + rule.limit_name.replace("_", "-")
    what = f"is {size:,} bytes, more than" if size is not None else "(sent without Content-Length) passed"
    return _error(
        413,
        "body_too_large",
        f"the request body {what} the {rule.max_body_bytes:,} bytes this endpoint accepts "
        f"({rule.limit_name}); send less, or raise the limit with `lmrec serve {option}` "
        f"(create_app(limits=ServiceLimits({rule.limit_name}=...)))",
    )


class RequestGate:
    """ASGI middleware: auth, then body size, before the app reads the body (see the module docstring).

    rules: one per route of the app; a request none matches (/docs, a 404) gets `default`'s body limit
    and no auth check. token: what `needs_token` routes check against (None: nothing is checked).
    """

    def __init__(self, app: Any, *, rules: list[GateRule], default: GateRule, token: str | None) -> None:
        self.app, self._rules, self._default, self._token = app, rules, default, token

    def _rule(self, scope: Any) -> GateRule:
        for rule in self._rules:
            match, _ = rule.route.matches(scope)
            if match == Match.FULL:
                return rule
        return self._default

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rule = self._rule(scope)
        rejection = self._check_headers(scope, rule)
        if rejection is None:
            body, rejection = await self._read_body(receive, rule)
        if rejection is not None:
            scope.setdefault("route", rule.route)  # metrics count it under its endpoint, not "unmatched"
            for message in rejection:
                await send(message)
            return
        await self.app(scope, _replay(body, receive), send)

    def _check_headers(self, scope: Any, rule: GateRule) -> tuple[Any, Any] | None:
        headers = {k.lower(): v for k, v in scope.get("headers", ())}
        if rule.needs_token and self._token is not None:
            raw = headers.get(b"authorization")
            problem = bearer_problem(raw.decode("latin-1") if raw is not None else None, self._token)
            if problem is not None:
                return _error(401, "unauthorized", problem, [(b"www-authenticate", b"Bearer")])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                return _error(400, "bad_request", f"the Content-Length header {length!r} is not a number")
            if size > rule.max_body_bytes:
                return _too_large(size, rule)
        return None

    @staticmethod
    async def _read_body(receive: Any, rule: GateRule) -> tuple[deque[Any], tuple[Any, Any] | None]:
        """The request's body messages, or a 413 as soon as they pass the limit (the rest is not read)."""
        messages: deque[Any] = deque()
        total = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # a disconnect: the app sees it, as it would have
                messages.append(message)
                return messages, None
            total += len(message.get("body", b""))
            if total > rule.max_body_bytes:
                return messages, _too_large(None, rule)
            messages.append(message)
            if not message.get("more_body", False):
                return messages, None


def _replay(messages: deque[Any], receive: Any) -> Callable[[], Any]:
    """A `receive` that hands out the buffered body (dropping each chunk as it goes), then the real one."""

    async def replay() -> Any:
        if messages:
            return messages.popleft()
        return await receive()

    return replay
