"""The `lmrec` command: thin typer adapters over the Python API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmrec import __version__
from lmrec.cli import batch as batch_cmd
from lmrec.cli import data as data_cmd
from lmrec.cli import items as items_cmd
from lmrec.cli import model as model_cmd
from lmrec.cli import models as models_cmd
from lmrec.cli import report as report_cmd
from lmrec.cli import serve as serve_cmd
from lmrec.cli import simulate as simulate_cmd
from lmrec.cli.output import LmrecGroup, progress_console, training_log

app = typer.Typer(
    name="lmrec",
    cls=LmrecGroup,  # user errors: one or two lines and exit code 2 (see cli/output.py)
    help="Recommenders with pretrained models, measured honestly.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(data_cmd.app, name="data")
app.add_typer(items_cmd.app, name="items")
model_cmd.register(app)
batch_cmd.register(app)
models_cmd.register(app)
report_cmd.register(app)
serve_cmd.register(app)
simulate_cmd.register(app)


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
    ray: Annotated[str | None, typer.Option("--ray", help=batch_cmd.RAY_HELP)] = None,
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
    if ray is not None:  # the file's other ray options stay
        from lmrec.experiment.config import RaySpec

        exp = dataclasses.replace(exp, ray=dataclasses.replace(exp.ray or RaySpec(), address=ray))
    out_console = progress_console(quiet=quiet)
    with training_log(out_console):  # per-epoch lines, in the format of the run's own lines
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
    """Entry point of the `lmrec` script (user errors are handled by `LmrecGroup`, inside the app)."""
    app()
