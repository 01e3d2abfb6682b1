"""The immutable interaction log every stage after loading works with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lmrec.data.ordering import canonical_order
from lmrec.data.vocabulary import Vocabulary

_FEW_RUNS = 64
"""Inputs made of at most this many sorted runs (e.g. `concat` of sorted logs) are merged by timsort
instead of fully re-sorted; the result is the same either way, only the speed differs."""


def _order_breaks(
    users: np.ndarray, times: np.ndarray | None, items: np.ndarray, *, stop_at: int, chunk: int = 1 << 20
) -> int:
    """Rows that come before their predecessor in canonical order (0: sorted; k: k + 1 sorted runs).

    Counting stops once `stop_at` is reached, so shuffled input costs one chunk. Chunked so the check
    needs a few MB of scratch, not several copies of the columns.
    """
    breaks = 0
    for s in range(0, max(users.size - 1, 0), chunk):
        e = min(s + chunk, users.size - 1) + 1
        du = np.diff(users[s:e])
        if times is None:
            breaks += int(np.count_nonzero(du < 0))
        else:
            dt = np.diff(times[s:e])
            later = (dt < 0) | ((dt == 0) & (np.diff(items[s:e]) < 0))
            breaks += int(np.count_nonzero((du < 0) | ((du == 0) & later)))
        if breaks >= stop_at:
            break
    return breaks


@dataclass(frozen=True, eq=False)
class Interactions:
    """User-item events with integer indices into two vocabularies.

    Rows are kept in the canonical order of the protocols: by user, then timestamp, then item index.
    When there are no timestamps the given order within each user is kept (sequence files).
    """

    users: np.ndarray
    """User index per event (int64, into `user_vocab`)."""
    items: np.ndarray
    """Item index per event (int64, into `item_vocab`)."""
    user_vocab: Vocabulary
    item_vocab: Vocabulary
    ratings: np.ndarray | None = None
    """Explicit rating per event (float32) or None for purely implicit logs."""
    timestamps: np.ndarray | None = None
    """Event time per event (int64: Unix seconds, or the position in a sequence file)."""

    def __post_init__(self) -> None:
        users = np.ascontiguousarray(self.users, dtype=np.int64)
        items = np.ascontiguousarray(self.items, dtype=np.int64)
        n = users.shape[0]
        if items.shape != (n,):
            raise ValueError(f"users and items differ in length: {n} vs {items.shape}")
        ratings = None if self.ratings is None else np.ascontiguousarray(self.ratings, dtype=np.float32)
        times = None if self.timestamps is None else np.ascontiguousarray(self.timestamps, dtype=np.int64)
        for name, arr in (("ratings", ratings), ("timestamps", times)):
            if arr is not None and arr.shape != (n,):
                raise ValueError(f"{name} has length {arr.shape[0]}, expected {n}")
        if n:
            if users.min() < 0 or users.max() >= len(self.user_vocab):
                raise ValueError("user index out of range of the user vocabulary")
            if items.min() < 0 or items.max() >= len(self.item_vocab):
                raise ValueError("item index out of range of the item vocabulary")
        breaks = _order_breaks(users, times, items, stop_at=_FEW_RUNS)
        if breaks:
            order = canonical_order(
                users,
                items,
                times,
                len(self.user_vocab),
                len(self.item_vocab),
                presorted_runs=breaks < _FEW_RUNS,
            )
            n_users = len(self.user_vocab)
            if n_users <= n:  # sorted users expand from their counts, cheaper than a random gather
                users = np.repeat(np.arange(n_users, dtype=np.int64), np.bincount(users, minlength=n_users))
            else:
                users = users[order]
            items = items[order]
            ratings = None if ratings is None else ratings[order]
            times = None if times is None else times[order]
        object.__setattr__(self, "users", users)
        object.__setattr__(self, "items", items)
        object.__setattr__(self, "ratings", ratings)
        object.__setattr__(self, "timestamps", times)

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        user_col: str = "user",
        item_col: str = "item",
        rating_col: str | None = "rating",
        timestamp_col: str | None = "timestamp",
        user_vocab: Vocabulary | None = None,
        item_vocab: Vocabulary | None = None,
    ) -> Interactions:
        """Build from a frame of raw ids; vocabularies are built from the frame unless given."""
        uv = user_vocab or Vocabulary.from_ids(frame[user_col].to_numpy())
        iv = item_vocab or Vocabulary.from_ids(frame[item_col].to_numpy())
        ratings = frame[rating_col].to_numpy() if rating_col and rating_col in frame else None
        times = frame[timestamp_col].to_numpy() if timestamp_col and timestamp_col in frame else None
        return cls(
            users=uv.index(frame[user_col].to_numpy()),
            items=iv.index(frame[item_col].to_numpy()),
            user_vocab=uv,
            item_vocab=iv,
            ratings=ratings,
            timestamps=times,
        )

    # --- shape --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.users.shape[0])

    @property
    def n_users(self) -> int:
        """Size of the user vocabulary (users without events in this log included)."""
        return len(self.user_vocab)

    @property
    def n_items(self) -> int:
        """Size of the item vocabulary: the catalog that full ranking scores."""
        return len(self.item_vocab)

    def user_counts(self) -> np.ndarray:
        return np.bincount(self.users, minlength=self.n_users)

    def item_counts(self) -> np.ndarray:
        """Events per item (repeats count every time)."""
        return np.bincount(self.items, minlength=self.n_items)

    def item_user_counts(self) -> np.ndarray:
        """Distinct users per item (repeats count once): popularity as novelty, ARP and the hybrids'
        item statistics define it."""
        return users_per_item(self.csr())

    def indptr(self) -> np.ndarray:
        """Row offsets: events of user u are rows indptr[u]:indptr[u+1]."""
        out = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(self.user_counts(), out=out[1:])
        return out

    # --- views --------------------------------------------------------------------------------
    def csr(self, *, values: str = "binary", dtype: Any = np.float32) -> sp.csr_matrix:
        """User x item matrix. `values` is "binary" (1 per pair, repeats collapsed), "count" or "rating"."""
        if values == "rating":
            if self.ratings is None:
                raise ValueError("this log has no ratings; use values='binary'")
            data = self.ratings.astype(dtype)
        else:
            data = np.ones(len(self), dtype=dtype)
        mat = sp.csr_matrix((data, (self.users, self.items)), shape=(self.n_users, self.n_items))
        mat.sum_duplicates()
        if values == "binary":
            mat.data[:] = 1
        elif values not in ("count", "rating"):
            raise ValueError(f"values must be 'binary', 'count' or 'rating', not {values!r}")
        return mat

    def sequences(self) -> list[np.ndarray]:
        """Item indices of each user in canonical (time) order; empty arrays for users without events."""
        return np.split(self.items, self.indptr()[1:-1])

    def subset(self, mask: np.ndarray) -> Interactions:
        """Rows where `mask` is true, with the same vocabularies (so indices stay comparable)."""
        mask = np.asarray(mask)
        return Interactions(
            users=self.users[mask],
            items=self.items[mask],
            user_vocab=self.user_vocab,
            item_vocab=self.item_vocab,
            ratings=None if self.ratings is None else self.ratings[mask],
            timestamps=None if self.timestamps is None else self.timestamps[mask],
        )

    def concat(self, other: Interactions) -> Interactions:
        """Union of two logs over the same vocabularies.

        Both logs are sorted, so the constructor finds two sorted runs and merges them (near-linear).
        """
        if other.user_vocab is not self.user_vocab and not np.array_equal(
            other.user_vocab.ids, self.user_vocab.ids
        ):
            raise ValueError("cannot concatenate logs with different user vocabularies")
        if other.item_vocab is not self.item_vocab and not np.array_equal(
            other.item_vocab.ids, self.item_vocab.ids
        ):
            raise ValueError("cannot concatenate logs with different item vocabularies")

        def cat(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
            if a is None or b is None:
                return None
            return np.concatenate([a, b])

        return Interactions(
            users=np.concatenate([self.users, other.users]),
            items=np.concatenate([self.items, other.items]),
            user_vocab=self.user_vocab,
            item_vocab=self.item_vocab,
            ratings=cat(self.ratings, other.ratings),
            timestamps=cat(self.timestamps, other.timestamps),
        )

    def to_frame(self, *, raw_ids: bool = True) -> pd.DataFrame:
        """Events as a frame (raw ids by default) with columns user, item[, rating][, timestamp]."""
        cols: dict[str, Any] = {
            "user": self.user_vocab.id(self.users) if raw_ids else self.users,
            "item": self.item_vocab.id(self.items) if raw_ids else self.items,
        }
        if self.ratings is not None:
            cols["rating"] = self.ratings
        if self.timestamps is not None:
            cols["timestamp"] = self.timestamps
        return pd.DataFrame(cols)

    def pair_keys(self) -> np.ndarray:
        """One int64 key per (user, item) pair, for fast set operations between logs."""
        return self.users * np.int64(self.n_items) + self.items


def users_per_item(matrix: sp.spmatrix) -> np.ndarray:
    """Distinct users per item of a user x item matrix (stored entries per column; a fitted model's
    binary `history_` or `Interactions.csr()`)."""
    return np.diff(sp.csc_matrix(matrix).indptr)


def sequences_to_csr(sequences: list[np.ndarray], n_items: int) -> sp.csr_matrix:
    """Binary user x item matrix of ordered histories (the set view of `sequences`)."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    items: np.ndarray = (
        np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences])
        if len(sequences)
        else np.empty(0, dtype=np.int64)
    )
    mat = sp.csr_matrix(
        (np.ones(int(indptr[-1]), dtype=np.float32), np.asarray(items, dtype=np.int64), indptr),
        shape=(len(sequences), n_items),
    )
    mat.sum_duplicates()
    mat.data[:] = 1
    return mat
