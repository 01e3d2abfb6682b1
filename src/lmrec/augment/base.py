"""The augmenter contract: fit data in, the same data plus marked synthetic (pseudo) interactions out.

An augmenter proposes, for each selected user, items the user has not interacted with in the data it is
given (never another user's held-out events: it sees nothing but that data), and `Augmenter.augment`
turns the proposals into rows:

* **Who** is augmented: every user with at least one interaction (`max_train=None`), or only users with
  at most `max_train` interactions in the data being augmented (the sparse users that augmentation is meant
  to help). A user without interactions has nothing to extend and is never augmented.
* **How many**: `amount` pseudo-items per user, or `ceil(ratio x the user's interaction count)` when
  `ratio` is set; fewer when the method has fewer candidates for the user.
* **Which**: each method scores every item for the user (random numbers, perturbed log-popularity,
  item-kNN votes, text similarity); the user's own items and items without any interaction in the data
  (so a cold-item slice stays cold) are excluded, and the best `amount` are taken with lmrec's one top-k
  (ties to the lower item index).
* **Where in time** (ASReP-style prepending): the pseudo-items come *before* the user's first real event.
  The best-ranked pseudo-item gets the timestamp t0 - 1, the next t0 - 2, ..., where t0 is the user's first
  timestamp in the data, so sequence models read them as older history and the real order is untouched.
  Logs without timestamps keep row order per user; the pseudo-items are put first there too. Pseudo rows
  get the user's mean rating when the log has ratings.

The result (`Augmented`) carries a boolean `synthetic` mask per row. Synthetic rows are model input only:
the experiment runner evaluates with the split's own parts (no synthetic row is ever a target or part of an
evaluated user's history), and `lmrec.data.leakage.check_augmented` verifies an `Augmented` against the
data it was made from.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from lmrec.data.features import ItemFeatures
from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError
from lmrec.models.topk import topk

PLACEMENT = "prepend"
"""Where pseudo-items go in each user's timeline: before the first real event (see the module doc)."""
COMMON_OPTIONS = ("amount", "ratio", "max_train")
"""Options every augmenter has; an experiment file gives them beside `method`, the others in `params`."""

Scorer = Callable[[np.ndarray, sp.csr_matrix, np.random.Generator], np.ndarray]
"""(users, their rows of the binary user x item matrix, rng) -> (len(users), n_items) float scores; -inf
marks an item that must not be added. Higher is added first."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


@dataclass(frozen=True, eq=False)
class Augmented:
    """Augmented fit data: the real rows plus synthetic rows, and which is which."""

    data: Interactions
    """Real and synthetic rows together, in canonical order: what a model is fitted on."""
    synthetic: np.ndarray
    """(len(data),) bool: True for a pseudo-interaction the augmenter added."""
    method: str
    """The augmenter's name (`random`, `popularity`, `itemknn`, `text`, ...)."""
    users_selected: int = 0
    """Users the selection rule picked (with at least one interaction); some may have got no item."""

    def __post_init__(self) -> None:
        mask = np.asarray(self.synthetic, dtype=bool)
        if mask.shape != (len(self.data),):
            raise ValueError(f"synthetic mask has shape {mask.shape}, expected ({len(self.data)},)")
        object.__setattr__(self, "synthetic", mask)

    @property
    def n_synthetic(self) -> int:
        return int(np.count_nonzero(self.synthetic))

    def real(self) -> Interactions:
        """The rows that were in the data before augmentation."""
        return self.data.subset(~self.synthetic)

    def synthetic_rows(self) -> Interactions:
        """Only the pseudo-interactions."""
        return self.data.subset(self.synthetic)

    def describe(self) -> dict[str, Any]:
        """Facts for a results file: rows before and after, users augmented, placement."""
        users = np.unique(self.data.users[self.synthetic])
        return {
            "method": self.method,
            "placement": PLACEMENT,
            "rows_real": len(self.data) - self.n_synthetic,
            "rows_synthetic": self.n_synthetic,
            "users_selected": self.users_selected,
            "users_augmented": int(users.size),
            "synthetic_per_augmented_user": round(self.n_synthetic / max(int(users.size), 1), 3),
        }


