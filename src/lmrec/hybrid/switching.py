"""Switching hybrid: one of two components decides, by a rule on the user or the item.

- `rule: history_length`: users with at most `threshold` history items are ranked by the first component
  (e.g. a content model or popularity for new users), everybody else by the second (e.g. SASRec).
- `rule: item_count`: items with at most `threshold` training interactions (cold and rare items) take
  their score from the first component (e.g. the text model), the others from the second; the two score
  sets are normalised per user first so that they can share one ranking.

Items added after training (`add_items`, capability `adds_items_from_text`) have no training users, so
under `item_count` they are cold and take the first component's score: a switching hybrid adds items
when its rule is `item_count` and its first component adds items from text (`textseq`). The other
component keeps its catalog when it cannot add items (it never ranks the new ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from lmrec.data.interactions import Interactions
from lmrec.errors import CapabilityError
from lmrec.hybrid.components import HybridRecommender, component_specs, unseen_mask
from lmrec.hybrid.normalize import NORMALIZERS, get_normalizer
from lmrec.models.fit_context import Validation

RULES = ("history_length", "item_count")


@dataclass(frozen=True)
class SwitchingConfig:
    """Switching-hybrid hyper-parameters."""

    components: tuple[dict[str, Any], ...] = ()
    """Exactly two `{name, params, label}` mappings: [the model for the condition, the model otherwise]."""
    rule: str = "history_length"
    """history_length (route users) or item_count (route items)."""
    threshold: int = 2
    """Users with <= threshold history items, or items with <= threshold training users, go to the first
    component."""
    normalize: str = "minmax"
    """Per-user normalisation of both score sets (rule item_count only)."""
    rank_history: bool = False
    """False: history items are left out of the normalisation statistics (see the weighted blend)."""
    num_threads: int | None = None
    """Threads for the torch components (None: their own setting)."""

    def __post_init__(self) -> None:
        specs = component_specs(self.components, "components")
        if len(specs) != 2:
            raise ValueError(f"a switching hybrid needs exactly two components, got {len(specs)}")
        object.__setattr__(self, "components", specs)
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {list(RULES)}, not {self.rule!r}")
        if self.threshold < 0:
            raise ValueError(f"threshold must be >= 0, got {self.threshold}")
        if self.normalize not in NORMALIZERS:
            raise ValueError(f"normalize must be one of {sorted(NORMALIZERS)}, not {self.normalize!r}")


class SwitchingHybrid(HybridRecommender):
    """Routes each user (or item) to one of two components.

    Unknown users: routed by the length of the history they come with (no history = 0 items, so the
    first component under `history_length`), then scored by that component as it scores unknown users.
    """

    name = "switching"
    config_class = SwitchingConfig
    config: SwitchingConfig
    adds_items_from_text: ClassVar[bool] = True
    """Under rule item_count with a first component that adds items from text (see `add_items`)."""

    def _component_specs(self) -> tuple[dict[str, Any], ...]:
        return tuple(self.config.components)

    def _fit_combination(
        self, data: Interactions, rng: np.random.Generator, validation: Validation | None
    ) -> None:
        self.item_users_ = data.item_user_counts().astype(np.int64)
        routed = (
            np.diff(self.history_.indptr) <= self.config.threshold
            if self.config.rule == "history_length"
            else self.item_users_ <= self.config.threshold
        )
        what = "users" if self.config.rule == "history_length" else "items"
        self.training_["routed_to_first"] = {what: int(routed.sum()), "of": int(routed.size)}

    def _refit_combination(self, data: Interactions) -> None:
        self.item_users_ = data.item_user_counts().astype(np.int64)

    def _combine(
        self,
        users: np.ndarray,
        history: sp.csr_matrix,
        sequences: list[np.ndarray] | None,
        *,
        history_given: bool,
    ) -> np.ndarray:
        if self.config.rule == "history_length":
            return self._by_user(users, history, sequences, history_given)
        return self._by_item(users, history, sequences, history_given)

    def _by_user(
        self, users: np.ndarray, history: sp.csr_matrix, sequences: list[np.ndarray] | None, given: bool
    ) -> np.ndarray:
        first = np.diff(history.indptr) <= self.config.threshold
        out = np.empty((users.shape[0], self.n_items), dtype=np.float32)
        for index, rows in ((0, np.flatnonzero(first)), (1, np.flatnonzero(~first))):
            if rows.size == 0:
                continue
            seqs = [sequences[r] for r in rows] if sequences is not None else None
            out[rows] = self.component_scores(index, users[rows], history[rows], seqs, history_given=given)
        return out

    def _by_item(
        self, users: np.ndarray, history: sp.csr_matrix, sequences: list[np.ndarray] | None, given: bool
    ) -> np.ndarray:
        norm = get_normalizer(self.config.normalize)
        mask = unseen_mask(history, self.config.rank_history)
        cold = self.item_users_ <= self.config.threshold
        warm = self.component_scores(1, users, history, sequences, history_given=given)
        out = np.empty((users.shape[0], self.n_items), dtype=np.float32)
        # a warm component that could not add the items added since training scores only its own
        # catalog; the added items are cold (no training users), so the first component fills them in
        known = warm.shape[1]
        out[:, :known] = norm(warm, mask if mask is None else mask[:, :known])
        if cold.any():
            first = norm(self.component_scores(0, users, history, sequences, history_given=given), mask)
            out[:, cold] = first[:, cold]
        return out

    def _can_add_items(self) -> str | None:
        """Why this hybrid cannot add items (None when it can)."""
        if self.config.rule != "item_count":
            return f"its rule is {self.config.rule!r}, and new items are routed by item_count only"
        first = self.components_[0]
        if not first.adds_items_from_text:
            return f"its first (cold-item) component {first.name} lacks the capability adds_items_from_text"
        return None

    def _check_can_add_items(self) -> None:
        self.check_is_fitted()
        why = self._can_add_items()
        if why is not None:
            raise CapabilityError(
                f"this switching hybrid cannot add items after training: {why}. Use rule item_count with "
                "textseq as the first component"
            )

    def item_text_recipe(self) -> dict[str, Any] | None:
        """The first component's recipe; a CapabilityError when this configuration cannot add items."""
        self._check_can_add_items()
        return self.components_[0].item_text_recipe()

    def tuned_text_encoder(self) -> Any:
        """The first component's (it scores the added items)."""
        self._check_can_add_items()
        return self.components_[0].tuned_text_encoder()

    def add_items(self, raw_ids: Any, vectors: np.ndarray) -> np.ndarray:
        """Add new items to the components that add items from text (the first one must), and route them
        to the first component (0 training users: cold); returns their indices."""
        self._check_can_add_items()
        try:
            vocab = self.item_vocab_.extended(np.atleast_1d(np.asarray(raw_ids, dtype=object)))
        except ValueError as exc:
            raise ValueError(f"add_items: new item ids only: {exc}") from None
        start = self.n_items
        for model in self.components_:
            if model.adds_items_from_text:
                model.add_items(raw_ids, vectors)
        k = len(vocab) - start
        self.item_vocab_ = vocab
        h = self.history_
        self.history_ = sp.csr_matrix((h.data, h.indices, h.indptr), shape=(h.shape[0], start + k))
        self.item_users_ = np.concatenate([self.item_users_, np.zeros(k, dtype=np.int64)])
        return np.arange(start, start + k, dtype=np.int64)

    def _state(self) -> dict[str, np.ndarray]:
        return {"item_users": self.item_users_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.item_users_ = arrays["item_users"]
