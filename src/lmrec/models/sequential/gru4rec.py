"""GRU4Rec-style recurrent next-item models (Hidasi et al. 2016), GRU or LSTM cell, trained like SASRec
(every position predicts the next item, full or sampled softmax)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from lmrec.errors import ConfigError
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
