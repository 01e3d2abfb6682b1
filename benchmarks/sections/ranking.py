"""Sections built from `lmrec run` result files: one table per run, with its paired tests and anchors."""

from __future__ import annotations

import json

import pandas as pd

from lmrec.experiment.report import to_markdown
from sections.common import (
    ANCHORS,
    RESULTS,
    epoch_columns,
    format_epoch_columns,
    grid_edges,
    own_params,
    stale,
)

RANKING = [
    (
        "p1_ml100k",
        "MovieLens-100K, P1 (temporal per-user 80/10/10)",
        ["NDCG@10", "Recall@10", "Recall@20", "Coverage@10"],
    ),
    (
        "p1_ml_latest_small",
        "ml-latest-small, P1 (temporal per-user 80/10/10)",
        ["NDCG@10", "Recall@10", "Recall@20", "Coverage@10"],
    ),
    (
        "p2_beauty_exclude_seen",
        'Amazon Beauty, P2 leave-one-out, "exclude seen"',
        ["HR@10", "NDCG@10", "HR@20", "NDCG@20", "MRR@all"],
    ),
    (
        "p2_beauty_all_items",
        'Amazon Beauty, P2 leave-one-out, "all items"',
        ["HR@10", "NDCG@10", "HR@20", "NDCG@20", "MRR@all"],
    ),
]

PEER_COLS = ["NDCG@10", "Recall@10", "Recall@20", "Coverage@10"]
PEER = [
    ("p1peer_ml100k", "MovieLens-100K, P1-peer (fitted on train, history at test: train)", PEER_COLS),
    (
        "p1peer_ml_latest_small",
        "ml-latest-small, P1-peer (fitted on train, history at test: train)",
        PEER_COLS,
    ),
    (
        "p1peer_ml100k_recency",
        "MovieLens-100K, P1-peer: recency-weighted EASE against EASE, ALS, EDLAE, SASRec (issue 22)",
        PEER_COLS,
    ),
    (
        "p1peer_ml_latest_small_recency",
        "ml-latest-small, P1-peer: EASE with recency-weighted histories (issue 22)",
        PEER_COLS,
    ),
    ("p1_ml100k_recency", "MovieLens-100K, P1: EASE with recency-weighted histories (issue 22)", PEER_COLS),
    (
        "p1_ml_latest_small_recency",
        "ml-latest-small, P1: EASE with recency-weighted histories (issue 22)",
        PEER_COLS,
    ),
]
"""The P1-peer tables beside the P1 ones, and the recency-weighted EASE runs under both rules."""


def partial_section(name: str, title: str, cols: list[str]) -> list[str]:
    """A run that stopped before its end: the test figures of the models it finished, marked as such."""
    path = RESULTS / name / "partial_results.json"
    if not path.is_file():
        return [f"## {title}", "", f"_not run yet: `{name}`_", ""]
    res = json.loads(path.read_text())
    rows = [
        {
            "model": m["label"],
            **{c: m["test"].get(c, float("nan")) for c in cols},
            **epoch_columns(m["timings"].get("training") or {}),
            "selected on validation": json.dumps(own_params(m["selected"])),
        }
        for m in res["models"]
    ]
    out = [
        f"## {title}",
        "",
        f"**PARTIAL**: the run stopped before its end; these are the models it finished "
        f"(`benchmarks/results/{name}/partial_results.json`). "
        + (
            "Finish it with `lmrec run ... --resume`. "
            if (RESULTS / name / "partial_per_user.parquet").is_file()
            else ""
        )
        + f"Protocol: {res['protocol']}",
        "",
        to_markdown(format_epoch_columns(pd.DataFrame(rows))),
        "",
    ]
    if name in ANCHORS:
        out += [ANCHORS[name], ""]
    return out


