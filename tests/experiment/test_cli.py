"""The CLI is a thin adapter: each command runs end to end on small data and errors are one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from lmrec.cli.app import app
from lmrec.data.synthetic import synthetic_log

runner = CliRunner()


@pytest.fixture(scope="module")
def exp_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    data = synthetic_log(n_users=200, n_items=80, n_interactions=4000, seed=5)
    data.to_frame().to_csv(folder / "events.csv", index=False)
    spec = {
        "name": "cli",
        "dataset": {
            "path": "events.csv",
            "format": "tabular",
            "columns": {"user": "user", "item": "item", "timestamp": "timestamp"},
        },
        "split": {"method": "leave_one_out"},
        "evaluation": {"ns": [10], "metrics": ["ndcg", "hit_rate"]},
        "models": [{"name": "pop"}, {"name": "itemknn", "params": {"k": 20}}],
    }
    path = folder / "exp.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_run_prints_leaderboard_and_writes_files(exp_file: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", str(exp_file), "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "itemknn" in result.stdout and "NDCG@10" in result.stdout
    assert json.loads((tmp_path / "results.json").read_text())["data"]["split"]["name"] == "leave_one_out"


def test_run_resume_reuses_a_stopped_runs_finished_models(
    exp_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lmrec.experiment import pipeline

    real = pipeline.run_model

    def time_limit(exp, spec, prep, **kw):  # type: ignore[no-untyped-def]
        if spec.name == "itemknn":
            raise KeyboardInterrupt
        return real(exp, spec, prep, **kw)

    monkeypatch.setattr(pipeline, "run_model", time_limit)
    stopped = runner.invoke(app, ["run", str(exp_file), "--out", str(tmp_path), "--quiet"])
    assert stopped.exit_code != 0 and (tmp_path / "partial_results.json").is_file()
    monkeypatch.setattr(pipeline, "run_model", real)
    result = runner.invoke(app, ["run", str(exp_file), "--out", str(tmp_path), "--resume"])
    assert result.exit_code == 0, result.output
    assert "resume: 1 of 2 models finished earlier (pop)" in result.output
    models = json.loads((tmp_path / "results.json").read_text())["models"]
    assert [m.get("resumed", False) for m in models] == [True, False]


def test_prepare_train_evaluate_recommend(exp_file: Path, tmp_path: Path) -> None:
    prep = tmp_path / "prep"
    assert runner.invoke(app, ["data", "prepare", str(exp_file), "--out", str(prep)]).exit_code == 0
    assert {p.name for p in prep.iterdir()} == {
        "train.parquet",
        "valid.parquet",
        "test.parquet",
        "prepare.json",
    }
    model = tmp_path / "ease"
    res = runner.invoke(
        app, ["train", "--data", str(prep), "--model", "ease", "--param", "reg=50", "--out", str(model)]
    )
    assert res.exit_code == 0, res.output
    assert json.loads((model / "model.json").read_text())["config"]["reg"] == 50
    res = runner.invoke(
        app,
        ["evaluate", "--model", str(model), "--data", str(prep), "-n", "10", "--out", str(tmp_path / "eval")],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert 0 <= summary["NDCG@10"] <= 1
    # the model folder describes itself: the data card of the fit data and the latest evaluation
    card = json.loads((model / "data_card.json").read_text())
    assert card["n_interactions"] == len(pd.read_parquet(prep / "train.parquet"))
    recorded = json.loads((model / "metrics.json").read_text())["test"]
    assert recorded["metrics"]["NDCG@10"] == summary["NDCG@10"] and recorded["exclude_seen"] is True
    pytest.importorskip("fastapi")
    from lmrec.service import RecommenderService

    service = RecommenderService.open(model, store_url="sqlite://")
    info = service.model_info()
    service.close()
    assert info["data_card"] == card and info["metrics"]["test"]["metrics"] == recorded["metrics"]
    res = runner.invoke(app, ["recommend", "--model", str(model), "--user", "1", "-n", "5"])
    assert res.exit_code == 0, res.output
    row = json.loads(res.stdout.splitlines()[0])
    assert row["user"] == 1 and len(row["items"]) == 5


def test_data_info_on_a_file(exp_file: Path) -> None:
    res = runner.invoke(app, ["data", "info", str(exp_file.parent / "events.csv"), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["card"]["n_interactions"] > 0 and "removed" in info["cleaning"]


def test_errors_are_one_line_not_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ndataset: {name: ml-100k}\nmodels: [{name: pop, parms: {}}]\n")
    proc = subprocess.run(
        [sys.executable, "-m", "lmrec.cli", "run", str(bad)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "unknown key(s) ['parms']" in proc.stderr and "Traceback" not in proc.stderr


def test_recommend_unknown_user_is_a_clear_error(exp_file: Path, tmp_path: Path) -> None:
    prep = tmp_path / "prep"
    runner.invoke(app, ["data", "prepare", str(exp_file), "--out", str(prep)])
    runner.invoke(app, ["train", "--data", str(prep), "--model", "pop", "--out", str(tmp_path / "pop")])
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lmrec.cli",
            "recommend",
            "--model",
            str(tmp_path / "pop"),
            "--user",
            "999999",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "unknown user id" in proc.stderr
