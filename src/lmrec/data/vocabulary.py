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


def _as_int64(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`values` as int64 and a mask of those that are integers at all ("abc" is not: it gets False)."""
    try:
        return values.astype(np.int64), np.ones(values.shape, dtype=bool)
    except (ValueError, TypeError, OverflowError):
        pass
    out = np.zeros(values.shape, dtype=np.int64)
    ok = np.zeros(values.shape, dtype=bool)
    for i, value in enumerate(values.ravel()):  # only input with a non-integer in it gets here
        try:
            out.flat[i] = int(value)
            ok.flat[i] = True
        except (ValueError, TypeError, OverflowError):
            pass
    return out, ok


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
    """

    ids: np.ndarray
    """Raw ids in index order: int64 when all ids are integers, otherwise unicode strings."""
    _index: pd.Index = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids = _canonical_ids(self.ids)
        if ids.ndim != 1:
            raise ValueError("Vocabulary ids must be one-dimensional")
        # Index order is the protocols' tie-break ("lower item index wins"), so it must be sorted order.
        ascending = ids[1:] > ids[:-1]
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
        object.__setattr__(self, "_index", index)

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
        given = np.atleast_1d(np.asarray(raw))
        raw_arr = given
        parsed = np.ones(given.shape, dtype=bool)  # False: a value an integer vocabulary cannot hold
        if self.is_integer and given.dtype.kind not in "iu":
            raw_arr, parsed = _as_int64(given)
        elif not self.is_integer:
            raw_arr = given.astype(str)
        idx = np.where(parsed, self._index.get_indexer(raw_arr), -1)
        if missing == "error" and (idx < 0).any():
            shown = raw_arr if parsed.all() else given  # name "abc" as given, not as a placeholder
            bad = shown[idx < 0][:5].tolist()
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
