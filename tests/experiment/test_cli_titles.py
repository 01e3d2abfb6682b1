"""Titles beside ids: a catalog with titles reaches the saved model (`lmrec train`, `lmrec run`), and
`lmrec recommend` / `lmrec similar` print each item's title and display fields next to its id."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from lmrec.cli.app import app
from lmrec.data.display import MAX_CHARS, ItemDisplay
from lmrec.testing.movielens import title_of, write_movielens_folder

runner = CliRunner()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("titles")
    write_movielens_folder(root / "ml", n_users=120, n_items=50, n_interactions=2_000, seed=4)
    spec = {
        "name": "titles",
        "dataset": {"path": "ml"},
        "split": {"method": "leave_one_out"},
        "models": [{"name": "pop"}],
    }
    (root / "exp.yaml").write_text(yaml.safe_dump(spec))
    res = runner.invoke(app, ["data", "prepare", str(root / "exp.yaml"), "--out", str(root / "prep")])
    assert res.exit_code == 0, res.output
    return root / "prep"


def _lines(output: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_recommend_prints_titles_beside_ids(prepared: Path, tmp_path: Path) -> None:
    model = tmp_path / "knn"
    res = runner.invoke(app, ["train", "--data", str(prepared), "--model", "itemknn", "--out", str(model)])
    assert res.exit_code == 0, res.output
    assert (model / "catalog.parquet").is_file()
    (row,) = _lines(runner.invoke(app, ["recommend", "--model", str(model), "--user", "3", "-n", "5"]).output)
    assert len(row["items"]) == len(row["titles"]) == len(row["fields"]) == 5
    assert row["titles"] == [title_of(i) for i in row["items"]]
    assert all(f["genres"] and f["release_date"] == "01-Jan-1995" for f in row["fields"])
    (anon,) = _lines(
        runner.invoke(app, ["recommend", "--model", str(model), "--history", "1", "--history", "2"]).output
    )
    assert anon["titles"] == [title_of(i) for i in anon["items"]]
    (explained,) = _lines(
        runner.invoke(app, ["recommend", "--model", str(model), "--user", "3", "-n", "3", "--explain"]).output
    )
    for entry in explained["items"]:
        assert entry["title"] == title_of(entry["item"]) and "genres" in entry["fields"]
        assert all(b["title"] == title_of(b["item"]) for b in entry.get("because", []))


def test_similar_prints_titles(prepared: Path, tmp_path: Path) -> None:
    model = tmp_path / "content"
    args = [
        "train",
        "--data",
        str(prepared),
        "--model",
        "content",
        "--item-text",
        "tfidf:16",
        "--out",
        str(model),
    ]
    assert runner.invoke(app, args).exit_code == 0
    (row,) = _lines(runner.invoke(app, ["similar", "--model", str(model), "--item", "7", "-n", "4"]).output)
    assert row["item"] == 7 and row["title"] == title_of(7)
    assert row["titles"] == [title_of(i) for i in row["items"]] and len(row["items"]) == 4


def test_a_model_without_catalog_answers_ids_only(prepared: Path, tmp_path: Path) -> None:
    model = tmp_path / "pop"
    assert (
        runner.invoke(
            app, ["train", "--data", str(prepared), "--model", "pop", "--out", str(model)]
        ).exit_code
        == 0
    )
    (model / "catalog.parquet").unlink()
    (row,) = _lines(runner.invoke(app, ["recommend", "--model", str(model), "--user", "3"]).output)
    assert set(row) == {"user", "items", "scores"}


def test_display_fields_are_short_and_keyed_by_any_id_form() -> None:
    frame = pd.DataFrame({"item": ["7", "8"], "title": ["Seven", None], "description": ["x " * 500, "short"]})
    display = ItemDisplay(frame)
    assert display.title(7) == display.title("7") == "Seven" and display.title(8) is None
    assert len(display.fields(7)["description"]) == MAX_CHARS and display.fields(7)["description"].endswith(
        "…"
    )
    assert display.describe(8) == {"fields": {"description": "short"}} and display.describe(99) == {}
