"""benchmarks/augment.py's aggregation over seeds on fabricated seed folders in tmp_path: seeds run by
different processes (or sessions) aggregate into one report, each seed's time and peak RSS come from its
entries' own records (also those of a resumed run's earlier processes), a model kept at its train fit
(refit: train, as SASRec) reports the synthetic rows of that fit, and the paired test pairs each user's
seed-mean with the unaugmented model's. Nothing here is a benchmark result."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def augment(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(BENCH))
    import augment

    return augment


def _seed(folder: Path, seed: int, gain: float, seconds: float, peak: float) -> None:
    """One seed's results.json and per_user.parquet: 'sasrec' and 'sasrec+random' (refit: train, 7 synthetic
    rows at its train fit, none at train+valid, which it never had) over 40 users."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.0, 0.5, 40)
    frames, models = [], []
    for label, values, augmentation in (
        ("sasrec", base, None),
        (
            "sasrec+random",
            base + gain,  # its train+valid data came from another entry (memo): not timed again
            {"train": {"rows_synthetic": 7, "seconds": 0.1}, "train+valid": {"seconds": 5.0, "memo": True}},
        ),
    ):
        frames.append(
            pd.DataFrame(
                {
                    "user": np.arange(40),
                    "NDCG@10": values,
                    "model": label,
                    "history_length": np.arange(40) * 5,
                }
            )
        )
        models.append(
            {
                "label": label,
                "model": "sasrec",
                "refit_on": "train",
                "test": {"NDCG@10": float(values.mean())},
                "timings": {  # the kept fit is the search's selected trial: its time counts once
                    "search_fit_seconds_total": {"seconds": seconds / 2},
                    "fit": {
                        "seconds": seconds / 2,
                        "peak_rss_mb": peak + 100.0,
                        "reused_selected_trial": True,
                    },
                    "evaluate": {"seconds": 1.0},
                },
                **({"augmentation": augmentation} if augmentation else {}),
            }
        )
    pd.concat(frames).to_parquet(folder / "per_user.parquet")
    total = {"seconds": 10.0, "process_peak_rss_mb": peak}  # the last (resumed) process: one entry
    (folder / "results.json").write_text(json.dumps({"models": models, "total": total}))


def test_seeds_from_separate_runs_aggregate(augment, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _seed(tmp_path / "seed_0", 0, 0.01, 100.0, 900.0)
    _seed(tmp_path / "seed_1", 1, 0.03, 250.0, 1200.0)
    result = augment.aggregate(tmp_path, [0, 1], "NDCG@10", [40, 80, 160])
    slim = pd.read_parquet(tmp_path / "seed_0" / augment.SLIM)  # what is committed: ranking metrics, float32
    assert list(slim.columns) == ["model", "user", "history_length", "NDCG@10"]
    assert slim["NDCG@10"].dtype == np.float32
    # a seed's time sums what its entries recorded (fit, evaluation, augmentation), whichever process
    # ran them, and its peak is the largest stage peak, not the last process's
    assert result["runs"] == {
        0: {"seconds": 102.1, "last_run_seconds": 10.0, "peak_rss_mb": 1000.0},
        1: {"seconds": 252.1, "last_run_seconds": 10.0, "peak_rss_mb": 1300.0},
    }
    rows = {r["model"]: r for r in result["models"]}
    assert rows["sasrec+random"]["synthetic_rows_mean"] == 7.0  # the train fit's, the model SASRec tests
    assert rows["sasrec"]["synthetic_rows_mean"] == 0.0
    (test,) = result["against_no_augmentation"]
    assert test["baseline"] == "sasrec" and test["n_users"] == 40
    assert test["diff"] == pytest.approx(0.02)  # mean over seeds of +0.01 and +0.03, per user
    report = augment.markdown({**result, "experiment": "x", "protocol": "p", "config": "c", "seeds": [0, 1]})
    assert "evaluation took 354 s in all (longest seed 252 s, summed over the runs" in report
    assert "peak RSS 1300.0 MB" in report


def test_a_finished_seed_is_kept_by_resume(augment, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A seed whose run completed (results and per-user metrics, slim or not) is not run again."""
    _seed(tmp_path / "seed_0", 0, 0.01, 100.0, 900.0)
    assert augment.finished(tmp_path / "seed_0")
    (tmp_path / "seed_0" / "per_user.parquet").unlink()
    assert not augment.finished(tmp_path / "seed_0")
    (tmp_path / "seed_1").mkdir()
    (tmp_path / "seed_1" / "partial_results.json").write_text("{}")
    assert not augment.finished(tmp_path / "seed_1")
