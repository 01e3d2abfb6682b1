"""Hyper-parameters checked against a model's config dataclass, by name and by declared type.

Every model keeps its hyper-parameters in a frozen, typed config dataclass (`EASEConfig`, `SASRecConfig`).
The dataclass checks *values* in `__post_init__` ("reg must be > 0"); what it cannot say well is that a
name does not exist (Python's "unexpected keyword argument") or that a value has the wrong type (a string
reaching `self.reg > 0` gives "'>' not supported between instances of 'str' and 'int'"). `check_params`
says both first, naming the parameter, the type it expects and the valid names, so the experiment file,
the hybrids' component lists, the command line and the Python API report the same clear `ConfigError`
(the experiment schema, `lmrec.experiment.schema`, uses `fits` and `expected` to name each value by its
key path: `models[2].params.reg: expected a float, got 'abc'`).

Only scalar types are checked here (bool, int, float, str, each optionally `| None`); the types are read
from the dataclass annotations, never listed twice. Values are checked, not converted: an int is a valid
float (`reg=50` stays 50), numpy scalars pass, a bool is not a number. Container fields (the hybrids'
component lists) are left to their own validation.

`parse_param` reads one value from text (`lmrec train --param key=value`) by the declared type, so a
string field keeps "1e3" as text and a float field reads it as 1000.0.
"""

from __future__ import annotations

import dataclasses
import numbers
import types
import typing
from collections.abc import Mapping
from typing import Any

import numpy as np

from lmrec.errors import ConfigError, yaml_problem

_EXPECTS = {bool: "a boolean (true or false)", int: "an integer", float: "a float", str: "a string"}
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_NONE = ("none", "null", "~")


def param_types(config_class: type) -> dict[str, Any]:
    """Parameter name -> declared type of a config dataclass, in declaration order."""
    hints = typing.get_type_hints(config_class)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_class) if f.init}


def scalar_type(hint: Any) -> tuple[type | None, bool]:
    """(bool/int/float/str, whether None is allowed) of a declared type; (None, ...) for other types."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        rest = [a for a in args if a is not type(None)]
        optional = len(rest) < len(args)
        return (rest[0] if len(rest) == 1 and rest[0] in _EXPECTS else None), optional
    return (hint if hint in _EXPECTS else None), False


def _is(kind: type, value: Any) -> bool:
    is_bool = isinstance(value, bool | np.bool_)
    if kind is bool:
        return is_bool
    if kind is int:
        return isinstance(value, numbers.Integral) and not is_bool
    if kind is float:
        return isinstance(value, numbers.Real) and not is_bool
    return isinstance(value, kind)


def expected(hint: Any) -> str:
    """What a declared type accepts, in words ("a float", "an integer or null")."""
    kind, optional = scalar_type(hint)
    what = _EXPECTS[kind] if kind is not None else str(hint)
    return f"{what}{' or null' if optional else ''}"


def _expects(name: str, hint: Any) -> str:
    return f"{name} expects {expected(hint)}"


def fits(hint: Any, value: Any) -> bool:
    """Whether `value` has the declared scalar type `hint` (always True for non-scalar types, which the
    config's own validation checks)."""
    kind, optional = scalar_type(hint)
    return kind is None or (value is None and optional) or _is(kind, value)


def check_params(config_class: type, params: Mapping[str, Any], who: str) -> None:
    """Raise `ConfigError` for an unknown parameter name (listing the valid ones) or a scalar of the wrong
    type ("EASE: reg expects a float, got 'abc'"). `who` names the model in the message."""
    declared = param_types(config_class)
    unknown = [k for k in params if k not in declared]
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        raise ConfigError(f"{who} has no parameter {names}; its parameters are: {', '.join(declared)}")
    for name, value in params.items():
        if not fits(declared[name], value):
            raise ConfigError(f"{who}: {_expects(name, declared[name])}, got {value!r}")


def build_config(config_class: type, params: Mapping[str, Any], who: str) -> Any:
    """The config dataclass built from `params`, every problem (name, type, value) as a `ConfigError`."""
    check_params(config_class, params, who)
    try:
        return config_class(**params)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{who}: {exc}") from exc


def parse_param(config_class: type, name: str, text: str, who: str) -> Any:
    """One parameter value read from text by its declared type (scalars); YAML for the other types."""
    declared = param_types(config_class)
    if name not in declared:
        check_params(config_class, {name: None}, who)  # raises, listing the valid names
    kind, optional = scalar_type(declared[name])
    word = text.strip()
    if optional and word.lower() in _NONE:
        return None
    if kind is str:
        return text
    if kind is bool and word.lower() in _TRUE + _FALSE:
        return word.lower() in _TRUE
    if kind is int or kind is float:
        try:
            return kind(word)
        except ValueError:
            pass
    elif kind is None:
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{who}: {name} is not valid YAML ({text!r}): {yaml_problem(exc)}") from None
    raise ConfigError(f"{who}: {_expects(name, declared[name])}, got {text!r}")


def check_int_fields(config: Any, who: str, low: Mapping[str, int]) -> None:
    """A config's integer fields, each at least its bound (`low`: field -> smallest allowed value); a bool
    is not an integer. The one range check the configs' `__post_init__` share ("factors must be an
    integer >= 1")."""
    for field, bound in low.items():
        value = getattr(config, field)
        if not isinstance(value, int) or isinstance(value, bool) or value < bound:
            raise ConfigError(f"{who}: {field} must be an integer >= {bound}, got {value!r}")
