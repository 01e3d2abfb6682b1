"""Fitted models shared within one experiment run, so that a hybrid reuses the single models the run
already trained instead of training them again."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np

from lmrec.data.interactions import Interactions
from lmrec.models.base import Recommender


class ComponentPool:
    """Fitted models shared within one experiment run, so a hybrid does not train SASRec again when the
    same run already trained it with the same parameters, data, seed and validation targets.

    A model fitted from the same seed on the same data with the same parameters is the same model, so
    reuse changes no number; it only saves the time. Entries compare data by identity (the runner passes
    the same split objects), validation by its targets, history, metric and users.
    """

    def __init__(self) -> None:
        self._entries: list[tuple[str, Interactions, dict[str, Any], Recommender]] = []

    @staticmethod
    def _key(model: Recommender) -> str:
        config = dataclasses.asdict(model.config)
        return json.dumps([model.name, config], sort_keys=True, default=str)

    @staticmethod
    def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
        if a.get("item_features") is not b.get("item_features"):
            return False
        va, vb = a.get("validation"), b.get("validation")
        if va is None or vb is None:
            return va is vb
        same_users = (va.users is None and vb.users is None) or (
            va.users is not None and vb.users is not None and np.array_equal(va.users, vb.users)
        )
        return bool(
            va.targets is vb.targets
            and va.history is vb.history
            and va.metric == vb.metric
            and va.exclude_seen == vb.exclude_seen
            and same_users
        )

    def get(self, model: Recommender, data: Interactions, fit_kwargs: dict[str, Any]) -> Recommender | None:
        """The fitted twin of unfitted `model` for this fit, if the pool has one."""
        key = self._key(model)
        for k, d, kw, fitted in self._entries:
            if k == key and d is data and self._same(kw, fit_kwargs):
                return fitted
        return None

    def add(self, model: Recommender, data: Interactions, fit_kwargs: dict[str, Any]) -> None:
        """Remember `model`, fitted on `data` with `fit_kwargs` (item_features, validation), run seed."""
        self._entries.append((self._key(model), data, dict(fit_kwargs), model))
