"""`lmrec items add`: add items with their text to a saved model's catalog, offline, without retraining.

The offline twin of the service's `POST /items` (models with the capability `adds_items_from_text`:
textseq, or a switching hybrid with rule item_count whose first component is textseq). Items come from a
JSON-lines file (`{"item": id, "text": "..."}`, `{"item": id, "fields": {...}}` or
`{"item": id, "vector": [...]}` per line) or a CSV file (column `item`, then `text` or catalog fields).
Texts are encoded by the encoder the model recorded at fit time (see `lmrec.text.new_items`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

app = typer.Typer(
    help="Add items to a saved model's catalog (models that add items from text).", no_args_is_help=True
)


@app.command("add")
def add(
    model: Annotated[Path, typer.Option(help="Saved model folder (textseq, or a switching hybrid with it).")],
    items: Annotated[
        Path,
        typer.Option(
            help='New items: .jsonl ({"item": id, "text": "..."} | "fields": {...} | "vector": [...] per '
            "line) or .csv (column item, then text or catalog field columns)."
        ),
    ],
    out: Annotated[
        Path | None, typer.Option(help="Folder for the model with the new items (default: replace MODEL).")
    ] = None,
) -> None:
    """Encode the new items' texts as the model was trained, add them and save the model."""
    from lmrec.cli.model import load_model
    from lmrec.errors import CapabilityError, DataError
    from lmrec.models.base import lacks_adds_items
    from lmrec.text.new_items import NewItemEncoder, read_new_items

    recommender = load_model(model)
    if not recommender.adds_items_from_text:
        raise lacks_adds_items(recommender)
    recipe = recommender.item_text_recipe()
    if recipe is None:
        raise CapabilityError(f"{recommender.name} records no item text recipe: it cannot add items")
    new = read_new_items(items)
    tuned = recommender.tuned_text_encoder()
    encoder = NewItemEncoder(recipe, int(recipe["dim"]), model_name=recommender.name, tuned=tuned)
    vectors = encoder.vectors(new)
    before = recommender.n_items
    try:
        recommender.add_items(np.array([i.item for i in new], dtype=object), vectors)
    except ValueError as exc:
        raise DataError(f"{items}: {exc}") from None
    target = out if out is not None else model
    save_replacing(recommender, target)
    typer.echo(
        f"added {len(new)} item(s) to {recommender.name}: catalog {before} -> {recommender.n_items} items; "
        f"saved to {target}"
    )


def save_replacing(model: object, target: Path) -> None:
    """Save `model` into `target`, replacing a saved model there one file at a time (each atomically;
    sub-folders of hybrids too; the top-level model.json last, as it names what the arrays hold)."""
    import os
    import shutil
    import tempfile

    from lmrec.models.base import Recommender

    assert isinstance(model, Recommender)
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".items-", dir=target))
    try:
        model.save(staging)
        files = sorted(p for p in staging.rglob("*") if p.is_file())
        files.sort(key=lambda p: p.relative_to(staging) == Path("model.json"))
        for path in files:
            dest = target / path.relative_to(staging)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
