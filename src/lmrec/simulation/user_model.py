"""Simulated users: true preferences estimated from a real log, plus satiation and boredom.

The hidden truth of the simulator is a factor model fitted on the *whole* real log (every event, binarised):

- method "als" (default): lmrec's own implicit ALS (`make_model("als", ...)`) with a strong ridge penalty,
  so rarely seen items get small, shrunken vectors rather than noise;
- method "svd": a truncated SVD of the binarised log, factors split as U·sqrt(S) and V·sqrt(S).

Caveat: a policy of the same family as the truth (an ALS policy against an ALS truth) has an edge the real
world would not give it; compare policy families with that in mind, or rerun with the other `method`.

Utility. The raw score s_ui = p_u · q_i is standardised over *all* user-item pairs (exact mean and standard
deviation, computed from the factor Gram matrices), so u_ui = (s_ui − mean) / std is a z-score: 0 is an
average pair, +2 a pair better than ~98% of pairs under a normal approximation. Every utility parameter
below is in these units.

Item appeal. Real choices are strongly popularity-driven, beyond what a user's taste vector explains, so the
true utility also holds a general appeal of the item, the same for every user:

    u_ui = z(p_u · q_i) + w · a_i,    a_i = z(log(1 + popularity_i))

with popularity_i the number of distinct users of item i in the fitted log and a its z-score over the
catalog. "True utility" therefore means taste *plus* general item appeal; the appeal is fixed when the
users are fitted (it does not follow the simulated choices). w (`popularity_weight`) is fitted jointly with
the choice temperature on held-out real choices (`lmrec.simulation.calibration`); w = 0 is the pure taste
model of earlier versions.

What a user experiences when offered item i (the *experienced* utility):

    u_ui − repeat_penalty · [i already consumed] − boredom · max(0, max_k decay^k · cos(q_i, q_{m_k}))

where m_0, m_1, ... are the user's most recent consumed items (m_0 newest, at most `memory` of them) and
cos is the cosine of the true item factors: a user tires of more of the same, less so of what they
consumed long ago. The memory starts from the end of each user's real history (time order).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError
from lmrec.hybrid.normalize import zscore

METHODS = ("als", "svd")


@dataclass(frozen=True)
class UserModelConfig:
    """How the simulated users' hidden preferences are estimated and how they tire of items."""

    method: str = "als"
    """"als" (lmrec's implicit ALS, ridge-regularised) or "svd" (truncated SVD of the binarised log)."""
    factors: int = 32
    """Latent dimension of the true preferences."""
    reg: float = 5.0
    """ALS ridge penalty (method "als"); large on purpose: the truth should not be fitted noise."""
    iterations: int = 15
    """ALS sweeps (method "als")."""
    repeat_penalty: float = 3.0
    """Utility (z units) lost by an item the user has already consumed (only matters when the loop
    allows repeats)."""
    boredom: float = 1.0
    """Utility (z units) lost at cosine 1 to a just-consumed item."""
    memory: int = 5
    """How many recent consumed items the boredom term looks at."""
    memory_decay: float = 0.7
    """Weight of the k-th most recent item (k = 0 newest) is memory_decay**k."""
    popularity_weight: float | None = None
    """w, the weight of the item-appeal z-score in the utility (module docstring). None: fitted with the
    choice temperature on held-out choices; 0: taste only (the model before item appeal)."""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"users.method must be one of {METHODS}, not {self.method!r}")
        if self.factors < 1:
            raise ConfigError(f"users.factors must be >= 1, got {self.factors}")
        if not self.reg > 0:
            raise ConfigError(f"users.reg must be > 0, got {self.reg}")
        if self.iterations < 1:
            raise ConfigError(f"users.iterations must be >= 1, got {self.iterations}")
        if self.repeat_penalty < 0 or self.boredom < 0:
            raise ConfigError("users.repeat_penalty and users.boredom must be >= 0")
        if self.memory < 0:
            raise ConfigError(f"users.memory must be >= 0, got {self.memory}")
        if not 0 <= self.memory_decay <= 1:
            raise ConfigError(f"users.memory_decay must be in [0, 1], got {self.memory_decay}")


