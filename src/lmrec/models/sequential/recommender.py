"""The `Recommender` wrapper shared by the torch sequence models: fit (with optional early stopping on the
validation split), ordered-history scoring, popularity for empty histories, and array persistence."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import scipy.sparse as sp

from lmrec.data.features import ItemFeatures
from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError
from lmrec.models.fit_context import FitContext, Validation
from lmrec.models.ordered_history import KeepsTrainingLog
from lmrec.models.torch_session import seed_from, torch_session

if TYPE_CHECKING:
    from lmrec.models.sequential.checkpoint import TrainingCheckpoint

SCORE_BATCH = 512
"""Users per forward pass when scoring (memory: SCORE_BATCH x n_items float32 plus activations)."""


@dataclass(frozen=True)
class SequentialConfig:
    """Training settings shared by every sequence model (LensKit naming: embedding_size, epochs, ...)."""

    embedding_size: int = 64
    """Width of item embeddings and hidden states."""
    max_len: int = 50
    """Most recent items a user is represented by (longer histories are cut from the front)."""
    dropout: float = 0.2
    """Dropout on embeddings and inside the encoder."""
    table_dropout: float = 0.0
    """Dropout on the item table the training loss scores against (the output side), as RecTools' item
    network applies its dropout to every item embedding it returns; 0: the output table is left whole."""
    loss: str = "ce"
    """"ce": full softmax cross-entropy over the whole catalog; "sampled": sampled softmax (big catalogs)."""
    n_negatives: int = 256
    """Uniform negatives per target under loss="sampled"."""
    negative_sharing: str = "position"
    """Under loss="sampled": "position" draws fresh negatives for every target position (RecTools/eSASRec);
    "batch" shares one draw across the batch (cheaper: one (N x n_negatives) product, no gather per row)."""
    loss_weighting: str = "user"
    """"user": the loss is the mean over a batch's target positions, and batches hold users of similar length,
    so every user weighs about the same; "position": every target position weighs the same (as with the
    random batches of the original SASRec code), so long histories weigh more."""
    epochs: int = 200
    """Most epochs; with a validation set, early stopping usually ends training sooner."""
    batch_size: int = 128
    """Users per training batch."""
    learning_rate: float = 1e-3
    """AdamW step size."""
    weight_decay: float = 0.0
    """AdamW decoupled weight decay."""
    patience: int = 10
    """Validation evaluations without improvement before training stops."""
    eval_every: int = 1
    """Epochs between validation evaluations."""
    num_threads: int | None = None
    """torch intra-op threads for fit and score (None: torch's default, all cores)."""

    def __post_init__(self) -> None:
        if self.loss not in ("ce", "sampled"):
            raise ConfigError(f"loss must be 'ce' or 'sampled', not {self.loss!r}")
        if self.negative_sharing not in ("position", "batch"):
            raise ConfigError(
                f"negative_sharing must be 'position' or 'batch', not {self.negative_sharing!r}"
            )
        if self.loss_weighting not in ("user", "position"):
            raise ConfigError(f"loss_weighting must be 'user' or 'position', not {self.loss_weighting!r}")
        for name in ("embedding_size", "max_len", "epochs", "batch_size", "patience", "eval_every"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("dropout", "table_dropout"):
            if not 0.0 <= float(getattr(self, name)) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")


def input_width(tokens: int, max_len: int) -> int:
    """Padded width for `tokens` input tokens: the next power of two, at most `max_len`."""
    return int(min(max_len, 1 << max(int(tokens) - 1, 0).bit_length()))


class SequentialRecommender(KeepsTrainingLog):
    """Base of the torch sequence models.

    Unknown users (and known users given a new history) are scored from the ordered `sequences` passed
    to `score`/`recommend`; a history given only as a matrix is read in item-index order; users with an
    empty history get the popularity (log counts) of the log the model keeps: the training data, or the
    real log given to `keep_history` after an augmented fit (pseudo-events do not make an item popular).

    Items that never occur in a training window have no trained representation: they are left out of the
    softmax while training (so training does not learn to push them down), ID-only models rank them last
    (finite scores below every trained item), and text-aware models score them from their text.
    """

    config: SequentialConfig
    uses_sequences: ClassVar[bool] = True
    supports_validation: ClassVar[bool] = True
    reports_epochs: ClassVar[bool] = True
    warm_starts: ClassVar[bool] = True
    uses_torch: ClassVar[bool] = True
    extra_tokens: ClassVar[int] = 0
    """Special tokens after the items (BERT4Rec's mask)."""

    def _store_log(self, data: Interactions) -> None:
        super()._store_log(data)
        self.popularity_ = np.log1p(data.item_counts()).astype(np.float32)

    # --- what each model family supplies -------------------------------------------------------------
    @abstractmethod
    def _make_net(self, items: Any) -> Any:
        """The nn.Module around the item encoder `items`."""

    # causal next-item training and inference (SASRec, GRU4Rec); BERT4Rec overrides these
    def _batches(
        self, sequences: list[np.ndarray], rng: np.random.Generator
    ) -> Callable[[int], Iterable[Any]]:
        """epoch -> training batches: every position of a user's last max_len items predicts the next."""
        from lmrec.models.sequential import batches as B

        examples = B.causal_examples(sequences, self.config.max_len)
        if not examples:
            raise ValueError(f"{self.name}: no user has two or more training items to learn from")
        return lambda _epoch: B.causal_batches(examples, self.config.batch_size, rng)

    def _step_loss(self, net: Any, batch: Any, generator: Any) -> Any:
        """Loss of one batch."""
        return self._loss(net, net(batch.tokens), batch.targets, generator)

    def _hidden(self, net: Any, sequences: list[np.ndarray], width: int) -> Any:
        """(B, dim) user states from non-empty sequences, each padded to `width` tokens: the state at
        the last item."""
        import torch

        from lmrec.models.sequential import batches as B

        tokens = B.last_window(sequences, self.config.max_len, width)
        last = torch.tensor([min(len(s), self.config.max_len) - 1 for s in sequences])
        return net(tokens)[torch.arange(len(sequences)), last]

    def _windows(self, sequences: list[np.ndarray]) -> list[np.ndarray]:
        """The items of each sequence that training reads (causal models: the last max_len + 1)."""
        return [s[-(self.config.max_len + 1) :] for s in sequences if len(s) >= 2]

    def _targets_per_user(self, sequences: list[np.ndarray]) -> float:
        """Mean number of target positions per training user (the loss scale of "position" weighting)."""
        lengths = [len(w) - 1 for w in self._windows(sequences)]
        return float(np.mean(lengths)) if lengths else 1.0

    # --- fitting ---------------------------------------------------------------------------------------
    def _fit(self, data: Interactions, rng: np.random.Generator) -> None:
        self._fit_with(data, rng, item_features=None, validation=None, context=FitContext())

    def _item_encoder(self, n_items: int, features: ItemFeatures | None, counts: np.ndarray) -> Any:
        """The module that turns item tokens into vectors (ID-only here; `textseq` builds it from text).

        counts (n_items,) bool: the items with training data."""
        from lmrec.models.sequential.networks import ItemEncoder

        return ItemEncoder(n_items + 1 + self.extra_tokens, self.config.embedding_size)

    def _fit_with(
        self,
        data: Interactions,
        rng: np.random.Generator,
        *,
        item_features: ItemFeatures | None,
        validation: Validation | None,
        context: FitContext,
    ) -> None:
        """Train; with `context.checkpoint_dir`, keep checkpoints there (`lmrec run` gives the run's
        `checkpoints/` folder) so a stopped fit with the same configuration, seed and data continues
        from its last saved epoch (`lmrec.models.sequential.checkpoint`)."""
        import torch

        from lmrec.models.sequential import trainer

        cfg = self.config
        self._store_log(data)
        sequences = data.sequences()
        windows = self._windows(sequences)
        trained = np.zeros(data.n_items, dtype=bool)
        if windows:
            trained[np.concatenate(windows)] = True
        self.trained_ = trained
        self._untrained_t = torch.from_numpy(~trained)
        self._trained_idx_t = torch.from_numpy(np.flatnonzero(trained))
        self._loss_scale = self._targets_per_user(sequences)
        seed = seed_from(rng)
        with torch_session(cfg.num_threads, seed):
            net = self._make_net(self._item_encoder(data.n_items, item_features, trained))
            if context.warm_start is not None:  # same class and catalog (checked by `fit`)
                previous: Any = context.warm_start
                try:
                    net.load_state_dict(previous.net_.state_dict())
                except RuntimeError as exc:
                    raise ValueError(f"{self.name}: warm_start has another network shape: {exc}") from None
                self.training_["warm_start"] = True
            self.net_ = net
            generator = torch.Generator().manual_seed(seed)
            batch_rng = np.random.default_rng(seed)
            batches = self._batches(sequences, batch_rng)
            validate = None if validation is None else self._validator(validation)
            checkpoint = (  # a checkpoint does not record the weights a warm start began from
                None
                if context.warm_start is not None
                else self._checkpoint(context.checkpoint_dir, data, seed, item_features, validation)
            )
            if checkpoint is not None:
                from lmrec.models.sequential.checkpoint import RandomStates

                checkpoint.random = RandomStates([generator], [batch_rng])
            log = trainer.train(
                net,
                batches,
                lambda b: self._step_loss(net, b, generator),
                epochs=cfg.epochs,
                learning_rate=cfg.learning_rate,
                weight_decay=cfg.weight_decay,
                validate=validate,
                metric=None if validation is None else validation.metric,
                patience=cfg.patience,
                eval_every=cfg.eval_every,
                name=self.name,
                checkpoint=checkpoint,
                report=None if validation is None else context.epoch_report,
            )
        self.training_ = {**log.to_dict(), **self.training_}

    def _checkpoint(
        self,
        folder: Path | None,
        data: Interactions,
        seed: int,
        item_features: ItemFeatures | None,
        validation: Validation | None,
    ) -> TrainingCheckpoint | None:
        """The checkpoint of this fit under `folder`, keyed by everything the training reads."""
        if folder is None:
            return None
        from lmrec.models.sequential.checkpoint import TrainingCheckpoint, fit_key

        arrays = [data.indptr(), data.items]
        if item_features is not None:
            arrays.append(item_features.vectors)
        extra: dict[str, Any] = {"n_users": data.n_users, "n_items": data.n_items}  # the network's shape
        if validation is not None:
            extra |= {"metric": validation.metric, "exclude_seen": validation.exclude_seen}
            arrays += [validation.targets.indptr(), validation.targets.items]
            arrays += [validation.history.indptr(), validation.history.items]
            if validation.users is not None:
                arrays.append(np.asarray(validation.users))
        key = fit_key(self.name, asdict(self.config), seed, arrays, extra)
        return TrainingCheckpoint(Path(folder), key=f"{self.name}-{key}")

    def _validator(self, validation: Validation) -> Callable[[], float]:
        from lmrec.eval import evaluate_ranking

        targets, history = validation.targets.csr(), validation.history.csr()
        sequences = validation.history.sequences()

        def validate() -> float:
            res = evaluate_ranking(
                self,
                targets,
                history,
                ns=(),
                metrics=[validation.metric],
                users=validation.users,
                exclude_history=validation.exclude_seen,
                sequences=sequences,
            )
            return float(next(iter(res.summary().values())))

        return validate

    def _loss(self, net: Any, hidden: Any, targets: Any, generator: Any) -> Any:
        """Softmax loss at the positions with a target (targets are tokens; 0 = none)."""
        import torch

        from lmrec.models.sequential.losses import softmax_loss

        where = targets > 0
        table = net.items.table()[1 : self.n_items + 1]
        if self.config.table_dropout > 0:
            table = torch.nn.functional.dropout(table, self.config.table_dropout, training=net.training)
        total = softmax_loss(
            hidden[where],
            targets[where] - 1,
            table,
            n_negatives=self.config.n_negatives if self.config.loss == "sampled" else None,
            generator=generator,
            untrained=self._untrained_t,
            trained_idx=self._trained_idx_t,
            negative_sharing=self.config.negative_sharing,
        )
        return self._normalised(total, targets)

    def _normalised(self, total: Any, targets: Any) -> Any:
        """A batch's summed loss divided as `loss_weighting` says (targets: the batch's target tokens)."""
        if self.config.loss_weighting == "position":
            return total / (targets.shape[0] * self._loss_scale)
        return total / (targets > 0).sum()

    # --- scoring ---------------------------------------------------------------------------------------
    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        # the base class routes models with `uses_sequences` to `_score_sequences`
        return self._score_sequences(users, history, None, history_given=True)

    def _stored_sequence(self, user: int) -> np.ndarray:
        return self.seq_items_[self.seq_indptr_[user] : self.seq_indptr_[user + 1]]

    def _resolve(
        self,
        users: np.ndarray,
        history: sp.csr_matrix,
        sequences: list[np.ndarray] | None,
        history_given: bool,
    ) -> list[np.ndarray]:
        out = []
        for row, u in enumerate(users):
            if sequences is not None:
                seq = np.asarray(sequences[row], dtype=np.int64).reshape(-1)
                if seq.size and (seq.min() < 0 or seq.max() >= self.n_items):
                    raise ValueError(f"sequence {row} holds item indices outside [0, {self.n_items})")
            elif not history_given and u >= 0:
                seq = self._stored_sequence(int(u))
            else:
                seq = history.indices[history.indptr[row] : history.indptr[row + 1]].astype(np.int64)
            out.append(seq)
        return out

    def _score_sequences(
        self,
        users: np.ndarray,
        history: sp.csr_matrix,
        sequences: list[np.ndarray] | None,
        *,
        history_given: bool,
    ) -> np.ndarray:
        import torch

        seqs = self._resolve(users, history, sequences, history_given)
        scores = np.empty((len(seqs), self.n_items), dtype=np.float32)
        empty = np.array([len(s) == 0 for s in seqs], dtype=bool)
        scores[empty] = self.popularity_
        # each user is padded to a width that depends on their own length only (next power of two, at most
        # max_len): short histories cost little, and a user's scores do not depend on the batch
        widths = np.array([input_width(self._input_tokens(len(s)), self.config.max_len) for s in seqs])
        net = self.net_
        if net.training:  # eval() walks every module: too slow to repeat per request
            net.eval()
        with torch_session(self.config.num_threads), torch.no_grad():
            table = net.items.table()[1 : self.n_items + 1]
            for width in np.unique(widths[~empty]):
                rows = np.flatnonzero((widths == width) & ~empty)
                for s in range(0, rows.shape[0], SCORE_BATCH):
                    part = rows[s : s + SCORE_BATCH]
                    hidden = self._hidden(net, [seqs[i] for i in part], int(width))
                    scores[part] = (hidden @ table.T).numpy()
        if not net.items.has_text:
            untrained = ~self.trained_
            if untrained.any() and (~empty).any():  # no representation: ranked below every trained item
                rows = np.flatnonzero(~empty)
                floor = scores[np.ix_(rows, np.flatnonzero(~untrained))].min(axis=1) - 1.0
                scores[np.ix_(rows, np.flatnonzero(untrained))] = floor[:, None]
        return scores

    def _input_tokens(self, length: int) -> int:
        """Tokens the network reads at inference for a history of `length` items."""
        return min(length, self.config.max_len)

    # --- embedding-model protocol (lmrec.retrieval): score = user_vectors @ item_vectors.T ------------
    def user_vectors(
        self,
        users: np.ndarray,
        history: sp.csr_matrix | None = None,
        sequences: list[np.ndarray] | None = None,
    ) -> np.ndarray:
        """(B, d) encoder states after each user's sequence, computed as `score` computes them (given
        `sequences`, else the stored training sequence of a known user, else the history row).

        Empty histories raise ValueError: `score` ranks them by popularity, which is no inner product.
        """
        import torch

        users = self._batch_users(users, sequences)
        seqs = self._resolve(users, self._history_rows(users, history), sequences, history is not None)
        empty = [row for row, s in enumerate(seqs) if not len(s)]
        if empty:
            raise ValueError(
                f"{len(empty)} user(s) with an empty history (rows {empty[:5]}): {self.name} scores them "
                "by popularity, which has no user vector; rank them with recommend()"
            )
        widths = np.array([input_width(self._input_tokens(len(s)), self.config.max_len) for s in seqs])
        out: np.ndarray | None = None  # (B, d) once the first state is known (not via item_vectors: a copy)
        net = self.net_
        if net.training:  # eval() walks every module: too slow to repeat per request
            net.eval()
        with torch_session(self.config.num_threads), torch.no_grad():
            for width in np.unique(widths):  # the same padding as `_score_sequences`
                rows = np.flatnonzero(widths == width)
                for s in range(0, rows.shape[0], SCORE_BATCH):
                    part = rows[s : s + SCORE_BATCH]
                    states = self._hidden(net, [seqs[i] for i in part], int(width)).numpy()
                    if out is None:
                        out = np.empty((len(seqs), states.shape[1]), dtype=np.float32)
                    out[part] = states
        return out if out is not None else np.empty((0, self.config.embedding_size), dtype=np.float32)

    def item_vectors(self) -> np.ndarray:
        """(n_items, d) item representations the scores use (row i = item index i).

        ID-only models give items without a trained representation (`trained_` False) all-NaN rows:
        `score` ranks them below every trained item, which no inner product expresses; `AnnIndex` leaves
        such rows out of its index and ranks them last, as `score` does.
        """
        import torch

        self.check_is_fitted()
        with torch_session(self.config.num_threads), torch.no_grad():
            table = self.net_.items.table()[1 : self.n_items + 1].numpy()
        vectors = np.array(table, dtype=np.float32)
        if not self.net_.items.has_text:
            vectors[~self.trained_] = np.nan
        return vectors

    # --- persistence -----------------------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        state = {f"net.{k}": v.detach().numpy() for k, v in self.net_.state_dict().items()}
        return {
            **state,
            "seq_indptr": self.seq_indptr_,
            "seq_items": self.seq_items_,
            "popularity": self.popularity_,
            "trained": self.trained_,
        }

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        import torch

        self.seq_indptr_ = arrays["seq_indptr"]
        self.seq_items_ = arrays["seq_items"]
        self.popularity_ = arrays["popularity"]
        self.trained_ = arrays["trained"].astype(bool)
        net = self._make_net(self._item_encoder_from_state(arrays))
        net.load_state_dict(
            {k[4:]: torch.from_numpy(v.copy()) for k, v in arrays.items() if k.startswith("net.")}
        )
        net.eval()
        self.net_ = net

    def _item_encoder_from_state(self, arrays: dict[str, np.ndarray]) -> Any:
        """An item encoder of the saved shape (its weights are loaded from `arrays` afterwards)."""
        return self._item_encoder(self.n_items, None, self.trained_)
