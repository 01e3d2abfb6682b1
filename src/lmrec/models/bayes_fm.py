"""Bayesian factorization machine for explicit ratings: myFM's Gibbs sampler (libFM's MCMC engine) over
one-hot user and item plus the implicit-feedback features of Rendle's Bayesian-FM work.

Features of a rating (u, i), taken from the training log given to `fit` and from the attributes given
with it, nothing else:
- one-hot user u and one-hot item i;
- `implicit_user`: the items N(u) that u rated, each with value 1/sqrt(|N(u)|) (Rendle's "SVD++-like"
  implicit user feature, Koren's |N(u)|^-1/2 Σ_j y_j);
- `implicit_item`: the users U(i) who rated i, each 1/sqrt(|U(i)|) (the same idea, flipped);
- `user_attributes` / `item_attributes`: the rows of `fit(..., attributes=SideAttributes(...))`
  (`lmrec.data.attributes`: MovieLens age, gender, occupation, zip region; genres, release year), as in
  myFM's extended MovieLens examples, one group per attribute column.
A user or item without training ratings (a shared vocabulary holds the items that occur only in a test
fold) gets no one-hot or implicit feature, exactly like an unknown one: a one-hot column that no training
row uses would only carry prior noise; its attributes, learnt from the other rows, do describe it. Every
group gets its own prior mean and precision (myFM's
`group_shapes`); the user-side and item-side rows go to myFM as `RelationBlock`s, so a user's implicit
set is stored once, not once per rating.

f(x) = w0 + Σ_j w_j x_j + Σ_{j<l} <v_j, v_l> x_j x_l. myFM draws (w0, w, V) and the hyper-parameters by
Gibbs sampling; the last `n_kept_samples` draws are kept and a prediction is the posterior predictive
mean: the average of f over the samples (Gaussian regression), or with `ordered_probit` the expected
rating under each sample's class probabilities P(y = c) = Φ(γ_c − f) − Φ(γ_{c−1} − f), averaged.

How the samples are kept, and saved: every feature is on the user side or the item side, so one sample is
exactly a biased MF,
    f_s(u, i) = w0_s + b_s(u) + b_s(i) + <p_s(u), q_s(i)>,
    p_s(u) = Σ_{j ∈ user side} x_j v_sj,   b_s(u) = Σ_j x_j w_sj + ½ (‖p_s(u)‖² − Σ_j x_j² ‖v_sj‖²),
and the same for items. The average of f_s over S samples is then the dot product of the p_s(u) stacked
side by side with the q_s(i) stacked likewise, divided by S: an exact biased MF with S·k factors.
(Averaging V over the samples first would not be valid: f is not linear in V.) The model keeps, per
sample, w0_s, b_s and p_s, q_s (float32) and, to fold in an unknown user from a history, the implicit
items' w and v; that is all of every kept sample, so save/load is plain arrays and a loaded model
predicts exactly what the fitted one did. Memory: about 4 · S · k bytes per user and two times that per
item (ML-100K, k = 10, S = 450: 80 MB).
"""

from __future__ import annotations

import contextlib
import io
import sys
import types
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import ndtr

from lmrec.data.attributes import Attributes, SideAttributes
from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError, DataError
from lmrec.models.base import Recommender
from lmrec.models.explicit import checked_pairs, explicit_ratings
from lmrec.models.params import check_int_fields

MAX_LEVELS = 20
"""Most distinct rating values `ordered_probit` accepts as classes (a 1-5 or 0.5-5 star scale has 5 or 10)."""
_BLOCK = 4_000_000  # float64 scores (32 MB) computed per block in predict and score


