"""`lmrec recommend-all`: top-n lists of every known user (or a list of users) into a Parquet file, in
this process or on a Ray cluster (`--ray`), with the same lists either way (`lmrec.distributed.batch`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmrec.cli.output import check_positive

RAY_HELP = (
    "Run on Ray: 'local' (a Ray instance for this command), 'auto' (the cluster `ray start` made on this "
    "machine) or HOST:PORT of a cluster's head. Default: this process."
)


def register(app: typer.Typer) -> None:
    app.command(name="recommend-all")(recommend_all)


def recommend_all(
    model: Annotated[Path, typer.Option(help="Saved model folder.")],
    out: Annotated[Path, typer.Option(help="Parquet file to write: user, rank, item, score.")],
    n: Annotated[int, typer.Option("-n", help="How many items per user.")] = 10,
    user: Annotated[list[str] | None, typer.Option(help="Raw user id (repeatable; default: all).")] = None,
    include_seen: Annotated[bool, typer.Option(help="Allow items the user already interacted with.")] = False,
    batch_size: Annotated[int, typer.Option(help="Users scored per batch.")] = 1024,
    ray: Annotated[str | None, typer.Option("--ray", help=RAY_HELP)] = None,
) -> None:
    """Top-n items of many known users from their training history, as a long Parquet table."""
    import time

    from lmrec.cli.model import load_model, raw_ids
    from lmrec.distributed import make_engine
    from lmrec.distributed.batch import recommend_users, recommendations_frame

    check_positive(n, "-n")
    check_positive(batch_size, "--batch-size")
    rec = load_model(model)
    users = None if not user else raw_ids(rec.user_vocab_, user, "user")
    started = time.perf_counter()
    with make_engine(ray) as engine:
        recs = recommend_users(
            rec, users, n, exclude_history=not include_seen, batch_size=batch_size, engine=engine
        )
    frame = recommendations_frame(recs, rec)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False)
    seconds = time.perf_counter() - started
    typer.echo(
        f"{recs.users.size} users, {len(frame)} rows in {seconds:.1f}s "
        f"({recs.users.size / max(seconds, 1e-9):.0f} users/s) -> {out}"
    )
