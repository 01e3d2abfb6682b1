"""Every user error of the CLI is one line on stderr naming the input, with exit code 2 and no traceback;
training prints its per-epoch lines on stderr in the format of `lmrec run`'s own lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from lmrec.cli.app import app
from lmrec.data.synthetic import synthetic_log

runner = CliRunner()
TINY_SASREC = ["embedding_size=8", "epochs=2", "num_threads=1", "batch_size=64"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An experiment on integer user and item ids, its prepared data (`prep`, with a catalog) and a
    fitted popularity model (`pop`)."""
    root = tmp_path_factory.mktemp("cli_errors")
    synthetic_log(n_users=60, n_items=30, n_interactions=900, seed=7).to_frame().to_csv(
        root / "events.csv", index=False
    )
    spec = {
        "name": "errors",
        "dataset": {
            "path": "events.csv",
            "format": "tabular",
            "columns": {"user": "user", "item": "item", "timestamp": "timestamp"},
        },
        "split": {"method": "leave_one_out"},
        "evaluation": {"ns": [10], "metrics": ["ndcg"]},
        "models": [{"name": "pop"}, {"name": "sasrec", "params": _params_dict(TINY_SASREC)}],
    }
    (root / "exp.yaml").write_text(yaml.safe_dump(spec))
    ok(runner.invoke(app, ["data", "prepare", str(root / "exp.yaml"), "--out", str(root / "prep")]))
    items = pd.read_parquet(root / "prep" / "train.parquet")["item"].unique()
    pd.DataFrame({"item": items, "title": [f"item {i}" for i in items]}).to_parquet(
        root / "prep" / "catalog.parquet", index=False
    )
    ok(
        runner.invoke(
            app, ["train", "--data", str(root / "prep"), "--model", "pop", "--out", str(root / "pop")]
        )
    )
    return root


def _params_dict(pairs: list[str]) -> dict[str, int]:
    return {k: int(v) for k, v in (p.split("=") for p in pairs)}


def ok(res: object) -> None:
    assert getattr(res, "exit_code", None) == 0, getattr(res, "output", res)


def user_error(args: list[str], *named: str) -> str:
    """Run the CLI in-process; assert exit code 2, one stderr line (no traceback) naming every `named`."""
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit), (res.exception, res.output)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for text in named:
        assert text in lines[0], (text, lines[0])
    return lines[0]


@pytest.mark.parametrize("n", ["0", "-1"])
def test_list_length_must_be_positive(folder: Path, n: str) -> None:
    pop, prep = str(folder / "pop"), str(folder / "prep")
    for args in (
        ["recommend", "--model", pop, "--user", "1", "-n", n],
        ["similar", "--model", pop, "--item", "1", "-n", n],
        ["evaluate", "--model", pop, "--data", prep, "-n", "10", "-n", n],
    ):
        user_error(args, f"-n must be a positive integer, got {n}")


def test_a_non_integer_user_of_an_integer_id_model_is_named_as_typed(folder: Path) -> None:
    line = user_error(["recommend", "--model", str(folder / "pop"), "--user", "abc"], "['abc']")
    assert "unknown user id" in line and "-9223372036854775808" not in line


def test_a_damaged_arrays_file_is_named(folder: Path, tmp_path: Path) -> None:
    for name, content in (("truncated", (folder / "pop" / "arrays.npz").read_bytes()[:300]), ("empty", b"")):
        model = tmp_path / name
        model.mkdir()
        (model / "model.json").write_bytes((folder / "pop" / "model.json").read_bytes())
        (model / "arrays.npz").write_bytes(content)
        user_error(["recommend", "--model", str(model), "--user", "1"], f"{model / 'arrays.npz'}", "damaged")


def test_parameters_are_checked_by_name_and_type(folder: Path, tmp_path: Path) -> None:
    base = ["train", "--data", str(folder / "prep"), "--model", "ease", "--out", str(tmp_path / "m")]
    user_error([*base, "--param", "reg=abc"], "--param reg=abc", "reg expects a float, got 'abc'")
    user_error([*base, "--param", "regg=1"], "--param regg=1", "reg, max_items, precision, block_items")
    user_error([*base, "--param", "reg"], "--param must look like key=value, got 'reg'")
    assert not (tmp_path / "m").exists()


def test_a_template_over_a_missing_column_names_it(folder: Path, tmp_path: Path) -> None:
    args = ["train", "--data", str(folder / "prep"), "--model", "content", "--out", str(tmp_path / "m")]
    user_error([*args, "--item-text", "tfidf:8", "--template", "{titel}"], "'{titel}'", "['title']")


def test_option_errors_raised_by_commands_are_one_line_too(folder: Path, tmp_path: Path) -> None:
    train = ["train", "--data", str(folder / "prep"), "--out", str(tmp_path / "m")]
    user_error([*train, "--model", "nope"], "unknown model 'nope'")
    user_error([*train, "--model", "pop", "--fit-on", "all"], "--fit-on")
    user_error(["similar", "--model", str(folder / "pop"), "--item", "1"], "model pop has no item-to-item")
    user_error(["serve", str(tmp_path / "none")], f"{tmp_path / 'none'} is not a saved lmrec model")