def import_myfm() -> Any:
    """The `myfm` package, imported on first use (STYLE: heavy imports lazily).

    myfm 0.4.0's `__init__` imports `DistributionNotFound, get_distribution` from `pkg_resources` and never
    uses them; setuptools 82 removed `pkg_resources`, so on a current environment the import fails although
    the engine is fine (myFM's main branch has dropped the line, unreleased). Only then, and only for that
    import, a stand-in `pkg_resources` with those two names is put in `sys.modules`, and taken out again.
    """
    try:
        import myfm
    except ModuleNotFoundError as exc:
        if exc.name == "myfm":
            raise ImportError(
                "bayesfm needs myfm (libFM's MCMC engine): pip install 'lmrec[rating]'"
            ) from None
        if exc.name != "pkg_resources":
            raise
        stub = types.ModuleType("pkg_resources")
        stub.DistributionNotFound = type("DistributionNotFound", (Exception,), {})  # type: ignore[attr-defined]
        stub.get_distribution = lambda _name: None  # type: ignore[attr-defined]
        sys.modules["pkg_resources"] = stub
        try:
            import myfm
        finally:
            if sys.modules.get("pkg_resources") is stub:
                del sys.modules["pkg_resources"]
    return myfm


@dataclass(frozen=True)
class BayesFMConfig:
    """Hyper-parameters of the Bayesian FM. Its priors are hierarchical (myFM's defaults: Gamma(1, 1) on the
    precisions, Normal(0, 1) on the means, per feature group), so no regularisation is tuned; the defaults
    are the setting of myFM's MovieLens-100K example (rank 10, about 500 sweeps)."""

    rank: int = 10
    """Latent dimension k of the pairwise interactions."""
    n_iter: int = 500
    """Gibbs sweeps in all: the burn-in plus the kept samples."""
    n_kept_samples: int | None = None
    """Samples averaged for prediction, the last ones of the chain; None keeps all but the first
    n_iter // 10 (the burn-in). The model's memory grows linearly with it."""
    implicit_user: bool = True
    """Describe a user also by the items they rated in training, 1/sqrt(|N(u)|) each (SVD++-like)."""
    implicit_item: bool = True
    """Describe an item also by the users who rated it in training, 1/sqrt(|U(i)|) each."""
    user_attributes: bool = False
    """Describe a user also by their attributes (`fit(..., attributes=...)`, e.g. MovieLens age, gender,
    occupation, zip region), one feature group per attribute column."""
    item_attributes: bool = False
    """Describe an item also by its attributes (e.g. MovieLens genres and release year)."""
    ordered_probit: bool = False
    """Treat the distinct training rating values as ordered classes (myFM's ordered probit, one set of cut
    points) and predict the expected rating; False: Gaussian regression on the rating."""
    init_std: float = 0.1
    """Standard deviation of the normal initialisation of the factors V."""

    def __post_init__(self) -> None:
        check_int_fields(self, "BayesFM", {"rank": 1, "n_iter": 1})
        kept = self.n_kept_samples
        if kept is not None and (
            not isinstance(kept, int) or isinstance(kept, bool) or not 1 <= kept <= self.n_iter
        ):
            raise ConfigError(
                f"BayesFM: n_kept_samples must be an integer from 1 to n_iter={self.n_iter} (or null), "
                f"got {kept!r}"
            )
        if not self.init_std > 0:
            raise ConfigError(f"BayesFM: init_std must be > 0, got {self.init_std!r}")

    @property
    def kept(self) -> int:
        """The number of samples kept (`n_kept_samples` resolved)."""
        return self.n_kept_samples if self.n_kept_samples is not None else self.n_iter - self.n_iter // 10


def implicit_rows(seen: sp.csr_matrix) -> sp.csr_matrix:
    """Rows of a binary matrix scaled to 1/sqrt(row count) per entry (empty rows stay empty)."""
    rows = sp.csr_matrix(seen, dtype=np.float64, copy=True)
    rows.data[:] = 1.0
    counts = np.diff(rows.indptr)
    rows.data = np.repeat(1.0 / np.sqrt(np.maximum(counts, 1)), counts)
    return rows


def side_features(seen: sp.csr_matrix, implicit: bool) -> sp.csr_matrix:
    """One side's feature rows from the binary training matrix `seen` (rows: this side's users or items,
    columns: the other side's): the one-hot column of every row with training data, then, with
    `implicit`, the row's normalised set of counterparts. Rows without training data are all zero."""
    has_data = (np.diff(seen.indptr) > 0).astype(np.float64)
    blocks = [sp.diags(has_data, format="csr")]
    if implicit:
        blocks.append(implicit_rows(seen))
    return sp.csr_matrix(sp.hstack(blocks, format="csr"), dtype=np.float64)


