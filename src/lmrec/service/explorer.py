"""The explorer: a page served at `GET /explorer` to look at what the served model does for one user, and
the two read endpoints it needs besides the existing ones.

The page (`explorer.html`, plain HTML and JavaScript, nothing fetched but this service's own JSON API)
shows a user's history with titles, the model's recommendations with scores and why (each component's
score and rank for a hybrid, the history items closest to each recommended item), each hybrid
component's own list, similar items (models with `has_similar_items`), and what posting an event
changes: it posts to `POST /events` and asks for the recommendations again.

- `GET /users/{id}/history?n=` — the user's current history, oldest first: training items (in time
  order when the model keeps it), then the events posted since the model was trained;
- `GET /users/{id}/explanation?n=` — the user's top-n with reasons (`lmrec.hybrid.explain.explain`) and,
  for a hybrid, every component's own top-n (`component_lists`). Explanations score the whole catalog, as
  `lmrec recommend --explain` does, also when the service ranks lists through an ANN index.

Both answer from the same state as the recommendation endpoints (training data plus online events).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from fastapi import FastAPI, Path, Query
from fastapi.responses import HTMLResponse, JSONResponse

from lmrec.service import schemas as S

if TYPE_CHECKING:
    from lmrec.service.core import RecommenderService

SAMPLE_USERS = 50
"""User ids the page offers in its picker (the first ones of the model's vocabulary)."""
MAX_HISTORY_SHOWN = 1000

IdPath = Annotated[str, Path(min_length=1, max_length=S.MAX_ID_LENGTH)]
NQuery = Annotated[int, Query(ge=1, le=S.MAX_N, description=f"List length, 1 to {S.MAX_N}.")]
HQuery = Annotated[
    int, Query(ge=1, le=MAX_HISTORY_SHOWN, description="Most recent history items shown (oldest first).")
]


def _shown_id(service: RecommenderService, raw: str) -> int | str:
    vocab = service.live.model.user_vocab_
    return int(raw) if vocab.reads_integers and raw.lstrip("-").isdigit() else raw


def _describe(service: RecommenderService, item: Any) -> dict[str, Any]:
    return {} if service.display is None else dict(service.display.describe(item))


def user_history(service: RecommenderService, user_id: str, n: int) -> dict[str, Any]:
    """The user's last `n` history items, oldest first, with display fields (see the module doc)."""
    model, _, trained, online, version = service.live.user_state(user_id)
    seq = np.concatenate([trained, online]).astype(np.int64)
    shown = seq[-n:] if n < seq.size else seq
    start = seq.size - shown.size
    items = [
        {
            "item": model.item_vocab_.id(i).item(),
            "source": "training" if start + k < trained.size else "event",
        }
        for k, i in enumerate(shown)
    ]
    for entry in items:
        entry.update(_describe(service, entry["item"]))
    return {
        "user": _shown_id(service, user_id),
        "items": items,
        "history_length": int(seq.size),
        "online_events": int(online.size),
        "model_version": version,
    }


def user_explanation(service: RecommenderService, user_id: str, n: int, exclude_seen: bool) -> dict[str, Any]:
    """The user's top-n with reasons, and each hybrid component's top-n (see the module doc)."""
    from lmrec.hybrid.explain import component_lists, explain

    model, user, trained, online, version = service.live.user_state(user_id)
    if user < 0 and online.size == 0:  # unknown user: the popularity fallback, nothing to explain
        rec = service.recommend_user(user_id, n, exclude_seen=exclude_seen)
        items = [
            {"item": i, "score": s, **_describe(service, i)}
            for i, s in zip(rec.items, rec.scores, strict=True)
        ]
        return {
            "user": rec.user,
            "items": items,
            "components": [],
            "fallback": rec.fallback,
            "history_length": 0,
            "model_version": rec.model_version,
        }
    kwargs: dict[str, Any] = {"exclude_history": exclude_seen}
    users = np.array([user])
    if online.size:  # the same rule as the recommendation endpoint: the updated ordered history
        kwargs["sequences"] = [np.concatenate([trained, online]).astype(np.int64)]
        if model.folds_in():
            users = np.array([-1])
    (row,) = explain(model, users, n, **kwargs)
    (components,) = component_lists(model, users, n, **kwargs)
    for entry in row["items"]:
        entry.update(_describe(service, entry["item"]))
        for reason in entry.get("because", []):
            title = _describe(service, reason["item"]).get("title")
            if title is not None:
                reason["title"] = title
    for comp in components:
        for entry in comp["items"]:
            entry.update(_describe(service, entry["item"]))
    return {
        "user": _shown_id(service, user_id),
        "items": row["items"],
        "components": components,
        "fallback": None,
        "history_length": int(trained.size + online.size),
        "model_version": version,
    }


def explorer_page(service: RecommenderService) -> str:
    """The page, with the model's first user ids for its picker."""
    page = resources.files("lmrec.service").joinpath("explorer.html").read_text(encoding="utf-8")
    ids = service.live.model.user_vocab_.ids[:SAMPLE_USERS].tolist()
    boot = json.dumps({"users": ids}, ensure_ascii=False).replace("</", "<\\/")
    return page.replace("/*LMREC_BOOT*/", f"window.LMREC_BOOT = {boot};")


def add_explorer_routes(
    app: FastAPI, service: RecommenderService, read: list[Any], errors: dict[int | str, dict[str, Any]]
) -> None:
    """GET /explorer (the page; open like /docs: it holds no data) and the two read endpoints."""

    @app.get("/explorer", response_class=HTMLResponse, include_in_schema=False)
    def explorer() -> HTMLResponse:
        return HTMLResponse(explorer_page(service))

    @app.get("/users/{user_id}/history", responses=errors, dependencies=read, tags=["explorer"])
    def history(user_id: IdPath, n: HQuery = 50) -> Any:
        """The user's history as the service ranks from it: training items, then posted events."""
        return JSONResponse(user_history(service, user_id, n))

    @app.get("/users/{user_id}/explanation", responses=errors, dependencies=read, tags=["explorer"])
    def explanation(user_id: IdPath, n: NQuery = 10, exclude_seen: bool = True) -> Any:
        """The user's top-n with reasons: each component's score and rank (hybrids), the history items
        closest to each recommended item; and each hybrid component's own top-n."""
        return JSONResponse(user_explanation(service, user_id, n, exclude_seen))
