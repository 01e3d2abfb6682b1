"""`lmrec simulate`: the closed-loop simulator (`lmrec.simulation`) from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command()(simulate)


def simulate(
    experiment: Annotated[
        Path, typer.Argument(help="Simulation YAML file (see examples/simulate_ml100k.yaml).")
    ],
    out: Annotated[
        Path | None, typer.Option(help="Results folder (default: the file's `output` or runs/NAME).")
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(help="Reuse the (policy, seed) runs a stopped simulation finished; run only the rest."),
    ] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar; only the results folder is printed.")] = False,
) -> None:
    """Simulate policies in a closed loop with users fitted on a real log; write results.json,
    per_round.parquet, plots.html and plots.png."""
    from lmrec.simulation import load_simulation
    from lmrec.simulation import simulate as run

    sim = load_simulation(experiment)
    result = run(sim, out=out, resume=resume, progress=not quiet)
    if not quiet:
        for policy, at in result.results["summary"].items():
            last = at[max(at, key=lambda k: int(k.split()[1]))]
            typer.echo(
                f"{policy:>28}  utility {last['cumulative_utility']['mean']:.3f}  "
                f"retention {last['retention']['mean']:.3f}  "
                f"jaccard {last['jaccard_consumed']['mean']:.4f}  coverage {last['coverage']['mean']:.3f}"
            )
    typer.echo(str(result.folder))
