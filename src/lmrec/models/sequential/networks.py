"""The torch modules. Token 0 is padding, item index i is token i + 1, BERT4Rec's mask is n_items + 1.

Causal models (SASRec, GRU4Rec) take right-padded batches: with a causal mask a real position only ever
attends to earlier real positions, so no key-padding mask is needed and no row is fully masked.
"""

from __future__ import annotations

import torch
from torch import nn


class ItemEncoder(nn.Module):
    """Item representations: a learned ID embedding, optionally plus a projection of a text embedding.

    With text, the ID part of items never seen in training is zeroed, so those items are represented by
    their text alone (instead of by an untrained random vector): this is what lets cold items be scored.
    `id_dropout` zeroes the ID part of that share of items at random in every training forward pass
    (item-ID dropout, as in DropoutNet), so the network also learns to rank items from their text alone;
    without it, text-only items score below every item that has an ID part.
    """

    def __init__(
        self,
        n_tokens: int,
        dim: int,
        text: torch.Tensor | None = None,
        known: torch.Tensor | None = None,
        id_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.ids = nn.Embedding(n_tokens, dim, padding_idx=0)
        nn.init.normal_(self.ids.weight, std=dim**-0.5)
        with torch.no_grad():
            self.ids.weight[0].zero_()
        self.has_text = text is not None
        self.id_dropout = id_dropout
        if text is not None:
            # text rows per token (row 0 = padding, extra rows for special tokens are zero)
            self.register_buffer("text", text)
            self.register_buffer("known", known if known is not None else torch.ones(n_tokens))
            self.project = nn.Sequential(nn.Linear(text.shape[1], dim), nn.GELU(), nn.Linear(dim, dim))

    def table(self) -> torch.Tensor:
        """(n_tokens, dim): the representation of every token."""
        if not self.has_text:
            return self.ids.weight
        known: torch.Tensor = self.known  # type: ignore[assignment]
        if self.training and self.id_dropout > 0:
            known = known * (torch.rand(known.shape[0]) >= self.id_dropout)
        return self.ids.weight * known[:, None] + self.project(self.text)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if not self.has_text:
            return self.ids(tokens)
        return self.table()[tokens]


def transformer_blocks(dim: int, n_heads: int, n_blocks: int, dropout: float) -> nn.TransformerEncoder:
    """Pre-LayerNorm Transformer blocks with a GELU feed-forward of width 4 * dim."""
    layer = nn.TransformerEncoderLayer(
        dim, n_heads, dim_feedforward=dim * 4, dropout=dropout, activation="gelu",
        batch_first=True, norm_first=True,
    )  # fmt: skip
    return nn.TransformerEncoder(layer, n_blocks, enable_nested_tensor=False)


class SASRecNet(nn.Module):
    """Causal self-attention over the item sequence (Kang & McAuley 2018), pre-LayerNorm blocks."""

    def __init__(
        self,
        items: ItemEncoder,
        dim: int,
        n_blocks: int,
        n_heads: int,
        dropout: float,
        max_len: int,
        positions: str = "start",
    ) -> None:
        super().__init__()
        self.items = items
        self.positions = nn.Embedding(max_len, dim)
        self.from_end = positions == "end"
        self.dropout = nn.Dropout(dropout)
        self.blocks = transformer_blocks(dim, n_heads, n_blocks, dropout)
        self.norm = nn.LayerNorm(dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, L) right-padded -> hidden states (B, L, dim); position t sees tokens 0..t.

        Position embeddings count from the first token, or with `positions="end"` back from each row's
        last token (the original code's left-padded layout: the newest item always has the same one)."""
        length = tokens.shape[1]
        pos = torch.arange(length, device=tokens.device)
        if self.from_end:
            last = (tokens > 0).sum(dim=1, keepdim=True) - 1
            pos_emb = self.positions((last - pos[None]).clamp(min=0))
        else:
            pos_emb = self.positions(pos)[None]
        x = self.items(tokens) * (self.items.ids.embedding_dim**0.5) + pos_emb
        x = self.dropout(x)
        causal = torch.triu(torch.ones(length, length, dtype=torch.bool, device=tokens.device), 1)
        x = self.blocks(x, mask=causal)
        return self.norm(x)


class BERT4RecNet(nn.Module):
    """Bidirectional self-attention with a masked-item objective (Sun et al. 2019)."""

    def __init__(
        self, items: ItemEncoder, dim: int, n_blocks: int, n_heads: int, dropout: float, max_len: int
    ) -> None:
        super().__init__()
        self.items = items
        self.positions = nn.Embedding(max_len, dim)
        self.dropout = nn.Dropout(dropout)
        self.norm_in = nn.LayerNorm(dim)
        self.blocks = transformer_blocks(dim, n_heads, n_blocks, dropout)
        self.norm = nn.LayerNorm(dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, L) right-padded (pad = 0) -> hidden states (B, L, dim)."""
        pos = torch.arange(tokens.shape[1], device=tokens.device)
        # items start with std dim**-0.5 and positions with std 1: scale items as SASRec does, or the input
        # is mostly position noise until the position table shrinks
        scale = self.items.ids.embedding_dim**0.5
        x = self.dropout(self.norm_in(self.items(tokens) * scale + self.positions(pos)[None]))
        x = self.blocks(x, src_key_padding_mask=tokens == 0)
        return self.norm(x)


class RNNNet(nn.Module):
    """GRU4Rec-style recurrent encoder (GRU or LSTM) over the item sequence."""

    def __init__(self, items: ItemEncoder, dim: int, n_layers: int, dropout: float, cell: str) -> None:
        super().__init__()
        self.items = items
        self.dropout = nn.Dropout(dropout)
        rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[cell]
        self.rnn = rnn(
            dim, dim, num_layers=n_layers, batch_first=True, dropout=dropout if n_layers > 1 else 0
        )
        self.out = nn.Linear(dim, dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.dropout(self.items(tokens))
        h, _ = self.rnn(x)
        return self.out(self.dropout(h))
