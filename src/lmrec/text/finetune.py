"""Fine-tuning the top layers of a sentence encoder jointly with a recommender, on 2 CPU cores.

Re-encoding every item's text through all layers at every training step is out of reach on a CPU (MiniLM
on 4,385 Scientific items: about a teraflop per step). Two things make it affordable:
- The frozen lower layers are run once: their output for every item (token states, attention mask) is
  cached, and only the top `layers` Transformer blocks, then mean pooling and L2 normalisation, run
  while training.
- Only the items of the current batch (its inputs and targets) are re-encoded with gradients at a step,
  and the training softmax runs over those items only, weighted by how often each item is in a batch
  (`textseq.TextSeq._batch_softmax_loss`: fresh positives against stale negatives from the cache taught
  the model to shift the fresh vectors as a group). Scoring and validation read a cache of every item's
  vector, refreshed before each validation and at the end (`refresh`).

What is learned is a delta on the frozen vectors, as in "Let It Go? Not Quite" (arXiv 2507.19473): an
item's vector is its frozen encoding (the full text, exactly the vector the frozen-encoder model trained on)
plus (tuned top blocks - original top blocks) over its first `max_tokens` word pieces. At the start of
fine-tuning the delta is exactly zero, so training continues from the converged frozen model instead of
from vectors of truncated texts it has never seen (which cost 0.011 validation NDCG@10 on Scientific in
the first epoch when the tuned vectors replaced the frozen ones outright).

`TopLayerTower` is an nn.Module whose output is the (n_items + 1, dim) text table a `textseq` adaptor reads
(row 0 padding). After training, the model keeps the refreshed vectors as its text (so scoring needs no
encoder), and the fine-tuned blocks' weights as arrays (`state_arrays`), with which `FinetunedEncoder`
encodes new item texts the same way (frozen encoding + the delta of the tuned top blocks).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lmrec.errors import ConfigError
from lmrec.text.encoders import SentenceTransformerEncoder, make_encoder

ENCODE_BATCH = 128
"""Items per forward pass when caching lower layers or refreshing the table."""


def _parts(encoder: SentenceTransformerEncoder) -> tuple[Any, Any, bool]:
    """(tokenizer, BERT-style model, normalise) of a mean-pooling sentence-transformers model."""
    st = encoder._load()
    modules = list(st)
    names = [type(m).__name__ for m in modules]
    pooling = [m for m in modules if type(m).__name__ == "Pooling"]
    if not names or names[0] != "Transformer" or len(pooling) != 1:
        raise ConfigError(
            f"encoder fine-tuning needs a Transformer + Pooling model; {encoder.model} has {names}"
        )
    mode = getattr(pooling[0], "pooling_mode", "mean")
    if mode != "mean":
        raise ConfigError(
            f"encoder fine-tuning supports mean pooling only; {encoder.model} pools by {mode!r}"
        )
    model = modules[0].auto_model
    if not hasattr(model, "encoder") or not hasattr(model.encoder, "layer"):
        raise ConfigError(f"encoder fine-tuning needs a BERT-style encoder; {encoder.model} is {type(model)}")
    return modules[0].tokenizer, model, "Normalize" in names


def _additive(mask: torch.Tensor) -> torch.Tensor:
    """(B, L) 0/1 mask -> (B, 1, 1, L) additive attention mask, as BERT layers take it."""
    return (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min


class TopLayerTower(nn.Module):
    """Trainable top blocks of a sentence encoder over cached lower-layer states of every item."""

    lower: torch.Tensor
    mask: torch.Tensor
    cache: torch.Tensor
    frozen: torch.Tensor
    origin: torch.Tensor

    def __init__(
        self,
        encoder: SentenceTransformerEncoder,
        texts: Sequence[str],
        layers: int,
        max_tokens: int,
        frozen: np.ndarray,
    ) -> None:
        """frozen: (len(texts), dim) the items' frozen-encoder vectors, which the delta is added to."""
        super().__init__()
        tokenizer, model, self.normalize = _parts(encoder)
        blocks = model.encoder.layer
        if not 1 <= layers <= len(blocks):
            raise ConfigError(
                f"finetune_layers must be in [1, {len(blocks)}] for {encoder.model}, got {layers}"
            )
        self.blocks = nn.ModuleList(copy.deepcopy(blocks[len(blocks) - layers :]))
        self.n_lower = len(blocks) - layers
        lower, mask = _lower_states(tokenizer, model, list(texts), self.n_lower, max_tokens)
        # not in state_dict: large (items x tokens x width) and rebuilt from the texts when needed
        self.register_buffer("lower", lower, persistent=False)
        self.register_buffer("mask", mask, persistent=False)
        if frozen.shape != (len(texts), lower.shape[2]):
            raise ValueError(
                f"frozen vectors of shape {frozen.shape} for {len(texts)} texts of width {lower.shape[2]}"
            )
        self.register_buffer(
            "frozen", torch.as_tensor(np.asarray(frozen, dtype=np.float32)), persistent=False
        )
        self.register_buffer("origin", torch.zeros_like(self.frozen), persistent=False)
        self.register_buffer("cache", torch.zeros(len(texts) + 1, lower.shape[2]))
        self._active: torch.Tensor | None = None
        self._fresh: torch.Tensor | None = None
        with torch.no_grad():  # the untrained blocks' output: the delta is measured from it
            self.eval()
            for rows in _chunks(len(texts)):
                self.origin[rows] = self._top(rows)
            self.train()
        self.refresh()

    def train(self, mode: bool = True) -> TopLayerTower:
        """Training mode for the tower (batch items re-encoded with gradients), but the encoder blocks
        never use dropout: the recommender whitens the text vectors (ZCA), which amplifies the small
        differences between anisotropic sentence vectors, so dropout noise in an item's vector swamps what
        tells items apart (with dropout, fine-tuning on Scientific raised the training loss from 6.58 to
        6.93 in its second epoch and validation NDCG@10 fell each epoch)."""
        super().train(mode)
        self.blocks.eval()
        return self

    def _top(self, rows: torch.Tensor) -> torch.Tensor:
        """(len(rows), width) pooled, normalised vectors of items `rows` through the top blocks."""
        mask = self.mask[rows]
        width = int(mask.sum(dim=1).max())  # trim padding the longest text in this batch does not need
        return _top_blocks(self.blocks, self.lower[rows, :width], mask[:, :width], self.normalize)

    def encode_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """(len(rows), width) vectors of items `rows`: frozen vector + what fine-tuning changed."""
        return self.frozen[rows] + (self._top(rows) - self.origin[rows])

    @torch.no_grad()
    def refresh(self) -> None:
        """Re-encode every item into the cache (eval mode: no dropout)."""
        was = self.training
        self.eval()
        for rows in _chunks(self.lower.shape[0]):
            self.cache[rows + 1] = self.encode_rows(rows)
        self.train(was)

    @property
    def active(self) -> torch.Tensor | None:
        """Item rows (0-based) re-encoded with gradients in training-mode forward passes; None: cache
        only. Setting it starts a new training step."""
        return self._active

    @active.setter
    def active(self, rows: torch.Tensor | None) -> None:
        self._active, self._fresh = rows, None

    def forward(self) -> torch.Tensor:
        """The catalog's text vectors: the cache, with the active rows re-encoded with gradients.

        The re-encoded table is kept until `active` is set again, so the several reads of one training
        step (the input tokens, the scoring rows) share one pass through the top blocks and one autograd
        graph; re-encoding per read doubled the cost of a fine-tuning step."""
        if self._active is None or not self.training:
            return self.cache
        if self._fresh is None:
            self._fresh = self.cache.index_put((self._active + 1,), self.encode_rows(self._active))
        return self._fresh


