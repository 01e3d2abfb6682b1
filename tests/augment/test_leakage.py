"""No synthetic row reaches evaluation: pseudo-interactions are model input only. Checked on the data
(`check_augmented`, `assert_no_synthetic`) and on what the runner actually hands the evaluator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lmrec.augment import Augmented, make_augmenter
from lmrec.data.interactions import Interactions
from lmrec.data.leakage import assert_no_synthetic, check_augmented
from lmrec.data.splits import temporal_ratio
from lmrec.data.synthetic import synthetic_log
from lmrec.errors import LeakageError
from lmrec.experiment import augmentation as exp_augmentation
from lmrec.experiment import runner
from lmrec.experiment.config import parse_experiment
from lmrec.experiment.pipeline import run_experiment
from lmrec.experiment.prepare import prepare
from lmrec.models.persistence import load_model


@pytest.fixture(scope="module")
def split():  # type: ignore[no-untyped-def]
    return temporal_ratio(
        synthetic_log(n_users=150, n_items=60, n_interactions=2000, seed=4), train=0.8, valid=0.1
    )


@pytest.fixture(scope="module")
def augmented(split) -> Augmented:  # type: ignore[no-untyped-def]
    return make_augmenter("popularity", amount=3).augment(split.train, seed=0)


def test_a_real_augmentation_passes_the_checks(split, augmented) -> None:  # type: ignore[no-untyped-def]
    report = check_augmented(augmented, split.train)
    assert report.rows == {"real": len(split.train), "synthetic": augmented.n_synthetic}
    assert report.checks == ("real rows", "synthetic pairs new", "synthetic before real")
    parts = {
        "train": split.train,
        "valid": split.valid,
        "test": split.test,
        "train+valid": split.train_valid(),
    }
    assert_no_synthetic(augmented, parts)  # no split part holds a pseudo event


def _cols(data: Interactions) -> tuple[Any, ...]:
    return data.users, data.items, data.timestamps


def _with(augmented: Augmented, data: Interactions, mask: np.ndarray) -> Augmented:
    return Augmented(data, mask, augmented.method)


def test_an_unmarked_extra_row_is_caught(split, augmented) -> None:  # type: ignore[no-untyped-def]
    unmarked = _with(augmented, augmented.data, np.zeros(len(augmented.data), bool))
    with pytest.raises(LeakageError, match="unmarked rows are not the"):
        check_augmented(unmarked, split.train)
    # a held-out test event copied in as if it were synthetic is caught: not before the user's first event
    test_row = split.test.subset(np.arange(len(split.test)) == 0)
    smuggled = augmented.data.concat(test_row)
    mask = ~np.isin(smuggled.pair_keys(), split.train.pair_keys())
    with pytest.raises(LeakageError, match="not before their user's first real event"):
        check_augmented(_with(augmented, smuggled, mask), split.train)


def test_a_synthetic_row_repeating_a_real_pair_is_caught(split, augmented) -> None:  # type: ignore[no-untyped-def]
    mask = augmented.synthetic.copy()
    mask[np.flatnonzero(~mask)[0]] = True  # a real row marked synthetic
    with pytest.raises(LeakageError, match="unmarked rows are not the"):
        check_augmented(_with(augmented, augmented.data, mask), split.train)
    with pytest.raises(LeakageError, match="repeat a pair of the real data"):
        check_augmented(_with(augmented, augmented.data, mask), split.train)


def test_augmented_data_used_as_history_is_caught(augmented) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LeakageError, match=r"\d+ history event\(s\) are synthetic"):
        assert_no_synthetic(augmented, {"history": augmented.data})


def test_the_evaluator_never_sees_a_synthetic_row(
    experiment_doc: Callable[..., dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spy on the runner: each fit gets augmented data, yet every history and target set handed to the
    evaluator is the split's own part, holding none of the pseudo events (sequences included); the saved
    models keep the real log as their users' history."""
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path / "cache"))
    made: list[tuple[Augmented, Interactions]] = []
    real_check = exp_augmentation.check_augmented

    def spy_check(aug, source, **kw):  # type: ignore[no-untyped-def]
        made.append((aug, source))
        return real_check(aug, source, **kw)

    seen: list[dict[str, Any]] = []
    real_evaluate = runner.evaluate_ranking

    def spy_evaluate(model, targets, history, **kw):  # type: ignore[no-untyped-def]
        seen.append({"targets": targets, "history": history, "sequences": kw.get("sequences")})
        return real_evaluate(model, targets, history, **kw)

    monkeypatch.setattr(exp_augmentation, "check_augmented", spy_check)
    monkeypatch.setattr(runner, "evaluate_ranking", spy_evaluate)
    doc = experiment_doc(
        [
            {"name": "itemknn", "augmentation": {"method": "itemknn", "amount": 4}},
            {"name": "content", "item_text": {"encoder": "tfidf:8"}, "augmentation": {"method": "text"}},
        ],
        save_models=True,
    )
    exp = parse_experiment(doc)
    split = prepare(exp).split
    run_experiment(exp, out=tmp_path / "run")

    def same(a: Interactions, b: Interactions) -> bool:
        return all(np.array_equal(x, y) for x, y in zip(_cols(a), _cols(b), strict=True))

    # what was augmented: train for the search fits, train+valid for the refits, in that order
    assert [
        same(src, want) for (_, src), want in zip(made, [split.train, split.train_valid()] * 2, strict=True)
    ] == [True] * 4
    assert all(aug.n_synthetic > 0 for aug, _ in made)  # the fits did get pseudo rows
    stages = {
        "valid": (split.valid, split.train),
        "test": (split.test, split.train_valid()),  # refit train+valid: history = train + valid
    }
    assert len(seen) == 4  # two models x (validation, test)
    for call, stage in zip(seen, ["valid", "test"] * 2, strict=True):
        targets, history = stages[stage]
        assert (call["targets"] != targets.csr()).nnz == 0
        assert (call["history"] != history.csr()).nnz == 0
        if call["sequences"] is not None:  # the content model reads ordered histories
            for got, want in zip(call["sequences"], history.sequences(), strict=True):
                np.testing.assert_array_equal(got, want)
        for aug, source in made:  # (the equalities above are the check; this says which rows they kept out)
            if len(source) >= len(history):  # history within the augmented data: its pseudo pairs are new
                syn = aug.synthetic_rows()
                assert not np.asarray(call["history"][syn.users, syn.items]).any()
    assert sum(c["sequences"] is not None for c in seen) == 2  # the content model got ordered histories
    # the saved models keep the real fit data (train+valid) as their users' history, in time order
    real = split.train_valid()
    for label, (aug, _) in zip(("itemknn+itemknn", "content+text"), (made[1], made[3]), strict=True):
        saved = load_model(tmp_path / "run" / "models" / label)
        assert (saved.history_ != real.csr()).nnz == 0
        # and say what they were fitted on: the refit's augmentation
        record = saved.training_["augmentation"]
        assert (record["fit_data"], record["method"]) == ("train+valid", aug.method)
        assert (record["rows_real"], record["rows_synthetic"]) == (len(real), aug.n_synthetic)
        for user in range(0, real.n_users, 7):
            want = real.sequences()[user] if label.startswith("content") else np.sort(real.sequences()[user])
            np.testing.assert_array_equal(saved.user_history(user), want)


