"""SASRec (Kang & McAuley, ICDM 2018) trained with full-softmax cross-entropy by default.

Full cross-entropy over the catalog instead of the original one-negative BCE is what made SASRec beat
BERT4Rec in the replications (Klenitskiy & Vasilev, RecSys 2023; Petrov & Macdonald 2023); the sampled
softmax option keeps large catalogs affordable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from lmrec.errors import ConfigError
from lmrec.models.sequential.recommender import SequentialConfig, SequentialRecommender


@dataclass(frozen=True)
class SASRecConfig(SequentialConfig):
    """SASRec hyper-parameters (the training settings are documented on `SequentialConfig`)."""

    n_blocks: int = 2
    """Self-attention blocks."""
    n_heads: int = 1
    """Attention heads (embedding_size must divide by it)."""
    positions: str = "start"
    """Position embeddings counted from a window's first item ("start") or back from its newest item
    ("end", as the original left-padded code and RecTools do: the item a recommendation follows always has
    the same position embedding)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.positions not in ("start", "end"):
            raise ConfigError(f"positions must be 'start' or 'end', not {self.positions!r}")
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
        return SASRecNet(items, c.embedding_size, c.n_blocks, c.n_heads, c.dropout, c.max_len, c.positions)
