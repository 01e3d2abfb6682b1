"""task=rating (protocol P3): folds are checked for leakage, --data is honoured, test is scored once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmrec.errors import ConfigError, LeakageError
from lmrec.experiment.config import parse_experiment
from lmrec.experiment.pipeline import run_experiment

MODEL = [{"name": "biasedmf", "params": {"factors": 10, "iterations": 5}}]


def rating_exp(**split):  # type: ignore[no-untyped-def]
    return parse_experiment(
        {
            "name": "r",
            "task": "rating",
            "dataset": {"name": "ml-100k"},
            "split": {"method": "files", **split},
            "models": MODEL,
        }
    )


def test_official_fold_with_data_flag(ml100k_dir: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("LMREC_DATA_HOME", raising=False)
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path / "empty-cache"))
    exp = rating_exp(folds=[{"train": "u1.base", "test": "u1.test"}])
    res = run_experiment(exp, out=tmp_path, data_path=str(ml100k_dir))
    fold = res["models"][0]["folds"][0]
    assert fold["test"]["n_test"] == 20_000
    assert 0.85 < fold["test"]["RMSE"] < 1.0
    assert res["folds"][0]["leakage_check"]["checks"]
    assert (tmp_path / "leaderboard.md").read_text().count("u1.base -> u1.test") == 1
    report = json.loads((tmp_path / "report.json").read_text())  # the report of a rating run: its table
    assert report["report"]["kind"] == "rating"
    assert report["leaderboard"]["rows"][0]["mean"]["RMSE"] == pytest.approx(fold["test"]["RMSE"], rel=1e-5)


def test_fold_whose_test_repeats_train_is_refused(ml100k_dir: Path, tmp_path: Path) -> None:
    lines = (ml100k_dir / "u1.base").read_text().splitlines()
    train, test = tmp_path / "train.tsv", tmp_path / "test.tsv"
    train.write_text("\n".join(lines) + "\n")
    test.write_text("\n".join(lines[:100]) + "\n")
    exp = parse_experiment(
        {
            "name": "leaky",
            "task": "rating",
            "dataset": {
                "path": str(train),
                "format": "tabular",
                "options": {"sep": "\t", "names": ["user", "item", "rating", "timestamp"]},
                "columns": {"user": "user", "item": "item", "rating": "rating", "timestamp": "timestamp"},
            },
            "split": {"method": "files", "folds": [{"train": str(train), "test": str(test)}]},
            "models": MODEL,
        }
    )
    with pytest.raises(LeakageError):
        run_experiment(exp, out=tmp_path / "out")


def test_k_core_on_given_split_is_refused(tmp_path: Path) -> None:
    for part in ("train", "test"):
        (tmp_path / f"{part}.csv").write_text("user,item,timestamp\n1,1,1\n2,1,2\n")
    exp = parse_experiment(
        {
            "name": "kcore",
            "dataset": {
                "path": str(tmp_path / "train.csv"),
                "format": "tabular",
                "columns": {"user": "user", "item": "item", "timestamp": "timestamp"},
            },
            "cleaning": {"user_core": 2},
            "split": {
                "method": "files",
                "train": str(tmp_path / "train.csv"),
                "test": str(tmp_path / "test.csv"),
            },
            "models": [{"name": "pop"}],
        }
    )
    with pytest.raises(ConfigError, match="k-core"):
        run_experiment(exp, out=tmp_path / "out")


def test_model_that_predicts_no_ratings_is_refused(tmp_path: Path) -> None:
    exp = parse_experiment(
        {
            "name": "r",
            "task": "rating",
            "dataset": {"name": "ml-100k"},
            "split": {"method": "files", "folds": [{"train": "u1.base", "test": "u1.test"}]},
            "models": [{"name": "ease"}],
        }
    )
    with pytest.raises(ConfigError, match=r"predicts_ratings.*ease"):
        run_experiment(exp, out=tmp_path)
