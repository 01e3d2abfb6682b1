"""`lmrec models`: every model with its parameters, types, defaults and docs (`lmrec.models.describe`)."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command(name="models")(models)


def models(
    name: Annotated[
        list[str] | None, typer.Argument(help="Model names to show (default: every registered model).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """List the models `--model`, `make_model` and experiment files accept, with every parameter's type,
    default and one-line doc, read from the model's config dataclass."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from lmrec.errors import OptionError
    from lmrec.experiment.report import jsonable
    from lmrec.models.describe import describe_models
    from lmrec.models.registry import MODELS

    unknown = [n for n in name or [] if n.lower() not in MODELS]
    if unknown:
        raise OptionError(f"unknown model(s) {', '.join(unknown)}; known models: {', '.join(MODELS)}")
    infos = describe_models([n.lower() for n in name] if name else None)
    if as_json:
        typer.echo(json.dumps([jsonable(i.to_dict()) for i in infos], indent=2, ensure_ascii=False))
        return
    console = Console(width=max(Console().width, 120), soft_wrap=False)
    for info in infos:
        caps = f" [dim]({', '.join(info.capabilities)})[/dim]" if info.capabilities else ""
        console.print(f"\n[bold]{info.name}[/bold] — {info.class_name}: {info.doc}{caps}", highlight=False)
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for column in ("parameter", "type", "default", "what it does"):
            table.add_column(column, overflow="fold")
        for p in info.params:
            table.add_row(p.name, p.type, json.dumps(jsonable(p.default), ensure_ascii=False), p.doc)
        console.print(table)
