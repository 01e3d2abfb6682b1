"""What every registered model takes: its parameters with type, default and one-line doc, read from the
model's config dataclass (`lmrec models`).

The docs are the attribute docstrings under each dataclass field (the string literal after the field,
as in `EASEConfig`), which Python does not keep at run time; they are read from the class source with
`ast`, for the config class and the dataclasses it inherits from. A field without one has an empty doc.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import textwrap
import typing
from dataclasses import dataclass
from typing import Any

from lmrec.models.params import param_types, scalar_type
from lmrec.models.registry import MODELS, get_model_class

CAPABILITIES = (
    "uses_sequences",
    "uses_item_features",
    "supports_validation",
    "reports_epochs",
    "folds_in_users",
    "has_similar_items",
    "adds_items_from_text",
    "warm_starts",
)
"""Capability flags a model class declares (`lmrec.models.base.Recommender`), shown when true."""


@dataclass(frozen=True)
class ParamInfo:
    name: str
    type: str
    default: Any
    doc: str


@dataclass(frozen=True)
class ModelInfo:
    name: str
    class_name: str
    doc: str
    capabilities: tuple[str, ...]
    params: tuple[ParamInfo, ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def first_sentence(text: str | None) -> str:
    """The first sentence of a docstring, on one line."""
    if not text:
        return ""
    flat = " ".join(inspect.cleandoc(text).split("\n\n")[0].split())
    # a sentence ends at . ! ? before a capital or the end, not after "et al." or "e.g."
    found = re.search(r"^(.+?(?<!\bal)(?<!e\.g)(?<!i\.e)[.!?])(\s+[A-Z]|$)", flat)
    return found.group(1) if found else flat


def field_docs(config_class: type) -> dict[str, str]:
    """Field name -> its attribute docstring, over the dataclass and its dataclass bases (subclass wins)."""
    docs: dict[str, str] = {}
    for klass in reversed(config_class.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):  # no source (a frozen or generated class): no docs
            continue
        body = ast.parse(source).body[0]
        assert isinstance(body, ast.ClassDef)
        for node, after in zip(body.body, body.body[1:], strict=False):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = first_sentence(after.value.value)
    return docs


def type_name(hint: Any) -> str:
    """A declared type in words: "float", "int | None", "tuple[dict, ...]"."""
    kind, optional = scalar_type(hint)
    if kind is not None:
        return kind.__name__ + (" | None" if optional else "")
    text = str(hint).replace("typing.", "")
    return re.sub(r"<class '([\w.]+)'>", lambda m: m.group(1).rsplit(".", 1)[-1], text)


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def describe_model(name: str) -> ModelInfo:
    """The parameters of model `name` (a registry name; unknown names raise KeyError listing the known)."""
    klass = get_model_class(name)
    config = klass.config_class
    docs = field_docs(config)
    hints = param_types(config)
    fields = {f.name: f for f in dataclasses.fields(config) if f.init}
    params = tuple(
        ParamInfo(name=p, type=type_name(hints[p]), default=_default(fields[p]), doc=docs.get(p, ""))
        for p in hints
    )
    module_doc = inspect.getmodule(klass).__doc__ if inspect.getmodule(klass) else None
    return ModelInfo(
        name=name,
        class_name=klass.__name__,
        doc=first_sentence(klass.__doc__) or first_sentence(module_doc),
        capabilities=tuple(c for c in CAPABILITIES if getattr(klass, c, False)),
        params=params,
    )


def describe_models(names: typing.Iterable[str] | None = None) -> list[ModelInfo]:
    """`describe_model` of every registered model (or of `names`), in registry order."""
    return [describe_model(n) for n in (MODELS if names is None else names)]
