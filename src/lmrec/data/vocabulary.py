"""Mapping between raw ids (as found in files) and dense integer indices used inside models.

Three kinds of vocabulary, by the ids they hold:

- integer: every id is an integer (int64). Lookups read integer text as the integer: 196, "196",
  " 196" and "0196" are one id.
- text: ids are strings, compared exactly ("0001234567" is not "1234567": ASINs keep leading zeros).
- integer text (`integer_text=True`): an integer vocabulary widened by ids that are not integers (a new
  user "newbie" of a model trained on integer user ids, `Vocabulary.merge`). Every id is text; integer
  ids are kept in their canonical decimal form ("196") and lookups still read 196, "196" and "0196" as
  that one id, so widening never splits an old user in two. Other ids are compared exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lmrec.errors import UnknownIdError

_INTEGER_TEXT = re.compile(r"\s*[+-]?[0-9]+\s*", re.ASCII)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def as_int64(value: Any) -> int | None:
    """`value` as an int64 when it is an integer or integer text (ASCII digits, optional sign and
    surrounding spaces), else None."""
    if _is_int(value):
        v = int(value)
    elif isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):
        v = int(value)
    else:
        return None
    return v if INT64_MIN <= v <= INT64_MAX else None


def as_integer_text(values: Iterable[Any]) -> np.ndarray:
    """Ids as text with integers in canonical decimal form (196, "196" and "0196" all give "196")."""
    out = []
    for v in values:
        n = as_int64(v)
        out.append(str(v) if n is None else str(n))
    return np.array(out, dtype=str)


def _canonical_ids(ids: Any) -> np.ndarray:
    """Return ids as an int64 array when every id is an integer value, else as a unicode string array."""
    arr = np.asarray(ids)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "f" and arr.size and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        return arr.astype(np.int64)
    if arr.dtype.kind == "O" and all(_is_int(v) for v in arr):
        return arr.astype(np.int64)
    # Strings stay strings even when they look numeric: ASINs such as "0001234567" carry leading zeros.
    return arr.astype(str)


@dataclass(frozen=True)
class Vocabulary:
    """Sorted, de-duplicated raw ids; index *i* is the *i*-th smallest raw id.

    Sorting by raw id (numeric when every id is an integer) makes indices reproducible across runs and
    gives the tie-break order the benchmark protocols demand ("lower item index wins").

    A fitted model that takes new items after training (`Recommender.add_items`) appends them with
    `extended`: the first `len - appended` ids stay sorted, the `appended` ones follow in the order they
    were added, so every index the model already holds keeps its meaning.
    """

    ids: np.ndarray
    """Raw ids in index order: int64 when all ids are integers, otherwise unicode strings."""
    integer_text: bool = False
    """Text ids widened from integer ones: integer ids are canonical decimal text, and lookups read
    integer text as those ids (see the module docstring). Saved models record it in `model.json`."""
    appended: int = 0
    """Ids at the end added after the sorted ones (`extended`), in the order they were added."""
    _index: pd.Index = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids = as_integer_text(self.ids) if self.integer_text else _canonical_ids(self.ids)
        if ids.ndim != 1:
            raise ValueError("Vocabulary ids must be one-dimensional")
        appended = int(self.appended)
        if not 0 <= appended <= ids.shape[0]:
            raise ValueError(f"Vocabulary.appended must be in [0, {ids.shape[0]}], got {self.appended}")
        if appended:
            index = pd.Index(ids)
            if not index.is_unique:
                dup = index[index.duplicated()][:5].tolist()
                raise ValueError(f"Vocabulary ids must be unique, but {dup} occur more than once")
        # Index order is the protocols' tie-break ("lower item index wins"), so it must be sorted order.
        head = ids[: ids.shape[0] - appended]
        ascending = head[1:] > head[:-1]
        if not ascending.all():
            at = int(np.flatnonzero(~ascending)[0])
            what = "sorted in ascending order" if pd.Index(ids).is_unique else "unique"
            raise ValueError(
                f"Vocabulary ids must be {what} (index i is the i-th smallest id), but id "
                f"{ids[at].item()!r} at index {at} is followed by {ids[at + 1].item()!r}; use "
                "Vocabulary.from_ids to sort and de-duplicate"
            )
        index = pd.Index(ids)
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "appended", appended)
        object.__setattr__(self, "_index", index)

    def extended(self, new_ids: Any) -> Vocabulary:
        """This vocabulary with `new_ids` appended after its last index (in the given order).

        New ids take the vocabulary's id type (an integer vocabulary refuses ids that are not integers);
        an id already present, or given twice, is a ValueError naming it.
        """
        raw = list(np.atleast_1d(np.asarray(new_ids, dtype=object)))
        if self.is_integer:
            bad = [r for r in raw if as_int64(r) is None]
            if bad:
                raise ValueError(f"the vocabulary's ids are integers; {bad[:5]} are not integer ids")
            arr = np.array([as_int64(r) for r in raw], dtype=np.int64)
        elif self.integer_text:
            arr = as_integer_text(raw)
        elif len(self):
            arr = np.array([str(r) for r in raw], dtype=str)
        else:
            arr = _canonical_ids(np.array(raw, dtype=object))
        known = arr[self._index.get_indexer(arr) >= 0] if len(arr) else arr
        if known.size:
            raise ValueError(f"{known.size} id(s) already in the vocabulary, e.g. {known[:5].tolist()}")
        fresh = pd.Index(arr)
        if not fresh.is_unique:
            raise ValueError(f"ids given more than once: {fresh[fresh.duplicated()][:5].tolist()}")
        ids = np.concatenate([self.ids, arr]) if len(self) else arr
        return Vocabulary(ids, integer_text=self.integer_text, appended=self.appended + len(arr))

    @classmethod
    def from_ids(cls, ids: Iterable[Any] | np.ndarray, *, integer_text: bool = False) -> Vocabulary:
        """Build a vocabulary from raw ids in any order, with repeats."""
        raw = ids if isinstance(ids, np.ndarray | pd.Series) else list(ids)
        if integer_text:
            return cls(np.unique(as_integer_text(raw)), integer_text=True)
        return cls(np.unique(_canonical_ids(np.asarray(raw))))

    def merge(self, raw: Iterable[Any]) -> Vocabulary:
        """This vocabulary plus the ids in `raw` (ids already here stay as they are, read by `index`'s
        rules). An integer vocabulary meeting an id that is not an integer widens to integer text."""
        new = list(raw)
        if self.is_integer:
            ints = [as_int64(v) for v in new]
            if all(v is not None for v in ints):
                return Vocabulary.from_ids(np.concatenate([self.ids, np.array(ints, dtype=np.int64)]))
            return Vocabulary.from_ids([*self.ids.tolist(), *new], integer_text=True)
        if self.integer_text:
            return Vocabulary.from_ids([*self.ids.tolist(), *new], integer_text=True)
        return Vocabulary.from_ids(np.concatenate([self.ids, np.array([str(v) for v in new], dtype=str)]))

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def is_integer(self) -> bool:
        return self.ids.dtype.kind == "i"

    @property
    def reads_integers(self) -> bool:
        """Whether integer text is read as an integer id ("0196" is 196): integer and integer-text
        vocabularies."""
        return self.is_integer or self.integer_text

    def canonical(self, raw: Iterable[Any]) -> list[str]:
        """The text each raw id is known by here (the form the service stores ids in)."""
        if self.reads_integers:
            return as_integer_text(raw).tolist()
        return [str(v) for v in raw]

    def index(self, raw: Any, *, missing: str = "error", what: str = "id") -> np.ndarray:
        """Indices of raw ids. `missing="error"` raises `UnknownIdError`; `"negative"` returns -1.

        `what` names the kind of id in that error ("user" -> "2 unknown user id(s), e.g. [9999]").
        """
        raw_arr = np.atleast_1d(np.asarray(raw))
        if self.is_integer and raw_arr.dtype.kind not in "iu":
            try:
                raw_arr = raw_arr.astype(np.int64)
            except (ValueError, TypeError, OverflowError):
                # id by id: one id that is no integer must not make the others unknown
                ints = [as_int64(v) for v in raw_arr.tolist()]
                ok = np.array([v is not None for v in ints], dtype=bool)
                idx = np.full(raw_arr.shape, -1, dtype=np.int64)
                idx[ok] = self._index.get_indexer(np.array([v for v in ints if v is not None], np.int64))
                return self._checked(idx, raw_arr, missing, what)
        elif self.integer_text:
            raw_arr = as_integer_text(raw_arr.tolist()) if raw_arr.size else raw_arr.astype(str)
        elif not self.is_integer:
            raw_arr = raw_arr.astype(str)
        return self._checked(self._index.get_indexer(raw_arr), raw_arr, missing, what)

    @staticmethod
    def _checked(idx: np.ndarray, raw_arr: np.ndarray, missing: str, what: str) -> np.ndarray:
        if missing == "error" and (idx < 0).any():
            bad = raw_arr[idx < 0][:5].tolist()  # as given: "abc" is named, not a placeholder
            noun = what if what.endswith("id") else f"{what} id"
            raise UnknownIdError(f"{int((idx < 0).sum())} unknown {noun}(s), e.g. {bad}")
        if missing not in ("error", "negative"):
            raise ValueError(f"missing must be 'error' or 'negative', not {missing!r}")
        return idx.astype(np.int64)

    def id(self, index: Any) -> np.ndarray:
        """Raw ids of indices."""
        return self.ids[np.asarray(index)]

    def to_list(self) -> list[Any]:
        return self.ids.tolist()

    @classmethod
    def from_list(cls, ids: list[Any]) -> Vocabulary:
        return cls(np.asarray(ids))
