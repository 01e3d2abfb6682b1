"""Bayesian search with Optuna and the edges of grid searches: determinism, selection on validation only,
pruning of epoch-trained trials, and grids widened (or flagged) when the selection sits on an edge.
(Schema errors of Optuna spaces are among test_schema.py's BAD_FILES.)"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from lmrec.data.synthetic import synthetic_log
from lmrec.distributed.engine import LocalEngine
from lmrec.experiment.config import parse_experiment
from lmrec.experiment.pipeline import run_experiment
from lmrec.experiment.prepare import prepare
from lmrec.experiment.runner import run_model
from lmrec.experiment.search import grid_edges, step_beyond
from lmrec.models import registry
from lmrec.models.ease import EASE

pytest.importorskip("optuna", reason="optuna is installed by scripts/setup.sh (extra 'tune')")


@pytest.fixture(scope="module")
def log_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # popularity-shaped synthetic log: EASE's validation NDCG@10 rises with reg up to a peak at 5000
    data = synthetic_log(n_users=300, n_items=120, n_interactions=6000, seed=3)
    path = tmp_path_factory.mktemp("logs") / "events.csv"
    data.to_frame().to_csv(path, index=False)
    return path


def experiment(path: Path, models: list[dict[str, Any]], seed: int = 7):  # type: ignore[no-untyped-def]
    return parse_experiment(
        {
            "name": "search",
            "seed": seed,
            "dataset": {"path": str(path), "format": "tabular"},
            "cleaning": {"duplicates": "keep_first"},
            "split": {"method": "temporal_ratio", "params": {"train": 0.8, "valid": 0.1}},
            "evaluation": {"ns": [10], "metrics": ["ndcg", "recall"], "significance": False},
            "save_models": False,
            "models": models,
        }
    )


def _best_valid(model: dict[str, Any]) -> dict[str, Any]:
    return max((t for t in model["trials"] if not t["pruned"]), key=lambda t: t["valid"]["NDCG@10"])


# --- Optuna ---------------------------------------------------------------------------------------------


OPTUNA_EASE = {"name": "ease", "search": {"optuna": {"reg": {"loguniform": [1.0, 100000.0]}}, "n_trials": 6}}


def test_optuna_is_deterministic_and_selects_the_best_on_validation(log_csv: Path, tmp_path: Path) -> None:
    first = run_experiment(experiment(log_csv, [OPTUNA_EASE]), out=tmp_path / "a")["models"][0]
    again = run_experiment(experiment(log_csv, [OPTUNA_EASE]), out=tmp_path / "b")["models"][0]
    other = run_experiment(experiment(log_csv, [OPTUNA_EASE], seed=8), out=tmp_path / "c")["models"][0]
    params = [t["params"] for t in first["trials"]]
    assert len(params) == 6 and all(1.0 <= p["reg"] <= 100000.0 for p in params)
    assert params == [t["params"] for t in again["trials"]]  # same file, same trials
    assert [t["valid"] for t in first["trials"]] == [t["valid"] for t in again["trials"]]
    assert params != [t["params"] for t in other["trials"]]  # the sampler follows the experiment seed
    assert first["selected"] == _best_valid(first)["params"]
    assert first["search"]["method"] == "optuna" and first["search"]["trials"] == 6
    assert first["search"]["pruner"] == "none (the model does not train in epochs)"
    saved = json.loads((tmp_path / "a" / "results.json").read_text())["models"][0]
    assert saved["trials"] == first["trials"] and "edge" not in saved
    for trial in saved["trials"]:
        assert trial["pruned"] is False and trial["repeat_of"] is None and trial["fit_seconds"] > 0
    board = (tmp_path / "a" / "leaderboard.md").read_text()
    assert "## Hyper-parameter search (validation split)" in board and "| optuna |" in board


class SpyEASE(EASE):
    fitted: ClassVar[list[Any]] = []

    def _fit(self, data, rng):  # type: ignore[no-untyped-def]
        SpyEASE.fitted.append(data)
        super()._fit(data, rng)


def test_optuna_repeats_are_not_refitted_and_no_fit_sees_test(
    log_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    SpyEASE.fitted = []
    monkeypatch.setitem(registry.MODELS, "ease", f"{__name__}:SpyEASE")
    spec = {"name": "ease", "search": {"optuna": {"reg": [10.0, 1000.0]}, "n_trials": 5}}
    exp = experiment(log_csv, [spec])
    model = run_experiment(exp, out=tmp_path)["models"][0]
    trials = model["trials"]
    assert len(trials) == 5 and {t["params"]["reg"] for t in trials} == {10.0, 1000.0}
    fitted = [t for t in trials if t["repeat_of"] is None]
    assert len(fitted) == 2 and model["search"]["fits"] == 2
    for t in trials:
        if t["repeat_of"] is not None:
            assert t["valid"] == trials[t["repeat_of"]]["valid"] and t["fit_seconds"] == 0.0
    assert len(SpyEASE.fitted) == 3  # two trials on train, one refit on train+valid
    split = prepare(exp).split
    test = set(zip(split.test.users.tolist(), split.test.items.tolist(), strict=True))
    for data in SpyEASE.fitted:
        assert not test & set(zip(data.users.tolist(), data.items.tolist(), strict=True))
    assert model["selected"] == {"reg": 1000.0}  # the better one on validation (the curve rises to 5000)


SMALL_SASREC = {"embedding_size": 16, "epochs": 30, "batch_size": 32, "dropout": 0.0, "patience": 3,
                "num_threads": 1}  # fmt: skip


@pytest.fixture(scope="module")
def walk_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lmrec.testing.datasets import successor_sequences

    data = successor_sequences(n_users=150, n_items=30, min_len=6, max_len=14, seed=4).data
    path = tmp_path_factory.mktemp("walks") / "walks.csv"
    data.to_frame().to_csv(path, index=False)
    return path


def walk_experiment(path: Path, search: dict[str, Any]):  # type: ignore[no-untyped-def]
    return parse_experiment(
        {
            "name": "walks",
            "seed": 3,
            "dataset": {"path": str(path), "format": "tabular"},
            "cleaning": {"duplicates": "keep_all"},
            "split": {"method": "leave_one_out"},
            "evaluation": {"ns": [10], "metrics": ["ndcg"], "significance": False},
            "save_models": False,
            "models": [{"name": "sasrec", "params": SMALL_SASREC, "refit": "train", "search": search}],
        }
    )


def test_epoch_report_stops_a_sequence_model_and_marks_it_pruned(walk_csv: Path) -> None:
    pytest.importorskip("torch")
    from lmrec.models.fit_context import FitContext, Validation
    from lmrec.models.sequential.sasrec import SASRec

    split = prepare(walk_experiment(walk_csv, {"grid": {"learning_rate": [0.005]}})).split
    seen: list[tuple[int, float]] = []

    def report(epoch: int, value: float) -> bool:
        seen.append((epoch, value))
        return epoch >= 2

    model = SASRec(**SMALL_SASREC, learning_rate=0.005).fit(
        split.train,
        seed=3,
        validation=Validation(targets=split.valid, history=split.train),
        context=FitContext(epoch_report=report),
    )
    assert [e for e, _ in seen] == [1, 2]
    assert model.training_["epochs_run"] == 2 and model.training_["pruned"] is True
    assert model.training_["stopped_early"] is False  # the search stopped it, not patience
    assert SASRec.reports_epochs and not EASE.reports_epochs


def test_median_pruner_stops_bad_sasrec_trials_early(walk_csv: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from lmrec.models.fit_context import Validation
    from lmrec.models.sequential.sasrec import SASRec

    search = {"optuna": {"learning_rate": {"loguniform": [1.0e-5, 3.0e-2]}}, "n_trials": 6}
    exp = walk_experiment(walk_csv, search)
    model = run_experiment(exp, out=tmp_path)["models"][0]
    pruned = [t for t in model["trials"] if t["pruned"]]
    assert pruned, [t["training"] for t in model["trials"]]
    assert model["search"]["pruner"] == "median" and model["search"]["pruned"] == len(pruned)
    for t in pruned:
        assert t["training"]["pruned"] is True and t["params"] != model["selected"]
    assert model["selected"] == _best_valid(model)["params"]
    # the pruned trial's configuration, trained without a pruner, runs more epochs: pruning cut it short
    victim = pruned[0]
    split = prepare(exp).split
    params = {k: v for k, v in victim["params"].items() if k != "epochs"}  # epochs = its best epoch
    alone = SASRec(**params).fit(split.train, seed=exp.seed, validation=Validation(split.valid, split.train))
    assert victim["training"]["epochs_run"] < alone.training_["epochs_run"]


# --- grid edges -----------------------------------------------------------------------------------------


def test_step_beyond_is_geometric_for_log_spaced_grids_else_arithmetic() -> None:
    assert step_beyond([1.0, 10.0, 100.0], "largest") == 1000.0
    assert step_beyond([1.0, 10.0, 100.0], "smallest") == 0.1
    assert step_beyond([25, 50, 100, 200, 300, 500, 1000, 2000], "largest") == 4000  # ints stay ints
    assert step_beyond([1, 3, 10, 30], "largest") == 90
    assert step_beyond([100, 200, 300], "largest") == 400
    assert step_beyond([100, 200, 300], "smallest") == 0
    assert step_beyond([0.0, 10.0, 50.0, 100.0], "largest") == 150.0  # 0 is not log-spaced
    assert step_beyond([1, 2, 3], "smallest") == 0
    assert step_beyond([0.5, 1.0, 2.0], "smallest") == 0.25
    assert step_beyond([1, 2, 4], "smallest") == 0  # the model's config may refuse it: see _widen
    with pytest.raises(ValueError, match="3 or more"):
        step_beyond([1.0, 2.0], "largest")


def test_grid_edges_need_three_numbers() -> None:
    grid = {"reg": [1.0, 10.0, 100.0], "k": [10, 20], "norm": ["a", "b", "c"], "alpha": [0.1, 0.5, 1.0]}
    assert grid_edges(grid, {"reg": 100.0, "k": 20, "norm": "c", "alpha": 0.5}) == {"reg": "largest"}
    assert grid_edges(grid, {"reg": 1.0, "k": 10, "alpha": 0.1}) == {"reg": "smallest", "alpha": "smallest"}


def test_a_selection_on_the_edge_is_flagged_loudly(
    log_csv: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = {"name": "ease", "search": {"grid": {"reg": [1.0, 2.0, 4.0]}}}
    with caplog.at_level(logging.WARNING, logger="lmrec.search"):
        model = run_experiment(experiment(log_csv, [spec]), out=tmp_path)["models"][0]
    assert model["selected"] == {"reg": 4.0} and model["edge"] == ["reg"]
    assert len(model["trials"]) == 3 and "widened" not in model["search"]
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1 and warning[0].startswith("WARNING: ease: the selected reg=4.0 is the largest")
    assert "set `widen: true`" in warning[0]
    assert json.loads((tmp_path / "results.json").read_text())["models"][0]["edge"] == ["reg"]
    assert (
        "**WARNING: selection on the edge of its grid** (ease: reg=4.0)"
        in (tmp_path / "leaderboard.md").read_text()
    )


def test_widening_finds_the_peak_beyond_a_grid_that_is_too_small(log_csv: Path, tmp_path: Path) -> None:
    spec = {"name": "ease", "search": {"grid": {"reg": [625.0, 1250.0, 2500.0]}, "widen": True}}
    model = run_experiment(experiment(log_csv, [spec]), out=tmp_path)["models"][0]
    assert model["search"]["widened"] == [{"reg": 5000.0}, {"reg": 10000.0}]
    assert [t["params"]["reg"] for t in model["trials"]] == [625.0, 1250.0, 2500.0, 5000.0, 10000.0]
    assert model["selected"] == {"reg": 5000.0} == _best_valid(model)["params"]
    assert "edge" not in model  # 5000 sits inside the widened grid


def test_widening_gives_up_after_two_rounds_and_flags_the_edge(
    log_csv: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = {"name": "ease", "search": {"grid": {"reg": [1.0, 2.0, 4.0]}, "widen": True}}
    with caplog.at_level(logging.WARNING, logger="lmrec.search"):
        model = run_experiment(experiment(log_csv, [spec]), out=tmp_path)["models"][0]
    assert model["search"]["widened"] == [{"reg": 8.0}, {"reg": 16.0}]
    assert model["selected"] == {"reg": 16.0} and model["edge"] == ["reg"]
    assert any("after 2 widening(s)" in r.getMessage() for r in caplog.records)


class ParallelLocal(LocalEngine):
    """The engine path of the search (one task per candidate) run in this process."""

    parallel = True
    calls: ClassVar[int] = 0

    def map(self, fn, items, shared, *, cpus_per_item=1, describe=None):  # type: ignore[no-untyped-def]
        ParallelLocal.calls += 1
        return super().map(fn, items, shared)


def test_widening_runs_through_an_engine_with_the_same_trials(log_csv: Path) -> None:
    spec = {"name": "ease", "search": {"grid": {"reg": [625.0, 1250.0, 2500.0]}, "widen": True}}
    exp = experiment(log_csv, [spec])
    prep = prepare(exp)
    local = run_model(exp, exp.models[0], prep)
    ParallelLocal.calls = 0
    engine = run_model(exp, exp.models[0], prep, engine=ParallelLocal())
    assert ParallelLocal.calls >= 3  # the grid, then one map per widening (and the test evaluation)
    assert [t.valid for t in engine.trials] == [t.valid for t in local.trials]
    assert engine.selected == local.selected and engine.test == local.test
    assert np.array_equal(engine.lists, local.lists)  # type: ignore[arg-type]


def test_a_grid_over_a_scoring_param_fits_once_per_fit_setting(log_csv: Path) -> None:
    """ease_recency's recency changes scoring only (`scoring_params`): in this process the grid is fitted
    once per reg, each other recency rescoring that fit, with the very validation scores, selection and
    test of fitting every candidate (the engine path fits each)."""
    spec = {"name": "ease_recency", "search": {"grid": {"recency": [0.0, 1.0, 2.0], "reg": [10.0, 300.0]}}}
    exp = experiment(log_csv, [spec])
    prep = prepare(exp)
    local = run_model(exp, exp.models[0], prep)
    order = [(t.params["reg"], t.params["recency"]) for t in local.trials]
    assert order == [(r, c) for r in (10.0, 300.0) for c in (0.0, 1.0, 2.0)]  # grouped by the fit
    assert [t.fit_of for t in local.trials] == [None, 0, 0, None, 3, 3]
    assert local.search["fits"] == 2 and local.search["trials"] == 6
    engine = run_model(exp, exp.models[0], prep, engine=ParallelLocal())
    assert all(t.fit_of is None for t in engine.trials) and engine.search["fits"] == 6
    fitted_each = {(t.params["reg"], t.params["recency"]): t.valid for t in engine.trials}
    assert {pair: t.valid for pair, t in zip(order, local.trials, strict=True)} == fitted_each
    assert len({t.valid["NDCG@10"] for t in local.trials}) > 2  # recency does change the scores
    assert engine.selected == local.selected and engine.test == local.test


def test_a_kept_rescored_trial_reports_the_fit_it_shares(log_csv: Path) -> None:
    """refit: train keeps the selected trial's model; when that trial rescored an earlier fit, its fit
    time is that fit's plus the rescoring (not the near-zero rescoring alone)."""
    grid = {"recency": [0.0, 1.0, 2.0], "reg": [10.0, 300.0]}
    exp = experiment(log_csv, [{"name": "ease_recency", "refit": "train", "search": {"grid": grid}}])
    result = run_model(exp, exp.models[0], prepare(exp))
    chosen = next(t for t in result.trials if t.params == result.selected)
    assert chosen.fit_of is not None  # this log selects reg 300 at recency 1: a rescored trial
    fit = result.timings["fit"]
    assert fit["reused_selected_trial"] and fit["rescored_fit_of_trial"] == chosen.fit_of
    assert fit["seconds"] >= result.trials[chosen.fit_of].fit_seconds > chosen.fit_seconds


