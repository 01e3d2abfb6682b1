"""`lmrec retrain MODEL_DIR`: refit from the training data plus the store, save, and a restart serves it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from lmrec.cli.app import app as cli
from lmrec.models.base import Recommender
from lmrec.models.knn import ItemKNN
from lmrec.service import RecommenderService
from lmrec.service.store import Event


def served_with_events(knn: ItemKNN, folder: Path) -> Path:
    """A saved ItemKNN whose default store holds 3 events, one of them from a new user."""
    model_dir = knn.save(folder)
    service = RecommenderService.open(model_dir)
    service.add_events([Event("u004", "118"), Event("u004", "120"), Event("newbie", "101")])
    service.close()
    return model_dir


def test_retrain_replaces_the_model_and_a_restart_serves_it(knn: ItemKNN, tmp_path: Path) -> None:
    model_dir = served_with_events(knn, tmp_path / "model")
    result = CliRunner().invoke(cli, ["retrain", str(model_dir)])
    assert result.exit_code == 0, result.output
    assert "users: 30 -> 31 (+1)" in result.output
    assert "items: 25 -> 25 (+0)" in result.output
    assert "stored events in the model: 0 -> 3 (+3)" in result.output
    assert "events learned from: 3, new users: 1" in result.output and "not learned" not in result.output
    assert "(version 2)" in result.output
    names = ["arrays.npz", "events.sqlite", "model.json", "versions"]
    assert sorted(p.name for p in model_dir.iterdir()) == names
    (version,) = (model_dir / "versions").iterdir()
    meta = json.loads((model_dir / "model.json").read_text())
    assert meta["stored_in"] == f"versions/{version.name}" and version.name.startswith("000002-")
    model = Recommender.load(model_dir)
    assert len(model.user_vocab_) == 31 and model.training_["service_events_upto"] == 3
    assert model.training_["service_model_version"] == 2
    u = int(model.user_vocab_.index(["u004"])[0])
    assert {18, 20} <= set(model.history_[u].indices.tolist())
    restarted = RecommenderService.open(model_dir)
    info = restarted.model_info()
    assert info["events_in_model"] == 3 and info["online_events"] == 0, "nothing replayed twice"
    assert info["version"] == 2
    assert restarted.recommend_user("newbie").fallback is None
    restarted.add_events([Event("u004", "103")])
    assert restarted.model_info()["online_events"] == 1
    restarted.close()


def test_retrain_to_another_folder_leaves_the_original(knn: ItemKNN, tmp_path: Path) -> None:
    model_dir = served_with_events(knn, tmp_path / "model")
    before = (model_dir / "model.json").read_text()
    out = tmp_path / "v2"
    result = CliRunner().invoke(cli, ["retrain", str(model_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (model_dir / "model.json").read_text() == before
    assert f"--store sqlite:///{model_dir / 'events.sqlite'}" in result.output
    assert json.loads((out / "model.json").read_text())["n_users"] == 31
    restarted = RecommenderService.open(out, store_url=f"sqlite:///{model_dir / 'events.sqlite'}")
    assert restarted.model_info()["online_events"] == 0
    np.testing.assert_array_equal(
        restarted.live.model.history_.toarray()[:30], Recommender.load(out).history_.toarray()[:30]
    )
    restarted.close()


def test_retrain_with_an_explicit_store_and_nothing_new(knn: ItemKNN, tmp_path: Path) -> None:
    model_dir = knn.save(tmp_path / "model")
    url = f"sqlite:///{tmp_path / 'elsewhere.sqlite'}"
    result = CliRunner().invoke(cli, ["retrain", str(model_dir), "--store", url])
    assert result.exit_code == 0, result.output
    assert "users: 30 -> 30 (+0)" in result.output and "events learned from: 0" in result.output
    assert not (model_dir / "events.sqlite").exists(), "the given store is used, not the default"


def test_retrain_refuses_a_folder_without_a_model(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["retrain", str(tmp_path)])
    assert result.exit_code != 0 and "model.json" in result.output
    assert "--out" in CliRunner().invoke(cli, ["retrain", "--help"]).output


def test_serve_takes_a_retrieval_mode(knn: ItemKNN, tmp_path: Path) -> None:
    runner = CliRunner()
    assert "--retrieval" in runner.invoke(cli, ["serve", "--help"]).output
    model_dir = knn.save(tmp_path / "model")
    result = runner.invoke(cli, ["serve", str(model_dir), "--retrieval", "fast"])
    assert result.exit_code != 0 and "exact, ann, auto" in result.output


def test_serve_takes_a_retrain_schedule(knn: ItemKNN, tmp_path: Path) -> None:
    runner = CliRunner()
    assert "--retrain-every" in runner.invoke(cli, ["serve", "--help"]).output
    model_dir = knn.save(tmp_path / "model")
    result = runner.invoke(cli, ["serve", str(model_dir), "--retrain-every", "0"])
    assert result.exit_code != 0 and "--retrain-every" in result.output


def test_retrain_learns_a_string_user_of_an_integer_model(knn: ItemKNN, tmp_path: Path) -> None:
    """Issue 17: the new user "newbie" of a model trained on integer user ids was skipped (and reported
    as "item not in the catalog"); now they join the model, and user 7 is still user 7."""
    from lmrec.data.interactions import Interactions
    from lmrec.data.vocabulary import Vocabulary

    data = Interactions(
        users=knn.history_.tocoo().row,
        items=knn.history_.tocoo().col,
        user_vocab=Vocabulary(np.arange(1, 31, dtype=np.int64) * 7),
        item_vocab=knn.item_vocab_,
    )
    model_dir = ItemKNN(k=10).fit(data, seed=0).save(tmp_path / "model")
    service = RecommenderService.open(model_dir)
    service.add_events([Event("newbie", "101"), Event("newbie", "102"), Event("0007", "100")])
    assert 0 not in data.sequences()[0], "item 100 is new to user 7"
    service.close()
    result = CliRunner().invoke(cli, ["retrain", str(model_dir)])
    assert result.exit_code == 0, result.output
    assert "events learned from: 3, new users: 1" in result.output and "not learned" not in result.output
    restarted = RecommenderService.open(model_dir)
    assert restarted.recommend_user("newbie").fallback is None
    assert restarted.recommend_user(7).items == restarted.recommend_user("0007").items
    assert restarted.recommend_user(7).history_length == len(data.sequences()[0]) + 1
    assert restarted.model_info()["n_users"] == 31
    restarted.close()


def test_retrain_names_events_it_cannot_learn_from(knn: ItemKNN, tmp_path: Path) -> None:
    from lmrec.service.store import EventStore, sqlite_url

    model_dir = knn.save(tmp_path / "model")
    store = EventStore(sqlite_url(str(model_dir / "events.sqlite")))
    store.add([Event("u004", "9999"), Event("u004", "118")])  # a store shared with another catalog
    store.close()
    result = CliRunner().invoke(cli, ["retrain", str(model_dir)])
    assert result.exit_code == 0, result.output
    assert "events learned from: 1," in result.output
    assert "events not learned from: 1 (item not in the catalog; kept as unused" in result.output
    assert "event ids [1]" in result.output
