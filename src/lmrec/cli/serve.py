"""`lmrec serve MODEL_DIR` (the HTTP service) and `lmrec retrain MODEL_DIR` (refit from the event store).

Thin adapters: everything the service does is `lmrec.service.create_app`; `serve` only picks the address,
the event store, the token (and whether reads need it), the request limits and the retrieval mode, and
runs one uvicorn worker (the online histories live in the process, so one process serves one store).
`retrain` runs `RecommenderService.retrain` (the code behind POST /admin/retrain) offline; it saves the
result as the next version of the model folder (written, then switched atomically:
`lmrec.service.versions`), so a restarted service serves it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from lmrec.errors import LmrecError, OptionError

TOKEN_ENV = "LMREC_SERVICE_TOKEN"


AUTH_READS_HELP = (
    "Require the token for reads too: the recommendation and similar-items endpoints, and /model and "
    "/metrics, which show the model's config, training log, data card and traffic. Without it only writes "
    "(events, retrain) need the token and everything else is public. /health and /docs stay open."
)
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
    auth_reads: Annotated[bool, typer.Option("--auth-reads", help=AUTH_READS_HELP)] = False,
    max_body_bytes: Annotated[
        int,
        typer.Option(
            min=1,
            help="Largest request body (bytes) of the recommendation endpoints; a larger one is answered "
            "413 without being read.",
        ),
    ] = 1 << 20,
    max_event_body_bytes: Annotated[
        int, typer.Option(min=1, help="Largest request body (bytes) of POST /events and /events/batch.")
    ] = 16 << 20,
    max_batch_cost: Annotated[
        int,
        typer.Option(
            min=1,
            help="Largest users x n of one POST /recommendations/batch (the items it returns); more is "
            "answered 422 before anything is scored.",
        ),
    ] = 100_000,
    max_concurrent_batches: Annotated[
        int,
        typer.Option(
            min=1,
            help="Batch recommendations computed at once; later ones wait their turn (bounds the memory "
            "and cores they take, so /health and single users stay fast).",
        ),
    ] = 2,
) -> None:
    """Serve a saved model over HTTP with online learning (OpenAPI docs at /docs).

    Writes need the token (when one is given); reads are public unless --auth-reads. Request bodies and
    batch sizes are capped (the --max-* options), so that no request can exhaust the process.
    """
    from lmrec.retrieval import RETRIEVAL_MODES

    _check_model_dir(model_dir)
    if retrieval not in RETRIEVAL_MODES:
        raise OptionError(f"--retrieval must be one of {', '.join(RETRIEVAL_MODES)}, got {retrieval!r}")
    if auth_reads and token is None:
        raise OptionError(f"--auth-reads needs a token (--token or ${TOKEN_ENV})")
    try:
        import uvicorn

        from lmrec.service.app import create_app
        from lmrec.service.limits import ServiceLimits
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
        limits=ServiceLimits(
            max_body_bytes=max_body_bytes,
            max_event_body_bytes=max_event_body_bytes,
            max_batch_cost=max_batch_cost,
            max_concurrent_batches=max_concurrent_batches,
        ),
        auth_reads=auth_reads,
    )
    warning = exposure_warning(host, token)
    if warning is not None:
        typer.echo(f"warning: {warning}", err=True)
    live = app.state.service.live
    schedule = "on request" if retrain_every is None else f"every {retrain_every:g} s"
    typer.echo(
        f"serving {live.model.name} from {model_dir} on http://{host}:{port} (explorer: /explorer; "
        f"docs: /docs; retrieval: {live.retriever.mode}; retrain: {schedule}; token needed by: "
        f"{'nothing' if token is None else 'reads and writes' if auth_reads else 'writes'})"
    )
    _tune_interpreter()
    uvicorn.run(app, host=host, port=port, log_level=log_level, workers=1)


def exposure_warning(host: str, token: str | None) -> str | None:
    """What to tell the operator when the service listens beyond this machine without a token."""
    import ipaddress

    if token is not None or host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:  # a host name: it may resolve to anything
        pass
    return (
        f"serving on {host} without a token: anyone who can reach the port can post events, retrain the "
        f"model and read /model and /metrics; set --token (or ${TOKEN_ENV}), and --auth-reads to protect "
        "reads too"
    )


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
    store) replays only the later events. The new version is written to MODEL_DIR/versions/ (or --out),
    then model.json is switched to it in one atomic rename; a running service keeps its model until it
    restarts (or use POST /admin/retrain).
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
        info = service.retrain(seed=seed, save=out is None)  # saves into MODEL_DIR itself
        new = service.live.model
    finally:
        service.close()
    target = out if out is not None else model_dir
    if out is not None:
        from lmrec.service.versions import save_version

        save_version(new, out, info["version"])
    typer.echo(f"retrained {new.name} in {info['seconds']:.1f} s -> {target} (version {info['version']})")
    rows = [
        ("users", before["users"], len(new.user_vocab_)),
        ("items", before["items"], len(new.item_vocab_)),
        ("stored events in the model", before["events"], info["events_in_model"]),
        ("training interactions", old_interactions, int(new.history_.nnz)),
    ]
    for name, was, now in rows:
        typer.echo(f"  {name}: {was} -> {now} ({now - was:+d})")
    typer.echo(f"  events learned from: {info['events_used']}, new users: {info['new_users']}")
    if info["events_skipped"]:
        typer.echo(
            f"  events not learned from: {info['events_skipped']} (item not in the catalog; kept as unused, "
            f"retried by the next retrain), e.g. event ids {info['unused_event_ids'][:5]}"
        )
    if out is not None:
        where = store or core.sqlite_url(str(model_dir / core.STORE_FILE))
        typer.echo(f"serve it on the same store: lmrec serve {out} --store {where}")
