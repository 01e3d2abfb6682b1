"""Cost of the closed-loop simulator (issue 18): simulated user-rounds per second and peak RSS.

Target (issue 18): a 10,000-user x 100-round run finishes in under 10 minutes (600 s) on 2 cores.

What runs:
- Log: the seeded synthetic implicit log of `lmrec.data.synthetic` (10,000 users, 2,000 item ids with Zipf
  popularity, 500,000 events, lognormal user activity; the same events as `synthetic_log(...)`), written
  to a temporary Parquet file and read back through the simulation file's own dataset path
  (`lmrec.simulation.runner.load_data`, default cleaning: a repeated (user, item) pair keeps its last
  event), so the world below is the one `lmrec simulate` would build from that file.
- World: `lmrec.simulation.runner.build_world`, as `lmrec simulate` calls it: simulated users fitted on the
  whole log (ALS truth, 32 factors, reg 5, boredom over the last 5 items), β and the item-appeal weight w
  fitted by maximum likelihood on held-out choices of 2,000 sampled users, the no-choice utility
  calibrated to the log's engagement. The user/choice/churn/loop settings are those of
  benchmarks/configs/sim_ml100k.yaml. The simulator's validation (a second world fitted on the log minus
  its last 10%) is off by default; `--validation` times it too.
- Loop: one `run_policy` per policy x seed, 100 rounds, slates of 10 from 100 candidates, churn on:
  Pop, ItemKNN (k=100), ALS (64 factors, reg 0.05), each refitted every 10 rounds on the log plus the
  simulated choices so far; `--mmr` adds ItemKNN + MMR (λ 0.5).
- Measured per run: the loop's wall seconds; user-rounds (the active users served, summed over rounds:
  users x rounds minus the user-rounds of users away after churning); user-rounds per second; the peak
  RSS during the loop (VmHWM of /proc/self/status after resetting it at the loop's start, so it includes
  the world every run keeps in memory); the loop's CPU seconds (all threads of the process), which tell
  a busy machine's wall time from the work done. VmHWM and `getrusage` maxrss are also read raw at the
  end of each run: Linux resets *both* when VmHWM is reset (/proc/self/clear_refs, done by
  `lmrec.resources.measure` at every stage), so they hold the peak since the loop's start, not since
  process start; the benchmark's peak since start is the maximum over its stages (`process_peak_rss_mb`).
- Run = world + one policy's loop (what `lmrec simulate` with that single policy would cost): its
  seconds are the world's (load and clean, fit and calibrate) plus the loop's, its peak RSS the larger
  of the two stages' peaks. It meets the target when its seconds are under 600 and the world has at
  least 10,000 users and 100 rounds; a smaller run reports "n/a".

The synthetic log has no taste structure (each event draws its item from the Zipf law alone), so the
calibrated world is degenerate, and the report says so when it is: β ends at its floor
(`calibration.MIN_BETA`, item appeal carries all the signal), the no-choice utility at the edge of its
search range, and nearly every active user chooses every round (its user events are at most a week
apart, so the log's engagement rate is ~0.99 anyway). For cost this is the expensive end: each round
adds about one event per user to the log the policies refit on, and churn (which needs unsatisfying
rounds) removes almost nobody. The scoring, top-k, choice and churn work per active user is the same as
in a calibrated world.

Runs take turns on the machine's cores (ALS uses every core unless `--threads`); other jobs on the
machine slow them, so run it on an otherwise idle machine. Progress lines go to stdout as JSON.

Regenerate (the full 10,000 x 100 run):
    .venv/bin/python benchmarks/sim_scale.py --out benchmarks/results/sim_scale
Smoke run (seconds to a minute):
    .venv/bin/python benchmarks/sim_scale.py --users 2000 --interactions 100000 --rounds 10 --out /tmp/sim
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from lmrec.data.synthetic import write_synthetic_parquet
from lmrec.experiment.report import to_markdown, write_json
from lmrec.resources import measure
from lmrec.simulation.calibration import MIN_BETA
from lmrec.simulation.choice import NO_CHOICE_RANGE
from lmrec.simulation.config import Simulation, parse
from lmrec.simulation.loop import run_policy
from lmrec.simulation.runner import build_world, load_data

TARGET = {"users": 10_000, "rounds": 100, "seconds": 600.0}
PROTOCOL = (
    "synthetic Zipf log read back as `lmrec simulate` reads a file; world built by "
    "lmrec.simulation.runner.build_world; one run_policy per policy x seed, refit every 10 rounds, churn on"
)
COMMAND = ".venv/bin/python benchmarks/sim_scale.py --out benchmarks/results/sim_scale"
# the settings of benchmarks/configs/sim_ml100k.yaml (issue 18's MovieLens simulation)
USERS = {"method": "als", "factors": 32, "reg": 5.0, "boredom": 1.0, "memory": 5, "memory_decay": 0.7}
CHOICE = {"position_bias": 0.1}
CHURN = {"leave_intercept": -4.0, "leave_slope": 0.5, "utility_threshold": 0.0, "return_rate": 0.05}


def policies(threads: int, mmr: bool) -> list[dict[str, Any]]:
    als = {"factors": 64, "reg": 0.05, "num_threads": threads}
    out: list[dict[str, Any]] = [
        {"name": "pop"},
        {"name": "itemknn", "params": {"k": 100}},
        {"name": "als", "params": als},
    ]
    if mmr:
        out.append({"name": "itemknn", "params": {"k": 100}, "rerank": "mmr", "rerank_params": {"lam": 0.5}})
    return [{**p, "refit_every": 10} for p in out]


def simulation(args: argparse.Namespace, log: Path) -> Simulation:
    """The simulation file this benchmark stands for, validated like a YAML file."""
    return parse(
        {
            "name": "sim_scale",
            "dataset": {
                "path": str(log),
                "format": "tabular",
                "columns": {"user": "user", "item": "item", "timestamp": "timestamp"},
            },
            "users": USERS,
            "choice": CHOICE,
            "churn": CHURN | {"enabled": not args.no_churn},
            "loop": {"rounds": args.rounds, "slate_size": 10, "candidates": 100},
            "seeds": list(range(args.seeds)),
            "validation": {"enabled": args.validation, "holdout": 0.1, "rounds": 10},
            "policies": policies(args.threads, args.mmr),
        }
    )


def process_vm_hwm_mb() -> float | None:
    """VmHWM of /proc/self/status: peak RSS since start or since the last reset of the counter."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def ru_maxrss_mb() -> float:
    """getrusage maxrss; on Linux reset together with VmHWM (module docstring)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def emit(row: dict[str, Any]) -> None:
    print(json.dumps(row), flush=True)


def meets_target(n_users: int, rounds: int, seconds: float) -> bool | None:
    """None when the run is smaller than the target's shape (it says nothing about the target)."""
    if n_users < TARGET["users"] or rounds < TARGET["rounds"]:
        return None
    return seconds < TARGET["seconds"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--items", type=int, default=2_000, help="item ids drawn from (Zipf popularity)")
    ap.add_argument("--interactions", type=int, default=500_000)
    ap.add_argument("--zipf", type=float, default=1.0, help="Zipf exponent of item popularity")
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=1, help="runs per policy, seeds 0..N-1")
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="ALS threads (policy); 0 = every core")
    ap.add_argument("--mmr", action="store_true", help="add ItemKNN + MMR (lam 0.5)")
    ap.add_argument("--validation", action="store_true", help="also time the simulator's validation")
    ap.add_argument("--no-churn", action="store_true", help="nobody leaves: user-rounds = users x rounds")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.seeds < 1 or args.rounds < 1:
        ap.error("--seeds and --rounds must be >= 1")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark (module docstring); returns what results.json holds."""
    args = parse_args(argv)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    stages: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "synthetic.parquet"
        with measure() as m:
            write_synthetic_parquet(
                log,
                n_users=args.users,
                n_items=args.items,
                n_interactions=args.interactions,
                zipf_exponent=args.zipf,
                seed=args.data_seed,
            )
        stages["generate"] = m.to_dict()
        emit({"stage": "generate", **stages["generate"]})
        sim = simulation(args, log)
        with measure() as m:
            data, catalog = load_data(sim)
        stages["load_clean"] = m.to_dict()
        emit({"stage": "load_clean", **stages["load_clean"]})
    with measure() as m:
        world, fits = build_world(sim, data, catalog)
    stages["world"] = m.to_dict()
    emit({"stage": "world (fit users, calibrate choice)", **stages["world"]})
    validation = None
    if sim.validation.enabled:
        from lmrec.simulation.validation import validate

        with measure() as m:
            validation = validate(data, sim, catalog)
        stages["validation"] = m.to_dict()
        emit({"stage": "validation", **stages["validation"]})
    setup_seconds = stages["load_clean"]["seconds"] + stages["world"]["seconds"]
    setup_peak = max(stages["load_clean"]["peak_rss_mb"], stages["world"]["peak_rss_mb"])
    if validation is not None:
        setup_seconds += stages["validation"]["seconds"]
        setup_peak = max(setup_peak, stages["validation"]["peak_rss_mb"])
    # the kernel's peak counters restart at every stage (module docstring): the process peak is their max
    process_peak = max(s["peak_rss_mb"] for s in stages.values())
    n_users, rounds = data.n_users, sim.loop.rounds
    every = max(1, rounds // 10)
    runs = []
    for spec in sim.policies:
        for seed in sim.seeds:
            t0 = time.perf_counter()

            def progress(rnd: int, label: str = spec.display, seed: int = seed, t0: float = t0) -> None:
                if (rnd + 1) % every == 0 or rnd + 1 == rounds:
                    elapsed = round(time.perf_counter() - t0, 1)
                    emit({"policy": label, "seed": seed, "round": rnd + 1, "of": rounds, "seconds": elapsed})

            cpu0 = time.process_time()
            with measure() as m:
                result = run_policy(world, spec, sim.loop, seed, on_round=progress)
            cpu = time.process_time() - cpu0
            active = result.per_round["active_users"].astype(int).tolist()
            seconds = setup_seconds + m.seconds
            process_peak = max(process_peak, m.peak_rss_mb)
            run = {
                "policy": spec.display,
                "seed": seed,
                "users": n_users,
                "rounds": rounds,
                "world_seconds": round(setup_seconds, 4),
                "loop_seconds": round(m.seconds, 4),
                "loop_cpu_seconds": round(cpu, 4),
                "seconds": round(seconds, 4),
                "user_rounds": result.user_rounds,
                "churned_user_rounds": n_users * rounds - result.user_rounds,
                "user_rounds_per_second": round(result.user_rounds / m.seconds, 1),
                "loop_peak_rss_mb": round(m.peak_rss_mb, 1),
                "peak_rss_mb": round(max(setup_peak, m.peak_rss_mb), 1),
                "vm_hwm_mb": process_vm_hwm_mb(),
                "ru_maxrss_mb": ru_maxrss_mb(),
                "fits": len(result.fits),
                "choices": int(result.choices.shape[0]),
                "engagement": round(result.choices.shape[0] / max(result.user_rounds, 1), 4),
                "active_users_per_round": active,
                "meets_target": meets_target(n_users, rounds, seconds),
            }
            runs.append(run)
            emit({k: v for k, v in run.items() if k != "active_users_per_round"})
    payload = {
        "protocol": PROTOCOL,
        "command": COMMAND,
        "target": TARGET,
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "simulation": {
            "users": USERS,
            "choice": CHOICE,
            "churn": CHURN,
            "loop": dataclasses.asdict(sim.loop),
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_before": round(load_before, 2),
        },
        "world": {
            "n_users": n_users,
            "n_items": data.n_items,
            "events": len(data),
            "beta": world.choice.beta,
            "popularity_weight": world.users.popularity_weight,
            "no_choice_utility": world.choice.no_choice_utility,
            "target_engagement": world.choice.target_engagement,
            "calibration_events": {k: f.events for k, f in fits.items()},
        },
        "stages": stages,
        "validation": validation,
        "runs": runs,
        "total_seconds": round(time.perf_counter() - started, 1),
        "process_peak_rss_mb": round(process_peak, 1),
    }
    emit({"total_seconds": payload["total_seconds"], "process_peak_rss_mb": payload["process_peak_rss_mb"]})
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        write_json(args.out / "results.json", payload)
        (args.out / "report.md").write_text(report(payload))
    return payload


def _verdict(value: bool | None) -> str:
    return "n/a (smaller than target)" if value is None else ("yes" if value else "no")


def _degenerate_note(world: dict[str, Any]) -> list[str]:
    """A warning when the calibration ended at its bounds (module docstring), else nothing."""
    at_floor = world["beta"] <= MIN_BETA * (1 + 1e-6)
    at_edge = min(abs(world["no_choice_utility"] - end) for end in NO_CHOICE_RANGE) < 1e-3
    if not (at_floor or at_edge):
        return []
    return [
        f"Calibration at its bounds (β at its floor: {at_floor}; no-choice utility at the edge of its "
        f"search range: {at_edge}): the synthetic log carries no taste, so nearly every active user "
        "chooses every round (engagement column) and hardly anyone churns, the expensive end for the loop "
        "(module docstring).",
        "",
    ]


def report(payload: dict[str, Any]) -> str:
    w, cfg = payload["world"], payload["config"]
    table = pd.DataFrame(
        [
            {
                "policy": r["policy"],
                "seed": r["seed"],
                "users": r["users"],
                "rounds": r["rounds"],
                "world s": r["world_seconds"],
                "loop s": r["loop_seconds"],
                "loop CPU s": r["loop_cpu_seconds"],
                "seconds": r["seconds"],
                "user-rounds": r["user_rounds"],
                "user-rounds/s": r["user_rounds_per_second"],
                "engagement": f"{r['engagement']:.3f}",
                "peak RSS MB": r["peak_rss_mb"],
                "meets target": _verdict(r["meets_target"]),
            }
            for r in payload["runs"]
        ]
    )
    stages = pd.DataFrame([{"stage": k, **v} for k, v in payload["stages"].items()])
    m = payload["machine"]
    return "\n".join(
        [
            "# Simulator cost (issue 18)",
            "",
            f"Regenerate: `{payload['command']}` (this run: `--users {cfg['users']} --items {cfg['items']} "
            f"--interactions {cfg['interactions']} --rounds {cfg['rounds']} --seeds {cfg['seeds']}`). "
            f"Protocol: the docstring of `benchmarks/sim_scale.py`. Target: a {TARGET['users']:,}-user x "
            f"{TARGET['rounds']}-round run (world + one policy's loop) under {TARGET['seconds']:.0f} s.",
            "",
            f"World: {w['n_users']:,} users, {w['n_items']:,} items, {w['events']:,} events after cleaning; "
            f"β = {w['beta']:.4g}, w = {w['popularity_weight']:.4g}, u0 = {w['no_choice_utility']:.4g}. "
            f"Machine: {m['cpus']} cores, load average {m['load_average_before']} before the run.",
            "",
            *_degenerate_note(w),
            to_markdown(table, floatfmt=".1f"),
            "",
            "world s = load and clean + fit users and calibrate (+ validation when timed), shared by every "
            "run; seconds = world s + loop s; peak RSS = the larger of the world's and the loop's peaks "
            "(VmHWM reset at each stage's start). The stages before the loop, each with its own peak:",
            "",
            to_markdown(stages, floatfmt=".2f"),
            "",
            f"Whole benchmark {payload['total_seconds']} s; process peak RSS "
            f"{payload['process_peak_rss_mb']} MB (the largest stage peak).",
            "",
        ]
    )


if __name__ == "__main__":
    main()
