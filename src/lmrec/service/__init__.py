"""HTTP serving with online learning: `create_app(model_dir)` builds the FastAPI app (see `app.py`).

Modules: `core` (RecommenderService, the Python API every adapter uses), `state` (the live model and
online histories), `store` (the durable event log), `retrain` (refit + hot swap), `schemas` (HTTP
bodies and limits), `limits` (what one request may cost, enforced before its body is read), `routes` +
`app` (the HTTP adapter), `metrics` (Prometheus text). Ranking through an
ANN index (`retrieval="ann"|"auto"`) lives in `lmrec.retrieval`, which has nothing HTTP-specific.

Needs the `serve` extra (fastapi, uvicorn, sqlalchemy); names are imported on first use so that
`import lmrec.service.state` does not pull in the web framework.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "create_app": "lmrec.service.app",
    "RecommenderService": "lmrec.service.core",
    "EventStore": "lmrec.service.store",
    "Event": "lmrec.service.store",
    "StoredEvent": "lmrec.service.store",
    "LiveModel": "lmrec.service.state",
    "ServiceLimits": "lmrec.service.limits",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lmrec.service' has no attribute {name!r}")
