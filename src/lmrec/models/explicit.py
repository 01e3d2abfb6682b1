"""What the explicit-rating predictors (`predicts_ratings`: BiasedMF, BayesFM) share: the checks on the
ratings they learn from and on the (user, item) pairs they are asked to predict."""

from __future__ import annotations

import numpy as np

from lmrec.data.interactions import Interactions
from lmrec.errors import DataError


def explicit_ratings(data: Interactions, who: str) -> np.ndarray:
    """`data.ratings` as float64, refused (DataError naming the first bad event) when absent or not finite."""
    if data.ratings is None:
        raise DataError(
            f"{who} predicts explicit ratings but this interaction log has none (implicit feedback); "
            "load the rating column or use an implicit-feedback model such as als, bpr or ease"
        )
    ratings = data.ratings.astype(np.float64)
    if not np.isfinite(ratings).all():
        bad = int(np.flatnonzero(~np.isfinite(ratings))[0])
        raise DataError(
            f"{who}: event {bad} (user {data.user_vocab.id(data.users[bad])!r}, item "
            f"{data.item_vocab.id(data.items[bad])!r}) has rating {ratings[bad]}; ratings must be finite"
        )
    return ratings


def checked_pairs(
    users: np.ndarray, items: np.ndarray, n_users: int, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """(users, items) as flat int64 arrays of equal length, each a known index or -1 (unknown); else
    ValueError naming what is wrong."""
    users = np.asarray(users, dtype=np.int64).reshape(-1)
    items = np.asarray(items, dtype=np.int64).reshape(-1)
    if users.shape != items.shape:
        raise ValueError(f"users and items differ in length: {users.shape[0]} vs {items.shape[0]}")
    for what, idx, size in (("user", users, n_users), ("item", items, n_items)):
        if ((idx < -1) | (idx >= size)).any():
            raise ValueError(f"{what} index out of range (model knows {size} {what}s; -1 = unknown)")
    return users, items
