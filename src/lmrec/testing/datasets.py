"""Small datasets with known right answers, for model tests (after implicit's `get_checker_board`).

Raw ids are deliberately not indices: users are zero-padded strings ("u000", ...) and items are integers
starting at 100, so a test that confuses raw ids with indices fails. Zero padding keeps the sorted
vocabulary in generation order, so user index u is the u-th generated user.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmrec.data.interactions import Interactions
from lmrec.data.vocabulary import Vocabulary

ITEM_ID_OFFSET = 100
LIKED, DISLIKED = 5.0, 1.0


@dataclass(frozen=True)
class KnownAnswer:
    """An interaction log plus, per user, the items a sensible model must rank first."""

    name: str
    """Short label used in test ids and messages."""
    data: Interactions
    """The training log."""
    expected: np.ndarray
    """(n_users, h) item indices: user u's top-h recommendations (history excluded) must be this set."""


def _user_ids(n: int) -> np.ndarray:
    width = max(3, len(str(max(n - 1, 0))))  # zero-padded so string order equals index order
    return np.array([f"u{u:0{width}d}" for u in range(n)])


def _grouped(
    name: str, user_group: np.ndarray, item_group: np.ndarray, holdout: int, ratings: bool
) -> KnownAnswer:
    """Users like the items of their own group and never touch the others' (implicit variant), or rate
    their own group's items LIKED and the other groups' items DISLIKED (`ratings=True`).

    Each user misses `holdout` of their own items, rotated across the users of a group so that every
    item keeps training data; with ratings they also miss `holdout` of the other items. The known answer
    is that the missed own-group items come first.
    """
    n_users, n_items = user_group.shape[0], item_group.shape[0]
    rows, cols, vals, expected = [], [], [], []
    rank_in_group = np.zeros(n_users, dtype=np.int64)
    for g in np.unique(user_group):
        members = np.flatnonzero(user_group == g)
        rank_in_group[members] = np.arange(members.shape[0])
    for u in range(n_users):
        own = np.flatnonzero(item_group == user_group[u])
        other = np.flatnonzero(item_group != user_group[u])
        if own.shape[0] <= holdout:
            raise ValueError(f"{name}: a group needs more than holdout={holdout} items")
        start = rank_in_group[u] * holdout
        missed = own[(start + np.arange(holdout)) % own.shape[0]]
        expected.append(np.sort(missed))
        seen = np.setdiff1d(own, missed)
        rows.append(np.full(seen.shape[0], u))
        cols.append(seen)
        vals.append(np.full(seen.shape[0], LIKED))
        if ratings and other.shape[0] > holdout:
            rated = np.delete(other, (start + np.arange(holdout)) % other.shape[0])
            rows.append(np.full(rated.shape[0], u))
            cols.append(rated)
            vals.append(np.full(rated.shape[0], DISLIKED))
    data = Interactions(
        users=np.concatenate(rows),
        items=np.concatenate(cols),
        user_vocab=Vocabulary(_user_ids(n_users)),
        item_vocab=Vocabulary(np.arange(n_items) + ITEM_ID_OFFSET),
        ratings=np.concatenate(vals) if ratings else None,
    )
    return KnownAnswer(name=name, data=data, expected=np.stack(expected))


