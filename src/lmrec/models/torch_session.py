"""Running torch work with a thread count for its duration and a seed drawn from the fit's numpy generator,
shared by the sequence models, CFGAN and the CTR models."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np


@contextlib.contextmanager
def torch_session(threads: int | None, seed: int | None = None) -> Iterator[None]:
    """Set torch's thread count (and seed its RNG, forked so the caller's state is untouched)."""
    import torch

    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        if seed is None:
            yield
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                yield
    finally:
        torch.set_num_threads(old)


def seed_from(rng: np.random.Generator) -> int:
    """A torch seed drawn from a numpy generator."""
    return int(rng.integers(0, 2**62))
