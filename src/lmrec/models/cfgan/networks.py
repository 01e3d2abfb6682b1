"""CFGAN's two networks, vector-wise and user-based (Chae et al., CIKM 2018): multilayer perceptrons over
the whole catalog.

Shapes: B users per batch, n items. A profile c_u is the (B, n) binary purchase matrix, given dense or as a
`SparseRows` batch of its nonzeros. The first layers of both networks read their catalog-wide input through
`first_layer`: for a sparse batch it gathers the weight columns of the nonzeros instead of multiplying the
zeros (on Amazon Toys a user has ~8 of 11,924 items, and the dense products of G's and D's first layers were
two thirds of an epoch's arithmetic). Same products, summed in another order: floats round differently. The
trainer passes sparse batches only for sparse profiles (`trainer.reads_sparse`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}
"""Hidden-layer activations by config name (the paper's networks use sigmoid)."""


def mlp(n_in: int, hidden: tuple[int, ...], n_out: int, activation: str, dropout: float) -> nn.Sequential:
    """Linear layers n_in -> hidden... -> n_out, `activation` and dropout after each hidden layer; the
    output layer is linear (the caller applies its sigmoid or reads logits)."""
    layers: list[nn.Module] = []
    width = n_in
    for size in hidden:
        layers += [nn.Linear(width, size), ACTIVATIONS[activation]()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = size
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class SparseRows:
    """`n_rows` rows of a matrix by their nonzeros: entry k is (rows[k], cols[k]) with value values[k]
    (values may carry gradients, e.g. G's outputs at the purchased items)."""

    rows: torch.Tensor
    cols: torch.Tensor
    values: torch.Tensor
    n_rows: int

    @classmethod
    def from_csr(cls, matrix: sp.csr_matrix) -> SparseRows:
        counts = np.diff(matrix.indptr)
        return cls(
            rows=torch.from_numpy(np.repeat(np.arange(matrix.shape[0]), counts)),
            cols=torch.from_numpy(matrix.indices.astype(np.int64)),
            values=torch.from_numpy(np.asarray(matrix.data, dtype=np.float32)),
            n_rows=matrix.shape[0],
        )

    def at(self, dense: torch.Tensor) -> SparseRows:
        """This sparsity pattern with values `dense[rows, cols] x values` (e.g. G ⊙ c_u)."""
        return SparseRows(self.rows, self.cols, dense[self.rows, self.cols] * self.values, self.n_rows)


def first_layer(layer: nn.Linear, x: torch.Tensor | SparseRows, start: int = 0) -> torch.Tensor:
    """x @ W[:, start : start + width(x)]ᵀ, without the bias: for a sparse batch, the weight columns of its
    nonzeros scaled by their values and summed per row."""
    if isinstance(x, SparseRows):
        picked = layer.weight.index_select(1, x.cols + start) * x.values  # (h, nnz)
        out = picked.new_zeros(x.n_rows, layer.weight.shape[0])
        return out.index_add(0, x.rows, picked.T)
    return x @ layer.weight[:, start : start + x.shape[1]].T


class Generator(nn.Module):
    """G(c_u, z) -> (B, n) purchase probabilities in (0, 1): the user's real profile, optionally with
    `noise_size` Gaussian noise appended, through an MLP and a sigmoid."""

    def __init__(
        self, n_items: int, hidden: tuple[int, ...], activation: str, dropout: float, noise_size: int = 0
    ) -> None:
        super().__init__()
        self.n_items, self.noise_size = n_items, noise_size
        self.net = mlp(n_items + noise_size, hidden, n_items, activation, dropout)

    def logits(self, profile: torch.Tensor | SparseRows, noise: torch.Tensor | None = None) -> torch.Tensor:
        """(B, n) pre-sigmoid outputs."""
        if isinstance(profile, SparseRows):
            first = cast(nn.Linear, self.net[0])
            h = first_layer(first, profile) + first.bias
            if self.noise_size and noise is not None:  # scoring without noise: its mean, 0
                h = h + first_layer(first, noise, start=self.n_items)
            return self.net[1:](h)  # type: ignore[no-any-return]
        if self.noise_size:
            if noise is None:  # scoring: the noise's mean, so a user's scores are one fixed vector
                noise = profile.new_zeros(profile.shape[0], self.noise_size)
            profile = torch.cat([profile, noise], dim=1)
        return self.net(profile)  # type: ignore[no-any-return]

    def forward(self, profile: torch.Tensor | SparseRows, noise: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self.logits(profile, noise))


class Discriminator(nn.Module):
    """D([vector, c_u]) -> (B,) logits of "this purchase vector is a real one for the condition c_u"."""

    def __init__(self, n_items: int, hidden: tuple[int, ...], activation: str, dropout: float) -> None:
        super().__init__()
        self.n_items = n_items
        self.net = mlp(2 * n_items, hidden, 1, activation, dropout)

    def forward(
        self, vector: torch.Tensor | SparseRows, condition: torch.Tensor | SparseRows
    ) -> torch.Tensor:
        if isinstance(vector, SparseRows) or isinstance(condition, SparseRows):
            first = cast(nn.Linear, self.net[0])
            h = first_layer(first, vector) + first_layer(first, condition, start=self.n_items) + first.bias
            return self.net[1:](h).squeeze(1)  # type: ignore[no-any-return]
        return self.net(torch.cat([vector, condition], dim=1)).squeeze(1)