def checkerboard(
    n_users: int = 20, n_items: int = 20, *, block: int = 1, holdout: int = 1, ratings: bool = False
) -> KnownAnswer:
    """Two user groups (even / odd users) liking alternating blocks of `block` items.

    With block=1 and holdout=1 this is implicit's checker board: user u misses one item of its own
    parity, and a model must recommend exactly that item first.
    """
    user_group = np.arange(n_users) % 2
    item_group = (np.arange(n_items) // block) % 2
    return _grouped(f"checkerboard(block={block})", user_group, item_group, holdout, ratings)


def block_identity(
    n_blocks: int = 4,
    users_per_block: int = 5,
    items_per_block: int = 6,
    *,
    holdout: int = 1,
    ratings: bool = False,
) -> KnownAnswer:
    """An identity-like, block-diagonal log: block b's users only touch block b's items.

    Items of other blocks never co-occur with a user's history, so every sensible model must put the
    missed items of the user's own block first.
    """
    user_group = np.arange(n_blocks * users_per_block) // users_per_block
    item_group = np.arange(n_blocks * items_per_block) // items_per_block
    return _grouped(f"block_identity({n_blocks})", user_group, item_group, holdout, ratings)


def random_blocks(
    n_users: int = 40, items_per_block: int = 12, per_user: int = 6, *, n_blocks: int = 2, seed: int = 0
) -> Interactions:
    """Disjoint taste blocks with random profiles: user u buys `per_user` random items of block u % n_blocks
    and nothing else. Unlike `block_identity`, profiles within a block differ, so a model must generalise
    from similar users: each user's unpurchased items of their own block should outscore every item of the
    other blocks."""
    rng = np.random.default_rng(seed)
    if per_user > items_per_block:
        raise ValueError(f"per_user={per_user} exceeds items_per_block={items_per_block}")
    users = np.repeat(np.arange(n_users), per_user)
    items = np.concatenate(
        [
            rng.choice(items_per_block, per_user, replace=False) + (u % n_blocks) * items_per_block
            for u in range(n_users)
        ]
    )
    return Interactions(
        users=users,
        items=items,
        user_vocab=Vocabulary(_user_ids(n_users)),
        item_vocab=Vocabulary(np.arange(n_blocks * items_per_block) + ITEM_ID_OFFSET),
    )


def random_interactions(
    n_users: int = 30, n_items: int = 25, *, density: float = 0.25, seed: int = 0
) -> Interactions:
    """A random log with 1–5 star ratings and timestamps. Every user has at least one event and at least
    one unseen item; every item has at least one event (so all models have data for every index)."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    mask[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    mask[rng.integers(0, n_users, n_items), np.arange(n_items)] = True
    full = mask.all(axis=1)
    mask[np.flatnonzero(full), rng.integers(0, n_items, int(full.sum()))] = False
    users, items = np.nonzero(mask)
    return Interactions(
        users=users,
        items=items,
        user_vocab=Vocabulary(_user_ids(n_users)),
        item_vocab=Vocabulary(np.arange(n_items) + ITEM_ID_OFFSET),
        ratings=rng.integers(1, 6, users.shape[0]).astype(np.float32),
        timestamps=rng.integers(1_000_000, 2_000_000, users.shape[0]),
    )


def tiny_ratings(
    n_users: int = 12, n_items: int = 10, *, density: float = 0.6, noise: float = 0.0, seed: int = 0
) -> tuple[Interactions, np.ndarray]:
    """A small explicit-rating log drawn from a known rank-1 biased model, and that model's full matrix.

    true[u, i] = 3 + b_u + b_i + p_u q_i (no clipping); observed entries carry `noise` (std) on top.
    Returns (log, true rating matrix of shape n_users x n_items).
    """
    rng = np.random.default_rng(seed)
    bu = rng.normal(0, 0.4, n_users)
    bi = rng.normal(0, 0.4, n_items)
    p = rng.normal(0, 0.6, n_users)
    q = rng.normal(0, 0.6, n_items)
    true = 3.0 + bu[:, None] + bi[None, :] + np.outer(p, q)
    mask = rng.random((n_users, n_items)) < density
    mask[np.arange(n_users), np.arange(n_users) % n_items] = True
    mask[np.arange(n_items) % n_users, np.arange(n_items)] = True
    users, items = np.nonzero(mask)
    observed = true[users, items] + rng.normal(0, noise, users.shape[0]) if noise else true[users, items]
    data = Interactions(
        users=users,
        items=items,
        user_vocab=Vocabulary(_user_ids(n_users)),
        item_vocab=Vocabulary(np.arange(n_items) + ITEM_ID_OFFSET),
        ratings=observed.astype(np.float32),
    )
    return data, true.astype(np.float32)


def successor_sequences(
    n_users: int = 200, n_items: int = 40, *, min_len: int = 5, max_len: int = 15, seed: int = 0
) -> KnownAnswer:
    """The sequence known-answer task: each user walks the items in order from a random start, wrapping
    around (..., i, i + 1, i + 2, ...), so the next item is always the last one + 1 (mod n_items).

    Only an order-aware model can solve it: every item is equally popular and co-occurs with its
    neighbours on both sides. `expected` is (n_users, 1): the item after each user's last one.
    Timestamps are the positions, so the time order is the walk order.
    """
    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    expected = np.empty((n_users, 1), dtype=np.int64)
    for u in range(n_users):
        length = int(rng.integers(min_len, max_len + 1))
        walk = (int(rng.integers(n_items)) + np.arange(length)) % n_items
        users.append(np.full(length, u))
        items.append(walk)
        times.append(np.arange(length))
        expected[u, 0] = (walk[-1] + 1) % n_items
    data = Interactions(
        users=np.concatenate(users),
        items=np.concatenate(items),
        user_vocab=Vocabulary(_user_ids(n_users)),
        item_vocab=Vocabulary(np.arange(n_items) + ITEM_ID_OFFSET),
        timestamps=np.concatenate(times),
    )
    return KnownAnswer(name="successor", data=data, expected=expected)


def from_matrix(x: np.ndarray) -> Interactions:
    """The interactions of the nonzero cells of a users x items matrix (users "u0000", ...; items 100, 101,
    ...), for hand-computed cases written as a matrix."""
    users, items = np.nonzero(x)
    return Interactions(
        users=users,
        items=items,
        user_vocab=Vocabulary(np.array([f"u{u:04d}" for u in range(x.shape[0])])),
        item_vocab=Vocabulary(np.arange(x.shape[1]) + 100),
    )


TINY_MATRIX = np.array(
    [
        [1, 1, 0, 0, 1],
        [1, 0, 1, 0, 0],
        [0, 1, 1, 1, 0],
        [1, 1, 1, 0, 0],
        [0, 0, 1, 1, 1],
        [1, 0, 0, 1, 0],
    ],
    dtype=np.float64,
)
"""6 users x 5 items, every item and user with 2-3 interactions: the hand-computed cases of the item-item
models (EDLAE, RP3beta) are written on it."""
