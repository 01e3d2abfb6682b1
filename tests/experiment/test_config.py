from pathlib import Path

import numpy as np
import pytest

from lmrec.errors import ConfigError
from lmrec.experiment.config import load_experiment, parse_experiment
from lmrec.experiment.search import candidates

REPO = Path(__file__).resolve().parents[2]
BASE = {"name": "t", "dataset": {"name": "ml-100k"}, "models": [{"name": "pop"}]}


def test_quickstart_file_parses():
    exp = load_experiment(REPO / "examples" / "quickstart.yaml")
    assert exp.split.method == "temporal_ratio"
    assert {m.name for m in exp.models} >= {"pop", "itemknn", "ease", "als", "bpr"}


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"modles": []}, "unknown key"),
        ({"models": [{"name": "pop", "parms": {}}]}, r"models\[0\]: unknown key"),
        ({"split": {"method": "shuffle"}}, "split.method"),
        ({"evaluation": {"refit": "test"}}, "refit"),
        ({"evaluation": {"ns": [0]}}, "positive"),
        ({"models": [{"name": "pop"}, {"name": "pop"}]}, "unique"),
        ({"seed": "x"}, "seed: expected an integer, got 'x'"),
        ({"task": "ctr"}, "task"),
    ],
)
def test_invalid_files_name_the_key(patch, message):
    with pytest.raises(ConfigError, match=message):
        parse_experiment({**BASE, **patch})


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_experiment(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_experiment(bad)


def test_grid_and_random_search():
    exp = parse_experiment(
        {
            **BASE,
            "models": [
                {
                    "name": "itemknn",
                    "params": {"shrink": 5},
                    "search": {"grid": {"k": [10, 20], "shrink": [0, 5]}},
                },
                {
                    "name": "als",
                    "search": {
                        "random": {
                            "factors": [8, 16],
                            "reg": {"loguniform": [0.001, 1]},
                            "iterations": {"int": [3, 5]},
                        },
                        "n_iter": 6,
                    },
                },
            ],
        }
    )
    grid = candidates(exp.models[0], np.random.default_rng(0))
    assert grid == [
        {"shrink": 0, "k": 10},
        {"shrink": 5, "k": 10},
        {"shrink": 0, "k": 20},
        {"shrink": 5, "k": 20},
    ]
    draws = candidates(exp.models[1], np.random.default_rng(0))
    again = candidates(exp.models[1], np.random.default_rng(0))
    assert draws == again and 1 <= len(draws) <= 6
    for d in draws:
        assert d["factors"] in (8, 16) and 0.001 <= d["reg"] <= 1 and 3 <= d["iterations"] <= 5


def test_bad_search_space_fails_at_parse_time():
    with pytest.raises(ConfigError, match=r"models\[0\]\.search\.random\.reg: must be a list of choices"):
        parse_experiment(
            {**BASE, "models": [{"name": "als", "search": {"random": {"reg": {"beta": [1, 2]}}}}]}
        )


@pytest.mark.parametrize(
    "path", sorted((REPO / "benchmarks" / "configs").glob("*.yaml")), ids=lambda p: p.name
)
def test_benchmark_configs_parse(path: Path) -> None:
    if path.name.startswith("sim_"):  # closed-loop simulations (`lmrec simulate`), not experiments
        from lmrec.simulation import load_simulation

        assert load_simulation(path).policies
        return
    exp = load_experiment(path)
    assert exp.protocol and exp.protocol.startswith(("P1", "P2", "P3", "P4", "P5"))


def test_select_by_must_be_evaluated():
    with pytest.raises(ConfigError, match="not among the evaluated metrics"):
        parse_experiment({**BASE, "evaluation": {"ns": [10], "metrics": ["recall"], "select_by": "NDCG@10"}})
    with pytest.raises(ConfigError, match="RMSE"):
        parse_experiment({**BASE, "task": "rating", "evaluation": {"select_by": "NDCG@10"}})
    assert parse_experiment({**BASE, "task": "rating"}).select_by == "RMSE"


def test_model_parameter_typos_fail_before_any_data_is_loaded():
    import dataclasses

    from lmrec.experiment.config import ModelSpec, SearchSpec
    from lmrec.experiment.search import validate_models

    with pytest.raises(ConfigError, match=r"models\[0\]\.search\.grid: unknown key\(s\) \['regg'\] for EASE"):
        parse_experiment({**BASE, "models": [{"name": "ease", "search": {"grid": {"regg": [1.0]}}}]})
    with pytest.raises(ConfigError, match=r"models\[0\]\.name: unknown model 'sasrec2'"):
        parse_experiment({**BASE, "models": [{"name": "sasrec2"}]})
    # an Experiment built in Python (no file) gets the same check when it is run
    typo = ModelSpec(name="ease", search=SearchSpec(grid={"regg": [1.0]}))
    with pytest.raises(ConfigError, match=r"models\[0\]\.search\.grid: unknown key"):
        validate_models(dataclasses.replace(parse_experiment(BASE), models=(typo,)))