def test_early_stopping_watches_real_validation_data(
    experiment_doc: Callable[..., dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model that early-stops on validation (`supports_validation`) is fitted on the augmented log, yet
    the validation it watches while training holds the split's own targets and history (train), no
    pseudo event."""
    pytest.importorskip("torch", reason="torch is installed by scripts/setup.sh (extra 'lm')")
    from lmrec.models.sequential.sasrec import SASRec

    monkeypatch.setenv("LMREC_CACHE", str(tmp_path / "cache"))
    fits: list[tuple[Interactions, Any]] = []
    real_fit = SASRec.fit

    def spy_fit(self, data, **kw):  # type: ignore[no-untyped-def]
        fits.append((data, kw.get("validation")))
        return real_fit(self, data, **kw)

    monkeypatch.setattr(SASRec, "fit", spy_fit)
    params = {"embedding_size": 8, "n_blocks": 1, "max_len": 10, "epochs": 2, "eval_every": 1}
    doc = experiment_doc(
        [{"name": "sasrec", "params": params, "augmentation": {"method": "popularity", "amount": 3}}],
        evaluation={"ns": [10], "metrics": ["ndcg"], "select_by": "NDCG@10", "refit": "train"},
    )
    exp = parse_experiment(doc)
    split = prepare(exp).split
    run_experiment(exp, out=tmp_path / "run")
    assert fits, "SASRec was never fitted"
    for data, validation in fits:
        assert len(data) > len(split.train)  # the fit data did get pseudo rows
        assert validation is not None
        assert (validation.targets.csr() != split.valid.csr()).nnz == 0
        assert (validation.history.csr() != split.train.csr()).nnz == 0
        for got, want in zip(validation.history.sequences(), split.train.sequences(), strict=True):
            np.testing.assert_array_equal(got, want)
