"""Run a simulation file: build the world once, run every policy x seed, write the results folder.

Files written to the output folder:

- results.json: the configuration, the calibrated world (β, w, u0, engagement target, the calibration
  fits with their held-out log-likelihood), the simulator's validation numbers, the per-policy summary
  (mean and 95% CI over seeds per metric at the summary rounds), fits and timings (user-rounds per
  second, peak RSS) of every run;
- per_round.parquet: one row per (policy, seed, round) with every metric column;
- plots.html: every metric over rounds, policies side by side with CI bands (offline, self-contained);
- plots.png: the same plots as a static image (for documents such as the README).

Resuming: after every finished (policy, seed) run, its rows and record go to partial_per_round.parquet and
partial_runs.json, each run keyed by a fingerprint of everything that decides its numbers (data, cleaning,
users, choice, churn, loop, world seed, the policy and the seed). `resume=True` reuses the runs whose
fingerprint matches and runs only the rest, from the partial files or, when there are none, from a finished
folder's results.json and per_round.parquet (so a policy added to a configuration is run alone); without it a
previous partial state is discarded. Both partial files are removed once results.json is written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from lmrec.errors import ConfigError
from lmrec.experiment.report import jsonable, write_json
from lmrec.resources import process_peak_rss
from lmrec.simulation.calibration import LogitFit, fit_world
from lmrec.simulation.config import Simulation, load_simulation
from lmrec.simulation.item_space import genre_categories
from lmrec.simulation.loop import LoopResult, World, run_policy
from lmrec.simulation.report import summary, write_plots, write_png

PARTIAL_RUNS = "partial_runs.json"
PARTIAL_ROWS = "partial_per_round.parquet"
_NOT_SETUP = ("policies", "seeds", "output", "base_dir", "summary_rounds", "validation", "name")
_UNSET_LEAVES_OUT = ("warm_start_epochs",)
"""Policy options added after runs were recorded: unset, they stay out of the fingerprint, so runs made
before the option existed (which behave as it unset) remain resumable."""


@dataclass
class SimulationResult:
    folder: Path
    results: dict[str, Any]
    per_round: pd.DataFrame


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(jsonable(obj), sort_keys=True).encode()).hexdigest()[:16]


def run_fingerprint(sim: Simulation, policy_index: int, seed: int) -> str:
    """Hash of everything that decides the numbers of one (policy, seed) run."""
    setup = {k: v for k, v in dataclasses.asdict(sim).items() if k not in _NOT_SETUP}
    policy = dataclasses.asdict(sim.policies[policy_index])
    for key in _UNSET_LEAVES_OUT:
        if policy.get(key) is None:
            del policy[key]
    return _digest({"setup": setup, "policy": policy, "seed": seed})


def load_data(sim: Simulation, data_path: str | None = None) -> tuple[Any, Any]:
    """(cleaned Interactions, item catalog or None) of the simulation's dataset."""
    from lmrec.data.cleaning import clean
    from lmrec.experiment.prepare import cleaning_config, load_raw

    raw = load_raw(sim.dataset, sim, path_override=data_path)  # type: ignore[arg-type]
    data, _ = clean(raw, cleaning_config(sim.cleaning.options))
    return data, raw.catalog


def build_world(sim: Simulation, data: Any, catalog: Any) -> tuple[World, dict[str, LogitFit]]:
    """Fit the simulated users on the whole log and calibrate their choices (seeded by `world_seed`);
    also the calibration fits (`lmrec.simulation.calibration.fit_world`)."""
    fitted = fit_world(data, sim.users, sim.choice, sim.loop.slate_size, sim.world_seed)
    genres = genre_categories(catalog, data.item_vocab) if catalog is not None else None
    world = World(
        data=data, users=fitted.users, choice=fitted.choice, churn=sim.churn, catalog=catalog, genres=genres
    )
    return world, fitted.fits


def _load_partial(folder: Path) -> tuple[dict[str, dict[str, Any]], pd.DataFrame]:
    """Runs already done in `folder`, keyed by fingerprint, and their per-round rows: the partial state
    of an interrupted run if there is one, else the runs of a finished one (results.json and
    per_round.parquet), so that policies added to a configuration run alone."""
    path, rows_path = folder / PARTIAL_RUNS, folder / PARTIAL_ROWS
    if not path.exists():
        path, rows_path = folder / "results.json", folder / "per_round.parquet"
        if not path.exists():
            return {}, pd.DataFrame()
    if not rows_path.exists():
        raise ConfigError(f"{path}: its per-round rows {rows_path.name} are missing; run without --resume")
    runs = {r["fingerprint"]: r for r in json.loads(path.read_text())["runs"]}
    return runs, pd.read_parquet(rows_path)


