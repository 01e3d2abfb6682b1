"""The torch modules. Token 0 is padding, item index i is token i + 1, BERT4Rec's mask is n_items + 1.

Causal models (SASRec, GRU4Rec) take right-padded batches: with a causal mask a real position only ever
attends to earlier real positions, so no key-padding mask is needed and no row is fully masked.
"""

from __future__ import annotations

import torch
from torch import nn


class ItemEncoder(nn.Module):
    """Item representations from a learned ID embedding (text-based items: `text_adaptor`)."""

    has_text = False

    def __init__(self, n_tokens: int, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.ids = nn.Embedding(n_tokens, dim, padding_idx=0)
        nn.init.normal_(self.ids.weight, std=dim**-0.5)
        with torch.no_grad():
            self.ids.weight[0].zero_()

    def table(self) -> torch.Tensor:
        """(n_tokens, dim): the representation of every token."""
        return self.ids.weight

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.ids(tokens)


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
        x = self.items(tokens) * (self.items.dim**0.5) + pos_emb
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
        scale = self.items.dim**0.5
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
