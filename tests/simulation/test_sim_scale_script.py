"""benchmarks/sim_scale.py (issue 18's simulator cost) on a tiny synthetic world, so the script cannot rot
unnoticed: its outputs keep their structure and user-rounds are counted as the users actually served.
Nothing here is a benchmark result."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
USERS, ROUNDS = 200, 3
TINY = ["--users", str(USERS), "--items", "100", "--interactions", "4000", "--rounds", str(ROUNDS)]


@pytest.fixture
def sim_scale(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))
    import sim_scale

    return sim_scale


def test_outputs_and_user_rounds_with_churn(sim_scale: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "churn"
    payload = sim_scale.main([*TINY, "--threads", "1", "--out", str(out)])
    saved = json.loads((out / "results.json").read_text())
    assert saved["runs"] == payload["runs"]
    assert saved["world"]["n_users"] == USERS
    assert {"generate", "load_clean", "world"} <= set(saved["stages"])
    assert [r["policy"] for r in saved["runs"]] == ["pop", "itemknn", "als"]
    for run in saved["runs"]:
        active = run["active_users_per_round"]
        assert len(active) == ROUNDS
        assert active[0] == USERS  # everybody starts active
        assert run["user_rounds"] == sum(active)
        assert run["churned_user_rounds"] == USERS * ROUNDS - sum(active)
        assert run["user_rounds_per_second"] == pytest.approx(
            run["user_rounds"] / run["loop_seconds"], rel=0.05
        )
        assert run["seconds"] == pytest.approx(run["world_seconds"] + run["loop_seconds"], abs=1e-3)
        assert run["peak_rss_mb"] >= run["loop_peak_rss_mb"] > 0
        assert run["loop_cpu_seconds"] > 0
        assert run["vm_hwm_mb"] > 0 and run["ru_maxrss_mb"] > 0
        assert saved["process_peak_rss_mb"] >= run["peak_rss_mb"]
        assert run["engagement"] == pytest.approx(run["choices"] / run["user_rounds"], abs=1e-4)
        assert 0 < run["engagement"] <= 1
        assert run["meets_target"] is None  # far smaller than 10,000 x 100: says nothing about the target
    # churn is on: some users leave within 3 rounds at this seed, so the subtraction is exercised
    assert sum(r["churned_user_rounds"] for r in saved["runs"]) > 0
    report = (out / "report.md").read_text()
    header = next(line for line in report.splitlines() if line.startswith("| policy"))
    for col in ("users", "rounds", "seconds", "user-rounds/s", "peak RSS MB", "meets target"):
        assert f"| {col} |" in header
    rows = [line for line in report.splitlines() if line.startswith(("| pop |", "| itemknn |", "| als |"))]
    assert len(rows) == 3


def test_without_churn_every_user_is_served_every_round(sim_scale: ModuleType, tmp_path: Path) -> None:
    payload = sim_scale.main([*TINY, "--threads", "1", "--no-churn", "--mmr", "--seeds", "2"])
    runs = payload["runs"]
    assert [(r["policy"], r["seed"]) for r in runs] == [
        (p, s) for p in ("pop", "itemknn", "als", "itemknn+mmr") for s in (0, 1)
    ]
    assert all(r["user_rounds"] == USERS * ROUNDS and r["churned_user_rounds"] == 0 for r in runs)


def test_target_verdict(sim_scale: ModuleType) -> None:
    assert sim_scale.meets_target(10_000, 100, 599.0) is True
    assert sim_scale.meets_target(10_000, 100, 600.5) is False
    assert sim_scale.meets_target(2_000, 100, 1.0) is None
    assert sim_scale.meets_target(10_000, 10, 1.0) is None


def test_note_on_a_calibration_at_its_bounds(sim_scale: ModuleType) -> None:
    from lmrec.simulation.calibration import MIN_BETA
    from lmrec.simulation.choice import NO_CHOICE_RANGE

    assert sim_scale._degenerate_note({"beta": 0.5, "no_choice_utility": -3.0}) == []
    assert (
        "β at its floor: True" in sim_scale._degenerate_note({"beta": MIN_BETA, "no_choice_utility": -3.0})[0]
    )
    edge = sim_scale._degenerate_note({"beta": 0.5, "no_choice_utility": NO_CHOICE_RANGE[1]})[0]
    assert "edge of its search range: True" in edge
