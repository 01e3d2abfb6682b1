"""`lmrec report RUN_DIR`: the HTML report (and its JSON) of a results folder (`lmrec.report`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command()(report)


def report(
    run_dir: Annotated[
        Path, typer.Argument(help="Results folder of `lmrec run` or `lmrec simulate` (holds results.json).")
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="HTML file to write (default: RUN_DIR/report.html); the JSON goes beside it."),
    ] = None,
) -> None:
    """Write one self-contained HTML report (plots embedded, works offline) and a JSON file with every
    number behind its plots, from the files of a results folder."""
    from lmrec.report import write_report

    try:
        path = write_report(run_dir, out)
    except ModuleNotFoundError as exc:
        from lmrec.errors import OptionError

        raise OptionError(f"the report needs {exc.name}: pip install 'lmrec[report]'") from None
    typer.echo(str(path))
