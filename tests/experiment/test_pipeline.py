"""End-to-end runs of experiment files, and proof that no test event reaches any fit."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from lmrec.data.synthetic import synthetic_log
from lmrec.errors import ConfigError
from lmrec.experiment import runner
from lmrec.experiment.config import parse_experiment
from lmrec.experiment.pipeline import run_experiment
from lmrec.models import registry
from lmrec.models.popularity import Popularity


@pytest.fixture(scope="module")
def log_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = synthetic_log(n_users=300, n_items=120, n_interactions=6000, seed=3)
    path = tmp_path_factory.mktemp("logs") / "events.csv"
    data.to_frame().rename(columns={"user": "uid", "item": "iid", "timestamp": "ts"}).to_csv(
        path, index=False
    )
    return path


def exp_evaluation() -> dict[str, object]:
    return {"ns": [5, 10], "metrics": ["ndcg", "recall", "hit_rate"], "select_by": "NDCG@10"}


def experiment(log_csv: Path, **overrides):  # type: ignore[no-untyped-def]
    spec = {
        "name": "tiny",
        "seed": 7,
        "dataset": {
            "path": str(log_csv),
            "format": "tabular",
            "columns": {"user": "uid", "item": "iid", "timestamp": "ts"},
        },
        "cleaning": {"duplicates": "keep_first"},
        "split": {"method": "temporal_ratio", "params": {"train": 0.8, "valid": 0.1}},
        "evaluation": exp_evaluation(),
        "models": [
            {"name": "pop"},
            {"name": "itemknn", "search": {"grid": {"k": [5, 50], "shrink": [0.0, 10.0]}}},
            {"name": "ease", "search": {"grid": {"reg": [10.0, 1000.0]}}},
        ],
    }
    spec.update(overrides)
    return parse_experiment(spec)


def test_run_writes_results_and_selects_on_validation(log_csv: Path, tmp_path: Path) -> None:
    results = run_experiment(experiment(log_csv), out=tmp_path)
    for name in ("results.json", "per_user.parquet", "leaderboard.md"):
        assert (tmp_path / name).is_file()
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert [m["label"] for m in on_disk["models"]] == ["pop", "itemknn", "ease"]
    for model in on_disk["models"]:
        best = max(model["trials"], key=lambda t: t["valid"]["NDCG@10"])
        assert model["selected"] == best["params"]
        assert 0.0 <= model["test"]["NDCG@10"] <= 1.0
    assert len(on_disk["models"][1]["trials"]) == 4
    assert on_disk["data"]["leakage_check"]["checks"]
    per_user = pd.read_parquet(tmp_path / "per_user.parquet")
    assert set(per_user["model"]) == {"pop", "itemknn", "ease"}
    # paired tests compare every model against the best one on the same users
    assert len(results["significance"]) == 2
    # saved models reload and score identically
    from lmrec.models.base import Recommender

    ease = Recommender.load(tmp_path / "models" / "ease")
    assert ease.score(np.array([0, 1])).shape == (2, ease.n_items)


class SpyPopularity(Popularity):
    """Records every log it is fitted on."""

    fits: ClassVar[list] = []

    def _fit(self, data, rng):  # type: ignore[no-untyped-def]
        SpyPopularity.fits.append(data)
        super()._fit(data, rng)


def test_no_test_event_reaches_any_fit_and_test_is_scored_once(log_csv, tmp_path, monkeypatch) -> None:
    SpyPopularity.fits = []
    monkeypatch.setitem(registry.MODELS, "pop", f"{__name__}:SpyPopularity")  # built by make_model
    evaluations = []
    real_evaluate = runner.evaluate_ranking

    def counting(model, targets, history, **kw):  # type: ignore[no-untyped-def]
        evaluations.append(targets)
        return real_evaluate(model, targets, history, **kw)

    monkeypatch.setattr(runner, "evaluate_ranking", counting)
    exp = experiment(log_csv, models=[{"name": "pop", "search": {"grid": {"count": ["users", "events"]}}}])
    from lmrec.experiment.prepare import prepare

    split = prepare(exp).split
    run_experiment(exp, out=tmp_path)

    def events(x):  # type: ignore[no-untyped-def]
        return set(zip(x.users.tolist(), x.items.tolist(), x.timestamps.tolist(), strict=True))

    test_events, valid_events = events(split.test), events(split.valid)
    assert len(SpyPopularity.fits) == 3  # two search fits + one refit
    for fitted in SpyPopularity.fits:
        assert not events(fitted) & test_events
    for fitted in SpyPopularity.fits[:2]:  # search fits see train only
        assert not events(fitted) & valid_events
    test_csr = split.test.csr()
    scored_on_test = [t for t in evaluations if t.shape == test_csr.shape and (t != test_csr).nnz == 0]
    assert len(scored_on_test) == 1


def test_leaky_fit_data_is_refused(log_csv, tmp_path, monkeypatch) -> None:
    from lmrec.errors import LeakageError

    def leaky_train_valid(self):  # type: ignore[no-untyped-def]
        return self.train.concat(self.valid).concat(self.test)

    from lmrec.data.splits import Split

    monkeypatch.setattr(Split, "train_valid", leaky_train_valid)
    with pytest.raises(LeakageError):
        run_experiment(experiment(log_csv, models=[{"name": "pop"}]), out=tmp_path)


def test_user_sample_is_uniform_and_shared(log_csv, tmp_path) -> None:
    exp = experiment(log_csv, evaluation={"ns": [10], "metrics": ["ndcg"], "user_sample": 50})
    run_experiment(exp, out=tmp_path)
    per_user = pd.read_parquet(tmp_path / "per_user.parquet")
    users = per_user.groupby("model")["user"].apply(lambda s: tuple(sorted(s)))
    assert users.nunique() == 1 and len(users.iloc[0]) == 50


def test_sampled_negatives_are_labelled(log_csv, tmp_path) -> None:
    exp = experiment(
        log_csv,
        evaluation={"ns": [10], "metrics": ["ndcg"], "sampled_negatives": 5},
        models=[{"name": "pop"}, {"name": "ease", "params": {"reg": 100.0}}],
    )
    results = run_experiment(exp, out=tmp_path)
    assert all(k.endswith("[sampled-5]") for k in results["models"][0]["test"])


@pytest.mark.shared_data
def test_quickstart_subset_on_movielens(ml100k_dir: Path, tmp_path: Path) -> None:
    from lmrec.experiment.config import load_experiment

    exp = load_experiment(Path(__file__).parents[2] / "examples" / "quickstart.yaml")
    import dataclasses

    exp = dataclasses.replace(exp, models=tuple(m for m in exp.models if m.name in ("pop", "ease")))
    results = run_experiment(exp, out=tmp_path, data_path=str(ml100k_dir))
    test = {m["label"]: m["test"] for m in results["models"]}
    assert results["data"]["card"]["n_interactions"] == 100_000
    assert results["data"]["split"]["parts"]["test"]["users"] == 943
    # EASE is a strong baseline on ML-100K; popularity is the floor (observed ~0.13 vs ~0.08)
    assert test["ease"]["NDCG@10"] > test["pop"]["NDCG@10"] * 1.3
    assert (tmp_path / "models" / "ease" / "model.json").is_file()


def test_user_supplied_split_files_reproduce_the_same_numbers(log_csv: Path, tmp_path: Path) -> None:
    """Write a split to CSV files, run again from those files: identical test metrics."""
    from lmrec.experiment.prepare import prepare

    models = [{"name": "itemknn", "params": {"k": 20}}]
    base = experiment(log_csv, models=models)
    split = prepare(base).split
    paths = {}
    for part in ("train", "valid", "test"):
        paths[part] = tmp_path / f"{part}.csv"
        getattr(split, part).to_frame().rename(
            columns={"user": "uid", "item": "iid", "timestamp": "ts"}
        ).to_csv(paths[part], index=False)
    from_files = experiment(
        log_csv,
        models=models,
        split={
            "method": "files",
            "train": str(paths["train"]),
            "valid": str(paths["valid"]),
            "test": str(paths["test"]),
        },
    )
    a = run_experiment(base, out=tmp_path / "a")["models"][0]["test"]
    b = run_experiment(from_files, out=tmp_path / "b")["models"][0]["test"]
    assert a == pytest.approx(b, rel=1e-12)


def test_result_files_name_paths_relative_to_the_run(tmp_path: Path) -> None:
    from lmrec.experiment.report import portable_paths

    base = tmp_path / "project"
    text = f"{tmp_path}/shared/data/u.data:3 and {base}/runs/x and /etc/passwd"
    assert portable_paths(text, base) == "../shared/data/u.data:3 and runs/x and /etc/passwd"


def test_finished_models_survive_a_run_that_stops_early(log_csv, tmp_path, monkeypatch) -> None:
    real = runner.run_model
    calls = []

    def second_fails(exp, spec, prep, **kw):  # type: ignore[no-untyped-def]
        calls.append(spec.name)
        if len(calls) == 2:
            raise RuntimeError("stopped")
        return real(exp, spec, prep, **kw)

    from lmrec.experiment import pipeline

    monkeypatch.setattr(pipeline, "run_model", second_fails)
    with pytest.raises(RuntimeError, match="stopped"):
        run_experiment(experiment(log_csv), out=tmp_path)
    partial = json.loads((tmp_path / "partial_results.json").read_text())
    assert [m["label"] for m in partial["models"]] == ["pop"] and partial["complete"] is False
    assert not (tmp_path / "results.json").exists()
    monkeypatch.setattr(pipeline, "run_model", real)
    run_experiment(experiment(log_csv), out=tmp_path)
    assert (tmp_path / "results.json").is_file() and not (tmp_path / "partial_results.json").exists()


def _stop_at(n: int, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make the run's n-th model raise (a time limit); returns the models trained so far."""
    from lmrec.experiment import pipeline

    real = runner.run_model
    calls: list[str] = []

    def stopping(exp, spec, prep, **kw):  # type: ignore[no-untyped-def]
        calls.append(spec.display)
        if len(calls) == n:
            raise RuntimeError("stopped")
        return real(exp, spec, prep, **kw)

    monkeypatch.setattr(pipeline, "run_model", stopping)
    return calls


