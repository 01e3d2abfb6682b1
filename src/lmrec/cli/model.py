"""`lmrec train | evaluate | recommend | similar`: one model at a time, on prepared data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.console import Console

from lmrec.cli.data import CATALOG_FILE, read_catalog, split_pairs
from lmrec.cli.output import check_positive, progress_console, training_log
from lmrec.errors import ConfigError, OptionError
from lmrec.models.registry import MODELS

if TYPE_CHECKING:
    from lmrec.data.display import ItemDisplay
    from lmrec.data.features import ItemFeatures
    from lmrec.data.splits import Split
    from lmrec.data.vocabulary import Vocabulary
    from lmrec.models.base import Recommender

console = Console()


def load_prepared(folder: Path) -> Split:
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


def load_model(path: Path) -> Recommender:
    """A saved model; a folder that holds none is a one-line `DataError`, not a traceback."""
    from lmrec.errors import DataError
    from lmrec.models.base import Recommender

    try:
        return Recommender.load(path)
    except (FileNotFoundError, ValueError) as exc:
        raise DataError(str(exc)) from exc


def raw_ids(vocab: Vocabulary, values: list[str], what: str) -> np.ndarray:
    """Indices of raw ids typed on the command line (integer vocabularies read them as integers).

    An id that is not in the vocabulary, or not an integer for an integer vocabulary, is an
    `UnknownIdError` naming it as typed.
    """
    return vocab.index(np.array(values, dtype=str), what=what)


def model_params(klass: type[Recommender], pairs: list[str] | None) -> dict[str, Any]:
    """`--param key=value` options read by the types of the model's config dataclass."""
    from lmrec.models.params import parse_param

    out: dict[str, Any] = {}
    for key, text in split_pairs(pairs, "--param").items():
        try:
            out[key] = parse_param(klass.config_class, key, text, klass.__name__)
        except ConfigError as exc:
            hint = (
                f" (`lmrec models {klass.name}` describes them)" if "its parameters are" in str(exc) else ""
            )
            raise ConfigError(f"--param {key}={text}: {exc}{hint}") from None
    return out


def _titled(row: dict[str, Any], display: ItemDisplay | None) -> dict[str, Any]:
    """A JSON line with the catalog's display fields beside its ids: `titles` and `fields` lists parallel
    to `items` (a list row), or `title`/`fields` inside each item (an explained row). Unchanged without
    a display catalog in the model folder (`lmrec.data.display`)."""
    if display is None:
        return row
    if row["items"] and isinstance(row["items"][0], dict):  # explained: one object per item
        for entry in row["items"]:
            entry.update(display.describe(entry["item"]))
            for reason in entry.get("because", []):
                title = display.title(reason["item"])
                if title is not None:
                    reason["title"] = title
        return row
    return {
        **row,
        "titles": [display.title(i) for i in row["items"]],
        "fields": [display.describe(i).get("fields", {}) for i in row["items"]],
    }


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(evaluate)
    app.command()(recommend)
    app.command()(similar)


def _check_item_text(klass: type[Recommender], item_text: str | None, template: str | None) -> bool:
    """Whether this model gets item text features; refuses options that do not fit the model."""
    if not klass.uses_item_features:
        if item_text is not None or template is not None:
            raise OptionError(f"model {klass.name} does not use item text; drop --item-text and --template")
        return False
    if item_text is None:
        if klass.requires_item_features:
            raise OptionError(
                f"model {klass.name} needs item text: pass --item-text ENCODER (minilm, tfidf, tfidf:256, "
                "or a sentence-transformers name or folder)"
            )
        if template is not None:
            raise OptionError("--template needs --item-text ENCODER")
        return False
    return True


def _item_features(data: Path, split: Split, encoder: str, template: str | None) -> ItemFeatures:
    """Item text embeddings from DATA/catalog.parquet, one row per item of the training vocabulary."""
    from lmrec.errors import DataError
    from lmrec.text import item_features
    from lmrec.text.encoders import make_encoder

    catalog = read_catalog(data)
    if catalog is None:
        raise DataError(
            f"{data} has no {CATALOG_FILE} to take item text from: the dataset has no item catalog, "
            "or the folder was prepared by an older lmrec (re-run `lmrec data prepare`)"
        )
    return item_features(
        catalog, split.train.item_vocab, make_encoder(encoder), template=template, progress=True
    )


def _training_summary(training: dict[str, Any]) -> str | None:
    """One line from a model's `training_` record, for the models that train in epochs."""
    if "epochs_run" not in training:
        return None
    line = f"epochs run {training['epochs_run']}, best epoch {training.get('best_epoch')}"
    if training.get("best_valid") is not None:
        line += f", best validation {training.get('metric')} {training['best_valid']:.4f}"
        if training.get("stopped_early"):
            line += " (stopped early)"
    else:
        line += " (no validation: weights of the last epoch)"
    return line + f", {training.get('seconds_per_epoch', 0.0):.2f}s per epoch"


