"""Items added to a fitted model's catalog after training: each given by its text, its catalog fields or a
ready text vector, turned into the vector the model expects.

A model that adds items from text (`Recommender.adds_items_from_text`, e.g. `textseq`) recorded at fit time
how its training vectors were made (`item_text_recipe()`: the `make_encoder` spec and the text template).
`NewItemEncoder` rebuilds that encoder and encodes new texts the same way:

- `text`: the item's text, encoded as it is;
- `fields`: catalog fields ({"title": ..., "genres": ...}) rendered by the recorded template first;
- `vector`: a text vector made elsewhere with the same encoder, used as it is.

Texts can only be encoded by an encoder whose vector of a text does not depend on other texts: a
corpus-dependent encoder (TF-IDF + SVD, fitted on the training catalog) would put a new text in another
space, so it is refused with a message saying to post vectors or to train with a pretrained encoder.
The HTTP service (`POST /items`) and the CLI (`lmrec items add`) both go through here.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lmrec.errors import DataError, LmrecError

ITEM_KEYS = ("item", "text", "fields", "vector")


class NewItemError(LmrecError, ValueError):
    """A new item cannot be turned into a text vector for this model; the message says what to give."""


@dataclass(frozen=True)
class NewItem:
    """One item to add: its raw id and exactly one of text, fields or vector."""

    item: int | str
    text: str | None = None
    fields: Mapping[str, Any] | None = None
    vector: Sequence[float] | None = None
    where: str = ""
    """Where the item was read ("items.jsonl:3"), for error messages."""

    def __post_init__(self) -> None:
        given = [k for k in ("text", "fields", "vector") if getattr(self, k) is not None]
        if len(given) != 1:
            what = "none" if not given else " and ".join(given)
            raise NewItemError(f"{self._at()}give exactly one of text, fields or vector, not {what}")
        if self.text is not None and not self.text.strip():
            raise NewItemError(f"{self._at()}text is empty")

    def _at(self) -> str:
        return f"{self.where}: item {self.item!r}: " if self.where else f"item {self.item!r}: "


class NewItemEncoder:
    """Text vectors of new items for a model, made as its `item_text_recipe()` says.

    recipe: the model's recorded recipe (None: the model has none, only `vector` items work).
    dim: length of the model's text vectors. The encoder is loaded on first use and kept.
    tuned: the model's own fine-tuned text encoder (`Recommender.tuned_text_encoder()`), used instead of
    the recipe's pretrained one; the recipe still renders `fields` into text.
    """

    def __init__(
        self,
        recipe: Mapping[str, Any] | None,
        dim: int,
        *,
        model_name: str = "the model",
        tuned: Any = None,
    ) -> None:
        self.recipe = dict(recipe) if recipe is not None else None
        self.dim = int(dim)
        self.model_name = model_name
        self._encoder: Any = tuned

    def vectors(self, items: Sequence[NewItem]) -> np.ndarray:
        """(len(items), dim) float32 text vectors, in order."""
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        texts: list[str] = []
        rows: list[int] = []
        for row, item in enumerate(items):
            if item.vector is not None:
                out[row] = self._vector(item)
                continue
            text = item.text if item.text is not None else self._render(item)
            texts.append(text)
            rows.append(row)
        if texts:
            encoded = np.asarray(self._text_encoder().encode(texts), dtype=np.float32)
            if encoded.shape != (len(texts), self.dim):
                raise NewItemError(
                    f"the text encoder gave vectors of shape {encoded.shape}, but {self.model_name} reads "
                    f"text vectors of length {self.dim}"
                )
            out[rows] = encoded
        return out

    def _vector(self, item: NewItem) -> np.ndarray:
        try:
            with np.errstate(over="ignore"):  # a number beyond float32 becomes inf, refused below
                vec = np.asarray(item.vector, dtype=np.float32).reshape(-1)
        except (TypeError, ValueError):
            raise NewItemError(f"{item._at()}vector must be a list of numbers") from None
        if vec.shape != (self.dim,):
            raise NewItemError(
                f"{item._at()}vector has {vec.shape[0]} numbers, but {self.model_name} reads text vectors "
                f"of length {self.dim}"
            )
        if not np.isfinite(vec).all():
            raise NewItemError(f"{item._at()}vector holds NaN or infinity")
        return vec

    def _render(self, item: NewItem) -> str:
        from lmrec.text.template import ItemTextTemplate

        recipe = self._checked_recipe()
        template = ItemTextTemplate(
            recipe["template"],
            list_fields=tuple(recipe.get("list_fields", ("genres",))),
            list_separator=recipe.get("list_separator", "|"),
        )
        fields = dict(item.fields or {})
        unknown = sorted(set(fields) - set(template.fields))
        if unknown:
            raise NewItemError(
                f"{item._at()}fields {unknown} are not in the model's text template "
                f"{template.template!r} (its fields: {list(dict.fromkeys(template.fields))})"
            )
        text = template.render({name: fields.get(name) for name in template.fields})
        if not text:
            raise NewItemError(
                f"{item._at()}its fields render an empty text with template {template.template!r}"
            )
        return text

    def _checked_recipe(self) -> dict[str, Any]:
        recipe = self.recipe
        if recipe is None or recipe.get("encoder") is None:
            raise NewItemError(
                f"{self.model_name} has no record of the text encoder its item vectors came from (it was "
                "fitted on vectors made outside lmrec.text, or by an unknown encoder class), so it cannot "
                f"encode new texts: give each item a `vector` of length {self.dim} instead"
            )
        if recipe.get("corpus_dependent"):
            raise NewItemError(
                f"{self.model_name} was trained on vectors of the corpus-dependent encoder "
                f"{recipe.get('encoder_name')} (fitted on the training catalog: a new text alone would land "
                "in another space), so it cannot encode new texts: give each item a `vector` made with "
                "that encoder over the whole catalog, or train with a pretrained encoder (item_text "
                "encoder minilm)"
            )
        return recipe

    def _text_encoder(self) -> Any:
        if self._encoder is None:
            from lmrec.text.encoders import make_encoder

            recipe = self._checked_recipe()
            encoder = make_encoder(recipe["encoder"])
            if recipe.get("encoder_name") and encoder.name != recipe["encoder_name"]:
                raise NewItemError(
                    f"{self.model_name} was trained on vectors of {recipe['encoder_name']}, but this "
                    f"installation builds {encoder.name}: its vectors may differ, so new texts are not "
                    "encoded; install the same encoder version or give each item a `vector`"
                )
            self._encoder = encoder
        return self._encoder


# --- files ------------------------------------------------------------------------------------------
def read_new_items(path: str | Path) -> list[NewItem]:
    """New items from a JSON-lines file (one {"item", "text" | "fields" | "vector"} object per line) or a
    CSV file (column `item`, and `text` or else catalog field columns). Errors name file, line, column."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        items = _read_jsonl(path)
    elif suffix == ".csv":
        items = _read_csv(path)
    else:
        raise DataError(f"{path}: expected a .jsonl or .csv file of new items, not {suffix or 'no suffix'}")
    if not items:
        raise DataError(f"{path}: holds no items")
    return items


