"""The simulation file's errors, and `lmrec simulate` end to end on a tiny synthetic log."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from lmrec.cli.app import app
from lmrec.data.synthetic import synthetic_log
from lmrec.errors import ConfigError
from lmrec.simulation.config import parse

runner = CliRunner()

BASE: dict[str, Any] = {
    "name": "tiny",
    "dataset": {
        "path": "events.csv",
        "format": "tabular",
        "columns": {"user": "user", "item": "item", "timestamp": "timestamp"},
    },
    "users": {"method": "svd", "factors": 4},
    "loop": {"rounds": 4, "slate_size": 3, "candidates": 10},
    "validation": {"rounds": 2, "holdout": 0.2},
    "seeds": [0, 1],
    "policies": [
        {"name": "pop", "refit_every": 2},
        {"name": "itemknn", "params": {"k": 10}, "refit_every": 2, "rerank": "mmr"},
    ],
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"policies": [{"name": "itemknn", "params": {"k": "ten"}}]},
            "policies[0].params.k: expected an integer, got 'ten'",
        ),
        ({"loop": {"rounds": 1.5}}, "loop.rounds: expected an integer"),
        ({"users": {"boredm": 1}}, "users: unknown key(s) ['boredm']"),
        (
            {"policies": [{"name": "pop", "rerank": "mmr", "rerank_params": {"lambda": 1}}]},
            "policies[0].rerank_params",
        ),
        ({"policies": [{"name": "pop", "rerank": "dpp"}]}, "policies[0].rerank: unknown re-ranker 'dpp'"),
        ({"policies": [{"name": "pop", "refit_every": 0}]}, "policies[0].refit_every: must be >= 1"),
        (
            {"policies": [{"name": "ease", "warm_start_epochs": 2}]},
            "policies[0].warm_start_epochs: ease cannot start from its previous fit",
        ),
        ({"policies": [{"name": "sasrec", "warm_start_epochs": 0}]}, "warm_start_epochs: must be"),
        ({"seeds": []}, "give at least one seed"),
        ({"choice": {"beta": "hot"}}, "choice.beta: expected"),
        ({"surprise": 1}, "simulation: unknown key(s) ['surprise']"),
        (
            {"loop": {"slate_size": 20, "candidates": 10}},
            "loop.candidates (10) must be >= loop.slate_size (20)",
        ),
    ],
)
def test_config_errors_name_the_key(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse({**BASE, **change})
    assert message in str(err.value)


@pytest.fixture(scope="module")
def sim_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sim")
    synthetic_log(
        n_users=80, n_items=40, n_interactions=1200, span_seconds=86_400, mean_gap_seconds=5 * 86_400, seed=3
    ).to_frame().to_csv(folder / "events.csv", index=False)
    path = folder / "sim.yaml"
    path.write_text(yaml.safe_dump(BASE))
    return path


def test_simulate_writes_results_and_resumes(sim_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["simulate", str(sim_file), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    table = pd.read_parquet(out / "per_round.parquet")
    assert set(table["policy"]) == {"pop", "itemknn+mmr"} and set(table["seed"]) == {0, 1}
    assert table.shape[0] == 2 * 2 * 4 and "jaccard_consumed" in table.columns
    summary = results["summary"]["itemknn+mmr"]["round 3"]["engagement"]
    assert summary["seeds"] == 2 and summary["ci95"][0] <= summary["mean"] <= summary["ci95"][1]
    assert results["validation"]["next_item"]["events"] > 0
    assert set(results["validation"]["next_item"]) == {"events", "model", "taste_only", "popularity"}
    world = results["world"]
    assert world["beta"] > 0 and world["calibration"]["model"]["events"] > 0
    assert world["popularity_weight"] * world["beta"] == pytest.approx(
        world["calibration"]["model"]["appeal_coef"]
    )
    assert all(r["user_rounds_per_second"] > 0 for r in results["runs"])
    html = (out / "plots.html").read_text()
    assert re.search(r"<script[^>]*\ssrc=", html) is None  # plotly.js embedded, nothing fetched
    assert "Plotly" in html and "itemknn+mmr" in html
    assert (out / "plots.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "partial_runs.json").exists()
    # a stopped run: keep its partial files and resume: the finished runs are reused unchanged
    (out / "partial_runs.json").write_text(
        json.dumps({"runs": [{k: v for k, v in r.items()} for r in results["runs"][:3]]})
    )
    table[table.index < 12].to_parquet(out / "partial_per_round.parquet", index=False)
    again = runner.invoke(app, ["simulate", str(sim_file), "--out", str(out), "--quiet", "--resume"])
    assert again.exit_code == 0, again.output
    resumed = json.loads((out / "results.json").read_text())
    assert [r.get("resumed", False) for r in resumed["runs"]] == [True, True, True, False]
    pd.testing.assert_frame_equal(pd.read_parquet(out / "per_round.parquet"), table)


def test_resume_adds_a_new_policy_to_a_finished_folder(sim_file: Path, tmp_path: Path) -> None:
    """A finished folder (no partial files) plus a policy added to the configuration: `--resume` runs the
    new policy alone, keeps the finished runs' rows unchanged, and writes one folder with all of them."""
    out = tmp_path / "out"
    first = runner.invoke(app, ["simulate", str(sim_file), "--out", str(out), "--quiet"])
    assert first.exit_code == 0, first.output
    table = pd.read_parquet(out / "per_round.parquet")
    grown = {
        **BASE,
        "policies": [
            *BASE["policies"],
            {"name": "pop", "label": "pop+eps", "refit_every": 2, "rerank": "epsilon"},
        ],
    }
    path = tmp_path / "grown.yaml"
    path.write_text(yaml.safe_dump(grown))
    (tmp_path / "events.csv").write_bytes((sim_file.parent / "events.csv").read_bytes())
    again = runner.invoke(app, ["simulate", str(path), "--out", str(out), "--quiet", "--resume"])
    assert again.exit_code == 0, again.output
    results = json.loads((out / "results.json").read_text())
    assert [(r["policy"], r.get("resumed", False)) for r in results["runs"]] == [
        ("pop", True),
        ("pop", True),
        ("itemknn+mmr", True),
        ("itemknn+mmr", True),
        ("pop+eps", False),
        ("pop+eps", False),
    ]
    both = pd.read_parquet(out / "per_round.parquet")
    pd.testing.assert_frame_equal(both[both["policy"] != "pop+eps"].reset_index(drop=True), table)
    assert set(results["summary"]) == {"pop", "itemknn+mmr", "pop+eps"}
    # without --resume the finished folder is run again from scratch
    fresh = runner.invoke(app, ["simulate", str(path), "--out", str(out), "--quiet"])
    assert fresh.exit_code == 0, fresh.output
    assert not any(r.get("resumed") for r in json.loads((out / "results.json").read_text())["runs"])


