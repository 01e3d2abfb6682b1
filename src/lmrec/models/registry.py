"""Model names used in experiment files and saved artifacts, mapped to classes (imported lazily)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lmrec.models.base import Recommender

MODELS: dict[str, str] = {
    "pop": "lmrec.models.popularity:Popularity",
    "itemknn": "lmrec.models.knn:ItemKNN",
    "rp3beta": "lmrec.models.rp3beta:RP3beta",
    "ease": "lmrec.models.ease:EASE",
    "ease_recency": "lmrec.models.ease_recency:RecencyEASE",
    "edlae": "lmrec.models.edlae:EDLAE",
    "gfcf": "lmrec.models.gfcf:GFCF",
    "als": "lmrec.models.mf:ALS",
    "bpr": "lmrec.models.mf:BPR",
    "biasedmf": "lmrec.models.biased_mf:BiasedMF",
    "bayesfm": "lmrec.models.bayes_fm:BayesFM",
    "content": "lmrec.models.content:ContentBased",
    "sasrec": "lmrec.models.sequential.sasrec:SASRec",
    "textseq": "lmrec.models.sequential.textseq:TextSeq",
    "bert4rec": "lmrec.models.sequential.bert4rec:BERT4Rec",
    "gru4rec": "lmrec.models.sequential.gru4rec:GRU4Rec",
    "cfgan": "lmrec.models.cfgan.recommender:CFGAN",
    "weighted": "lmrec.hybrid.weighted:WeightedHybrid",
    "switching": "lmrec.hybrid.switching:SwitchingHybrid",
    "cascade": "lmrec.hybrid.cascade:Cascade",
    "ltr": "lmrec.hybrid.ltr:LearnedRanker",
    "neural_ranker": "lmrec.hybrid.neural_ranker:NeuralRanker",
}


REMOVED: dict[str, str] = {
    "sasrec_text": (
        "sasrec_text (ID embedding + projected text) was removed: it scored cold items at NDCG@10 0 on "
        "MovieLens. Use textseq (params mode: inductive for text only, or transductive for text + ID) "
        "with the same item_text"
    ),
}
"""Names that saved artifacts or experiment files may still use, with what replaced them."""


def get_model_class(name: str) -> type[Recommender]:
    """The class registered under `name`; the error lists the known names."""
    try:
        target = MODELS[name.lower()]
    except KeyError:
        if name.lower() in REMOVED:
            raise KeyError(REMOVED[name.lower()]) from None
        raise KeyError(f"unknown model {name!r}; known models: {sorted(MODELS)}") from None
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


def make_model(name: str, params: Mapping[str, Any] | None = None, *, config: Any = None) -> Recommender:
    """The one way lmrec builds a model: the class registered under `name`, from hyper-parameters
    `params` (checked against its config dataclass) or a ready `config` (plus `params` overriding it).
    The experiment runner, the hybrids' components, `Recommender.load` and the service's retrain all
    build through here."""
    return get_model_class(name)(config, **dict(params or {}))
