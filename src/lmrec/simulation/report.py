"""What a simulation writes: the per-policy summary (mean and 95% CI over seeds) and the plots.

The confidence interval of a metric at a round is the Student t interval over the seeds' values,
mean ± t_{0.975, s−1} · sd / sqrt(s); with one seed it is not defined (null in results.json, no band in
the plots). Seeds vary the users' choices, churn, exploration and policy fits, not the simulated world.

The plots come twice with the same content (`curves`): an interactive offline HTML page (plotly,
`write_plots`) and a static PNG (matplotlib's Agg renderer, `write_png`) for documents such as the README.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
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


def band(per_round: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Per policy, round and metric (default: all of `METRICS`): mean, low, high over seeds (long format)."""
    rows = []
    for (policy, rnd), group in per_round.groupby(["policy", "round"], sort=False):
        for metric in METRICS if metrics is None else metrics:
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


def curves(
    per_round: pd.DataFrame, metrics: Sequence[str] | None = None
) -> tuple[list[str], list[str], dict[tuple[str, str], pd.DataFrame]]:
    """What every plot draws: (metrics in display order, policies in run order, {(metric, policy): its
    `band` rows sorted by round}). No metric, or an unknown one, raises ValueError."""
    names = list(METRICS) if metrics is None else list(metrics)
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise ValueError(f"unknown metric(s) {unknown}; known: {list(METRICS)}" if unknown else "no metric")
    data = band(per_round, names)
    policies = [str(p) for p in dict.fromkeys(per_round["policy"])]
    lines = {
        (str(metric), str(policy)): d.sort_values("round")
        for (metric, policy), d in data.groupby(["metric", "policy"], sort=False)
    }
    return names, policies, lines


def write_plots(
    per_round: pd.DataFrame, path: Path, title: str, metrics: Sequence[str] | None = None
) -> Path:
    """A self-contained HTML page (plotly's JS embedded, no CDN): one panel per metric (default: all of
    `METRICS`), one line per policy (mean over seeds) with its 95% CI band."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    names, policies, lines = curves(per_round, metrics)
    cols = 2
    rows = (len(names) + cols - 1) // cols
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[METRICS[k] for k in names])
    palette = qualitative.Plotly + qualitative.D3
    for k, metric in enumerate(names):
        r, c = k // cols + 1, k % cols + 1
        for j, policy in enumerate(policies):
            d = lines[metric, policy]
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


PNG_DPI = 110
"""Pixels per inch of `write_png`: 1,650 pixels wide, readable when a README scales it to its column."""


def _palette(n: int) -> list[tuple[Any, str]]:
    """(colour, line style) of n policies: tab20's saturated ten first, then its light ten, so the first
    ten policies never share a hue; past 20 the colours repeat dashed, then dotted."""
    from matplotlib import colormaps

    tab20 = colormaps["tab20"]  # 20 listed colours: an integer picks one exactly
    colours = [tab20(i) for i in range(0, 20, 2)] + [tab20(i) for i in range(1, 20, 2)]
    styles = ["-", "--", ":"]
    return [(colours[j % 20], styles[(j // 20) % len(styles)]) for j in range(n)]


def write_png(per_round: pd.DataFrame, path: Path, title: str, metrics: Sequence[str] | None = None) -> Path:
    """The plots of `write_plots` as a static PNG: a grid of panels (three columns), one per metric
    (default: all of `METRICS`), one line per policy (mean over seeds) with its 95% CI band as a
    translucent fill, and one legend for all panels below them.

    Drawn on a bare `matplotlib.figure.Figure` (the Agg renderer, no pyplot): no display is needed and no
    global figure state is left behind."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    names, policies, lines = curves(per_round, metrics)
    cols = min(3, len(names))
    rows = (len(names) + cols - 1) // cols
    legend_cols = min(6, max(len(policies), 1))
    legend_rows = (len(policies) + legend_cols - 1) // legend_cols
    fig = Figure(figsize=(15, 0.9 + 3.2 * rows + 0.3 * legend_rows), dpi=PNG_DPI, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    palette = _palette(len(policies))
    for k, metric in enumerate(names):
        ax = axes[k // cols, k % cols]
        for j, policy in enumerate(policies):
            d = lines[metric, policy]
            x = d["round"].to_numpy(dtype=np.float64)
            colour, style = palette[j]
            low = d["low"].to_numpy(dtype=np.float64, na_value=np.nan)
            high = d["high"].to_numpy(dtype=np.float64, na_value=np.nan)
            if np.isfinite(low).any():
                ax.fill_between(x, low, high, color=colour, alpha=0.2, linewidth=0)
            ax.plot(x, d["mean"].to_numpy(dtype=np.float64), color=colour, linestyle=style, label=policy)
        # a title longer than ~60 characters does not fit a third of 15 inches on one line
        ax.set_title(textwrap.fill(METRICS[metric], 60), fontsize=10)
        ax.set_xlabel("round", fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=8)
        ax.grid(True, alpha=0.3)
    for k in range(len(names), rows * cols):
        axes[k // cols, k % cols].set_visible(False)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=legend_cols, fontsize=9, frameon=False)
    fig.suptitle(title, fontsize=13)
    fig.savefig(path, format="png")
    return path
