"""The augmenters: determinism by seed, only new items and only for the selected users, the documented
placement in time, each method's own rule, and a known answer (adding the true missing items must raise
recall)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from lmrec.augment import AUGMENTERS, Augmented, Augmenter, make_augmenter
from lmrec.augment.base import Scorer
from lmrec.data.features import ItemFeatures
from lmrec.data.interactions import Interactions
from lmrec.data.splits import temporal_ratio
from lmrec.data.synthetic import synthetic_log
from lmrec.errors import ConfigError
from lmrec.eval import evaluate_ranking
from lmrec.models.knn import ItemKNN

METHODS = sorted(AUGMENTERS)
FAST: dict[str, dict[str, object]] = {
    "cfgan": {"epochs": 5, "num_threads": 1},
    "asrep": {"epochs": 2, "embedding_size": 8, "num_threads": 1},
}
"""Per-method params that keep these contract tests quick (cfgan trains a GAN, asrep a reverse SASRec;
their own tests check what they learn)."""


@pytest.fixture(scope="module")
def log() -> Interactions:
    return synthetic_log(n_users=200, n_items=80, n_interactions=3000, seed=11)


@pytest.fixture(scope="module")
def features(log: Interactions) -> ItemFeatures:
    rng = np.random.default_rng(0)
    has = np.ones(log.n_items, bool)
    has[:3] = False  # a few items without text
    vectors = rng.normal(size=(log.n_items, 8))
    vectors[~has] = 0
    return ItemFeatures(vectors, has)


def run(
    method: str, data: Interactions, features: ItemFeatures, seed: int = 1, **common: object
) -> Augmented:
    augmenter = make_augmenter(method, FAST.get(method), **common)  # type: ignore[arg-type]
    return augmenter.augment(data, seed=seed, item_features=features)


def pairs(data: Interactions) -> set[tuple[int, int]]:
    return set(zip(data.users.tolist(), data.items.tolist(), strict=True))


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_rows_and_the_real_rows_untouched(method, log, features) -> None:  # type: ignore[no-untyped-def]
    a, b = run(method, log, features, seed=5), run(method, log, features, seed=5)
    np.testing.assert_array_equal(a.data.users, b.data.users)
    np.testing.assert_array_equal(a.data.items, b.data.items)
    np.testing.assert_array_equal(a.data.timestamps, b.data.timestamps)
    np.testing.assert_array_equal(a.synthetic, b.synthetic)
    real = a.real()
    np.testing.assert_array_equal(real.users, log.users)
    np.testing.assert_array_equal(real.items, log.items)
    np.testing.assert_array_equal(real.timestamps, log.timestamps)
    assert a.n_synthetic > 0


@pytest.mark.parametrize("method", ["random", "popularity"])
def test_sampling_methods_draw_differently_under_another_seed(method, log, features) -> None:  # type: ignore[no-untyped-def]
    a, b = run(method, log, features, seed=5), run(method, log, features, seed=6)
    assert pairs(a.synthetic_rows()) != pairs(b.synthetic_rows())


@pytest.mark.parametrize("method", METHODS)
def test_only_new_items_for_only_the_selected_users(method, log, features) -> None:  # type: ignore[no-untyped-def]
    counts = log.user_counts()
    out = run(method, log, features, amount=4, max_train=12)
    syn = out.synthetic_rows()
    assert not pairs(syn) & pairs(log)  # every pseudo item is new to its user
    assert set(syn.users.tolist()) <= set(np.flatnonzero((counts > 0) & (counts <= 12)).tolist())
    per_user = np.bincount(syn.users, minlength=log.n_users)
    assert per_user.max() <= 4
    assert len(set(pairs(syn))) == len(syn)  # no item twice for a user
    assert np.all(log.item_counts()[syn.items] > 0)  # only items that have data (a cold slice stays cold)
    assert out.describe()["users_selected"] == int(np.count_nonzero((counts > 0) & (counts <= 12)))


def test_amount_as_a_ratio_of_the_users_count(log, features) -> None:  # type: ignore[no-untyped-def]
    out = run("random", log, features, ratio=0.5)
    got = np.bincount(out.synthetic_rows().users, minlength=log.n_users)
    counts = log.user_counts()
    # capped by the items (with data) new to the user: heavy users have fewer left than they ask for
    left = np.count_nonzero(log.item_counts()) - np.diff(log.csr().indptr)
    np.testing.assert_array_equal(got, np.where(counts > 0, np.minimum(np.ceil(counts * 0.5), left), 0))
    assert (got < np.ceil(counts * 0.5)).any() and got.max() > 5


def test_pseudo_items_are_prepended_best_candidate_last(log, features) -> None:  # type: ignore[no-untyped-def]
    out = run("itemknn", log, features, amount=3)
    data, first_real = out.data, log.timestamps[log.indptr()[:-1].clip(max=len(log) - 1)]
    for u in np.unique(out.synthetic_rows().users)[:20]:
        rows = np.arange(data.indptr()[u], data.indptr()[u + 1])
        mask = out.synthetic[rows]
        k = int(mask.sum())
        assert mask[:k].all() and not mask[k:].any()  # the user's timeline starts with the pseudo-items
        times = data.timestamps[rows[:k]]
        np.testing.assert_array_equal(times, first_real[u] - np.arange(k, 0, -1))
        # the best-scored candidate sits right before the first real event
        sim_scores = make_augmenter("itemknn")._scorer(log, log.csr(), None)(
            np.array([u]), log.csr()[[u]], None
        )  # type: ignore[arg-type]
        assert sim_scores[0, data.items[rows[k - 1]]] >= sim_scores[0, data.items[rows[0]]]


def test_logs_without_timestamps_keep_pseudo_rows_first_and_ratings_get_the_user_mean() -> None:
    frame = pd.DataFrame(
        {"user": [1, 1, 2, 2, 2, 3], "item": [10, 11, 10, 12, 13, 11], "rating": [4.0, 2.0, 5, 5, 2, 1]}
    )
    data = Interactions.from_frame(frame, timestamp_col=None)
    out = make_augmenter("popularity", amount=1).augment(data, seed=0)
    assert out.data.timestamps is None
    for u in range(data.n_users):
        rows = np.arange(out.data.indptr()[u], out.data.indptr()[u + 1])
        assert out.synthetic[rows[0]] and not out.synthetic[rows[1:]].any()
        np.testing.assert_allclose(out.data.ratings[rows[0]], data.ratings[data.users == u].mean())


def test_itemknn_adds_the_co_occurring_item() -> None:
    # users 0-2 hold {a, b}; user 3 holds only a: b is a's one neighbour, c is never seen with a
    frame = pd.DataFrame(
        {"user": [0, 0, 1, 1, 2, 2, 3, 4, 4], "item": ["a", "b", "a", "b", "a", "b", "a", "c", "d"],
         "timestamp": [1, 2, 1, 2, 1, 2, 1, 1, 2]}
    )  # fmt: skip
    data = Interactions.from_frame(frame)
    out = make_augmenter("itemknn", amount=2, max_train=1).augment(data, seed=0)
    syn = out.synthetic_rows()
    assert syn.user_vocab.id(syn.users).tolist() == [3]  # user 4 has two items: not selected
    assert syn.item_vocab.id(syn.items).tolist() == ["b"]  # only neighbours: c and d score 0


def test_text_adds_the_items_with_the_closest_text() -> None:
    # items 0-3 on one axis, 4-7 on another; a user with items 0 and 1 gets 2 and 3, never 4-7
    vectors = np.zeros((8, 2))
    vectors[:4, 0] = [1.0, 0.9, 0.8, 0.7]
    vectors[:4, 1] = [0.0, 0.1, 0.2, 0.3]
    vectors[4:, 1] = 1.0
    frame = pd.DataFrame(
        {"user": [0, 0] + [1] * 8, "item": [0, 1, *range(8)], "timestamp": [5, 6, *range(8)]}
    )
    data = Interactions.from_frame(frame)
    features = ItemFeatures(vectors, np.ones(8, bool))
    out = make_augmenter("text", amount=2).augment(data, seed=0, item_features=features)
    syn = out.synthetic_rows()
    assert syn.item_vocab.id(syn.items).tolist() == [3, 2]  # in time order: the closest (2) last
    with pytest.raises(ValueError, match="needs item_features"):
        make_augmenter("text").augment(data, seed=0)


def test_popularity_favours_popular_items(log, features) -> None:  # type: ignore[no-untyped-def]
    pop = log.item_user_counts()
    drawn = run("popularity", log, features, amount=3).synthetic_rows().items
    uniform = run("random", log, features, amount=3).synthetic_rows().items
    assert pop[drawn].mean() > 1.3 * pop[uniform].mean()


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="amount must be a positive integer"):
        make_augmenter("random", amount=0)
    with pytest.raises(ConfigError, match="has no parameter 'kk'"):
        make_augmenter("itemknn", {"kk": 3})
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        make_augmenter("itemknn", {"k": 0})
    with pytest.raises(ConfigError, match="common options"):
        make_augmenter("random", {"amount": 3})
    with pytest.raises(KeyError, match="unknown augmentation method 'gpt'"):
        make_augmenter("gpt")


# --- known answer: adding the true missing items must raise recall -----------------------------------------
@dataclass(frozen=True)
class OracleAugmenter(Augmenter):
    """Test only: adds each user's held-out target items (`targets`, set by the test), which no real
    augmenter can see. If this did not raise recall, augmentation would not be reaching the model."""

    method: ClassVar[str] = "oracle"
    targets: ClassVar[sp.csr_matrix | None] = None

    def _scorer(self, data: Interactions, seen: sp.csr_matrix, item_features: ItemFeatures | None) -> Scorer:
        assert OracleAugmenter.targets is not None
        truth = OracleAugmenter.targets

        def score(users: np.ndarray, history: sp.csr_matrix, rng: np.random.Generator) -> np.ndarray:
            out = truth[users].toarray().astype(np.float64)
            out[out <= 0] = -np.inf
            return out

        return score


def test_adding_the_true_missing_items_raises_itemknn_recall() -> None:
    data = synthetic_log(n_users=300, n_items=200, n_interactions=3000, seed=2)
    split = temporal_ratio(data, train=0.8, valid=0.1)
    OracleAugmenter.targets = split.test.csr()
    augmented = OracleAugmenter(amount=50).augment(split.train, seed=0)
    assert augmented.n_synthetic > 0

    def recall(fit_data: Interactions) -> float:
        model = ItemKNN(k=50).fit(fit_data, seed=0)
        result = evaluate_ranking(model, split.test.csr(), split.train.csr(), ns=[10], metrics=["recall"])
        return float(result.summary()["Recall@10"])

    plain, oracle = recall(split.train), recall(augmented.data)
    assert oracle > plain + 0.08, (plain, oracle)  # measured: 0.186 -> 0.312
