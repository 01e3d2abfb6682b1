"""benchmarks/sections/augment.py on fabricated result files in tmp_path: a run without its report lists
what each seed has finished (a finished seed's results.json, else a stopped seed's partial_results.json).
Nothing here is a benchmark result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _write(path: Path, labels: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    models = [
        {"label": label, "test": {"NDCG@10": 0.05 + i / 100}, "timings": {"fit": {"seconds": 10.0 * (i + 1)}}}
        for i, label in enumerate(labels)
    ]
    path.write_text(json.dumps({"models": models}))


def test_an_unfinished_run_lists_each_seeds_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    from sections import augment

    monkeypatch.setattr(augment, "RESULTS", tmp_path)
    assert augment.progress_lines("run") == []  # nothing started: the caller says "Not run yet"
    _write(tmp_path / "run/seed_10/partial_results.json", ["b"])
    _write(tmp_path / "run/seed_2/results.json", ["a", "a+x"])
    _write(tmp_path / "run/seed_2/partial_results.json", ["stale"])  # a finished seed reads results.json
    rows = [line for line in augment.progress_lines("run") if line.startswith("| ") and "---" not in line]
    assert rows[1:] == [
        "| 2 | a | 0.0500 | 10 | seed done |",
        "| 2 | a+x | 0.0600 | 20 | seed done |",
        "| 10 | b | 0.0500 | 10 | partial |",
    ]
    stopped = [line for line in augment.progress_lines("run", stopped_only=True) if line.startswith("| ")]
    assert stopped[1:] == ["| 10 | b | 0.0500 | 10 | partial |"]  # after the header
