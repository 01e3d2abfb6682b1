"""The experiment schema: every key of a file typed and checked at parse time, problems named by key path."""

from __future__ import annotations

import copy
import random
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from lmrec.errors import ConfigError
from lmrec.experiment.config import load_experiment, parse_experiment
from lmrec.experiment.schema import as_document

REPO = Path(__file__).resolve().parents[2]
SHIPPED = [
    *sorted((REPO / "benchmarks" / "configs").glob("*.yaml")),
    *sorted((REPO / "examples").glob("*.yaml")),
]
# experiments only: simulation files (`lmrec simulate`, top-level `policies:`) have their own schema
CONFIGS = [p for p in SHIPPED if "policies" not in (yaml.safe_load(p.read_text()) or {})]
HEAD = "name: t\ndataset: {name: ml-100k}\n"
POP = "models: [{name: pop}]\n"

BAD_FILES = [
    # (file body after the name and dataset, the message after the file's path)
    (POP + "evaluation: {user_sample: abc}", "evaluation.user_sample: expected an integer, got 'abc'"),
    (
        POP + "evaluation: {sampled_negatives: 1.5}",
        "evaluation.sampled_negatives: expected an integer, got 1.5",
    ),
    (POP + "evaluation: {ns: [ten]}", "evaluation.ns[0]: expected an integer, got 'ten'"),
    (POP + "evaluation: {user_smaple: 100}", "evaluation: unknown key(s) ['user_smaple']; allowed: ["),
    (POP + "evaluation: {pairs: [[pop]]}", "evaluation.pairs[0]: too few items, got ['pop']"),
    (POP + "seed: 1.5", "seed: expected an integer, got 1.5"),
    (POP + "seed: '7'", "seed: expected an integer, got '7'"),  # strict: a quoted number is text
    (
        POP + "evaluation: {exclude_seen: 1}",
        "evaluation.exclude_seen: expected a boolean (true or false), got 1",
    ),
    (POP + "threads: two", "threads: expected an integer, got 'two'"),
    (POP + "save_models: maybe", "save_models: expected a boolean (true or false), got 'maybe'"),
    (
        POP + "modles: []",
        "experiment: unknown key(s) ['modles']; allowed: ['attributes', 'base_dir', 'cleaning'",
    ),
    ("models: pop", "models: expected a list, got 'pop'"),
    (
        "models: [{name: pop}, {name: ease}, {name: ease, label: e2, params: {reg: abc}}]",
        "models[2].params.reg: expected a float, got 'abc'",
    ),
    (
        "models: [{name: ease, params: {regg: 1}}]",
        "models[0].params: unknown key(s) ['regg'] for EASE; allowed: ['reg', 'max_items'",
    ),
    ("models: [{name: ease, params: {reg: -1}}]", "models[0].params: EASE: reg must be > 0"),
    ("models: [{name: sasrec2}]", "models[0].name: unknown model 'sasrec2'; known models: ['als'"),
    (
        "models: [{name: itemknn, parms: {}}]",
        "models[0]: unknown key(s) ['parms']; allowed: ['augmentation', 'item_text', 'label'",
    ),
    ("models: [{name: itemknn, label: 7}]", "models[0].label: expected a string, got 7"),
    (
        "models: [{name: content, item_text: {encoder: 3}}]",
        "models[0].item_text.encoder: expected a string, got 3",
    ),
    (
        "models: [{name: itemknn, search: {grid: {k: [10, many]}}}]",
        "models[0].search.grid.k[1]: expected an integer, got 'many'",
    ),
    (
        "models: [{name: itemknn, search: {grid: {kk: [10]}}}]",
        "models[0].search.grid: unknown key(s) ['kk'] for ItemKNN; allowed: ['k', 'shrink'",
    ),
    (
        "models: [{name: als, search: {random: {factors: {uniform: [8, 64]}}}}]",
        "models[0].search.random.factors: a uniform draw is a float, the parameter expects an integer",
    ),
    (
        "models: [{name: als, search: {random: {reg: {loguniform: [0, 1]}}}}]",
        "models[0].search.random.reg.loguniform: needs [low, high] (numbers, 0 < low, low <= high)",
    ),
    (
        "models: [{name: als, search: {random: {factors: [8, 16.5]}}}]",
        "models[0].search.random.factors[1]: expected an integer, got 16.5",
    ),
    (
        "models: [{name: als, search: {random: {factors: [8]}, n_iter: 0}}]",
        "models[0].search.n_iter: must be positive, got 0",
    ),
    (
        "models: [{name: als, search: {grid: {factors: [8]}, random: {factors: [8]}}}]",
        "models[0].search: search takes one of `grid`, `random` or `optuna`, got grid and random",
    ),
    (
        "models: [{name: als, search: {optuna: {factors: {uniform: [8, 64]}}}}]",
        "models[0].search.optuna.factors: a uniform draw is a float, the parameter expects an integer",
    ),
    (
        "models: [{name: als, search: {optuna: {regg: [1.0]}}}]",
        "models[0].search.optuna: unknown key(s) ['regg'] for ALS; allowed: ['factors', 'reg'",
    ),
    (
        "models: [{name: als, search: {optuna: {reg: {loguniform: [0, 1]}}}}]",
        "models[0].search.optuna.reg.loguniform: needs [low, high] (numbers, 0 < low, low <= high)",
    ),
    (
        "models: [{name: als, search: {optuna: {reg: {normal: [0, 1]}}}}]",
        "models[0].search.optuna.reg: must be a list of choices or {uniform|loguniform|int: [low, high]}",
    ),
    (
        "models: [{name: als, search: {optuna: {factors: [8, sixteen]}}}]",
        "models[0].search.optuna.factors[1]: expected an integer, got 'sixteen'",
    ),
    (
        "models: [{name: als, search: {optuna: {factors: {int: [0, 8]}}}}]",
        "models[0].search.optuna: the space reaches {'factors': 0}: ALS: factors must be an integer >= 1",
    ),
    (
        "models: [{name: als, search: {optuna: {factors: [8]}, n_trials: 0}}]",
        "models[0].search.n_trials: must be positive, got 0",
    ),
    (
        "models: [{name: als, search: {optuna: {factors: [8]}, n_trials: 2.5}}]",
        "models[0].search.n_trials: expected an integer, got 2.5",
    ),
    (
        "models: [{name: als, search: {optuna: {factors: [8]}, pruner: hyperband}}]",
        "models[0].search.pruner: expected 'median' or 'none', got 'hyperband'",
    ),
    (
        "models: [{name: als, search: {grid: {factors: [8]}, pruner: median}}]",
        "models[0].search: n_trials and pruner are options of `optuna` search; this search has none",
    ),
    (
        "models: [{name: als, search: {random: {factors: [8]}, widen: true}}]",
        "models[0].search: widen is an option of `grid` search; this search has no grid",
    ),
    (
        "models: [{name: weighted, params: {components: [pop, {name: ease, params: {reg: x}}]}}]",
        "models[0].params.components[1] (ease): parameters {'reg': 'x'}: EASE: reg expects a float, got 'x'",
    ),
    (POP + "cleaning: {user_core: '5'}", "cleaning.user_core: expected an integer, got '5'"),
    (POP + "cleaning: {user_cores: 5}", "cleaning: unknown key(s) ['user_cores']; allowed: ['duplicates'"),
    (
        POP + "cleaning: {duplicates: drop}",
        "cleaning.duplicates: expected 'keep_all', 'keep_first', 'keep_last'",
    ),
    (POP + "cleaning: {rating_range: [1, high]}", "cleaning.rating_range[1]: expected a float, got 'high'"),
    (POP + "split: {method: shuffle}", "split.method must be one of"),
    (
        POP + "split: {method: leave_one_out, params: {min_len: 2.5}}",
        "split.params.min_len: expected an integer, got 2.5",
    ),
    (
        POP + "split: {method: temporal_ratio, params: {trian: 0.8}}",
        "split.params: unknown key(s) ['trian']; allowed: ['train', 'valid']",
    ),
    (
        POP + "split: {method: cold_items, params: {base: leave_one_out, base_params: {min_len: x}}}",
        "split.params.base_params.min_len: expected an integer, got 'x'",
    ),
    (
        POP + "split: {method: cold_items, params: {seed: 3}}",
        "split.params: unknown key(s) ['seed']; allowed: ['base', 'base_params', 'fraction', 'targets']",
    ),
    (
        POP + "split: {method: files, test: t.csv, folds: [{train: 1}]}",
        "split.folds[0].train: expected a string",
    ),
    (
        POP + "split: {method: files, test: t.csv, params: {x: 1}}",
        "split.params: split method files takes no params",
    ),
]