def test_user_error_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**BASE, "loop": {"rounds": "many"}}))
    result = runner.invoke(app, ["simulate", str(bad)])
    assert result.exit_code == 2
    assert "loop.rounds: expected an integer" in result.output and "Traceback" not in result.output


def test_fingerprint_counts_warm_start_only_when_set() -> None:
    """A run's resume key changes with `warm_start_epochs` when it is set, and an unset option leaves the
    key as it was before the option existed (the digest of the policy without that field)."""
    import dataclasses

    from lmrec.simulation.runner import _digest, run_fingerprint

    policies = [{"name": "sasrec"}, {"name": "sasrec", "label": "warm", "warm_start_epochs": 2}]
    sim = parse({**BASE, "policies": policies})
    setup = {k: v for k, v in dataclasses.asdict(sim).items() if k not in runner_not_setup()}
    unset = dataclasses.asdict(sim.policies[0])
    del unset["warm_start_epochs"]
    assert run_fingerprint(sim, 0, 0) == _digest({"setup": setup, "policy": unset, "seed": 0})
    assert run_fingerprint(sim, 1, 0) != run_fingerprint(sim, 0, 0)


def runner_not_setup() -> tuple[str, ...]:
    from lmrec.simulation.runner import _NOT_SETUP

    return _NOT_SETUP
