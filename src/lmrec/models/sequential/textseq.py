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
import scipy.sparse as sp

from lmrec.data.features import ItemFeatures
from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError
from lmrec.models.fit_context import FitContext, Validation
from lmrec.models.sequential.sasrec import SASRec, SASRecConfig
from lmrec.models.torch_session import seed_from, torch_session

WHITENING = ("zca", "learned", "none")
"""Whitening of the text vectors: fixed ZCA (WhitenRec), UniSRec's learned bias, or none."""


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
    finetune_layers: int = 0
    """Top Transformer blocks of the sentence encoder trained jointly with the recommender after the
    frozen-encoder training has converged (`lmrec.text.finetune`); 0: the encoder stays frozen."""
    finetune_epochs: int = 10
    """Most epochs of the fine-tuning stage (early-stopped on validation like the first stage)."""
    finetune_learning_rate: float = 1e-4
    """Learning rate of every weight during the fine-tuning stage."""
    finetune_max_tokens: int = 64
    """Word pieces of each item text the fine-tuned encoder reads (longer texts are cut)."""

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
        tuning = (int(self.finetune_layers), int(self.finetune_epochs), int(self.finetune_max_tokens))
        if tuning[0] < 0 or tuning[1] < 1 or tuning[2] < 2:
            raise ConfigError(
                "finetune_layers must be >= 0, finetune_epochs >= 1 and finetune_max_tokens >= 2, got "
                f"{self.finetune_layers}, {self.finetune_epochs}, {self.finetune_max_tokens}"
            )
        if not float(self.finetune_learning_rate) > 0:
            raise ConfigError(f"finetune_learning_rate must be positive, got {self.finetune_learning_rate}")
        if self.id_dropout > 0 and self.mode == "inductive":
            raise ConfigError("id_dropout needs mode: transductive (inductive items have no ID part)")


