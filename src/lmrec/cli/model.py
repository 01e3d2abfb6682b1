"""`lmrec train | evaluate | recommend`: one model at a time, on prepared data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from rich.console import Console

from lmrec.cli.data import parse_pairs

console = Console()


def load_prepared(folder: Path):  # type: ignore[no-untyped-def]
    """The split written by `lmrec data prepare` (vocabularies rebuilt from the union of the parts)."""
    from lmrec.data.splits import split_from_frames
    from lmrec.errors import DataError

    parts = {}
    for part in ("train", "valid", "test"):
        path = folder / f"{part}.parquet"
        if not path.is_file():
            raise DataError(
                f"{folder} is not a prepared data folder: {path.name} is missing "
                "(create it with `lmrec data prepare EXPERIMENT --out FOLDER`)"
            )
        parts[part] = pd.read_parquet(path)
    return split_from_frames(parts["train"], parts["valid"], parts["test"])


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(evaluate)
    app.command()(recommend)


def train(
    data: Annotated[Path, typer.Option(help="Prepared data folder (from `lmrec data prepare`).")],
    model: Annotated[str, typer.Option(help="Model name: pop, itemknn, ease, als, bpr, biasedmf.")],
    out: Annotated[Path, typer.Option(help="Folder to save the fitted model in.")],
    param: Annotated[list[str] | None, typer.Option(help="Hyper-parameter key=value (repeatable).")] = None,
    fit_on: Annotated[str, typer.Option(help="Data to fit on: train or train+valid.")] = "train",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
) -> None:
    """Fit one model with given hyper-parameters and save it (arrays + JSON, no pickle)."""
    from lmrec.models.registry import get_model_class
    from lmrec.resources import measure

    if fit_on not in ("train", "train+valid"):
        raise typer.BadParameter("--fit-on must be train or train+valid")
    split = load_prepared(data)
    fit_data = split.train if fit_on == "train" else split.train_valid()
    recommender = get_model_class(model)(**parse_pairs(param, "--param"))
    with console.status(f"fitting {model} on {len(fit_data)} interactions"), measure() as m:
        recommender.fit(fit_data, seed=seed)
    recommender.save(out)
    console.print(
        f"fitted {recommender!r} in {m.seconds:.1f}s (peak RSS {m.peak_rss_mb:.0f} MB); saved to {out}"
    )


def evaluate(
    model: Annotated[Path, typer.Option(help="Saved model folder.")],
    data: Annotated[Path, typer.Option(help="Prepared data folder the model was trained from.")],
    split: Annotated[
        str, typer.Option(help="Which targets: valid (history=train) or test (history=train+valid).")
    ] = "test",
    n: Annotated[list[int] | None, typer.Option("-n", help="List length (repeatable).")] = None,
    include_seen: Annotated[bool, typer.Option(help="Keep history items in the ranking.")] = False,
    out: Annotated[Path | None, typer.Option(help="Write summary JSON and per-user Parquet here.")] = None,
) -> None:
    """Full-ranking evaluation of a saved model on a prepared split."""
    from lmrec.errors import DataError
    from lmrec.eval import evaluate_ranking
    from lmrec.experiment.runner import user_popularity
    from lmrec.models.base import Recommender

    rec = Recommender.load(model)
    parts = load_prepared(data)
    if not np.array_equal(rec.item_vocab_.ids, parts.train.item_vocab.ids):
        raise DataError(f"model {model} was trained on a different item catalog than {data}")
    if split not in ("valid", "test"):
        raise typer.BadParameter("--split must be valid or test")
    targets = parts.valid if split == "valid" else parts.test
    history = parts.train if split == "valid" else parts.train_valid()
    res = evaluate_ranking(
        rec,
        targets.csr(),
        history.csr(),
        ns=n or [10, 20],
        exclude_history=not include_seen,
        item_popularity=user_popularity(history),
        n_train_users=int(np.count_nonzero(history.user_counts())),
        progress=True,
    )
    summary = res.summary()
    for key, value in summary.items():
        console.print(f"{key:>24}: {value:.4f}" if isinstance(value, float) else f"{key:>24}: {value}")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
        res.per_user.to_parquet(out / "per_user.parquet", index=False)


def recommend(
    model: Annotated[Path, typer.Option(help="Saved model folder.")],
    user: Annotated[list[str], typer.Option(help="Raw user id (repeatable).")],
    n: Annotated[int, typer.Option("-n", help="How many items.")] = 10,
    include_seen: Annotated[bool, typer.Option(help="Allow items the user already interacted with.")] = False,
) -> None:
    """Top-n items for known users of a saved model, as JSON lines."""
    from lmrec.models.base import Recommender

    rec = Recommender.load(model)
    ids = [int(u) if rec.user_vocab_.is_integer and u.lstrip("-").isdigit() else u for u in user]
    for row in rec.recommend_ids(ids, n=n, exclude_history=not include_seen):
        typer.echo(json.dumps(row))
