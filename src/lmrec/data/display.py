"""Display fields of items (title, genres, dates...) kept beside a saved model, so that what lmrec answers
with raw ids (`lmrec recommend`, `lmrec similar`, the service) can show what the ids are.

A model folder may hold `catalog.parquet` (column `item` = raw id, one column per catalog field), written
by `lmrec train` from the prepared folder's catalog, by `lmrec run` for the models it saves, or from
Python with `write_display(model_dir, catalog, item_vocab)`. Only items of the model's catalog are kept
and long text is cut to `MAX_CHARS` characters: display fields are for people reading a list, the
model's text features live elsewhere. Models without it answer with ids only, as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from lmrec.data.catalog import ItemCatalog
    from lmrec.data.vocabulary import Vocabulary

DISPLAY_FILE = "catalog.parquet"
MAX_CHARS = 200
"""Longest display value kept (longer text ends with "…")."""
TITLE_COLUMNS = ("title", "name")
"""Catalog columns taken as the title, the first present."""


def _short(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = " ".join(str(value).split())
    if not text:
        return None
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


def display_frame(catalog: ItemCatalog, item_vocab: Vocabulary) -> pd.DataFrame:
    """The catalog rows of the vocabulary's items, display columns shortened (column `item` = raw id)."""
    aligned = catalog.aligned(item_vocab)
    frame = pd.DataFrame({"item": [str(x) for x in item_vocab.ids]})
    for column in aligned.columns:
        frame[str(column)] = [_short(v) for v in aligned[column]]
    return frame


def write_display(model_dir: str | Path, catalog: ItemCatalog, item_vocab: Vocabulary) -> Path:
    """Write `catalog.parquet` into a model folder (see the module docstring); returns its path."""
    path = Path(model_dir) / DISPLAY_FILE
    display_frame(catalog, item_vocab).to_parquet(path, index=False)
    return path


class ItemDisplay:
    """Title and other display fields of items by raw id (any id form: 7 and "7" are one item)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        if "item" not in frame.columns:
            raise ValueError(f"a display catalog needs an `item` column, got {list(frame.columns)}")
        columns = [str(c) for c in frame.columns if c != "item"]
        self.title_column = next((c for c in TITLE_COLUMNS if c in columns), None)
        self.columns = columns
        self._rows: dict[str, dict[str, str]] = {}
        self._described: dict[str, dict[str, Any]] = {}  # built once: the service adds it to every item
        for record in frame.to_dict("records"):
            fields = {c: v for c in columns if (v := _short(record.get(c))) is not None}
            key = str(record["item"])
            self._rows[key] = fields
            rest = {c: v for c, v in fields.items() if c != self.title_column}
            described: dict[str, Any] = {}
            if self.title_column in fields:
                described["title"] = fields[self.title_column]
            if rest:
                described["fields"] = rest
            self._described[key] = described

    @classmethod
    def read(cls, model_dir: str | Path) -> ItemDisplay | None:
        """The display catalog of a model folder; None when the folder has none."""
        path = Path(model_dir) / DISPLAY_FILE
        if not path.is_file():
            return None
        return cls(pd.read_parquet(path))

    def __len__(self) -> int:
        return len(self._rows)

    def fields(self, item: Any) -> dict[str, str]:
        """Every display field of an item ({} for an item without a catalog row)."""
        return self._rows.get(str(item), {})

    def title(self, item: Any) -> str | None:
        if self.title_column is None:
            return None
        return self.fields(item).get(self.title_column)

    def describe(self, item: Any) -> dict[str, Any]:
        """{"title": ..., "fields": {the other fields}} of an item, keys left out when empty (a shared
        object: copy it before changing it)."""
        return self._described.get(str(item), {})
