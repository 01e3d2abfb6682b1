"""What every section shares: where the results live, the protocols' metric columns, the published
anchors, and the helpers that turn a result file's fields into table columns."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd

from lmrec.experiment.config import EvaluationSpec, load_experiment

HERE = Path(__file__).resolve().parent.parent
RESULTS = HERE / "results"

P2 = ["HR@10", "NDCG@10", "HR@20", "NDCG@20", "MRR@all"]
P4 = ["NDCG@10", "Recall@10", "Recall@20", "HR@10"]

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
    "SVD++ 0.92. GLocal-K and Bayesian FM report about 0.89 on u1; issue 22's target is a mean RMSE <= 0.900 "
    "and u1 <= 0.890.",
}


def stale(name: str, res: dict) -> list[str]:
    """A warning when the stored result was produced by a different experiment than the config file."""
    config = dataclasses.asdict(load_experiment(HERE / "configs" / f"{name}.yaml"))
    config.pop("base_dir", None)
    stored = json.loads(json.dumps(res["experiment"]))
    config = json.loads(json.dumps(config))
    if isinstance(config.get("evaluation"), dict) and isinstance(stored.get("evaluation"), dict):
        # evaluation keys added later with a non-empty default (test_input: "train+valid")
        defaults = json.loads(json.dumps(dataclasses.asdict(EvaluationSpec())))
        config["evaluation"] = {
            k: v
            for k, v in config["evaluation"].items()
            if k in stored["evaluation"] or k not in defaults or v != defaults[k]
        }
    if _without_new_defaults(config, stored) == stored:
        return []
    return [
        f"**STALE: `benchmarks/results/{name}` was produced by a different version of `configs/{name}.yaml`; "
        "rerun it.**",
        "",
    ]


def _without_new_defaults(config, stored):  # type: ignore[no-untyped-def]
    """`config` less the keys that later versions of the experiment file added with an empty default (None,
    e.g. a model's `refit`, an empty list, e.g. `evaluation.pairs`, or False, e.g. a grid search's `widen`):
    a result made before such a key existed was made with its default."""
    if isinstance(config, dict) and isinstance(stored, dict):
        return {
            k: _without_new_defaults(v, stored.get(k))
            for k, v in config.items()
            if k in stored or (v not in (None, []) and v is not False)
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


def best_valid(model: dict, key: str) -> float:
    scores = [t["valid"][key] for t in model.get("trials", []) if key in (t.get("valid") or {})]
    return max(scores, default=float("nan"))
