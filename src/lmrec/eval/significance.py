"""Paired significance tests between two systems evaluated on the same users.

The unit of analysis is the user: each system contributes one value per user (a column of
`RankingResult.per_user`), and the tests look at the per-user differences d = b − a ("b minus a", so a
positive difference means b is better on a higher-is-better metric).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

_BOOT_CELLS = 4_000_000
"""Resampled values held at once by the bootstrap (chunking bounds memory to ~32 MB of int64 indices)."""


@dataclass(frozen=True)
class Comparison:
    """Result of comparing system b with system a on one metric."""

    metric: str
    """Column compared."""
    n_users: int
    """Number of paired users."""
    mean_a: float
    """Mean of a over the users."""
    mean_b: float
    """Mean of b over the users."""
    mean_diff: float
    """Mean of d = b − a."""
    relative_improvement: float
    """(mean_b − mean_a) / mean_a; NaN when mean_a is 0."""
    t_statistic: float
    """Paired t statistic (scipy.stats.ttest_rel(b, a)); ±inf when all differences are equal and non-zero."""
    t_pvalue: float
    """Two-sided p-value of the paired t-test (1.0 when every difference is 0)."""
    wilcoxon_statistic: float
    """Wilcoxon signed-rank statistic (zero differences dropped: zero_method="wilcox")."""
    wilcoxon_pvalue: float
    """Two-sided p-value of the Wilcoxon test (1.0 when every difference is 0)."""
    ci_low: float
    """Lower end of the percentile bootstrap CI of mean_diff."""
    ci_high: float
    """Upper end of the percentile bootstrap CI of mean_diff."""
    alpha: float
    """CI level is 1 − alpha."""
    n_boot: int
    """Bootstrap resamples."""
    seed: int
    """Seed of the bootstrap generator."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _values(per_user: Any, metric: str, side: str) -> pd.Series:
    """Metric values indexed by user from a RankingResult, a per-user frame or a Series indexed by user."""
    frame = getattr(per_user, "per_user", per_user)
    if isinstance(frame, pd.DataFrame):
        if metric not in frame.columns:
            raise KeyError(f"{side}: no column {metric!r}; columns are {list(frame.columns)}")
        series = frame.set_index("user")[metric] if "user" in frame.columns else frame[metric]
    elif isinstance(frame, pd.Series):
        series = frame
    else:
        kind = type(per_user).__name__
        raise TypeError(f"{side}: expected a RankingResult, DataFrame or Series, got {kind}")
    if not series.index.is_unique:
        raise ValueError(f"{side}: users appear more than once")
    values = series.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"{side}: {metric} is NaN/inf for {int((~np.isfinite(values)).sum())} users")
    return pd.Series(values, index=series.index)


def _bootstrap_means(d: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    n = d.size
    chunk = max(1, _BOOT_CELLS // n)
    out = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        stop = min(start + chunk, n_boot)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = d[idx].mean(axis=1)
    return out


def mean_ci(
    values: np.ndarray, *, n_boot: int = 1_000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float, float]:
    """(mean, low, high): the mean of `values` and its percentile bootstrap CI at level 1 − alpha (the
    resampling `compare` uses for differences). NaN values are dropped; no value gives NaNs, one value
    a zero-width interval."""
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    if n_boot < 1:
        raise ValueError(f"n_boot must be positive, got {n_boot}")
    means = _bootstrap_means(x, n_boot, np.random.default_rng(seed))
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(x.mean()), float(low), float(high)


def _ttest(a: np.ndarray, b: np.ndarray, d: np.ndarray) -> tuple[float, float]:
    # scipy returns NaN (and warns about precision loss) when the differences have no spread; decide
    # those cases here. "No spread" allows the rounding noise of subtracting equal amounts.
    scale = max(float(np.abs(d).max()), np.finfo(np.float64).tiny)
    if float(d.max() - d.min()) <= 64 * np.finfo(np.float64).eps * scale:
        mean = float(d.mean())
        if mean == 0.0:
            return 0.0, 1.0
        return float(np.sign(mean) * np.inf), 0.0
    res = stats.ttest_rel(b, a)
    return float(res.statistic), float(res.pvalue)


def _wilcoxon(d: np.ndarray) -> tuple[float, float]:
    if not (d != 0).any():
        return 0.0, 1.0
    res = stats.wilcoxon(d, zero_method="wilcox")
    return float(res.statistic), float(res.pvalue)


def compare(
    per_user_a: Any,
    per_user_b: Any,
    metric: str,
    *,
    n_boot: int = 10_000,
    seed: int = 0,
    alpha: float = 0.05,
) -> Comparison:
    """Paired comparison of system b against system a on `metric` over the same users.

    per_user_a, per_user_b: `RankingResult`s, their `per_user` frames (aligned on the "user" column) or
    Series indexed by user. Raises if the two user sets differ: a paired test on different users is
    meaningless, so restrict both evaluations to the same users first.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be positive, got {n_boot}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    sa = _values(per_user_a, metric, "a")
    sb = _values(per_user_b, metric, "b")
    only_a = sa.index.difference(sb.index)
    only_b = sb.index.difference(sa.index)
    if len(only_a) or len(only_b):
        raise ValueError(
            f"the two evaluations cover different users: {len(only_a)} only in a (e.g. {list(only_a[:5])}), "
            f"{len(only_b)} only in b (e.g. {list(only_b[:5])})"
        )
    if len(sa) < 2:
        raise ValueError(f"need at least 2 paired users, got {len(sa)}")
    a = sa.to_numpy()
    b = sb.reindex(sa.index).to_numpy()
    d = b - a
    t_stat, t_p = _ttest(a, b, d)
    w_stat, w_p = _wilcoxon(d)
    means = _bootstrap_means(d, n_boot, np.random.default_rng(seed))
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    mean_a, mean_b = float(a.mean()), float(b.mean())
    return Comparison(
        metric=metric,
        n_users=int(d.size),
        mean_a=mean_a,
        mean_b=mean_b,
        mean_diff=float(d.mean()),
        relative_improvement=(mean_b - mean_a) / mean_a if mean_a != 0 else float("nan"),
        t_statistic=t_stat,
        t_pvalue=t_p,
        wilcoxon_statistic=w_stat,
        wilcoxon_pvalue=w_p,
        ci_low=float(low),
        ci_high=float(high),
        alpha=alpha,
        n_boot=n_boot,
        seed=seed,
    )
