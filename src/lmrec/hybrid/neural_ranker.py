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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from lmrec.ctr.fields import FieldData, FieldEncoder
from lmrec.errors import ConfigError
from lmrec.hybrid.cascade import Cascade
from lmrec.hybrid.ltr import CandidateRows, CandidateStageConfig, LearnedRanking
from lmrec.models.fit_context import Validation


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


class ClickRankingModel:
    """A click model (`lmrec.ctr`) over the user, the item and the binned candidate features; the
    `RankingModel` of the `neural_ranker` stage."""

    def __init__(self, config: NeuralRankerConfig) -> None:
        self.config = config

    def text_needed(self) -> str | None:
        return "text_embedding: true" if self.config.text_embedding else None

    def _columns(self, X: np.ndarray, row_users: np.ndarray, row_items: np.ndarray) -> dict[str, np.ndarray]:
        cols = {"user": row_users, "item": row_items}
        for j, name in enumerate(self.feature_names_):
            cols[name] = np.searchsorted(self.edges_[j], X[:, j], side="right")
        return cols

    def _encode(
        self, X: np.ndarray, row_users: np.ndarray, row_items: np.ndarray, text: np.ndarray | None
    ) -> FieldData:
        data = self.encoder_.transform(self._columns(X, row_users, row_items))
        if not self.config.text_embedding:
            return data
        if text is None:
            raise ConfigError("neural_ranker: text_embedding: true, but the model holds no item text")
        return data.with_dense(text[row_items])

    def fit(self, rows: CandidateRows, rng: np.random.Generator, text: np.ndarray | None) -> dict[str, Any]:
        from lmrec.ctr.model import CTRModel

        c = self.config
        X, users, items = rows.X, rows.row_users, rows.row_items
        self.feature_names_ = rows.feature_names
        train_rows, held_rows = rows.rows_of(rows.train), rows.rows_of(rows.held)
        qs = np.linspace(0, 1, c.bins + 1)[1:-1]
        self.edges_ = _ragged_edges(X[train_rows], qs)
        self.encoder_ = FieldEncoder().fit(self._columns(X[train_rows], users[train_rows], items[train_rows]))
        train = self._encode(X[train_rows], users[train_rows], items[train_rows], text)
        held = self._encode(X[held_rows], users[held_rows], items[held_rows], text)
        self.ctr_ = CTRModel(
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
            rows.y[train_rows],
            held,
            rows.y[held_rows],
            seed=int(rng.integers(2**31 - 1)),
            aux=None if rows.grades is None else rows.grades[train_rows],
        )
        t = self.ctr_.training_
        return {
            "network": c.network,
            "aux_weight": c.aux_weight,
            "best_epoch": t["best_epoch"],
            "holdout_logloss": round(float(t["best_valid_logloss"]), 6),  # type: ignore[arg-type]
            "training_rows": int(train_rows.size),
        }

    def row_grades(
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

    def predict(
        self, X: np.ndarray, row_users: np.ndarray, row_items: np.ndarray, text: np.ndarray | None
    ) -> np.ndarray:
        return self.ctr_.predict_proba(self._encode(X, row_users, row_items, text))

    # --- persistence: the click model in its own folder, bins and vocabularies as JSON -------------------
    def state(self) -> dict[str, np.ndarray]:
        meta = {
            "feature_names": self.feature_names_,
            "edges": [e.tolist() for e in self.edges_],
            "fields": list(self.encoder_.fields_),
            "vocab": self.encoder_.vocab_,
            "n_features": self.encoder_.n_features_,
        }
        return {"ranker_meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}

    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        meta = json.loads(arrays["ranker_meta"].tobytes().decode())
        self.feature_names_ = meta["feature_names"]
        self.edges_ = [np.asarray(e, dtype=np.float64) for e in meta["edges"]]
        enc = FieldEncoder()
        enc.fields_ = tuple(meta["fields"])
        enc.vocab_ = meta["vocab"]
        enc.multi_vocab_ = None
        enc.n_features_ = meta["n_features"]
        self.encoder_ = enc

    def save(self, path: Path) -> None:
        self.ctr_.save(path / "ranker")

    def load(self, path: Path) -> None:
        from lmrec.ctr.model import CTRModel

        self.ctr_ = CTRModel.load(path / "ranker")


def click_model_ranking(config: NeuralRankerConfig) -> LearnedRanking:
    return LearnedRanking("neural_ranker", config, ClickRankingModel(config))


class NeuralRanker(Cascade):
    """Registry entry "neural_ranker": a cascade whose ranker strategy is a neural click model over binned
    candidate features (`LearnedRanking` + `ClickRankingModel`); it declares its config and ranker only.

    Unknown users: the retrievers score them from the given history; the ranker reads them as its
    "unknown user" field value plus the features of their history.
    """

    name = "neural_ranker"
    config_class = NeuralRankerConfig  # type: ignore[assignment]
    config: NeuralRankerConfig  # type: ignore[assignment]
    make_ranker: ClassVar[Any] = staticmethod(click_model_ranking)


def _ragged_edges(X: np.ndarray, qs: np.ndarray) -> list[np.ndarray]:
    """Quantile bin edges per column (duplicates removed: a feature with few values gets fewer bins)."""
    return [np.unique(np.quantile(X[:, j], qs)) for j in range(X.shape[1])]
