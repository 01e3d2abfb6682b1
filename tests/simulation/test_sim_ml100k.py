"""On real data: the fitted user model beats popularity on held-out MovieLens-100K choices (two ALS fits,
about 4-8 s on two busy cores, so not marked slow)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lmrec.simulation.calibration import fit_world
from lmrec.simulation.config import load_simulation
from lmrec.simulation.runner import load_data
from lmrec.simulation.validation import next_item, time_cut

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_home(monkeypatch: pytest.MonkeyPatch) -> Path:
    """LMREC_DATA_HOME if set, else the shared data folder ($LMREC_SHARED_DATA or ../shared/data); skips
    unless it holds ml-100k, so the test never downloads."""
    home = Path(
        os.environ.get("LMREC_DATA_HOME")
        or os.environ.get("LMREC_SHARED_DATA")
        or REPO.parent / "shared" / "data"
    )
    if not (home / "ml-100k" / "u.data").is_file():
        pytest.skip(f"MovieLens-100K not found under {home} (set LMREC_DATA_HOME to the shared/data folder)")
    monkeypatch.setenv("LMREC_DATA_HOME", str(home))
    return home


@pytest.mark.shared_data
def test_fitted_model_beats_popularity_on_held_out_ml100k(data_home: Path) -> None:
    sim = load_simulation(REPO / "examples" / "simulate_ml100k.yaml")
    data, _ = load_data(sim)
    train, test = time_cut(data, sim.validation.holdout)
    fitted = fit_world(train, sim.users, sim.choice, sim.loop.slate_size, sim.world_seed, baselines=True)
    result = next_item(fitted, train, test)
    assert result["events"] > 1000
    model, pop, taste = result["model"], result["popularity"], result["taste_only"]
    assert model["loglik"] > pop["loglik"]
    assert model["loglik"] > taste["loglik"]
    assert model["ndcg10"] > pop["ndcg10"]
