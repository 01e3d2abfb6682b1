"""The experiment report: one offline HTML page and one JSON file from a results folder.

    from lmrec.report import write_report
    write_report("runs/quickstart")            # runs/quickstart/report.html + report.json

`lmrec run` writes both when it finishes; `lmrec report RUN_DIR [--out FILE]` (re)builds them from the
folder's files (`lmrec.report.inputs`). The page holds the leaderboard with confidence intervals and the
paired-test matrix (`accuracy`), accuracy by user activity and target popularity (`slices`), popularity
bias, long tail, coverage, Gini, personalization and calibration (`exposure`), training curves and what
hybrids learned (`training`), and for a simulation folder its metrics over rounds. Each plot is drawn
from report.json only (`figures`), so every number behind a picture is in the JSON, under the key the
plot's `data` names (report.json's `plots` lists them). A section whose input file is missing says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmrec import __version__
from lmrec.experiment.report import jsonable
from lmrec.report import accuracy, exposure, figures, html, slices, training
from lmrec.report.inputs import RunFiles, read_run

REPORT_HTML = "report.html"
REPORT_JSON = "report.json"


@dataclass
class Report:
    """A built report: its JSON content, its plots and the HTML page."""

    data: dict[str, Any]
    plots: list[figures.Plot]
    html: str


def report_data(run: RunFiles, *, seed: int = 0) -> dict[str, Any]:
    """Every number the report shows, by section (the content of report.json, without `plots`)."""
    data: dict[str, Any] = {
        "report": {
            "lmrec_version": __version__,
            "run": run.name,
            "kind": run.kind,
            "missing_files": run.missing,
        },
        "run": _run_facts(run),
    }
    if run.kind == "simulation":
        data["simulation"] = training.simulation_rounds(run)
        return data
    if run.kind == "rating":
        data["leaderboard"] = _rating_board(run)
        return data
    data["leaderboard"] = accuracy.leaderboard(run, seed=seed)
    data["paired_tests"] = accuracy.paired_matrix(run, seed=seed)
    data["slices"] = {c: slices.by_slice(run, c, seed=seed) for c in slices.SLICES}
    data["exposure"] = exposure.exposure(run)
    data["training"] = training.training_curves(run)
    data["hybrids"] = training.hybrids(run)
    return data


def _run_facts(run: RunFiles) -> dict[str, Any]:
    res = run.results
    card = (res.get("data") or {}).get("card") or {}
    keep = ("n_users", "n_items", "n_interactions", "density")
    return {
        "protocol": res.get("protocol"),
        "data": {k: card[k] for k in keep if k in card},
        "split": ((res.get("data") or {}).get("split") or {}).get("name"),
        "machine": res.get("machine"),
        "seconds": (res.get("total") or res.get("timings") or {}).get("seconds"),
    }


def _rating_board(run: RunFiles) -> dict[str, Any]:
    rows = [{"model": m["label"], "mean": m.get("mean", {})} for m in run.results.get("models", [])]
    return {"metric": "RMSE", "rows": rows}


def build_report(folder: str | Path, *, seed: int = 0) -> Report:
    """The report of the results folder `folder` (not written; see `write_report`)."""
    run = read_run(folder)
    data = _rounded(jsonable(report_data(run, seed=seed)))  # the plots draw exactly what the JSON holds
    plots = _plots(data)
    data["plots"] = [p.describe() for p in plots]
    meta = _meta(run, data)
    page = html.page(f"lmrec report: {run.name}", meta, _blocks(data), plots)
    return Report(data=data, plots=plots, html=page)


def _rounded(obj: Any) -> Any:
    """Floats to 6 significant digits (report.json stays small; the plots show no more)."""
    if isinstance(obj, float):
        return float(f"{obj:.6g}")
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rounded(v) for v in obj]
    return obj


def write_report(folder: str | Path, out: str | Path | None = None, *, seed: int = 0) -> Path:
    """Write report.html (or `out`) and report.json beside it; returns the HTML path."""
    report = build_report(folder, seed=seed)
    path = Path(out) if out is not None else Path(folder) / REPORT_HTML
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.html, encoding="utf-8")
    json_path = path.with_name(REPORT_JSON) if out is None else path.with_suffix(".json")
    json_path.write_text(json.dumps(report.data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _plots(data: dict[str, Any]) -> list[figures.Plot]:
    plots: list[figures.Plot] = []
    if data["report"]["kind"] == "simulation":
        return figures.simulation(data.get("simulation"))
    if data["report"]["kind"] == "rating":
        return plots
    plots += figures.leaderboard(data["leaderboard"])
    plots += figures.paired_matrix(data["paired_tests"])
    plots += figures.slices(data["slices"])
    plots += figures.exposure(data["exposure"])
    plots += figures.training(data["training"])
    plots += figures.hybrids(data["hybrids"])
    return plots


def _meta(run: RunFiles, data: dict[str, Any]) -> list[str]:
    facts = data["run"]
    lines = []
    if facts.get("protocol"):
        lines.append(f"<b>Protocol:</b> {html.esc(facts['protocol'])}")
    d = facts.get("data") or {}
    if d:
        lines.append(
            f"<b>Data:</b> {d.get('n_users', '?')} users, {d.get('n_items', '?')} items, "
            f"{d.get('n_interactions', '?')} interactions; split {html.esc(facts.get('split'))}"
        )
    lines.append(
        f"<b>Files:</b> {html.esc(run.folder)}; numbers behind every plot in {REPORT_JSON}; "
        f"lmrec {html.esc(__version__)}"
    )
    return lines


def _blocks(data: dict[str, Any]) -> dict[str, list[str]]:
    """The tables and notes of every section."""
    blocks: dict[str, list[str]] = {s: [] for s in html.SECTIONS}
    missing = data["report"]["missing_files"]
    if missing:
        blocks["accuracy"].append(
            html.note(
                "This folder lacks " + "; ".join(missing) + ". Sections that need them are left out. "
                "Rerun the experiment with this lmrec (`lmrec run CONFIG --out FOLDER`) to get them."
            )
        )
    if data["report"]["kind"] == "rating":
        rows = data["leaderboard"]["rows"]
        names = sorted({k for r in rows for k in r["mean"]})
        blocks["accuracy"].append(
            html.table(["model", *names], [[r["model"], *[r["mean"].get(k) for k in names]] for r in rows])
        )
        return blocks
    if data["report"]["kind"] == "simulation":
        return blocks
    blocks["accuracy"] += _board_table(data["leaderboard"])
    blocks["accuracy"] += _matrix_table(data["paired_tests"])
    if all(v is None for v in data["slices"].values()):
        blocks["slices"].append(
            html.note("Needs per_user.parquet with the columns history_length and target_popularity.")
        )
    blocks["exposure"] += _exposure_tables(data["exposure"])
    blocks["training"] += _training_notes(data["training"])
    return blocks


def _board_table(board: dict[str, Any]) -> list[str]:
    rows = board["rows"]
    if not rows:
        return [html.note("No model results.")]
    n = accuracy.cutoff(board["metric"])
    plotted = board["plotted_metrics"]
    rest = [
        m
        for m in rows[0]["metrics"]
        if m not in plotted and "[" not in m and (accuracy.cutoff(m) in (n, None))
    ]
    shown = (plotted + rest)[:10]  # every metric of every model is in report.json
    body = []
    for r in rows:
        cells = []
        for m in shown:
            c = r["metrics"].get(m, {})
            ci = f" [{html.fmt(c['low'])}, {html.fmt(c['high'])}]" if c.get("low") is not None else ""
            cells.append(f"{html.fmt(c.get('mean'))}{ci}")
        body.append([r["model"], *cells, r.get("fit_seconds")])
    intro = f"Sorted by {board['metric']} (the selection metric). "
    intro += f"Intervals: {board['ci']}." if board["ci"] else "No per-user file: means only, no intervals."
    return [f"<p>{html.esc(intro)}</p>", _raw_table(["model", *shown, "fit s"], body)]


def _raw_table(header: list[str], rows: list[list[Any]]) -> str:
    """A table whose string cells are already HTML-safe (numbers are formatted by `html.fmt`)."""
    head = "".join(f"<th>{html.esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{v if isinstance(v, str) else html.fmt(v)}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _matrix_table(matrix: dict[str, Any]) -> list[str]:
    labels = matrix["models"]
    k = len(labels)
    pairs = k * (k - 1) // 2
    text = (
        f"Cell (row, column): mean {matrix['metric']} of the row model minus the column model over the same "
        f"test users, with the paired t-test p-value. {matrix['pairs_tested']} of {pairs} pairs tested "
        f"(source: {matrix['source']}); p-values are not corrected for multiple comparisons."
    )
    rows = []
    for i, label in enumerate(labels):
        cells = []
        for j in range(k):
            d, p = matrix["mean_diff"][i][j], matrix["t_pvalue"][i][j]
            cells.append("" if d is None else f"{d:+.4f} (p {figures._p(p)})")
        rows.append([html.esc(label), *cells])
    return [f"<p>{html.esc(text)}</p>", _raw_table(["row − column", *labels], rows)]


def _exposure_tables(data: dict[str, Any] | None) -> list[str]:
    if data is None:
        return [html.note("Needs recommendations.parquet and items.parquet (written by `lmrec run`).")]
    models = data["models"]
    rows = [
        [m, v["users"], v["coverage"], v["gini"], v["personalization"], v["long_tail_share"],
         v["mean_recommended_popularity"], data.get("calibration", {}).get("kl", {}).get(m)]
        for m, v in models.items()
    ]  # fmt: skip
    out = [
        f"<p>Top-{data['n']} lists of {data['catalog_items']} catalog items. The consumed history puts "
        f"{data['long_tail']['consumed']:.1%} of its interactions on the long tail.</p>",
        html.table(
            [
                "model",
                "users",
                "coverage",
                "Gini",
                "personalization",
                "long-tail share",
                "mean rec. popularity",
                "calibration KL",
            ],
            rows,
        ),
    ]
    for m, v in models.items():
        if v["top_items"]:
            items = ", ".join(
                f"{html.esc(t.get('title') or t['item_id'])} ({t['lists']})" for t in v["top_items"][:5]
            )
            out.append(f"<p><b>{html.esc(m)}</b> most recommended (lists): {items}</p>")
    return out


def _training_notes(data: dict[str, Any]) -> list[str]:
    out = []
    if data["headline"]:
        keys = ["epochs_run", "best_epoch", "best_valid", "metric", "seconds_per_epoch", "stopped_early"]
        rows = [[m, *[h.get(k) for k in keys]] for m, h in data["headline"].items()]
        out.append(
            html.table(
                ["model", "epochs run", "best epoch", "best valid", "metric", "s/epoch", "stopped early"],
                rows,
            )
        )
    if data["headline_only"]:
        names = ", ".join(data["headline_only"])
        out.append(
            html.note(f"{names}: this results.json holds the training headline only (no per-epoch curve).")
        )
    return out