def test_a_candidate_without_a_scoring_param_is_rescored_with_its_default() -> None:
    from lmrec.experiment.tuning import scoring_values
    from lmrec.models.ease_recency import RecencyEASE, RecencyEASEConfig

    default = RecencyEASEConfig().recency
    assert scoring_values(RecencyEASE, {"reg": 10.0}) == {"recency": default}
    assert scoring_values(RecencyEASE, {"reg": 10.0, "recency": 3.0}) == {"recency": 3.0}


def test_specs_without_the_new_search_options_keep_their_resume_fingerprint() -> None:
    from lmrec.experiment.config import ModelSpec, SearchSpec
    from lmrec.experiment.resume import _digest, spec_fingerprint

    spec = ModelSpec(name="ease", search=SearchSpec(grid={"reg": [1.0, 2.0, 4.0]}))
    before = dataclasses.asdict(spec)  # the record an lmrec without optuna/widen fingerprinted
    before["search"] = {k: before["search"][k] for k in ("grid", "random", "n_iter")}
    assert spec_fingerprint(spec) == _digest(before)
    widened = dataclasses.replace(spec, search=SearchSpec(grid={"reg": [1.0, 2.0, 4.0]}, widen=True))
    assert spec_fingerprint(widened) != spec_fingerprint(spec)
