"""P4 (shared/PROTOCOLS.md): evaluation slices for cold and rare items, made from a P1 or P2 split.

- "cold": a seeded uniform `fraction` of the catalog is made cold: every interaction with those items is
  removed from train and valid (so no model, refitted or not, ever trains on them) and the test targets
  are reduced to those items. Only models that can represent an item without interactions (from its
  text) can rank them; ID-only models score them from untrained parameters or not at all.
- "rare": nothing is removed; the test targets are reduced to items with at most `max_train_count`
  interactions in the training split (PROTOCOLS.md: "training interactions").

The cold items' validation events are removed too, so with a train+valid refit they cannot reach
training; as a consequence they are also absent from the histories models see at test time.

Users whose test targets all fall outside the slice have an empty target set and are not evaluated.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lmrec.data.interactions import Interactions
from lmrec.data.splits import Split


def choose_cold_items(n_items: int, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of round(fraction * n_items) items drawn uniformly without replacement."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"cold item fraction must be in (0, 1), got {fraction}")
    k = max(1, round(fraction * n_items))
    return np.sort(np.random.default_rng(seed).choice(n_items, size=k, replace=False))


def _keep_items(log: Interactions, items: np.ndarray, keep: bool) -> Interactions:
    mask = np.zeros(log.n_items, dtype=bool)
    mask[items] = True
    return log.subset(mask[log.items] if keep else ~mask[log.items])


def cold_item_split(split: Split, *, fraction: float = 0.1, seed: int = 42, targets: str = "cold") -> Split:
    """The "cold" slice of `split` (see the module docstring).

    targets: "cold" keeps the test targets that are cold items (P4); "warm" keeps every other test target
    with the same training data, so that a model's warm-item accuracy is measured on the very model
    that is scored on the cold slice (same data, same seed).
    """
    if targets not in ("cold", "warm"):
        raise ValueError(f"cold_items targets must be 'cold' or 'warm', not {targets!r}")
    cold = choose_cold_items(split.train.n_items, fraction, seed)
    params: dict[str, Any] = {
        **split.params,
        "base": split.name,
        "slice": "cold" if targets == "cold" else "warm (cold items removed from training)",
        "fraction": fraction,
        "seed": seed,
        "n_cold_items": int(cold.shape[0]),
        "removed_train_rows": int(len(split.train) - len(_keep_items(split.train, cold, keep=False))),
        "removed_valid_rows": int(len(split.valid) - len(_keep_items(split.valid, cold, keep=False))),
    }
    test = _keep_items(split.test, cold, keep=targets == "cold")
    params["test_targets"] = len(test)
    return Split(
        train=_keep_items(split.train, cold, keep=False),
        valid=_keep_items(split.valid, cold, keep=False),
        test=test,
        name=f"{split.name}+cold_items" + ("" if targets == "cold" else "(warm targets)"),
        params=params,
    )


def rare_item_split(split: Split, *, max_train_count: int = 5) -> Split:
    """The "rare" slice of `split` (see the module docstring)."""
    if max_train_count < 0:
        raise ValueError(f"max_train_count must be >= 0, got {max_train_count}")
    counts = split.train.item_counts()
    rare = np.flatnonzero(counts <= max_train_count)
    test = _keep_items(split.test, rare, keep=True)
    target_counts = counts[test.items]
    return Split(
        train=split.train,
        valid=split.valid,
        test=test,
        name=f"{split.name}+rare_items",
        params={
            **split.params,
            "base": split.name,
            "slice": "rare",
            "max_train_count": max_train_count,
            "test_targets": len(test),
            "test_targets_with_no_training_interaction": int(np.count_nonzero(target_counts == 0)),
        },
    )
