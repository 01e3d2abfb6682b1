"""Schemathesis against the app's own OpenAPI schema, in process (ASGI transport, no network).

Every operation gets a bounded number of generated requests, valid and invalid (derandomized, so a
run is reproducible); the only check is that the service never answers with a 5xx. Two apps cover both
retrieval paths and the similar-items capability: ALS through the ANN index, and a content model
ranked exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

schemathesis = pytest.importorskip("schemathesis")
pytest.importorskip("faiss")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from lmrec.data.features import ItemFeatures  # noqa: E402
from lmrec.models.content import ContentBased  # noqa: E402
from lmrec.models.mf import ALS  # noqa: E402
from lmrec.service import create_app  # noqa: E402
from lmrec.testing.datasets import random_interactions  # noqa: E402

TOKEN = "test-token"
EXAMPLES = 25
"""Generated requests per operation and app."""


def _als_ann() -> Any:
    model = ALS(factors=8, iterations=3, num_threads=1).fit(random_interactions(seed=0), seed=0)
    return create_app(model, retrieval="ann", token=TOKEN)


def _content_exact() -> Any:
    rng = np.random.default_rng(0)
    features = ItemFeatures(rng.normal(size=(25, 8)).astype(np.float32), np.ones(25, dtype=bool))
    model = ContentBased().fit(random_interactions(seed=0), item_features=features)
    return create_app(model, retrieval="exact", token=TOKEN)


def _textseq_items() -> Any:
    """A textseq (adds items from text), for POST /items: vectors of any length and values, texts it
    cannot encode (no recorded encoder), fields, repeated and existing ids."""
    from lmrec.models.sequential.textseq import TextSeq
    from lmrec.testing.datasets import successor_sequences

    data = successor_sequences(n_users=20, n_items=10).data
    features = ItemFeatures(np.eye(10, 6, dtype=np.float32), np.ones(10, dtype=bool))
    model = TextSeq(embedding_size=8, epochs=1, num_threads=1).fit(data, seed=0, item_features=features)
    return create_app(model, retrieval="exact", token=TOKEN)


# built at collection (schemathesis' fixture-based loader does not run under this pytest); tiny models
ALS_ANN = schemathesis.openapi.from_asgi("/openapi.json", _als_ann())
CONTENT_EXACT = schemathesis.openapi.from_asgi("/openapi.json", _content_exact())
TEXTSEQ_ITEMS = schemathesis.openapi.from_asgi("/openapi.json", _textseq_items()).include(path="/items")
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


@ALS_ANN.parametrize()
@SETTINGS
def test_no_server_errors_als_ann(case: Any, auth: dict[str, str]) -> None:
    case.call_and_validate(headers=auth, checks=[not_a_server_error])


@CONTENT_EXACT.parametrize()
@SETTINGS
def test_no_server_errors_content_exact(case: Any, auth: dict[str, str]) -> None:
    case.call_and_validate(headers=auth, checks=[not_a_server_error])


@TEXTSEQ_ITEMS.parametrize()
@SETTINGS
def test_no_server_errors_when_adding_items(case: Any, auth: dict[str, str]) -> None:
    case.call_and_validate(headers=auth, checks=[not_a_server_error])
