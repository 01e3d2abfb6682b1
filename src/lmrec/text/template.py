"""One text per item from catalog fields, with a declared template such as
"{title}. Genres: {genres}. {description}".

Missing fields (NaN, None, empty or blank strings, empty lists) do not leave holes such as
"Toy Story. Genres: . " behind. The template is read as pieces, one per field: the literal text before a
field is split into a *separator* (the punctuation and spaces that end the previous piece, ". ") and a
*label* that belongs to the field ("Genres: "). A missing field drops its label and its separator; the
separator before the next present field is kept; an opening bracket in a label takes the matching
closing bracket after the field with it ("{title} ({year})"). Text before the first field is that field's
label; text after the last field is kept when at least one field is present. White space runs collapse
to one space.

Values: list-like values (lists, tuples, arrays) are joined with ", "; strings of `list_fields` are split
on `list_separator` first, so MovieLens genres "Animation|Children's" read "Animation, Children's";
integral floats render without ".0" (a year column with gaps is float in pandas).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lmrec.data.catalog import ItemCatalog
from lmrec.data.vocabulary import Vocabulary
from lmrec.errors import ConfigError

LIST_JOIN = ", "
"""How the elements of a list-like value are joined."""
_SEPARATOR = re.compile(r"^[\s.;,:!?|/\-–—]*")
"""The separator part of a literal: its leading run of punctuation and spaces (". ", "; ", " | ");
the rest is the label of the next field ("Genres: ")."""
_SPACE = re.compile(r"\s+")
_CLOSE = {"(": ")", "[": "]", "{": "}", '"': '"', "“": "”", "«": "»"}


@dataclass(frozen=True)
class _Piece:
    field: str
    separator: str
    """Literal text joining this piece to the previous present piece."""
    label: str
    """Literal text before the value, dropped with it."""
    suffix: str
    """Closing brackets after the value that match the label's opening brackets, dropped with it."""


@dataclass(frozen=True)
class ItemTextTemplate:
    """A format string over catalog columns, e.g. "{title}. Genres: {genres}. {description}".

    Fields are plain column names: no positional `{}`, attribute/index access, conversions or format
    specs (write literal braces as `{{` and `}}`).
    """

    template: str
    """The format string; every `{name}` must be a catalog column."""
    list_fields: tuple[str, ...] = ("genres",)
    """Columns whose string values are lists joined by `list_separator` (MovieLens: "Action|Comedy")."""
    list_separator: str = "|"
    """Separator inside the string values of `list_fields`; their elements are re-joined with ", "."""
    _pieces: tuple[_Piece, ...] = field(init=False, repr=False, compare=False)
    _tail: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        literals, names = _parse(self.template)
        pieces = []
        for k, name in enumerate(names):
            before = literals[k]
            # text before the first field is its label ("Title: {title}"): nothing precedes it
            separator = "" if k == 0 else _SEPARATOR.match(before).group(0)  # type: ignore[union-attr]
            label = before[len(separator) :]
            closing = "".join(_CLOSE[c] for c in reversed(label) if c in _CLOSE)
            after = literals[k + 1]
            suffix = closing if closing and after.startswith(closing) else ""
            literals[k + 1] = after[len(suffix) :]
            pieces.append(_Piece(name, separator, label, suffix))
        object.__setattr__(self, "list_fields", tuple(self.list_fields))
        object.__setattr__(self, "_pieces", tuple(pieces))
        object.__setattr__(self, "_tail", literals[-1])

    @classmethod
    def default(cls, catalog: ItemCatalog) -> ItemTextTemplate:
        """The catalog's `text_fields` joined with ". " (MovieLens: "{title}. {genres}")."""
        if not catalog.text_fields:
            raise ConfigError(
                "the catalog declares no text_fields, so there is no default text template; pass a "
                f"template over its columns {list(catalog.frame.columns)}, e.g. '{{title}}. {{genres}}'"
            )
        return cls(". ".join(f"{{{name}}}" for name in catalog.text_fields))

    @property
    def fields(self) -> tuple[str, ...]:
        """Column names used, in template order (repeats kept)."""
        return tuple(p.field for p in self._pieces)

    def check_columns(self, columns: Any) -> None:
        """Raise a ConfigError naming the catalog columns if the template uses a field that is not one."""
        present = [str(c) for c in columns]
        unknown = [f for f in dict.fromkeys(self.fields) if f not in present]
        if unknown:
            raise ConfigError(
                f"text template {self.template!r} uses field(s) {unknown} that are not catalog columns; "
                f"the catalog has {present}"
            )

    def render(self, row: Any) -> str:
        """Text of one item from a mapping (or pandas row) of field values; "" when every field is missing."""
        out: list[str] = []
        for piece in self._pieces:
            value = self._value(piece.field, row[piece.field])
            if not value:
                continue
            if out:
                out.append(_after(out[-1], piece.separator))
            out.append(f"{piece.label}{value}{piece.suffix}")
        if not out:
            return ""
        out.append(_after(out[-1], self._tail))
        return _SPACE.sub(" ", "".join(out)).strip()

    def render_frame(self, frame: pd.DataFrame) -> list[str]:
        """One text per row of `frame` (its columns must include every template field)."""
        self.check_columns(frame.columns)
        columns = {name: frame[name].tolist() for name in dict.fromkeys(self.fields)}
        return [self.render({k: v[i] for k, v in columns.items()}) for i in range(len(frame))]

    def _value(self, name: str, value: Any) -> str:
        if isinstance(value, list | tuple | np.ndarray | pd.Series):
            parts = (self._value(name, v) for v in value)
            return LIST_JOIN.join(p for p in parts if p)
        if value is None or value is pd.NA or value is pd.NaT:
            return ""
        if isinstance(value, float | np.floating):
            if np.isnan(value):
                return ""
            if float(value).is_integer():
                return str(int(value))
        text = str(value).strip()
        if name in self.list_fields and self.list_separator and self.list_separator in text:
            parts = (p.strip() for p in text.split(self.list_separator))
            return LIST_JOIN.join(p for p in parts if p)
        return text