def _with_attributes(
    x: sp.csr_matrix, shapes: list[int], given: Attributes | None, side: str
) -> sp.csr_matrix:
    """`x` with the `side`'s attribute groups appended as columns (their widths appended to `shapes`)."""
    if given is None:
        raise ConfigError(
            f"BayesFM: {side}_attributes is true but the fit was given no {side} attributes; pass "
            f"attributes=SideAttributes({side}=...) (lmrec.data.attributes), or in an experiment file add "
            f"`attributes: {{{side}: ...}}`"
        )
    shapes.extend(width for _, width in given.groups)
    return sp.csr_matrix(sp.hstack([x, given.matrix], format="csr"), dtype=np.float64)


def _side(x: sp.csr_matrix, w: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p, b) of feature rows `x` under one sample's weights `w` (F,) and factors `v` (F, k) of their side."""
    p = np.asarray(x @ v)
    b = np.asarray(x @ w) + 0.5 * ((p * p).sum(axis=1) - np.asarray(x.multiply(x) @ (v * v).sum(axis=1)))
    return p, b


class BayesFM(Recommender):
    """Explicit-rating predictor: a Bayesian FM over one-hot user and item and their training implicit sets
    (see the module docstring); needs `data.ratings` and the `myfm` package (`lmrec[rating]`).

    `predict(users, items)` is the posterior predictive mean, clipped to the training rating range
    (regression; the expected rating of `ordered_probit` lies in it already). `score` is the same
    unclipped, for every item, so it ranks for top-N use. Unknown users (-1) and unknown items (-1 in
    `predict`) have no features on their side: the prediction is w0 plus the other side's terms. A history
    given to `score` for an unknown user is that user's implicit item set (`implicit_user`; SVD++'s fold-in
    without a one-hot user); without `implicit_user` it is not used. Known users keep their training
    features, whatever history is passed.
    """

    name = "bayesfm"
    config_class = BayesFMConfig
    config: BayesFMConfig
    predicts_ratings = True
    uses_attributes = True

    def _fit(self, data: Interactions, rng: np.random.Generator) -> None:
        self._fit_attributed(data, rng, SideAttributes())

    def _fit_attributed(
        self, data: Interactions, rng: np.random.Generator, attributes: SideAttributes
    ) -> None:
        ratings = explicit_ratings(data, "BayesFM")
        cfg = self.config
        myfm = import_myfm()
        seen = data.csr()
        n_users, n_items = data.n_users, data.n_items
        user_x = side_features(seen, cfg.implicit_user)
        item_x = side_features(sp.csr_matrix(seen.T), cfg.implicit_item)
        user_shapes = [n_users] + [n_items] * cfg.implicit_user
        item_shapes = [n_items] + [n_users] * cfg.implicit_item
        if cfg.user_attributes:
            user_x = _with_attributes(user_x, user_shapes, attributes.user, "user")
        if cfg.item_attributes:
            item_x = _with_attributes(item_x, item_shapes, attributes.item, "item")
        blocks = [myfm.RelationBlock(data.users, user_x), myfm.RelationBlock(data.items, item_x)]
        shapes = user_shapes + item_shapes
        seed = int(rng.integers(2**31 - 1))
        if cfg.ordered_probit:
            levels = np.unique(ratings)
            if not 2 <= levels.shape[0] <= MAX_LEVELS:
                raise DataError(
                    f"BayesFM: ordered_probit makes each distinct rating a class and needs 2 to {MAX_LEVELS} "
                    f"of them; this log has {levels.shape[0]}. Use ordered_probit: false (regression)"
                )
            target = np.searchsorted(levels, ratings).astype(np.int64)
            fm = myfm.MyFMOrderedProbit(cfg.rank, init_stdev=cfg.init_std, random_seed=seed)
        else:
            levels, target = np.empty(0), ratings
            fm = myfm.MyFMRegressor(cfg.rank, init_stdev=cfg.init_std, random_seed=seed)
        # myFM draws a tqdm progress bar on stderr at every sweep, with no switch to turn it off
        with contextlib.redirect_stderr(io.StringIO()):
            fm.fit(
                None, target, X_rel=blocks, group_shapes=shapes, n_iter=cfg.n_iter, n_kept_samples=cfg.kept
            )
        samples = fm.predictor_.samples
        del fm  # the sampler keeps its own copy of every sample; only the list above is needed now
        self._keep_samples(samples, user_x, item_x, n_users, n_items)
        self.levels_ = levels.astype(np.float32)
        self.rating_range_ = np.array([ratings.min(), ratings.max()], dtype=np.float32)
        self._derive()

    def _keep_samples(
        self, samples: list[Any], user_x: sp.csr_matrix, item_x: sp.csr_matrix, n_users: int, n_items: int
    ) -> None:
        """Split each myFM sample into its user side and item side (module docstring), float32. The user
        side's columns are the one-hot users, then the implicit items (`implicit_user`), then attributes."""
        cfg = self.config
        k, n_s, f_user = cfg.rank, len(samples), user_x.shape[1]
        imp = slice(n_users, n_users + n_items) if cfg.implicit_user else slice(0, 0)
        n_imp = imp.stop - imp.start
        self.w0_ = np.empty(n_s, dtype=np.float32)
        self.user_factors_ = np.empty((user_x.shape[0], n_s * k), dtype=np.float32)
        self.item_factors_ = np.empty((item_x.shape[0], n_s * k), dtype=np.float32)
        self.user_bias_ = np.empty((user_x.shape[0], n_s), dtype=np.float32)
        self.item_bias_ = np.empty((item_x.shape[0], n_s), dtype=np.float32)
        self.implicit_factors_ = np.empty((n_imp, n_s * k), dtype=np.float32)
        self.implicit_weights_ = np.empty((n_imp, n_s), dtype=np.float32)
        self.implicit_sq_ = np.empty((n_imp, n_s), dtype=np.float32)
        cuts = []
        for s, sample in enumerate(samples):
            w, v, cols = np.asarray(sample.w), np.asarray(sample.V), slice(s * k, (s + 1) * k)
            self.w0_[s] = sample.w0
            self.user_factors_[:, cols], self.user_bias_[:, s] = _side(user_x, w[:f_user], v[:f_user])
            self.item_factors_[:, cols], self.item_bias_[:, s] = _side(item_x, w[f_user:], v[f_user:])
            self.implicit_factors_[:, cols] = v[imp]
            self.implicit_weights_[:, s] = w[imp]
            self.implicit_sq_[:, s] = (v[imp] ** 2).sum(axis=1)
            if cfg.ordered_probit:
                cuts.append(np.asarray(sample.cutpoints[0]))
        self.cutpoints_ = np.asarray(cuts, dtype=np.float32) if cuts else np.empty((0, 0), dtype=np.float32)

    def _derive(self) -> None:
        """Working copies (float64) of the saved float32 state, made alike after fit and after load."""
        self._w0 = self.w0_.astype(np.float64)
        self._q = self.item_factors_.astype(np.float64)
        self._b_item = self.item_bias_.astype(np.float64)
        self._b_item_mean = self._b_item.mean(axis=1)
        self._cuts = self.cutpoints_.astype(np.float64)
        self._steps = np.diff(self.levels_.astype(np.float64))
        if self.config.ordered_probit:  # (S, k, n_items): one matrix product per sample in `score`
            self._q_by_sample = self._q.reshape(self.n_items, self.n_samples, -1).transpose(1, 2, 0).copy()

    # --- prediction ----------------------------------------------------------------------------------
    @property
    def n_samples(self) -> int:
        return int(self.w0_.shape[0])

    def _user_side(self, users: np.ndarray, history: sp.csr_matrix | None) -> tuple[np.ndarray, np.ndarray]:
        """(p, b) of a batch of users, float64: (n, S·k) and (n, S). Known users: their training rows;
        unknown ones: folded in from `history` (their implicit set) when `implicit_user`, else zero."""
        known = users >= 0
        idx = np.where(known, users, 0)
        p = self.user_factors_[idx].astype(np.float64) * known[:, None]
        b = self.user_bias_[idx].astype(np.float64) * known[:, None]
        fold = np.flatnonzero(~known)
        if history is not None and self.config.implicit_user and fold.size:
            x = implicit_rows(sp.csr_matrix(history[fold]))
            p_new = np.asarray(x @ self.implicit_factors_.astype(np.float64))
            sq = (p_new.reshape(fold.size, self.n_samples, -1) ** 2).sum(axis=2)
            b_new = x @ self.implicit_weights_.astype(np.float64)
            b_new += 0.5 * (sq - x.multiply(x) @ self.implicit_sq_.astype(np.float64))
            p[fold], b[fold] = p_new, b_new
        return p, b

    def _expected(self, p: np.ndarray, b: np.ndarray, items: np.ndarray | None) -> np.ndarray:
        """Posterior predictive mean for user rows (p, b) against `items` (one item per row; None: every
        item for every row), float64; unknown items (-1) have no item-side terms."""
        n_s, k = self.n_samples, self.config.rank
        if items is None:
            if not self.config.ordered_probit:
                return (
                    self._w0.mean()
                    + b.mean(axis=1)[:, None]
                    + self._b_item_mean[None, :]
                    + (p @ self._q.T) / n_s
                )
            # f: (S, users, items)
            f = np.matmul(p.reshape(p.shape[0], n_s, k).transpose(1, 0, 2), self._q_by_sample)
            f += b.T[:, :, None] + self._b_item.T[:, None, :] + self._w0[:, None, None]
            return self._probit_mean(f, self._cuts[:, None, None, :])
        ki = items >= 0
        i = np.where(ki, items, 0)
        q, b_item = self._q[i] * ki[:, None], self._b_item[i] * ki[:, None]
        if not self.config.ordered_probit:
            dot = np.einsum("nd,nd->n", p, q) / n_s
            return self._w0.mean() + b.mean(axis=1) + b_item.mean(axis=1) + dot
        # f: (S, n)
        f = (p.reshape(-1, n_s, k) * q.reshape(-1, n_s, k)).sum(axis=2).T
        f += b.T + b_item.T + self._w0[:, None]
        return self._probit_mean(f, self._cuts[:, None, :])

    def _probit_mean(self, f: np.ndarray, cuts: np.ndarray) -> np.ndarray:
        """Expected rating from latent scores `f` (samples first) and each sample's cut points `cuts`
        (broadcast against f, one cut point per last index): E[r] = level_0 + Σ_c (level_{c+1} − level_c)
        P(y > c), P(y > c) = Φ(f − γ_c), averaged over the samples (axis 0)."""
        out = np.full(f.shape[1:], float(self.levels_[0]))
        for c in range(self._steps.shape[0]):
            out += self._steps[c] * ndtr(f - cuts[..., c]).mean(axis=0)
        return out

    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        out = np.empty((users.shape[0], self.n_items), dtype=np.float32)
        # a block's scores (and, with ordered probit, its per-sample latent scores) and its user factors
        width = self.n_items * (self.n_samples if self.config.ordered_probit else 1)
        step = max(1, _BLOCK // max(width, self.n_samples * self.config.rank))
        for s in range(0, users.shape[0], step):
            rows = slice(s, s + step)
            p, b = self._user_side(users[rows], history[rows])
            out[rows] = self._expected(p, b, None)
        return out

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted ratings (float32) of (user, item) index pairs, clipped to the training rating range.

        Index -1 marks a user or item not seen in training: its side of the model is empty.
        """
        self.check_is_fitted()
        users, items = checked_pairs(users, items, len(self.user_vocab_), len(self.item_vocab_))
        out = np.empty(users.shape[0], dtype=np.float64)
        step = max(1, _BLOCK // (self.n_samples * self.config.rank))
        for s in range(0, users.shape[0], step):
            rows = slice(s, s + step)
            p, b = self._user_side(users[rows], None)
            out[rows] = self._expected(p, b, items[rows])
        return np.clip(out, self.rating_range_[0], self.rating_range_[1]).astype(np.float32)

    # --- persistence ---------------------------------------------------------------------------------
    _SAVED = (
        "w0",
        "user_factors",
        "item_factors",
        "user_bias",
        "item_bias",
        "implicit_factors",
        "implicit_weights",
        "implicit_sq",
        "cutpoints",
        "levels",
        "rating_range",
    )

    def _state(self) -> dict[str, np.ndarray]:
        return {key: getattr(self, f"{key}_") for key in self._SAVED}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        for key in self._SAVED:
            setattr(self, f"{key}_", arrays[key])
        self._derive()
