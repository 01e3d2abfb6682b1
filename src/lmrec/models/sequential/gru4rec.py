"""GRU4Rec-style recurrent next-item models (Hidasi et al. 2016), GRU or LSTM cell, trained like SASRec
(every position predicts the next item, full or sampled softmax)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from lmrec.errors import ConfigError
from lmrec.models.sequential import batches as B
from lmrec.models.sequential.recommender import SequentialConfig, SequentialRecommender


@dataclass(frozen=True)
class GRU4RecConfig(SequentialConfig):
    """Recurrent model hyper-parameters (the training settings are documented on `SequentialConfig`)."""

    n_layers: int = 1
    """Stacked recurrent layers."""
    cell: str = "gru"
    """"gru" (GRU4Rec) or "lstm"."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.cell not in ("gru", "lstm"):
            raise ConfigError(f"cell must be 'gru' or 'lstm', not {self.cell!r}")


class GRU4Rec(SequentialRecommender):
    """Recurrent next-item model.

    Unknown users are scored from the ordered history given at request time (their `sequences`); an
    empty history gets the training popularity.
    """

    name: ClassVar[str] = "gru4rec"
    config_class: ClassVar[type] = GRU4RecConfig
    config: GRU4RecConfig

    def _make_net(self, items: Any) -> Any:
        from lmrec.models.sequential.networks import RNNNet

        c = self.config
        return RNNNet(items, c.embedding_size, c.n_layers, c.dropout, c.cell)

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
