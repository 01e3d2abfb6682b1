"""`lmrec serve MODEL_DIR` (the HTTP service) and `lmrec retrain MODEL_DIR` (refit from the event store).

Thin adapters: everything the service does is `lmrec.service.create_app`; `serve` only picks the address,
the event store, the token and the retrieval mode, and runs one uvicorn worker (the online histories live
in the process, so one process serves one store). `retrain` runs `RecommenderService.retrain` (the code
behind POST /admin/retrain) offline and saves the result, so a restarted service serves it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from lmrec.errors import LmrecError, OptionError

TOKEN_ENV = "LMREC_SERVICE_TOKEN"


RETRIEVAL_HELP = (
    "Ranking: exact (score the whole catalog), ann (FAISS index over the item vectors of ALS, BPR and "
    "sequence models), auto (ann for such models with a catalog of 50k+ items)."
)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(retrain)


def _check_model_dir(model_dir: Path) -> None:
    if not (model_dir / "model.json").is_file():
        raise OptionError(f"MODEL_DIR {model_dir} is not a saved lmrec model (no model.json)")


def _service_module() -> Any:
    try:
        import lmrec.service.core as core
    except ImportError as exc:
        raise LmrecError(
            f"this command needs the 'serve' extra ({exc.name} is missing): pip install 'lmrec[serve]'"
        ) from None
    return core


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
    retrieval: Annotated[str, typer.Option(help=RETRIEVAL_HELP)] = "auto",
    retrain_every: Annotated[
        float | None,
        typer.Option(
            min=1.0,
            help="Seconds between scheduled retrains inside the service (refit on the training data plus "
            "the stored events, then hot swap). Default: retrain only on POST /admin/retrain.",
        ),
    ] = None,
    retrain_min_events: Annotated[
        int, typer.Option(min=1, help="A scheduled retrain runs only with at least this many new events.")
    ] = 1,
) -> None:
    """Serve a saved model over HTTP with online learning (OpenAPI docs at /docs)."""
    from lmrec.retrieval import RETRIEVAL_MODES

    _check_model_dir(model_dir)
    if retrieval not in RETRIEVAL_MODES:
        raise OptionError(f"--retrieval must be one of {', '.join(RETRIEVAL_MODES)}, got {retrieval!r}")
    try:
        import uvicorn

        from lmrec.service.app import create_app
    except ImportError as exc:
        raise LmrecError(
            f"lmrec serve needs the 'serve' extra ({exc.name} is missing): pip install 'lmrec[serve]'"
        ) from None
    app = create_app(
        model_dir,
        store_url=store,
        token=token,
        table=table,
        retrieval=retrieval,
        retrain_every=retrain_every,
        retrain_min_events=retrain_min_events,
    )
    live = app.state.service.live
    schedule = "on request" if retrain_every is None else f"every {retrain_every:g} s"
    typer.echo(
        f"serving {live.model.name} from {model_dir} on http://{host}:{port} (docs: /docs; "
        f"retrieval: {live.retriever.mode}; retrain: {schedule})"
    )
    _tune_interpreter()
    uvicorn.run(app, host=host, port=port, log_level=log_level, workers=1)


def _tune_interpreter() -> None:
    """Process settings for low tail latency (this process only serves):

    - gc.freeze(): the model, the app and the libraries live as long as the process; moved out of the
      collector's generations, a full collection no longer walks them during a request;
    - a 1 ms GIL switch interval (default 5 ms): the event loop thread, which reads requests, waits at
      most that long for the lock while the recommendation worker runs Python code.
    """
    import gc
    import sys

    gc.collect()
    gc.freeze()
    sys.setswitchinterval(0.001)


def retrain(
    model_dir: Annotated[Path, typer.Argument(help="Saved model folder that a service serves.")],
    store: Annotated[
        str | None,
        typer.Option(
            help="SQLAlchemy URL of the event store (default: SQLite file events.sqlite in MODEL_DIR)."
        ),
    ] = None,
    table: Annotated[str, typer.Option(help="Event table name inside the store.")] = "lmrec_events",
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for the new model (default: replace the model in MODEL_DIR)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Training seed.")] = 0,
) -> None:
    """Refit a served model on its training data plus the stored feedback events and save it.

    The new model records the newest event it learned from, so a service restarted on it (with the same
    store) replays only the later events. Replacing MODEL_DIR swaps arrays.npz, then model.json, each
    atomically; a running service keeps its model until it restarts (or use POST /admin/retrain).
    """
    _check_model_dir(model_dir)
    core = _service_module()
    service = core.RecommenderService.open(model_dir, store_url=store, table=table, retrieval="exact")
    try:
        old = service.live.model
        before = {
            "users": len(old.user_vocab_),
            "items": len(old.item_vocab_),
            "events": service.live.events_upto,
        }
        old_interactions = int(old.history_.nnz)
        info = service.retrain(seed=seed)
        new = service.live.model
    finally:
        service.close()
    target = out if out is not None else model_dir
    _save_replacing(new, target)
    typer.echo(f"retrained {new.name} in {info['seconds']:.1f} s -> {target}")
    rows = [
        ("users", before["users"], len(new.user_vocab_)),
        ("items", before["items"], len(new.item_vocab_)),
        ("stored events in the model", before["events"], info["events_in_model"]),
        ("training interactions", old_interactions, int(new.history_.nnz)),
    ]
    for name, was, now in rows:
        typer.echo(f"  {name}: {was} -> {now} ({now - was:+d})")
    typer.echo(
        f"  events learned from: {info['events_used']} ({info['events_skipped']} skipped: item not in the "
        f"catalog), new users: {info['new_users']}"
    )
    if out is not None:
        where = store or core.sqlite_url(str(model_dir / core.STORE_FILE))
        typer.echo(f"serve it on the same store: lmrec serve {out} --store {where}")


def _save_replacing(model: Any, target: Path) -> None:
    """Save `model` into `target`, replacing a saved model there one file at a time (each atomically)."""
    import os
    import shutil
    import tempfile

    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".retrain-", dir=target))
    try:
        model.save(staging)
        for name in ("arrays.npz", "model.json"):  # model.json last: it names what arrays.npz holds
            os.replace(staging / name, target / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
