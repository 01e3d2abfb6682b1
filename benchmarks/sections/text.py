"""Issue 16's part: textseq (the text-based sequential model) against the ID-based models on P5 Scientific
and the published VQ-Rec anchor, the cold/warm slices per dataset with the issue's two checks, and what item
text costs. Every figure is read from result files; a run not made yet (or made from an older version of its
experiment file) shows "–" and is named as such, so the section can be generated before every run is in."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from lmrec.experiment.report import to_markdown
from sections.common import HERE, P4, RESULTS, best_valid, stale

P5_COLS = ["NDCG@10", "Recall@10", "NDCG@50", "Recall@50", "MRR@all"]
P5_RUNS = [("p5_scientific", '"all items"'), ("p5_scientific_exclude_seen", '"exclude seen"')]
# RUCAIBox/VQ-Rec README, Scientific: pre-trained on five other Amazon domains, then fine-tuned ("all items")
ANCHOR = "VQ-Rec (published; pre-trained on 5 other Amazon domains, fine-tuned)"
VQREC = {"NDCG@10": 0.0645, "Recall@10": 0.1238, "NDCG@50": 0.0901, "Recall@50": 0.2409}
SLICES = [  # (title, run prefix, run suffix)
    ("Amazon Scientific (P5)", "p4_scientific", ""),
    ("Amazon Scientific (P5): textseq blended with the content model", "p4_scientific", "_blend"),
    ("MovieLens-100K", "p4_ml100k", ""),
    ("ml-latest-small", "p4_ml_latest_small", ""),
]
SLICE_COLS = [("cold", "NDCG@10"), ("cold", "HR@10"), ("warm", "NDCG@10"), ("rare", "NDCG@10")]
COST_RUNS = [name for name, _ in P5_RUNS] + ["p5_scientific_finetune", "p5_scientific_finetune_lr1e5"]
COST_RUNS += [f"{p}_{s}" for _, p, x in SLICES if not x for s in ("cold", "warm")]
# per-run sections (protocol, selected parameters, paired tests); the MovieLens cold/rare runs have theirs
# in issue 3's part
P4_SCI = ["NDCG@10", "HR@10", "NDCG@50", "HR@50", "MRR@10"]
P2_TEXT = ["NDCG@10", "HR@10", "NDCG@20", "HR@20", "MRR@10"]
TEXT_RUNS = [
    ("p5_scientific", 'Amazon Scientific, P5 "all items": textseq and ID models', P5_COLS),
    ("p5_scientific_exclude_seen", 'Amazon Scientific, P5 "exclude seen": textseq and ID models', P5_COLS),
    ("p5_scientific_finetune", 'Amazon Scientific, P5 "all items": frozen vs fine-tuned MiniLM', P5_COLS),
    ("p5_scientific_finetune_lr1e5", 'Scientific, P5 "all items": frozen vs MiniLM tuned at 1e-5', P5_COLS),
    ("p5_scientific_widen", 'Amazon Scientific, P5 "all items": textseq transductive widened', P5_COLS),
    (
        "p5_scientific_widen2",
        'Amazon Scientific, P5 "all items": textseq transductive widened again (768, 1024)',
        P5_COLS,
    ),
    ("p5_scientific_hybrids", 'Amazon Scientific, P5 "all items": textseq + ItemKNN/EASE blends', P5_COLS),
    ("p4_scientific_cold", "Amazon Scientific, P4 cold items (10% of items unseen in training)", P4_SCI),
    ("p4_scientific_warm", "Amazon Scientific, P4 warm targets (companion of the cold slice)", P4_SCI),
    ("p4_scientific_cold_blend", "Amazon Scientific, P4 cold items: textseq blended with content", P4_SCI),
    ("p4_scientific_warm_blend", "Amazon Scientific, P4 warm targets: textseq blended with content", P4_SCI),
    ("p4_ml100k_warm", "MovieLens-100K, P4 warm targets (companion of the cold slice)", P4),
    ("p4_ml100k_cold_blend", "MovieLens-100K, P4 cold items: textseq blended with content", P4),
    ("p4_ml_latest_small_warm", "ml-latest-small, P4 warm targets (companion of the cold slice)", P4),
    ("p2_magazine_text", 'Amazon Magazine Subscriptions, P2 "exclude seen": textseq and ID models', P2_TEXT),
]  # fmt: skip
NAN = float("nan")


def load(results: Path, name: str) -> tuple[dict | None, str]:
    """A run's results (complete, else the models a stopped run finished) and its state for the notes. A
    result made from another version of the experiment file is not used: its models are not today's."""
    for file, state in (("results.json", "complete"), ("partial_results.json", "partial")):
        path = results / name / file
        if path.is_file():
            res = json.loads(path.read_text())
            return (None, "STALE, rerun") if stale(name, res) else (res, state)
    return None, "not run yet"