def _true_factors(data: Interactions, cfg: UserModelConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(user factors, item factors) fitted on the binarised log."""
    if cfg.method == "svd":
        from scipy.sparse.linalg import svds

        k = min(cfg.factors, min(data.n_users, data.n_items) - 1)
        if k < 1:
            raise ConfigError("users.method=svd needs at least 2 users and 2 items")
        mat = data.csr().astype(np.float64)
        v0 = np.random.default_rng(seed).standard_normal(min(mat.shape))  # svds' start vector: seeded
        u, s, vt = svds(mat, k=k, v0=v0)
        root = np.sqrt(s)
        return (u * root).astype(np.float64), (vt.T * root).astype(np.float64)
    from lmrec.models.registry import make_model

    als = make_model(
        "als",
        {"factors": cfg.factors, "reg": cfg.reg, "iterations": cfg.iterations, "num_threads": 1},
    ).fit(data, seed=seed)
    return (
        np.asarray(als.user_factors_, dtype=np.float64),  # type: ignore[attr-defined]
        np.asarray(als.item_factors_, dtype=np.float64),  # type: ignore[attr-defined]
    )


class SimulatedUsers:
    """The hidden preferences of a population (one simulated user per user of the fitted log)."""

    def __init__(
        self,
        user_factors: np.ndarray,
        item_factors: np.ndarray,
        config: UserModelConfig,
        popularity: np.ndarray | None = None,
        popularity_weight: float | None = None,
    ) -> None:
        """`popularity`: distinct users per item (None: no appeal term); `popularity_weight`: w (None:
        `config.popularity_weight`, and 0 when that is None too, i.e. until calibration sets it)."""
        self.config = config
        self.user_factors = np.asarray(user_factors, dtype=np.float64)
        self.item_factors = np.asarray(item_factors, dtype=np.float64)
        n_u, n_i = self.user_factors.shape[0], self.item_factors.shape[0]
        self.appeal = (
            np.zeros(n_i) if popularity is None else item_appeal(np.asarray(popularity, dtype=np.float64))
        )
        weight = popularity_weight if popularity_weight is not None else config.popularity_weight
        self.popularity_weight = float(weight or 0.0)
        # exact mean and std of p_u . q_i over all n_u x n_i pairs (no sampling)
        mean = float(self.user_factors.mean(axis=0) @ self.item_factors.mean(axis=0))
        second = float(
            np.sum((self.user_factors.T @ self.user_factors) * (self.item_factors.T @ self.item_factors))
        )
        var = second / (n_u * n_i) - mean**2
        self.mean = mean
        self.std = float(np.sqrt(var)) if var > 1e-18 else 1.0
        norms = np.linalg.norm(self.item_factors, axis=1, keepdims=True)
        self.unit_items = (self.item_factors / np.where(norms > 0, norms, 1.0)).astype(np.float32)

    @classmethod
    def fit(
        cls,
        data: Interactions,
        config: UserModelConfig | None = None,
        *,
        seed: int = 0,
        popularity_weight: float | None = None,
    ) -> SimulatedUsers:
        """Estimate the true preferences and item appeal from every event of `data` (module docstring)."""
        cfg = config or UserModelConfig()
        if len(data) == 0:
            raise ConfigError("the simulated users need a non-empty interaction log")
        users, items = _true_factors(data, cfg, seed)
        return cls(users, items, cfg, data.item_user_counts(), popularity_weight)

    def with_popularity_weight(self, weight: float) -> SimulatedUsers:
        """The same users with w = `weight` (arrays shared, not copied)."""
        other = copy.copy(self)
        other.popularity_weight = float(weight)
        return other

    @property
    def n_users(self) -> int:
        return int(self.user_factors.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.item_factors.shape[0])

    def utility(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Base utility u_ui (z units) of `items`, shaped (len(users),) or (len(users), S); -1 items: NaN."""
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        p = self.user_factors[users]
        q = self.item_factors[np.where(items >= 0, items, 0)]
        raw = np.einsum("bk,bk->b", p, q) if items.ndim == 1 else np.einsum("bk,bsk->bs", p, q)
        out = (raw - self.mean) / self.std + self.popularity_weight * self.appeal[
            np.where(items >= 0, items, 0)
        ]
        return np.where(items >= 0, out, np.nan)

    def all_affinities(self, users: np.ndarray) -> np.ndarray:
        """Taste part z(p_u · q_i) of every catalog item for each of `users` (len(users) x n_items)."""
        raw = self.user_factors[np.asarray(users, dtype=np.int64)] @ self.item_factors.T
        return (raw - self.mean) / self.std

    def all_utilities(self, users: np.ndarray) -> np.ndarray:
        """Base utility (taste + w · appeal) of every catalog item for each of `users`."""
        return self.all_affinities(users) + self.popularity_weight * self.appeal[None, :]

    def experienced(
        self, users: np.ndarray, slates: np.ndarray, consumed: np.ndarray, memory: Memory
    ) -> np.ndarray:
        """Experienced utility of each slate item (module docstring): base utility minus the repeat
        penalty where `consumed` (same shape as `slates`) is True, minus boredom; -1 slots are NaN."""
        util = self.utility(users, slates)
        util = util - self.config.repeat_penalty * consumed
        if self.config.boredom > 0 and memory.size > 0:
            util = util - self.config.boredom * memory.similarity(users, slates, self.unit_items)
        return util


class Memory:
    """Each user's most recent consumed items (column 0 newest, -1 empty) with decaying weights."""

    def __init__(self, n_users: int, size: int, decay: float) -> None:
        self.items = np.full((n_users, size), -1, dtype=np.int64)
        self.weights = decay ** np.arange(size, dtype=np.float64)

    @property
    def size(self) -> int:
        return int(self.items.shape[1])

    @classmethod
    def from_log(cls, data: Interactions, size: int, decay: float) -> Memory:
        """Memory filled with the end of each user's real history (the log is in time order per user)."""
        mem = cls(data.n_users, size, decay)
        if size == 0 or len(data) == 0:
            return mem
        ptr = data.indptr()
        for k in range(size):  # k-th most recent event of every user that has one
            pos = ptr[1:] - 1 - k
            has = pos >= ptr[:-1]
            mem.items[has, k] = data.items[pos[has]]
        return mem

    def similarity(self, users: np.ndarray, slates: np.ndarray, unit_items: np.ndarray) -> np.ndarray:
        """max(0, max_k w_k cos(slate item, memory item k)) per slate slot (len(users) x S)."""
        mem = self.items[users]  # B x M
        mv = unit_items[np.where(mem >= 0, mem, 0)]  # B x M x d
        sv = unit_items[np.where(slates >= 0, slates, 0)]  # B x S x d
        cos = np.einsum("bsd,bmd->bsm", sv, mv) * self.weights[None, None, :]
        cos = np.where((mem >= 0)[:, None, :], cos, 0.0)
        return np.maximum(cos.max(axis=2), 0.0)

    def remember(self, users: np.ndarray, items: np.ndarray) -> None:
        """Push `items` (one per user in `users`) as the newest memory entries."""
        if self.size == 0 or users.size == 0:
            return
        self.items[users, 1:] = self.items[users, :-1]
        self.items[users, 0] = items


def item_appeal(popularity: np.ndarray) -> np.ndarray:
    """a_i = z-score over the catalog of log(1 + popularity_i) (all zeros when popularity is constant)."""
    return np.asarray(zscore(np.log1p(popularity)[None, :])[0], dtype=np.float64)


def binary_rows(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """A 0/1 csr matrix with ones at (rows, cols) (duplicates count once)."""
    mat = sp.csr_matrix((np.ones(rows.shape[0], dtype=np.float32), (rows, cols)), shape=shape)
    mat.sum_duplicates()
    mat.data[:] = 1
    return mat
