"""Vocabulary id rules: integer, text, and integer text (an integer vocabulary widened by new ids)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lmrec.data.interactions import Interactions
from lmrec.data.vocabulary import Vocabulary, as_int64
from lmrec.errors import UnknownIdError
from lmrec.models.base import Recommender
from lmrec.models.knn import ItemKNN


def test_merging_integers_keeps_an_integer_vocabulary() -> None:
    vocab = Vocabulary.from_ids([196, 7]).merge(["0042", 7, " 8 "])
    assert vocab.is_integer and not vocab.integer_text
    assert vocab.to_list() == [7, 8, 42, 196]


def test_a_text_id_widens_an_integer_vocabulary_keeping_every_old_id() -> None:
    old = Vocabulary.from_ids([7, 10, 196])
    vocab = old.merge(["newbie", "0196", 10])
    assert vocab.integer_text and not vocab.is_integer and vocab.reads_integers
    assert sorted(vocab.to_list()) == ["10", "196", "7", "newbie"], "0196 is 196: no second user"
    # old ids are addressable under every spelling they had before, each to the same index
    for spellings in ([196, "196", "0196", " 196", np.int64(196)], [7, "7", "+7", "007"]):
        idx = vocab.index(np.array(spellings, dtype=object), what="user")
        assert len(set(idx.tolist())) == 1
    assert vocab.index(["newbie"]).tolist() == [vocab.to_list().index("newbie")]
    np.testing.assert_array_equal(vocab.id(vocab.index(old.ids)), ["7", "10", "196"])
    assert vocab.canonical([196, "0196", "newbie", "1e3"]) == ["196", "196", "newbie", "1e3"]
    with pytest.raises(UnknownIdError, match="unknown user id"):
        vocab.index(["nobody"], what="user")


def test_a_text_vocabulary_compares_ids_exactly() -> None:
    """ASIN-like ids keep leading zeros: text vocabularies never read integers."""
    vocab = Vocabulary.from_ids(["0001234567", "B00X"]).merge([1234567])
    assert not vocab.reads_integers and len(vocab) == 3
    assert vocab.index(["0001234567", "1234567"]).tolist() == [0, 1]
    assert vocab.canonical(["0007"]) == ["0007"]


def test_merging_into_integer_text_canonicalises() -> None:
    vocab = Vocabulary.from_ids([1, 2]).merge(["a"]).merge(["02", 3, "b"])
    assert vocab.integer_text and sorted(vocab.to_list()) == ["1", "2", "3", "a", "b"]


def test_an_integer_vocabulary_looks_up_a_mix_id_by_id() -> None:
    vocab = Vocabulary.from_ids([5, 6])
    assert vocab.index(["6", "abc", "5"], missing="negative").tolist() == [1, -1, 0]
    assert vocab.index([5.0, 6.0]).tolist() == [0, 1]
    assert as_int64("1_000") is None and as_int64("٣") is None and as_int64(2**63) is None
    assert as_int64(True) is None and as_int64(" -12 ") == -12


def test_a_widened_vocabulary_survives_save_and_load(tmp_path: Path) -> None:
    users = Vocabulary.from_ids([7, 14, 21]).merge(["newbie"])
    data = Interactions(
        users=np.array([0, 1, 2, 3, 3]),
        items=np.array([0, 1, 2, 0, 1]),
        user_vocab=users,
        item_vocab=Vocabulary.from_ids([100, 101, 102]),
    )
    model = ItemKNN(k=2).fit(data, seed=0)
    loaded = Recommender.load(model.save(tmp_path / "m"))
    assert loaded.user_vocab_.integer_text and not loaded.item_vocab_.integer_text
    np.testing.assert_array_equal(loaded.user_vocab_.ids, users.ids)
    assert (
        loaded.user_vocab_.index(["0014", 14, "newbie"]).tolist() == users.index([14, 14, "newbie"]).tolist()
    )
    assert loaded.recommend_ids(["007"], n=2) == model.recommend_ids([7], n=2)
