"""Each hybrid of a run against the strongest of its own components, with paired tests on the test users.

A hybrid's components are matched to the run's single models by model name and configuration (the epoch
count aside, which a validated fit chooses); components of nested hybrids (a cascade's blended ranker)
count too. The component with the best *test* score is the comparison: the hardest one for the hybrid,
so a win here is a win over every component.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from lmrec.eval import compare
from lmrec.hybrid.components import HybridRecommender
from lmrec.models.base import Recommender

if TYPE_CHECKING:
    from lmrec.experiment.runner import ModelRun


def model_signature(model: Recommender) -> str:
    """Model name and configuration (the epoch count aside, which a validated fit chooses): what a hybrid's
    component and a single model of the run share when they are the same model."""
    config = dataclasses.asdict(model.config)
    config.pop("epochs", None)
    return repr((model.name, sorted(config.items())))


def component_signatures(model: Recommender) -> list[str]:
    """Signatures of a hybrid's components, those of nested hybrids included (empty for single models)."""
    if not isinstance(model, HybridRecommender):
        return []
    out: list[str] = []
    for comp in model.components_:
        out.append(model_signature(comp))
        out.extend(component_signatures(comp))
    return out


def hybrid_comparisons(runs: list[ModelRun], key: str, *, seed: int) -> list[dict[str, Any]]:
    """One row per hybrid: its best matching single component and the paired test hybrid − component.

    Works from the signatures each run recorded, so runs resumed from partial results (no fitted model)
    take part too."""
    singles = [r for r in runs if r.signature is not None and not r.components]
    out = []
    for run in runs:
        if not run.components:
            continue
        wanted = set(run.components)
        matches = [r for r in singles if r.signature in wanted]
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
