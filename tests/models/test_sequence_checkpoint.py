"""Training checkpoints: a fit stopped mid-training and started again with the same configuration, seed and
data continues from its last saved epoch and ends with exactly the weights and training log of a fit that
never stopped; another configuration or seed never reads the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lmrec.data.interactions import Interactions
from lmrec.data.vocabulary import Vocabulary
from lmrec.models.fit_context import FitContext, Validation
from lmrec.models.sequential.bert4rec import BERT4Rec
from lmrec.models.sequential.gru4rec import GRU4Rec
from lmrec.models.sequential.recommender import SequentialRecommender
from lmrec.models.sequential.sasrec import SASRec
from lmrec.testing.datasets import successor_sequences

torch = pytest.importorskip("torch", reason="torch is installed by scripts/setup.sh (extra 'lm')")

# dropout and sampled negatives on, so every random state the loop depends on is exercised
PARAMS: dict[str, Any] = {
    "embedding_size": 16,
    "epochs": 14,
    "batch_size": 16,
    "dropout": 0.2,
    "num_threads": 1,
    "learning_rate": 5e-3,
    "patience": 50,
    "eval_every": 2,
}
MODELS: dict[str, tuple[type[SequentialRecommender], dict[str, Any]]] = {
    "sasrec": (SASRec, {"loss": "sampled", "n_negatives": 8}),
    "bert4rec": (BERT4Rec, {}),
    "gru4rec": (GRU4Rec, {}),
}


def _split() -> tuple[Interactions, Validation]:
    from lmrec.data.splits import leave_one_out

    split = leave_one_out(successor_sequences(n_users=80, seed=5).data)
    return split.train, Validation(split.valid, split.train, metric="NDCG@10")


class Stop(Exception):
    pass


def _fit(
    name: str, folder: Path | None, *, stop_after_batches: int | None = None, seed: int = 0, **extra: Any
) -> Any:
    """Fit (raising Stop after `stop_after_batches` batches); the model's `batches_` counts its batches."""
    klass, params = MODELS[name]
    model = klass(**{**PARAMS, **params, **extra})
    original, seen = model._step_loss, [0]

    def counting(net: Any, batch: Any, gen: Any) -> Any:
        seen[0] += 1
        if stop_after_batches is not None and seen[0] > stop_after_batches:
            raise Stop
        return original(net, batch, gen)

    model._step_loss = counting  # type: ignore[method-assign]
    train, validation = _split()
    model.fit(train, seed=seed, validation=validation, context=FitContext(checkpoint_dir=folder))
    model.batches_ = seen[0]
    return model


