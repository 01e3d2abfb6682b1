"""Sequence and text models inside experiments: early stopping on validation only, the selected epoch
count as a hyper-parameter, ordered histories at test time, item text built from the catalog, and the P4
cold/rare slices."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from lmrec.data.splits import leave_one_out
from lmrec.experiment.config import parse_experiment
from lmrec.experiment.pipeline import run_experiment
from lmrec.models import registry
from lmrec.models.sequential.sasrec import SASRec
from lmrec.testing.datasets import successor_sequences

pytest.importorskip("torch", reason="torch is installed by scripts/setup.sh (extra 'lm')")

SMALL = {"embedding_size": 16, "epochs": 30, "batch_size": 32, "dropout": 0.0, "learning_rate": 0.005,
         "patience": 3, "num_threads": 1}  # fmt: skip


@pytest.fixture(scope="module")
def walk_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = successor_sequences(n_users=150, n_items=30, min_len=6, max_len=14, seed=4).data
    path = tmp_path_factory.mktemp("walks") / "walks.csv"
    data.to_frame().to_csv(path, index=False)
    return path


def experiment(path: Path, models: list[dict[str, Any]], **overrides: Any):  # type: ignore[no-untyped-def]
    spec: dict[str, Any] = {
        "name": "walks",
        "seed": 3,
        "dataset": {"path": str(path), "format": "tabular"},
        "cleaning": {"duplicates": "keep_all"},
        "split": {"method": "leave_one_out"},
        "evaluation": {"ns": [1, 10], "metrics": ["ndcg", "hit_rate"], "select_by": "NDCG@10"},
        "models": models,
    }
    spec.update(overrides)
    return parse_experiment(spec)


class SpySASRec(SASRec):
    """Records every log it is fitted on and every validation log it is given."""

    fits: ClassVar[list[Any]] = []

    def _fit_with(self, data, rng, *, item_features, validation, context):  # type: ignore[no-untyped-def]
        SpySASRec.fits.append((data, validation))
        super()._fit_with(data, rng, item_features=item_features, validation=validation, context=context)


def _events(x):  # type: ignore[no-untyped-def]
    return set(zip(x.users.tolist(), x.items.tolist(), x.timestamps.tolist(), strict=True))


def test_sequence_model_learns_the_walk_and_never_trains_on_test(walk_csv, tmp_path, monkeypatch) -> None:
    SpySASRec.fits = []
    monkeypatch.setitem(registry.MODELS, "sasrec", f"{__name__}:SpySASRec")  # the one model factory builds it
    exp = experiment(walk_csv, [{"name": "sasrec", "params": SMALL, "refit": "train"}])
    results = run_experiment(exp, out=tmp_path)
    model = results["models"][0]
    # the successor is always the next item: a working sequence model gets nearly every test user
    assert model["test"]["HR@1"] >= 0.9
    from lmrec.experiment.prepare import prepare

    split = prepare(exp).split
    assert len(SpySASRec.fits) == 1  # refit "train" keeps the selected trial's model: no second fit
    data, validation = SpySASRec.fits[0]
    assert not _events(data) & (_events(split.test) | _events(split.valid))
    assert validation is not None and _events(validation.targets) == _events(split.valid)
    # early stopping's epoch count is recorded as a selected hyper-parameter
    trial = model["trials"][0]
    assert model["selected"]["epochs"] == trial["training"]["best_epoch"]
    assert model["timings"]["fit"]["reused_selected_trial"] is True
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["models"][0]["timings"]["training"]["seconds_per_epoch"] > 0


def test_refit_on_train_valid_runs_the_selected_epochs_without_validation(walk_csv, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    SpySASRec.fits = []
    monkeypatch.setitem(registry.MODELS, "sasrec", f"{__name__}:SpySASRec")  # the one model factory builds it
    exp = experiment(walk_csv, [{"name": "sasrec", "params": SMALL}])  # evaluation.refit: train+valid
    results = run_experiment(exp, out=tmp_path)
    assert len(SpySASRec.fits) == 2
    (_, first_validation), (refit_data, refit_validation) = SpySASRec.fits
    assert first_validation is not None and refit_validation is None
    from lmrec.experiment.prepare import prepare

    split = prepare(exp).split
    assert not _events(refit_data) & _events(split.test)
    selected = results["models"][0]["selected"]["epochs"]
    assert results["models"][0]["timings"]["training"]["epochs_run"] == selected


@pytest.mark.shared_data
def test_text_models_get_catalog_embeddings(ml100k_dir: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path / "cache"))
    exp = parse_experiment(
        {
            "name": "cold",
            "seed": 1,
            "dataset": {"name": "ml-100k", "path": str(ml100k_dir)},
            "split": {
                "method": "cold_items",
                "params": {
                    "base": "temporal_ratio",
                    "base_params": {"train": 0.8, "valid": 0.1},
                    "fraction": 0.1,
                },
            },
            "evaluation": {"ns": [10], "metrics": ["ndcg", "recall"]},
            "models": [
                {
                    "name": "content",
                    "item_text": {"encoder": "tfidf", "template": "{title}. {genres}"},
                    "params": {"recency_decay": 0.1, "profile_items": 20},
                },
                {"name": "pop"},
            ],
        }
    )
    results = run_experiment(exp, out=tmp_path / "run")
    test = {m["label"]: m["test"] for m in results["models"]}
    # popularity cannot rank items nobody interacted with; the content model can (a random ranking of
    # the ~1,500 unseen items would find about 10/1500 = 0.007 of the cold targets; observed 0.020)
    assert test["pop"]["Recall@10"] == 0.0
    assert test["content"]["Recall@10"] > 0.012
    assert results["data"]["split"]["params"]["slice"] == "cold"


def test_a_model_without_catalog_text_is_a_clear_error(walk_csv, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from lmrec.errors import ConfigError

    exp = experiment(walk_csv, [{"name": "content", "item_text": {"encoder": "tfidf"}}])
    with pytest.raises(ConfigError, match="has no item catalog"):
        run_experiment(exp, out=tmp_path)


# --- P4 slices ---------------------------------------------------------------------------------------------
def test_cold_slice_removes_every_cold_interaction_from_training() -> None:
    from lmrec.data.cold import cold_item_split

    data = successor_sequences(n_users=100, n_items=50, seed=2).data
    split = cold_item_split(leave_one_out(data), fraction=0.2, seed=5)
    cold = np.unique(split.test.items)
    assert split.params["n_cold_items"] == 10
    assert set(cold) <= set(np.flatnonzero(np.isin(np.arange(50), cold)))
    assert not np.isin(split.train.items, cold).any() and not np.isin(split.valid.items, cold).any()
    again = cold_item_split(leave_one_out(data), fraction=0.2, seed=5)
    np.testing.assert_array_equal(again.test.items, split.test.items)
    other = cold_item_split(leave_one_out(data), fraction=0.2, seed=6)
    assert not np.array_equal(np.unique(other.test.items), cold)


def test_warm_targets_of_the_cold_slice_share_its_training_data() -> None:
    from lmrec.data.cold import cold_item_split

    base = leave_one_out(successor_sequences(n_users=100, n_items=50, seed=2).data)
    cold = cold_item_split(base, fraction=0.2, seed=5)
    warm = cold_item_split(base, fraction=0.2, seed=5, targets="warm")
    np.testing.assert_array_equal(warm.train.items, cold.train.items)
    np.testing.assert_array_equal(warm.valid.items, cold.valid.items)
    assert len(warm.test) + len(cold.test) == len(base.test)
    assert not np.isin(warm.test.items, np.unique(cold.test.items)).any()
    with pytest.raises(ValueError, match="targets"):
        cold_item_split(base, targets="both")


def test_rare_slice_keeps_training_and_counts_targets() -> None:
    from lmrec.data.cold import rare_item_split

    data = successor_sequences(n_users=100, n_items=200, seed=2).data
    base = leave_one_out(data)
    split = rare_item_split(base, max_train_count=3)
    assert len(split.train) == len(base.train)
    counts = base.train.item_counts()
    assert (counts[split.test.items] <= 3).all()
    assert len(split.test) == int((counts[base.test.items] <= 3).sum())


def test_cold_fraction_must_be_a_share() -> None:
    from lmrec.data.cold import choose_cold_items

    with pytest.raises(ValueError, match="fraction"):
        choose_cold_items(10, 1.5, 0)


def test_resume_continues_a_model_stopped_mid_training_to_the_same_numbers(
    walk_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`lmrec run --resume` after a kill inside a sequence model's training: the fit continues from its
    last checkpoint, and the results equal a run that never stopped; completion removes the checkpoints."""
    from lmrec.models.sequential import checkpoint

    monkeypatch.setattr(checkpoint.TrainingCheckpoint, "due", lambda self: True)  # save every epoch
    params = {**SMALL, "dropout": 0.2, "patience": 30, "epochs": 8}
    exp = experiment(walk_csv, [{"name": "pop"}, {"name": "sasrec", "params": params, "refit": "train"}])
    whole = run_experiment(exp, out=tmp_path / "whole")
    assert not (tmp_path / "whole" / "checkpoints").exists()

    real_step, steps = SASRec._step_loss, [0]

    def dies_in_epoch_five(self, net, batch, gen):  # type: ignore[no-untyped-def]
        steps[0] += 1
        if steps[0] == 4 * 5 + 1:  # 150 users / 32 per batch = 5 batches per epoch
            raise KeyboardInterrupt
        return real_step(self, net, batch, gen)

    monkeypatch.setattr(SASRec, "_step_loss", dies_in_epoch_five)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(exp, out=tmp_path / "cut")
    assert len(list((tmp_path / "cut" / "checkpoints").glob("sasrec-*.pt"))) == 1
    monkeypatch.setattr(SASRec, "_step_loss", real_step)
    resumed = run_experiment(exp, out=tmp_path / "cut", resume=True)
    a, b = whole["models"][1], resumed["models"][1]
    ta, tb = dict(a["trials"][0]["training"]), dict(b["trials"][0]["training"])
    assert tb.pop("resumed_after_epoch") == 4
    for key in ("epochs_run", "best_epoch", "best_valid", "stopped_early"):
        assert ta[key] == tb[key], key
    # the report's training curve continues across the stop: the same epochs, losses and validations
    assert a["timings"]["training"]["curve"] == b["timings"]["training"]["curve"]
    assert b["timings"]["training"]["curve"]["valid_epochs"][-1] == tb["epochs_run"]
    # the fit time counts the training done before the kill, which this process did not see
    before = tb["resumed_seconds"]
    assert before > 0 and b["timings"]["fit"]["resumed_seconds"] == before
    assert b["timings"]["fit"]["seconds"] >= before and b["trials"][0]["fit_seconds"] >= before
    assert a["test"] == pytest.approx(b["test"], rel=1e-12)
    assert not (tmp_path / "cut" / "checkpoints").exists()
    # a plain run into a folder with stale checkpoints starts from scratch
    monkeypatch.setattr(SASRec, "_step_loss", dies_in_epoch_five)
    steps[0] = 0
    with pytest.raises(KeyboardInterrupt):
        run_experiment(exp, out=tmp_path / "cut")
    monkeypatch.setattr(SASRec, "_step_loss", real_step)
    fresh = run_experiment(exp, out=tmp_path / "cut")
    assert "resumed_after_epoch" not in fresh["models"][1]["trials"][0]["training"]
