"""Issue 19's part: training-data augmentation judged over seeds (`benchmarks/augment.py` reports), CFGAN as
a recommender, the tuned ALS the sparse set's augmentation run fixes, and CFGAN's epoch cost."""

from __future__ import annotations

from sections.ranking import json_table_section, ranking_section

AUGMENT_RUNS = [
    (
        "augment_ml100k",
        "MovieLens-100K, P1: ItemKNN, EASE and ALS with every augmenter, 5 seeds",
        "benchmarks/configs/augment_ml100k.yaml --seeds 0 1 2 3 4",
    ),
    (
        "augment_ml100k_sasrec",
        "MovieLens-100K, P1: SASRec with every augmenter, 5 seeds",
        "benchmarks/configs/augment_ml100k_sasrec.yaml --seeds 0 1 2 3 4",
    ),
    (
        "augment_toys",
        "Amazon Toys, P2: ItemKNN, EASE and ALS with every augmenter, 5 seeds",
        "benchmarks/configs/augment_toys.yaml --seeds 0 1 2 3 4 --buckets 4,6,10",
    ),
    (
        "augment_toys_sasrec",
        "Amazon Toys, P2: SASRec with every augmenter, 5 seeds",
        "benchmarks/configs/augment_toys_sasrec.yaml --seeds 0 1 2 3 4 --buckets 4,6,10",
    ),
]
TOYS_COLS = ["NDCG@10", "HR@10", "NDCG@20"]
TUNED = [
    ("p1_ml100k_cfgan", "MovieLens-100K, P1: CFGAN as a recommender", ["NDCG@10", "Recall@10", "Recall@20"]),
    ("p2_toys_als", 'Amazon Toys, P2 "exclude seen": ALS grid', TOYS_COLS),
    ("p2_toys_als_widen", 'Amazon Toys, P2 "exclude seen": ALS grid widened at its edges', TOYS_COLS),
]


def augment_section() -> list[str]:
    lines = [
        "# Training-data augmentation (issue 19)",
        "",
        "Every augmented model is paired with the same model without augmentation over the test users (each "
        "user's metric averaged over the seeds first); by-activity tables split the users by the length of "
        "the history the test ranks from.",
        "",
    ]
    for name, title, args in AUGMENT_RUNS:
        command = (
            "LMREC_DATA_HOME=../shared/data OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/augment.py "
            f"{args} --out benchmarks/results/{name}"
        )
        lines += json_table_section(name, title, command, file="report.md")
    for name, title, cols in TUNED:
        lines += ranking_section(name, title, cols)
    lines += json_table_section(
        "cfgan_epoch",
        "CFGAN: seconds per training epoch, fused Adam and sparse first layers against the earlier training",
        "LMREC_DATA_HOME=../shared/data .venv/bin/python benchmarks/cfgan_epoch.py "
        "--out benchmarks/results/cfgan_epoch",
        file="report.md",
    )
    return lines
