"""README examples are executed, so the documentation cannot drift from the API."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_python_examples() -> None:
    assert python_blocks(), "README lost its Python example"


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_python_example_runs(
    index: int, shared_data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LMREC_DATA_HOME", str(shared_data))
    exec(compile(python_blocks()[index], f"README.md[python #{index}]", "exec"), {})
    out = capsys.readouterr().out.strip()
    assert 0.0 < float(out.splitlines()[-1]) < 1.0


def test_readme_yaml_example_parses() -> None:
    import yaml

    from lmrec.experiment.config import parse_experiment

    block = re.findall(r"```yaml\n(.*?)```", README.read_text(), flags=re.S)[0]
    exp = parse_experiment(yaml.safe_load(block))
    assert exp.split.method == "temporal_ratio"