def models(res: dict | None, kind: str | None = None) -> list[dict]:
    return [m for m in (res or {}).get("models", []) if kind is None or m["model"] == kind]


def paired(res: dict | None, a: str, b: str) -> dict | None:
    """The run's paired test between labels a and b (the file's `evaluation.pairs`, else the best-against-
    each-other tests), with `diff` = b − a on the run's selection metric; None when the run has none."""
    for row in (res or {}).get("pairs") or []:
        if {row["model"], row["baseline"]} == {a, b}:
            return {**row, "diff": row["mean_diff"] * (1 if row["model"] == b else -1)}
    for row in (res or {}).get("significance") or []:
        if {row["model"], row["best"]} == {a, b}:
            return {**row, "diff": row["mean_diff"] * (1 if row["best"] == b else -1)}
    return None


def _p(row: dict | None, what: str) -> str:
    if row is None:
        return f"{what}: no paired test in this run"
    return (
        f"{what}: {row['metric']} {row['diff']:+.4f}, paired t p = {row['t_pvalue']:.2g}, "
        f"Wilcoxon p = {row['wilcoxon_pvalue']:.2g}"
    )


def p5_verdict(name: str, res: dict | None, state: str) -> str:
    """Which textseq variant has the best validation NDCG@10 (never test), whether it reaches the anchor on
    test NDCG@10 and Recall@10, and its paired tests against SASRec and EASE."""
    found = models(res, "textseq")
    if res is None or not found:
        return f"Verdict: pending (no textseq model has finished; `{name}`: {state})."
    planned = sum(spec["name"] == "textseq" for spec in res["experiment"]["models"])
    best = max(found, key=lambda m: best_valid(m, "NDCG@10"))
    valid = best_valid(best, "NDCG@10")
    out = f"Verdict: best textseq on validation NDCG@10: **{best['label']}** ({valid:.4f})"
    if len(found) < planned:
        out += f", {len(found)} of the {planned} variants finished so far (the choice may change)"
    test = best["test"]
    if name == "p5_scientific":  # the anchor's variant
        met = test["NDCG@10"] >= VQREC["NDCG@10"] and test["Recall@10"] >= VQREC["Recall@10"]
        out += (
            f"; on test NDCG@10 {test['NDCG@10']:.4f} / Recall@10 {test['Recall@10']:.4f} against the "
            f"anchor's {VQREC['NDCG@10']} / {VQREC['Recall@10']}: target **{'met' if met else 'not met'}**"
        )
    if state != "complete":
        return out + "; paired tests come with the complete run."
    bases = [m["label"] for kind in ("sasrec", "ease") for m in models(res, kind)]
    return out + "; " + "; ".join(_p(paired(res, b, best["label"]), f"against {b}") for b in bases) + "."


def p5_section(results: Path) -> list[str]:
    out = [
        "## Issue 16 target: textseq on P5 Scientific against the VQ-Rec anchor",
        "",
        "P5: Amazon 2018 Scientific as processed by UniSRec (8,442 users, 4,385 items), the split exactly as "
        "given in its files; full ranking over every item, all users. Sequence models (GRU4Rec, SASRec, "
        "textseq) fit on the training sequences with early stopping on validation NDCG@10 and keep the best "
        "checkpoint; at test their input is the train+valid history (its last <= 50 items). Pop, ItemKNN and "
        "EASE are refitted on train+valid. textseq's item text is Scientific.text through frozen MiniLM "
        "(fine-tuned: MiniLM's top block trained after the frozen stage, kept only if validation improves). "
        'The anchor uses "all items"; "exclude seen" is the companion (a repeated target cannot be hit). '
        "Paired tests are on NDCG@10 over the test users; the per-run sections below hold the protocol text.",
        "",
    ]
    for name, variant in P5_RUNS:
        res, state = load(results, name)
        out += [f"### {variant} (`{name}`: {state})", "", _table(res, name == "p5_scientific"), ""]
        out += [p5_verdict(name, res, state), ""]
    return out


def _table(res: dict | None, anchor: bool) -> str:
    rows = [
        {"model": m["label"], "valid NDCG@10": best_valid(m, "NDCG@10")}
        | {c: m["test"].get(c, NAN) for c in P5_COLS}
        for m in models(res)
    ]
    if anchor:
        rows.append({"model": ANCHOR, "valid NDCG@10": NAN} | VQREC)
    frame = pd.DataFrame(rows).reindex(columns=["model", *P5_COLS, "valid NDCG@10"])
    return to_markdown(frame) if len(frame) else "_no model finished yet_"


