"""What a fit is given besides its data and hyper-parameters: where it runs (`FitContext`) and the
validation targets it may watch while it trains (`Validation`). Never a hyper-parameter, never saved with
the model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lmrec.data.interactions import Interactions

if TYPE_CHECKING:
    from lmrec.hybrid.pool import ComponentPool
    from lmrec.models.base import Recommender


@dataclass(frozen=True, eq=False)
class FitContext:
    """Where a fit runs, as opposed to what it learns: never a hyper-parameter, never saved with the model."""

    checkpoint_dir: Path | None = None
    """Folder for training checkpoints, so a stopped fit with the same configuration, seed and data
    continues from its last saved epoch (models that train in epochs: the sequence models); None: none."""
    component_pool: ComponentPool | None = None
    """Fitted models a hybrid may take its components from instead of fitting them again (`lmrec run`
    shares the run's single models with its hybrids)."""
    warm_start: Recommender | None = None
    """A fitted model of the same class and item catalog whose weights this fit starts from instead of a
    fresh initialisation (models with `warm_starts`), as a production model is updated on new data;
    None: from scratch."""
    epoch_report: Callable[[int, float], bool] | None = None
    """Called by models that train in epochs (`reports_epochs`) after every validation evaluation, with
    the epoch and the validation value; an answer of True stops the training there, the best weights so
    far kept and `pruned` set in the training log (a search's pruner: `lmrec.experiment.optuna_search`).
    None: nobody asks."""


@dataclass(frozen=True, eq=False)
class Validation:
    """Validation targets a model may watch while it trains (early stopping on a full-ranking metric)."""

    targets: Interactions
    """The validation targets (same vocabularies as the training data)."""
    history: Interactions
    """What the model is given as each user's history when scoring them (the training log)."""
    metric: str = "NDCG@10"
    """Full-ranking metric to maximise, e.g. "NDCG@10" or "HR@10"."""
    exclude_seen: bool = True
    """Remove history items from the ranking, as the experiment does."""
    users: np.ndarray | None = None
    """Users to evaluate (default: every user with a validation target)."""