def test_resume_trains_only_the_models_a_stopped_run_did_not_finish(
    log_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = experiment(log_csv)
    full = run_experiment(exp, out=tmp_path / "full")
    _stop_at(3, monkeypatch)
    with pytest.raises(RuntimeError, match="stopped"):
        run_experiment(exp, out=tmp_path / "cut")
    assert (tmp_path / "cut" / "partial_per_user.parquet").is_file()
    calls = _stop_at(0, monkeypatch)  # counts the models trained by the resumed run
    resumed = run_experiment(exp, out=tmp_path / "cut", resume=True)
    assert calls == ["ease"]
    assert [m.get("resumed", False) for m in resumed["models"]] == [True, True, False]
    # the same numbers, paired tests included, as the run that never stopped
    for a, b in zip(full["models"], resumed["models"], strict=True):
        assert a["test"] == pytest.approx(b["test"], rel=1e-12) and a["config"] == b["config"]
    for a, b in zip(full["significance"], resumed["significance"], strict=True):
        assert a["t_pvalue"] == pytest.approx(b["t_pvalue"], rel=1e-9)
    assert not (tmp_path / "cut" / "partial_results.json").exists()
    assert not (tmp_path / "cut" / "partial_per_user.parquet").exists()
    # the resumed models' lists come from the stopped run: the report's files equal the full run's
    for name in ("recommendations.parquet", "per_user.parquet", "items.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "full" / name), pd.read_parquet(tmp_path / "cut" / name)
        )
    assert not (tmp_path / "cut" / "partial_recommendations.parquet").exists()


def test_resume_retrains_from_the_first_changed_model_and_refuses_another_setup(
    log_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = experiment(log_csv)
    _stop_at(3, monkeypatch)
    with pytest.raises(RuntimeError, match="stopped"):
        run_experiment(exp, out=tmp_path)
    changed = experiment(
        log_csv,
        models=[{"name": "pop"}, {"name": "itemknn", "params": {"k": 5}}, {"name": "ease"}],
    )
    from lmrec.experiment.resume import setup_fingerprint

    asks_a_pair = experiment(log_csv, evaluation={**exp_evaluation(), "pairs": [["pop", "ease"]]})
    assert setup_fingerprint(asks_a_pair) == setup_fingerprint(exp)  # extra tests change no model
    other_split = experiment(log_csv, seed=8)
    with pytest.raises(ConfigError, match="different data, cleaning, split, evaluation or seed"):
        run_experiment(other_split, out=tmp_path, resume=True)
    calls = _stop_at(0, monkeypatch)
    run_experiment(changed, out=tmp_path, resume=True)
    assert calls == ["itemknn", "ease"]  # pop reused; itemknn changed, so it and what follows retrain
    # nothing to resume: a plain run
    _stop_at(0, monkeypatch)
    results = run_experiment(exp, out=tmp_path / "empty", resume=True)
    assert not any(m.get("resumed") for m in results["models"])


def test_resumed_models_keep_the_hybrid_comparisons(
    log_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hybrid is compared with its best component also when either was resumed (no fitted model)."""
    blend = {"components": [{"name": "pop"}, {"name": "ease", "params": {"reg": 10.0}}], "fit_users": 0}
    exp = experiment(
        log_csv,
        models=[
            {"name": "pop"},
            {"name": "ease", "params": {"reg": 10.0}},
            {"name": "weighted", "params": blend},
            {"name": "itemknn", "params": {"k": 5}},
        ],
    )
    full = run_experiment(exp, out=tmp_path / "full")
    assert [h["best component"] for h in full["hybrid_vs_best_component"]] in (["pop"], ["ease"])
    _stop_at(4, monkeypatch)  # the hybrid finished, itemknn did not
    with pytest.raises(RuntimeError, match="stopped"):
        run_experiment(exp, out=tmp_path / "cut")
    _stop_at(0, monkeypatch)
    resumed = run_experiment(exp, out=tmp_path / "cut", resume=True)
    assert [m.get("resumed", False) for m in resumed["models"]] == [True, True, True, False]
    for a, b in zip(full["hybrid_vs_best_component"], resumed["hybrid_vs_best_component"], strict=True):
        assert a["best component"] == b["best component"]
        assert a["t_pvalue"] == pytest.approx(b["t_pvalue"], rel=1e-9)
    assert len(resumed["hybrid_vs_best_component"]) == 1


def test_requested_pairs_are_tested_and_reported(log_csv: Path, tmp_path: Path) -> None:
    exp = experiment(log_csv, evaluation={"ns": [10], "metrics": ["ndcg"], "pairs": [["pop", "ease"]]})
    results = run_experiment(exp, out=tmp_path)
    (pair,) = results["pairs"]
    tests = {m["label"]: m["test"]["NDCG@10"] for m in results["models"]}
    assert (pair["model"], pair["baseline"]) == ("ease", "pop")
    assert pair["mean_diff"] == pytest.approx(tests["ease"] - tests["pop"], abs=1e-12)
    board = (tmp_path / "leaderboard.md").read_text()
    assert "## Requested comparisons" in board and "model − baseline" in board


@pytest.mark.parametrize(
    ("pairs", "match"),
    [([["pop", "als"]], r"no model is labelled \['als'\]"), ([["pop", "pop"]], "two different labels")],
)
def test_requested_pairs_must_name_two_models_of_the_run(
    log_csv: Path, pairs: list[list[str]], match: str
) -> None:
    with pytest.raises((ConfigError, ValueError), match=match):
        experiment(log_csv, evaluation={"ns": [10], "metrics": ["ndcg"], "pairs": pairs})


def test_p1_peer_scores_from_train_and_still_excludes_train_valid(log_csv: Path, tmp_path: Path) -> None:
    """`test_input: train` (P1-peer): models fitted on train are given the train history at test; the
    validation events are still removed from the ranking; the tables say which input was used."""
    base = {**exp_evaluation(), "refit": "train"}
    models = [{"name": "itemknn", "params": {"k": 50}}]
    p1 = run_experiment(experiment(log_csv, evaluation=base, models=models), out=tmp_path / "p1")
    peer_exp = experiment(log_csv, evaluation={**base, "test_input": "train"}, models=models)
    peer = run_experiment(peer_exp, out=tmp_path / "peer")
    assert peer["experiment"]["evaluation"]["test_input"] == "train"
    assert p1["models"][0]["test"]["NDCG@10"] != peer["models"][0]["test"]["NDCG@10"]
    board = (tmp_path / "peer" / "leaderboard.md").read_text()
    assert "Fitted on: train; history at test: train; excluded from the ranking: train+valid" in board
    # no validation (or train) item of a user is in that user's evaluated list
    from lmrec.experiment.prepare import prepare

    split = prepare(peer_exp).split
    seen = split.train_valid().csr()
    lists = pd.read_parquet(tmp_path / "peer" / "recommendations.parquet")
    assert len(lists) > 0
    for user, items in zip(lists["user"], lists["items"], strict=True):
        assert not set(items.tolist()) & set(seen[user].indices.tolist())
    facts = pd.read_parquet(tmp_path / "peer" / "per_user.parquet")
    train_counts = split.train.user_counts()
    np.testing.assert_array_equal(facts["history_length"], train_counts[facts["user"]])


def test_p1_peer_needs_a_train_refit(log_csv: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("test_input 'train' needs evaluation.refit 'train'")):
        experiment(log_csv, evaluation={**exp_evaluation(), "test_input": "train"})
    with pytest.raises(ConfigError, match="test_input"):
        experiment(log_csv, evaluation={**exp_evaluation(), "test_input": "valid"})


def test_leaderboard_shows_each_models_validation_to_test_gap(log_csv: Path, tmp_path: Path) -> None:
    results = run_experiment(experiment(log_csv), out=tmp_path)
    board = (tmp_path / "leaderboard.md").read_text()
    header = next(line for line in board.splitlines() if line.startswith("| model"))
    assert "valid NDCG@10" in header and "valid−test" in header
    for m in results["models"]:
        best = max(t["valid"]["NDCG@10"] for t in m["trials"])
        row = next(line for line in board.splitlines() if line.startswith(f"| {m['label']} |"))
        assert f"{best - m['test']['NDCG@10']:.4f}" in row
