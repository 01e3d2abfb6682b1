"""Item text embeddings for the content-aware models of an experiment, built once per (encoder, template)
from the dataset's catalog through the on-disk embedding cache."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lmrec.data.features import ItemFeatures
from lmrec.errors import ConfigError
from lmrec.experiment.config import ModelSpec
from lmrec.experiment.prepare import Prepared

DEFAULT_ENCODER = "minilm"


def item_features_for(
    spec: ModelSpec, prep: Prepared, memo: dict[Any, ItemFeatures], stats: dict[str, Any] | None = None
) -> ItemFeatures:
    """The `ItemFeatures` model `spec` asks for (`item_text` in the experiment file).

    stats: filled with the encoding cost (`lmrec.text.item_features`); {"memo": True} when an earlier
    model of the run had the same (encoder, template)."""
    return text_features(spec.item_text, f"model {spec.display}", prep, memo, stats)


def text_features(
    item_text: Mapping[str, str] | None,
    who: str,
    prep: Prepared,
    memo: dict[Any, ItemFeatures],
    stats: dict[str, Any] | None = None,
) -> ItemFeatures:
    """Item text embeddings for `item_text` ({encoder, template}; default encoder `DEFAULT_ENCODER`),
    shared through `memo` by everything in the run that asks for the same pair; `who` names the asker in
    the error for a dataset without a catalog."""
    from lmrec.text import item_features
    from lmrec.text.encoders import make_encoder

    if prep.catalog is None:
        raise ConfigError(
            f"{who} needs item text, but dataset {prep.raw_meta.get('name', '?')} has no item "
            "catalog (titles, descriptions); use a dataset with item metadata"
        )
    opts = dict(item_text or {})
    encoder_spec = opts.get("encoder", DEFAULT_ENCODER)
    template = opts.get("template")
    key = (str(encoder_spec), template)
    if key in memo:
        if stats is not None:
            stats["memo"] = True
        return memo[key]
    encoder = make_encoder(encoder_spec)
    memo[key] = item_features(
        prep.catalog, prep.split.train.item_vocab, encoder, template=template, progress=True, stats=stats
    )
    return memo[key]