@pytest.mark.parametrize(("body", "message"), BAD_FILES, ids=[m.split(":")[0] for _, m in BAD_FILES])
def test_bad_files_name_the_file_and_the_key_path(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(HEAD + body + "\n")
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    assert str(info.value).startswith(f"{path}: {message}"), str(info.value)


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(
        "name: t\ndataset: {name: ml-100k}\nseed: x\nevaluation: {ns: [a]}\n"
        "models: [{name: ease, params: {reg: abc}}, {name: pop, label: 3},"
        " {name: itemknn, params: {k: 1.5}}]\n"
    )
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    assert str(info.value).startswith(f"{path}: 5 problems: "), str(info.value)
    for problem in [
        "seed: expected an integer, got 'x'",
        "evaluation.ns[0]: expected an integer, got 'a'",
        "models[1].label: expected a string, got 3",
        "models[0].params.reg: expected a float, got 'abc'",  # checked although other sections are wrong
        "models[2].params.k: expected an integer, got 1.5",
    ]:
        assert problem in str(info.value)


def test_missing_name_and_empty_sections() -> None:
    with pytest.raises(ConfigError, match=r"^experiment: missing required key 'name'$"):
        parse_experiment(yaml.safe_load("dataset: {name: ml-100k}\nmodels: [{name: pop}]"))
    exp = parse_experiment(yaml.safe_load(HEAD + POP + "evaluation:\nsplit:\ncleaning:\n"))
    assert exp.evaluation.ns == (10, 20) and exp.split.method == "temporal_ratio" and not exp.cleaning.options


def test_ints_are_floats_and_values_are_kept_as_written() -> None:
    exp = parse_experiment(
        yaml.safe_load(HEAD + "models: [{name: ease, params: {reg: 50}, search: {grid: {reg: [1, 2.5]}}}]")
    )
    assert type(exp.models[0].params["reg"]) is int and exp.models[0].search is not None
    assert exp.models[0].search.grid == {"reg": [1, 2.5]}
    assert exp.evaluation.ns == (10, 20) and isinstance(exp.evaluation.pairs, tuple)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads_and_round_trips(path: Path, tmp_path: Path) -> None:
    exp = load_experiment(path)
    doc = as_document(exp)
    assert parse_experiment(doc) == exp
    copy = tmp_path / path.name
    copy.write_text(yaml.safe_dump(doc))
    assert load_experiment(copy) == exp  # the written document keeps the original base_dir


def _leaves(node: Any, path: str) -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        return [leaf for k, v in node.items() for leaf in _leaves(v, f"{path}.{k}" if path else str(k))]
    if isinstance(node, list):
        return [leaf for i, v in enumerate(node) for leaf in _leaves(v, f"{path}[{i}]")]
    return [(path, node)]


def _set(doc: Any, path: str, value: Any) -> None:
    keys: list[Any] = [int(k) if k.isdigit() else k for k in re.findall(r"[^.\[\]]+", path)]
    for key in keys[:-1]:
        doc = doc[key]
    doc[keys[-1]] = value


def _reported_at(path: str) -> str:
    """Where a problem at leaf `path` is reported: the leaf itself, except inside a model's container
    params (component lists, feature tuples: the config names the entry) and random distributions."""
    inner = re.match(r"(models\[\d+\]\.params)\.\w+[.\[]", path) or re.match(
        r"(models\[\d+\]\.search\.random\.\w+)\.", path
    )
    return inner.group(1) if inner else path


@pytest.mark.parametrize(
    "name", ["quickstart.yaml", "p2_ml100k_hybrids.yaml", "p4_ml100k_cold.yaml", "p3_ml100k_rating.yaml"]
)
def test_any_leaf_of_the_wrong_type_is_named(name: str) -> None:
    """Property over real configs: replace any typed value by one of another type (a number by a word, a
    word by 1.5) and the file is refused, naming that value's key path."""
    path = next(p for p in CONFIGS if p.name == name)
    doc = yaml.safe_load(path.read_text())
    leaves = [(k, v) for k, v in _leaves(doc, "") if v is not None and not k.startswith("dataset.options")]
    assert len(leaves) >= 10
    # a seeded sample keeps the hybrids' file (630 leaves, YAML anchors expanded) to a few seconds
    for key, value in random.Random(0).sample(leaves, min(len(leaves), 60)):
        bad = copy.deepcopy(doc)
        _set(bad, key, 1.5 if isinstance(value, str) else "abc")
        with pytest.raises(ConfigError) as info:
            parse_experiment(bad)
        assert _reported_at(key) in str(info.value), (key, str(info.value))
