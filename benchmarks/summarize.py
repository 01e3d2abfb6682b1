"""Write benchmarks/README.md from the result files under benchmarks/results/ (no number is typed by hand).

Regenerate: .venv/bin/python benchmarks/summarize.py
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd

from lmrec.experiment.config import load_experiment
from lmrec.experiment.report import to_markdown

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

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
P2 = ["HR@10", "NDCG@10", "HR@20", "NDCG@20", "MRR@all"]
P4 = ["NDCG@10", "Recall@10", "Recall@20", "HR@10"]
SEQUENTIAL = [
    ("p2_beauty_seq", 'Amazon Beauty, P2 leave-one-out, "exclude seen": sequence models', P2),
    ("p2_beauty_bert4rec", 'Amazon Beauty, P2 "exclude seen": BERT4Rec with patience 20', P2),
    ("p2_beauty_sasrec_tuning", 'Amazon Beauty, P2 "exclude seen": wider SASRec, chosen on validation', P2),
    (
        "p2_beauty_sasrec_sampled",
        'Amazon Beauty, P2 "exclude seen": SASRec with the full softmax vs sampled softmax',
        P2,
    ),
    ("p2_beauty_seq_all_items", 'Amazon Beauty, P2 leave-one-out, "all items": sequence models', P2),
    ("p2_sports_seq", 'Amazon Sports, P2 leave-one-out, "exclude seen": sequence models', P2),
    ("p2_toys_seq", 'Amazon Toys, P2 leave-one-out, "exclude seen": sequence models', P2),
    ("p2_sports_bert4rec", 'Amazon Sports, P2 "exclude seen": BERT4Rec with patience 20', P2),
    ("p2_toys_bert4rec", 'Amazon Toys, P2 "exclude seen": BERT4Rec with patience 20', P2),
    ("p2_yelp_seq", 'Yelp, P2 leave-one-out, "exclude seen": sequence models', P2),
    ("p2_yelp_bert4rec", 'Yelp, P2 "exclude seen": BERT4Rec with patience 20', P2),
    ("p2_games_seq", 'Amazon Games, P2 leave-one-out, "exclude seen": sequence models', P2),
    ("p2_games_bert4rec", 'Amazon Games, P2 "exclude seen": BERT4Rec with patience 20', P2),
    ("p2_ml100k_seq", 'MovieLens-100K, P2 leave-one-out, "exclude seen": sequence models', P2),
    ("p2_ml100k_seq_all_items", 'MovieLens-100K, P2 leave-one-out, "all items": sequence models', P2),
    ("p4_ml100k_cold", "MovieLens-100K, P4 cold items (10% of items unseen in training)", P4),
    ("p4_ml100k_rare", "MovieLens-100K, P4 rare items (at most 5 training interactions)", P4),
    ("p4_ml_latest_small_cold", "ml-latest-small, P4 cold items (10% of items unseen in training)", P4),
    ("p4_ml_latest_small_rare", "ml-latest-small, P4 rare items (at most 5 training interactions)", P4),
]
HYBRIDS = [
    (
        "p2_ml100k_hybrids",
        'MovieLens-100K, P2 "exclude seen": hybrids and the LambdaRank ablation',
        [*P2, "CandidateRecall"],
    ),
    (
        "p2_beauty_hybrids",
        'Amazon Beauty, P2 "exclude seen": hybrids and the LambdaRank ablation',
        [*P2, "CandidateRecall"],
    ),
    (
        "p2_toys_hybrids",
        'Amazon Toys, P2 "exclude seen": hybrids and the LambdaRank ablation',
        [*P2, "CandidateRecall"],
    ),
    (
        "p2_sports_hybrids",
        'Amazon Sports, P2 "exclude seen": hybrids and the LambdaRank ablation',
        [*P2, "CandidateRecall"],
    ),
]
ANCHORS = {
    "p2_beauty_exclude_seen": "Published anchors under P2 with full ranking (sequential models, see the "
    "sequence-model table below): SASRec with sampled softmax HR@10 0.0921 / NDCG@10 0.0531; eSASRec 0.0928 "
    "/ 0.0523.",
    "p2_beauty_seq": "Published anchors under P2 with full ranking on this file: SASRec with sampled softmax "
    "HR@10 0.0921 / NDCG@10 0.0531; eSASRec 0.0928 / 0.0523 (eSASRec authors' benchmark).",
    "p2_beauty_sasrec_tuning": "Published anchors under P2 with full ranking on this file: SASRec with "
    "sampled softmax HR@10 0.0921 / NDCG@10 0.0531; eSASRec 0.0928 / 0.0523 (eSASRec authors' benchmark).",
    "p2_beauty_sasrec_sampled": "Published anchors under P2 with full ranking on this file: SASRec with "
    "sampled softmax (256 negatives per position, d=256, 1 block) HR@10 0.0921 / NDCG@10 0.0531 (eSASRec "
    "authors' benchmark).",
    "p3_ml100k_rating": "Published anchor (Surprise benchmark table, 5-fold CV on ML-100K): SVD RMSE 0.934, "
    "SVD++ 0.92.",
}


def stale(name: str, res: dict) -> list[str]:
    """A warning when the stored result was produced by a different experiment than the config file."""
    config = dataclasses.asdict(load_experiment(HERE / "configs" / f"{name}.yaml"))
    config.pop("base_dir", None)
    stored = json.loads(json.dumps(res["experiment"]))
    if _without_new_defaults(json.loads(json.dumps(config)), stored) == stored:
        return []
    return [
        f"**STALE: `benchmarks/results/{name}` was produced by a different version of `configs/{name}.yaml`; "
        "rerun it.**",
        "",
    ]


def _without_new_defaults(config, stored):  # type: ignore[no-untyped-def]
    """`config` less the keys that later versions of the experiment file added with an empty default (None,
    e.g. a model's `refit`, or an empty list, e.g. `evaluation.pairs`): a result made before such a key
    existed was made with its default."""
    if isinstance(config, dict) and isinstance(stored, dict):
        return {
            k: _without_new_defaults(v, stored.get(k))
            for k, v in config.items()
            if k in stored or v not in (None, [])
        }
    if isinstance(config, list) and isinstance(stored, list) and len(config) == len(stored):
        return [_without_new_defaults(c, s) for c, s in zip(config, stored, strict=True)]
    return config


def grid_edges(res: dict, label: str, selected: dict) -> str:
    """Hyper-parameters whose selected value sits on the edge of a searched grid (the optimum may lie
    outside what was searched), e.g. "factors=256 (max)"."""
    spec = next((m for m in res["experiment"]["models"] if (m["label"] or m["name"]) == label), None)
    grid = ((spec or {}).get("search") or {}).get("grid") or {}
    edges = []
    for key, values in grid.items():
        numeric = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(numeric) < 2 or key not in selected:
            continue
        if selected[key] == max(numeric):
            edges.append(f"{key}={selected[key]} (max)")
        elif selected[key] == min(numeric):
            edges.append(f"{key}={selected[key]} (min)")
    return ", ".join(edges)


def own_params(selected: dict) -> dict:
    """A model's selected parameters without a hybrid's component declarations (shown in its config)."""
    return {k: v for k, v in selected.items() if k not in ("components", "retrievers", "ranker")}


def epoch_columns(training: dict) -> dict:
    """Training columns of models that train in epochs ("–" for the others)."""
    return {
        "s/epoch": training.get("seconds_per_epoch", float("nan")),
        "best epoch": training.get("best_epoch", float("nan")),
        "epochs run": training.get("epochs_run", float("nan")),
    }


def format_epoch_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Epoch counts as integers and seconds per epoch to 0.1 s ("–" for models without epochs); a column
    mixing them with "–" would otherwise print as floats (40.0000)."""
    for col, fmt in (("s/epoch", "{:.1f}"), ("best epoch", "{:.0f}"), ("epochs run", "{:.0f}")):
        frame[col] = frame[col].map(lambda v, f=fmt: "–" if pd.isna(v) else f.format(v))
    return frame


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


HYBRID_MODELS = {"weighted", "switching", "cascade", "ltr", "neural_ranker"}


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


def _best_valid(model: dict, key: str) -> float:
    scores = [t["valid"][key] for t in model.get("trials", []) if key in (t.get("valid") or {})]
    return max(scores, default=float("nan"))


def hybrid_target_section() -> list[str]:
    """Issue 4's target per dataset: the hybrid chosen on validation against the best single model.

    The hybrid is chosen by validation NDCG@10 among the run's hybrids (the LambdaRank ablation rows
    included, since each is a complete hybrid trained on validation only); choosing by test would be
    selection on the test split. The single model it must beat is the best single model *on test*.
    """
    rows = []
    for name, title, _ in HYBRIDS:
        dataset = title.split(",")[0]
        path = RESULTS / name / "results.json"
        if not path.is_file():
            rows.append({"dataset": dataset, "hybrid chosen on validation": "not run yet"})
            continue
        res = json.loads(path.read_text())
        by_label = {r["hybrid"]: r for r in res.get("hybrid_vs_best_component") or []}
        models = {m["label"]: m for m in res["models"]}
        singles = [m for m in res["models"] if m["model"] not in HYBRID_MODELS]
        hybrids = [models[label] for label in by_label]
        if not singles or not hybrids:
            continue
        best_single = max(singles, key=lambda m: m["test"]["NDCG@10"])
        chosen = max(hybrids, key=lambda m: _best_valid(m, "NDCG@10"))
        row = by_label[chosen["label"]]
        met = row["mean_diff"] > 0 and row["relative_improvement"] >= 0.05 and row["t_pvalue"] < 0.01
        rows.append(
            {
                "dataset": dataset,
                "hybrid chosen on validation": chosen["label"],
                "its valid NDCG@10": _best_valid(chosen, "NDCG@10"),
                "test NDCG@10": row["mean_b"],
                "best single (test)": best_single["label"],
                "single NDCG@10": best_single["test"]["NDCG@10"],
                "compared with": row["best component"],
                "relative": row["relative_improvement"],
                "t_pvalue": row["t_pvalue"],
                "target met (>= +5%, p < 0.01)": "yes" if met else "no",
            }
        )
    return [
        "## Issue 4 target: the best hybrid against the best single model",
        "",
        "For each run, the hybrid with the best *validation* NDCG@10 (never chosen on test) against its best "
        "component on test, which is the run's best single model unless the columns say otherwise. Target: "
        "+5% relative NDCG@10 with paired t-test p < 0.01, on at least three datasets. The validation scores "
        "of blends and switches are in-sample for their weights or threshold (fitted on all validation "
        "users), which flatters them in this choice; the learned rankers are scored on validation users they "
        "did not train on.",
        "",
        to_markdown(pd.DataFrame(rows)),
        "",
    ]


# Issue 3's table: per dataset, the run holding SASRec/GRU4Rec/EASE/ItemKNN and the run holding BERT4Rec
# (BERT4Rec has its own run where it is long). All P2 "exclude seen", full ranking, all users.
ISSUE3_RUNS = [
    ("Amazon Beauty", ["p2_beauty_seq", "p2_beauty_bert4rec"]),
    ("Amazon Sports", ["p2_sports_seq", "p2_sports_bert4rec"]),
    ("Amazon Toys", ["p2_toys_seq", "p2_toys_bert4rec"]),
    ("Yelp", ["p2_yelp_seq", "p2_yelp_bert4rec"]),
    ("Amazon Games", ["p2_games_seq", "p2_games_bert4rec"]),
    ("MovieLens-100K", ["p2_ml100k_seq"]),
]
ISSUE3_MODELS = ["sasrec", "bert4rec", "gru4rec", "ease", "itemknn"]
SEQUENCE_MODELS = {"sasrec", "bert4rec", "gru4rec"}


def _finished_models(name: str) -> tuple[list[dict], int, str]:
    """The models a run has scored on test, its thread count, and "complete", "partial" or "" (not run)."""
    for file, state in (("results.json", "complete"), ("partial_results.json", "partial")):
        path = RESULTS / name / file
        if path.is_file():
            res = json.loads(path.read_text())
            return res["models"], res["machine"]["threads"], state
    return [], 0, ""


def issue3_target_section() -> list[str]:
    """Issue 3's numbers in one place: HR@10 / NDCG@10 of every model per dataset, and the training and
    inference costs of every sequence model. Every figure is read from the per-run sections below."""
    scores, costs = [], []
    for dataset, names in ISSUE3_RUNS:
        row: dict = {"dataset": dataset}
        sources = []
        for name in names:
            models, threads, state = _finished_models(name)
            sources.append(f"{name} ({state or 'not run yet'})")
            for m in models:
                if m["model"] not in ISSUE3_MODELS or m["label"] != m["model"]:
                    continue
                row[f"{m['model']} HR@10"] = m["test"]["HR@10"]
                row[f"{m['model']} NDCG@10"] = m["test"]["NDCG@10"]
                if m["model"] in SEQUENCE_MODELS:
                    t = m["timings"]
                    costs.append(
                        {
                            "dataset": dataset,
                            "model": m["model"],
                            "threads": threads,
                            **epoch_columns(t.get("training") or {}),
                            "fit s": round(t["fit"]["seconds"]),
                            "peak RSS MB": round(max(t["fit"]["peak_rss_mb"], t["evaluate"]["peak_rss_mb"])),
                            "users/s (top-10, full ranking)": round(t["evaluate"]["users_per_second"]),
                        }
                    )
        ndcg = {k.split()[0]: v for k, v in row.items() if k.endswith("NDCG@10")}
        complete = len(ndcg) == len(ISSUE3_MODELS)
        row["best NDCG@10"] = max(ndcg, key=ndcg.__getitem__) if complete else "– (models missing)"
        row["runs"] = ", ".join(sources)
        scores.append(row)
    cols = [
        "dataset",
        *(f"{m} {k}" for m in ISSUE3_MODELS for k in ("HR@10", "NDCG@10")),
        "best NDCG@10",
        "runs",
    ]
    frame = pd.DataFrame(scores).reindex(columns=cols)
    numeric = [c for c in cols if c.endswith("@10") and c != "best NDCG@10"]
    frame[numeric] = frame[numeric].map(lambda v: "–" if pd.isna(v) else f"{v:.4f}")
    return [
        "## Issue 3 target: sequence models next to EASE and ItemKNN",
        "",
        'P2 leave-one-out, "exclude seen", full ranking over every item, all users (the per-run sections '
        "below spell the protocol out and hold the paired tests within each run; BERT4Rec, run apart, has "
        'none against the others). "–" is a model its run has not finished; a run marked partial can be '
        "finished with `lmrec run ... --resume`. " + ANCHORS["p2_beauty_seq"],
        "",
        to_markdown(frame),
        "",
        "Training and inference cost of each sequence model (`threads` is the run's torch thread count; "
        "most runs shared the 2 cores with other benchmark runs, so the seconds are upper bounds and differ "
        "between datasets by more than their sizes do):",
        "",
        to_markdown(format_epoch_columns(pd.DataFrame(costs))),
        "",
    ]


def json_table_section(name: str, title: str, command: str) -> list[str]:
    """A benchmark script's own leaderboard.md (CTR, cascade latency), under a heading."""
    path = RESULTS / name / "leaderboard.md"
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


def scale_section() -> list[str]:
    path = RESULTS / "scale" / "results.json"
    if not path.is_file():
        return ["## Scale (synthetic 20M interactions)", "", "_not run yet_", ""]
    res = json.loads(path.read_text())
    stages = pd.DataFrame(res["stages"])[["stage", "seconds", "peak_rss_mb"]]
    metrics = pd.DataFrame(res["metrics"]).T.reset_index(names="model")
    return [
        "## Scale (synthetic 20M interactions, 1M users, 100k items)",
        "",
        f"Protocol: {res['protocol']}",
        "",
        "Command: `.venv/bin/python benchmarks/scale.py --out benchmarks/results/scale`",
        "",
        to_markdown(stages, floatfmt=".1f"),
        "",
        f"Total {res['total_seconds']} s; peak RSS of the whole process {res['process_peak_rss_mb']} MB "
        "(target: under 4 GB). Other benchmark processes shared the 2 cores during this run.",
        "",
        "The synthetic log has no structure beyond item popularity (each event draws its item independently "
        "from a Zipf law), so popularity is the best possible ranking here and the accuracy figures only "
        "show that the pipeline runs end to end at this size.",
        "",
        to_markdown(
            metrics[
                [
                    c
                    for c in ["model", "NDCG@10", "Recall@10", "Recall@20", "Coverage@10"]
                    if c in metrics.columns
                ]
            ]
        ),
        "",
    ]


def ann_section() -> list[str]:
    path = RESULTS / "ann" / "results.json"
    head = ["## ANN retrieval (FAISS) against exact top-n", ""]
    if not path.is_file():
        return [*head, "_not run yet_", ""]
    res = json.loads(path.read_text())
    rows = []
    for catalog, c in res["results"].items():
        for kind, r in c["indexes"].items():
            rows.append(
                {
                    "catalog": catalog,
                    "items": c["n_items"],
                    "index": kind,
                    "build s": r.get("build_seconds"),
                    "recall@10": r.get("recall@10"),
                    "recall@100": r.get("recall@100"),
                    "recall@100, history excluded": r.get("recall@100_history_excluded"),
                    "speed-up vs exact (batch 1, p50)": r.get("speedup_batch_1_p50"),
                }
            )
    return [
        *head,
        f"Command: `{res['command']}`. Protocol: the docstring of `benchmarks/ann.py`. Target (issue 5): "
        "recall@100 >= 0.95.",
        "",
        to_markdown(pd.DataFrame(rows)),
        "",
    ]


def load_section() -> list[str]:
    path = RESULTS / "load" / "report.md"
    if not path.is_file():
        return ["## Load test of `lmrec serve`", "", "_not run yet_", ""]
    body = path.read_text().splitlines()
    note = (
        "SASRec's known users are answered from the user vectors the service computes when it builds the "
        "index (`AnnConfig.cache_user_vectors`, the default; 11 s for 50k users here); a user with events "
        "newer than the model, or an ad-hoc history, is encoded afresh. The floor rows ask `GET /health` of "
        "the ItemKNN server: the cost of the HTTP stack and of the load generator on this machine."
    )
    return ["## Load test of `lmrec serve`", *body[1:], "", note, ""]


def main() -> None:
    lines = [
        "# Benchmarks",
        "",
        "Generated by `benchmarks/summarize.py` from `benchmarks/results/*/results.json`; regenerate every "
        "result with `bash benchmarks/run_all.sh` (needs `../shared/data`). Protocols are those of "
        "`../shared/PROTOCOLS.md`. Timings are wall-clock on a shared 2-core machine (noisy); peak RSS is "
        "the process's peak during the stage (kernel counter reset at stage start).",
        "",
    ]
    for name, title, cols in RANKING[:2]:
        lines += ranking_section(name, title, cols)
    lines += rating_section()
    for name, title, cols in RANKING[2:]:
        lines += ranking_section(name, title, cols)
    lines += [
        "# Sequence and text-aware models (issue 3)",
        "",
        "Sequence models train on the training sequences with early stopping on validation NDCG@10 and are "
        "scored on the test targets with the best-on-validation checkpoint; `s/epoch` is training wall time "
        "per epoch, `best epoch` the epoch of the kept weights, `users/s` the full-ranking evaluation "
        "throughput (scoring, top-k and metrics) on the test users.",
        "",
    ]
    lines += issue3_target_section()
    for name, title, cols in SEQUENTIAL:
        lines += ranking_section(name, title, cols)
    lines += [
        "# Hybrids and the ranking stage (issue 4)",
        "",
        "Weighted blends, switching, cascades and the LightGBM LambdaRank stage built from the single models "
        "of the same run (which the hybrids reuse). `CandidateRecall` is the share of test targets among a "
        "cascade's candidates. LambdaRank rows marked `ltr - X` are the ablation (X dropped); they are "
        "reported, never selected between.",
        "",
    ]
    lines += hybrid_target_section()
    for name, title, cols in HYBRIDS:
        lines += ranking_section(name, title, cols)
    lines += json_table_section(
        "ctr_ml100k",
        "MovieLens-100K click prediction (rating >= 4)",
        "LMREC_DATA_HOME=../shared/data .venv/bin/python benchmarks/ctr.py "
        "--out benchmarks/results/ctr_ml100k",
    )
    lines += json_table_section(
        "cascade_latency",
        "Per-user latency of the hybrids (ML-100K models)",
        ".venv/bin/python benchmarks/cascade_latency.py --out benchmarks/results/cascade_latency",
    )
    lines += scale_section()
    lines += ["# Serving (issue 5)", ""]
    lines += ann_section()
    lines += load_section()
    (HERE / "README.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
