"""A model entry's `augmentation:` applied to its fit data: after the split, on train (tuning) or
train+valid (refit) only, seeded from the experiment seed, checked and described for results.json.

Evaluation never sees the result: the runner scores every model with the split's own parts as targets and
histories, so pseudo-interactions are model input only (`lmrec.augment.base`). Entries with the same
augmentation (method, options, item text) share one augmented log per fit data, so two models augmented
alike are fitted on identical data.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from lmrec.augment.base import Augmented, Augmenter
from lmrec.augment.registry import make_augmenter
from lmrec.data.features import ItemFeatures
from lmrec.data.interactions import Interactions
from lmrec.data.leakage import check_augmented
from lmrec.errors import ConfigError
from lmrec.experiment.config import AugmentationSpec, ModelSpec
from lmrec.experiment.features import text_features
from lmrec.experiment.prepare import Prepared
from lmrec.resources import measure


def augmenter_for(aug: AugmentationSpec, who: str) -> Augmenter:
    """The augmenter an augmentation entry describes (`who` names the model in errors)."""
    try:
        return make_augmenter(
            aug.method, aug.params, amount=aug.amount, ratio=aug.ratio, max_train=aug.max_train
        )
    except (KeyError, ConfigError) as exc:
        raise ConfigError(f"model {who}: augmentation: {exc.args[0]}") from None


class FitAugmentation:
    """Augments the fit data of one model entry (`__call__`), remembering what it did (`facts`)."""

    def __init__(
        self,
        spec: ModelSpec,
        prep: Prepared,
        *,
        seed: int,
        memo: dict[Any, Any] | None = None,
        features_memo: dict[Any, ItemFeatures] | None = None,
    ) -> None:
        if spec.augmentation is None:
            raise ValueError(f"model {spec.display} has no augmentation")
        self.spec, self.aug, self.prep, self.seed = spec, spec.augmentation, prep, seed
        self.augmenter = augmenter_for(self.aug, spec.display)
        self.memo = {} if memo is None else memo
        self.features_memo = {} if features_memo is None else features_memo
        # the text augmenter reads the augmentation's item_text, else the model's (then the default encoder)
        self.item_text = (
            (self.aug.item_text or spec.item_text) if self.augmenter.needs_item_features else None
        )
        self.facts: dict[str, Any] = {"spec": self.aug.describe()}
        if self.item_text is not None:
            self.facts["item_text"] = self.item_text

    def _key(self, which: str) -> str:
        return json.dumps([dataclasses.asdict(self.aug), self.item_text, self.seed, which], sort_keys=True)

    def record(self, which: str) -> dict[str, Any]:
        """What a model fitted on the fit data `which` was fitted with, for its saved `model.json`
        (`training.augmentation`): the augmentation and the rows it added (call after `__call__`)."""
        done = self.facts[which]
        keep = ("method", "placement", "rows_real", "rows_synthetic", "users_selected", "users_augmented")
        return {
            "spec": self.facts["spec"],
            "fit_data": which,
            "seed": self.seed,
            **({"item_text": self.item_text} if self.item_text is not None else {}),
            **{k: done[k] for k in keep if k in done},
        }

    def __call__(self, data: Interactions, which: str) -> Interactions:
        """`data` (the fit data named `which`: "train" or "train+valid") plus the pseudo-interactions."""
        key = self._key(which)
        cached = self.memo.get(key)
        if cached is not None and cached[0] is data:
            self.facts[which] = {**cached[2], "memo": True}
            return cached[1].data  # type: ignore[no-any-return]
        features = None
        stats: dict[str, Any] = {}
        with measure() as m:
            if self.augmenter.needs_item_features:
                who = f"model {self.spec.display} (augmentation {self.aug.method})"
                features = text_features(self.item_text, who, self.prep, self.features_memo, stats)
            augmented: Augmented = self.augmenter.augment(data, seed=self.seed, item_features=features)
            report = check_augmented(augmented, data, name=f"{which} + {self.aug.method}")
        facts = {
            **augmented.describe(),
            "leakage_check": report.to_dict(),
            "seconds": round(m.seconds, 3),
            **({"item_text_encoding": stats} if stats else {}),
        }
        self.memo[key] = (data, augmented, facts)
        self.facts[which] = facts
        return augmented.data