def _weights(model: Any) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in model.net_.state_dict().items()}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_stopped_fit_resumes_and_ends_where_an_uninterrupted_fit_ends(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lmrec.models.sequential import checkpoint

    monkeypatch.setattr(checkpoint.TrainingCheckpoint, "due", lambda self: True)  # save after every epoch
    whole = _fit(name, None)
    batches_per_epoch = whole.batches_ // PARAMS["epochs"]
    assert batches_per_epoch * PARAMS["epochs"] == whole.batches_
    with pytest.raises(Stop):  # dies in the middle of epoch 8
        _fit(name, tmp_path, stop_after_batches=7 * batches_per_epoch + 2)
    (saved,) = tmp_path.glob("*.pt")
    assert torch.load(saved, weights_only=True)["epoch"] == 7
    resumed = _fit(name, tmp_path)
    for key, value in _weights(whole).items():
        np.testing.assert_array_equal(_weights(resumed)[key], value, err_msg=key)
    a, b = dict(whole.training_), dict(resumed.training_)
    assert b.pop("resumed_after_epoch") == 7 and a.pop("resumed_after_epoch") == 0
    for key in ("losses", "valid", "best_epoch", "best_valid", "epochs_run", "stopped_early"):
        assert a[key] == b[key], key
    # the finished fit's checkpoint is marked done: fitting again trains nothing and gives the same model
    again = _fit(name, tmp_path, stop_after_batches=0)
    for key, value in _weights(whole).items():
        np.testing.assert_array_equal(_weights(again)[key], value, err_msg=key)


def test_another_configuration_or_seed_does_not_read_the_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lmrec.models.sequential import checkpoint

    monkeypatch.setattr(checkpoint.TrainingCheckpoint, "due", lambda self: True)
    with pytest.raises(Stop):  # dies in epoch 3
        _fit("gru4rec", tmp_path, stop_after_batches=2 * _fit("gru4rec", None, epochs=1).batches_ + 1)
    first = set(tmp_path.glob("*.pt"))
    other = _fit("gru4rec", tmp_path, epochs=3)  # a different configuration trains from the start
    assert other.training_["resumed_after_epoch"] == 0
    assert _fit("gru4rec", tmp_path, seed=1).training_["resumed_after_epoch"] == 0  # another seed
    thread_count_only = _fit("gru4rec", tmp_path, num_threads=2)  # threads are not part of the fit's key
    assert thread_count_only.training_["resumed_after_epoch"] == 2
    assert len(set(tmp_path.glob("*.pt")) - first) == 2  # the 3-epoch fit and the seed-1 fit have their own


def test_a_checkpoint_of_another_fit_under_this_name_is_refused(tmp_path: Path) -> None:
    from lmrec.models.sequential.checkpoint import TrainingCheckpoint

    TrainingCheckpoint(tmp_path, key="a").save({"epoch": 1})
    (tmp_path / "a.pt").rename(tmp_path / "b.pt")
    with pytest.raises(ValueError, match="not a checkpoint of this fit"):
        TrainingCheckpoint(tmp_path, key="b").load()


def test_early_stopping_continues_across_a_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed one evaluation before early stopping (one evaluation without improvement behind it): the
    resumed fit must stop at the same epoch, so the counter of evaluations without improvement and the
    best-so-far weights come back from the checkpoint."""
    from lmrec.models.sequential import checkpoint

    monkeypatch.setattr(checkpoint.TrainingCheckpoint, "due", lambda self: True)
    settings = {"patience": 2, "eval_every": 1, "epochs": 40}
    whole = _fit("gru4rec", None, **settings)
    log = whole.training_
    assert log["stopped_early"] and log["best_epoch"] == log["epochs_run"] - 2
    per_epoch = whole.batches_ // log["epochs_run"]
    with pytest.raises(Stop):  # dies in the middle of the epoch that would stop training
        _fit("gru4rec", tmp_path, stop_after_batches=(log["epochs_run"] - 1) * per_epoch + 1, **settings)
    resumed = _fit("gru4rec", tmp_path, **settings)
    assert resumed.training_["resumed_after_epoch"] == log["epochs_run"] - 1
    for key in ("epochs_run", "best_epoch", "best_valid", "stopped_early", "valid", "losses"):
        assert resumed.training_[key] == log[key], key
    for key, value in _weights(whole).items():  # the best epoch's weights, not the last epoch's
        np.testing.assert_array_equal(_weights(resumed)[key], value, err_msg=key)


def test_other_training_data_or_catalog_does_not_read_the_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lmrec.data.splits import leave_one_out
    from lmrec.models.sequential import checkpoint

    monkeypatch.setattr(checkpoint.TrainingCheckpoint, "due", lambda self: True)
    train, validation = _split()

    def fit(data: Interactions, valid: Validation | None = validation) -> int:
        model = GRU4Rec(**{**PARAMS, "epochs": 2})
        model.fit(data, seed=0, validation=valid, context=FitContext(checkpoint_dir=tmp_path))
        return int(model.training_["resumed_after_epoch"])

    assert fit(train) == 0
    assert fit(train) == 2  # the same fit reads its finished checkpoint
    other = leave_one_out(successor_sequences(n_users=81, seed=5).data)
    assert fit(other.train, Validation(other.valid, other.train, metric="NDCG@10")) == 0  # other events

    def wider(data: Interactions) -> Interactions:  # the same events, one more item in the catalog
        ids = data.item_vocab.ids
        vocab = Vocabulary(np.append(ids, ids.max() + 1))
        return Interactions(data.users, data.items, data.user_vocab, vocab, timestamps=data.timestamps)

    assert wider(train).n_items == train.n_items + 1
    assert fit(wider(train), Validation(wider(validation.targets), wider(train), metric="NDCG@10")) == 0
    assert fit(train, Validation(validation.targets, validation.history, metric="HR@10")) == 0  # metric
    assert fit(train, None) == 0  # no validation


def test_an_unreadable_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    from lmrec.models.sequential.checkpoint import TrainingCheckpoint

    TrainingCheckpoint(tmp_path, key="a").save({"epoch": 1})
    path = tmp_path / "a.pt"
    path.write_bytes(path.read_bytes()[:100])  # cut short, as by a full disk
    with pytest.raises(ValueError, match=r"a\.pt: unreadable training checkpoint .*remove the file"):
        TrainingCheckpoint(tmp_path, key="a").load()
    assert not list(tmp_path.glob("*.tmp"))