@dataclass(frozen=True)
class Augmenter:
    """Base of every augmenter: the common options (subclasses add their own fields, all with defaults)."""

    amount: int = 5
    """Pseudo-interactions added per selected user (fewer when the method has fewer candidates)."""
    ratio: float | None = None
    """Instead of `amount`: ceil(ratio x the user's interaction count) pseudo-interactions per user."""
    max_train: int | None = None
    """Augment only users with at most this many interactions in the data being augmented (train when
    tuning, train+valid for a refit); None: every user with at least one interaction."""
    batch_size: int = 1024
    """Users scored per block (memory: batch_size x n_items floats). Does not change results."""

    method: ClassVar[str] = ""
    """Name in experiment files and results."""
    needs_item_features: ClassVar[bool] = False
    """True when `augment` needs `item_features` (item text embeddings)."""

    def __post_init__(self) -> None:
        who = type(self).__name__
        if not _is_int(self.amount) or self.amount < 1:
            raise ConfigError(f"{who}: amount must be a positive integer, got {self.amount!r}")
        r = self.ratio
        if r is not None and (
            isinstance(r, bool) or not isinstance(r, int | float) or not (math.isfinite(r) and r > 0)
        ):
            raise ConfigError(f"{who}: ratio must be a finite number > 0 or None, got {r!r}")
        k = self.max_train
        if k is not None and (not _is_int(k) or k < 1):
            raise ConfigError(f"{who}: max_train must be a positive integer or None, got {k!r}")
        if not _is_int(self.batch_size) or self.batch_size < 1:
            raise ConfigError(f"{who}: batch_size must be a positive integer, got {self.batch_size!r}")

    # --- what subclasses provide ------------------------------------------------------------------
    def _scorer(self, data: Interactions, seen: sp.csr_matrix, item_features: ItemFeatures | None) -> Scorer:
        raise NotImplementedError

    # --- the shared procedure ---------------------------------------------------------------------
    def selected_users(self, counts: np.ndarray) -> np.ndarray:
        """Indices of the users to augment, given each user's interaction count."""
        keep = counts > 0
        if self.max_train is not None:
            keep &= counts <= self.max_train
        return np.flatnonzero(keep)

    def amounts(self, counts: np.ndarray) -> np.ndarray:
        """Pseudo-interactions wanted for users with these interaction counts."""
        if self.ratio is None:
            return np.full(counts.shape, self.amount, dtype=np.int64)
        # a small tolerance so that 0.5 x 10 is 5, not 6 through float rounding
        return np.maximum(np.ceil(counts * float(self.ratio) - 1e-9).astype(np.int64), 1)

    def augment(
        self, train: Interactions, *, seed: int, item_features: ItemFeatures | None = None
    ) -> Augmented:
        """`train` plus pseudo-interactions for the selected users, marked as synthetic.

        Deterministic for a given seed. Only `train` is read: pass the data a model will be fitted on,
        after the split, and never a held-out part.
        """
        who = type(self).__name__
        if self.needs_item_features:
            if item_features is None:
                raise ValueError(f"{who} needs item_features (item text embeddings)")
            item_features.check_items(train.n_items, who)
        rng = np.random.default_rng(seed)
        seen = train.csr()
        counts = train.user_counts()
        users = self.selected_users(counts)
        wanted = self.amounts(counts[users])
        scorer = self._scorer(train, seen, item_features)
        in_data = train.item_counts() > 0
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        ranks: list[np.ndarray] = []
        for s in range(0, users.size, self.batch_size):
            batch, want = users[s : s + self.batch_size], wanted[s : s + self.batch_size]
            history = seen[batch]
            scores = np.asarray(scorer(batch, history, rng), dtype=np.float64)
            scores[:, ~in_data] = -np.inf
            r, c = history.nonzero()
            scores[r, c] = -np.inf  # only items new to the user
            items, _ = topk(scores, int(want.max()))
            rank = np.broadcast_to(np.arange(items.shape[1]), items.shape)
            keep = (rank < want[:, None]) & (items >= 0)
            rows.append(np.broadcast_to(batch[:, None], items.shape)[keep])
            cols.append(items[keep])
            ranks.append(rank[keep])
        new_users = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        new_items = np.concatenate(cols) if cols else np.zeros(0, np.int64)
        new_ranks = np.concatenate(ranks) if ranks else np.zeros(0, np.int64)
        data = prepend(train, new_users, new_items, new_ranks)
        synthetic_keys = new_users * np.int64(train.n_items) + new_items
        mask = np.isin(data.pair_keys(), synthetic_keys)  # exact: synthetic pairs are new to their user
        return Augmented(data, mask, self.method, users_selected=int(users.size))


def prepend(train: Interactions, users: np.ndarray, items: np.ndarray, ranks: np.ndarray) -> Interactions:
    """`train` with pseudo-events (users[j], items[j]) placed before each user's first real event, the
    lower `ranks[j]` (the better candidate) closer to it (see the module doc)."""
    if not users.size:
        return train
    # without timestamps the row order is the time order: pseudo rows go first, the worst candidate first
    order = np.lexsort((-ranks, users))
    users, items, ranks = users[order].astype(np.int64), items[order].astype(np.int64), ranks[order]
    times = ratings = None
    if train.timestamps is not None:
        first = train.timestamps[train.indptr()[users]]  # augmented users have at least one event
        times = np.concatenate([first - 1 - ranks.astype(np.int64), train.timestamps])
    if train.ratings is not None:
        total = np.bincount(train.users, weights=train.ratings, minlength=train.n_users)
        mean = (total / np.maximum(train.user_counts(), 1))[users]
        ratings = np.concatenate([mean.astype(np.float32), train.ratings])
    return Interactions(
        users=np.concatenate([users, train.users]),
        items=np.concatenate([items, train.items]),
        user_vocab=train.user_vocab,
        item_vocab=train.item_vocab,
        ratings=ratings,
        timestamps=times,
    )
