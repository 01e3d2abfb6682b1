"""CFGAN (Chae et al., CIKM 2018), vector-wise and user-based, behind the Recommender contract.

The generator G reads a user's real binary profile c_u (plus optional noise) and writes a purchase vector
over the whole catalog; the discriminator D tells real profiles from G's, both conditioned on c_u. G's
output is masked to the purchased items (e_u ⊙ G) so it is not asked to invent purchases, and negative
sampling (ZR, PM: `lmrec.models.cfgan.trainer`) keeps it from scoring every item 1. A user's scores are
G(c_u): the unpurchased items G rates highest are recommended.

Pérez Maurera et al. (ECIR 2022) found that G, conditioned on the real profile, drifts towards the
identity (it copies c_u); `lmrec.models.cfgan.diagnostics.identity_collapse` measures that, and every fit
records it on its training users in `training_["diagnostics"]` (results.json's "training").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from lmrec.data.features import ItemFeatures
from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError
from lmrec.models.base import Recommender
from lmrec.models.fit_context import FitContext, Validation

SCHEMES = ("zr", "pm", "zp")
"""Negative sampling: zero reconstruction, partial masking, or both (the paper's CFGAN_ZP)."""
SCORE_BATCH = 512
"""Users per generator pass when scoring (memory: SCORE_BATCH x n_items float32, twice)."""
DIAGNOSTIC_USERS = 2048
"""Most training users the collapse diagnostic of a fit reads (evenly spaced; all when fewer)."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


@dataclass(frozen=True)
class CFGANConfig:
    """Hyper-parameters of CFGAN (names as the ECIR 2022 replication's, g_ for the generator, d_ for the
    discriminator). Defaults follow the paper's MovieLens-100K setting where it gives one."""

    scheme: str = "zp"
    """Negative sampling: "zr" (zero reconstruction), "pm" (partial masking) or "zp" (both)."""
    g_hidden: tuple[int, ...] = (400,)
    """Widths of the generator's hidden layers (the paper: one layer of 400 on MovieLens-100K)."""
    d_hidden: tuple[int, ...] = (125,)
    """Widths of the discriminator's hidden layers."""
    activation: str = "sigmoid"
    """Hidden-layer activation of both networks: "sigmoid" (the paper), "tanh" or "relu"."""
    dropout: float = 0.0
    """Dropout after every hidden layer of both networks while training."""
    noise_size: int = 0
    """Gaussian noise inputs appended to the generator's input (0: none, as the paper recommends); scoring
    feeds the noise's mean, 0, so a user's scores are fixed."""
    epochs: int = 200
    """Most epochs; one epoch is `d_steps` discriminator passes then `g_steps` generator passes over every
    training user. With a validation set, early stopping may end training sooner."""
    batch_size: int = 32
    """Users per training batch."""
    d_steps: int = 1
    """Discriminator passes over the users per epoch."""
    g_steps: int = 1
    """Generator passes over the users per epoch."""
    g_learning_rate: float = 1e-4
    """Adam step size of the generator."""
    d_learning_rate: float = 1e-4
    """Adam step size of the discriminator."""
    g_reg: float = 1e-3
    """L2 penalty on the generator's weights (reg x ||W||² / 2 in the loss, Adam's weight decay)."""
    d_reg: float = 0.0
    """L2 penalty on the discriminator's weights."""
    zr_ratio: float = 0.7
    """ZR: share of each user's unpurchased items sampled per batch whose generator output is pulled to 0."""
    pm_ratio: float = 0.7
    """PM: share of each user's unpurchased items sampled per batch that the discriminator sees unmasked."""
    zr_coefficient: float = 0.1
    """ZR: weight α of the zero-reconstruction term in the generator's loss (the paper's α = 0.1)."""
    patience: int = 10
    """With a validation set: evaluations without improvement before training stops."""
    eval_every: int = 5
    """With a validation set: epochs between evaluations (the generator of the best one is kept)."""
    num_threads: int | None = None
    """torch intra-op threads for fit and score (None: torch's default, all cores)."""

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise ConfigError(f"CFGAN: scheme must be one of {list(SCHEMES)}, got {self.scheme!r}")
        for name in ("g_hidden", "d_hidden"):
            widths = getattr(self, name)
            if isinstance(widths, str) or not isinstance(widths, tuple | list):
                raise ConfigError(f"CFGAN: {name} must be a list of layer widths, got {widths!r}")
            if not all(_is_int(w) and w >= 1 for w in widths):
                raise ConfigError(f"CFGAN: {name} must hold positive integers, got {widths!r}")
            object.__setattr__(self, name, tuple(int(w) for w in widths))  # lists from YAML / JSON
        from lmrec.models.cfgan.networks import ACTIVATIONS

        if self.activation not in ACTIVATIONS:
            raise ConfigError(
                f"CFGAN: activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}"
            )
        for name, low in (
            ("epochs", 1),
            ("batch_size", 1),
            ("d_steps", 1),
            ("g_steps", 1),
            ("patience", 1),
            ("eval_every", 1),
            ("noise_size", 0),
        ):
            value = getattr(self, name)
            if not _is_int(value) or value < low:
                raise ConfigError(f"CFGAN: {name} must be an integer >= {low}, got {value!r}")
        for name in ("g_learning_rate", "d_learning_rate"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"CFGAN: {name} must be > 0, got {getattr(self, name)!r}")
        for name in ("g_reg", "d_reg", "zr_coefficient"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"CFGAN: {name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("zr_ratio", "pm_ratio"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"CFGAN: {name} must be in [0, 1], got {getattr(self, name)!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"CFGAN: dropout must be in [0, 1), got {self.dropout!r}")
        if self.num_threads is not None and (not _is_int(self.num_threads) or self.num_threads < 1):
            raise ConfigError(
                f"CFGAN: num_threads must be a positive integer or None, got {self.num_threads!r}"
            )


class CFGAN(Recommender):
    """CFGAN: a conditional GAN whose generator turns a user's binary profile into scores for every item.

    Unknown users (index -1) are scored from the history given at request time, exactly like known users:
    G reads any binary profile (the model has no per-user parameters); an unknown user without history gets
    G(0), the same vector for everyone. Scores are G's pre-sigmoid outputs, which rank exactly as G(c_u)
    and do not tie where float32 sigmoids saturate at 1.
    """

    name: ClassVar[str] = "cfgan"
    config_class: ClassVar[type] = CFGANConfig
    config: CFGANConfig
    supports_validation: ClassVar[bool] = True
    uses_torch: ClassVar[bool] = True

    # --- fitting ---------------------------------------------------------------------------------
    def _fit(self, data: Interactions, rng: np.random.Generator) -> None:
        self._fit_with(data, rng, item_features=None, validation=None, context=FitContext())

    def _fit_with(
        self,
        data: Interactions,
        rng: np.random.Generator,
        *,
        item_features: ItemFeatures | None,
        validation: Validation | None,
        context: FitContext,
    ) -> None:
        from lmrec.models.cfgan.diagnostics import identity_collapse
        from lmrec.models.cfgan.networks import Discriminator
        from lmrec.models.cfgan.trainer import train_cfgan
        from lmrec.models.torch_session import seed_from, torch_session

        cfg = self.config
        profiles = _binary(self.history_)
        users = np.flatnonzero(np.diff(profiles.indptr) > 0)  # an empty profile teaches nothing
        seed = seed_from(rng)
        with torch_session(cfg.num_threads, seed):
            self.generator_ = self._generator(data.n_items)
            disc = Discriminator(data.n_items, cfg.d_hidden, cfg.activation, cfg.dropout)
            validate = None if validation is None else self._validator(validation)
            log = train_cfgan(
                self.generator_,
                disc,
                profiles,
                users,
                cfg,
                seed=seed,
                validate=validate,
                metric=None if validation is None else validation.metric,
                name=self.name,
            )
        self.training_ = log.to_dict()
        watched = users[
            np.unique(np.linspace(0, users.size - 1, min(users.size, DIAGNOSTIC_USERS)).astype(int))
        ]
        self.training_["diagnostics"] = identity_collapse(self, watched)

    def _generator(self, n_items: int) -> Any:
        from lmrec.models.cfgan.networks import Generator

        c = self.config
        return Generator(n_items, c.g_hidden, c.activation, c.dropout, c.noise_size)

    def _validator(self, validation: Validation) -> Any:
        from lmrec.eval import evaluate_ranking

        targets, history = validation.targets.csr(), validation.history.csr()

        def validate() -> float:
            res = evaluate_ranking(
                self,
                targets,
                history,
                ns=(),
                metrics=[validation.metric],
                users=validation.users,
                exclude_history=validation.exclude_seen,
            )
            return float(next(iter(res.summary().values())))

        return validate

    # --- scoring ---------------------------------------------------------------------------------
    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return self.generate(history, logits=True)

    def generate(self, profiles: sp.csr_matrix, *, logits: bool = False) -> np.ndarray:
        """G's output (rows of `profiles` x n_items, float32) for the binary view of `profiles` (any
        positive value counts as a purchase): probabilities in (0, 1), or the pre-sigmoid values with
        `logits` (what `score` returns)."""
        import torch

        from lmrec.models.torch_session import torch_session

        self.check_is_fitted()
        rows = _binary(profiles)
        if rows.shape[1] != self.n_items:
            raise ValueError(f"profiles must have {self.n_items} columns, got {rows.shape[1]}")
        out = np.empty(rows.shape, dtype=np.float32)
        gen = self.generator_
        if gen.training:
            gen.eval()
        with torch_session(self.config.num_threads), torch.no_grad():
            for s in range(0, rows.shape[0], SCORE_BATCH):
                part = torch.from_numpy(rows[s : s + SCORE_BATCH].toarray())
                values = gen.logits(part) if logits else gen(part)
                out[s : s + SCORE_BATCH] = values.numpy()
        return out

    # --- persistence: the generator's weights (D is needed for training only) ----------------------
    def _state(self) -> dict[str, np.ndarray]:
        return {f"generator.{k}": v.detach().numpy() for k, v in self.generator_.state_dict().items()}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        import torch

        gen = self._generator(self.n_items)
        gen.load_state_dict(
            {k[10:]: torch.from_numpy(v.copy()) for k, v in arrays.items() if k.startswith("generator.")}
        )
        gen.eval()
        self.generator_ = gen


def _binary(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """A float32 copy of `matrix` with every stored positive value set to 1 (the caller's is untouched)."""
    rows = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    rows.data = (rows.data > 0).astype(np.float32)
    rows.eliminate_zeros()
    return rows
