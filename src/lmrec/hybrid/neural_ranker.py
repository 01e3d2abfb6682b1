"""Neural re-ranking stage: a click model (DeepFM, Wide&Deep, NeuMF, LR) scores the retrievers' candidates.

The same stages as the LambdaRank cascade (`ltr`): retrievers fitted on train, candidates of validation
users labelled by their validation targets, the ranker trained on them (pointwise, binary cross-entropy)
with early stopping on held-out validation users' log-loss, retrievers refitted on train+valid for the
test and the ranker applied unchanged. The inputs are categorical fields, as CTR models expect: the user,
the item, and every candidate feature (retriever scores and ranks, popularity, age, ...) cut into
quantile bins learned on the training rows.

Multi-task fusion (`aux_weight` > 0): the click model is trained on L = BCE(target) + λ · MSE(grade),
where the grade of a candidate row is the rating the user gave the validation target on that row and 0 on
every other row (graded relevance, standardised on the training rows). Both tasks read the same field
embeddings, so the rating task shapes what the ranking head sees; only the click head scores candidates.
It needs a log with ratings (MovieLens, raw Amazon reviews); the S3-Rec sequence files have none.

Text (`text_embedding: true`): each candidate's pretrained text embedding (the model's `item_text`, L2-
normalised) enters the click model as a dense field, next to the binned `text` similarity feature if that
group is used.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lmrec.ctr.fields import FieldData, FieldEncoder
from lmrec.errors import ConfigError
from lmrec.hybrid.features import feature_names
from lmrec.hybrid.ltr import CandidateStageConfig, LearnedRanker
from lmrec.models.base import Validation


@dataclass(frozen=True)
class NeuralRankerConfig(CandidateStageConfig):
    """Neural re-ranker hyper-parameters (candidate generation and features as in `ltr`)."""

    network: str = "deepfm"
    """Click model: deepfm, widedeep, neumf or lr."""
    bins: int = 16
    """Quantile bins per numeric feature."""
    embedding_size: int = 16
    """Embedding width per field."""
    hidden: tuple[int, ...] = (64, 32)
    """MLP widths."""
    dropout: float = 0.2
    """MLP dropout."""
    learning_rate: float = 1e-3
    """AdamW learning rate."""
    epochs: int = 30
    """Maximum epochs (early stopping on held-out validation users' log-loss)."""
    patience: int = 3
    """Epochs without improvement before stopping."""
    aux_weight: float = 0.0
    """Multi-task fusion: weight λ of the graded-relevance (rating) regression task in the loss
    L = BCE(target) + λ · MSE(grade); 0 trains the target task alone."""
    text_embedding: bool = False
    """Give the click model each candidate's text embedding as a dense field (needs `item_text`)."""

    def __post_init__(self) -> None:
        from lmrec.ctr.networks import NETWORKS

        super().__post_init__()
        if self.network not in NETWORKS:
            raise ValueError(f"network must be one of {sorted(NETWORKS)}, not {self.network!r}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.bins < 2:
            raise ValueError(f"bins must be >= 2, got {self.bins}")
        if not self.aux_weight >= 0:
            raise ValueError(f"aux_weight must be >= 0, got {self.aux_weight}")


class NeuralRanker(LearnedRanker):
    """Union of the retrievers' top lists, ordered by a neural click model over binned candidate features.

    Unknown users: the retrievers score them from the given history; the ranker reads them as its
    "unknown user" field value plus the features of their history.
    """

    name = "neural_ranker"
    config_class = NeuralRankerConfig  # type: ignore[assignment]
    config: NeuralRankerConfig  # type: ignore[assignment]

    def _columns(self, X: np.ndarray, row_users: np.ndarray, row_items: np.ndarray) -> dict[str, np.ndarray]:
        cols = {"user": row_users, "item": row_items}
        for j, name in enumerate(self.feature_names_):
            cols[name] = np.searchsorted(self.edges_[j], X[:, j], side="right")
        return cols

    def _encode(self, X: np.ndarray, row_users: np.ndarray, row_items: np.ndarray) -> FieldData:
        data = self.encoder_.transform(self._columns(X, row_users, row_items))
        if not self.config.text_embedding:
            return data
        text = self._text()
        if text is None:
            raise ConfigError("neural_ranker: text_embedding: true, but the model holds no item text")
        return data.with_dense(text[row_items])

    def _text_needed(self) -> str | None:
        return "text_embedding: true" if self.config.text_embedding else super()._text_needed()

    def _train_ranker(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sizes: np.ndarray,
        tr: np.ndarray,
        ho: np.ndarray,
        rows_of: Callable[[np.ndarray], np.ndarray],
        row_users: np.ndarray,
        row_items: np.ndarray,
        rng: np.random.Generator,
        grades: np.ndarray | None,
    ) -> dict[str, Any]:
        from lmrec.ctr.model import CTRModel

        c = self.config
        self.feature_names_ = feature_names(c.features, self._n_retrievers)
        train_rows, held_rows = rows_of(tr), rows_of(ho)
        qs = np.linspace(0, 1, c.bins + 1)[1:-1]
        self.edges_ = _ragged_edges(X[train_rows], qs)
        cols = self._columns(X[train_rows], row_users[train_rows], row_items[train_rows])
        self.encoder_ = FieldEncoder().fit(cols)
        train = self._encode(X[train_rows], row_users[train_rows], row_items[train_rows])
        held = self._encode(X[held_rows], row_users[held_rows], row_items[held_rows])
        self.ranker_ = CTRModel(
            model=c.network,
            embedding_size=c.embedding_size,
            hidden=c.hidden,
            dropout=c.dropout,
            learning_rate=c.learning_rate,
            epochs=c.epochs,
            patience=c.patience,
            num_threads=c.num_threads,
            aux_weight=c.aux_weight,
        ).fit(
            train,
            y[train_rows],
            held,
            y[held_rows],
            seed=int(rng.integers(2**31 - 1)),
            aux=None if grades is None else grades[train_rows],
        )
        t = self.ranker_.training_
        return {
            "network": c.network,
            "aux_weight": c.aux_weight,
            "best_epoch": t["best_epoch"],
            "holdout_logloss": round(float(t["best_valid_logloss"]), 6),  # type: ignore[arg-type]
            "training_rows": int(train_rows.size),
        }

    def _row_grades(
        self, validation: Validation, row_users: np.ndarray, row_items: np.ndarray
    ) -> np.ndarray | None:
        if self.config.aux_weight == 0:
            return None
        if validation.targets.ratings is None:
            raise ConfigError(
                "neural_ranker: aux_weight > 0 adds a rating task trained on the validation targets' "
                "ratings, and this log has none (an implicit log such as the S3-Rec files); set aux_weight: 0"
            )
        rated = validation.targets.csr(values="rating", dtype=np.float64)
        return np.asarray(rated[row_users, row_items]).ravel()

    def _predict_ranker(self, X: np.ndarray, row_users: np.ndarray, row_items: np.ndarray) -> np.ndarray:
        return self.ranker_.predict_proba(self._encode(X, row_users, row_items))

    # --- persistence: the click model in its own folder, bins and vocabularies as JSON -------------------
    def _state(self) -> dict[str, np.ndarray]:
        meta = {
            "feature_names": self.feature_names_,
            "edges": [e.tolist() for e in self.edges_],
            "fields": list(self.encoder_.fields_),
            "vocab": self.encoder_.vocab_,
            "n_features": self.encoder_.n_features_,
        }
        return {
            "ranker_meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            **{f"stats_{k}": v for k, v in self.stats_.arrays().items()},
            **({"text": self.text_} if self._text() is not None else {}),
        }

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        from lmrec.hybrid.features import ItemStats

        meta = json.loads(arrays["ranker_meta"].tobytes().decode())
        self.feature_names_ = meta["feature_names"]
        self.edges_ = [np.asarray(e, dtype=np.float64) for e in meta["edges"]]
        enc = FieldEncoder()
        enc.fields_ = tuple(meta["fields"])
        enc.vocab_ = meta["vocab"]
        enc.multi_vocab_ = None
        enc.n_features_ = meta["n_features"]
        self.encoder_ = enc
        self.stats_ = ItemStats(**{k[6:]: v for k, v in arrays.items() if k.startswith("stats_")})
        if "text" in arrays:
            self.text_ = arrays["text"]

    def _save_extra(self, path: Path) -> None:
        super()._save_extra(path)
        self.ranker_.save(path / "ranker")

    def _load_extra(self, path: Path) -> None:
        from lmrec.ctr.model import CTRModel

        super()._load_extra(path)
        self.ranker_ = CTRModel.load(path / "ranker")


def _ragged_edges(X: np.ndarray, qs: np.ndarray) -> list[np.ndarray]:
    """Quantile bin edges per column (duplicates removed: a feature with few values gets fewer bins)."""
    return [np.unique(np.quantile(X[:, j], qs)) for j in range(X.shape[1])]
