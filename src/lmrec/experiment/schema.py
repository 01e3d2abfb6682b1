"""Experiment files validated against one typed schema at parse time, every problem named by its key path.

The schema is not written twice: the structure is the config dataclasses of `lmrec.experiment.config`
(read by pydantic in strict mode, unknown keys forbidden), the cleaning keys are the fields of
`CleaningConfig`, the split params are the keyword parameters of the split function the method names, and
model params are checked against the model's config dataclass by `lmrec.models.params` (the one check the
command line, the Python API and the hybrids' component lists use too); every search candidate is checked
the same way, then built, so a value the config itself refuses also fails here, before any data is loaded
(an Optuna space, whose trials are proposed while the search runs, by every choice and both bounds of each
key: `search.space_probes`).

The YAML document is validated as JSON data (strict JSON mode): lists stand for tuples, an int is a valid
float, but "abc" is not a number, 1.5 is not an integer and a bool is not a count. A problem reads
`models[2].params.reg: expected a float, got 'abc'`; all problems of a file are reported together.
"""

from __future__ import annotations

import dataclasses
import datetime
import inspect
import json
import types
import typing
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import yaml
from pydantic import TypeAdapter, ValidationError
from typing_extensions import TypedDict

from lmrec.errors import ConfigError, yaml_problem
from lmrec.experiment.config import STRICT, CleaningSpec, Experiment, ModelSpec
from lmrec.models.params import expected, fits, param_types

_WORDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a float",
    "float_parsing": "a float",
    "bool_type": "a boolean (true or false)",
    "bool_parsing": "a boolean (true or false)",
    "string_type": "a string",
    "dict_type": "a mapping",
    "dataclass_type": "a mapping",
    "dataclass_args_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
}
_UNKNOWN = ("extra_forbidden", "unexpected_keyword_argument")
_DISTRIBUTIONS = {"uniform": float, "loguniform": float, "int": int}
_BASE_SPLITS = ("leave_one_out", "temporal_ratio", "global_temporal", "random_ratio", "given")
T = TypeVar("T")


def _join(prefix: str, loc: tuple[Any, ...]) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _plain(value: Any) -> Any:
    """JSON form of what YAML or a Python caller may put in a file (dates, paths, numpy scalars)."""
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def validate_with(
    adapter: TypeAdapter[Any],
    data: Any,
    prefix: str,
    allowed: Callable[[tuple[Any, ...]], list[str]],
    problems: list[str],
) -> Any:
    """`data` validated by `adapter` in strict JSON mode; each error appended to `problems` (None then)."""
    try:
        return adapter.validate_json(json.dumps(data, default=_plain))
    except ValidationError as exc:
        problems.extend(_messages(exc, prefix, allowed))
        return None


def _messages(
    exc: ValidationError, prefix: str, allowed: Callable[[tuple[Any, ...]], list[str]]
) -> list[str]:
    unknown: dict[tuple[Any, ...], list[str]] = {}
    out: list[str] = []
    for err in exc.errors():
        loc, kind = tuple(err["loc"]), err["type"]
        if kind in _UNKNOWN:
            unknown.setdefault(loc[:-1], []).append(str(loc[-1]))
            continue
        where = _join(prefix, loc)
        msg = str(err["msg"])
        if kind == "missing" and isinstance(loc[-1], int):
            out.append(f"{_join(prefix, loc[:-1])}: too few items, got {err['input']!r}")
        elif kind == "missing":
            out.append(f"{_join(prefix, loc[:-1]) or 'experiment'}: missing required key {loc[-1]!r}")
        elif kind == "value_error":
            text = msg.removeprefix("Value error, ")
            out.append(text if where and text.startswith(where) else f"{where or 'experiment'}: {text}")
        elif kind in _WORDS or msg.startswith("Input should be"):
            what = _WORDS.get(kind) or msg.removeprefix("Input should be").strip()
            out.append(f"{where}: expected {what}, got {err['input']!r}")
        else:  # length and the like: pydantic's sentence says it
            out.append(f"{where}: {msg[:1].lower()}{msg[1:]}, got {err['input']!r}")
    return [
        f"{_join(prefix, parent) or 'experiment'}: unknown key(s) {sorted(keys)}; allowed: {allowed(parent)}"
        for parent, keys in unknown.items()
    ] + out


def _unwrap(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(hint) if a is not type(None)]
        return rest[0] if len(rest) == 1 else hint
    return hint


