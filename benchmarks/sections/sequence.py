"""Issue 3's sections: the sequence-model runs and the one table that gathers their targets."""

from __future__ import annotations

import json

import pandas as pd

from lmrec.experiment.report import to_markdown
from sections.common import ANCHORS, P2, P4, RESULTS, epoch_columns, format_epoch_columns

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
