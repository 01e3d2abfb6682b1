"""What every model trained in epochs reports about its training (saved with the model, shown in
results.json and in the report's training curves): the shared fields of the sequence/CTR trainer's
`TrainingLog` and CFGAN's `GANLog`, which add their own loss curves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class EpochLog:
    """Epochs run, the kept epoch, its validation score, and time."""

    epochs_run: int = 0
    best_epoch: int = 0
    """Epoch (1-based) of the kept weights: the best on validation, or the last without validation."""
    best_valid: float | None = None
    metric: str | None = None
    seconds_per_epoch: float = 0.0
    train_seconds: float = 0.0
    stopped_early: bool = False
    valid: list[float] = field(default_factory=list)
    """Validation metric of every evaluation, in order."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)
