"""benchmarks/sections/text.py (issue 16's report) on fabricated result files in tmp_path: the textseq variant
is chosen on validation, the anchor and the cold/warm checks are computed from the numbers, missing or stale
runs show "–" instead of failing. Nothing here is a benchmark result."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from lmrec.experiment.config import load_experiment

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def text(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(BENCH))
    from sections import text

    return text


def _model(label: str, kind: str, valid: float, test: dict, **timings: dict) -> dict:
    return {
        "label": label,
        "model": kind,
        "trials": [{"params": {}, "valid": {"NDCG@10": valid}}],
        "selected": {},
        "config": {"num_threads": 2} if kind == "textseq" else {},
        "test": test,
        "timings": {
            "fit": {"seconds": 100.0, "peak_rss_mb": 900.0},
            "evaluate": {"seconds": 2.0, "peak_rss_mb": 950.4, "users": 8442, "users_per_second": 4221.0},
            **timings,
        },
    }


def _pair(baseline: str, model: str, diff: float, p: float) -> dict:
    return {"model": model, "baseline": baseline, "metric": "NDCG@10", "mean_diff": diff, "t_pvalue": p,
            "wilcoxon_pvalue": 2 * p}  # fmt: skip


def _write(root: Path, name: str, models: list[dict], pairs: list[dict], *, seed: int | None = None) -> None:
    """A results.json whose `experiment` is today's config (not stale), or another seed's (stale)."""
    experiment = dataclasses.asdict(load_experiment(BENCH / "configs" / f"{name}.yaml"))
    experiment.pop("base_dir", None)
    if seed is not None:
        experiment["seed"] = seed
    res = {"experiment": experiment, "protocol": "fake", "machine": {"threads": 1}, "models": models,
           "pairs": pairs, "significance": []}  # fmt: skip
    (root / name).mkdir()
    (root / name / "results.json").write_text(json.dumps(res))


def _cells(lines: list[str], heading: str, label: str) -> list[str]:
    """The cells of `label`'s row in the first table after `heading`."""
    text = "\n".join(lines).splitlines()  # a table is one element of the section's list
    row = next(line for line in text[text.index(heading) :] if line.startswith(f"| {label} |"))
    return [c.strip() for c in row.strip("|").split("|")]


TS = "textseq inductive (frozen MiniLM)"
TT = "textseq transductive (frozen MiniLM)"
TF = "textseq inductive (MiniLM top block fine-tuned)"