def dataclass_keys(root: type, loc: tuple[Any, ...]) -> list[str]:
    """The keys the dataclass at `loc` (a path of field names and list indices under `root`) accepts."""
    hint: Any = root
    for part in loc:
        hint = _unwrap(hint)
        if isinstance(part, int):
            hint = typing.get_args(hint)[0] if typing.get_args(hint) else Any
        elif dataclasses.is_dataclass(hint):
            hint = typing.get_type_hints(hint).get(part, Any)
        else:
            return []
    hint = _unwrap(hint)
    return sorted(f.name for f in dataclasses.fields(hint)) if dataclasses.is_dataclass(hint) else []


@cache
def _experiment_adapter() -> TypeAdapter[Experiment]:
    return TypeAdapter(Experiment)


@cache
def _model_adapter() -> TypeAdapter[ModelSpec]:
    return TypeAdapter(ModelSpec)


def _fields_adapter(name: str, hints: Mapping[str, Any]) -> TypeAdapter[Any]:
    """A strict schema for a mapping whose keys are `hints` (all optional, no other key allowed)."""
    schema = TypedDict(name, dict(hints), total=False)  # type: ignore[misc]  # noqa: UP013
    schema.__pydantic_config__ = STRICT  # type: ignore[attr-defined]
    return TypeAdapter(schema)


@cache
def _cleaning_adapter() -> TypeAdapter[Any]:
    from lmrec.data.cleaning import CleaningConfig

    return _fields_adapter("cleaning", param_types(CleaningConfig))


def check_cleaning(raw: Any, problems: list[str]) -> CleaningSpec:
    from lmrec.data.cleaning import CleaningConfig

    if raw is None:
        return CleaningSpec()
    keys = sorted(param_types(CleaningConfig))
    before = len(problems)
    checked = validate_with(_cleaning_adapter(), raw, "cleaning", lambda _: keys, problems)
    if len(problems) == before:
        try:
            CleaningConfig(**checked)
        except (ValueError, TypeError) as exc:
            problems.append(f"cleaning: {exc}")
    return CleaningSpec(options=dict(raw) if isinstance(raw, Mapping) else {})


def _split_function(method: str) -> tuple[Callable[..., Any] | None, tuple[str, ...]]:
    """The split function behind `method` and the arguments the runner passes itself (not params)."""
    from lmrec.data import splits
    from lmrec.data.cold import cold_item_split, rare_item_split

    table: dict[str, tuple[Callable[..., Any] | None, tuple[str, ...]]] = {
        "leave_one_out": (splits.leave_one_out, ()),
        "temporal_ratio": (splits.temporal_ratio, ()),
        "global_temporal": (splits.global_temporal, ("timestamp_kind",)),
        "random_ratio": (splits.random_ratio, ()),
        "cold_items": (cold_item_split, ("seed",)),
        "rare_items": (rare_item_split, ()),
    }
    return table.get(method, (None, ()))


@cache
def split_params(method: str) -> dict[str, Any]:
    """Name -> type of every param `method` takes in split.params (read from the split function)."""
    function, passed = _split_function(method)
    if function is None:
        return {}
    hints = typing.get_type_hints(function)
    names = list(inspect.signature(function).parameters)[1:]  # the first one is the data or split being cut
    out = {k: hints.get(k, Any) for k in names if k not in passed}
    if method in ("cold_items", "rare_items"):
        out.update({"base": typing.Literal[_BASE_SPLITS], "base_params": dict[str, Any]})
    return out


@cache
def _split_adapter(method: str) -> TypeAdapter[Any]:
    return _fields_adapter(method, split_params(method))


def _check_split_params(method: str, params: Mapping[str, Any], prefix: str, problems: list[str]) -> None:
    hints = split_params(method)
    if params and not hints:
        problems.append(f"{prefix}: split method {method} takes no params, got {dict(params)}")
        return
    validate_with(_split_adapter(method), params, prefix, lambda _: sorted(hints), problems)
    base, base_params = params.get("base", "leave_one_out"), params.get("base_params") or {}
    if "base" in hints and base in _BASE_SPLITS and isinstance(base_params, Mapping):
        _check_split_params(base, base_params, f"{prefix}.base_params", problems)


def _check_values(
    values: Mapping[str, Any], declared: Mapping[str, Any], where: str, who: str, problems: list[str]
) -> None:
    unknown = sorted(k for k in values if k not in declared)
    if unknown:
        problems.append(f"{where}: unknown key(s) {unknown} for {who}; allowed: {list(declared)}")
    for key, value in values.items():
        if key in declared and not fits(declared[key], value):
            problems.append(f"{where}.{key}: expected {expected(declared[key])}, got {value!r}")


