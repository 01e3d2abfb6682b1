"""`lmrec run`: an experiment file in, a leaderboard and result files out."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from threadpoolctl import threadpool_limits

from lmrec import __version__
from lmrec.data.display import write_display
from lmrec.distributed import make_engine
from lmrec.eval import compare
from lmrec.eval.metrics import parse_metric
from lmrec.experiment.config import Experiment, ModelSpec
from lmrec.experiment.hybrids import hybrid_comparisons
from lmrec.experiment.prepare import prepare
from lmrec.experiment.rating import run_rating
from lmrec.experiment.report import leaderboard_frame, print_table, to_markdown, write_json
from lmrec.experiment.resume import (
    CHECKPOINTS,
    load_finished,
    remove_checkpoints,
    remove_partial,
    run_record,
    write_partial,
)
from lmrec.experiment.run_files import with_user_facts, write_items, write_recommendations
from lmrec.experiment.runner import ModelRun, run_model, select_key, test_history
from lmrec.experiment.search import validate_models
from lmrec.hybrid.pool import ComponentPool
from lmrec.resources import measure, process_peak_rss


def machine_info(threads: int | None) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "threads": threads or os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "lmrec_version": __version__,
    }


def output_dir(exp: Experiment, out: str | Path | None) -> Path:
    path = Path(out) if out is not None else Path(exp.output or Path("runs") / exp.name)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _significance(exp: Experiment, runs: list[ModelRun], key: str) -> list[dict[str, Any]]:
    if len(runs) < 2 or not exp.evaluation.significance:
        return []
    best = max(runs, key=lambda r: r.test[key])
    out = []
    for run in runs:
        if run is best:
            continue
        # a = this model, b = the best one: mean_diff > 0 is how far the best model is ahead
        res = compare(run.per_user, best.per_user, key, seed=exp.seed)
        out.append({"model": run.label, "best": best.label, **res.to_dict()})
    return out


def _pairs(exp: Experiment, runs: list[ModelRun], key: str) -> list[dict[str, Any]]:
    """The paired tests the experiment asks for (`evaluation.pairs`): model − baseline on the test users."""
    by_label = {r.label: r for r in runs}
    out = []
    for baseline, model in exp.evaluation.pairs:
        res = compare(by_label[baseline].per_user, by_label[model].per_user, key, seed=exp.seed)
        out.append({"model": model, "baseline": baseline, **res.to_dict()})
    return out


def run_experiment(
    exp: Experiment,
    *,
    out: str | Path | None = None,
    data_path: str | None = None,
    console: Console | None = None,
    progress: bool = False,
    show_table: bool = False,
    resume: bool = False,
) -> dict[str, Any]:
    """Run every stage of `exp`, write result files into the output folder and return the results dict.

    console: where progress lines go (default: nowhere); show_table: print the leaderboard to stdout;
    resume: reuse the models a stopped run of the same experiment finished in the output folder
    (`lmrec.experiment.resume`).
    """
    validate_models(exp)
    console = console or Console(quiet=True)
    table_console = Console(quiet=not show_table, width=160)
    folder = output_dir(exp, out)
    started = time.time()
    with threadpool_limits(exp.threads) if exp.threads else nullcontext(), measure() as m_total:
        if exp.task == "rating":
            results = run_rating(exp, console=console, data_path=data_path)
            results.update(_header(exp))
            rows = [{"model": m["label"], **m["mean"]} for m in results["models"]]
            board = leaderboard_frame(rows, ["RMSE", "MAE"])
            write_json(folder / "results.json", results)
            folds = pd.DataFrame(
                [
                    {
                        "model": m["label"],
                        "fold": f["fold"],
                        "RMSE": f["test"]["RMSE"],
                        "MAE": f["test"]["MAE"],
                        "selected": json.dumps(f["selected"]),
                        "fit_s": f["timings"]["fit"]["seconds"],
                    }
                    for m in results["models"]
                    for f in m["folds"]
                ]
            )
            text = _board_md(exp, board, "mean over folds") + "\n## Per fold\n\n" + to_markdown(folds) + "\n"
            (folder / "leaderboard.md").write_text(text)
            print_table(table_console, board, f"{exp.name}: mean over folds")
            _write_report(folder, console)
            return results
        with measure() as m_prep:
            prep = prepare(exp, data_path=data_path)
        split_facts = prep.split.describe()
        parts = split_facts["parts"]
        sizes = ", ".join(f"{k} {v['rows']} rows" for k, v in parts.items())
        first = "; ".join(r.summary().splitlines()[0] for r in prep.cleaning.values())
        console.log(f"data: {len(prep.data)} events after cleaning ({first}); {exp.split.method}: {sizes}")
        memo: dict[Any, Any] = {}  # item text embeddings shared by the models that use the same encoder
        pool = ComponentPool()  # hybrids reuse the models this run already trained
        augmented: dict[Any, Any] = {}  # entries with the same augmentation share the augmented logs
        runs = load_finished(folder, exp) if resume else []
        if resume:
            names = ", ".join(r.label for r in runs) or "none"
            console.log(f"resume: {len(runs)} of {len(exp.models)} models finished earlier ({names})")
        else:
            remove_checkpoints(folder)  # a plain run starts from scratch
        with make_engine(None if exp.ray is None else exp.ray.address) as engine:
            if engine.parallel:
                console.log(f"ray: {engine.describe()}")
            for spec in exp.models[len(runs) :]:
                runs.append(
                    run_model(
                        exp,
                        spec,
                        prep,
                        console=console,
                        progress=progress,
                        features_memo=memo,
                        component_pool=pool,
                        checkpoint_dir=folder / CHECKPOINTS,
                        augment_memo=augmented,
                        engine=engine,
                    )
                )
                write_partial(folder, exp, _header(exp), runs)
            where = engine.describe()
    key = select_key(runs[0].test, parse_metric(exp.select_by).key)
    sig = _significance(exp, runs, key)
    hybrids = hybrid_comparisons(runs, key, seed=exp.seed) if exp.evaluation.significance else []
    pairs = _pairs(exp, runs, key)
    with_aug = any(m.augmentation is not None for m in exp.models)
    rows = [
        {
            "model": r.label,
            **({"augmentation": _augmentation_label(r.spec)} if with_aug else {}),
            **r.test,
            **_validation_gap(r, key),
            "fit_s": r.timings["fit"]["seconds"],
            "eval_s": r.timings["evaluate"]["seconds"],
            "peak_rss_mb": max(r.timings["fit"]["peak_rss_mb"], r.timings["evaluate"]["peak_rss_mb"]),
            "users_per_s": r.timings["evaluate"]["users_per_second"],
            **_epoch_columns(r.timings.get("training", {})),
        }
        for r in runs
    ]
    board = leaderboard_frame(rows, [key]).sort_values(key, ascending=False)
    results = {
        **_header(exp),
        "data": {
            "source": prep.raw_meta,
            "cleaning": {k: v.to_dict() for k, v in prep.cleaning.items()},
            "card": prep.card.to_dict(),
            "split": split_facts,
            "test_targets": test_target_facts(prep, exp),
            "leakage_check": prep.leakage,
            "timings": {k: v.to_dict() for k, v in prep.timings.items()},
        },
        "models": [
            {**_public(run_record(r)), "refit_on": r.spec.refit or exp.evaluation.refit} for r in runs
        ],
        "significance": sig,
        "hybrid_vs_best_component": hybrids,
        "pairs": pairs,
        "total": {
            **m_total.to_dict(),
            "prepare": m_prep.to_dict(),
            "wall_clock_started": started,
            "process_peak_rss_mb": round(process_peak_rss() / 2**20, 1),
        },
        "engine": where,
    }
    write_json(folder / "results.json", results)
    remove_partial(folder)
    per_user = pd.concat([r.per_user.assign(model=r.label) for r in runs], ignore_index=True)
    per_user["user_id"] = prep.split.train.user_vocab.id(per_user["user"].to_numpy())
    seen_at_test = test_history(prep.split, exp)
    with_user_facts(per_user, prep, seen_at_test).to_parquet(folder / "per_user.parquet", index=False)
    write_recommendations(folder, runs)  # the lists and items behind the report's exposure plots
    write_items(folder, prep, seen_at_test)
    (folder / "leaderboard.md").write_text(
        _board_md(exp, board, "test split", sig)
        + _hybrids_md(hybrids)
        + _pairs_md(pairs)
        + _search_md(exp, runs)
    )
    if exp.save_models:
        for r in runs:
            if r.model is not None:
                r.model.save(folder / "models" / r.label)
                if prep.catalog is not None:  # titles beside ids when the saved model is served
                    write_display(folder / "models" / r.label, prep.catalog, r.model.item_vocab_)
            elif r.resumed:
                console.log(f"{r.label}: resumed from partial results, so its fitted model is not saved")
    print_table(
        table_console,
        board[[c for c in _terminal_columns(key) if c in board.columns]],
        f"{exp.name}: test split ({_refit_label(exp)} refit, test input {exp.evaluation.test_input})",
    )
    _write_report(folder, console)
    console.log(f"results written to {folder}")
    return results


def _write_report(folder: Path, console: Console) -> None:
    """report.html and report.json of the finished run (`lmrec.report`); skipped, with the reason, when
    the optional plotting dependency (the `report` extra) is not installed."""
    from lmrec.report import write_report

    try:
        path = write_report(folder)
    except ModuleNotFoundError as exc:
        console.log(f"report.html not written: {exc.name} is missing (pip install 'lmrec[report]')")
        return
    console.log(f"report: {path}")


def _augmentation_label(spec: ModelSpec) -> str:
    """The leaderboard's augmentation column: the entry's augmentation in words, "none" without one."""
    return "none" if spec.augmentation is None else spec.augmentation.describe()


def _public(record: dict[str, Any]) -> dict[str, Any]:
    """A run record less the matching keys only a resumed run needs."""
    return {k: v for k, v in record.items() if k not in ("signature", "components")}


def _refit_label(exp: Experiment) -> str:
    """The refit of every model, or "mixed" when models override evaluation.refit differently."""
    kinds = {m.refit or exp.evaluation.refit for m in exp.models}
    return kinds.pop() if len(kinds) == 1 else "mixed"


def _epoch_columns(training: dict[str, Any]) -> dict[str, Any]:
    """Leaderboard columns of models trained in epochs (empty for the others)."""
    if not training:
        return {}
    return {
        "s_per_epoch": training.get("seconds_per_epoch"),
        "epochs_run": training.get("epochs_run"),
        "best_epoch": training.get("best_epoch"),
    }


def _validation_gap(run: ModelRun, key: str) -> dict[str, float]:
    """The selected candidate's validation score and its gap to test (validation − test): a large positive
    gap flags a validation score that was optimistic (a learned stage scored on users it learned from)."""
    scores = [t.valid[key] for t in run.trials if key in t.valid]
    if not scores or key not in run.test:
        return {}
    best = max(scores)
    return {f"valid {key}": best, "valid−test": best - run.test[key]}


def _terminal_columns(key: str) -> list[str]:
    base = [
        "model",
        "augmentation",
        key,
        "valid−test",
        "NDCG@10",
        "Recall@10",
        "Recall@20",
        "HR@10",
        "MRR@10",
        "Coverage@10",
        "CandidateRecall",
        "fit_s",
        "eval_s",
        "peak_rss_mb",
        "best_epoch",
        "s_per_epoch",
    ]
    return list(dict.fromkeys(base))


def test_target_facts(prep: Any, exp: Experiment) -> dict[str, int]:
    """How many test users have no known history, and how many test targets cannot be ranked because
    seen-item exclusion removes them (repeat consumption under `exclude_seen`); both lower every model."""
    import numpy as np

    history = test_history(prep.split, exp).csr()
    seen = prep.split.train_valid().csr()  # excluded from the ranking under either test input
    targets = prep.split.test.csr()
    users = np.flatnonzero(np.diff(targets.indptr) > 0)
    no_history = int(np.count_nonzero(np.diff(history.indptr)[users] == 0))
    unreachable = int(targets.multiply(seen).nnz) if exp.evaluation.exclude_seen else 0
    return {
        "users": int(users.shape[0]),
        "targets": int(targets.nnz),
        "users_without_history": no_history,
        "targets_excluded_as_seen": unreachable,
    }


def _header(exp: Experiment) -> dict[str, Any]:
    spec = dataclasses.asdict(exp)
    spec.pop("base_dir", None)
    return {"experiment": spec, "protocol": exp.protocol, "machine": machine_info(exp.threads)}


_TEST_COLUMNS = {
    "metric": "metric",
    "n_users": "n_users",
    "mean_b": "{b} mean",
    "mean_a": "{a} mean",
    "mean_diff": "{b} − {a}",
    "relative_improvement": "relative",
    "t_pvalue": "t_pvalue",
    "wilcoxon_pvalue": "wilcoxon_pvalue",
    "ci_low": "95% CI low",
    "ci_high": "95% CI high",
}


def _tests_md(rows: list[dict[str, Any]], names: list[str], a: str, b: str, title: str, intro: str) -> str:
    """A markdown section of paired tests (a = the reference, b = the model compared with it)."""
    if not rows:
        return ""
    cols = {**{n: n for n in names}, **{k: v.format(a=a, b=b) for k, v in _TEST_COLUMNS.items()}}
    frame = pd.DataFrame(rows)
    frame = frame[[c for c in cols if c in frame.columns]].rename(columns=cols)
    return "\n".join([f"## {title}", "", intro, "", to_markdown(frame), ""])


def _search_md(exp: Experiment, runs: list[ModelRun]) -> str:
    """The models' searches on the validation split: method, trials (fitted, pruned), the best validation
    score, the search's wall time, and every selection on the edge of its grid, flagged."""
    rows, flags = [], []
    label = parse_metric(exp.select_by).key
    for r in runs:
        facts = r.search
        if facts.get("method", "fixed") == "fixed":  # no search (or resumed from an older lmrec)
            continue
        scored = [t.valid for t in r.trials if not t.pruned and t.valid]
        best = max((v[select_key(v, label)] for v in scored), default=None)
        rows.append(
            {
                "model": r.label,
                "method": facts["method"],
                "trials": facts.get("trials"),
                "fitted": facts.get("fits"),
                "pruned": facts.get("pruned"),
                f"best valid {label}": best,
                "search_s": facts.get("seconds"),
                "widened": "; ".join(json.dumps(w) for w in facts.get("widened", [])) or "—",
                "edge": ", ".join(f"{k}={r.selected.get(k)}" for k in r.edge) or "—",
            }
        )
        flags += [f"{r.label}: {k}={r.selected.get(k)}" for k in r.edge]
    if not rows:
        return ""
    lines = ["", "## Hyper-parameter search (validation split)", "", to_markdown(pd.DataFrame(rows)), ""]
    if flags:
        lines += [
            f"**WARNING: selection on the edge of its grid** ({'; '.join(flags)}): the best value may lie "
            "beyond the grid; extend it or set `widen: true` in the model's search.",
            "",
        ]
    return "\n".join(lines)


