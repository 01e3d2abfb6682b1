"""CFGAN's adversarial epoch loop: negative sampling (ZR, PM), alternating discriminator and generator
passes, optional early stopping on a validation metric, per-epoch progress on the "lmrec.train" logger.

One epoch is `d_steps` passes of the discriminator over every training user, then `g_steps` passes of the
generator (the original code's order). Each batch draws its own negative samples:

* ZR (zero reconstruction): a random `zr_ratio` share of each user's unpurchased items whose generator
  output is pulled to 0 by `zr_coefficient` x mean over users of Σ_i G_ui² over the sampled items;
* PM (partial masking): a random `pm_ratio` share of the unpurchased items is left unmasked, so the
  discriminator sees G's values there (a real profile has 0 on them) instead of only e_u ⊙ G.

Losses are the non-saturating GAN losses on D's logits: D minimises BCE(D(c_u | c_u), 1) +
BCE(D(G ⊙ mask | c_u), 0); G minimises BCE(D(G ⊙ mask | c_u), 1) (+ the ZR term). L2 penalties are Adam's
(coupled) weight decay, as the paper's code adds reg x ||W||² / 2 to each loss.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from lmrec.models.cfgan.networks import Discriminator, Generator, SparseRows
from lmrec.models.epoch_log import EpochLog

if TYPE_CHECKING:
    from lmrec.models.cfgan.recommender import CFGANConfig

log = logging.getLogger("lmrec.train")


@dataclass
class GANLog(EpochLog):
    """What happened during training (the shared `EpochLog` fields, plus both players' loss curves)."""

    d_losses: list[float] = field(default_factory=list)
    """Mean discriminator loss per epoch."""
    g_losses: list[float] = field(default_factory=list)
    """Mean generator loss per epoch (adversarial + ZR term)."""


def sample_share(purchased: torch.Tensor, share: float, generator: torch.Generator) -> torch.Tensor:
    """(B, n) bool: for each row, floor(share x its unpurchased count) of its unpurchased items, drawn
    uniformly without replacement: the items whose random key is at most the row's k-th smallest key (a tie
    at the cut, rare in float32, adds one). The k-th key comes from a selection per distinct k, not a sort
    of every row (on 32 x 11,924 keys a full sort took three times as long, for the same draw)."""
    if share <= 0:
        return torch.zeros_like(purchased)
    keys = torch.rand(purchased.shape, generator=generator).masked_fill(purchased, 2.0)
    take = torch.floor((~purchased).sum(dim=1) * share + 1e-9).long()
    k = take.clamp(min=1)
    cut = keys.new_empty(keys.shape[0], 1)
    for value in torch.unique(k).tolist():
        rows = (k == value).nonzero().squeeze(1)
        cut[rows, 0] = keys[rows].kthvalue(value, dim=1).values
    return (keys <= cut) & ~purchased & (take > 0)[:, None]


def train_cfgan(
    gen: Generator,
    disc: Discriminator,
    profiles: sp.csr_matrix,
    users: np.ndarray,
    config: CFGANConfig,
    *,
    seed: int,
    validate: Callable[[], float] | None = None,
    metric: str | None = None,
    name: str = "cfgan",
    sparse_input: bool | None = None,
) -> GANLog:
    """Train `gen` and `disc` on the binary rows `profiles[users]`; with `validate`, evaluate every
    `eval_every` epochs, stop after `patience` evaluations without improvement and keep the best generator.
    sparse_input: the networks' first layers read each profile's nonzeros (`networks.first_layer`) or
    multiply the dense rows, the same products; None chooses by `reads_sparse(profiles[users])`.

    Randomness: user order from a numpy generator and negative samples / noise from a torch generator, both
    seeded with `seed`; weight init and dropout use torch's global RNG, which the caller seeds."""
    c = config
    if sparse_input is None:
        sparse_input = reads_sparse(profiles[users])
    rng = np.random.default_rng(seed)
    draw = torch.Generator().manual_seed(seed)
    opt_d = adam(disc.parameters(), lr=c.d_learning_rate, weight_decay=c.d_reg)
    opt_g = adam(gen.parameters(), lr=c.g_learning_rate, weight_decay=c.g_reg)
    zero_reconstruction = c.scheme in ("zr", "zp")
    partial_masking = c.scheme in ("pm", "zp")

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor | SparseRows]]:
        """(dense rows, the networks' input: the same rows, sparse or dense)."""
        order = rng.permutation(users)
        for start in range(0, order.shape[0], c.batch_size):
            rows = profiles[order[start : start + c.batch_size]]
            dense = torch.from_numpy(rows.toarray())
            yield dense, SparseRows.from_csr(rows) if sparse_input else dense

    def noise(n: int) -> torch.Tensor | None:
        return torch.randn(n, c.noise_size, generator=draw) if c.noise_size else None

    def masked(
        fake: torch.Tensor, real: torch.Tensor, inp: torch.Tensor | SparseRows
    ) -> torch.Tensor | SparseRows:
        """e_u ⊙ G (sparse for a sparse input), with PM's sampled unpurchased items unmasked (dense)."""
        if not partial_masking:
            return inp.at(fake) if isinstance(inp, SparseRows) else fake * real
        return fake * (real + sample_share(real > 0, c.pm_ratio, draw).float())

    info = GANLog(metric=metric)
    best_state: dict[str, torch.Tensor] | None = None
    bad = 0
    started, epoch_seconds = time.perf_counter(), 0.0
    for epoch in range(1, c.epochs + 1):
        t0 = time.perf_counter()
        gen.train()
        disc.train()
        d_total = g_total = 0.0
        d_count = g_count = 0
        for _ in range(c.d_steps):
            for real, inp in batches():
                with torch.no_grad():
                    fake = gen(inp, noise(real.shape[0]))
                real_logit = disc(inp, inp)
                fake_logit = disc(masked(fake, real, inp), inp)
                loss = F.binary_cross_entropy_with_logits(
                    real_logit, torch.ones_like(real_logit)
                ) + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
                _step(opt_d, loss, name, epoch)
                d_total += float(loss.detach()) * real.shape[0]
                d_count += real.shape[0]
        disc.requires_grad_(False)  # G's passes need gradients through D, not for D's weights
        for _ in range(c.g_steps):
            for real, inp in batches():
                fake = gen(inp, noise(real.shape[0]))
                fake_logit = disc(masked(fake, real, inp), inp)
                loss = F.binary_cross_entropy_with_logits(fake_logit, torch.ones_like(fake_logit))
                if zero_reconstruction:
                    zr = sample_share(real > 0, c.zr_ratio, draw)
                    loss = loss + c.zr_coefficient * (fake.square() * zr).sum(dim=1).mean()
                _step(opt_g, loss, name, epoch)
                g_total += float(loss.detach()) * real.shape[0]
                g_count += real.shape[0]
        disc.requires_grad_(True)
        epoch_seconds += time.perf_counter() - t0
        info.epochs_run = epoch
        info.d_losses.append(round(d_total / max(d_count, 1), 5))
        info.g_losses.append(round(g_total / max(g_count, 1), 5))
        line = (
            f"{name} epoch {epoch}/{c.epochs} d_loss {info.d_losses[-1]:.4f} "
            f"g_loss {info.g_losses[-1]:.4f} ({time.perf_counter() - t0:.1f}s)"
        )
        if validate is not None and (epoch % c.eval_every == 0 or epoch == c.epochs):
            gen.eval()
            value = float(validate())
            info.valid.append(round(value, 6))
            line += f" valid {metric} {value:.4f}"
            if info.best_valid is None or value > info.best_valid:
                info.best_valid, info.best_epoch, bad = value, epoch, 0
                best_state = copy.deepcopy(gen.state_dict())
                line += " *"
            else:
                bad += 1
            if bad >= c.patience:
                info.stopped_early = True
                line += f" — no improvement in {c.patience} evaluations, stopping"
        log.info(line)
        if info.stopped_early:
            break
    if best_state is not None:
        gen.load_state_dict(best_state)
    else:
        info.best_epoch = info.epochs_run
    gen.eval()
    disc.eval()
    info.train_seconds = round(time.perf_counter() - started, 3)
    info.seconds_per_epoch = round(epoch_seconds / max(info.epochs_run, 1), 3)  # validation excluded
    return info


