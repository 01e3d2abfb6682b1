"""Hybrids from the command line: train with components given as YAML, recommend with --explain."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from lmrec.cli.app import app
from lmrec.data.synthetic import synthetic_log
from lmrec.hybrid.explain import explain
from lmrec.models.base import Recommender

runner = CliRunner()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hybrid_cli")
    synthetic_log(n_users=200, n_items=80, n_interactions=4000, seed=5).to_frame().to_csv(
        folder / "events.csv", index=False
    )
    spec = {
        "name": "hybrid-cli",
        "dataset": {
            "path": "events.csv",
            "format": "tabular",
            "columns": {"user": "user", "item": "item", "timestamp": "timestamp"},
        },
        "cleaning": {"duplicates": "keep_first"},
        "split": {"method": "leave_one_out"},
        "models": [{"name": "pop"}],
    }
    (folder / "exp.yaml").write_text(yaml.safe_dump(spec))
    res = runner.invoke(app, ["data", "prepare", str(folder / "exp.yaml"), "--out", str(folder / "prep")])
    assert res.exit_code == 0, res.output
    return folder / "prep"


@pytest.fixture(scope="module")
def cascade(prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cascade") / "model"
    args = [
        "train", "--data", str(prepared), "--model", "cascade", "--out", str(out),
        "--param", "retrievers=[{name: pop}, {name: itemknn, params: {k: 20}}]",
        "--param", "ranker={name: ease, params: {reg: 20}}",
        "--param", "n_candidates=15",
    ]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return out


def test_recommend_explain_names_components_and_history_items(cascade: Path) -> None:
    model = Recommender.load(cascade)
    user = model.user_vocab_.id(3).item()
    res = runner.invoke(
        app, ["recommend", "--model", str(cascade), "--user", str(user), "-n", "5", "--explain"]
    )
    assert res.exit_code == 0, res.output
    row = json.loads(res.stdout)
    plain = model.recommend_ids([user], n=5)[0]
    assert row["user"] == user and [e["item"] for e in row["items"]] == plain["items"]
    history = set(model.item_vocab_.id(model.history_[3].indices).tolist())
    for entry in row["items"]:
        labels = [c["component"] for c in entry["components"]]
        assert labels == ["pop", "itemknn", "ease"]
        # a recommended item of a cascade was proposed by at least one retriever
        assert any(c.get("proposed") for c in entry["components"][:2])
        assert all(b["item"] in history and b["by"] == "co-occurrence" for b in entry["because"])


def test_explained_ranks_and_scores_are_the_components_own(cascade: Path) -> None:
    model = Recommender.load(cascade)
    (row,) = explain(model, np.array([7]), n=3)
    for entry in row["items"]:
        item = model.item_vocab_.index(np.array([entry["item"]]), what="item")[0]
        for comp, fitted in zip(entry["components"], model.components_, strict=True):
            scores = fitted.score(np.array([7]))[0]
            assert comp["score"] == pytest.approx(float(scores[item]))
            seen = model.history_[7].indices
            rankable = np.delete(np.arange(model.n_items), seen)
            order = rankable[np.argsort(-scores[rankable], kind="stable")]
            assert comp["rank"] == int(np.flatnonzero(order == item)[0]) + 1


def test_recommend_explain_for_an_ad_hoc_history(cascade: Path) -> None:
    model = Recommender.load(cascade)
    items = [str(i) for i in model.item_vocab_.id(np.array([1, 2, 3])).tolist()]
    args = ["recommend", "--model", str(cascade), "--explain", "-n", "3"]
    res = runner.invoke(app, args + [a for i in items for a in ("--history", i)])
    assert res.exit_code == 0, res.output
    row = json.loads(res.stdout)
    assert row["user"] is None and len(row["items"]) == 3
    assert {b["item"] for e in row["items"] for b in e["because"]} <= {int(i) for i in items}
