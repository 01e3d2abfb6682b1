"""BERT4Rec (Sun et al., CIKM 2019): bidirectional self-attention trained to fill in masked items; at
inference a mask token is appended after the history and its prediction is the next item."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from lmrec.errors import ConfigError
from lmrec.models.sequential import batches as B
from lmrec.models.sequential.recommender import SequentialConfig, SequentialRecommender


@dataclass(frozen=True)
class BERT4RecConfig(SequentialConfig):
    """BERT4Rec hyper-parameters (the training settings are documented on `SequentialConfig`)."""

    n_blocks: int = 2
    """Transformer blocks."""
    n_heads: int = 2
    """Attention heads (embedding_size must divide by it)."""
    mask_prob: float = 0.2
    """Share of positions masked in each training sequence (at least one per sequence)."""
    last_only_prob: float = 0.1
    """Share of training sequences that have only their last item masked (the inference shape)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.embedding_size % self.n_heads:
            raise ConfigError(
                f"embedding_size {self.embedding_size} is not divisible by n_heads {self.n_heads}"
            )
        if not 0.0 < self.mask_prob < 1.0:
            raise ConfigError(f"mask_prob must be in (0, 1), got {self.mask_prob}")
        if not 0.0 <= self.last_only_prob <= 1.0:
            raise ConfigError(f"last_only_prob must be in [0, 1], got {self.last_only_prob}")


class BERT4Rec(SequentialRecommender):
    """Masked-item (cloze) sequence model with "mask appended at the end" inference.

    Unknown users are scored from the ordered history given at request time (their `sequences`); an
    empty history gets the training popularity.
    """

    name: ClassVar[str] = "bert4rec"
    config_class: ClassVar[type] = BERT4RecConfig
    config: BERT4RecConfig
    extra_tokens: ClassVar[int] = 1

    @property
    def mask_token(self) -> int:
        return self.n_items + 1

    def _make_net(self, items: Any) -> Any:
        from lmrec.models.sequential.networks import BERT4RecNet

        c = self.config
        return BERT4RecNet(items, c.embedding_size, c.n_blocks, c.n_heads, c.dropout, c.max_len)

    def _batches(
        self, sequences: list[np.ndarray], rng: np.random.Generator
    ) -> Callable[[int], Iterable[Any]]:
        if not any(len(s) >= 2 for s in sequences):
            raise ValueError(f"{self.name}: no user has two or more training items to learn from")
        c = self.config
        mask = self.mask_token
        return lambda _epoch: B.masked_batches(
            sequences, c.max_len, c.batch_size, c.mask_prob, mask, rng, last_only_prob=c.last_only_prob
        )

    def _step_loss(self, net: Any, batch: Any, generator: Any) -> Any:
        return self._loss(net, net(batch.tokens), batch.targets, generator)

    def _windows(self, sequences: list[np.ndarray]) -> list[np.ndarray]:
        return [s[-self.config.max_len :] for s in sequences if len(s) >= 2]

    def _targets_per_user(self, sequences: list[np.ndarray]) -> float:
        c = self.config
        masked = [max(1.0, c.mask_prob * len(w)) for w in self._windows(sequences)]
        return float(np.mean(masked)) * (1 - c.last_only_prob) + c.last_only_prob if masked else 1.0

    def _input_tokens(self, length: int) -> int:
        return min(length, self.config.max_len - 1) + 1  # the history plus the appended mask

    def _hidden(self, net: Any, sequences: list[np.ndarray], width: int) -> Any:
        import torch

        tokens = B.last_window(sequences, self.config.max_len, width, append=self.mask_token)
        last = (tokens != 0).sum(dim=1) - 1
        return net(tokens)[torch.arange(len(sequences)), last]
