"""The `asrep` augmenter (reversely pre-trained SASRec, pseudo-prior items): the reversed sequences are
exact, the generated items are the true predecessors on a walk log (known answer), first generated closest
to the real start, seeded, and its options are checked by the reverse model's config."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.augment import make_augmenter
from lmrec.augment.asrep import reversed_sequences
from lmrec.data.leakage import check_augmented
from lmrec.errors import ConfigError
from lmrec.testing.datasets import successor_sequences

pytest.importorskip("torch", reason="torch is installed by scripts/setup.sh (extra 'lm')")

QUICK = {"embedding_size": 32, "epochs": 40, "learning_rate": 5e-3, "dropout": 0.0, "num_threads": 1}


def test_reversed_sequences_read_each_user_backwards() -> None:
    data = successor_sequences(n_users=30, n_items=20, min_len=2, max_len=6).data
    back = reversed_sequences(data)
    assert back.n_users == data.n_users and back.n_items == data.n_items
    for forward, backward in zip(data.sequences(), back.sequences(), strict=True):
        np.testing.assert_array_equal(backward, forward[::-1])


def test_generates_the_true_predecessors_first_closest_to_the_start() -> None:
    """On walks i, i + 1, ... the item before a walk's start a is a - 1: the reverse model must generate
    a - 1, a - 2, a - 3, and a - 1 (the first generated) gets the timestamp just before the real start."""
    data = successor_sequences(n_users=300, n_items=40, min_len=4, max_len=10, seed=1).data
    augmented = make_augmenter("asrep", QUICK, amount=3).augment(data, seed=0)
    check_augmented(augmented, data)
    fake = augmented.synthetic_rows()
    starts = np.array([s[0] for s in data.sequences()])
    hits = []
    for u, seq in enumerate(fake.sequences()):  # oldest first: a - 3, a - 2, a - 1
        expected = (starts[u] - np.arange(3, 0, -1)) % data.n_items
        hits.append(seq.shape[0] == 3 and bool((seq == expected).all()))
    assert np.mean(hits) >= 0.9, np.mean(hits)
    first_real = augmented.real().timestamps[augmented.real().indptr()[:-1]]
    last_fake = fake.timestamps[fake.indptr()[1:] - 1]
    np.testing.assert_array_equal(last_fake, first_real - 1)


def test_same_seed_same_rows_other_seed_other_model() -> None:
    data = successor_sequences(n_users=60, n_items=30, min_len=3, max_len=8, seed=2).data
    quick = {**QUICK, "epochs": 3, "dropout": 0.3}
    make = lambda: make_augmenter("asrep", quick, amount=2, max_train=5)  # noqa: E731
    a, b = make().augment(data, seed=4), make().augment(data, seed=4)
    np.testing.assert_array_equal(a.data.items, b.data.items)
    np.testing.assert_array_equal(a.synthetic, b.synthetic)
    counts = data.user_counts()
    augmented_users = np.unique(a.data.users[a.synthetic])
    assert augmented_users.size and (counts[augmented_users] <= 5).all()
    small_blocks = make_augmenter("asrep", {**quick, "batch_size": 7}, amount=2, max_train=5)
    np.testing.assert_array_equal(small_blocks.augment(data, seed=4).data.items, a.data.items)
    other = make().augment(data, seed=5)  # another seed: another reverse model, other rows
    assert not np.array_equal(other.data.items, a.data.items)


def test_ratio_counts_repeated_events_whatever_the_block_size() -> None:
    """`ratio` asks ceil(ratio x events) items of a user, repeats included, as every augmenter does; the
    rows do not depend on which users share a scoring block."""
    data = successor_sequences(n_users=40, n_items=30, min_len=2, max_len=4, seed=3).data
    doubled = data.concat(data.subset(data.users == 0))  # user 0: each event twice
    quick = {**QUICK, "epochs": 2}
    rows = []
    for batch_size in (1, 1024):
        aug = make_augmenter("asrep", {**quick, "batch_size": batch_size}, ratio=1.0).augment(doubled, seed=1)
        fake = aug.data.subset(aug.synthetic)
        rows.append(fake.items)
        counts = doubled.user_counts()
        n_fake = np.bincount(fake.users, minlength=doubled.n_users)
        assert n_fake[0] == min(counts[0], doubled.n_items - np.unique(data.items[data.users == 0]).size)
    np.testing.assert_array_equal(rows[0], rows[1])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"train_batch_size": 0}, "train_batch_size"),
        ({"embedding_size": 10, "n_heads": 3}, "embedding_size"),
        ({"epochs": 0}, "epochs"),
    ],
)
def test_bad_options_name_the_field(params: dict[str, int], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_augmenter("asrep", params)
