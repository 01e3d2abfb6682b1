"""A click-through model: one of the `networks`, trained with binary cross-entropy, early-stopped on the
validation log-loss (the best-on-validation weights are kept), seeded, with a settable thread count.
The epoch loop is the sequence models' (`lmrec.models.sequential.trainer`)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np

from lmrec import __version__
from lmrec.ctr.fields import FieldData
from lmrec.errors import ConfigError, DataError, NotFittedError
from lmrec.models.torch_session import torch_session

FORMAT_VERSION = 1
"""Layout of a saved click model (`model.json` + `arrays.npz`); files from before versioning count as 1."""


@dataclass(frozen=True)
class CTRConfig:
    """Click-through model hyper-parameters."""

    model: str = "deepfm"
    """Network: lr (logistic regression), widedeep, deepfm, neumf."""
    embedding_size: int = 16
    """Embedding width per field."""
    hidden: tuple[int, ...] = (64, 32)
    """MLP layer widths (deep part)."""
    dropout: float = 0.2
    """Dropout in the MLP."""
    learning_rate: float = 1e-3
    """AdamW learning rate."""
    weight_decay: float = 1e-5
    """AdamW weight decay."""
    batch_size: int = 1024
    """Examples per step."""
    epochs: int = 50
    """Maximum epochs."""
    patience: int = 3
    """Stop after this many epochs without a better validation log-loss."""
    num_threads: int | None = None
    """torch threads (None: torch's default)."""
    aux_weight: float = 0.0
    """Multi-task fusion: weight λ of an auxiliary regression task (e.g. the rating) in the training loss
    L = BCE(click) + λ · MSE(aux), learned through the shared field embeddings; 0 = click task only.
    Early stopping still watches the click log-loss."""

    def __post_init__(self) -> None:
        from lmrec.ctr.networks import NETWORKS

        if self.model not in NETWORKS:
            raise ValueError(f"model must be one of {sorted(NETWORKS)}, not {self.model!r}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        for name in ("embedding_size", "batch_size", "epochs", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.aux_weight < 0:
            raise ValueError(f"aux_weight must be >= 0, got {self.aux_weight}")


def _labels(y: np.ndarray, n: int, what: str) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    if y.shape[0] != n:
        raise ValueError(f"{what}: {y.shape[0]} labels for {n} examples")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f"{what}: labels must be 0 or 1")
    return y


class CTRModel:
    """Predicts click probabilities from `FieldData`."""

    def __init__(self, config: CTRConfig | None = None, **params: Any) -> None:
        try:
            self.config = config if config is not None else CTRConfig(**params)
        except TypeError as exc:
            raise ConfigError(f"CTRModel: {exc}") from exc

    def _network(self, data: FieldData) -> Any:
        from lmrec.ctr.networks import NETWORKS

        c = self.config
        return NETWORKS[c.model](
            data.n_features,
            len(data.fields),
            data.multi is not None,
            data.dense_dim,
            dim=c.embedding_size,
            hidden=c.hidden,
            dropout=c.dropout,
        )

    def fit(
        self,
        train: FieldData,
        y: np.ndarray,
        valid: FieldData,
        y_valid: np.ndarray,
        *,
        seed: int = 0,
        aux: np.ndarray | None = None,
    ) -> Self:
        """Train on `train`, early-stop on the validation log-loss, keep the best-on-validation weights.

        aux: the auxiliary regression target of every training example (needed when aux_weight > 0);
        standardised on the training rows. `num_threads` and the seed hold for the fit only (torch's
        thread count and RNG state are the caller's again afterwards).
        """
        with torch_session(self.config.num_threads, seed):
            return self._fit(train, y, valid, y_valid, seed=seed, aux=aux)

    def _fit(
        self,
        train: FieldData,
        y: np.ndarray,
        valid: FieldData,
        y_valid: np.ndarray,
        *,
        seed: int,
        aux: np.ndarray | None,
    ) -> Self:
        import torch

        from lmrec.eval.rating import log_loss
        from lmrec.models.sequential import trainer

        y = _labels(y, len(train), "train")
        y_valid = _labels(y_valid, len(valid), "valid")
        c = self.config
        if c.aux_weight > 0:
            if aux is None or np.asarray(aux).shape != (len(train),):
                raise ValueError(
                    f"aux_weight > 0 needs aux= with one value per training example ({len(train)})"
                )
            a = np.asarray(aux, dtype=np.float64)
            if not np.isfinite(a).all():
                raise ValueError("aux contains NaN or infinity")
            aux_std = ((a - a.mean()) / (a.std() or 1.0)).astype(np.float32)
        rng = np.random.default_rng(seed)
        self.net_ = self._network(train)
        trained: torch.nn.Module = self.net_
        aux_head = None
        if c.aux_weight > 0:
            from lmrec.ctr.networks import AuxHead

            n_fields = len(train.fields) + int(train.multi is not None) + int(train.dense is not None)
            aux_head = AuxHead(self.net_, n_fields)
            trained = torch.nn.ModuleList([self.net_, aux_head])  # parameters: the network's, then the head's
        loss_fn = torch.nn.BCEWithLogitsLoss()

        def batches(epoch: int) -> Iterator[np.ndarray]:
            order = rng.permutation(len(train))
            for lo in range(0, order.size, c.batch_size):
                yield order[lo : lo + c.batch_size]

        def step_loss(rows: np.ndarray) -> torch.Tensor:
            inputs = self._tensors(train, rows)
            loss = loss_fn(self.net_(*inputs), torch.from_numpy(y[rows]))
            if aux_head is not None:
                err = aux_head(*inputs) - torch.from_numpy(aux_std[rows])
                loss = loss + c.aux_weight * err.pow(2).mean()
            return loss

        valid_logloss: list[float] = []

        def validate() -> float:
            valid_logloss.append(log_loss(y_valid, self._predict(valid)))
            return valid_logloss[-1]

        info = trainer.train(
            trained, batches, step_loss, epochs=c.epochs, learning_rate=c.learning_rate,
            weight_decay=c.weight_decay, validate=validate, metric="log-loss", patience=c.patience,
            eval_every=1, name=c.model, minimize=True, min_delta=1e-6,
        )  # fmt: skip
        self.n_features_ = train.n_features
        self.fields_ = train.fields
        self.has_multi_ = train.multi is not None
        self.dense_dim_ = train.dense_dim
        self.training_ = {
            "epochs_run": info.epochs_run,
            "best_epoch": info.best_epoch,
            "best_valid_logloss": float(valid_logloss[info.best_epoch - 1]),
            "seconds_per_epoch": info.seconds_per_epoch,
            "stopped_early": info.stopped_early,
            "history": [
                {"epoch": e, "loss": loss, "valid_logloss": v}
                for e, (loss, v) in enumerate(zip(info.losses, valid_logloss, strict=True), start=1)
            ],
        }
        return self

    def _tensors(self, data: FieldData, rows: np.ndarray | None = None) -> tuple[Any, Any, Any]:
        import torch

        part = data if rows is None else data.take(rows)
        return tuple(  # type: ignore[return-value]
            None if a is None else torch.from_numpy(a) for a in (part.single, part.multi, part.dense)
        )

    def _predict(self, data: FieldData, batch: int = 65536) -> np.ndarray:
        import torch

        self.net_.eval()
        out = []
        with torch.no_grad():
            for lo in range(0, len(data), batch):
                rows = np.arange(lo, min(lo + batch, len(data)))
                out.append(torch.sigmoid(self.net_(*self._tensors(data, rows))).numpy())
        return np.concatenate(out).astype(np.float64) if out else np.empty(0)

    def predict_proba(self, data: FieldData) -> np.ndarray:
        """Click probability of every example."""
        if not hasattr(self, "net_"):
            raise NotFittedError("CTRModel is not fitted yet: call fit(...) first")
        if data.n_features != self.n_features_ or data.fields != self.fields_:
            raise ValueError("data was encoded with a different FieldEncoder than the training data")
        if data.dense_dim != self.dense_dim_:
            raise ValueError(
                f"the model was trained with {self.dense_dim_} dense features per example, "
                f"these examples have {data.dense_dim}"
            )
        return self._predict(data)

    def save(self, path: str | Path) -> Path:
        """`model.json` (config, fields, versions) and `arrays.npz` (the network's tensors; no pickle)."""
        if not hasattr(self, "net_"):
            raise NotFittedError("CTRModel is not fitted yet: call fit(...) first")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        np.savez(path / "arrays.npz", **{k: v.numpy() for k, v in self.net_.state_dict().items()})
        meta = {
            "format_version": FORMAT_VERSION,
            "lmrec_version": __version__,
            "config": dataclasses.asdict(self.config),
            "n_features": self.n_features_,
            "fields": list(self.fields_),
            "has_multi": self.has_multi_,
            "dense_dim": self.dense_dim_,
            "training": {k: v for k, v in self.training_.items() if k != "history"},
        }
        (path / "model.json").write_text(json.dumps(meta, indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path) -> CTRModel:
        """Read what `save` wrote (format_version 1; a file without one predates versioning: also 1)."""
        import torch

        path = Path(path)
        meta_file = path / "model.json"
        if not meta_file.is_file():
            raise FileNotFoundError(f"{path} is not a saved click model (no model.json)")
        try:
            meta = json.loads(meta_file.read_text())
        except json.JSONDecodeError as exc:
            raise DataError(f"{meta_file} is not valid JSON ({exc}); save the model again") from None
        version = meta.get("format_version", 1)
        if version != FORMAT_VERSION:
            raise ValueError(
                f"{meta_file}: unsupported format_version {version!r} (this lmrec {__version__} reads "
                f"{FORMAT_VERSION}); save the model again with this version"
            )
        model = cls(CTRConfig(**meta["config"]))
        fields = tuple(meta["fields"])
        multi = np.zeros((1, 1), dtype=np.int64) if meta["has_multi"] else None
        dense_dim = int(meta.get("dense_dim", 0))  # models saved before dense fields existed have none
        dense = np.zeros((1, dense_dim), dtype=np.float32) if dense_dim else None
        stub = FieldData(np.zeros((1, len(fields)), dtype=np.int64), multi, meta["n_features"], fields, dense)
        model.net_ = model._network(stub)
        with np.load(path / "arrays.npz", allow_pickle=False) as npz:
            model.net_.load_state_dict({k: torch.from_numpy(npz[k]) for k in npz.files})
        model.n_features_, model.fields_, model.has_multi_ = meta["n_features"], fields, meta["has_multi"]
        model.dense_dim_ = dense_dim
        model.training_ = meta["training"]
        return model
