"""Paired significance tests on per-user metric values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lmrec.eval import Comparison, RankingProtocol, RankingResult, compare, mean_ci


def frame(users: np.ndarray, values: np.ndarray, metric: str = "NDCG@10") -> pd.DataFrame:
    return pd.DataFrame({"user": users, metric: values})


def test_known_difference() -> None:
    rng = np.random.default_rng(0)
    users = np.arange(400)
    a = rng.random(400)
    b = a + 0.05 + rng.normal(0, 0.1, 400)
    # b's rows in another order: compare must align on the user column
    perm = rng.permutation(400)
    res = compare(frame(users, a), frame(users[perm], b[perm]), "NDCG@10", n_boot=2000, seed=1)
    d = b - a
    assert res.n_users == 400
    assert res.mean_diff == pytest.approx(d.mean())
    assert res.relative_improvement == pytest.approx((b.mean() - a.mean()) / a.mean())
    ref_t = stats.ttest_rel(b, a)
    assert res.t_statistic == pytest.approx(ref_t.statistic) and res.t_pvalue == pytest.approx(ref_t.pvalue)
    ref_w = stats.wilcoxon(d, zero_method="wilcox")
    assert res.wilcoxon_pvalue == pytest.approx(ref_w.pvalue)
    assert res.t_pvalue < 1e-10 and res.wilcoxon_pvalue < 1e-10
    # the CI holds the mean difference and is about ±1.96 standard errors wide
    se = d.std(ddof=1) / np.sqrt(400)
    assert res.ci_low < d.mean() < res.ci_high
    assert res.ci_high - res.ci_low == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert res.ci_low > 0
    again = compare(frame(users, a), frame(users[perm], b[perm]), "NDCG@10", n_boot=2000, seed=1)
    assert again == res  # seeded
    d_dict = res.to_dict()
    assert d_dict["metric"] == "NDCG@10" and d_dict["n_boot"] == 2000 and d_dict["seed"] == 1


def test_no_difference_does_not_crash() -> None:
    users = np.arange(30)
    a = np.linspace(0, 1, 30)
    res = compare(frame(users, a), frame(users, a.copy()), "NDCG@10", n_boot=500)
    assert res.t_pvalue == 1.0 and res.wilcoxon_pvalue == 1.0
    assert res.mean_diff == 0.0 and res.ci_low == 0.0 and res.ci_high == 0.0
    # a constant shift (rounding noise aside) is a certain difference for the t-test
    shifted = compare(frame(users, a), frame(users, a + 0.1), "NDCG@10", n_boot=500)
    assert shifted.t_statistic == np.inf and shifted.t_pvalue == 0.0
    assert shifted.wilcoxon_pvalue < 1e-5


def test_series_and_result_inputs() -> None:
    users = np.arange(50)
    rng = np.random.default_rng(3)
    a, b = rng.random(50), rng.random(50)
    proto = RankingProtocol(
        ranking="full",
        n_items=10,
        exclude_history=True,
        extra_exclusions=False,
        n_users=50,
        n_skipped_users=0,
    )
    res_a = RankingResult(per_user=frame(users, a), aggregates={}, protocol=proto, seconds=1.0)
    via_result = compare(res_a, frame(users, b), "NDCG@10", n_boot=300)
    via_series = compare(pd.Series(a, index=users), pd.Series(b, index=users), "NDCG@10", n_boot=300)
    assert isinstance(via_result, Comparison)
    assert via_result == via_series
    assert 0 < via_result.t_pvalue < 1 and via_result.ci_low < via_result.mean_diff < via_result.ci_high


def test_mismatched_users_raise() -> None:
    a = frame(np.arange(10), np.ones(10))
    b = frame(np.arange(1, 11), np.ones(10))
    with pytest.raises(ValueError, match=r"1 only in a \(e.g. \[0\]\), 1 only in b \(e.g. \[10\]\)"):
        compare(a, b, "NDCG@10")
    with pytest.raises(KeyError, match="no column 'Recall@10'"):
        compare(a, a, "Recall@10")
    with pytest.raises(ValueError, match="NaN"):
        compare(a, frame(np.arange(10), np.r_[np.nan, np.ones(9)]), "NDCG@10")
    with pytest.raises(ValueError, match="more than once"):
        compare(frame(np.zeros(2, dtype=int), np.ones(2)), a, "NDCG@10")


def test_bootstrap_ci_coverage_is_roughly_nominal() -> None:
    # under a true mean difference of 0.1, about 90% of 90% CIs should contain it
    rng = np.random.default_rng(11)
    users = np.arange(60)
    inside = 0
    trials = 60
    for t in range(trials):
        a = rng.random(60)
        b = a + 0.1 + rng.normal(0, 0.3, 60)
        res = compare(frame(users, a), frame(users, b), "NDCG@10", n_boot=400, seed=t, alpha=0.1)
        inside += res.ci_low <= 0.1 <= res.ci_high
    assert 0.75 <= inside / trials <= 0.99


def test_mean_ci_brackets_the_mean_and_matches_the_t_interval_roughly() -> None:
    x = np.random.default_rng(1).normal(0.3, 0.1, size=2_000)
    mean, low, high = mean_ci(x, n_boot=2_000, seed=4)
    assert mean == pytest.approx(x.mean()) and low < mean < high
    half = stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
    assert high - low == pytest.approx(2 * half, rel=0.1)
    assert mean_ci(x, n_boot=500, seed=4) == mean_ci(x, n_boot=500, seed=4)  # seeded
    assert mean_ci(np.array([np.nan, 2.0])) == (2.0, 2.0, 2.0)
    assert all(np.isnan(v) for v in mean_ci(np.array([np.nan])))
