"""Scale, serving and simulator-cost sections, read from the benchmark scripts' own result files."""

from __future__ import annotations

import json

import pandas as pd

from lmrec.experiment.report import to_markdown
from sections.common import RESULTS


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


def soak_section() -> list[str]:
    """benchmarks/soak.py's report (issue 17: 10 minutes of mixed reads and writes at 200 requests/s)."""
    head = ["## Soak test of `lmrec serve` (issue 17)", ""]
    path = RESULTS / "soak" / "report.md"
    if not path.is_file():
        command = ".venv/bin/python benchmarks/soak.py --out benchmarks/results/soak"
        return [*head, f"_not run yet_: `{command}`", ""]
    out = [*head, *path.read_text().splitlines()[1:], ""]
    reads = RESULTS / "soak_reads_only" / "report.md"
    if reads.is_file():  # the same soak without writes: is the memory growth the stored events?
        out += [
            "### The same soak without event writes (`--reads-only`)",
            "",
            *reads.read_text().splitlines()[1:],
        ]
        out += [""]
    return out


def sim_scale_section() -> list[str]:
    """benchmarks/sim_scale.py's report (issue 18: a 10,000-user x 100-round simulation under 10 minutes)."""
    head = ["## Simulator cost (10,000 users x 100 rounds)", ""]
    path = RESULTS / "sim_scale" / "report.md"
    if not path.is_file():
        return [
            *head,
            "_not run yet_: `.venv/bin/python benchmarks/sim_scale.py --out benchmarks/results/sim_scale`",
            "",
        ]
    return [*head, *path.read_text().splitlines()[1:], ""]
