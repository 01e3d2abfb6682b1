"""Side attributes: each encoding rule on a small table, ids the table lacks, and errors that name the
table, the column and the row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmrec.data.attributes import SideAttributes, encode_attributes
from lmrec.data.vocabulary import Vocabulary
from lmrec.errors import ConfigError, DataError

TABLE = pd.DataFrame(
    {
        "age": ["23", "37", "41", None],
        "gender": ["M", "F", "F", "M"],
        "zip": ["94110", "10023", "9411X", "T8H1N"],
        "genres": ["Comedy|Drama", "Drama", "", "Action|Comedy|Drama"],
        "date": ["01-Jan-1995", "12-Jun-1998", "2003-05-01", None],
    },
    index=[10, 20, 30, 40],
)


def test_each_rule() -> None:
    vocab = Vocabulary(np.array([10, 20, 30, 40, 50]))  # 50: not in the table
    got = encode_attributes(
        TABLE,
        vocab,
        {"age": "bin:10", "gender": "category", "zip": "prefix:1", "genres": "multi", "date": "year:5"},
        where="users.csv",
    )
    assert got.groups == (("age", 3), ("gender", 2), ("zip", 3), ("genres", 3), ("date", 2))
    assert got.missing_rows == 1  # id 50
    dense = got.matrix.toarray()
    np.testing.assert_array_equal(dense[:, 0:3], [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(dense[:, 3:5], [[0, 1], [1, 0], [1, 0], [0, 1], [0, 0]])  # F, M
    np.testing.assert_array_equal(
        dense[:, 5:8], [[0, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]]
    )  # 1, 9, T
    third = 1 / 3
    np.testing.assert_allclose(  # Action, Comedy, Drama; each row of a group sums to 1 (or 0: none)
        dense[:, 8:11], [[0, 0.5, 0.5], [0, 0, 1], [0, 0, 0], [third, third, third], [0, 0, 0]]
    )
    np.testing.assert_array_equal(
        dense[:, 11:13], [[1, 0], [1, 0], [0, 1], [0, 0], [0, 0]]
    )  # 1995-99, 2000-04
    assert got.describe() == "age (3), gender (2), zip (3), genres (3), date (2)"


def test_text_ids_and_string_index() -> None:
    table = TABLE.set_axis([str(i) for i in TABLE.index])
    got = encode_attributes(table, Vocabulary(np.array([10, 40])), {"gender": "category"})
    np.testing.assert_array_equal(got.matrix.toarray(), [[0, 1], [0, 1]])
    text = encode_attributes(TABLE, Vocabulary(np.array(["10", "20"])), {"gender": "category"})
    assert text.missing_rows == 0


def test_errors_name_the_problem() -> None:
    vocab = Vocabulary(np.array([10]))
    with pytest.raises(DataError, match=r"users.csv, column age: row 1: 'old' is not a number"):
        encode_attributes(
            TABLE.assign(age=["23", "old", "1", "2"]), vocab, {"age": "bin:5"}, where="users.csv"
        )
    with pytest.raises(DataError, match=r"column date: row 0: 'someday' is not a date"):
        encode_attributes(TABLE.assign(date=["someday"] * 4), vocab, {"date": "year:1"})
    with pytest.raises(DataError, match=r"no column\(s\) \['height'\]"):
        encode_attributes(TABLE, vocab, {"height": "bin:5"})
    with pytest.raises(ConfigError, match="unknown rule 'onehot'"):
        encode_attributes(TABLE, vocab, {"gender": "onehot"})
    with pytest.raises(ConfigError, match="'bin' needs a positive integer"):
        encode_attributes(TABLE, vocab, {"age": "bin:0"})
    with pytest.raises(DataError, match=r"ids listed more than once: 10 \(row 4\)"):
        encode_attributes(pd.concat([TABLE, TABLE.iloc[:1]]), vocab, {"gender": "category"})
    attrs = SideAttributes(user=encode_attributes(TABLE, vocab, {"gender": "category"}))
    with pytest.raises(ValueError, match="user attributes have 1 rows but the data has 2 users"):
        attrs.check(2, 5, "BayesFM")
