"""Training checkpoints: a stopped fit continues from its last saved epoch and ends exactly where an
uninterrupted fit would.

A checkpoint holds everything the epoch loop depends on: the weights, the optimiser's moments, the best
weights so far and the early-stopping counter, the training log, and every random state (torch's global
generator, which drives dropout; the loss's negative-sampling generator; the numpy generator that shuffles
and masks the batches). The file is named by a key that hashes the model's configuration, the seed, the
training data and the validation setup, so a file is only ever read back by the very fit that wrote it.
Writes go to a temporary file that replaces the old one, so a kill during a save leaves the previous
checkpoint intact.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

log = logging.getLogger("lmrec.train")

FORMAT = 1
"""Bumped when the saved layout changes; a file of another format is not read."""


@dataclass
class RandomStates:
    """The random generators a fit draws from, beside torch's global one."""

    torch_generators: list[torch.Generator] = field(default_factory=list)
    numpy_generators: list[np.random.Generator] = field(default_factory=list)

    def get(self) -> dict[str, Any]:
        return {
            "torch_global": torch.get_rng_state(),
            "torch": [g.get_state() for g in self.torch_generators],
            "numpy": [g.bit_generator.state for g in self.numpy_generators],
        }

    def set(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["torch_global"])
        for g, s in zip(self.torch_generators, state["torch"], strict=True):
            g.set_state(s)
        for n, s in zip(self.numpy_generators, state["numpy"], strict=True):
            n.bit_generator.state = s


def fit_key(model_name: str, config: dict[str, Any], seed: int, arrays: list[np.ndarray], extra: Any) -> str:
    """Hash naming one fit: model, configuration (thread count excluded), seed, data arrays and `extra`
    (the validation setup)."""
    h = hashlib.sha256()
    settings = {k: v for k, v in config.items() if k != "num_threads"}
    h.update(json.dumps([model_name, settings, int(seed), extra], sort_keys=True, default=str).encode())
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:20]


@dataclass
class TrainingCheckpoint:
    """Where a fit saves its state, and how often (at the end of an epoch once `every_seconds` passed since
    the last save; the last epoch is always saved)."""

    folder: Path
    every_seconds: float = 120.0
    key: str = ""
    random: RandomStates = field(default_factory=RandomStates)
    _last_save: float = field(default=0.0, init=False, repr=False)

    @property
    def path(self) -> Path:
        if not self.key:
            raise ValueError("TrainingCheckpoint.key is not set")
        return Path(self.folder) / f"{self.key}.pt"

    def due(self) -> bool:
        return time.monotonic() - self._last_save >= self.every_seconds

    def save(self, state: dict[str, Any]) -> None:
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".pt.tmp")
        with open(tmp, "wb") as f:
            torch.save({"format": FORMAT, "key": self.key, "random": self.random.get(), **state}, f)
            f.flush()
            os.fsync(f.fileno())  # on disk before it replaces the previous checkpoint
        os.replace(tmp, path)
        self._last_save = time.monotonic()

    def load(self) -> dict[str, Any] | None:
        """The saved state of this fit, with its random states restored; None when there is none."""
        path = self.path
        if not path.is_file():
            return None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # truncated or corrupt file: say which, never train from scratch silently
            raise ValueError(
                f"{path}: unreadable training checkpoint ({type(err).__name__}: {err}); remove the file to "
                "train this model from the start"
            ) from err
        if state.get("format") != FORMAT or state.get("key") != self.key:
            raise ValueError(f"{path}: not a checkpoint of this fit (format or key differs); remove the file")
        self.random.set(state.pop("random"))
        self._last_save = time.monotonic()
        log.info(f"resuming training from {path} after epoch {state['epoch']}")
        return state
