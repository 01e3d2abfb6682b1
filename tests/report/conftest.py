"""A finished `lmrec run` with every report section: a MovieLens-shaped synthetic log with titles and
genres, single models, a sequence model trained in epochs, a weighted blend and a LambdaRank cascade."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmrec.experiment.config import parse_experiment
from lmrec.experiment.pipeline import run_experiment
from lmrec.testing.movielens import write_movielens_folder

SASREC = {"embedding_size": 16, "max_len": 20, "epochs": 3, "batch_size": 64, "num_threads": 1}


def report_experiment(data: Path) -> dict[str, object]:
    return {
        "name": "report_fixture",
        "protocol": "P1 temporal per-user 80/10/10 on a synthetic MovieLens-shaped log",
        "seed": 5,
        "threads": 1,
        "dataset": {"path": str(data)},
        "split": {"method": "temporal_ratio", "params": {"train": 0.8, "valid": 0.1}},
        "evaluation": {"ns": [10], "metrics": ["ndcg", "recall", "hit_rate"], "select_by": "NDCG@10"},
        "models": [
            {"name": "pop"},
            {"name": "itemknn", "search": {"grid": {"k": [10, 50]}}},
            {"name": "ease", "params": {"reg": 100.0}},
            {"name": "sasrec", "refit": "train", "params": SASREC},
            {
                "name": "weighted",
                "label": "blend",
                "params": {
                    "components": [{"name": "ease", "params": {"reg": 100.0}}, {"name": "pop"}],
                    "weights": None,
                    "weight_step": 0.5,
                },
            },
            {
                "name": "ltr",
                "params": {
                    "retrievers": [{"name": "ease", "params": {"reg": 100.0}}, {"name": "pop"}],
                    "n_candidates": 20,
                    "features": ["scores", "ranks", "popularity"],
                },
            },
        ],
    }


@pytest.fixture(scope="session")
def report_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The results folder of the fixture experiment (written once per test session)."""
    root = tmp_path_factory.mktemp("report_run")
    data = write_movielens_folder(root / "ml", n_users=150, n_items=60, n_interactions=3_000, seed=2)
    out = root / "run"
    run_experiment(parse_experiment(report_experiment(data)), out=out)
    return out
