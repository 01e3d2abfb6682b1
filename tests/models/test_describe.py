"""`lmrec models` and `lmrec.models.describe`: every registered model's parameters, types, defaults and docs
come from its config dataclass."""

from __future__ import annotations

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from lmrec.cli.app import app
from lmrec.models.describe import describe_model, describe_models, field_docs, first_sentence
from lmrec.models.params import param_types
from lmrec.models.registry import MODELS, get_model_class
from lmrec.models.sequential.sasrec import SASRecConfig


def test_every_model_lists_every_parameter_with_its_default_and_doc() -> None:
    infos = describe_models()
    assert [i.name for i in infos] == list(MODELS)
    for info in infos:
        config = get_model_class(info.name).config_class
        assert [p.name for p in info.params] == list(param_types(config)), info.name
        defaults = {f.name: f for f in dataclasses.fields(config)}
        for p in info.params:
            field = defaults[p.name]
            if field.default is not dataclasses.MISSING:
                assert p.default == field.default, (info.name, p.name)
            assert p.doc and "\n" not in p.doc, (info.name, p.name)  # every parameter is documented
        assert info.doc, info.name


def test_docs_come_from_the_field_docstrings_inherited_ones_too() -> None:
    ease = describe_model("ease")
    reg = next(p for p in ease.params if p.name == "reg")
    assert (reg.type, reg.default) == ("float", 500.0) and reg.doc.startswith("L2 penalty λ")
    docs = field_docs(SASRecConfig)  # epochs is declared on the shared SequentialConfig
    assert docs["epochs"].startswith("Most epochs") and docs["n_blocks"] == "Self-attention blocks."
    sasrec = describe_model("sasrec")
    assert "uses_sequences" in sasrec.capabilities
    assert next(p for p in sasrec.params if p.name == "num_threads").type == "int | None"
    assert (
        first_sentence("BPR (Rendle et al. 2009) by implicit. Then more.")
        == "BPR (Rendle et al. 2009) by implicit."
    )
    with pytest.raises(KeyError, match="known models"):
        describe_model("nope")


def test_models_command() -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["models", "ease"])
    assert res.exit_code == 0, res.output
    assert "reg" in res.output and "500.0" in res.output and "L2 penalty" in res.output
    res = runner.invoke(app, ["models", "--json"])
    assert [m["name"] for m in json.loads(res.output)] == list(MODELS)
    res = runner.invoke(app, ["models", "nope"])
    assert res.exit_code == 2 and "known models" in res.output
