"""README examples are executed, so the documentation cannot drift from the API."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_python_examples() -> None:
    assert python_blocks(), "README lost its Python example"


SLOW_EXAMPLES = ("TextSeq(", "SASRec(", "BERT4Rec(", "GRU4Rec(", 'make_encoder("minilm")')
"""An example that trains a torch model or loads the sentence encoder takes minutes on two cores: it runs
under `-m slow` (CI's separate step); its imports are checked by default (`..._imports_resolve`)."""


def example_params() -> list[object]:
    return [
        pytest.param(i, marks=pytest.mark.slow) if any(s in block for s in SLOW_EXAMPLES) else i
        for i, block in enumerate(python_blocks())
    ]


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_python_example_imports_resolve(index: int) -> None:
    """Every name an example imports exists (also for the examples that run only under -m slow)."""
    tree = ast.parse(python_blocks()[index])
    imports = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    assert imports, f"README example #{index} imports nothing from lmrec"
    exec(compile(ast.Module(body=imports, type_ignores=[]), f"README.md[python #{index}]", "exec"), {})


@pytest.mark.parametrize("index", example_params())
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
