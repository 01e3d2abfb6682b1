"""ASReP augmentation (Liu et al., "Augmenting Sequential Recommendation with Pseudo-Prior Items via
Reversely Pre-training Transformer", SIGIR 2021): a SASRec trained on every user's sequence read backwards
learns which item comes *before* a given one; for a short sequence it then generates pseudo-prior items one
at a time, each conditioned on the real sequence and the items generated so far, and they are prepended to
the sequence. The consumer model (any lmrec model named in the experiment's `augmentation:` entry) is then
fitted on the augmented data, as ASReP fine-tunes its forward transformer on it.

Written from the paper's description: the reverse model is lmrec's own SASRec (`lmrec.models.sequential`),
fitted on the data being augmented with its time order reversed (the reversed sequences are built from the
sequences, so ties in time keep their order exactly reversed); generation is greedy (the highest-scoring item
that is new to the user, has interactions in the data and was not generated yet; ties to the lower index).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from lmrec.augment.base import Augmenter, Scorer
from lmrec.data.features import ItemFeatures
from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError

_REVERSE_FIELDS = {
    "embedding_size": "embedding_size",
    "n_blocks": "n_blocks",
    "n_heads": "n_heads",
    "max_len": "max_len",
    "dropout": "dropout",
    "epochs": "epochs",
    "learning_rate": "learning_rate",
    "train_batch_size": "batch_size",
    "num_threads": "num_threads",
}
"""Augmenter field -> field of the reverse model's `SASRecConfig`."""


def reversed_sequences(data: Interactions) -> Interactions:
    """`data` with every user's events in reverse time order (timestamps 0, 1, ... along the reversed
    sequence; ratings dropped: the reverse model reads the order only)."""
    sequences = data.sequences()
    lengths = np.fromiter((s.shape[0] for s in sequences), dtype=np.int64, count=len(sequences))
    users = np.repeat(np.arange(len(sequences), dtype=np.int64), lengths)
    items = np.concatenate([s[::-1] for s in sequences]) if sequences else np.zeros(0, np.int64)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    positions = np.arange(users.shape[0], dtype=np.int64) - starts
    return Interactions(
        users=users,
        items=items.astype(np.int64),
        user_vocab=data.user_vocab,
        item_vocab=data.item_vocab,
        timestamps=positions,
    )


@dataclass(frozen=True)
class ASRePAugmenter(Augmenter):
    """Each selected user gets `amount` pseudo-prior items generated one by one by a reversely trained
    SASRec (see the module doc), the first generated placed just before the user's first real event.

    Seeded: the reverse model is fitted when the first block of users is scored, from the augment seed's
    generator, so the same seed gives the same model and rows whatever `batch_size`; nothing is fitted
    when no user is selected. Generation is greedy and draws nothing. Only users with a sequence are
    augmented (every selected user has at least one event).
    """

    embedding_size: int = 64
    """Reverse SASRec: width of item and position vectors."""
    n_blocks: int = 2
    """Reverse SASRec: Transformer blocks."""
    n_heads: int = 1
    """Reverse SASRec: attention heads."""
    max_len: int = 50
    """Reverse SASRec: most events read per (reversed) sequence: the user's oldest ones and the items
    generated so far."""
    dropout: float = 0.2
    """Reverse SASRec: dropout."""
    epochs: int = 20
    """Reverse SASRec: training epochs (all of them: there is no validation set here)."""
    learning_rate: float = 1e-3
    """Reverse SASRec: Adam learning rate."""
    train_batch_size: int = 128
    """Reverse SASRec: sequences per training batch."""
    num_threads: int | None = 1
    """torch threads for fitting and generating."""

    method: ClassVar[str] = "asrep"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.model_config()  # one rule for every model field

    def model_config(self) -> Any:
        """The reverse model's `SASRecConfig`."""
        from lmrec.models.sequential.sasrec import SASRecConfig

        params = {target: getattr(self, name) for name, target in _REVERSE_FIELDS.items()}
        try:
            return SASRecConfig(**params, loss="ce", positions="end")
        except (ConfigError, TypeError, ValueError) as exc:
            message = str(exc)
            for name, target in _REVERSE_FIELDS.items():
                if name != target:
                    message = message.replace(target, name)
            raise ConfigError(f"ASRePAugmenter: {message}") from None

    def _scorer(self, data: Interactions, seen: sp.csr_matrix, item_features: ItemFeatures | None) -> Scorer:
        from lmrec.models.sequential.sasrec import SASRec

        fitted: list[Any] = []
        sequences = data.sequences()
        in_data = data.item_counts() > 0
        counts = data.user_counts()  # events, repeats included: what `augment` asks amounts for

        def score(users: np.ndarray, history: sp.csr_matrix, rng: np.random.Generator) -> np.ndarray:
            if not fitted:  # here, not in _scorer, to be seeded from the augment seed (see the class doc)
                fitted.append(SASRec(self.model_config()).fit(reversed_sequences(data), seed=rng))
            model = fitted[0]
            steps = int(self.amounts(counts[users]).max())  # the block's largest amount
            blocked = history.toarray().astype(bool)
            blocked[:, ~in_data] = True
            current = [sequences[u][::-1] for u in users]
            out = np.full((users.shape[0], data.n_items), -np.inf)
            rows = np.arange(users.shape[0])
            for step in range(steps):
                scores = model.score(np.full(users.shape[0], -1), sequences=current).astype(np.float64)
                scores[blocked] = -np.inf
                picked = np.argmax(scores, axis=1)  # the first maximum: ties to the lower index
                ok = np.isfinite(scores[rows, picked])  # a user with no candidate left gets nothing more
                out[rows[ok], picked[ok]] = steps - step  # generated first = best = closest to the real start
                blocked[rows[ok], picked[ok]] = True
                current = [np.append(q, p) if k else q for q, p, k in zip(current, picked, ok, strict=True)]
            return out

        return score
