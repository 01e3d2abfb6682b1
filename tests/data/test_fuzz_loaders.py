"""Every malformed file of `fuzz_corpus` through `load_dataset` and `lmrec data info`: a clear error or a
reported problem naming file and line, never a traceback, never a silently changed value."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fuzz_corpus import Case, corpus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmrec.data.loaders import load_dataset, load_table
from lmrec.data.raw import RawLog
from lmrec.errors import DataError

CASES = corpus()
REPO = Path(__file__).resolve().parents[2]


def _names_line(text: str, case: Case) -> bool:
    """`line N`, a Parquet file's `row N`, or `file:N` (the UniSRec loader's form)."""
    if case.line is None:
        return True
    where = rf"\b(line|row) {case.line}\b|{re.escape(Path(case.file).name)}:{case.line}\b"
    return re.search(where, text) is not None


def _check_error(text: str, case: Case, path: Path) -> None:
    assert str(path) in text, text
    assert _names_line(text, case), text
    assert case.mentions is None or case.mentions in text, text
    if case.folder and case.data is not None:  # the damaged file of a multi-file format, by name
        assert case.file in text, text


def _reported_lines(log: RawLog, path: Path) -> set[int]:
    """Lines named by the log's problems, bad values and warnings about `path`."""
    lines = {p.line for p in log.problems if path.name in p.source}
    if not log.bad_values.empty:
        rows = log.bad_values["row"].to_numpy()
        frame = log.frame.iloc[rows]
        lines |= {int(n) for n, s in zip(frame["line"], frame["source"], strict=True) if path.name in str(s)}
    for warning in log.meta.get("warnings", []):
        if path.name in warning:
            lines |= {int(n) for n in re.findall(r"\bline (\d+)\b", warning)}
    return lines


def _typed(values: list[Any]) -> list[tuple[str, Any]]:
    return [(type(v).__name__, v) for v in values]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_load_dataset(case: Case, tmp_path: Path) -> None:
    path = case.write(tmp_path)
    if case.expect == "error":
        with pytest.raises(DataError) as info:
            load_dataset(path, **case.options)
        _check_error(str(info.value), case, path)
        return
    log = load_dataset(path, **case.options)
    if case.expect == "problem" or case.line is not None:
        assert case.line in _reported_lines(log, path), (log.problems, log.bad_values, log.meta)
    if case.ids is not None:
        users, items = case.ids
        assert _typed(log.frame["user"].tolist()) == _typed(list(users))
        assert _typed(log.frame["item"].tolist()) == _typed(list(items))


def _cli(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str]:
    from lmrec.cli.app import main

    monkeypatch.setattr(sys, "argv", ["lmrec", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_cli_data_info(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = case.write(tmp_path)
    args = ["data", "info", str(path)]
    for option, value in case.options.items():
        args += [{"encoding": "--encoding", "format": "--format"}[option], value]
    code, text = _cli(args, capsys, monkeypatch)
    assert "Traceback" not in text, text
    if case.expect == "error":
        assert code == 2, text
        assert len(text.strip().splitlines()) == 1 and text.startswith("error:"), text
        _check_error(text.replace("\n", ""), case, path)
    else:
        assert code == 0, text
        if case.line is not None:  # a warning says "line N", a problem "file:N: column ..."
            where = rf"\bline {case.line}\b|{re.escape(path.name)}:{case.line}\b"
            assert re.search(where, text.replace("\n", " ")), text


@pytest.mark.parametrize(
    "name", ["csvgz-truncated", "udata-latin1-byte", "json-id-object", "parquet-text-file", "zip-truncated"]
)
def test_cli_subprocess_exit_code_and_message(name: str, tmp_path: Path) -> None:
    """The installed entry point, as a user runs it (no test harness between)."""
    case = next(c for c in CASES if c.name == name)
    path = case.write(tmp_path)
    env = {"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "lmrec.cli", "data", "info", str(path)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    text = run.stdout + run.stderr
    assert run.returncode == 2, text
    assert "Traceback" not in text and "Aborted" not in text, text
    assert str(path) in text.replace("\n", ""), text


def test_corpus_covers_every_format_and_outcome() -> None:
    formats = {c.name.split("-")[0] for c in CASES}
    assert formats >= {"csv", "tsv", "udata", "dat", "mlcsv", "json", "seq", "csvgz", "jsongz", "seqgz"}
    assert formats >= {"uil", "parquet", "zip", "unisrec"}
    assert {c.expect for c in CASES} == {"error", "problem", "exact"}
    assert len(CASES) >= 300


# --- properties -----------------------------------------------------------------------------------

_INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_TEXT_ID = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters=',"'),
    min_size=1,
    max_size=12,
).filter(lambda s: s.strip() == s and s != "")


def _write_csv(path: Path, users: list[str], items: list[str]) -> None:
    rows = "".join(f"{u},{i}\n" for u, i in zip(users, items, strict=True))
    path.write_text("user,item\n" + rows, encoding="utf-8")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=st.lists(_INT64, min_size=1, max_size=20))
def test_int64_ids_round_trip_as_integers(ids: list[int], tmp_path: Path) -> None:
    path = tmp_path / "ints.csv"
    _write_csv(path, [str(i) for i in ids], [str(i) for i in reversed(ids)])
    log = load_table(path)
    assert _typed(log.frame["user"].tolist()) == _typed(ids)
    assert _typed(log.frame["item"].tolist()) == _typed(list(reversed(ids)))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ids=st.lists(
        st.one_of(_TEXT_ID, _INT64.map(str), st.integers(min_value=2**63, max_value=2**70).map(str)),
        min_size=1,
        max_size=20,
    )
)
def test_any_id_text_round_trips_exactly(ids: list[str], tmp_path: Path) -> None:
    """Either every value is an integer that fits int64 (read as ints) or the column is the exact text."""
    path = tmp_path / "ids.csv"
    _write_csv(path, ids, ids)
    log = load_table(path)
    got = log.frame["user"].tolist()
    if all(isinstance(v, int) for v in got):
        assert [str(v) for v in got] == ids
    else:
        assert got == ids
    assert log.frame["item"].tolist() == got


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=st.lists(st.integers(min_value=0, max_value=2**64), min_size=1, max_size=15))
def test_sequence_int_ids_are_kept_or_reported(ids: list[int], tmp_path: Path) -> None:
    path = tmp_path / "seq.txt"
    path.write_text("".join(f"1 {i}\n" for i in ids))
    log = load_dataset(path)
    got = log.frame["item"].tolist()
    bad = set(log.bad_values["row"].tolist())
    for row, (value, want) in enumerate(zip(got, ids, strict=True)):
        if want < 2**63:
            assert value == want
        else:
            assert row in bad  # reported, not wrapped


def test_experiment_dataset_options_declare_the_encoding(tmp_path: Path) -> None:
    """`dataset: {path: ..., options: {encoding: latin-1}}` in an experiment file reaches the loader."""
    from lmrec.experiment.config import DatasetSpec
    from lmrec.experiment.prepare import load_raw

    path = tmp_path / "data.csv"
    path.write_bytes("user,item\n1,caf\xe9\n2,th\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"line 2, column 6: byte 0xe9"):
        load_raw(DatasetSpec(path=str(path)))
    log = load_raw(DatasetSpec(path=str(path), options={"encoding": "latin-1"}))
    assert log.frame["item"].tolist() == ["caf\xe9", "th\xe9"]
