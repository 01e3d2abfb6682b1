"""Click-through models: field encoding without leakage, a known-answer interaction task that needs
pairwise terms, early stopping and seeds, persistence, and MovieLens demographics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lmrec.ctr import CTRModel, FieldEncoder
from lmrec.ctr.fields import UNKNOWN
from lmrec.data.loaders.movielens_users import load_movielens_users
from lmrec.errors import DataError, NotFittedError
from lmrec.eval.rating import auc

pytest.importorskip("torch", reason="torch is installed by scripts/setup.sh (extra 'lm')")


def xor_task(n: int, seed: int) -> tuple[dict[str, np.ndarray], list[list[str]], np.ndarray]:
    """Click iff colour and shape agree (a, x) or (b, y): an interaction with no main effect, so a linear
    model stays at AUC 0.5 and a model with pairwise terms can reach 1. Genres are noise."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(["a", "b"], n)
    shape = rng.choice(["x", "y"], n)
    noise = rng.integers(0, 20, n).astype(str)
    genres = [list(rng.choice(["g1", "g2", "g3"], rng.integers(0, 3), replace=False)) for _ in range(n)]
    y = ((colour == "a") == (shape == "x")).astype(np.float32)
    return (
        {"user": noise, "item": rng.integers(0, 20, n).astype(str), "colour": colour, "shape": shape},
        genres,
        y,
    )


def encoded(seed: int = 0):  # type: ignore[no-untyped-def]
    cols, genres, y = xor_task(3000, seed)
    vcols, vgenres, vy = xor_task(1000, seed + 1)
    enc = FieldEncoder().fit(cols, genres)
    return enc.transform(cols, genres), y, enc.transform(vcols, vgenres), vy


def test_encoder_learns_vocabularies_from_training_rows_only() -> None:
    enc = FieldEncoder().fit({"user": ["u1", "u2"], "gender": ["F", "M"]}, [["Drama"], []])
    data = enc.transform({"user": ["u2", "u9"], "gender": ["M", "F"]}, [["Comedy", "Drama"], []])
    assert data.single[1, 0] == enc.vocab_["user"][UNKNOWN]  # u9 was never seen in training
    assert data.multi is not None
    assert data.multi[0, 0] == enc.multi_vocab_[UNKNOWN]  # type: ignore[index]
    assert data.multi[1].tolist() == [-1, -1]
    assert len({*enc.vocab_["user"].values(), *enc.vocab_["gender"].values()}) == 6  # no shared rows
    with pytest.raises(ValueError, match="missing"):
        enc.transform({"user": ["u1"]}, [[]])


@pytest.mark.parametrize("kind", ["deepfm", "widedeep", "neumf"])
def test_models_with_pairwise_terms_learn_an_interaction_that_lr_cannot(kind: str) -> None:
    train, y, valid, vy = encoded()
    lr = CTRModel(model="lr", learning_rate=0.05, num_threads=1, epochs=20).fit(train, y, valid, vy, seed=0)
    assert auc(vy, lr.predict_proba(valid)) < 0.6
    deep = CTRModel(model=kind, learning_rate=0.01, num_threads=1, epochs=40, patience=5).fit(
        train, y, valid, vy, seed=0
    )
    assert auc(vy, deep.predict_proba(valid)) > 0.95


def test_early_stopping_keeps_the_best_epoch_and_seeds_repeat() -> None:
    train, y, valid, vy = encoded()
    a = CTRModel(model="deepfm", num_threads=1, epochs=6, patience=2).fit(train, y, valid, vy, seed=3)
    b = CTRModel(model="deepfm", num_threads=1, epochs=6, patience=2).fit(train, y, valid, vy, seed=3)
    np.testing.assert_array_equal(a.predict_proba(valid), b.predict_proba(valid))
    losses = [h["valid_logloss"] for h in a.training_["history"]]
    assert a.training_["best_valid_logloss"] == pytest.approx(min(losses))
    assert a.training_["best_epoch"] == int(np.argmin(losses)) + 1


def test_threads_and_seed_hold_for_the_fit_only() -> None:
    """A CTR fit sets torch's thread count and seed for its own duration: the caller's are untouched."""
    import torch

    train, y, valid, vy = encoded()
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    CTRModel(model="deepfm", num_threads=threads + 1, epochs=2).fit(train, y, valid, vy, seed=0)
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.rand(3), expected)


def test_save_load_round_trip(tmp_path: Path) -> None:
    train, y, valid, vy = encoded()
    model = CTRModel(model="neumf", num_threads=1, epochs=2).fit(train, y, valid, vy, seed=0)
    loaded = CTRModel.load(model.save(tmp_path / "ctr"))
    np.testing.assert_array_equal(loaded.predict_proba(valid), model.predict_proba(valid))


