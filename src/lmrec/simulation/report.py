"""What a simulation writes: the per-policy summary (mean and 95% CI over seeds) and the offline plots.

The confidence interval of a metric at a round is the Student t interval over the seeds' values,
mean ± t_{0.975, s−1} · sd / sqrt(s); with one seed it is not defined (null in results.json, no band in
the plots). Seeds vary the users' choices, churn, exploration and policy fits, not the simulated world.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

METRICS: dict[str, str] = {
    "engagement": "Engagement (choices per active user)",
    "cumulative_utility": "Cumulative utility per user (true preferences, z units)",
    "utility": "Utility per user in the round",
    "retention": "Retention (share of users active)",
    "jaccard_consumed": "Homogenization: Jaccard of consumed sets",
    "jaccard_slates": "Homogenization: Jaccard of slates",
    "exposure_gini": "Exposure Gini of slates",
    "coverage": "Catalog coverage of slates",
    "intra_list_diversity": "Intra-list diversity (cosine distance, logged-data vectors)",
    "novelty": "Novelty of chosen items (−log2 popularity)",
    "entropy_drift": "Interest entropy drift (bits vs round 0)",
}
"""Metric column -> plot title, in display order."""


def mean_ci(values: np.ndarray) -> tuple[float, float | None, float | None]:
    """(mean, low, high) of the 95% t interval; NaN values are dropped; one value: no interval."""
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return float("nan"), None, None
    mean = float(x.mean())
    if x.size < 2:
        return mean, None, None
    from scipy.stats import t

    half = float(t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return mean, mean - half, mean + half


def band(per_round: pd.DataFrame) -> pd.DataFrame:
    """Per policy, round and metric: mean, low, high over seeds (long format)."""
    rows = []
    for (policy, rnd), group in per_round.groupby(["policy", "round"], sort=False):
        for metric in METRICS:
            mean, low, high = mean_ci(group[metric].to_numpy())
            rows.append(
                {"policy": policy, "round": rnd, "metric": metric, "mean": mean, "low": low, "high": high}
            )
    return pd.DataFrame(rows)


def summary(per_round: pd.DataFrame, rounds: tuple[int, ...]) -> dict[str, Any]:
    """{policy: {"round R": {metric: {mean, ci95: [low, high], seeds}}}} at the selected rounds."""
    out: dict[str, Any] = {}
    for policy, frame in per_round.groupby("policy", sort=False):
        at: dict[str, Any] = {}
        for rnd in rounds:
            rows = frame[frame["round"] == rnd]
            at[f"round {rnd}"] = {
                metric: {
                    "mean": (mc := mean_ci(rows[metric].to_numpy()))[0],
                    "ci95": None if mc[1] is None else [mc[1], mc[2]],
                    "seeds": int(rows.shape[0]),
                }
                for metric in METRICS
            }
        out[str(policy)] = at
    return out


def write_plots(per_round: pd.DataFrame, path: Path, title: str) -> Path:
    """A self-contained HTML page (plotly's JS embedded, no CDN): one panel per metric, one line per
    policy (mean over seeds) with its 95% CI band."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    data = band(per_round)
    names = list(METRICS)
    cols = 2
    rows = (len(names) + cols - 1) // cols
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[METRICS[k] for k in names])
    palette = qualitative.Plotly + qualitative.D3
    policies = list(dict.fromkeys(per_round["policy"]))
    for k, metric in enumerate(names):
        r, c = k // cols + 1, k % cols + 1
        for j, policy in enumerate(policies):
            d = data[(data["policy"] == policy) & (data["metric"] == metric)].sort_values("round")
            color = palette[j % len(palette)]
            if d["low"].notna().any():
                x = np.concatenate([d["round"].to_numpy(), d["round"].to_numpy()[::-1]])
                y = np.concatenate([d["high"].to_numpy(), d["low"].to_numpy()[::-1]])
                fig.add_trace(
                    go.Scatter(
                        x=x,
                        y=y,
                        fill="toself",
                        fillcolor=color,
                        opacity=0.2,
                        line={"width": 0},
                        hoverinfo="skip",
                        showlegend=False,
                        legendgroup=policy,
                    ),
                    row=r,
                    col=c,
                )
            fig.add_trace(
                go.Scatter(
                    x=d["round"],
                    y=d["mean"],
                    mode="lines",
                    name=policy,
                    legendgroup=policy,
                    line={"color": color},
                    showlegend=k == 0,
                ),
                row=r,
                col=c,
            )
    fig.update_layout(title=title, height=320 * rows, template="plotly_white")
    fig.update_xaxes(title_text="round")
    fig.write_html(path, include_plotlyjs=True, full_html=True)
    return path
