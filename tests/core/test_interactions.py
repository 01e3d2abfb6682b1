import numpy as np
import pandas as pd
import pytest

from lmrec.data.interactions import Interactions, users_per_item
from lmrec.data.vocabulary import Vocabulary
from lmrec.errors import UnknownIdError


def make() -> Interactions:
    frame = pd.DataFrame(
        {
            "user": [3, 1, 1, 2, 2, 2],
            "item": [20, 10, 20, 30, 10, 20],
            "rating": [5, 4, 3, 2, 1, 5],
            "timestamp": [1, 2, 1, 3, 3, 1],
        }
    )
    return Interactions.from_frame(frame)


def test_vocabulary_sorts_integer_ids_numerically():
    v = Vocabulary.from_ids([10, 9, 100, 9])
    assert v.ids.tolist() == [9, 10, 100]
    assert v.index([100, 9]).tolist() == [2, 0]
    assert v.index(np.array(["10"])).tolist() == [1]


def test_vocabulary_keeps_numeric_looking_strings():
    v = Vocabulary.from_ids(["0001", "10", "9"])
    assert v.ids.tolist() == ["0001", "10", "9"]


def test_vocabulary_strings_and_unknown():
    v = Vocabulary.from_ids(["b", "a", "c"])
    assert v.ids.tolist() == ["a", "b", "c"]
    assert v.index(["zz", "a"], missing="negative").tolist() == [-1, 0]
    with pytest.raises(UnknownIdError, match="zz"):
        v.index(["zz"])


def test_integer_vocabulary_names_a_non_integer_id_as_given():
    v = Vocabulary.from_ids([1, 2, 3])
    with pytest.raises(UnknownIdError) as info:
        v.index(["abc", "2"], what="user")
    assert str(info.value) == "1 unknown user id(s), e.g. ['abc']"  # not a placeholder integer
    assert v.index(["abc", "3"], missing="negative").tolist() == [-1, 2]


def test_vocabulary_extended_appends_after_the_sorted_ids():
    v = Vocabulary.from_ids([10, 9, 100])
    grown = v.extended([5, "7"])  # integer vocabularies take integer strings too
    assert grown.ids.tolist() == [9, 10, 100, 5, 7] and grown.appended == 2
    assert grown.index([5, 100, 7]).tolist() == [3, 2, 4]  # old indices keep their meaning
    assert grown.extended([1]).appended == 3
    assert Vocabulary(grown.ids, appended=2) == grown
    for bad, message in [
        ([10], "already in the vocabulary"),
        ([6, 6], "more than once"),
        (["x"], "integers"),
    ]:
        with pytest.raises(ValueError, match=message):
            v.extended(bad)
    with pytest.raises(ValueError, match="sorted"):
        Vocabulary(grown.ids, appended=1)  # 100 > 5: only two ids may be out of order
    with pytest.raises(ValueError, match="unique"):
        Vocabulary(np.array([9, 10, 9]), appended=1)
    words = Vocabulary.from_ids(["b", "a"]).extended([3])
    assert words.ids.tolist() == ["a", "b", "3"] and words.index(["3"]).tolist() == [2]


def test_canonical_order_user_time_item():
    x = make()
    f = x.to_frame()
    # user 2: (t=1, item 20), then t=3 tie broken by item id: 10 before 30
    assert f[f.user == 2].item.tolist() == [20, 10, 30]
    assert f.user.tolist() == [1, 1, 2, 2, 2, 3]
    assert f.rating.tolist() == [3, 4, 5, 1, 2, 5]


def test_csr_binary_collapses_repeats():
    x = make()
    twice = x.concat(x)
    assert twice.csr().max() == 1
    assert twice.csr(values="count").max() == 2
    assert twice.csr().nnz == len(x)


def test_item_user_counts_count_distinct_users_and_item_counts_every_event():
    twice = make().concat(make())  # items 10, 20, 30: users {1, 2}, {3, 1, 2}, {2}, each event twice
    np.testing.assert_array_equal(twice.item_user_counts(), [2, 3, 1])
    np.testing.assert_array_equal(twice.item_counts(), [4, 6, 2])
    np.testing.assert_array_equal(users_per_item(twice.csr(values="count")), [2, 3, 1])


def test_sequences_and_subset_keep_vocab():
    x = make()
    seqs = x.sequences()
    assert [s.tolist() for s in seqs] == [[1, 0], [1, 0, 2], [1]]
    sub = x.subset(x.users == 0)
    assert sub.n_items == x.n_items and len(sub) == 2


def test_rejects_out_of_range_indices():
    v = Vocabulary.from_ids([1, 2])
    with pytest.raises(ValueError, match="item index"):
        Interactions(users=np.array([0]), items=np.array([5]), user_vocab=v, item_vocab=v)
