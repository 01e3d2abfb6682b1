"""The experiment report: the files `lmrec run` writes for it, the numbers in report.json (checked against
lmrec.eval and by hand), the offline HTML page, folders with less in them, and the command."""

from __future__ import annotations

import itertools
import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lmrec.cli.app import app
from lmrec.eval import beyond, compare
from lmrec.report import build_report, write_report
from lmrec.report.exposure import list_matrix
from lmrec.report.slices import bucket_users

MODELS = ["pop", "itemknn", "ease", "sasrec", "blend", "ltr"]


def _report(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "report.json").read_text())


def _at(data: dict[str, Any], key: str) -> Any:
    """report.json value under a dotted key ("exposure.popularity_curve")."""
    for part in key.split("."):
        data = data[part]
    return data


def test_run_writes_the_report_and_the_files_behind_it(report_run: Path) -> None:
    for name in ("report.html", "report.json", "recommendations.parquet", "items.parquet"):
        assert (report_run / name).is_file(), name
    per_user = pd.read_parquet(report_run / "per_user.parquet")
    assert {"history_length", "target_popularity", "history_popularity"} <= set(per_user.columns)
    assert (per_user["history_length"] >= 0).all() and per_user["target_popularity"].notna().all()
    recs = pd.read_parquet(report_run / "recommendations.parquet")
    assert list(dict.fromkeys(recs["model"])) == MODELS
    assert len(recs) == len(per_user)  # one list per (model, test user)
    assert recs["items"].map(len).max() == 10
    items = pd.read_parquet(report_run / "items.parquet")
    assert list(items["item"]) == list(range(len(items)))
    assert items["title"].str.contains(r"\(\d{4}\)").all() and items["category"].notna().any()
    assert (report_run / "models" / "ease" / "catalog.parquet").is_file()  # titles for the served model
    # the lists are the evaluated ones: a user's hits in the list give their Recall@10
    results = json.loads((report_run / "results.json").read_text())
    assert [m["label"] for m in results["models"]] == MODELS


def test_report_json_holds_the_data_of_every_plot(report_run: Path) -> None:
    data = _report(report_run)
    ids = [p["id"] for p in data["plots"]]
    for expected in (
        "leaderboard", "paired-matrix", "slice-history_length", "slice-target_popularity", "popularity-curve",
        "popularity-users", "beyond", "calibration", "training-loss", "training-valid", "candidate-recall",
    ):  # fmt: skip
        assert expected in ids
    assert any(i.startswith("importance-") for i in ids) and any(i.startswith("weights-") for i in ids)
    for plot in data["plots"]:
        assert _at(data, plot["data"]), plot  # every plot names a non-empty report.json key
    assert data["report"]["missing_files"] == []


def test_html_is_one_offline_file_with_plotly_embedded_once(report_run: Path) -> None:
    page = (report_run / "report.html").read_text()
    data = _report(report_run)
    assert int(re.search(r'data-plots="(\d+)"', page).group(1)) == len(data["plots"])  # type: ignore[union-attr]
    assert page.count('class="lmrec-plot"') == len(data["plots"])
    head, library, rest = re.split(r'<script type="text/javascript">/\*\*|</script></head>', page, maxsplit=2)
    assert "plotly.js v" in library and "plotly.js v" not in head + rest  # embedded once, not per plot
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|https?://", head + rest)  # nothing from a server


def test_exposure_numbers_agree_with_lmrec_eval(report_run: Path) -> None:
    data = _report(report_run)["exposure"]
    recs = pd.read_parquet(report_run / "recommendations.parquet")
    items = pd.read_parquet(report_run / "items.parquet")
    for label in MODELS:
        _, lists = list_matrix(recs, label, 10)
        counts = beyond.recommendation_counts(lists, len(items))
        got = data["models"][label]
        assert got["coverage"] == pytest.approx(beyond.coverage_from_counts(counts), rel=1e-5)
        assert got["gini"] == pytest.approx(beyond.gini_index(counts), rel=1e-5)
        assert got["personalization"] == pytest.approx(beyond.personalization(lists, len(items)), rel=1e-5)
        assert sum(data["popularity_curve"]["models"][label]) == pytest.approx(1.0, abs=1e-5)
        assert data["popularity_curve"]["models_cumulative"][label][-1] == pytest.approx(1.0, abs=1e-5)
        assert sum(data["calibration"]["recommended"][label]) == pytest.approx(1.0, abs=1e-5)
        assert data["calibration"]["kl"][label] >= 0
    assert sum(data["popularity_curve"]["consumed"]) == pytest.approx(1.0, abs=1e-5)
    # results.json computed coverage on the same lists
    results = json.loads((report_run / "results.json").read_text())
    for model in results["models"]:
        assert data["models"][model["label"]]["coverage"] == pytest.approx(
            model["test"]["Coverage@10"], rel=1e-5
        )