def _check_space(space: Any, hint: Any, where: str, problems: list[str]) -> None:
    """One key of a random or Optuna search space: a list of choices, or
    {uniform|loguniform|int: [low, high]}."""
    if isinstance(space, list):
        if not space:
            problems.append(f"{where}: needs at least one choice")
        for j, value in enumerate(space):
            if not fits(hint, value):
                problems.append(f"{where}[{j}]: expected {expected(hint)}, got {value!r}")
        return
    kind: Any = None
    bounds: Any = None
    if isinstance(space, dict) and len(space) == 1:
        kind, bounds = next(iter(space.items()))
    if kind not in _DISTRIBUTIONS:
        problems.append(
            f"{where}: must be a list of choices or {{uniform|loguniform|int: [low, high]}}, got {space!r}"
        )
        return
    draw = _DISTRIBUTIONS[kind]
    ok = isinstance(bounds, list) and len(bounds) == 2 and all(fits(draw, b) for b in bounds)
    if not ok or not (0 if kind == "loguniform" else -np.inf) < bounds[0] <= bounds[1]:
        rule = {"uniform": "numbers", "loguniform": "numbers, 0 < low", "int": "integers"}[kind]
        problems.append(f"{where}.{kind}: needs [low, high] ({rule}, low <= high), got {bounds!r}")
    elif not fits(hint, draw(bounds[0])):
        problems.append(f"{where}: a {kind} draw is {expected(draw)}, the parameter expects {expected(hint)}")


def _check_spaces(
    spaces: Mapping[str, Any], declared: Mapping[str, Any], where: str, who: str, problems: list[str]
) -> None:
    """A random or Optuna search space: known parameter names, each key's space typed and bounded."""
    _check_values({k: None for k in spaces if k not in declared}, declared, where, who, problems)
    for key, space in spaces.items():
        if key in declared:
            _check_space(space, declared[key], f"{where}.{key}", problems)


def check_augmentation(spec: ModelSpec, where: str, problems: list[str]) -> None:
    """The model entry's `augmentation`: a known method, its params by name and type, and the values the
    augmenter itself refuses (amount, ratio, max_train, params), each by key path and naming the model."""
    from lmrec.augment.base import COMMON_OPTIONS
    from lmrec.augment.registry import get_augmenter_class, make_augmenter, method_params

    aug = spec.augmentation
    if aug is None:
        return
    where = f"{where}.augmentation"
    try:
        klass = get_augmenter_class(aug.method)
    except KeyError as exc:
        problems.append(f"{where}.method: {exc.args[0]} (model {spec.display})")
        return
    who = f"augmentation method {aug.method} of model {spec.display}"
    before = len(problems)
    for key in sorted(set(aug.params) & set(COMMON_OPTIONS)):
        beside = "users: {max_train: k}" if key == "max_train" else f"{key}: ..."
        problems.append(
            f"{where}.params.{key}: a common option, given beside method ({beside}), not in params"
        )
    params = {k: v for k, v in aug.params.items() if k not in COMMON_OPTIONS}
    _check_values(params, method_params(aug.method), f"{where}.params", who, problems)
    if aug.item_text is not None and not klass.needs_item_features:
        problems.append(f"{where}.item_text: {who} uses no item text; remove item_text")
    if len(problems) > before:
        return
    try:
        make_augmenter(aug.method, aug.params, amount=aug.amount, ratio=aug.ratio, max_train=aug.max_train)
    except ConfigError as exc:
        problems.append(f"{where}: {exc} (model {spec.display})")


def check_model(spec: ModelSpec, where: str, rng: np.random.Generator, problems: list[str]) -> None:
    from lmrec.experiment.search import candidates, space_probes
    from lmrec.models.registry import get_model_class

    check_augmentation(spec, where, problems)
    try:
        klass = get_model_class(spec.name)
    except KeyError as exc:
        problems.append(f"{where}.name: {exc.args[0]}")
        return
    declared, who, before = param_types(klass.config_class), klass.__name__, len(problems)
    _check_values(spec.params, declared, f"{where}.params", who, problems)
    search = spec.search
    if search is not None and search.grid is not None:
        grid = {k: v for k, v in search.grid.items() if k in declared}
        _check_values(
            {k: None for k in search.grid if k not in declared},
            declared,
            f"{where}.search.grid",
            who,
            problems,
        )
        for key, values in grid.items():
            if not values:
                problems.append(f"{where}.search.grid.{key}: needs at least one value")
            for j, value in enumerate(values):
                if not fits(declared[key], value):
                    wanted = expected(declared[key])
                    problems.append(f"{where}.search.grid.{key}[{j}]: expected {wanted}, got {value!r}")
    if search is not None and search.random is not None:
        if search.n_iter <= 0:
            problems.append(f"{where}.search.n_iter: must be positive, got {search.n_iter}")
        _check_spaces(search.random, declared, f"{where}.search.random", who, problems)
    if search is not None and search.optuna is not None:
        if search.n_trials is not None and search.n_trials <= 0:
            problems.append(f"{where}.search.n_trials: must be positive, got {search.n_trials}")
        _check_spaces(search.optuna, declared, f"{where}.search.optuna", who, problems)
    if len(problems) > before:
        return
    # values the config refuses (reg <= 0, a component's typo); an Optuna space by its corners
    cands = space_probes(spec) if search is not None and search.optuna is not None else candidates(spec, rng)
    for cand in cands:
        problem = _refused(klass.config_class, cand, who)
        if problem is None:
            continue
        fixed = problem if search is None else _refused(klass.config_class, spec.params, who)
        if fixed is not None:  # the fixed params fail on their own: say where
            # a hybrid names its failing component list first ("components[1] (ease): ..."): one path
            inner = fixed.split("[", 1)[0].split(":", 1)[0]
            problems.append(f"{where}.params.{fixed}" if inner in declared else f"{where}.params: {fixed}")
        else:
            space = (search.grid or search.random or search.optuna or {}) if search is not None else {}
            searched = {k: v for k, v in cand.items() if k in space}
            if search is not None and search.optuna is not None:
                problems.append(f"{where}.search.optuna: the space reaches {searched}: {problem}")
            else:
                problems.append(f"{where}.search: candidate {searched}: {problem}")
        return