def _hybrids_md(rows: list[dict[str, Any]]) -> str:
    return _tests_md(
        rows,
        ["hybrid", "best component"],
        "component",
        "hybrid",
        "Hybrids against their best single component (paired, test users)",
        "Each hybrid against the best-on-test of the single models it is built from.",
    )


def _pairs_md(rows: list[dict[str, Any]]) -> str:
    return _tests_md(
        rows,
        ["model", "baseline"],
        "baseline",
        "model",
        "Requested comparisons (paired, test users)",
        "The pairs the experiment file names (`evaluation.pairs`).",
    )


def _board_md(
    exp: Experiment, board: pd.DataFrame, what: str, sig: list[dict[str, Any]] | None = None
) -> str:
    lines = [f"# {exp.name} — {what}", ""]
    if exp.protocol:
        lines += [f"Protocol: {exp.protocol}", ""]
    if exp.task == "ranking":
        lines += [
            f"Fitted on: {_refit_label(exp)}; history at test: "
            f"{exp.evaluation.test_input}; excluded from the ranking: "
            + ("train+valid" if exp.evaluation.exclude_seen else "nothing"),
            "",
        ]
    lines += [to_markdown(board), ""]
    if sig:
        cols = [
            "model",
            "best",
            "metric",
            "n_users",
            "mean_a",
            "mean_b",
            "mean_diff",
            "relative_improvement",
            "t_pvalue",
            "wilcoxon_pvalue",
            "ci_low",
            "ci_high",
        ]
        frame = pd.DataFrame(sig)
        frame = frame[[c for c in cols if c in frame.columns]].rename(
            columns={
                "mean_a": "model mean",
                "mean_b": "best mean",
                "mean_diff": "best − model",
                "relative_improvement": "relative",
                "ci_low": "95% CI low",
                "ci_high": "95% CI high",
            }
        )
        lines += [
            "## Paired tests: the best model against each other model (test users)",
            "",
            to_markdown(frame),
            "",
        ]
    return "\n".join(lines)
