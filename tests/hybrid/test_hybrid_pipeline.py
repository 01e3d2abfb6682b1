"""Hybrids in experiment files: weights fitted on validation and reused by the train+valid refit,
candidate recall in the results, and no test event in any component's training data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

from lmrec.data.synthetic import synthetic_log
from lmrec.experiment.config import parse_experiment
from lmrec.experiment.pipeline import run_experiment
from lmrec.experiment.prepare import prepare
from lmrec.models import registry
from lmrec.models.popularity import Popularity


@pytest.fixture(scope="module")
def log_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = synthetic_log(n_users=300, n_items=120, n_interactions=6000, seed=3)
    path = tmp_path_factory.mktemp("logs") / "events.csv"
    data.to_frame().rename(columns={"user": "uid", "item": "iid", "timestamp": "ts"}).to_csv(
        path, index=False
    )
    return path


def experiment(log_csv: Path, models: list[dict[str, Any]]):  # type: ignore[no-untyped-def]
    return parse_experiment(
        {
            "name": "hybrids",
            "seed": 7,
            "dataset": {
                "path": str(log_csv),
                "format": "tabular",
                "columns": {"user": "uid", "item": "iid", "timestamp": "ts"},
            },
            "cleaning": {"duplicates": "keep_first"},
            "split": {"method": "temporal_ratio", "params": {"train": 0.8, "valid": 0.1}},
            "evaluation": {"ns": [10], "metrics": ["ndcg", "hit_rate"], "select_by": "NDCG@10"},
            "models": models,
        }
    )


HYBRIDS = [
    {
        "name": "weighted",
        "label": "pop+ease",
        "params": {
            "components": [{"name": "pop"}, {"name": "ease", "params": {"reg": 50.0}}],
            "weight_step": 0.25,
        },
    },
    {
        "name": "switching",
        "params": {"components": [{"name": "pop"}, {"name": "itemknn", "params": {"k": 50}}], "threshold": 5},
    },
    {
        "name": "cascade",
        "params": {
            "retrievers": [{"name": "pop"}, {"name": "itemknn", "params": {"k": 50}}],
            "ranker": {"name": "ease", "params": {"reg": 50.0}},
            "n_candidates": 20,
        },
    },
    {
        "name": "ltr",
        "params": {
            "retrievers": [
                {"name": "pop"},
                {"name": "itemknn", "params": {"k": 50}},
                {"name": "ease", "params": {"reg": 50.0}},
            ],
            "n_candidates": 20,
            "min_child_samples": 5,
            "num_threads": 1,
        },
    },
]


class SpyPopularity(Popularity):
    """Records every log it is fitted on."""

    fits: ClassVar[list[Any]] = []

    def _fit(self, data, rng):  # type: ignore[no-untyped-def]
        SpyPopularity.fits.append(data)
        super()._fit(data, rng)


def test_hybrids_run_from_an_experiment_file(log_csv: Path, tmp_path: Path) -> None:
    singles = [
        {"name": "pop"},
        {"name": "ease", "params": {"reg": 50.0}},
        {"name": "itemknn", "params": {"k": 50}},
    ]
    run_experiment(experiment(log_csv, [*singles, *HYBRIDS]), out=tmp_path)
    results = json.loads((tmp_path / "results.json").read_text())
    by_label = {m["label"]: m for m in results["models"]}
    weighted, cascade = by_label["pop+ease"], by_label["cascade"]
    # each hybrid is tested against the best (on test) of its own components among the single models
    rows = {r["hybrid"]: r for r in results["hybrid_vs_best_component"]}
    assert set(rows) == {"pop+ease", "switching", "cascade", "ltr"}
    assert rows["ltr"]["components in run"] == ["pop", "ease", "itemknn"]
    assert rows["pop+ease"]["components in run"] == ["pop", "ease"]
    assert rows["cascade"]["components in run"] == ["pop", "ease", "itemknn"]
    for label, row in rows.items():
        comp = by_label[row["best component"]]["test"]["NDCG@10"]
        assert comp == max(by_label[c]["test"]["NDCG@10"] for c in row["components in run"])
        assert row["mean_b"] == pytest.approx(by_label[label]["test"]["NDCG@10"])
    assert "against their best single component" in (tmp_path / "leaderboard.md").read_text()
    # the weights were chosen on validation, and the train+valid refit was built with them
    assert weighted["selected"]["weights"] == pytest.approx(weighted["config"]["weights"])
    assert sum(weighted["config"]["weights"]) == pytest.approx(1.0)
    assert 0.0 <= cascade["test"]["CandidateRecall"] <= 1.0
    assert cascade["test"]["HR@10"] <= cascade["test"]["CandidateRecall"] + 1e-9
    assert "CandidateRecall" in cascade["trials"][0]["valid"]
    # the learned ranker's validation score leaves out the users whose targets it was trained on
    ltr_valid = by_label["ltr"]["trials"][0]["valid"]
    assert 0 < ltr_valid["valid_users_scored"] < 300  # 300 users, each with validation targets


def test_no_test_event_reaches_any_component(log_csv: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    SpyPopularity.fits = []
    monkeypatch.setitem(registry.MODELS, "pop", f"{__name__}:SpyPopularity")
    exp = experiment(log_csv, [{"name": "pop"}, *HYBRIDS])
    split = prepare(exp).split
    run_experiment(exp, out=tmp_path)

    def events(x):  # type: ignore[no-untyped-def]
        return set(zip(x.users.tolist(), x.items.tolist(), x.timestamps.tolist(), strict=True))

    test_events, valid_events = events(split.test), events(split.valid)
    # popularity is fitted once on train and once on train+valid: the standalone model's fit and refit,
    # which every hybrid then reuses as its component (for tuning and for its train+valid refit); the
    # learned ranker trains on validation targets only (its candidates come from train histories)
    assert len(SpyPopularity.fits) == 2
    for fitted in SpyPopularity.fits:
        assert not events(fitted) & test_events
    assert not events(SpyPopularity.fits[0]) & valid_events
    assert events(SpyPopularity.fits[1]) >= valid_events