def _after(previous: str, literal: str) -> str:
    """`literal` as it follows `previous`: a value that ends a sentence ("... alive.") is not followed by
    a second "." from the template."""
    if literal[:1] == "." and previous.rstrip()[-1:] in (".", "!", "?"):
        return literal[1:]
    return literal


def _parse(template: str) -> tuple[list[str], list[str]]:
    """Literal texts (one more than fields) and field names of a format string, with clear errors."""
    if not isinstance(template, str):
        raise TypeError(f"a text template must be a string, got {type(template).__name__}")
    literals, names = [""], []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(f"text template {template!r} is not a valid format string: {exc}") from None
    for literal, name, spec, conversion in parsed:
        literals[-1] += literal
        if name is None:
            continue
        if not name or not _is_column_name(name):
            raise ConfigError(
                f"text template {template!r}: field {{{name}}} must name a catalog column, like {{title}}"
            )
        if spec or conversion:
            raise ConfigError(
                f"text template {template!r}: field {{{name}}} has a conversion or format spec; "
                "fields are plain column names"
            )
        names.append(name)
        literals.append("")
    if not names:
        raise ConfigError(f"text template {template!r} uses no field; write fields as {{column}}")
    return literals, names


def _is_column_name(name: str) -> bool:
    # Column names such as "release-date" or "Children's" are fine; attribute and index access are not.
    return not any(c in name for c in ".[]") and not name.isdigit()


@dataclass(frozen=True, eq=False)
class ItemTexts:
    """One text per item index of a vocabulary."""

    texts: list[str]
    """Text of item index i ("" for items without text)."""
    has_text: np.ndarray
    """(n_items,) bool: the item has a catalog row and its text is not empty."""
    in_catalog: np.ndarray
    """(n_items,) bool: the item has a catalog row (it may still render empty)."""
    template: ItemTextTemplate
    """The template that produced the texts."""

    def __len__(self) -> int:
        return len(self.texts)


def item_texts(
    catalog: ItemCatalog, item_vocab: Vocabulary, template: ItemTextTemplate | str | None = None
) -> ItemTexts:
    """Texts aligned with `item_vocab` (index i is item i); items without a catalog row get "" and
    `has_text` False. `template` defaults to the catalog's text fields (`ItemTextTemplate.default`)."""
    if template is None:
        template = ItemTextTemplate.default(catalog)
    elif isinstance(template, str):
        template = ItemTextTemplate(template)
    template.check_columns(catalog.frame.columns)
    frame = catalog.aligned(item_vocab)
    in_catalog = pd.Index(item_vocab.ids).isin(_index_as(catalog.frame.index, item_vocab))
    texts = template.render_frame(frame)
    texts = [t if present else "" for t, present in zip(texts, in_catalog, strict=True)]
    has_text = np.fromiter((bool(t) for t in texts), dtype=bool, count=len(texts))
    return ItemTexts(texts=texts, has_text=has_text, in_catalog=np.asarray(in_catalog), template=template)


def _index_as(index: pd.Index, vocab: Vocabulary) -> pd.Index:
    """Catalog ids in the vocabulary's id type (as `ItemCatalog.aligned` matches them)."""
    if index.dtype.kind != vocab.ids.dtype.kind:
        return index.astype(vocab.ids.dtype)
    return index