def train(
    data: Annotated[Path, typer.Option(help="Prepared data folder (from `lmrec data prepare`).")],
    model: Annotated[str, typer.Option(help=f"Model name: {', '.join(MODELS)}.")],
    out: Annotated[Path, typer.Option(help="Folder to save the fitted model in.")],
    param: Annotated[list[str] | None, typer.Option(help="Hyper-parameter key=value (repeatable).")] = None,
    fit_on: Annotated[str, typer.Option(help="Data to fit on: train or train+valid.")] = "train",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    early_stopping: Annotated[
        bool,
        typer.Option(
            help="Models that train in epochs watch the validation split (with --fit-on train) and keep "
            "the best epoch."
        ),
    ] = True,
    select_by: Annotated[str, typer.Option(help="Validation metric for early stopping.")] = "NDCG@10",
    item_text: Annotated[
        str | None,
        typer.Option(
            help="Text encoder for content-aware models: minilm, tfidf, tfidf:256, or a "
            "sentence-transformers name or local folder (item text from DATA/catalog.parquet)."
        ),
    ] = None,
    template: Annotated[
        str | None,
        typer.Option(help='Item text template over catalog columns, e.g. "{title}. Genres: {genres}".'),
    ] = None,
) -> None:
    """Fit one model with given hyper-parameters and save it (arrays + JSON, no pickle)."""
    from lmrec.data.datacard import data_card
    from lmrec.eval.metrics import parse_metric
    from lmrec.models.fit_context import Validation
    from lmrec.models.registry import get_model_class, make_model
    from lmrec.resources import measure
    from lmrec.service.files import DATA_CARD_FILE

    if fit_on not in ("train", "train+valid"):
        raise OptionError("--fit-on must be train or train+valid")
    if model.lower() not in MODELS:
        raise OptionError(f"unknown model {model!r}; known models: {', '.join(MODELS)}")
    try:
        metric = parse_metric(select_by).label
    except ValueError as exc:
        raise OptionError(f"--select-by: {exc}") from None
    klass = get_model_class(model)
    recommender = make_model(model, model_params(klass, param))
    wants_text = _check_item_text(klass, item_text, template)
    split = load_prepared(data)
    fit_data = split.train if fit_on == "train" else split.train_valid()
    features = _item_features(data, split, str(item_text), template) if wants_text else None
    validation = None
    # validation targets are in the fit data under train+valid, so they cannot steer training then
    if klass.supports_validation and early_stopping and fit_on == "train" and len(split.valid) > 0:
        validation = Validation(split.valid, split.train, metric=metric)
    kwargs: dict[str, Any] = {}
    if features is not None:
        kwargs["item_features"] = features
    if validation is not None:
        kwargs["validation"] = validation
    progress = progress_console()  # per-epoch lines of the models that train in epochs, as in `lmrec run`
    with training_log(progress), progress.status(f"fitting {model} on {len(fit_data)} interactions"):
        with measure() as m:
            recommender.fit(fit_data, seed=seed, **kwargs)
    recommender.save(out)
    catalog = read_catalog(data)
    if catalog is not None:  # titles beside ids in `recommend`, `similar` and the service
        from lmrec.data.display import write_display

        write_display(out, catalog, recommender.item_vocab_)
    card = data_card(fit_data, name=f"{data.name} ({fit_on})").to_dict()
    (out / DATA_CARD_FILE).write_text(json.dumps(card, indent=2, default=str) + "\n")
    summary = _training_summary(getattr(recommender, "training_", {}))
    if summary is not None:
        console.print(summary)
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
    ray: Annotated[
        str | None,
        typer.Option("--ray", help="Evaluate user shards on Ray: 'local', 'auto' or HOST:PORT."),
    ] = None,
) -> None:
    """Full-ranking evaluation of a saved model on a prepared split."""
    from lmrec.errors import DataError
    from lmrec.eval import evaluate_ranking
    from lmrec.experiment.runner import user_popularity
    from lmrec.service.files import record_metrics

    check_positive(n, "-n")
    if split not in ("valid", "test"):
        raise OptionError("--split must be valid or test")
    rec = load_model(model)
    parts = load_prepared(data)
    if not np.array_equal(rec.item_vocab_.ids, parts.train.item_vocab.ids):
        raise DataError(f"model {model} was trained on a different item catalog than {data}")
    targets = parts.valid if split == "valid" else parts.test
    history = parts.train if split == "valid" else parts.train_valid()
    from lmrec.distributed import make_engine

    with make_engine(ray) as engine:
        res = evaluate_ranking(
            rec,
            targets.csr(),
            history.csr(),
            ns=n or [10, 20],
            exclude_history=not include_seen,
            item_popularity=user_popularity(history),
            n_train_users=int(np.count_nonzero(history.user_counts())),
            progress=True,
            sequences=history.sequences() if rec.uses_sequences else None,
            engine=engine,
        )
    summary = res.summary()
    for key, value in summary.items():
        console.print(f"{key:>24}: {value:.4f}" if isinstance(value, float) else f"{key:>24}: {value}")
    record_metrics(model, split, {"data": str(data), "exclude_seen": not include_seen, "metrics": summary})
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
        res.per_user.to_parquet(out / "per_user.parquet", index=False)


