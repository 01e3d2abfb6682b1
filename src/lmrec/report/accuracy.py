"""The leaderboard with confidence intervals, and the matrix of paired tests between every two models.

With per_user.parquet, every per-user metric gets the percentile bootstrap CI of its mean over the test
users (`lmrec.eval.mean_ci`), and every pair of models is compared on the selection metric with the
paired tests of `lmrec.eval.compare` (t-test, Wilcoxon, bootstrap CI of the difference). The p-values
are per pair, not corrected for the number of pairs: with k models there are k(k−1)/2 of them, which the
report says. Without per_user.parquet (a committed benchmark folder) the leaderboard has the means
only, and the matrix holds the tests results.json stored: the best model against each other one, the
requested pairs and each hybrid against its best component.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from lmrec.eval import compare, mean_ci
from lmrec.report.inputs import RunFiles

NOT_METRICS = ("user", "user_id", "model", "history_length", "target_popularity", "history_popularity")
"""per_user.parquet columns that are not metrics."""
ACCURACY = ("NDCG", "Recall", "HR", "MRR", "Precision", "MAP")
"""Metric families plotted in the leaderboard (at the selection metric's cut-off)."""
N_BOOT = 1_000
"""Bootstrap resamples of the leaderboard CIs and the matrix's difference CIs."""


def key_metric(run: RunFiles) -> str:
    """The selection metric (`evaluation.select_by`) as the test results name it."""
    models = run.results.get("models") or []
    wanted = str((run.results.get("experiment") or {}).get("evaluation", {}).get("select_by", "NDCG@10"))
    test = models[0].get("test", {}) if models else {}
    if wanted in test:
        return wanted
    return next((k for k in test if k.startswith(wanted + "[")), wanted)


def cutoff(metric: str) -> int | None:
    """n of "NDCG@10" (None for "MRR@all" or a name without a cut-off)."""
    found = re.search(r"@(\d+)", metric)
    return int(found.group(1)) if found else None


def _family(metric: str) -> str:
    return metric.split("@")[0]


def metric_columns(per_user: pd.DataFrame) -> list[str]:
    return [c for c in per_user.columns if c not in NOT_METRICS]


def per_model(per_user: pd.DataFrame, label: str) -> pd.DataFrame:
    """The per-user rows of one model."""
    return per_user[per_user["model"] == label]


def leaderboard(run: RunFiles, *, seed: int = 0) -> dict[str, Any]:
    """Every model's test metrics (results.json), with the bootstrap CI of each per-user metric's mean."""
    key = key_metric(run)
    n = cutoff(key)
    rows = []
    for record in run.results.get("models", []):
        label = str(record["label"])
        metrics: dict[str, Any] = {
            k: {"mean": v} for k, v in record.get("test", {}).items() if isinstance(v, int | float)
        }
        if run.per_user is not None:
            frame = per_model(run.per_user, label)
            for column in metric_columns(frame):
                mean, low, high = mean_ci(frame[column].to_numpy(dtype=np.float64), n_boot=N_BOOT, seed=seed)
                metrics[column] = {"mean": mean, "low": low, "high": high}
        timings = record.get("timings", {})
        rows.append(
            {
                "model": label,
                "metrics": metrics,
                "selected": record.get("selected", {}),
                "fit_seconds": timings.get("fit", {}).get("seconds"),
                "evaluate_seconds": timings.get("evaluate", {}).get("seconds"),
                "users": timings.get("evaluate", {}).get("users"),
            }
        )
    rows.sort(key=lambda r: -(r["metrics"].get(key, {}).get("mean") or -np.inf))
    plotted = [
        m
        for m in (rows[0]["metrics"] if rows else {})
        if _family(m) in ACCURACY and (n is None or cutoff(m) == n) and "[" not in m
    ]
    return {
        "metric": key,
        "plotted_metrics": plotted,
        "rows": rows,
        "ci": None
        if run.per_user is None
        else f"95% percentile bootstrap over test users ({N_BOOT} resamples)",
    }


def _empty(k: int) -> list[list[Any]]:
    return [[None] * k for _ in range(k)]


def paired_matrix(run: RunFiles, *, seed: int = 0) -> dict[str, Any]:
    """Cell [i][j]: model i − model j on the selection metric (mean difference, paired t-test and Wilcoxon
    p-values, bootstrap CI), over the same test users; None where no test was run."""
    key = key_metric(run)
    labels = run.labels()
    k = len(labels)
    cells = {name: _empty(k) for name in ("mean_diff", "t_pvalue", "wilcoxon_pvalue", "ci_low", "ci_high")}
    source = "per_user.parquet: every pair"
    if run.per_user is not None and key in run.per_user.columns:
        frames = {label: per_model(run.per_user, label)[["user", key]] for label in labels}
        for i in range(k):
            for j in range(i + 1, k):
                try:
                    res = compare(frames[labels[j]], frames[labels[i]], key, n_boot=N_BOOT, seed=seed)
                except ValueError:  # different users (a sampled run) or missing values: no test, None
                    continue
                _put(cells, i, j, res.mean_diff, res.t_pvalue, res.wilcoxon_pvalue, res.ci_low, res.ci_high)
    else:
        source = "results.json: the tests the run stored (best model vs each, requested pairs, hybrids)"
        index = {label: i for i, label in enumerate(labels)}
        for row, first, second in _stored_tests(run.results):
            a, b = row.get(first), row.get(second)
            if a in index and b in index and row.get("metric", key) == key:
                # stored mean_diff is second's mean − first's mean ("b − a")
                diff = row["mean_diff"]
                _put(
                    cells, index[b], index[a], diff, row.get("t_pvalue"), row.get("wilcoxon_pvalue"),
                    row.get("ci_low"), row.get("ci_high"),
                )  # fmt: skip
    tested = sum(v is not None for r in cells["mean_diff"] for v in r) // 2
    return {"metric": key, "models": labels, **cells, "pairs_tested": tested, "source": source}


def _put(cells: dict[str, list[list[Any]]], i: int, j: int, diff: float, *rest: Any) -> None:
    """Fill cell (i, j) with "i − j" and its mirror (j, i) with the negated difference."""
    t_p, w_p, low, high = rest
    cells["mean_diff"][i][j], cells["mean_diff"][j][i] = diff, -diff
    cells["t_pvalue"][i][j] = cells["t_pvalue"][j][i] = t_p
    cells["wilcoxon_pvalue"][i][j] = cells["wilcoxon_pvalue"][j][i] = w_p
    cells["ci_low"][i][j], cells["ci_high"][i][j] = low, high
    cells["ci_low"][j][i] = None if high is None else -high
    cells["ci_high"][j][i] = None if low is None else -low


def _stored_tests(results: dict[str, Any]) -> list[tuple[dict[str, Any], str, str]]:
    """(row, a-key, b-key) of each stored test whose mean_diff is b − a."""
    out = [(r, "model", "best") for r in results.get("significance", [])]
    out += [(r, "baseline", "model") for r in results.get("pairs", [])]
    out += [(r, "best component", "hybrid") for r in results.get("hybrid_vs_best_component", [])]
    return out
