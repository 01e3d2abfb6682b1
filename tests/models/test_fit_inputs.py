"""`Recommender.fit` refuses, before learning anything, an input its class does not declare or one it
requires and lacks (`lmrec.models.fit_context.check_fit_inputs`); warm starts are in test_warm_start.py."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.data.attributes import SideAttributes
from lmrec.data.features import ItemFeatures
from lmrec.data.interactions import sequences_to_csr
from lmrec.models.content import ContentBased
from lmrec.models.ease import EASE
from lmrec.models.fit_context import Validation
from lmrec.testing.datasets import TINY_MATRIX, from_matrix


def _features(n_items: int, dim: int = 4) -> ItemFeatures:
    vectors = np.random.default_rng(0).normal(size=(n_items, dim)).astype(np.float32)
    return ItemFeatures(vectors=vectors, has_content=np.ones(n_items, dtype=bool))


def test_an_empty_log_is_refused() -> None:
    empty = from_matrix(np.zeros_like(TINY_MATRIX))
    with pytest.raises(ValueError, match=r"EASE\.fit got an empty interaction log"):
        EASE().fit(empty)


def test_inputs_the_class_does_not_declare_are_refused() -> None:
    data = from_matrix(TINY_MATRIX)
    with pytest.raises(ValueError, match="EASE does not use item features"):
        EASE().fit(data, item_features=_features(data.n_items))
    with pytest.raises(ValueError, match="EASE does not use user or item attributes"):
        EASE().fit(data, attributes=SideAttributes())
    with pytest.raises(ValueError, match="EASE does not train with a validation set"):
        EASE().fit(data, validation=Validation(targets=data, history=data))


def test_required_features_missing_or_on_another_catalog_are_refused() -> None:
    data = from_matrix(TINY_MATRIX)
    with pytest.raises(ValueError, match="ContentBased needs item_features"):
        ContentBased().fit(data)
    with pytest.raises(ValueError, match="ContentBased: item features have 6 rows but the data has 5 items"):
        ContentBased().fit(data, item_features=_features(data.n_items + 1))
    assert ContentBased().fit(data, item_features=_features(data.n_items)).n_items == data.n_items


def test_sequences_to_csr_is_the_binary_set_view() -> None:
    got = sequences_to_csr([np.array([2, 0, 2]), np.array([], dtype=np.int64), np.array([1])], 3)
    np.testing.assert_array_equal(got.toarray(), [[1, 0, 1], [0, 0, 0], [0, 1, 0]])
