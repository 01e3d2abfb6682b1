"""Text-aware SASRec: each item is its learned ID embedding plus a projection of its pretrained text
embedding, so items never seen in training are represented by their text alone (cold start)."""

from __future__ import annotations

from typing import ClassVar

from lmrec.models.sequential.sasrec import SASRec, SASRecConfig


class TextSASRec(SASRec):
    """SASRec over text-enriched item representations (fit needs `item_features`).

    Items without training interactions get no ID part (it would be an untrained random vector) and are
    scored from their text. Unknown users are scored from the ordered history given at request time;
    an empty history gets the training popularity.
    """

    name: ClassVar[str] = "sasrec_text"
    config_class: ClassVar[type] = SASRecConfig
    uses_item_features: ClassVar[bool] = True
    requires_item_features: ClassVar[bool] = True
