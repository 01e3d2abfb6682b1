"""Augmentation method names (experiment files, results) mapped to augmenter classes."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from lmrec.augment.base import COMMON_OPTIONS, Augmenter
from lmrec.errors import ConfigError
from lmrec.models.params import build_config, param_types

AUGMENTERS: dict[str, str] = {
    "random": "lmrec.augment.random:RandomAugmenter",
    "popularity": "lmrec.augment.popularity:PopularityAugmenter",
    "itemknn": "lmrec.augment.itemknn:ItemKNNAugmenter",
    "text": "lmrec.augment.text:TextAugmenter",
    "asrep": "lmrec.augment.asrep:ASRePAugmenter",
    "cfgan": "lmrec.augment.cfgan:CFGANAugmenter",
}


def get_augmenter_class(method: str) -> type[Augmenter]:
    """The class registered under `method`; the error lists the known methods."""
    try:
        target = AUGMENTERS[method]
    except KeyError:
        raise KeyError(
            f"unknown augmentation method {method!r}; known methods: {sorted(AUGMENTERS)}"
        ) from None
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


def method_params(method: str) -> dict[str, Any]:
    """Name -> declared type of the `params` an augmentation method takes (the common options excluded)."""
    return {k: v for k, v in param_types(get_augmenter_class(method)).items() if k not in COMMON_OPTIONS}


def make_augmenter(method: str, params: Mapping[str, Any] | None = None, **common: Any) -> Augmenter:
    """The augmenter registered under `method`, from its `params` and the common options (`amount`,
    `ratio`, `max_train`; None values keep the defaults). Every problem with the method or its options is
    a `ConfigError`; a keyword argument that is no common option is a `TypeError`, as for any call."""
    klass = get_augmenter_class(method)
    options = {k: v for k, v in common.items() if v is not None}
    unknown = sorted(set(options) - set(COMMON_OPTIONS))
    if unknown:
        raise TypeError(
            f"make_augmenter: unknown common option(s) {unknown}; allowed: {list(COMMON_OPTIONS)}"
        )
    params = dict(params or {})
    clash = sorted(set(params) & set(COMMON_OPTIONS))
    if clash:
        raise ConfigError(
            f"{klass.__name__}: {clash} are common options, given beside `method`, not in params"
        )
    augmenter: Augmenter = build_config(klass, {**params, **options}, klass.__name__)
    return augmenter