def recommend(
    model: Annotated[Path, typer.Option(help="Saved model folder.")],
    user: Annotated[list[str] | None, typer.Option(help="Raw user id (repeatable).")] = None,
    history: Annotated[
        list[str] | None,
        typer.Option(
            help="Raw item id of an anonymous user's history, oldest first (repeatable, in time order)."
        ),
    ] = None,
    n: Annotated[int, typer.Option("-n", help="How many items.")] = 10,
    include_seen: Annotated[bool, typer.Option(help="Allow items the user already interacted with.")] = False,
    explain: Annotated[
        bool,
        typer.Option(
            help="Say why: each component's score and rank (hybrids) and the closest history items."
        ),
    ] = False,
) -> None:
    """Top-n items as JSON lines: for known users (--user), or for one ad-hoc user given by an ordered
    history (--history ITEM --history ITEM ...)."""
    from lmrec.data.interactions import sequences_to_csr

    if bool(user) == bool(history):
        raise OptionError("give known users with --user, or one ad-hoc history with --history")
    from lmrec.data.display import ItemDisplay

    check_positive(n, "-n")
    rec = load_model(model)
    display = ItemDisplay.read(model)
    if user:
        idx = raw_ids(rec.user_vocab_, user, "user")
        if explain:
            from lmrec.hybrid.explain import explain as explain_recs

            for row in explain_recs(rec, idx, n, exclude_history=not include_seen):
                typer.echo(json.dumps(_titled(row, display)))
            return
        recs = rec.recommend(idx, n=n, exclude_history=not include_seen)
        for row in recs.to_records(rec.item_vocab_, rec.user_vocab_):
            typer.echo(json.dumps(_titled(row, display)))
        return
    assert history is not None
    seq = raw_ids(rec.item_vocab_, history, "item")
    if explain:
        from lmrec.hybrid.explain import explain as explain_recs

        (row,) = explain_recs(rec, np.array([-1]), n, sequences=[seq], exclude_history=not include_seen)
        typer.echo(json.dumps({**_titled(row, display), "history": rec.item_vocab_.id(seq).tolist()}))
        return
    # user -1: the model has not seen this user and scores the given history (ordered for sequence models)
    recs = rec.recommend(
        np.array([-1]),
        sequences_to_csr([seq], rec.n_items),
        n=n,
        exclude_history=not include_seen,
        sequences=[seq] if rec.uses_sequences else None,
    )
    row = recs.to_records(rec.item_vocab_)[0]
    out = {"user": None, "history": rec.item_vocab_.id(seq).tolist()}
    typer.echo(json.dumps(_titled({**out, "items": row["items"], "scores": row["scores"]}, display)))


def similar(
    model: Annotated[Path, typer.Option(help="Saved model folder (a model with item-to-item similarity).")],
    item: Annotated[list[str], typer.Option(help="Raw item id (repeatable).")],
    n: Annotated[int, typer.Option("-n", help="How many similar items.")] = 10,
) -> None:
    """Items most similar to each given item (models with `similar_items`, e.g. content), as JSON lines."""
    check_positive(n, "-n")
    rec = load_model(model)
    if not rec.has_similar_items:
        raise OptionError(
            f"model {rec.name} has no item-to-item similarity: it lacks the capability has_similar_items; "
            "use a model that has it (content)"
        )
    from lmrec.data.display import ItemDisplay

    display = ItemDisplay.read(model)
    idx = raw_ids(rec.item_vocab_, item, "item")
    items, scores = rec.similar_items(idx, n=n)
    for query, found, score in zip(idx, items, scores, strict=True):
        keep = (found >= 0) & np.isfinite(score)
        raw = rec.item_vocab_.id(query).item()
        row = {
            "item": raw,
            **({} if display is None or display.title(raw) is None else {"title": display.title(raw)}),
            "items": rec.item_vocab_.id(found[keep]).tolist(),
            "scores": score[keep].astype(float).tolist(),
        }
        typer.echo(json.dumps(_titled(row, display)))
