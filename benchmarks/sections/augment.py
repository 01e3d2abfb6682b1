"""Issue 19's part: training-data augmentation judged over seeds (`benchmarks/augment.py` reports), CFGAN as
a recommender, the tuned ALS the sparse set's augmentation run fixes, and CFGAN's epoch cost."""

from __future__ import annotations

import json

from sections.common import RESULTS
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
        reported = (RESULTS / name / "report.md").is_file()  # over the seeds finished when it was written
        progress = progress_lines(name, stopped_only=reported)
        resume = command.replace(" --out ", " --resume --out ")
        if reported:
            lines += json_table_section(name, title, command, file="report.md")
            if progress:
                lines += [f"Seeds stopped part-way, to continue with `{resume}`:", "", *progress]
        elif progress:
            lines += [f"## {title}", "", f"Not finished. Command: `{resume}`", "", *progress]
        else:
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


def progress_lines(name: str, *, stopped_only: bool = False) -> list[str]:
    """The entries each seed of a run has finished so far (a finished seed's results.json, or the
    partial_results.json a stopped seed left for `--resume`; `stopped_only`: the stopped seeds alone),
    unpaired and untested."""
    rows = []
    for seed_dir in sorted((RESULTS / name).glob("seed_*"), key=lambda d: int(d.name.split("_")[1])):
        done = seed_dir / "results.json"
        if stopped_only and done.is_file():
            continue
        path = done if done.is_file() else seed_dir / "partial_results.json"
        if not path.is_file():
            continue
        for model in json.loads(path.read_text())["models"]:
            fit = model["timings"]["fit"]["seconds"]
            state = "seed done" if path is done else "partial"
            ndcg = model["test"]["NDCG@10"]
            rows.append(f"| {seed_dir.name[5:]} | {model['label']} | {ndcg:.4f} | {fit:.0f} | {state} |")
    if not rows:
        return []
    return [
        "Entries finished so far, per seed (test NDCG@10 of each fit alone; no pairing, no test until the",
        "seed is done):",
        "",
        "| seed | entry | NDCG@10 | fit s | |",
        "|---:|---|---:|---:|---|",
        *rows,
        "",
    ]
