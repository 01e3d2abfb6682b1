"""`lmrec data ...`: inspect datasets and write prepared (cleaned, split) data to disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from lmrec.errors import OptionError

if TYPE_CHECKING:
    from lmrec.data.catalog import ItemCatalog

app = typer.Typer(help="Inspect and prepare datasets.", no_args_is_help=True)
console = Console()

CATALOG_FILE = "catalog.parquet"
"""Item catalog of a prepared folder: column `item` (raw item id) plus the catalog's columns."""


def split_pairs(pairs: list[str] | None, what: str) -> dict[str, str]:
    """`key=value` options as text, key -> value."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise OptionError(f"{what} must look like key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = value
    return out


def parse_pairs(pairs: list[str] | None, what: str) -> dict[str, object]:
    """`key=value` options; values are parsed as YAML scalars (numbers, booleans, null, strings)."""
    import yaml

    return {key: yaml.safe_load(value) for key, value in split_pairs(pairs, what).items()}


@app.command("list")
def list_datasets() -> None:
    """Datasets lmrec knows by name, with their official source and terms."""
    from lmrec.data.download import DATASETS

    for name, entry in sorted(DATASETS.items()):
        url = getattr(entry, "url", None) or "local path required"
        console.print(f"[bold]{name}[/]: {url}")


@app.command()
def info(
    dataset: Annotated[str, typer.Argument(help="Dataset name (see `lmrec data list`) or a local path.")],
    data: Annotated[str | None, typer.Option(help="Local copy (folder/zip) for a named dataset.")] = None,
    clean_opt: Annotated[
        list[str] | None, typer.Option("--clean", help="Cleaning option key=value (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of Markdown.")] = False,
    encoding: Annotated[
        str | None,
        typer.Option(help="Encoding of the data files (default UTF-8), e.g. latin-1 or cp1252."),
    ] = None,
    data_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="Read the path as this format instead of guessing from its name: movielens, amazon, "
            "sequences, user-item-lines, tabular or unisrec.",
        ),
    ] = None,
) -> None:
    """Load, clean and describe a dataset: data card and cleaning report (every dropped row counted)."""
    from lmrec.data.cleaning import clean
    from lmrec.data.datacard import data_card
    from lmrec.data.loaders import load_dataset
    from lmrec.experiment.prepare import cleaning_config

    options: dict[str, Any] = {} if encoding is None else {"encoding": encoding}
    if data_format is not None:
        options["format"] = data_format  # an unknown one is load_dataset's DataError, listing the formats
    raw = load_dataset(dataset, path=data, **options) if data else load_dataset(dataset, **options)
    inter, report = clean(raw, cleaning_config(parse_pairs(clean_opt, "--clean")))
    card = data_card(inter, name=raw.name, timestamp_kind=report.timestamp_kind)
    if as_json:
        typer.echo(
            json.dumps(
                {"cleaning": report.to_dict(), "card": card.to_dict(), "source": raw.meta},
                indent=2,
                default=str,
            )
        )
        return
    console.print(card.to_markdown())
    console.print(report.summary(), markup=False, soft_wrap=True)
    for warning in raw.meta.get("warnings", []):
        console.print(f"warning: {warning}", markup=False, soft_wrap=True)


@app.command()
def prepare(
    experiment: Annotated[
        Path, typer.Argument(help="Experiment YAML whose dataset/cleaning/split to apply.")
    ],
    out: Annotated[
        Path,
        typer.Option(help="Folder for train/valid/test Parquet, catalog.parquet (if any) and prepare.json."),
    ],
    data: Annotated[str | None, typer.Option(help="Local copy of the dataset (folder or zip).")] = None,
) -> None:
    """Load, clean and split as the experiment says; write the parts so other tools can use the same split."""
    from lmrec.experiment.config import load_experiment
    from lmrec.experiment.prepare import prepare as run_prepare
    from lmrec.experiment.report import write_json

    exp = load_experiment(experiment)
    prep = run_prepare(exp, data_path=data)
    out.mkdir(parents=True, exist_ok=True)
    for part in ("train", "valid", "test"):
        getattr(prep.split, part).to_frame().to_parquet(out / f"{part}.parquet", index=False)
    written = ["train.parquet", "valid.parquet", "test.parquet"]
    (out / CATALOG_FILE).unlink(missing_ok=True)  # a stale catalog must not outlive a re-prepare
    if prep.catalog is not None:
        write_catalog(prep.catalog, out / CATALOG_FILE)
        written.append(CATALOG_FILE)
    write_json(
        out / "prepare.json",
        {
            "experiment": exp.name,
            "source": prep.raw_meta,
            "cleaning": {k: v.to_dict() for k, v in prep.cleaning.items()},
            "card": prep.card.to_dict(),
            "split": prep.split.describe(),
            "leakage_check": prep.leakage,
            "text_fields": None if prep.catalog is None else list(prep.catalog.text_fields),
        },
    )
    console.print(f"wrote {out}/{', '.join(written)} and prepare.json")


def write_catalog(catalog: ItemCatalog, path: Path) -> None:
    """The catalog as Parquet: the raw item id becomes column `item`, every catalog column is kept."""
    from lmrec.errors import DataError

    if "item" in catalog.frame.columns:
        raise DataError("the item catalog has a column named 'item', which clashes with the item id column")
    catalog.frame.rename_axis("item").reset_index().to_parquet(path, index=False)


def read_catalog(folder: Path) -> ItemCatalog | None:
    """The catalog `lmrec data prepare` wrote into `folder`, or None when the dataset had none.

    Text fields come from prepare.json; a folder without them falls back to every string column.
    """
    import pandas as pd

    from lmrec.data.catalog import ItemCatalog
    from lmrec.errors import DataError

    path = folder / CATALOG_FILE
    if not path.is_file():
        return None
    frame = pd.read_parquet(path)
    if "item" not in frame.columns:
        raise DataError(f"{path} has no 'item' column (raw item ids); re-create it with `lmrec data prepare`")
    frame = frame.set_index("item")
    meta_file = folder / "prepare.json"
    fields = json.loads(meta_file.read_text()).get("text_fields") if meta_file.is_file() else None
    if fields is None:
        fields = [c for c in frame.columns if pd.api.types.is_string_dtype(frame[c])]
    try:
        return ItemCatalog(frame, tuple(fields))
    except ValueError as exc:
        raise DataError(f"{path}: {exc}") from exc
