"""Mapping between raw ids (as found in files) and dense integer indices used inside models."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lmrec.errors import UnknownIdError


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _as_int(value: Any) -> int | None:
    """An integer id from an int or a string of digits ("007" -> 7), else None."""
    if _is_int(value):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
    return None


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
    appended: int = 0
    """Ids at the end added after the sorted ones (`extended`), in the order they were added."""
    _index: pd.Index = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids = _canonical_ids(self.ids)
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
            bad = [r for r in raw if _as_int(r) is None]
            if bad:
                raise ValueError(f"the vocabulary's ids are integers; {bad[:5]} are not integer ids")
            arr = np.array([_as_int(r) for r in raw], dtype=np.int64)
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
        return Vocabulary(ids, appended=self.appended + len(arr))

    @classmethod
    def from_ids(cls, ids: Iterable[Any] | np.ndarray) -> Vocabulary:
        """Build a vocabulary from raw ids in any order, with repeats."""
        arr = _canonical_ids(np.asarray(list(ids) if not isinstance(ids, np.ndarray | pd.Series) else ids))
        return cls(np.unique(arr))

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def is_integer(self) -> bool:
        return self.ids.dtype.kind == "i"

    def index(self, raw: Any, *, missing: str = "error", what: str = "id") -> np.ndarray:
        """Indices of raw ids. `missing="error"` raises `UnknownIdError`; `"negative"` returns -1.

        `what` names the kind of id in that error ("user" -> "2 unknown user id(s), e.g. [9999]").
        """
        raw_arr = np.atleast_1d(np.asarray(raw))
        if self.is_integer and raw_arr.dtype.kind not in "iu":
            try:
                raw_arr = raw_arr.astype(np.int64)
            except (ValueError, TypeError):
                raw_arr = np.full(raw_arr.shape, np.iinfo(np.int64).min)
        elif not self.is_integer:
            raw_arr = raw_arr.astype(str)
        idx = self._index.get_indexer(raw_arr)
        if missing == "error" and (idx < 0).any():
            bad = raw_arr[idx < 0][:5].tolist()
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