def _refused(config_class: type, params: Mapping[str, Any], who: str) -> str | None:
    """Why the config refuses `params`, or None when it builds."""
    from lmrec.models.params import build_config

    try:
        build_config(config_class, params, who)
    except ConfigError as exc:
        return str(exc)
    return None


def parse(data: Any, *, base_dir: str | Path = ".") -> Experiment:
    """The experiment in mapping `data` (a YAML document), or a `ConfigError` listing every problem."""
    if not isinstance(data, Mapping):
        raise ConfigError("experiment file must be a mapping at the top level")
    data = dict(data)
    for section in ("split", "evaluation"):  # an empty section (every key commented out) is the defaults
        if section in data and data[section] is None:
            del data[section]
    problems: list[str] = []
    cleaning = check_cleaning(data.pop("cleaning", None), problems)
    data.setdefault("base_dir", str(base_dir))
    keys = lambda loc: dataclass_keys(Experiment, loc)  # noqa: E731 - the allowed keys at a location
    exp = validate_with(_experiment_adapter(), data, "", keys, problems)
    if exp is not None:
        if exp.split.params:
            _check_split_params(exp.split.method, exp.split.params, "split.params", problems)
        problems.extend(model_problems(exp.models, exp.seed))
    else:  # the models' params are worth checking even when another section is wrong
        seed = data.get("seed")
        problems.extend(model_problems(_valid_models(data.get("models")), seed if type(seed) is int else 42))
    raise_problems(problems)
    return dataclasses.replace(exp, cleaning=cleaning)


def model_problems(models: typing.Sequence[ModelSpec | None], seed: int) -> list[str]:
    """Every problem of the models' params and search spaces (names, types, values), by key path."""
    problems: list[str] = []
    rng = np.random.default_rng(seed)
    for i, spec in enumerate(models):
        if spec is not None:
            check_model(spec, f"models[{i}]", rng, problems)
    return problems


def _valid_models(raw: Any) -> list[ModelSpec | None]:
    """The model declarations of `raw` that are well-formed on their own (None for the others, whose
    problems the structural check reports)."""
    adapter = _model_adapter()
    out: list[ModelSpec | None] = []
    for item in raw if isinstance(raw, list) else []:
        try:
            out.append(adapter.validate_json(json.dumps(item, default=_plain)))
        except ValidationError:
            out.append(None)
    return out


def raise_problems(problems: list[str]) -> None:
    if len(problems) == 1:
        raise ConfigError(problems[0])
    if problems:
        raise ConfigError(f"{len(problems)} problems: " + "; ".join(problems))


def as_document(exp: Experiment) -> dict[str, Any]:
    """The mapping `parse` reads back into an equal `Experiment` (plain lists and dicts, YAML-ready)."""
    doc = json.loads(json.dumps(dataclasses.asdict(exp), default=_plain))
    doc["cleaning"] = doc["cleaning"]["options"]
    return dict(doc)


def load(path: str | Path) -> Experiment:
    """Read and validate an experiment YAML file; every message starts with the file's path."""
    return load_yaml(path, "experiment", parse)


def load_yaml(path: str | Path, what: str, parse_document: Callable[..., T]) -> T:
    """Read a YAML file and `parse_document(data, base_dir=its folder)` it; every error is a ConfigError
    starting with the file's path (`what` names the kind of file when it does not exist)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {yaml_problem(exc)}") from None
    try:
        return parse_document(data, base_dir=path.parent.resolve())
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