def test_p5_verdict_chooses_on_validation_and_reads_the_pairs(text, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    def scores(n10: float, r10: float) -> dict:
        return {
            "NDCG@10": n10,
            "Recall@10": r10,
            "NDCG@50": n10 + 0.02,
            "Recall@50": r10 + 0.1,
            "MRR@all": 0.05,
        }

    models = [
        _model("ease", "ease", 0.07, scores(0.072, 0.11)),
        _model("sasrec", "sasrec", 0.06, scores(0.060, 0.10)),
        _model(TS, "textseq", 0.080, scores(0.070, 0.130)),  # best on validation
        _model(TT, "textseq", 0.070, scores(0.090, 0.150)),  # best on test: must not be chosen
        _model(TF, "textseq", 0.075, scores(0.100, 0.160)),
    ]
    pairs = [
        _pair("sasrec", TS, 0.010, 0.003),
        _pair("ease", TS, -0.002, 0.4),
        _pair("sasrec", TT, 0.03, 1e-6),
    ]
    _write(tmp_path, "p5_scientific", models, pairs)
    lines = text.p5_section(tmp_path)
    verdict = next(line for line in lines if line.startswith("Verdict") and "**met**" in line)
    assert f"**{TS}** (0.0800)" in verdict and TT not in verdict
    assert "NDCG@10 0.0700 / Recall@10 0.1300" in verdict
    assert "against sasrec: NDCG@10 +0.0100, paired t p = 0.003" in verdict
    assert "against ease: NDCG@10 -0.0020, paired t p = 0.4" in verdict
    anchor = _cells(lines, '### "all items" (`p5_scientific`: complete)', text.ANCHOR)
    assert anchor[1:] == ["0.0645", "0.1238", "0.0901", "0.2409", "–", "–"]  # no MRR, no validation
    assert '### "exclude seen" (`p5_scientific_exclude_seen`: not run yet)' in lines
    assert (
        "Verdict: pending (no textseq model has finished; `p5_scientific_exclude_seen`: not run yet)."
        in lines
    )


def test_cold_warm_checks_are_computed_and_missing_or_stale_runs_are_dashes(text, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ind, tra = "textseq inductive (MiniLM)", "textseq transductive (MiniLM)"
    content, sasrec = "content (MiniLM)", "sasrec (ID only)"
    cold = [
        _model(sasrec, "sasrec", 0.1, {"NDCG@10": 0.0, "HR@10": 0.0}),
        _model(ind, "textseq", 0.1, {"NDCG@10": 0.05, "HR@10": 0.09}),
        _model(tra, "textseq", 0.1, {"NDCG@10": 0.03, "HR@10": 0.06}),
        _model(content, "content", 0.1, {"NDCG@10": 0.02, "HR@10": 0.04}),
    ]
    pairs = [_pair(content, ind, 0.03, 0.001), _pair(content, tra, 0.01, 0.001)]
    _write(tmp_path, "p4_ml100k_cold", cold, pairs)
    warm = [
        _model(sasrec, "sasrec", 0.1, {"NDCG@10": 0.100, "HR@10": 0.2}),
        _model(ind, "textseq", 0.1, {"NDCG@10": 0.096, "HR@10": 0.2}),
        _model(tra, "textseq", 0.1, {"NDCG@10": 0.090, "HR@10": 0.2}),
    ]
    _write(tmp_path, "p4_ml100k_warm", warm, [])
    _write(tmp_path, "p4_ml_latest_small_cold", cold, pairs, seed=7)  # another experiment: not used
    lines = text.slices_section(tmp_path)
    assert _cells(lines, "### MovieLens-100K", ind) == [ind, "0.0500", "0.0900", "0.0960", "–"]
    assert _cells(lines, "### MovieLens-100K", content) == [content, "0.0200", "0.0400", "–", "–"]
    checks = [line for line in lines if line.startswith("- textseq")]
    assert checks[0] == (
        f"- {ind}: cold 0.0500 vs content 0.0200 (2.50x, paired t p = 0.001): **met**; "
        "warm 0.0960 vs SASRec 0.1000 (96.0% of it): **met**."
    )
    assert (
        "(1.50x, paired t p = 0.001): **not met**" in checks[1] and "(90.0% of it): **not met**" in checks[1]
    )
    assert len(checks) == 2  # the stale ml-latest-small run contributes nothing
    assert (
        "Runs: `p4_ml_latest_small_cold` (STALE, rerun), `p4_ml_latest_small_warm` (not run yet), "
        in " ".join(lines)
    )
    assert "Runs: `p4_scientific_cold` (not run yet), `p4_scientific_warm` (not run yet)." in lines
    # a blend of textseq with the content model is checked the same way, in its own runs (`_blend`)
    blend = "weighted textseq+content"
    cold_blend = [*cold[1:], _model(blend, "weighted", 0.1, {"NDCG@10": 0.041})]
    _write(tmp_path, "p4_scientific_cold_blend", cold_blend, [_pair(content, blend, 0.021, 0.004)])
    _write(
        tmp_path, "p4_scientific_warm_blend", [*warm, _model(blend, "weighted", 0.1, {"NDCG@10": 0.12})], []
    )
    lines = text.slices_section(tmp_path)
    blend_checks = [line for line in lines if line.startswith(f"- {blend}")]
    assert blend_checks == [
        f"- {blend}: cold 0.0410 vs content 0.0200 (2.05x, paired t p = 0.004): **met**; "
        "warm 0.1200 vs SASRec 0.1000 (120.0% of it): **met**."
    ]
    assert "Runs: `p4_scientific_cold_blend` (complete), `p4_scientific_warm_blend` (complete)." in lines
    # twice the content model but not significant at 0.01; no warm run yet
    weak = {"models": cold, "pairs": [_pair(content, ind, 0.03, 0.02)]}
    assert text.slice_checks(weak, None)[0] == (
        f"- {ind}: cold 0.0500 vs content 0.0200 (2.50x, paired t p = 0.02): **not met**; warm check pending."
    )


def test_cost_table_reports_text_cache_and_finetuning(text, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    frozen = {"epochs_run": 30, "best_epoch": 25, "seconds_per_epoch": 40.31}
    tuned = {**frozen, "finetune": {"epochs_run": 3, "kept": False, "seconds_per_epoch": 120.5}}
    models = [
        _model("pop", "pop", 0.02, {}, training={}),
        _model(
            TS, "textseq", 0.08, {}, training=frozen, item_text={"texts": 4385, "encoded": 0, "seconds": 0.8}
        ),
        _model(TF, "textseq", 0.07, {}, training=tuned, item_text={"memo": True}),
    ]
    _write(tmp_path, "p5_scientific", models, [])
    lines = text.cost_section(tmp_path)
    assert not any(line.startswith("| p5_scientific | pop |") for line in lines)
    head = "## Issue 16: what item text costs"
    assert _cells(lines, head, "p5_scientific")[1:] == [
        TS, "0.8", "4385 / 0", "40.3", "30 (25)", "–", "–", "2", "100", "950", "4221"
    ]  # fmt: skip
    assert _cells(lines, head, f"p5_scientific | {TF}")[2:8] == [
        "memo",
        "–",
        "40.3",
        "30 (25)",
        "120.5",
        "3 (dropped)",
    ]


def test_no_results_at_all_is_a_report_of_what_is_missing(text, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = "\n".join(text.text_section(tmp_path))
    assert out.count("not run yet") == 18 and "_no run finished yet_" in out and "STALE" not in out


def test_hybrid_verdict_is_the_run_s_best_on_validation_against_the_anchor(text, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    def scores(n10: float, r10: float) -> dict:
        return {"NDCG@10": n10, "Recall@10": r10, "NDCG@50": 0.1, "Recall@50": 0.25, "MRR@all": 0.07}

    blend = "weighted textseq+itemknn"
    models = [
        _model("itemknn", "itemknn", 0.0799, scores(0.0776, 0.1167)),
        _model(TS, "textseq", 0.0715, scores(0.0641, 0.1188)),
        _model(blend, "weighted", 0.0850, scores(0.0800, 0.1300)),
    ]
    _write(tmp_path, "p5_scientific_hybrids", models, [_pair("itemknn", blend, 0.0024, 0.001)])
    out = "\n".join(text.hybrids_section(tmp_path))
    assert f"**{blend}** (0.0850)" in out and "**met**" in out
    # a blend that wins on validation but misses the anchor's Recall@10 on test does not meet it
    models[2] = _model(blend, "weighted", 0.0850, scores(0.0800, 0.1200))
    (tmp_path / "p5_scientific_hybrids" / "results.json").unlink()
    (tmp_path / "p5_scientific_hybrids").rmdir()
    _write(tmp_path, "p5_scientific_hybrids", models, [])
    assert "**not met**" in "\n".join(text.hybrids_section(tmp_path))


def test_finetune_verdict_reads_the_tuning_stage(text, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    test = {"NDCG@10": 0.064, "Recall@10": 0.119, "NDCG@50": 0.09, "Recall@50": 0.236, "MRR@all": 0.055}
    tune = {"epochs_run": 4, "best_valid": 0.0722, "frozen_best_valid": 0.0715, "kept": True}
    models = [
        _model(TS, "textseq", 0.0715, test, training={"epochs_run": 20}),
        _model(TF, "textseq", 0.0722, test, training={"epochs_run": 20, "finetune": tune}),
    ]
    _write(tmp_path, "p5_scientific_finetune", models, [_pair(TS, TF, 0.001, 0.2)])
    out = "\n".join(text.finetune_section(tmp_path))
    assert "`p5_scientific_finetune_lr1e5`: not run yet" in out
    assert "validation NDCG@10 0.0722 against the frozen stage's 0.0715: tuned encoder kept" in out
    assert "Test, fine-tuned against frozen: NDCG@10 +0.0010, paired t p = 0.2" in out
