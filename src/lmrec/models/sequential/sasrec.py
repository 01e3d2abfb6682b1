"""SASRec (Kang & McAuley, ICDM 2018) trained with full-softmax cross-entropy by default.

Full cross-entropy over the catalog instead of the original one-negative BCE is what made SASRec beat
BERT4Rec in the replications (Klenitskiy & Vasilev, RecSys 2023; Petrov & Macdonald 2023); the sampled
softmax option keeps large catalogs affordable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from lmrec.errors import ConfigError
from lmrec.models.sequential import batches as B
from lmrec.models.sequential.recommender import SequentialConfig, SequentialRecommender


@dataclass(frozen=True)
class SASRecConfig(SequentialConfig):
    """SASRec hyper-parameters (the training settings are documented on `SequentialConfig`)."""

    n_blocks: int = 2
    """Self-attention blocks."""
    n_heads: int = 1
    """Attention heads (embedding_size must divide by it)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.embedding_size % self.n_heads:
            raise ConfigError(
                f"embedding_size {self.embedding_size} is not divisible by n_heads {self.n_heads}"
            )


class SASRec(SequentialRecommender):
    """Causal self-attention next-item model.

    Every position of a user's last `max_len` training items predicts the next item. Unknown users are
    scored from the ordered history given at request time (their `sequences`); an empty history gets
    the training popularity.
    """

    name: ClassVar[str] = "sasrec"
    config_class: ClassVar[type] = SASRecConfig
    config: SASRecConfig

    def _make_net(self, items: Any) -> Any:
        from lmrec.models.sequential.networks import SASRecNet

        c = self.config
        return SASRecNet(items, c.embedding_size, c.n_blocks, c.n_heads, c.dropout, c.max_len)

    def _batches(
        self, sequences: list[np.ndarray], rng: np.random.Generator
    ) -> Callable[[int], Iterable[Any]]:
        examples = B.causal_examples(sequences, self.config.max_len)
        if not examples:
            raise ValueError(f"{self.name}: no user has two or more training items to learn from")
        return lambda _epoch: B.causal_batches(examples, self.config.batch_size, rng)

    def _step_loss(self, net: Any, batch: Any, generator: Any) -> Any:
        return self._loss(net, net(batch.tokens), batch.targets, generator)

    def _hidden(self, net: Any, sequences: list[np.ndarray], width: int) -> Any:
        import torch

        tokens = B.last_window(sequences, self.config.max_len, width)
        last = torch.tensor([min(len(s), self.config.max_len) - 1 for s in sequences])
        return net(tokens)[torch.arange(len(sequences)), last]