SPARSE_BELOW = 0.01
"""Profile density (nonzeros / users x items) under which the first layers read the nonzeros. Measured per
epoch in one run (`benchmarks/cfgan_epoch.py`, one thread): Amazon Toys (0.06% dense) 37.2 s sparse against
69.8 s dense; MovieLens-100K (5.0%) 1.12 s against 0.54 s, where the gathers and the scattered gradient cost
more than the small dense products."""


def reads_sparse(profiles: sp.csr_matrix) -> bool:
    """Whether CFGAN's first layers should read these profiles' nonzeros rather than the dense rows."""
    cells = profiles.shape[0] * profiles.shape[1]
    return cells > 0 and profiles.nnz / cells < SPARSE_BELOW


def adam(params: Iterator[torch.nn.Parameter], *, lr: float, weight_decay: float) -> torch.optim.Adam:
    """Adam with torch's fused CPU kernel: both networks have a dense catalog-wide layer (Toys: 12k items x
    400 = 4.8M weights in each of G's two), and the default per-tensor step took 47% of an epoch in a
    profile (its sqrt, div and add passes over every weight, each step); fused, the epoch is 1.5x (Toys) to
    2.5x (MovieLens-100K) faster (`benchmarks/cfgan_epoch.py`). The same formula; floats round differently."""
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)


def _step(opt: torch.optim.Optimizer, loss: torch.Tensor, name: str, epoch: int) -> None:
    if not torch.isfinite(loss):
        raise FloatingPointError(f"{name}: loss became {loss.item()} at epoch {epoch}")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
