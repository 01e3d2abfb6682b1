"""Text-aware SASRec: each item is its learned ID embedding plus a projection of its pretrained text
embedding, so items never seen in training are represented by their text alone (cold start)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from lmrec.errors import ConfigError
from lmrec.models.sequential.sasrec import SASRec, SASRecConfig


@dataclass(frozen=True)
class TextSASRecConfig(SASRecConfig):
    """SASRec hyper-parameters plus how much the text has to carry on its own."""

    id_dropout: float = 0.3
    """Share of items whose ID embedding is zeroed in each training pass, so the network learns to rank
    items from text alone (what cold items have); 0 turns it off."""
    cold_neighbours: int = 10
    """After training, an item without training data gets as ID embedding the mean ID embedding of the
    trained items whose text is closest to its own (cosine, this many); 0 leaves it text-only."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.id_dropout < 1.0:
            raise ConfigError(f"id_dropout must be in [0, 1), got {self.id_dropout}")
        if self.cold_neighbours < 0:
            raise ConfigError(f"cold_neighbours must be >= 0, got {self.cold_neighbours}")


class TextSASRec(SASRec):
    """SASRec over text-enriched item representations (fit needs `item_features`).

    Items without training interactions have no trained ID embedding. Two things let them be ranked
    against trained items: item-ID dropout while training (`id_dropout`: the network learns to rank from
    text alone), and, after training, an ID embedding imputed from their nearest trained items by text
    (`cold_neighbours`), so their representation has the same parts and scale as a trained item's.
    Unknown users are scored from the ordered history given at request time;
    an empty history gets the training popularity.
    """

    name: ClassVar[str] = "sasrec_text"
    config_class: ClassVar[type] = TextSASRecConfig
    config: TextSASRecConfig
    uses_item_features: ClassVar[bool] = True
    requires_item_features: ClassVar[bool] = True

    def _after_training(self, net: Any) -> None:
        k = self.config.cold_neighbours
        cold = np.flatnonzero(~self.trained_)
        warm = np.flatnonzero(self.trained_)
        if k == 0 or cold.size == 0 or warm.size == 0:
            return
        import torch

        items = net.items
        text = items.text[1 : self.n_items + 1].numpy()
        norms = np.linalg.norm(text, axis=1, keepdims=True)
        unit = np.divide(text, norms, out=np.zeros_like(text), where=norms > 0)
        k = min(k, warm.size)
        ids = items.ids.weight.detach()
        imputed = np.zeros((cold.size, ids.shape[1]), dtype=np.float32)
        for s in range(0, cold.size, 1024):  # bounded memory: 1024 x n_warm similarities at a time
            sim = unit[cold[s : s + 1024]] @ unit[warm].T
            near = np.argpartition(-sim, k - 1, axis=1)[:, :k]
            imputed[s : s + 1024] = ids[torch.from_numpy(warm[near] + 1)].mean(dim=1).numpy()
        with torch.no_grad():
            items.ids.weight[torch.from_numpy(cold + 1)] = torch.from_numpy(imputed)
            items.known[torch.from_numpy(cold + 1)] = 1.0
        self.training_["cold_items_imputed"] = int(cold.size)
