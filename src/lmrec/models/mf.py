"""Implicit-feedback matrix factorisation via the `implicit` library: ALS (Hu et al. 2008) and BPR.

lmrec trains the factors with implicit's CPU code and then scores with `U @ Vᵀ` (`lmrec.models.products`:
torch's GEMM for large blocks, numpy's for small ones), using the factors exactly as implicit does, so
`score` equals implicit's `recommend` scores up to float32 rounding. Training is seeded
from the generator passed to `fit` (`int(rng.integers(2**31 - 1))` becomes implicit's `random_state`).
The input matrix is the binary user x item matrix of the training log.

Unknown users (index -1) are folded in from the history given to `score`/`recommend`:
  * ALS solves the exact weighted least-squares user step, (VᵀCᵤV + λI) u = VᵀCᵤpᵤ, with implicit's own
    `recalculate_user` (Cholesky, not the CG steps used in training);
  * BPR has no closed-form user step, so the user vector is the ridge least-squares fit of the history
    indicator row over all items: u = (ṼᵀṼ + λ_f I)⁻¹ Ṽᵀh, where Ṽ is implicit's item matrix including its
    bias column (whose coefficient is fitted too, instead of implicit's constant 1), and
    λ_f = fold_in_reg x trace(ṼᵀṼ) / (factors + 1), so the penalty does not depend on the factor scale.
An unknown user with an empty history gets all-zero scores from both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError
from lmrec.models.base import Recommender
from lmrec.models.params import check_int_fields
from lmrec.models.products import factor_scores


def _check_common(model: str, config: Any) -> None:
    check_int_fields(config, model, {"factors": 1, "iterations": 1, "num_threads": 0})
    if not config.reg >= 0:
        raise ConfigError(f"{model}: reg must be >= 0, got {config.reg!r}")


@dataclass(frozen=True)
class ALSConfig:
    """Hyper-parameters of implicit-feedback ALS (implicit.cpu.als.AlternatingLeastSquares)."""

    factors: int = 64
    """Latent dimension."""
    reg: float = 0.01
    """L2 penalty λ on user and item factors (implicit's `regularization`)."""
    alpha: float = 1.0
    """Confidence of an observed pair: c = alpha x value (implicit ≥ 0.5 convention; values are 1 here)."""
    iterations: int = 15
    """Alternating sweeps over users and items."""
    use_cg: bool = True
    """Solve each training step with implicit's 3-step conjugate gradient (fast) instead of Cholesky."""
    num_threads: int = 0
    """Threads used by implicit while fitting and folding in; 0 = all cores (ALS stays deterministic)."""

    def __post_init__(self) -> None:
        _check_common("ALS", self)
        if not self.alpha > 0:
            raise ConfigError(f"ALS: alpha must be > 0, got {self.alpha!r}")


@dataclass(frozen=True)
class BPRConfig:
    """Hyper-parameters of BPR-MF (implicit.cpu.bpr.BayesianPersonalizedRanking)."""

    factors: int = 64
    """Latent dimension (implicit adds one more column for the item bias)."""
    reg: float = 0.01
    """L2 penalty on the factors in the SGD updates (implicit's `regularization`)."""
    learning_rate: float = 0.01
    """SGD step size."""
    iterations: int = 100
    """Epochs: each samples as many (user, positive, negative) triples as there are training pairs."""
    verify_negative_samples: bool = True
    """Resample a negative that the user has actually interacted with (slower, usually better)."""
    fold_in_reg: float = 10.0
    """Ridge penalty of the least-squares fold-in of unknown users, relative to the mean eigenvalue of
    ṼᵀṼ (see the module docstring); 10 ranked best on a validation carve-out of ML-100K u1.base."""
    num_threads: int = 1
    """Threads for fitting; 0 = all cores. More than one thread makes BPR's Hogwild SGD updates race,
    so results then differ from run to run even with the same seed; 1 keeps runs reproducible."""

    def __post_init__(self) -> None:
        _check_common("BPR", self)
        if not self.learning_rate > 0:
            raise ConfigError(f"BPR: learning_rate must be > 0, got {self.learning_rate!r}")
        if not self.fold_in_reg > 0:
            raise ConfigError(f"BPR: fold_in_reg must be > 0, got {self.fold_in_reg!r}")


class _ImplicitMF(Recommender):
    """Shared fit/score/persistence for the implicit-backed factor models."""

    folds_in_users = True  # an unknown user (-1) is folded in from the given history (module docstring)
    scores_into = True

    def _fit(self, data: Interactions, rng: np.random.Generator) -> None:
        seed = int(rng.integers(2**31 - 1))
        user_items = sp.csr_matrix(self.history_, dtype=np.float32)
        # implicit warns (and runs much slower) when BLAS runs its own thread pool inside its solvers
        with threadpool_limits(1, "blas"):
            model = self._new_implicit(seed)
            model.fit(user_items, show_progress=False)
        self.user_factors_ = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        self._prepare()

    def _new_implicit(self, seed: int | None) -> Any:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Derived, unsaved state needed for folding in unknown users."""

    def _fold_in(self, history: sp.csr_matrix) -> np.ndarray:
        raise NotImplementedError

    def to_implicit(self) -> Any:
        """An implicit model object holding these factors (for implicit's ANN indexes, `explain`, ...)."""
        self.check_is_fitted()
        with threadpool_limits(1, "blas"):
            model = self._new_implicit(None)
        model.user_factors = self.user_factors_
        model.item_factors = self.item_factors_
        return model

    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return factor_scores(self._vectors(users, history), self.item_factors_)

    def _score_into(self, users: np.ndarray, history: sp.csr_matrix, out: np.ndarray) -> None:
        factor_scores(self._vectors(users, history), self.item_factors_, out=out)

    def _vectors(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        """Trained factors of known users, folded in from their history rows for unknown ones (-1)."""
        vectors = self.user_factors_[np.where(users >= 0, users, 0)]
        unknown = np.flatnonzero(users < 0)
        if unknown.size:
            vectors = vectors.copy()
            vectors[unknown] = self._fold_in(sp.csr_matrix(history[unknown], dtype=np.float32))
        return vectors

    # --- embedding-model protocol (lmrec.retrieval): score = user_vectors @ item_vectors.T ----------
    def user_vectors(
        self,
        users: np.ndarray,
        history: sp.csr_matrix | None = None,
        sequences: list[np.ndarray] | None = None,
    ) -> np.ndarray:
        """(B, d) user factors: trained ones for known users, folded in from `history` for unknown users
        (-1), exactly as `score` uses them. `sequences` is ignored (order does not matter here)."""
        users = self._batch_users(users)  # sequences are ignored here
        rows = self._history_rows(users, history)
        return np.ascontiguousarray(self._vectors(users, rows), dtype=np.float32)

    def item_vectors(self) -> np.ndarray:
        """(n_items, d) item factors (BPR: the last column is the item bias, matched by a user column)."""
        self.check_is_fitted()
        return self.item_factors_

    def _state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.user_factors_ = arrays["user_factors"]
        self.item_factors_ = arrays["item_factors"]
        self._prepare()


class ALS(_ImplicitMF):
    """Implicit-feedback ALS (Hu, Koren & Volinsky 2008) trained by `implicit`; score = U Vᵀ.

    Unknown users (index -1) are folded in by the exact least-squares user step on the given history
    (implicit's `recalculate_user`); an empty history gives all-zero scores.
    """

    name = "als"
    config_class = ALSConfig
    config: ALSConfig

    def _new_implicit(self, seed: int | None) -> Any:
        from implicit.cpu.als import AlternatingLeastSquares

        cfg = self.config
        return AlternatingLeastSquares(
            factors=cfg.factors,
            regularization=cfg.reg,
            alpha=cfg.alpha,
            dtype=np.float32,
            use_cg=cfg.use_cg,
            iterations=cfg.iterations,
            num_threads=cfg.num_threads,
            random_state=seed,
        )

    def _prepare(self) -> None:
        self._implicit = self.to_implicit()

    def _fold_in(self, history: sp.csr_matrix) -> np.ndarray:
        history.data[:] = 1.0
        with threadpool_limits(1, "blas"):
            return np.asarray(
                self._implicit.recalculate_user(np.arange(history.shape[0]), history), dtype=np.float32
            )


class BPR(_ImplicitMF):
    """Bayesian Personalized Ranking MF (Rendle et al. 2009) trained by `implicit`; score = U Vᵀ.

    implicit stores the item bias as the last item-factor column and a constant 1 as the last user-factor
    column, so U Vᵀ includes the bias. Unknown users (index -1) are folded in by a ridge least-squares fit
    of the history indicator row over all items (see the module docstring); it is an approximation, since
    BPR itself has no closed-form user step.
    """

    name = "bpr"
    config_class = BPRConfig
    config: BPRConfig

    def _new_implicit(self, seed: int | None) -> Any:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        cfg = self.config
        return BayesianPersonalizedRanking(
            factors=cfg.factors,
            learning_rate=cfg.learning_rate,
            regularization=cfg.reg,
            dtype=np.float32,
            iterations=cfg.iterations,
            num_threads=cfg.num_threads,
            verify_negative_samples=cfg.verify_negative_samples,
            random_state=seed,
        )

    def fold_in_penalty(self) -> float:
        """λ_f = fold_in_reg x mean eigenvalue of ṼᵀṼ (scale-free: BPR factor norms vary with training)."""
        items = self.item_factors_.astype(np.float64)
        mean_eig = float(np.einsum("ij,ij->", items, items)) / items.shape[1]
        return self.config.fold_in_reg * (mean_eig if mean_eig > 0 else 1.0)

    def _prepare(self) -> None:
        items = self.item_factors_.astype(np.float64)
        gram = items.T @ items + self.fold_in_penalty() * np.eye(items.shape[1])
        self._fold_in_chol = scipy.linalg.cho_factor(gram, lower=True)

    def _fold_in(self, history: sp.csr_matrix) -> np.ndarray:
        history.data[:] = 1.0
        rhs = np.asarray(history @ self.item_factors_.astype(np.float64))
        return scipy.linalg.cho_solve(self._fold_in_chol, rhs.T).T.astype(np.float32)
