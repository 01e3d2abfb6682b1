"""Each hybrid of a run against the strongest of its own components, with paired tests on the test users.

A hybrid's components are matched to the run's single models by model name and configuration (the epoch
count aside, which a validated fit chooses); components of nested hybrids (a cascade's blended ranker)
count too. The component with the best *test* score is the comparison: the hardest one for the hybrid,
so a win here is a win over every component.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lmrec.eval import compare
from lmrec.experiment.runner import ModelRun
from lmrec.hybrid.components import HybridRecommender
from lmrec.models.base import Recommender


def _signature(model: Recommender) -> tuple[str, str]:
    config = dataclasses.asdict(model.config)  # type: ignore[call-overload]
    config.pop("epochs", None)
    return model.name, repr(sorted(config.items()))


def _leaves(model: HybridRecommender) -> list[Recommender]:
    out: list[Recommender] = []
    for comp in model.components_:
        out.append(comp)
        if isinstance(comp, HybridRecommender):
            out.extend(_leaves(comp))
    return out


def hybrid_comparisons(runs: list[ModelRun], key: str, *, seed: int) -> list[dict[str, Any]]:
    """One row per hybrid: its best matching single component and the paired test hybrid − component."""
    singles = [r for r in runs if r.model is not None and not isinstance(r.model, HybridRecommender)]
    out = []
    for run in runs:
        if not isinstance(run.model, HybridRecommender):
            continue
        wanted = {_signature(c) for c in _leaves(run.model)}
        matches = [r for r in singles if r.model is not None and _signature(r.model) in wanted]
        if not matches:
            continue
        best = max(matches, key=lambda r: r.test[key])
        # a = the component, b = the hybrid: mean_diff > 0 is how far the hybrid is ahead
        res = compare(best.per_user, run.per_user, key, seed=seed)
        out.append(
            {
                "hybrid": run.label,
                "best component": best.label,
                "components in run": [r.label for r in matches],
                **res.to_dict(),
            }
        )
    return out