class TextSeq(SASRec):
    """Text-based SASRec: items from their text through a whitening MoE adaptor (fit needs item_features).

    Items never seen in training are scored from their text in the same space as trained items (both
    modes). Unknown users are scored from the ordered history given at request time; an empty history
    gets the training popularity.

    Items added to the catalog after training (`add_items`, capability `adds_items_from_text`) are such
    items too: their text vector joins the adaptor's text buffer, so they are scored from their text at
    once. The encoder and template the training vectors came from are recorded at fit time
    (`item_text_recipe`), so new texts can be encoded the same way.
    """

    name: ClassVar[str] = "textseq"
    config_class: ClassVar[type] = TextSeqConfig
    config: TextSeqConfig
    uses_item_features: ClassVar[bool] = True
    requires_item_features: ClassVar[bool] = True
    adds_items_from_text: ClassVar[bool] = True

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
        if features.recipe is not None:
            self.training_["item_text"] = dict(features.recipe)
        return self._adaptor(text, known, whiten)

    def item_text_recipe(self) -> dict[str, Any] | None:
        self.check_is_fitted()
        recipe = self.training_.get("item_text") or {"encoder": None}
        tuned = {}
        if self.tuned_text_encoder() is not None:  # new texts go through the tuned blocks: say which
            import hashlib

            digest = hashlib.sha256()
            for key in sorted(self.encoder_state_):
                digest.update(key.encode() + self.encoder_state_[key].tobytes())
            tuned = {"finetuned": digest.hexdigest()[:16]}
        return {**recipe, **tuned, "dim": int(self.net_.items.text.shape[1])}

    def add_items(self, raw_ids: Any, vectors: np.ndarray) -> np.ndarray:
        """Append items nobody has interacted with, given by their text vectors; returns their indices.

        raw_ids: new raw ids (an id already in the catalog is a ValueError naming it). vectors:
        (len(raw_ids), text dim) vectors made as `item_text_recipe()` says. The new items are text only
        (`known` 0, no ID part), untrained and of popularity 0, exactly as items without training data
        are; nothing else is recomputed (the whitening and the adaptor stay as trained).
        """
        import torch

        self.check_is_fitted()
        items = self.net_.items
        text: torch.Tensor = items.text
        vectors = np.asarray(vectors, dtype=np.float32)
        ids = np.atleast_1d(np.asarray(raw_ids, dtype=object))
        if vectors.ndim != 2 or vectors.shape != (ids.shape[0], text.shape[1]):
            raise ValueError(
                f"add_items needs one text vector of length {text.shape[1]} per new item: got vectors of "
                f"shape {vectors.shape} for {ids.shape[0]} item(s)"
            )
        if not np.isfinite(vectors).all():
            bad = ids[~np.isfinite(vectors).all(axis=1)][:5].tolist()
            raise ValueError(f"text vectors of items {bad} contain NaN or inf")
        if items.text_tower is not None:
            raise ValueError("add_items needs the frozen text buffer; this model fine-tuned its encoder")
        try:
            vocab = self.item_vocab_.extended(ids)
        except ValueError as exc:
            raise ValueError(f"add_items: new item ids only: {exc}") from None
        start, k = self.n_items, ids.shape[0]
        with torch.no_grad():
            items.text = torch.cat([text, torch.from_numpy(vectors)])
            items.known = torch.cat([items.known, torch.zeros(k, dtype=items.known.dtype)])
            if items.transductive:  # rows for the new tokens; `known` 0 keeps them out of the table
                weight = items.ids.weight
                grown = torch.nn.Embedding(weight.shape[0] + k, weight.shape[1], padding_idx=0)
                grown.weight.copy_(torch.cat([weight, torch.zeros(k, weight.shape[1])]))
                items.ids = grown
        self.item_vocab_ = vocab
        h = self.history_  # a new matrix: the old one may be shared (a hybrid's, the caller's)
        self.history_ = sp.csr_matrix((h.data, h.indices, h.indptr), shape=(h.shape[0], start + k))
        self.trained_ = np.concatenate([self.trained_, np.zeros(k, dtype=bool)])
        self.popularity_ = np.concatenate([self.popularity_, np.zeros(k, dtype=np.float32)])
        self.training_["items_added"] = int(self.training_.get("items_added", 0)) + k
        return np.arange(start, start + k, dtype=np.int64)

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

    # --- encoder fine-tuning (second stage) ------------------------------------------------------------
    def _fit_with(
        self,
        data: Interactions,
        rng: np.random.Generator,
        *,
        item_features: ItemFeatures | None,
        validation: Validation | None,
        context: FitContext,
    ) -> None:
        self.encoder_state_: dict[str, np.ndarray] = {}
        super()._fit_with(data, rng, item_features=item_features, validation=validation, context=context)
        if self.config.finetune_layers > 0 and not self.training_.get("pruned"):  # a pruned trial is done
            assert item_features is not None  # required by the class
            self._finetune(data, rng, item_features, validation)

    def _finetune(
        self,
        data: Interactions,
        rng: np.random.Generator,
        features: ItemFeatures,
        validation: Validation | None,
    ) -> None:
        """Train the encoder's top blocks, the adaptor and the sequence encoder together, starting from the
        frozen-encoder model; keep the result only if validation improves on the frozen one."""
        import time

        import torch

        from lmrec.models.sequential import trainer
        from lmrec.text.encoders import SentenceTransformerEncoder, make_encoder
        from lmrec.text.finetune import TopLayerTower

        cfg = self.config
        spec = (features.recipe or {}).get("encoder")
        encoder = make_encoder(spec) if spec is not None else None
        if features.texts is None or not isinstance(encoder, SentenceTransformerEncoder):
            raise ConfigError(
                "finetune_layers needs item features made by lmrec.text.item_features with a "
                "sentence-transformers encoder (they carry the texts and the encoder); got "
                f"{features.source or 'vectors without texts'}"
            )
        net = self.net_
        frozen_state = {k: v.clone() for k, v in net.state_dict().items()}
        frozen_best = self.training_.get("best_valid")
        seed = seed_from(rng)
        started = time.perf_counter()
        with torch_session(cfg.num_threads, seed):
            tower = TopLayerTower(
                encoder, features.texts, cfg.finetune_layers, cfg.finetune_max_tokens, features.vectors
            )
            cache_seconds = time.perf_counter() - started
            net.items.text_tower = tower
            batches = self._batches(data.sequences(), np.random.default_rng(seed))
            validate = None
            if validation is not None:
                check = self._validator(validation)

                def validate() -> float:
                    tower.refresh()
                    return check()

            sample = self._batches(data.sequences(), np.random.default_rng(seed + 1))  # leaves `batches` be
            log_inclusion = _log_inclusion(sample, self.n_items)

            def step(batch: Any) -> Any:
                tower.active = _batch_items(batch)
                return self._batch_softmax_loss(net, batch, tower.active, log_inclusion)

            log = trainer.train(
                net, batches, step, epochs=cfg.finetune_epochs, learning_rate=cfg.finetune_learning_rate,
                weight_decay=cfg.weight_decay, validate=validate,
                metric=None if validation is None else validation.metric, patience=cfg.patience,
                eval_every=1, name=f"{self.name} fine-tune",
            )  # fmt: skip
            tower.active = None
            if validation is None:
                tower.refresh()
            kept = frozen_best is None or (log.best_valid is not None and log.best_valid > frozen_best)
            with torch.no_grad():
                if kept:
                    net.items.text.copy_(tower.cache)
                    self.encoder_state_ = {
                        k: v.detach().numpy().copy() for k, v in tower.state_dict().items()
                        if k.startswith("blocks.")
                    }  # fmt: skip
            net.items.text_tower = None
            if not kept:
                net.load_state_dict(frozen_state)
            net.eval()
        self.training_["finetune"] = {
            **{k: v for k, v in log.to_dict().items() if k != "resumed_after_epoch"},
            "kept": bool(kept),
            "frozen_best_valid": frozen_best,
            "encoder": spec,
            "cache_seconds": round(cache_seconds, 3),
        }

    def _batch_softmax_loss(self, net: Any, batch: Any, active: Any, log_inclusion: Any) -> Any:
        """Fine-tuning loss: the softmax over the batch's own items, corrected for how often each item is
        in a batch.

        Only the batch's items are re-encoded with gradients; the rest of the catalog would be read from
        the cache refreshed at the last validation. A softmax over the whole catalog then pits fresh
        positives against stale negatives, and training learns to move the fresh vectors as a group
        (towards the user states) rather than to tell items apart: on Scientific the training loss rose
        epoch after epoch and validation NDCG@10 fell (0.0676 -> 0.0508 at lr 1e-4). Here every
        candidate is fresh, and the partition function over the catalog is estimated from the batch's
        items weighted by 1 / P(item in a batch) (Horvitz-Thompson; the gradient is that of the logQ
        correction of Yi et al., RecSys 2019), so the loss is comparable with the full-softmax one.
        """
        import torch
        import torch.nn.functional as F

        hidden = F.normalize(net(batch.tokens), dim=-1) / self.config.temperature
        where = batch.targets > 0
        rows = net.items.rows(active + 1)  # (len(active), dim), fresh
        logits = hidden[where] @ rows.T - log_inclusion[active][None, :]
        targets = batch.targets[where] - 1
        picked = torch.searchsorted(active, targets)
        lse = torch.logsumexp(logits, dim=1)
        total = (lse - logits.gather(1, picked[:, None]).squeeze(1) - log_inclusion[targets]).sum()
        return self._normalised(total, batch.targets)

    def tuned_text_encoder(self) -> Any:
        """A `lmrec.text.finetune.FinetunedEncoder` that encodes new texts as this model's items were
        encoded, or None when the encoder was not fine-tuned (the frozen encoder is then the right one)."""
        from lmrec.text.finetune import FinetunedEncoder

        info = self.training_.get("finetune", {})
        if not self.encoder_state_ or not info.get("kept"):
            return None
        c = self.config
        return FinetunedEncoder(
            info["encoder"], c.finetune_layers, c.finetune_max_tokens, self.encoder_state_
        )

    def _state(self) -> dict[str, np.ndarray]:
        return {**super()._state(), **{f"encoder.{k}": v for k, v in self.encoder_state_.items()}}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        super()._set_state(arrays)
        self.encoder_state_ = {k[len("encoder.") :]: v for k, v in arrays.items() if k.startswith("encoder.")}


def _batch_items(batch: Any) -> Any:
    """Sorted 0-based indices of the items a batch holds (inputs and targets)."""
    import torch

    tokens = torch.cat([batch.tokens.reshape(-1), batch.targets.reshape(-1)])
    return torch.unique(tokens[tokens > 0]) - 1


def _log_inclusion(batches: Any, n_items: int) -> Any:
    """(n_items,) log of the share of an epoch's batches that hold each item (from one epoch's batches;
    items in none get the floor of one batch, they are never candidates anyway)."""
    import torch

    counts = torch.zeros(n_items)
    n = 0
    for batch in batches(0):
        counts[_batch_items(batch)] += 1
        n += 1
    return torch.log(counts.clamp(min=1) / max(n, 1))