FINETUNE_RUNS = [
    ("p5_scientific_finetune", "learning rate 1e-4"),
    ("p5_scientific_finetune_lr1e5", "1e-5"),
    ("p5_scientific_finetune_transductive", "transductive mode, 1e-5"),
]


def finetune_section(results: Path) -> list[str]:
    """Frozen vs fine-tuned encoder, paired, one run per fine-tuning learning rate."""
    return [line for name, rate in FINETUNE_RUNS for line in _finetune_run(results, name, rate)]


def _finetune_run(results: Path, name: str, rate: str) -> list[str]:
    res, state = load(results, name)
    title = f'### Frozen vs fine-tuned MiniLM ({rate}), "all items" (`{name}`: {state})'
    out = [title, "", _table(res, False), ""]
    found = models(res, "textseq")
    tuned = [m for m in found if (m["timings"].get("training") or {}).get("finetune")]
    frozen = [m for m in found if m not in tuned]
    if not tuned or not frozen:
        return [*out, "Verdict: pending.", ""]
    tune = tuned[0]["timings"]["training"]["finetune"]
    kept = (
        "kept" if tune.get("kept") else "dropped (validation did not improve: the model is its frozen twin)"
    )
    out.append(
        f"Verdict: fine-tuning MiniLM's top block for {tune['epochs_run']} epochs reached validation NDCG@10 "
        f"{tune.get('best_valid') or NAN:.4f} against the frozen stage's "
        f"{tune.get('frozen_best_valid') or NAN:.4f}: "
        f"tuned encoder {kept}. "
        + _p(paired(res, frozen[0]["label"], tuned[0]["label"]), "Test, fine-tuned against frozen")
        + "."
    )
    return [*out, ""]


def hybrids_section(results: Path) -> list[str]:
    """textseq blended with ItemKNN / EASE: the blend chosen on validation against the anchor."""
    name = "p5_scientific_hybrids"
    res, state = load(results, name)
    out = ['### textseq blended with ItemKNN / EASE, "all items" (`' + name + f"`: {state})", ""]
    out += [_table(res, True), ""]
    blends = models(res, "weighted")
    if not blends:
        return [*out, "Verdict: pending.", ""]
    best = max(models(res), key=lambda m: best_valid(m, "NDCG@10"))
    test = best["test"]
    met = test["NDCG@10"] >= VQREC["NDCG@10"] and test["Recall@10"] >= VQREC["Recall@10"]
    out.append(
        f"Verdict: the model with the best validation NDCG@10 in this run is **{best['label']}** "
        f"({best_valid(best, 'NDCG@10'):.4f}); on test NDCG@10 {test['NDCG@10']:.4f} / Recall@10 "
        f"{test['Recall@10']:.4f} against the anchor's {VQREC['NDCG@10']} / {VQREC['Recall@10']}: "
        f"**{'met' if met else 'not met'}** (lmrec, no extra-domain data; a blend, not textseq alone)."
    )
    return [*out, ""]


def _metric(res: dict | None, label: str, key: str = "NDCG@10") -> float:
    return next((m["test"].get(key, NAN) for m in models(res) if m["label"] == label), NAN)


def slice_checks(cold: dict | None, warm: dict | None) -> list[str]:
    """Issue 16's checks per textseq variant (and blend of textseq with another model): cold NDCG@10 >= 2x
    the content model's with paired t p < 0.01 (the cold run's pair), and warm NDCG@10 >= 95% of ID-only
    SASRec's (same models, same training data)."""
    runs = [cold, warm]
    labels = list(
        dict.fromkeys(m["label"] for r in runs for kind in ("textseq", "weighted") for m in models(r, kind))
    )
    content = next((m["label"] for m in models(cold, "content")), None)
    sasrec = next((m["label"] for m in models(warm, "sasrec")), None)
    lines = []
    for label in labels:
        c = _metric(cold, label)
        if content is None or math.isnan(c):
            first = "cold check pending"
        else:
            base, row = _metric(cold, content), paired(cold, content, label)
            ratio = f"{c / base:.2f}x" if base > 0 else "content 0"
            ok = c >= 2 * base and row is not None and row["diff"] > 0 and row["t_pvalue"] < 0.01
            p = "no paired test" if row is None else f"paired t p = {row['t_pvalue']:.2g}"
            first = f"cold {c:.4f} vs content {base:.4f} ({ratio}, {p}): **{'met' if ok else 'not met'}**"
        w = _metric(warm, label)
        if sasrec is None or math.isnan(w):
            second = "warm check pending"
        else:
            base = _metric(warm, sasrec)
            ok = w >= 0.95 * base
            share = f"{w / base:.1%} of it" if base > 0 else "SASRec 0"
            second = f"warm {w:.4f} vs SASRec {base:.4f} ({share}): **{'met' if ok else 'not met'}**"
        lines.append(f"- {label}: {first}; {second}.")
    return lines or ["- no textseq result yet."]


