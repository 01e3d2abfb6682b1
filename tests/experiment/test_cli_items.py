"""`lmrec items add`: items added offline to a saved textseq are in the saved model, scored from their text;
bad files and models without the capability are one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lmrec.cli.app import app
from lmrec.data.features import ItemFeatures
from lmrec.errors import DataError
from lmrec.models.base import Recommender
from lmrec.models.popularity import Popularity
from lmrec.testing.datasets import successor_sequences

pytest.importorskip("torch", reason="textseq needs torch (extra 'lm')")

from lmrec.models.sequential.textseq import TextSeq

runner = CliRunner()
N_ITEMS = 20


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    data = successor_sequences(n_users=40, n_items=N_ITEMS).data
    vectors = np.random.default_rng(0).normal(size=(N_ITEMS, 12)).astype(np.float32)
    features = ItemFeatures(vectors, np.ones(N_ITEMS, dtype=bool), source="test")
    model = TextSeq(embedding_size=16, epochs=2, num_threads=1).fit(data, seed=0, item_features=features)
    return model.save(tmp_path_factory.mktemp("textseq") / "model"), vectors


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_items_add_saves_the_model_with_the_new_items(saved: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    folder, vectors = saved
    items = write_jsonl(
        tmp_path / "items.jsonl",
        [{"item": 500, "vector": vectors[4].tolist()}, {"item": "501", "vector": vectors[9].tolist()}],
    )
    out = tmp_path / "grown"
    result = runner.invoke(
        app, ["items", "add", "--model", str(folder), "--items", str(items), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert f"catalog {N_ITEMS} -> {N_ITEMS + 2} items" in result.output
    grown = Recommender.load(out)
    assert grown.item_vocab_.ids[-2:].tolist() == [500, 501] and grown.item_vocab_.appended == 2
    assert Recommender.load(folder).n_items == N_ITEMS  # --out leaves the original alone
    scores = grown.score(np.array([-1]), sequences=[np.array([1, 2, 3])])[0]
    np.testing.assert_allclose(scores[[N_ITEMS, N_ITEMS + 1]], scores[[4, 9]], rtol=1e-6)
    # without --out the model is replaced in place; adding the same id again is refused
    again = runner.invoke(app, ["items", "add", "--model", str(out), "--items", str(items)])
    assert again.exit_code == 2 and "already in the vocabulary" in again.stderr
    more = write_jsonl(tmp_path / "more.jsonl", [{"item": 502, "vector": vectors[0].tolist()}])
    assert runner.invoke(app, ["items", "add", "--model", str(out), "--items", str(more)]).exit_code == 0
    assert Recommender.load(out).n_items == N_ITEMS + 3


def test_items_add_errors_name_the_problem(saved: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    folder, _ = saved
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text(json.dumps({"item": 1, "vector": [0.0] * 12}) + "\n" + '{"item": 2, "text": }\n')
    unknown_key = write_jsonl(tmp_path / "key.jsonl", [{"item": 3, "txt": "a"}])
    two = write_jsonl(tmp_path / "two.jsonl", [{"item": 3, "text": "a", "vector": [1.0]}])
    texts = tmp_path / "texts.csv"
    texts.write_text("item,text\n600,a wooden kettle\n")
    short = write_jsonl(tmp_path / "short.jsonl", [{"item": 3, "vector": [1.0, 2.0]}])
    cases = [
        (bad_json, DataError, f"{bad_json}:2:"),
        (unknown_key, DataError, f"{unknown_key}:1: unknown key(s) ['txt']"),
        (two, DataError, "exactly one of text, fields or vector, not text and vector"),
        (texts, Exception, "give each item a `vector` of length 12"),  # no recorded encoder
        (short, Exception, "vector has 2 numbers"),
        (tmp_path / "items.txt", DataError, "no such file"),
    ]
    for path, kind, message in cases:
        result = runner.invoke(app, ["items", "add", "--model", str(folder), "--items", str(path)])
        assert result.exit_code == 2 and message in result.stderr, (path, kind, result.stderr)
    assert Recommender.load(folder).n_items == N_ITEMS


def test_a_model_without_the_capability_exits_2_naming_it(tmp_path: Path) -> None:
    data = successor_sequences(n_users=10, n_items=N_ITEMS).data
    folder = Popularity().fit(data).save(tmp_path / "pop")
    items = write_jsonl(tmp_path / "items.jsonl", [{"item": 500, "text": "a kettle"}])
    result = runner.invoke(app, ["items", "add", "--model", str(folder), "--items", str(items)])
    assert result.exit_code == 2 and "adds_items_from_text" in result.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "lmrec.cli", "items", "add", "--model", str(folder), "--items", str(items)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "adds_items_from_text" in proc.stderr and "textseq" in proc.stderr
