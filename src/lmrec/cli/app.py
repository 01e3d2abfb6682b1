"""The `lmrec` command: thin typer adapters over the Python API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lmrec import __version__
from lmrec.cli import data as data_cmd
from lmrec.cli import items as items_cmd
from lmrec.cli import model as model_cmd
from lmrec.cli import serve as serve_cmd
from lmrec.errors import LmrecError

app = typer.Typer(
    name="lmrec",
    help="Recommenders with pretrained models, measured honestly.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(data_cmd.app, name="data")
app.add_typer(items_cmd.app, name="items")
model_cmd.register(app)
serve_cmd.register(app)

console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lmrec {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """lmrec command line."""


@app.command()
def run(
    experiment: Annotated[Path, typer.Argument(help="Experiment YAML file (see examples/).")],
    out: Annotated[
        Path | None, typer.Option(help="Results folder (default: the file's `output` or runs/NAME).")
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(help="Local copy of the dataset (folder or zip); overrides the download."),
    ] = None,
    threads: Annotated[
        int | None, typer.Option(help="Threads for BLAS and implicit (default: all cores).")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="Only print the leaderboard.")] = False,
    resume: Annotated[
        bool,
        typer.Option(
            help="Reuse the models a stopped run of this experiment finished (partial results in the "
            "results folder) and continue a sequence model stopped mid-training from its last checkpoint; "
            "train only the rest."
        ),
    ] = False,
) -> None:
    """Run an experiment: load, clean, split, tune on validation, score the test split once, write results."""
    import dataclasses

    from lmrec.experiment.config import load_experiment
    from lmrec.experiment.pipeline import run_experiment

    exp = load_experiment(experiment)
    if threads is not None:
        exp = dataclasses.replace(exp, threads=threads)
    out_console = Console(stderr=True, quiet=quiet, log_path=False)
    if not quiet:  # per-epoch lines of the models that train in epochs
        import logging

        from rich.logging import RichHandler

        train_log = logging.getLogger("lmrec.train")
        train_log.setLevel(logging.INFO)
        train_log.addHandler(RichHandler(console=out_console, show_path=False))
    run_experiment(
        exp,
        out=out,
        data_path=data,
        console=out_console,
        progress=not quiet,
        show_table=True,
        resume=resume,
    )


def main() -> None:
    """Entry point: LmrecErrors become one clear line and exit code 2, not a traceback."""
    try:
        app()
    except LmrecError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise SystemExit(2) from None
