"""CFGAN's two networks, vector-wise and user-based (Chae et al., CIKM 2018): multilayer perceptrons over
the whole catalog.

Shapes: B users per batch, n items. A profile c_u is the (B, n) binary purchase matrix.
"""

from __future__ import annotations

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


class Generator(nn.Module):
    """G(c_u, z) -> (B, n) purchase probabilities in (0, 1): the user's real profile, optionally with
    `noise_size` Gaussian noise appended, through an MLP and a sigmoid."""

    def __init__(
        self, n_items: int, hidden: tuple[int, ...], activation: str, dropout: float, noise_size: int = 0
    ) -> None:
        super().__init__()
        self.noise_size = noise_size
        self.net = mlp(n_items + noise_size, hidden, n_items, activation, dropout)

    def logits(self, profile: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """(B, n) pre-sigmoid outputs."""
        if self.noise_size:
            if noise is None:  # scoring: the noise's mean, so a user's scores are one fixed vector
                noise = profile.new_zeros(profile.shape[0], self.noise_size)
            profile = torch.cat([profile, noise], dim=1)
        return self.net(profile)  # type: ignore[no-any-return]

    def forward(self, profile: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self.logits(profile, noise))


class Discriminator(nn.Module):
    """D([vector, c_u]) -> (B,) logits of "this purchase vector is a real one for the condition c_u"."""

    def __init__(self, n_items: int, hidden: tuple[int, ...], activation: str, dropout: float) -> None:
        super().__init__()
        self.net = mlp(2 * n_items, hidden, 1, activation, dropout)

    def forward(self, vector: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([vector, condition], dim=1)).squeeze(1)
