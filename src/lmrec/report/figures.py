"""The report's plots, drawn with plotly from the report's JSON sections only.

Each function takes one section of report.json and returns `Plot`s; nothing here computes a number, so
every value in a picture is in report.json under the plot's `data` key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
    "#17becf", "#393b79", "#ad494a", "#637939", "#8c6d31", "#7b4173", "#3182bd",
]  # fmt: skip
CONSUMED = "#444444"


@dataclass
class Plot:
    """One figure: where it goes (`section`), what it shows and which report.json key holds its data."""

    id: str
    section: str
    title: str
    data: str
    figure: Any

    def describe(self) -> dict[str, str]:
        return {"id": self.id, "section": self.section, "title": self.title, "data": self.data}


def _go() -> Any:
    import plotly.graph_objects as go

    return go


def _layout(fig: Any, title: str, height: int = 420, **kw: Any) -> Any:
    fig.update_layout(
        title={"text": title, "font": {"size": 15}},
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 20, "t": 60, "b": 60},
        legend={"orientation": "h", "y": -0.2},
        **kw,
    )
    return fig


def _errors(values: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """Plus and minus error lengths from {"mean", "low", "high"} lists (None where unknown)."""
    mean, low, high = values["mean"], values.get("low"), values.get("high")
    if low is None or high is None:
        return [], []
    plus = [None if h is None or m is None else h - m for m, h in zip(mean, high, strict=True)]
    minus = [None if lo is None or m is None else m - lo for m, lo in zip(mean, low, strict=True)]
    return plus, minus


def leaderboard(board: dict[str, Any]) -> list[Plot]:
    go = _go()
    rows = board["rows"]
    if not rows or not board["plotted_metrics"]:
        return []
    fig = go.Figure()
    models = [r["model"] for r in rows]
    for k, metric in enumerate(board["plotted_metrics"]):
        cells = [r["metrics"].get(metric, {}) for r in rows]
        values = {
            "mean": [c.get("mean") for c in cells],
            "low": [c.get("low") for c in cells] if all("low" in c for c in cells) else None,
            "high": [c.get("high") for c in cells] if all("high" in c for c in cells) else None,
        }
        plus, minus = _errors(values)
        fig.add_bar(
            x=models,
            y=values["mean"],
            name=metric,
            marker_color=PALETTE[k % len(PALETTE)],
            error_y={"type": "data", "array": plus, "arrayminus": minus, "visible": bool(plus)},
        )
    ci = " (95% bootstrap CI)" if board.get("ci") else " (no per-user file: means only)"
    _layout(fig, f"Test accuracy by model{ci}", barmode="group", yaxis_title="mean over test users")
    return [Plot("leaderboard", "accuracy", "Test accuracy by model", "leaderboard", fig)]


def paired_matrix(matrix: dict[str, Any]) -> list[Plot]:
    go = _go()
    if matrix["pairs_tested"] == 0:
        return []
    labels = matrix["models"]
    text = [
        ["" if d is None else f"{d:+.4f}<br>p={_p(p)}" for d, p in zip(drow, prow, strict=True)]
        for drow, prow in zip(matrix["mean_diff"], matrix["t_pvalue"], strict=True)
    ]
    fig = go.Figure(
        go.Heatmap(
            z=matrix["mean_diff"],
            x=labels,
            y=labels,
            text=text,
            texttemplate="%{text}",
            colorscale="RdBu",
            zmid=0,
            colorbar={"title": "row − column"},
            hoverongaps=False,
        )
    )
    _layout(
        fig,
        f"Paired tests on {matrix['metric']}: row model − column model (paired t-test p)",
        height=max(360, 70 * len(labels) + 160),
        yaxis={"autorange": "reversed"},
    )
    return [Plot("paired-matrix", "accuracy", "Paired-test matrix", "paired_tests", fig)]


def _p(p: float | None) -> str:
    if p is None:
        return "–"
    return f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"


def slices(section: dict[str, Any]) -> list[Plot]:
    go = _go()
    plots = []
    for column, data in section.items():
        if data is None:
            continue
        labels = [g["label"] for g in data["groups"]]
        users = [g["users"] for g in data["groups"]]
        x = [f"{lab}<br>({u} users)" for lab, u in zip(labels, users, strict=True)]
        fig = go.Figure()
        for k, (model, values) in enumerate(data["models"].items()):
            plus, minus = _errors(values)
            fig.add_scatter(
                x=x,
                y=values["mean"],
                name=model,
                mode="lines+markers",
                line={"color": PALETTE[k % len(PALETTE)]},
                error_y={"type": "data", "array": plus, "arrayminus": minus, "visible": bool(plus)},
            )
        _layout(
            fig,
            f"{data['metric']} by {data['what']}",
            xaxis_title=data["what"],
            yaxis_title=f"mean {data['metric']} (95% CI)",
        )
        plots.append(
            Plot(f"slice-{column}", "slices", f"{data['metric']} by {data['what']}", f"slices.{column}", fig)
        )
    return plots


def exposure(data: dict[str, Any] | None) -> list[Plot]:
    if data is None:
        return []
    go = _go()
    from plotly.subplots import make_subplots

    plots = []
    curve = data["popularity_curve"]
    x = [0.0, *curve["top_items_percent"]]
    fig = go.Figure()
    fig.add_scatter(
        x=x,
        y=[0.0, *curve["consumed_cumulative"]],
        name="consumed (history)",
        line={"color": CONSUMED, "dash": "dash"},
    )
    for k, (model, shares) in enumerate(curve["models_cumulative"].items()):
        fig.add_scatter(x=x, y=[0.0, *shares], name=model, line={"color": PALETTE[k % len(PALETTE)]})
    _layout(
        fig,
        f"Popularity bias: share of top-{data['n']} slots taken by the most popular items",
        xaxis_title="the x% most popular items of the catalog",
        yaxis_title="cumulative share of slots / interactions",
        yaxis_range=[0, 1.02],
    )
    plots.append(
        Plot("popularity-curve", "exposure", "Popularity bias curve", "exposure.popularity_curve", fig)
    )

    groups = data.get("popularity_by_user_group")
    if groups is not None:
        fig = go.Figure()
        consumed = groups["consumed"]
        fig.add_scatter(
            x=consumed, y=consumed, name="consumed (diagonal)", line={"color": CONSUMED, "dash": "dash"}
        )
        for k, (model, values) in enumerate(groups["recommended"].items()):
            fig.add_scatter(
                x=consumed,
                y=values,
                name=model,
                mode="lines+markers",
                line={"color": PALETTE[k % len(PALETTE)]},
            )
        _layout(
            fig,
            "Recommended vs consumed popularity, users grouped by their history's popularity",
            xaxis_title="mean popularity of the users' history items",
            yaxis_title=f"mean popularity of the top-{data['n']}",
        )
        plots.append(
            Plot("popularity-users", "exposure", "Recommended vs consumed popularity",
                 "exposure.popularity_by_user_group", fig)
        )  # fmt: skip

    models = list(data["models"])
    measures = [
        ("coverage", "Catalog coverage"),
        ("gini", "Gini of exposure"),
        ("personalization", "Personalization"),
        ("long_tail_share", "Long-tail share"),
    ]
    fig = make_subplots(rows=1, cols=len(measures), subplot_titles=[t for _, t in measures])
    for j, (key, _) in enumerate(measures):
        fig.add_bar(
            x=models,
            y=[data["models"][m][key] for m in models],
            marker_color=[PALETTE[k % len(PALETTE)] for k in range(len(models))],
            showlegend=False,
            row=1,
            col=j + 1,
        )
    head = f"{data['long_tail']['head_share']:.0%}"
    _layout(
        fig,
        f"Beyond accuracy of the top-{data['n']} lists (long tail: all but the {head} most popular items)",
        height=380,
    )
    plots.append(
        Plot("beyond", "exposure", "Coverage, Gini, personalization, long tail", "exposure.models", fig)
    )

    calibration = data.get("calibration")
    if calibration is not None:
        fig = go.Figure()
        fig.add_bar(
            x=calibration["categories"], y=calibration["consumed"], name="consumed", marker_color=CONSUMED
        )
        for k, (model, shares) in enumerate(calibration["recommended"].items()):
            kl = calibration["kl"][model]
            fig.add_bar(
                x=calibration["categories"],
                y=shares,
                name=f"{model} (KL {kl:.3f})",
                marker_color=PALETTE[k % len(PALETTE)],
            )
        _layout(
            fig,
            "Calibration: category shares of the recommendations vs the consumed history",
            barmode="group",
            yaxis_title="share of slots / interactions",
        )
        plots.append(Plot("calibration", "exposure", "Calibration by category", "exposure.calibration", fig))
    return plots


def training(data: dict[str, Any]) -> list[Plot]:
    go = _go()
    curves = data["curves"]
    if not curves:
        return []
    plots = []
    fig = go.Figure()
    for k, (model, c) in enumerate(curves.items()):
        fig.add_scatter(x=c["epochs"], y=c["loss"], name=model, line={"color": PALETTE[k % len(PALETTE)]})
    _layout(fig, "Training loss per epoch", xaxis_title="epoch", yaxis_title="mean training loss")
    plots.append(Plot("training-loss", "training", "Training loss per epoch", "training.curves", fig))
    with_valid = {m: c for m, c in curves.items() if c["valid"]}
    if with_valid:
        fig = go.Figure()
        for k, (model, c) in enumerate(with_valid.items()):
            fig.add_scatter(
                x=c["valid_epochs"], y=c["valid"], name=model, mode="lines+markers",
                line={"color": PALETTE[k % len(PALETTE)]},
            )  # fmt: skip
        metric = next(iter(with_valid.values()))["metric"] or "validation metric"
        _layout(fig, f"Validation {metric} per evaluated epoch", xaxis_title="epoch", yaxis_title=metric)
        plots.append(
            Plot("training-valid", "training", "Validation metric per epoch", "training.curves", fig)
        )
    return plots


def hybrids(data: dict[str, Any]) -> list[Plot]:
    go = _go()
    plots = []
    recall = {m: d["candidate_recall"] for m, d in data.items() if "candidate_recall" in d}
    if recall:
        fig = go.Figure(go.Bar(x=list(recall), y=list(recall.values()), marker_color=PALETTE[0]))
        _layout(fig, "Candidate recall on test: share of targets the retrievers proposed", yaxis_range=[0, 1])
        plots.append(Plot("candidate-recall", "hybrids", "Candidate recall", "hybrids", fig))
    for k, (model, d) in enumerate(data.items()):
        imp = d.get("feature_importance")
        if imp:
            feats = imp["features"]
            fig = go.Figure(
                go.Bar(x=list(feats.values()), y=list(feats), orientation="h", marker_color=PALETTE[1])
            )
            _layout(
                fig, f"{model}: feature importance ({imp['kind']})", height=max(300, 24 * len(feats) + 120),
                yaxis={"autorange": "reversed"},
            )  # fmt: skip
            plots.append(
                Plot(f"importance-{k}", "hybrids", f"{model} feature importance", f"hybrids.{model}", fig)
            )
        if d.get("weights"):
            w = d["weights"]
            fig = go.Figure(go.Bar(x=list(w), y=list(w.values()), marker_color=PALETTE[2]))
            _layout(fig, f"{model}: blend weights chosen on validation", height=320)
            plots.append(Plot(f"weights-{k}", "hybrids", f"{model} blend weights", f"hybrids.{model}", fig))
    return plots


def simulation(data: dict[str, Any] | None) -> list[Plot]:
    if data is None:
        return []
    go = _go()
    plots = []
    for j, (metric, title) in enumerate(data["metrics"].items()):
        fig = go.Figure()
        for k, policy in enumerate(data["policies"]):
            line = data["lines"][metric][policy]
            color = PALETTE[k % len(PALETTE)]
            if any(v is not None for v in line["low"]):
                fig.add_scatter(
                    x=line["round"] + line["round"][::-1],
                    y=line["high"] + line["low"][::-1],
                    fill="toself", fillcolor=color, opacity=0.2, line={"width": 0},
                    hoverinfo="skip", showlegend=False, legendgroup=policy,
                )  # fmt: skip
            fig.add_scatter(
                x=line["round"], y=line["mean"], name=policy, legendgroup=policy, line={"color": color}
            )
        _layout(fig, title, xaxis_title="round")
        plots.append(Plot(f"rounds-{j}", "simulation", title, f"simulation.lines.{metric}", fig))
    return plots
