"""Hyper-parameters are checked against the config dataclass: a wrong name lists the valid ones, a wrong
type names the parameter and the type, and the command line's text values are read by declared type."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.errors import ConfigError
from lmrec.experiment.config import parse_experiment
from lmrec.experiment.search import validate_models
from lmrec.models.ease import EASE, EASEConfig
from lmrec.models.params import build_config, parse_param
from lmrec.models.sequential.sasrec import SASRecConfig


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"reg": "abc"}, "EASE: reg expects a float, got 'abc'"),
        ({"reg": True}, "EASE: reg expects a float, got True"),
        ({"max_items": 1.5}, "EASE: max_items expects an integer, got 1.5"),
        ({"precision": 32}, "EASE: precision expects a string, got 32"),
        (
            {"regg": 1},
            "EASE has no parameter 'regg'; its parameters are: reg, max_items, precision, block_items",
        ),
    ],
)
def test_wrong_names_and_types_are_config_errors(params: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        EASE(**params)
    assert str(info.value) == message


def test_value_checks_of_the_dataclass_still_apply_and_good_values_pass_unchanged() -> None:
    with pytest.raises(ConfigError, match="reg must be > 0"):
        EASE(reg=-1)
    assert EASE(reg=50).config.reg == 50 and isinstance(EASE(reg=50).config.reg, int)  # checked, not cast
    assert EASE(reg=np.float32(2.0)).config.reg == 2.0  # numpy scalars are numbers too
    assert build_config(SASRecConfig, {"num_threads": None}, "SASRec").num_threads is None
    with pytest.raises(ConfigError, match="num_threads expects an integer or null, got 'x'"):
        build_config(SASRecConfig, {"num_threads": "x"}, "SASRec")


def test_replacing_params_of_a_given_config_is_checked_too() -> None:
    assert EASE(EASEConfig(reg=5.0), reg=7.0).config.reg == 7.0
    with pytest.raises(ConfigError, match="has no parameter 'lam'"):
        EASE(EASEConfig(), lam=1.0)


def test_parse_param_reads_text_by_the_declared_type() -> None:
    read = [
        parse_param(SASRecConfig, key, text, "SASRec")
        for key, text in [
            ("epochs", "3"),
            ("learning_rate", "1e-3"),
            ("positions", "end"),
            ("num_threads", "null"),
            ("num_threads", "2"),
        ]
    ]
    assert read == [3, 0.001, "end", None, 2] and isinstance(read[1], float)
    assert parse_param(EASEConfig, "precision", "1e3", "EASE") == "1e3"  # a string field keeps the text
    with pytest.raises(ConfigError, match="EASE: reg expects a float, got 'abc'"):
        parse_param(EASEConfig, "reg", "abc", "EASE")
    with pytest.raises(ConfigError, match=r"epochs expects an integer, got '2\.5'"):
        parse_param(SASRecConfig, "epochs", "2.5", "SASRec")
    with pytest.raises(ConfigError, match="its parameters are: reg, max_items"):
        parse_param(EASEConfig, "regg", "1", "EASE")


def test_experiment_files_get_the_same_check_with_the_key_path() -> None:
    doc = {
        "name": "x",
        "dataset": {"name": "ml-100k"},
        "models": [{"name": "ease", "params": {"reg": "abc"}}],
    }
    with pytest.raises(ConfigError, match=r"^models\[0\]\.params\.reg: expected a float, got 'abc'$"):
        parse_experiment(doc)
    fine = parse_experiment({**doc, "models": [{"name": "ease", "params": {"reg": 50}}]})
    validate_models(fine)  # the run repeats the check: nothing to say
    assert type(fine.models[0].params["reg"]) is int  # checked, not converted