def test_data_info_input_errors_are_one_line(tmp_path: Path) -> None:
    """Issue 17: a fake Parquet file printed pyarrow's ~89-line ArrowInvalid traceback and an unknown
    `--encoding` a LookupError traceback."""
    fake = tmp_path / "x.parquet"
    fake.write_text("user,item\n1,2\n")
    user_error(["data", "info", str(fake)], str(fake), "not a readable Parquet file")
    table = tmp_path / "events.csv"
    table.write_text("user,item\n1,2\n")
    user_error(["data", "info", str(table), "--encoding", "nope"], "unknown encoding 'nope'")
    user_error(["data", "info", str(table), "--format", "nope"], "format must be one of", "'nope'")


def test_click_usage_errors_are_one_line_naming_the_option(folder: Path) -> None:
    """Issue 17 item 7: a wrong type, an unknown option or command, a missing option or a value outside a
    declared range printed typer's five-to-six-line box; now one line naming the option and the help."""
    pop = str(folder / "pop")
    user_error(
        ["recommend", "--model", pop, "--user", "1", "-n", "abc"],
        "Invalid value for '-n'",
        "valid integer",
        "'lmrec recommend --help'",
    )
    user_error(["serve", pop, "--max-body-bytes", "0"], "--max-body-bytes", "'lmrec serve --help'")
    user_error(["recommend", "--user", "1"], "Missing option '--model'")
    user_error(["train", "--bogus"], "No such option: --bogus", "'lmrec train --help'")
    user_error(["--bogus"], "No such option: --bogus", "'lmrec --help'")
    user_error(["data", "infoo"], "No such command 'infoo'", "'lmrec data --help'")
    # a group called without a sub-command still prints its help (a usage error click shows as help)
    res = runner.invoke(app, ["data"])
    assert res.exit_code == 2 and "Usage" in res.output and "error:" not in res.output


def test_bad_yaml_is_one_line_with_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmodels: [pop,\nsplit: 3\n")
    user_error(
        ["run", str(bad)], str(bad), "not valid YAML: line 4, column 1", "flow sequence at line 2, column 9"
    )


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["data", "info", "{fake_parquet}"], "not a readable Parquet file"),
        (["data", "info", "{prep}/../events.csv", "--encoding", "nope"], "unknown encoding 'nope'"),
        (["recommend", "--model", "{pop}", "--user", "1", "-n", "0"], "-n must be a positive integer, got 0"),
        (["recommend", "--model", "{pop}", "--user", "abc"], "['abc']"),
        (["train", "--data", "{prep}", "--model", "ease", "--out", "{tmp}", "--param", "reg=abc"], "reg=abc"),
        (["recommend", "--model", "{pop}", "--user", "1", "-n", "abc"], "valid integer"),
        (["serve", "{pop}", "--max-body-bytes", "0"], "--max-body-bytes"),
    ],
)
def test_a_real_process_prints_one_line_and_exits_2(
    folder: Path, tmp_path: Path, args: list[str], named: str
) -> None:
    paths = {"pop": str(folder / "pop"), "prep": str(folder / "prep"), "tmp": str(tmp_path / "m")}
    paths["fake_parquet"] = str(tmp_path / "fake.parquet")
    (tmp_path / "fake.parquet").write_bytes(b"PAR1 but not really\n")
    proc = subprocess.run(
        [sys.executable, "-m", "lmrec.cli", *(a.format(**paths) if a[0] == "{" else a for a in args)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and named in proc.stderr, proc.stderr


def test_train_prints_each_epoch_on_stderr_once_per_run(folder: Path, tmp_path: Path) -> None:
    args = ["train", "--data", str(folder / "prep"), "--model", "sasrec"]
    params = [arg for p in TINY_SASREC for arg in ("--param", p)]
    for run in ("a", "b"):  # the second command in this process must not print the lines twice
        res = runner.invoke(app, [*args, "--out", str(tmp_path / run), *params])
        ok(res)
        epochs = [line for line in res.stderr.splitlines() if "sasrec epoch" in line]
        assert len(epochs) == 2 and "epoch 1/2 loss" in epochs[0] and "valid NDCG@10" in epochs[0]
        assert "sasrec epoch" not in res.stdout and "best validation NDCG@10" in res.stdout


def test_run_prints_epoch_lines_in_its_own_format(folder: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["run", str(folder / "exp.yaml"), "--out", str(tmp_path)])
    ok(res)
    stderr = res.stderr.splitlines()
    epochs = [line for line in stderr if "sasrec epoch" in line]
    assert epochs and not any("INFO" in line for line in stderr)
    # console.log lines: a [time] column, or the blank of that column under a line that has one
    data = next(line for line in stderr if "events after cleaning" in line)
    column = data.index("data:")
    assert all(line.index("sasrec epoch") == column for line in epochs), epochs
    quiet = runner.invoke(app, ["run", str(folder / "exp.yaml"), "--out", str(tmp_path), "--quiet"])
    ok(quiet)
    assert "sasrec epoch" not in quiet.output