def test_errors_name_the_problem() -> None:
    train, y, valid, vy = encoded()
    with pytest.raises(ValueError, match="model must be one of"):
        CTRModel(model="xgboost")
    with pytest.raises(ValueError, match="0 or 1"):
        CTRModel(num_threads=1).fit(train, y * 4, valid, vy)
    with pytest.raises(ValueError, match="labels for"):
        CTRModel(num_threads=1).fit(train, y[:10], valid, vy)
    with pytest.raises(NotFittedError):
        CTRModel().predict_proba(valid)


def test_movielens_demographics(ml100k_dir: Path) -> None:
    users = load_movielens_users(ml100k_dir)
    assert len(users) == 943 and users["user"].is_unique
    assert set(users["gender"]) == {"F", "M"}
    assert users.loc[users["user"] == 1, ["age", "occupation", "zip"]].iloc[0].tolist() == [
        24,
        "technician",
        "85711",
    ]


def test_broken_demographics_name_file_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "u.user").write_text("1|24|M|technician|85711\n2|old|F|other|94043\n")
    with pytest.raises(DataError, match=r"u\.user.*line 2, column age.*'old'"):
        load_movielens_users(tmp_path)
    (tmp_path / "u.user").write_text("1|24|M|technician|85711\n1|30|F|other|94043\n")
    with pytest.raises(DataError, match="line 2: user 1 is listed twice"):
        load_movielens_users(tmp_path)
    (tmp_path / "u.user").unlink()
    with pytest.raises(DataError, match="no user demographics"):
        load_movielens_users(tmp_path)


def test_multi_task_fusion_needs_the_auxiliary_target_and_changes_the_model() -> None:
    train, y, valid, vy = encoded()
    with pytest.raises(ValueError, match="aux="):
        CTRModel(model="deepfm", aux_weight=0.5, num_threads=1).fit(train, y, valid, vy)
    # an auxiliary target that carries the click signal (noisy) on top of the click labels
    aux = y + np.random.default_rng(0).normal(0, 0.5, y.size)
    plain = CTRModel(model="deepfm", num_threads=1, epochs=3).fit(train, y, valid, vy, seed=0)
    fused = CTRModel(model="deepfm", aux_weight=1.0, num_threads=1, epochs=3).fit(
        train, y, valid, vy, seed=0, aux=aux
    )
    assert not np.allclose(plain.predict_proba(valid), fused.predict_proba(valid))
    with pytest.raises(ValueError, match="aux_weight must be"):
        CTRModel(aux_weight=-1.0)


def dense_task(seed: int = 0):  # type: ignore[no-untyped-def]
    """Click iff the item's dense vector (a stand-in for its text embedding) points along a hidden
    direction; validation items never occur in training, so their id says nothing and only the dense
    field can rank them."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(400, 8)).astype(np.float32)
    likes = (vectors @ rng.normal(size=8) > 0).astype(np.float32)

    def part(items: np.ndarray, n: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        item = rng.choice(items, n)
        user = rng.integers(0, 50, n).astype(str)
        return {"user": user, "item": item.astype(str)}, vectors[item], likes[item]

    cols, dense, y = part(np.arange(300), 4000)
    vcols, vdense, vy = part(np.arange(300, 400), 1000)
    enc = FieldEncoder().fit(cols)
    return enc.transform(cols), dense, y, enc.transform(vcols), vdense, vy


@pytest.mark.parametrize("kind", ["lr", "widedeep", "deepfm", "neumf"])
def test_dense_text_field_ranks_items_never_seen_in_training(kind: str) -> None:
    train, dense, y, valid, vdense, vy = dense_task()
    params = {"model": kind, "num_threads": 1, "epochs": 30, "patience": 5, "learning_rate": 0.01}
    ids_only = CTRModel(**params).fit(train, y, valid, vy, seed=0)
    assert auc(vy, ids_only.predict_proba(valid)) < 0.6  # cold items are all "unknown"
    with_text = CTRModel(**params).fit(train.with_dense(dense), y, valid.with_dense(vdense), vy, seed=0)
    assert auc(vy, with_text.predict_proba(valid.with_dense(vdense))) > 0.9


def test_dense_field_errors_and_persistence(tmp_path: Path) -> None:
    train, dense, y, valid, vdense, vy = dense_task()
    with pytest.raises(ValueError, match=r"must be \(n_examples=4000, k\)"):
        train.with_dense(dense[:10])
    broken = dense.copy()
    broken[7, 2] = np.nan
    with pytest.raises(ValueError, match="first at example 7"):
        train.with_dense(broken)
    model = CTRModel(model="deepfm", num_threads=1, epochs=2, aux_weight=0.5).fit(
        train.with_dense(dense), y, valid.with_dense(vdense), vy, seed=0, aux=y
    )
    with pytest.raises(ValueError, match="trained with 8 dense features"):
        model.predict_proba(valid)
    loaded = CTRModel.load(model.save(tmp_path / "dense"))
    np.testing.assert_array_equal(
        loaded.predict_proba(valid.with_dense(vdense)), model.predict_proba(valid.with_dense(vdense))
    )