def slices_section(results: Path) -> list[str]:
    out = [
        "## Issue 16: cold and warm items",
        "",
        "Per dataset, the cold run scores only test targets that are cold items (10% of the items, seed 42, "
        "removed from train and valid) and the warm run, the same models on the same training data, scores "
        "the other test targets; the rare run (MovieLens only) scores targets with at most 5 training "
        "interactions. Checks of issue 16: textseq's cold NDCG@10 at least twice the content model's "
        "(MiniLM, text similarity to the history) with paired t-test p < 0.01, and its warm NDCG@10 within "
        "5% of ID-only SASRec's or better.",
        "",
    ]
    for dataset, prefix, suffix in SLICES:
        rare = (HERE / "configs" / f"{prefix}_rare{suffix}.yaml").is_file()
        parts = ["cold", "warm"] + (["rare"] if rare else [])
        runs = {s: load(results, f"{prefix}_{s}{suffix}") for s in parts}
        labels = dict.fromkeys(m["label"] for res, _ in runs.values() for m in models(res))
        cols = [(part, key) for part, key in SLICE_COLS if part in runs]
        rows = [
            {"model": label} | {f"{p} {k}": _metric(runs[p][0], label, k) for p, k in cols}
            for label in labels
        ]
        frame = pd.DataFrame(rows, columns=["model", *(f"{p} {k}" for p, k in cols)])
        notes = ", ".join(f"`{prefix}_{s}{suffix}` ({state})" for s, (_, state) in runs.items())
        out += [
            f"### {dataset}",
            "",
            f"Runs: {notes}.",
            "",
            to_markdown(frame) if labels else "_no run finished yet_",
            "",
        ]
        out += [*slice_checks(runs["cold"][0], runs["warm"][0]), ""]
    return out


def _cell(value: object, fmt: str = "{:.1f}") -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else fmt.format(value)


def _kept(tune: dict) -> str:
    return "?" if "kept" not in tune else "tuned encoder kept" if tune["kept"] else "dropped"


def cost_section(results: Path) -> list[str]:
    rows = []
    for name in COST_RUNS:
        res, _ = load(results, name)
        threads = (res or {}).get("machine", {}).get("threads")
        for m in models(res):
            if m["model"] not in ("textseq", "sasrec"):
                continue
            t = m["timings"]
            text, train = t.get("item_text") or {}, t.get("training") or {}
            tune = train.get("finetune") or {}
            rows.append(
                {
                    "run": name,
                    "model": m["label"],
                    "text encode s": "memo" if text.get("memo") else _cell(text.get("seconds")),
                    "texts / encoded": f"{text['texts']} / {text['encoded']}" if "texts" in text else "–",
                    "s/epoch": _cell(train.get("seconds_per_epoch")),
                    "epochs (best)": f"{train['epochs_run']} ({train.get('best_epoch')})" if train else "–",
                    "fine-tune s/epoch": _cell(tune.get("seconds_per_epoch")),
                    "fine-tune epochs": f"{tune['epochs_run']} ({_kept(tune)})" if tune else "–",
                    "torch threads": m.get("config", {}).get("num_threads", threads),
                    "fit s": _cell(t["fit"]["seconds"], "{:.0f}"),
                    "peak RSS MB": round(max(t["fit"]["peak_rss_mb"], t["evaluate"]["peak_rss_mb"])),
                    "users/s": round(t["evaluate"]["users_per_second"]),
                }
            )
    return [
        "## Issue 16: what item text costs",
        "",
        "textseq and SASRec per run: seconds to encode the item texts and how many texts the run had / "
        "actually ran through the encoder (0 encoded: every vector came from the embedding cache; `memo`: "
        "an earlier model of the run had the same encoder and template), training seconds per epoch, epochs "
        "run (best), the fine-tuning stage's seconds per epoch and epochs (and whether the tuned encoder was "
        "kept: only if it improved validation NDCG@10), peak RSS of fit and evaluation, and full-ranking "
        "users/s at test. Wall-clock on the shared 2-core machine.",
        "",
        to_markdown(pd.DataFrame(rows)) if rows else "_no run finished yet_",
        "",
    ]


def text_section(results: Path = RESULTS) -> list[str]:
    """Issue 16's summary tables (the per-run sections are `TEXT_RUNS`, rendered by summarize.py)."""
    return [
        *p5_section(results),
        *finetune_section(results),
        *hybrids_section(results),
        *slices_section(results),
        *cost_section(results),
    ]
