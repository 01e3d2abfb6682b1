"""`lmrec serve MODEL_DIR`: the HTTP service (FastAPI under uvicorn) over a saved model.

A thin adapter: everything the service does is `lmrec.service.create_app`; this command only picks the
address, the event store and the token, and runs one uvicorn worker (the online histories live in the
process, so one process serves one store).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmrec.errors import LmrecError

TOKEN_ENV = "LMREC_SERVICE_TOKEN"


def register(app: typer.Typer) -> None:
    app.command()(serve)


def serve(
    model_dir: Annotated[Path, typer.Argument(help="Saved model folder (from `lmrec train`).")],
    host: Annotated[
        str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    store: Annotated[
        str | None,
        typer.Option(
            help="SQLAlchemy URL of the event store, e.g. postgresql+psycopg://user@host/db "
            "(default: SQLite file events.sqlite in MODEL_DIR, WAL mode)."
        ),
    ] = None,
    table: Annotated[str, typer.Option(help="Event table name inside the store.")] = "lmrec_events",
    token: Annotated[
        str | None,
        typer.Option(
            envvar=TOKEN_ENV,
            help=f"Bearer token the write endpoints (events, retrain) require; also read from ${TOKEN_ENV}, "
            "which keeps it out of the process list.",
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option(help="uvicorn log level: critical, error, warning, info, debug.")
    ] = "info",
) -> None:
    """Serve a saved model over HTTP with online learning (OpenAPI docs at /docs)."""
    if not (model_dir / "model.json").is_file():
        raise typer.BadParameter(
            f"{model_dir} is not a saved lmrec model (no model.json)", param_hint="MODEL_DIR"
        )
    try:
        import uvicorn

        from lmrec.service.app import create_app
    except ImportError as exc:
        raise LmrecError(
            f"lmrec serve needs the 'serve' extra ({exc.name} is missing): pip install 'lmrec[serve]'"
        ) from None
    app = create_app(model_dir, store_url=store, token=token, table=table)
    typer.echo(
        f"serving {app.state.service.live.model.name} from {model_dir} on http://{host}:{port} (docs: /docs)"
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level, workers=1)