def ranking_section(name: str, title: str, cols: list[str]) -> list[str]:
    path = RESULTS / name / "results.json"
    if not path.is_file():
        return partial_section(name, title, cols)
    res = json.loads(path.read_text())
    rows = []
    for m in res["models"]:
        rows.append(
            {
                "model": m["label"],
                **{c: m["test"].get(c, float("nan")) for c in cols},
                "fit s": m["timings"]["fit"]["seconds"],
                "eval s": m["timings"]["evaluate"]["seconds"],
                "users/s": m["timings"]["evaluate"]["users_per_second"],
                "peak RSS MB": max(
                    m["timings"]["fit"]["peak_rss_mb"], m["timings"]["evaluate"]["peak_rss_mb"]
                ),
                **epoch_columns(m["timings"].get("training") or {}),
                "trials": len(m["trials"]),
                "selected on validation": json.dumps(own_params(m["selected"])),
                "on grid edge": grid_edges(res, m["label"], m["selected"]),
            }
        )
    frame = pd.DataFrame(rows).sort_values(cols[0] if cols[0] != "HR@10" else "NDCG@10", ascending=False)
    for col in ("users/s", "peak RSS MB"):
        frame[col] = frame[col].round().astype(int)
    for col in ("fit s", "eval s"):
        frame[col] = frame[col].map(lambda v: f"{v:.2f}")
    frame = format_epoch_columns(frame)
    split = res["data"]["split"]["parts"]
    out = [
        f"## {title}",
        "",
        *stale(name, res),
        f"Protocol: {res['protocol']}",
        "",
        f"Command: `LMREC_DATA_HOME=../shared/data .venv/bin/lmrec run benchmarks/configs/{name}.yaml "
        f"--out benchmarks/results/{name}`",
        "",
        f"Evaluated users: {m['timings']['evaluate']['users']}; split rows: "
        + ", ".join(f"{k} {v['rows']}" for k, v in split.items())
        + f"; machine: {res['machine']['cpus']} cores, {res['machine']['threads']} threads; "
        f"whole run {res['total']['seconds']:.0f} s.",
        "",
        to_markdown(frame),
        "",
    ]
    sig = res.get("significance") or []
    if sig:
        s = pd.DataFrame(sig)[
            ["model", "best", "metric", "mean_diff", "t_pvalue", "wilcoxon_pvalue", "ci_low", "ci_high"]
        ]
        out += [
            "Paired tests of the best model against each other one (per-user values on the test users):",
            "",
            to_markdown(s),
            "",
        ]
    hybrids = res.get("hybrid_vs_best_component") or []
    if hybrids:
        out += [
            "Each hybrid against the best-on-test of the single models it is built from (paired tests on "
            "NDCG@10 over the test users; HR@10 and Coverage@10 side by side):",
            "",
            to_markdown(hybrid_table(res)),
            "",
        ]
    pairs = res.get("pairs") or []
    if pairs:
        p = pd.DataFrame(pairs)[
            ["model", "baseline", "metric", "mean_b", "mean_a", "relative_improvement", "t_pvalue",
             "wilcoxon_pvalue", "ci_low", "ci_high"]
        ].rename(columns={"mean_b": "model mean", "mean_a": "baseline mean"})  # fmt: skip
        out += [
            "Comparisons the experiment file asks for (`evaluation.pairs`; paired tests on the test users):",
            "",
            to_markdown(p),
            "",
        ]
    if name in ANCHORS:
        out += [ANCHORS[name], ""]
    return out


def hybrid_table(res: dict) -> pd.DataFrame:
    """The run's `hybrid_vs_best_component` rows with HR@10 and Coverage@10 of both sides."""
    test = {m["label"]: m["test"] for m in res["models"]}
    rows = []
    for h in res["hybrid_vs_best_component"]:
        hyb, comp = test[h["hybrid"]], test[h["best component"]]
        rows.append(
            {
                "hybrid": h["hybrid"],
                "best component": h["best component"],
                "hybrid NDCG@10": h["mean_b"],
                "component NDCG@10": h["mean_a"],
                "relative": h["relative_improvement"],
                "t_pvalue": h["t_pvalue"],
                "wilcoxon_pvalue": h["wilcoxon_pvalue"],
                "hybrid HR@10": hyb.get("HR@10"),
                "component HR@10": comp.get("HR@10"),
                "hybrid Coverage@10": hyb.get("Coverage@10"),
                "component Coverage@10": comp.get("Coverage@10"),
            }
        )
    return pd.DataFrame(rows)


def json_table_section(name: str, title: str, command: str, file: str = "leaderboard.md") -> list[str]:
    """A benchmark script's own table file (CTR, cascade latency: leaderboard.md; others report.md),
    under a heading."""
    path = RESULTS / name / file
    if not path.is_file():
        return [f"## {title}", "", f"Not run yet. Command: `{command}`", ""]
    body = path.read_text().splitlines()[1:]  # drop the file's own title
    return [f"## {title}", "", f"Command: `{command}`", *body, ""]


def rating_section() -> list[str]:
    name = "p3_ml100k_rating"
    path = RESULTS / name / "results.json"
    title = "MovieLens-100K, P3 rating prediction (official folds u1–u5)"
    if not path.is_file():
        return [f"## {title}", "", "_not run yet_", ""]
    res = json.loads(path.read_text())
    rows = []
    for m in res["models"]:
        for f in m["folds"]:
            rows.append(
                {
                    "model": m["label"],
                    "fold": f["fold"],
                    "RMSE": f["test"]["RMSE"],
                    "MAE": f["test"]["MAE"],
                    "fit s": f["timings"]["fit"]["seconds"],
                    "selected": json.dumps(f["selected"]),
                }
            )
        rows.append(
            {
                "model": m["label"],
                "fold": "**mean**",
                "RMSE": m["mean"]["RMSE"],
                "MAE": m["mean"]["MAE"],
                "fit s": float("nan"),
                "selected": "",
            }
        )
    return [
        f"## {title}",
        "",
        *stale(name, res),
        f"Protocol: {res['protocol']} ({res['validation']}).",
        "",
        f"Command: `LMREC_DATA_HOME=../shared/data .venv/bin/lmrec run benchmarks/configs/{name}.yaml "
        f"--out benchmarks/results/{name}`",
        "",
        to_markdown(pd.DataFrame(rows)),
        "",
        ANCHORS[name],
        "",
    ]