def test_paired_matrix_is_every_pair_and_antisymmetric(report_run: Path) -> None:
    matrix = _report(report_run)["paired_tests"]
    k = len(MODELS)
    assert matrix["models"] == MODELS and matrix["pairs_tested"] == k * (k - 1) // 2
    diff = np.array([[np.nan if v is None else v for v in row] for row in matrix["mean_diff"]])
    np.testing.assert_allclose(diff, -diff.T, rtol=1e-5)
    per_user = pd.read_parquet(report_run / "per_user.parquet")
    a, b = (per_user[per_user["model"] == m][["user", "NDCG@10"]] for m in ("pop", "ease"))
    res = compare(b, a, "NDCG@10", n_boot=10)  # row pop − column ease
    assert matrix["mean_diff"][0][2] == pytest.approx(res.mean_diff, rel=1e-5)
    assert matrix["t_pvalue"][0][2] == pytest.approx(res.t_pvalue, rel=1e-5)


def test_slices_split_the_test_users_into_ordered_groups(report_run: Path) -> None:
    data = _report(report_run)
    per_user = pd.read_parquet(report_run / "per_user.parquet")
    users = per_user["user"].nunique()
    for column in ("history_length", "target_popularity"):
        section = data["slices"][column]
        groups = section["groups"]
        assert sum(g["users"] for g in groups) == users
        assert all(g["low"] <= g["high"] for g in groups)
        assert all(a["high"] <= b["low"] for a, b in itertools.pairwise(groups))
        assert set(section["models"]) == set(MODELS)
        for values in section["models"].values():
            assert all(
                lo <= m <= hi for lo, m, hi in zip(values["low"], values["mean"], values["high"], strict=True)
            )
    codes, groups = bucket_users(pd.Series([1, 1, 1, 1, 2, 3, 50]), buckets=5)
    assert sum(g["users"] for g in groups) == 7 and codes.iloc[:4].nunique() == 1  # ties stay together


def test_training_curves_and_what_the_hybrids_learned(report_run: Path) -> None:
    data = _report(report_run)
    curve = data["training"]["curves"]["sasrec"]
    assert curve["epochs"] == [1, 2, 3] and len(curve["loss"]) == 3
    assert curve["valid_epochs"] == [1, 2, 3] and curve["metric"] == "NDCG@10"
    hybrids = data["hybrids"]
    results = json.loads((report_run / "results.json").read_text())
    ltr = next(m for m in results["models"] if m["label"] == "ltr")
    assert hybrids["ltr"]["candidate_recall"] == pytest.approx(ltr["test"]["CandidateRecall"], rel=1e-5)
    assert sum(hybrids["ltr"]["feature_importance"]["features"].values()) == pytest.approx(1.0, abs=1e-4)
    assert set(hybrids["blend"]["weights"]) == {"ease", "pop"}


def test_a_folder_with_results_json_only_gets_what_it_holds(report_run: Path, tmp_path: Path) -> None:
    """Committed benchmark folders keep results.json only (the Parquet files are not in git)."""
    shutil.copy(report_run / "results.json", tmp_path / "results.json")
    path = write_report(tmp_path)
    data = _report(tmp_path)
    assert path == tmp_path / "report.html"
    assert set(data["report"]["missing_files"]) == {
        "per_user.parquet",
        "recommendations.parquet",
        "items.parquet",
    }
    assert data["exposure"] is None and all(v is None for v in data["slices"].values())
    assert data["leaderboard"]["ci"] is None
    # the matrix holds the stored tests: the best model against each other one
    assert data["paired_tests"]["pairs_tested"] >= len(MODELS) - 1
    assert "lacks per_user.parquet" in path.read_text()


def test_report_command(report_run: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "x" / "page.html"
    res = runner.invoke(app, ["report", str(report_run), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.is_file() and (tmp_path / "x" / "page.json").is_file()
    res = runner.invoke(app, ["report", str(tmp_path / "nowhere")])
    assert res.exit_code == 2 and "has no results.json" in res.output


def test_simulation_folder_plots_metrics_over_rounds(tmp_path: Path) -> None:
    from lmrec.simulation.report import METRICS

    rows = [
        {"policy": p, "seed": s, "round": r, **{m: 0.1 * r + s + k for k, m in enumerate(METRICS)}}
        for p in ("pop", "ease")
        for s in (0, 1)
        for r in range(4)
    ]
    pd.DataFrame(rows).to_parquet(tmp_path / "per_round.parquet")
    (tmp_path / "results.json").write_text(json.dumps({"name": "sim", "config": {"policies": []}}))
    report = build_report(tmp_path)
    assert report.data["report"]["kind"] == "simulation"
    assert len(report.plots) == len(METRICS)
    line = report.data["simulation"]["lines"]["engagement"]["ease"]
    assert line["round"] == [0, 1, 2, 3] and line["low"][0] < line["mean"][0] < line["high"][0]
