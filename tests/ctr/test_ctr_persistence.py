"""Saved click models, checked like the conformance suite checks recommenders: every network round-trips
to identical predictions with its config, arrays need no pickle, and the format is versioned."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from lmrec.errors import DataError, NotFittedError

pytest.importorskip("torch", reason="torch is installed by scripts/setup.sh (extra 'lm')")

from lmrec.ctr import CTRModel, FieldEncoder
from lmrec.ctr.model import FORMAT_VERSION


def small_task(seed: int = 0):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    n = 600
    cols = {"user": rng.integers(0, 30, n).astype(str), "item": rng.integers(0, 20, n).astype(str)}
    genres = [list(rng.choice(["g1", "g2", "g3"], rng.integers(0, 3), replace=False)) for _ in range(n)]
    y = (rng.random(n) < 0.3).astype(np.float32)
    data = FieldEncoder().fit(cols, genres).transform(cols, genres)
    dense = rng.normal(size=(n, 4)).astype(np.float32)
    return data.with_dense(dense), y


def fitted(kind: str, aux_weight: float = 0.0) -> tuple[CTRModel, object]:
    data, y = small_task()
    train, valid = data.take(np.arange(450)), data.take(np.arange(450, 600))
    model = CTRModel(model=kind, num_threads=1, epochs=2, batch_size=128, aux_weight=aux_weight)
    aux = y[:450] if aux_weight else None
    return model.fit(train, y[:450], valid, y[450:], seed=1, aux=aux), valid


@pytest.mark.parametrize(
    ("kind", "aux_weight"), [("lr", 0.0), ("widedeep", 0.0), ("deepfm", 0.5), ("neumf", 0.0)]
)
def test_save_load_round_trip_gives_identical_predictions(
    tmp_path: Path, kind: str, aux_weight: float
) -> None:
    model, valid = fitted(kind, aux_weight)
    path = model.save(tmp_path / "ctr")
    with np.load(path / "arrays.npz", allow_pickle=False) as npz:
        assert npz.files, "no arrays saved"
        for key in npz.files:
            assert npz[key].dtype != object, f"array {key} would need pickle"
    meta = json.loads((path / "model.json").read_text())
    assert meta["format_version"] == FORMAT_VERSION
    loaded = CTRModel.load(path)
    assert loaded.config == model.config
    assert json.loads(json.dumps(dataclasses.asdict(loaded.config))) == meta["config"]
    np.testing.assert_array_equal(loaded.predict_proba(valid), model.predict_proba(valid))  # type: ignore[arg-type]
    assert loaded.training_["best_epoch"] == model.training_["best_epoch"]


def test_unknown_format_version_is_refused_and_an_unversioned_file_reads_as_version_1(tmp_path: Path) -> None:
    model, valid = fitted("deepfm")
    path = model.save(tmp_path / "ctr")
    meta_file = path / "model.json"
    meta = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps({**meta, "format_version": FORMAT_VERSION + 1}))
    with pytest.raises(ValueError, match=rf"model.json: unsupported format_version {FORMAT_VERSION + 1}"):
        CTRModel.load(path)
    del meta["format_version"]  # as saved before the format was versioned
    meta_file.write_text(json.dumps(meta))
    np.testing.assert_array_equal(CTRModel.load(path).predict_proba(valid), model.predict_proba(valid))  # type: ignore[arg-type]


def test_loading_something_else_names_the_problem(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a saved click model"):
        CTRModel.load(tmp_path)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(DataError, match=r"model\.json is not valid JSON"):
        CTRModel.load(tmp_path)
    with pytest.raises(NotFittedError):
        CTRModel().save(tmp_path / "unfitted")
