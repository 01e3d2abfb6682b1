"""Item content (titles, genres, descriptions, tags) kept for content models."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from lmrec.data.vocabulary import Vocabulary


@dataclass(frozen=True)
class ItemCatalog:
    """Item metadata indexed by raw item id. Text columns hold strings; list-like fields are joined."""

    frame: pd.DataFrame
    """One row per raw item id (the index); columns such as title, genres, description, tags."""
    text_fields: tuple[str, ...] = field(default=())
    """Columns that carry natural-language text, in the order a text template should use them."""

    def __post_init__(self) -> None:
        if not self.frame.index.is_unique:
            dup = self.frame.index[self.frame.index.duplicated()][:5].tolist()
            raise ValueError(f"item catalog has duplicate item ids, e.g. {dup}")
        missing = [c for c in self.text_fields if c not in self.frame.columns]
        if missing:
            raise ValueError(f"text fields {missing} are not catalog columns {list(self.frame.columns)}")

    def __len__(self) -> int:
        return len(self.frame)

    def aligned(self, vocab: Vocabulary) -> pd.DataFrame:
        """Rows in vocabulary index order; items without metadata get empty rows (NaN)."""
        index = pd.Index(vocab.ids)
        frame = self.frame
        if frame.index.dtype.kind != index.dtype.kind:
            frame = frame.set_axis(frame.index.astype(index.dtype))
        return frame.reindex(index)

    def coverage(self, vocab: Vocabulary) -> float:
        """Share of vocabulary items that have a catalog row."""
        if len(vocab) == 0:
            return 0.0
        return float(self.aligned(vocab).notna().any(axis=1).mean())

    def text(self, item_id: Any, template: str | None = None) -> str:
        """Text of one item, by default the text fields joined with '. '."""
        row = self.frame.loc[item_id]
        if template is not None:
            return template.format(**{k: ("" if pd.isna(v) else v) for k, v in row.items()})
        return ". ".join(str(row[c]) for c in self.text_fields if pd.notna(row[c]) and str(row[c]))