def _read_jsonl(path: Path) -> list[NewItem]:
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}:{exc.colno}: not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise DataError(f'{where}: expected a JSON object such as {{"item": 1, "text": "..."}}')
        unknown = sorted(set(obj) - set(ITEM_KEYS))
        if unknown:
            raise DataError(f"{where}: unknown key(s) {unknown}; allowed: {list(ITEM_KEYS)}")
        item = obj.get("item")
        if isinstance(item, bool) or not isinstance(item, int | str) or item == "":
            raise DataError(f"{where}: 'item' must be a raw item id (integer or non-empty string)")
        fields = obj.get("fields")
        if fields is not None and not isinstance(fields, dict):
            raise DataError(f"{where}: 'fields' must be an object of catalog fields")
        text = obj.get("text")
        if text is not None and not isinstance(text, str):
            raise DataError(f"{where}: 'text' must be a string")
        try:
            out.append(NewItem(item, text=text, fields=fields, vector=obj.get("vector"), where=where))
        except NewItemError as exc:
            raise DataError(str(exc)) from None
    return out


def _read_csv(path: Path) -> list[NewItem]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = list(reader.fieldnames or [])
        if "item" not in columns:
            raise DataError(f"{path}:1: no 'item' column (columns: {columns})")
        out = []
        for row in reader:
            where = f"{path}:{reader.line_num}"
            item = row["item"]
            if not item:
                raise DataError(f"{where}:{columns.index('item') + 1}: empty item id")
            rest = {k: v for k, v in row.items() if k != "item"}
            try:
                if "text" in rest:
                    out.append(NewItem(item, text=rest["text"] or "", where=where))
                else:
                    out.append(NewItem(item, fields={k: v or None for k, v in rest.items()}, where=where))
            except NewItemError as exc:
                raise DataError(str(exc)) from None
    return out
