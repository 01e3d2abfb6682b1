"""Biased matrix factorisation for explicit ratings, trained by regularised alternating least squares.

Model (Koren, Bell & Volinsky 2009):  r̂_ui = μ + b_u + b_i + p_u · q_i,  μ the training mean (fixed).

Training alternates two exact ridge steps. With items fixed, each user's (p_u, b_u) is the ridge
solution of  Σ_{i ∈ R(u)} (r_ui − μ − b_i − b_u − p_u·q_i)² + λ‖p_u‖² + λ_b b_u²  (and symmetrically
for items). With `weighted_reg` the penalties are multiplied by the user's (item's) number of ratings,
as in ALS-WR (Zhou et al. 2008). The per-user systems are (k+1) x (k+1); they are built and solved in
batches of users with similar rating counts (padded stacks, one `np.linalg.solve` per batch), so a
sweep over MovieLens-100K takes tens of milliseconds and memory stays bounded on large logs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError
from lmrec.models.base import Recommender
from lmrec.models.explicit import checked_pairs, explicit_ratings
from lmrec.models.params import check_int_fields

_CHUNK_ELEMS = 4_000_000  # padded floats gathered per batch (32 MB): bounds memory on large logs


@dataclass(frozen=True)
class BiasedMFConfig:
    """Hyper-parameters of biased MF; defaults chosen on a validation carve-out of ML-100K u1.base."""

    factors: int = 20
    """Latent dimension k."""
    reg: float = 0.14
    """Ridge penalty λ on the factors (per rating when `weighted_reg`)."""
    reg_bias: float = 0.05
    """Ridge penalty λ_b on the user and item biases (per rating when `weighted_reg`)."""
    weighted_reg: bool = True
    """Scale both penalties by each user's / item's number of training ratings (ALS-WR)."""
    iterations: int = 20
    """Alternating sweeps (one user step plus one item step each)."""
    init_std: float = 0.1
    """Standard deviation of the normal initialisation of the factors (biases start at 0)."""

    def __post_init__(self) -> None:
        check_int_fields(self, "BiasedMF", {"factors": 1, "iterations": 1})
        if not self.reg > 0:
            raise ConfigError(f"BiasedMF: reg must be > 0, got {self.reg!r}")
        if not self.reg_bias >= 0:
            raise ConfigError(f"BiasedMF: reg_bias must be >= 0, got {self.reg_bias!r}")
        if not self.init_std > 0:
            raise ConfigError(f"BiasedMF: init_std must be > 0, got {self.init_std!r}")


def ridge_rows(
    indptr: np.ndarray,
    cols: np.ndarray,
    targets: np.ndarray,
    features: np.ndarray,
    penalty: np.ndarray,
    weighted: bool,
) -> np.ndarray:
    """Per-row ridge regressions: for each row r, argmin_x Σ_j (t_j − f_{c_j}·x)² + Σ_d w_r penalty_d x_d².

    Row r owns entries indptr[r]:indptr[r+1] of `cols` (feature row per entry) and `targets`;
    w_r is the row's entry count if `weighted`, else 1. Rows without entries get x = 0.
    """
    n_rows, dim = indptr.shape[0] - 1, features.shape[1]
    counts = np.diff(indptr)
    out = np.zeros((n_rows, dim), dtype=np.float64)
    padded = np.vstack([features, np.zeros((1, dim))])  # sentinel row for padding
    sentinel = features.shape[0]
    nonempty = np.flatnonzero(counts)
    # bucket rows by the next power of two of their count, so padding wastes at most half of a batch
    width = 1 << np.ceil(np.log2(counts[nonempty])).astype(np.int64)
    for w in np.unique(width):
        rows_w = nonempty[width == w]
        step = max(1, _CHUNK_ELEMS // (int(w) * dim))
        for s in range(0, rows_w.shape[0], step):
            rows = rows_w[s : s + step]
            offs = np.arange(w)
            valid = offs[None, :] < counts[rows][:, None]
            pos = np.where(valid, indptr[rows][:, None] + offs[None, :], 0)
            feats = np.take(padded, np.where(valid, cols[pos], sentinel), axis=0)  # (b, w, dim)
            ys = np.where(valid, targets[pos], 0.0)  # (b, w)
            ft = feats.transpose(0, 2, 1)
            gram = ft @ feats
            scale = counts[rows].astype(np.float64) if weighted else np.ones(rows.shape[0])
            gram[:, np.arange(dim), np.arange(dim)] += scale[:, None] * penalty[None, :]
            rhs = ft @ ys[:, :, None]
            out[rows] = np.linalg.solve(gram, rhs)[:, :, 0]
    return out


class BiasedMF(Recommender):
    """Explicit-rating predictor r̂ = μ + b_u + b_i + p_u·q_i (regularised ALS); needs `data.ratings`.

    `predict(users, items)` returns ratings clipped to the training rating range. `score` returns the
    unclipped prediction for every item, so it ranks items for top-N use without the ties clipping
    would create (clipping is monotone, so it never reorders). Unknown users (index -1) and unknown
    items (-1 in `predict`) fall back to the biases that exist: μ + b_i for an unknown user, μ + b_u for
    an unknown item, μ for both; a history given for an unknown user is not used (it has no ratings).
    """

    name = "biasedmf"
    config_class = BiasedMFConfig
    predicts_ratings = True
    config: BiasedMFConfig

    def _fit(self, data: Interactions, rng: np.random.Generator) -> None:
        ratings = explicit_ratings(data, "BiasedMF")
        cfg = self.config
        k, n_users, n_items = cfg.factors, data.n_users, data.n_items
        mu = float(ratings.mean())
        users, items = data.users, data.items
        by_item = np.argsort(items, kind="stable")
        user_ptr = data.indptr()
        item_ptr = np.zeros(n_items + 1, dtype=np.int64)
        np.cumsum(data.item_counts(), out=item_ptr[1:])
        penalty = np.append(np.full(k, cfg.reg), cfg.reg_bias)

        p = rng.normal(0.0, cfg.init_std, (n_users, k))
        q = rng.normal(0.0, cfg.init_std, (n_items, k))
        bu, bi = np.zeros(n_users), np.zeros(n_items)
        resid = ratings - mu
        item_users = users[by_item]
        # thousands of tiny stacked products: a BLAS thread pool only adds overhead (10x slower with 2)
        with threadpool_limits(1, "blas"):
            for _ in range(cfg.iterations):
                # user step: features [q_i, 1], target r - μ - b_i  (events are sorted by user)
                q1 = np.hstack([q, np.ones((n_items, 1))])
                sol = ridge_rows(user_ptr, items, resid - bi[items], q1, penalty, cfg.weighted_reg)
                p, bu = sol[:, :k], sol[:, k]
                # item step: features [p_u, 1], target r - μ - b_u
                p1 = np.hstack([p, np.ones((n_users, 1))])
                sol = ridge_rows(
                    item_ptr, item_users, (resid - bu[users])[by_item], p1, penalty, cfg.weighted_reg
                )
                q, bi = sol[:, :k], sol[:, k]
        self.mu_ = np.float32(mu)
        self.user_bias_ = bu.astype(np.float32)
        self.item_bias_ = bi.astype(np.float32)
        self.user_factors_ = p.astype(np.float32)
        self.item_factors_ = q.astype(np.float32)
        self.rating_range_ = np.array([ratings.min(), ratings.max()], dtype=np.float32)

    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        known = users >= 0
        idx = np.where(known, users, 0)
        scores = (self.user_factors_[idx] * known[:, None]) @ self.item_factors_.T
        scores += self.mu_ + self.item_bias_[None, :]
        scores += np.where(known, self.user_bias_[idx], 0.0).astype(np.float32)[:, None]
        return scores

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted ratings (float32) of (user, item) index pairs, clipped to the training rating range.

        Index -1 marks a user or item not seen in training; its bias and factors count as zero.
        """
        self.check_is_fitted()
        users, items = checked_pairs(users, items, len(self.user_vocab_), len(self.item_vocab_))
        ku, ki = users >= 0, items >= 0
        u, i = np.where(ku, users, 0), np.where(ki, items, 0)
        dot = np.einsum("nk,nk->n", self.user_factors_[u], self.item_factors_[i])
        pred = self.mu_ + np.where(ku, self.user_bias_[u], 0) + np.where(ki, self.item_bias_[i], 0)
        pred = pred + np.where(ku & ki, dot, 0)
        return np.clip(pred, self.rating_range_[0], self.rating_range_[1]).astype(np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        return {
            "mu": np.asarray(self.mu_),
            "user_bias": self.user_bias_,
            "item_bias": self.item_bias_,
            "user_factors": self.user_factors_,
            "item_factors": self.item_factors_,
            "rating_range": self.rating_range_,
        }

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.mu_ = np.float32(arrays["mu"])
        self.user_bias_ = arrays["user_bias"]
        self.item_bias_ = arrays["item_bias"]
        self.user_factors_ = arrays["user_factors"]
        self.item_factors_ = arrays["item_factors"]
        self.rating_range_ = arrays["rating_range"]