def _write_partial(folder: Path, records: list[dict[str, Any]], frames: list[pd.DataFrame]) -> None:
    pd.concat(frames, ignore_index=True).to_parquet(folder / PARTIAL_ROWS, index=False)
    write_json(folder / PARTIAL_RUNS, {"runs": records})


def simulate(
    sim: Simulation | str | Path,
    *,
    out: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    data_path: str | None = None,
) -> SimulationResult:
    """Run every policy x seed of `sim` (a `Simulation` or a YAML path) and write the results folder."""
    if not isinstance(sim, Simulation):
        sim = load_simulation(sim)
    folder = sim.out_dir(out)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if not resume:
        for name in (PARTIAL_RUNS, PARTIAL_ROWS):
            (folder / name).unlink(missing_ok=True)
    done, done_rows = _load_partial(folder) if resume else ({}, pd.DataFrame())
    data, catalog = load_data(sim, data_path)
    t_world = time.perf_counter()
    world, fits = build_world(sim, data, catalog)
    world_seconds = time.perf_counter() - t_world
    validation: dict[str, Any] | None = None
    if sim.validation.enabled:
        from lmrec.simulation.validation import validate

        validation = validate(data, sim, catalog)
    records: list[dict[str, Any]] = []
    frames: list[pd.DataFrame] = []
    total = len(sim.policies) * len(sim.seeds) * sim.loop.rounds
    bar = _bar(total, progress)
    for p, spec in enumerate(sim.policies):
        for seed in sim.seeds:
            key = run_fingerprint(sim, p, seed)
            if key in done:
                rows = done_rows[(done_rows["policy"] == spec.display) & (done_rows["seed"] == seed)]
                records.append({**done[key], "resumed": True})
                frames.append(rows.reset_index(drop=True))
                bar.update(sim.loop.rounds)
                continue
            bar.set_description(f"{spec.display} seed {seed}")
            result = run_policy(world, spec, sim.loop, seed, on_round=lambda _: bar.update(1))
            records.append(_record(spec.display, seed, key, result))
            frames.append(result.per_round.assign(policy=spec.display, seed=seed))
            _write_partial(folder, records, frames)
    bar.close()
    per_round = pd.concat(frames, ignore_index=True)
    per_round = per_round[["policy", "seed", *[c for c in per_round.columns if c not in ("policy", "seed")]]]
    per_round.to_parquet(folder / "per_round.parquet", index=False)
    results = {
        "name": sim.name,
        "config": dataclasses.asdict(sim),
        "world": {
            "n_users": data.n_users,
            "n_items": data.n_items,
            "events": len(data),
            "beta": world.choice.beta,
            "popularity_weight": world.users.popularity_weight,
            "calibration": {k: dataclasses.asdict(f) for k, f in fits.items()},
            "no_choice_utility": world.choice.no_choice_utility,
            "target_engagement": world.choice.target_engagement,
            "categories": "genres" if world.genres is not None else "popularity deciles",
            "seconds": world_seconds,
        },
        "validation": validation,
        "summary": summary(per_round, sim.report_rounds),
        "runs": records,
        "timings": {"seconds": time.perf_counter() - started, "peak_rss_mb": process_peak_rss() / 2**20},
    }
    write_json(folder / "results.json", results)
    title = f"lmrec simulation: {sim.name}"
    write_plots(per_round, folder / "plots.html", title)
    write_png(per_round, folder / "plots.png", title)
    for name in (PARTIAL_RUNS, PARTIAL_ROWS):
        (folder / name).unlink(missing_ok=True)
    return SimulationResult(folder=folder, results=results, per_round=per_round)


def _record(label: str, seed: int, key: str, result: LoopResult) -> dict[str, Any]:
    return {
        "policy": label,
        "seed": seed,
        "fingerprint": key,
        "fits": result.fits,
        "seconds": result.seconds,
        "user_rounds": result.user_rounds,
        "user_rounds_per_second": result.user_rounds / result.seconds if result.seconds > 0 else None,
        "choices": int(result.choices.shape[0]),
        "peak_rss_mb": process_peak_rss() / 2**20,
    }


class _NoBar:
    def update(self, n: int = 1) -> None: ...
    def set_description(self, text: str) -> None: ...
    def close(self) -> None: ...


def _bar(total: int, show: bool) -> Any:
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="round", dynamic_ncols=True)
