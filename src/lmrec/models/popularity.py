"""Most-popular baseline: every user gets the items with the most training interactions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from lmrec.data.interactions import Interactions
from lmrec.models.base import Recommender


@dataclass(frozen=True)
class PopularityConfig:
    """Popularity has no hyper-parameters worth tuning; counting users (not events) is the default."""

    count: str = "users"
    """"users": number of distinct users per item; "events": number of events (repeats count)."""

    def __post_init__(self) -> None:
        if self.count not in ("users", "events"):
            raise ValueError(f"count must be 'users' or 'events', not {self.count!r}")


class Popularity(Recommender):
    """Scores each item by its training popularity. Unknown users get the same list as everyone."""

    name = "pop"
    config_class = PopularityConfig
    config: PopularityConfig
    user_independent_scores = True

    def item_scores(self) -> np.ndarray:
        self.check_is_fitted()
        return self.item_scores_

    def _fit(self, data: Interactions, rng: np.random.Generator) -> None:
        if self.config.count == "events":
            counts = data.item_counts()
        else:
            counts = data.item_user_counts()
        self.item_scores_ = counts.astype(np.float32)

    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (users.shape[0], self.item_scores_.shape[0])).copy()

    def _state(self) -> dict[str, np.ndarray]:
        return {"item_scores": self.item_scores_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.item_scores_ = arrays["item_scores"]