def _chunks(n: int) -> list[torch.Tensor]:
    return [torch.arange(s, min(s + ENCODE_BATCH, n)) for s in range(0, n, ENCODE_BATCH)]


def _top_blocks(blocks: nn.ModuleList, h: torch.Tensor, mask: torch.Tensor, normalize: bool) -> torch.Tensor:
    """Token states `h` (B, L, width) through `blocks`, mean-pooled over `mask`, L2-normalised if asked."""
    extended = _additive(mask)
    for block in blocks:
        out = block(h, attention_mask=extended)
        h = out[0] if isinstance(out, tuple) else out
    pooled = (h * mask[..., None]).sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp(min=1)
    return F.normalize(pooled, dim=-1) if normalize else pooled


@torch.no_grad()
def _lower_states(
    tokenizer: Any, model: Any, texts: list[str], n_lower: int, max_tokens: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token states after the embeddings and the first `n_lower` blocks for every text, padded to the
    longest (at most `max_tokens`), and the attention mask."""
    from tqdm.auto import tqdm

    enc = tokenizer(texts, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    types = enc.get("token_type_ids")
    states = torch.empty(ids.shape[0], ids.shape[1], model.config.hidden_size)
    model.eval()
    for s in tqdm(range(0, ids.shape[0], ENCODE_BATCH), desc="caching lower encoder layers", leave=False):
        part = slice(s, s + ENCODE_BATCH)
        h = model.embeddings(input_ids=ids[part], token_type_ids=None if types is None else types[part])
        extended = _additive(mask[part])
        for block in model.encoder.layer[:n_lower]:
            out = block(h, attention_mask=extended)
            h = out[0] if isinstance(out, tuple) else out
        states[part] = h
    return states, mask


class FinetunedEncoder:
    """Encodes new texts as the fine-tuned model encoded its items: the frozen encoder's vector plus the
    change the fine-tuned top blocks (`TopLayerTower` block arrays) make to the original ones over the
    first `max_tokens` word pieces."""

    corpus_dependent = False

    def __init__(self, base: Any, layers: int, max_tokens: int, arrays: dict[str, np.ndarray]) -> None:
        self.base, self.layers, self.max_tokens, self.arrays = base, layers, max_tokens, arrays

    @property
    def name(self) -> str:
        return f"finetuned:{self.base}:top{self.layers}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        encoder = make_encoder(self.base)
        if not isinstance(encoder, SentenceTransformerEncoder):
            raise ConfigError(f"fine-tuned encoder base {self.base!r} is not a sentence-transformers model")
        frozen = np.asarray(encoder.encode(list(texts)), dtype=np.float32)
        tokenizer, model, normalize = _parts(encoder)
        n_lower = len(model.encoder.layer) - self.layers
        original = nn.ModuleList(model.encoder.layer[n_lower:]).eval()
        tuned = copy.deepcopy(original)
        weights = {k[7:]: torch.from_numpy(v.copy()) for k, v in self.arrays.items() if k[:7] == "blocks."}
        tuned.load_state_dict(weights)
        tuned.eval()
        lower, mask = _lower_states(tokenizer, model, list(texts), n_lower, self.max_tokens)
        with torch.no_grad():
            delta = _top_blocks(tuned, lower, mask, normalize) - _top_blocks(original, lower, mask, normalize)
        return frozen + delta.numpy().astype(np.float32)
