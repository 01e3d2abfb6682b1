"""Click-through networks over embedded categorical fields (PyTorch).

Shapes: `single` (B, F) indices into one shared table; `multi` (B, W) padded with -1, averaged into one more
field; `dense` (B, k) floats (a pretrained text embedding), projected linearly into one more field. Every
network returns logits (B,).
- `LogisticRegression`: bias + one weight per feature value (the wide part alone);
- `WideAndDeep` (Cheng et al., 2016): wide linear part + an MLP over the concatenated field embeddings;
- `DeepFM` (Guo et al., 2017): linear + factorisation-machine pairwise term + MLP, embeddings shared;
- `NeuMF` (He et al., 2017): GMF (user ⊙ item) next to an MLP over all field embeddings, fused by a
  linear layer; user and item are the first two fields.
"""

from __future__ import annotations

import torch
from torch import nn


def _mlp(n_in: int, hidden: tuple[int, ...], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(n_in, width), nn.ReLU(), nn.Dropout(dropout)]
        n_in = width
    return nn.Sequential(*layers)


class FieldEmbedding(nn.Module):
    """Embeds single fields, mean-pools the multi-valued one into an extra field and projects the dense
    vector (if any) into another."""

    def __init__(self, n_features: int, dim: int, has_multi: bool, dense_dim: int = 0) -> None:
        super().__init__()
        self.table = nn.Embedding(n_features, dim)
        nn.init.normal_(self.table.weight, std=0.01)
        self.has_multi = has_multi
        self.project = nn.Linear(dense_dim, dim, bias=False) if dense_dim else None
        if self.project is not None:
            nn.init.normal_(self.project.weight, std=0.01)

    def forward(
        self, single: torch.Tensor, multi: torch.Tensor | None, dense: torch.Tensor | None = None
    ) -> torch.Tensor:
        out = self.table(single)  # (B, F, d)
        extra = []
        if self.has_multi and multi is not None:
            mask = (multi >= 0).unsqueeze(-1).float()  # (B, W, 1)
            extra.append((self.table(multi.clamp(min=0)) * mask).sum(1) / mask.sum(1).clamp(min=1.0))
        if self.project is not None:
            if dense is None:
                raise ValueError("this network was built with a dense field; pass dense=")
            extra.append(self.project(dense))
        if extra:
            out = torch.cat([out, *(e.unsqueeze(1) for e in extra)], dim=1)
        return out  # (B, F [+1] [+1], d)


Dense = torch.Tensor | None


class LogisticRegression(nn.Module):
    def __init__(
        self, n_features: int, n_fields: int, has_multi: bool, dense_dim: int = 0, **_: object
    ) -> None:
        super().__init__()
        self.weights = FieldEmbedding(n_features, 1, has_multi, dense_dim)
        self.bias = nn.Parameter(torch.zeros(1))
        nn.init.zeros_(self.weights.table.weight)

    def forward(self, single: torch.Tensor, multi: torch.Tensor | None, dense: Dense = None) -> torch.Tensor:
        return self.weights(single, multi, dense).sum(dim=(1, 2)) + self.bias


class _LinearPlusDeep(nn.Module):
    """A linear (wide) part and an MLP over the concatenated field embeddings, shared by Wide&Deep and
    DeepFM (DeepFM adds the factorisation-machine term over the same embeddings)."""

    def __init__(
        self,
        n_features: int,
        n_fields: int,
        has_multi: bool,
        dense_dim: int = 0,
        *,
        dim: int,
        hidden: tuple[int, ...],
        dropout: float,
    ) -> None:
        super().__init__()
        self.linear = LogisticRegression(n_features, n_fields, has_multi, dense_dim)
        self.embed = FieldEmbedding(n_features, dim, has_multi, dense_dim)
        width = (n_fields + int(has_multi) + int(dense_dim > 0)) * dim
        self.deep = _mlp(width, hidden, dropout)
        self.head = nn.Linear(hidden[-1] if hidden else width, 1)

    def _deep(self, e: torch.Tensor) -> torch.Tensor:
        return self.head(self.deep(e.flatten(1))).squeeze(-1)


class WideAndDeep(_LinearPlusDeep):
    def forward(self, single: torch.Tensor, multi: torch.Tensor | None, dense: Dense = None) -> torch.Tensor:
        return self.linear(single, multi, dense) + self._deep(self.embed(single, multi, dense))


class DeepFM(_LinearPlusDeep):
    def forward(self, single: torch.Tensor, multi: torch.Tensor | None, dense: Dense = None) -> torch.Tensor:
        e = self.embed(single, multi, dense)  # (B, F, d)
        # FM: sum over pairs <e_i, e_j> = 0.5 * ((sum e)^2 - sum e^2), summed over the embedding dims
        fm = 0.5 * (e.sum(1).pow(2) - e.pow(2).sum(1)).sum(1)
        return self.linear(single, multi, dense) + fm + self._deep(e)


class NeuMF(nn.Module):
    def __init__(
        self,
        n_features: int,
        n_fields: int,
        has_multi: bool,
        dense_dim: int = 0,
        *,
        dim: int,
        hidden: tuple[int, ...],
        dropout: float,
    ) -> None:
        super().__init__()
        if n_fields < 2:
            raise ValueError("NeuMF needs the user and item fields first")
        self.gmf = FieldEmbedding(n_features, dim, False)
        self.embed = FieldEmbedding(n_features, dim, has_multi, dense_dim)
        width = (n_fields + int(has_multi) + int(dense_dim > 0)) * dim
        self.deep = _mlp(width, hidden, dropout)
        self.head = nn.Linear(dim + (hidden[-1] if hidden else width), 1)

    def forward(self, single: torch.Tensor, multi: torch.Tensor | None, dense: Dense = None) -> torch.Tensor:
        g = self.gmf(single[:, :2], None)
        gmf = g[:, 0] * g[:, 1]  # (B, d)
        mlp = self.deep(self.embed(single, multi, dense).flatten(1))
        return self.head(torch.cat([gmf, mlp], dim=1)).squeeze(-1)


class AuxHead(nn.Module):
    """An auxiliary regression head on a network's field embeddings (multi-task fusion): the tasks share
    the embedding table, so the auxiliary loss shapes the representation the click head reads."""

    def __init__(self, net: nn.Module, n_fields: int) -> None:
        super().__init__()
        # LR has no embeddings beyond its one-dimensional weights, which the head then reads
        embed = net.embed if hasattr(net, "embed") else net.weights
        assert isinstance(embed, FieldEmbedding)
        self.embed: FieldEmbedding = embed
        self.head = nn.Linear(n_fields * embed.table.embedding_dim, 1)

    def forward(self, single: torch.Tensor, multi: torch.Tensor | None, dense: Dense = None) -> torch.Tensor:
        return self.head(self.embed(single, multi, dense).flatten(1)).squeeze(-1)


NETWORKS: dict[str, type[nn.Module]] = {
    "lr": LogisticRegression,
    "widedeep": WideAndDeep,
    "deepfm": DeepFM,
    "neumf": NeuMF,
}
