"""`textseq`: a text-based sequential recommender that ranks items nobody has interacted with yet.

An item is its pretrained text embedding through a learned adaptor (`text_adaptor.TextAdaptorItems`:
whitening, a mixture of experts, L2 normalisation), and the same adaptor output is both the input token of
a SASRec encoder and the row of the scoring table. The user state is L2-normalised too, and the training
loss is the softmax of cosine / temperature over every trained item (UniSRec's objective, Hou et al.
KDD 2022, without the cross-domain pre-training). Two modes:

- `inductive`: text only. Trained and never-seen items are represented by one function of their text.
- `transductive`: text plus an ID embedding for items with training data; an item without training data
  has no ID part by construction and falls back to its text alone.

What it learns from anchors, written anew: UniSRec (`RUCAIBox/UniSRec`: parametric whitening inside a MoE
adaptor, normalised vectors with a temperature, inductive/transductive); WhitenRec (arXiv 2402.10602:
whitening the anisotropic sentence embeddings is what makes text-only items separable, here the fixed
`zca` option); "Let It Go? Not Quite" (arXiv 2507.19473: keep the text embedding and learn a small delta
on it; fine-tuning the whole encoder lets cold items drift, see `lmrec.text.finetune`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from lmrec.data.features import ItemFeatures
from lmrec.errors import ConfigError
from lmrec.models.sequential.sasrec import SASRec, SASRecConfig
from lmrec.models.sequential.text_adaptor import WHITENING


@dataclass(frozen=True)
class TextSeqConfig(SASRecConfig):
    """SASRec encoder settings plus how items are built from text."""

    mode: str = "inductive"
    """"inductive": items are their text only; "transductive": text plus an ID embedding for items with
    training data (items without training data are text only)."""
    whitening: str = "zca"
    """"zca": fixed whitening of the text vectors with the catalog's mean and covariance (WhitenRec);
    "learned": UniSRec's parametric whitening (a learnable bias per expert); "none": linear maps only."""
    n_experts: int = 8
    """Linear maps in the mixture-of-experts adaptor (1: a single map, no gate)."""
    temperature: float = 0.07
    """Scores are cosine / temperature in the training softmax (ranking does not depend on it)."""
    adaptor_dropout: float = 0.2
    """Dropout on the (whitened) text vector before the adaptor's linear maps."""
    id_dropout: float = 0.0
    """Transductive mode: share of items whose ID part is hidden in each training pass, so the network
    learns to rank from text alone as cold items must be; 0 turns it off."""
    positions: str = "end"
    """SASRec's position layout; "end" (counted back from the newest item) is the better one on Beauty and
    Toys (benchmarks/README.md), and this new model starts with it."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mode not in ("inductive", "transductive"):
            raise ConfigError(f"mode must be 'inductive' or 'transductive', not {self.mode!r}")
        if self.whitening not in WHITENING:
            raise ConfigError(f"whitening must be one of {list(WHITENING)}, not {self.whitening!r}")
        if int(self.n_experts) < 1:
            raise ConfigError(f"n_experts must be at least 1, got {self.n_experts}")
        if not float(self.temperature) > 0:
            raise ConfigError(f"temperature must be positive, got {self.temperature}")
        for name in ("adaptor_dropout", "id_dropout"):
            if not 0.0 <= float(getattr(self, name)) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.id_dropout > 0 and self.mode == "inductive":
            raise ConfigError("id_dropout needs mode: transductive (inductive items have no ID part)")


class TextSeq(SASRec):
    """Text-based SASRec: items from their text through a whitening MoE adaptor (fit needs item_features).

    Items never seen in training are scored from their text in the same space as trained items (both
    modes). Unknown users are scored from the ordered history given at request time; an empty history
    gets the training popularity.
    """

    name: ClassVar[str] = "textseq"
    config_class: ClassVar[type] = TextSeqConfig
    config: TextSeqConfig
    uses_item_features: ClassVar[bool] = True
    requires_item_features: ClassVar[bool] = True

    def _item_encoder(self, n_items: int, features: ItemFeatures | None, counts: np.ndarray) -> Any:
        from lmrec.models.sequential.text_adaptor import zca_whitening

        if features is None:  # the base class refuses this already
            raise ValueError("textseq needs item_features")
        text = np.zeros((n_items + 1, features.dim), dtype=np.float32)
        text[1:] = features.vectors
        known = np.zeros(n_items + 1, dtype=np.float32)
        known[1:] = counts
        whiten = None
        if self.config.whitening == "zca":
            rows = features.vectors[features.has_content]
            whiten = zca_whitening(rows if rows.shape[0] > 1 else features.vectors)
        self.training_["text_source"] = features.source
        return self._adaptor(text, known, whiten)

    def _item_encoder_from_state(self, arrays: dict[str, np.ndarray]) -> Any:
        return self._adaptor(arrays["net.items.text"], arrays["net.items.known"], None)

    def _adaptor(self, text: np.ndarray, known: np.ndarray, whiten: Any) -> Any:
        import torch

        from lmrec.models.sequential.text_adaptor import TextAdaptorItems

        c = self.config
        return TextAdaptorItems(
            torch.from_numpy(np.array(text, dtype=np.float32)),
            torch.from_numpy(np.array(known, dtype=np.float32)),
            c.embedding_size,
            n_experts=c.n_experts,
            whitening=c.whitening,
            transductive=c.mode == "transductive",
            id_dropout=c.id_dropout,
            adaptor_dropout=c.adaptor_dropout,
            whiten=whiten,
        )

    def _step_loss(self, net: Any, batch: Any, generator: Any) -> Any:
        import torch.nn.functional as F

        hidden = F.normalize(net(batch.tokens), dim=-1) / self.config.temperature
        return self._loss(net, hidden, batch.targets, generator)

    def _hidden(self, net: Any, sequences: list[np.ndarray], width: int) -> Any:
        import torch.nn.functional as F

        return F.normalize(super()._hidden(net, sequences, width), dim=-1)
