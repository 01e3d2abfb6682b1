"""Items represented from their text: a pretrained sentence embedding through a learned adaptor.

The module replaces the ID embedding table of a sequence model. The same adaptor output is the input token
of the sequence encoder *and* the row of the output scoring table, so an item nobody interacted with in
training is scored in the same space as a trained one (the point of UniSRec, Hou et al. KDD 2022).

Pieces, each a documented choice:
- Whitening. Raw sentence embeddings are anisotropic (MiniLM on Scientific: mean item-item cosine far from
  0; WhitenRec, Zhang et al. 2024, shows that this is what keeps text-only items from being separable).
  `"zca"` whitens them once with the catalog's own mean and covariance (fixed, like WhitenRec);
  `"learned"` is UniSRec's parametric whitening, a learnable bias subtracted before each expert's linear
  map; `"none"` is a plain linear map.
- A mixture of `n_experts` such maps, mixed by a softmax gate on the text vector (UniSRec's MoE adaptor).
- Transductive mode adds an ID embedding, kept only for items with training data (the `known` mask):
  an item without training data is its text alone *by construction*, not an imputed vector.
  `id_dropout` hides the ID part of that share of items in each training pass, so the network also learns
  to rank from text alone (DropoutNet).
- Every row is L2-normalised; the model divides cosine scores by a temperature in its loss.

The text vectors are a frozen buffer, or (encoder fine-tuning) the output of a trainable `text_tower`
module that maps item indices to fresh vectors (see `lmrec.text.finetune`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lmrec.models.sequential.textseq import WHITENING


def zca_whitening(vectors: np.ndarray, eps: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """(mean, W) with (x - mean) @ W having identity covariance over `vectors` (rows = items).

    `eps` (relative to the largest eigenvalue) keeps directions of near-zero variance from blowing up.
    """
    x = np.asarray(vectors, dtype=np.float64)
    mean = x.mean(axis=0)
    cov = np.cov(x - mean, rowvar=False)
    values, vecs = np.linalg.eigh(cov)
    values = np.maximum(values, 0.0) + eps * max(float(values.max()), 1e-12)
    w = (vecs / np.sqrt(values)) @ vecs.T
    return mean.astype(np.float32), w.astype(np.float32)


class TextAdaptorItems(nn.Module):
    """Token table from text: row 0 is padding (zeros), row i + 1 is item i.

    text (n_tokens, d_text) pretrained vectors per token (padding row zero); known (n_tokens,) 1 where the
    item has training data (only used in transductive mode).
    """

    has_text = True
    text: torch.Tensor
    known: torch.Tensor
    white_mean: torch.Tensor
    white_w: torch.Tensor

    def __init__(
        self,
        text: torch.Tensor,
        known: torch.Tensor,
        dim: int,
        *,
        n_experts: int,
        whitening: str,
        transductive: bool,
        id_dropout: float,
        adaptor_dropout: float,
        whiten: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        super().__init__()
        if whitening not in WHITENING:
            raise ValueError(f"whitening must be one of {WHITENING}, not {whitening!r}")
        n_tokens, d_text = text.shape
        self.dim = dim
        self.whitening = whitening
        self.transductive = transductive
        self.id_dropout = id_dropout
        self.register_buffer("text", text)
        self.register_buffer("known", known)
        # fixed whitening: zeros until set (a loaded model gets them from its state dict)
        if whiten is None:
            whiten = (np.zeros(d_text, np.float32), np.eye(d_text, dtype=np.float32))
        mean, w = whiten
        self.register_buffer("white_mean", torch.from_numpy(np.asarray(mean, np.float32)))
        self.register_buffer("white_w", torch.from_numpy(np.asarray(w, np.float32)))
        self.bias = nn.Parameter(torch.zeros(n_experts, d_text)) if whitening == "learned" else None
        self.experts = nn.Parameter(torch.empty(n_experts, d_text, dim))
        nn.init.normal_(self.experts, std=d_text**-0.5)
        self.gate = nn.Linear(d_text, n_experts, bias=False)
        nn.init.zeros_(self.gate.weight)  # experts start equally weighted
        self.drop = nn.Dropout(adaptor_dropout)
        self.text_tower: nn.Module | None = None
        self._white: torch.Tensor = torch.empty(0)
        self._white_key: tuple[int, ...] | None = None
        self._tower_src: tuple[torch.Tensor, int] | None = None  # tower output last whitened, its result
        self._tower_white: torch.Tensor = torch.empty(0)
        if transductive:
            self.ids = nn.Embedding(n_tokens, dim, padding_idx=0)
            nn.init.normal_(self.ids.weight, std=dim**-0.5)
            with torch.no_grad():
                self.ids.weight[0].zero_()

    def text_vectors(self) -> torch.Tensor:
        """(n_tokens, d_text): the frozen buffer, or the fine-tuned tower's output."""
        if self.text_tower is None:
            return self.text
        return self.text_tower()

    def whitened(self) -> torch.Tensor:
        """(n_tokens, d_text) text vectors after the fixed whitening (if any).

        The frozen text is whitened once and the result reused until the buffers change (a load, a
        fine-tuned tower); at 4k items x 384 dims that is a 0.6 GFLOP product saved per training step."""
        text = self.text_vectors()
        if self.whitening != "zca":
            return text
        if self.text_tower is not None:  # one whitening per tower output (the reads of one training step)
            # the tower returns its cache (refreshed in place: the version changes) or a fresh table
            src = (text, text._version)
            if self._tower_src is None or self._tower_src[0] is not src[0] or self._tower_src[1] != src[1]:
                self._tower_white, self._tower_src = (text - self.white_mean) @ self.white_w, src
            return self._tower_white
        # identity and version of each buffer: in-place updates bump the version, `add_items` swaps in a
        # longer tensor
        buffers = (self.text, self.white_mean, self.white_w)
        key = tuple(x for b in buffers for x in (b.data_ptr(), b.shape[0], b._version))
        if self._white_key != key:
            with torch.no_grad():
                self._white = (text - self.white_mean) @ self.white_w
            self._white_key = key
        return self._white

    def adapt(self, white: torch.Tensor) -> torch.Tensor:
        """(N, d_text) whitened text vectors (`whitened()` rows) -> (N, dim) adaptor outputs (not
        normalised)."""
        x = self.drop(white)
        gates = torch.softmax(self.gate(x), dim=-1)  # (N, K)
        if self.bias is not None:  # UniSRec: (x - b_k) W_k = x W_k - b_k W_k
            per_expert = torch.einsum("nd,kde->nke", x, self.experts) - torch.einsum(
                "kd,kde->ke", self.bias, self.experts
            )
        else:
            per_expert = torch.einsum("nd,kde->nke", x, self.experts)
        return (gates[:, :, None] * per_expert).sum(dim=1)

    def rows(self, tokens: torch.Tensor) -> torch.Tensor:
        """(N, dim) L2-normalised representations of the tokens `tokens` (1-D; padding 0 gives zeros)."""
        out = self.adapt(self.whitened()[tokens])
        if self.transductive:
            known = self.known[tokens]
            if self.training and self.id_dropout > 0:
                known = known * (torch.rand(known.shape[0]) >= self.id_dropout)
            out = out + self.ids(tokens) * known[:, None]
        return F.normalize(out, dim=-1) * (tokens > 0)[:, None]

    def table(self) -> torch.Tensor:
        """(n_tokens, dim) L2-normalised item representations (padding row zero)."""
        return self.rows(torch.arange(self.text.shape[0]))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Representations of a batch of token ids; the adaptor runs once per distinct token."""
        distinct, inverse = torch.unique(tokens, return_inverse=True)
        return self.rows(distinct)[inverse]
