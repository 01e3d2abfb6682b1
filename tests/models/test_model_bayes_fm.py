"""BayesFM: conformance (regression and ordered probit), the posterior mean against myFM's own predictor,
no held-out pair in the implicit features, fallbacks, config errors, and RMSE on MovieLens-100K u1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from lmrec.data.attributes import SideAttributes, encode_attributes
from lmrec.data.interactions import Interactions
from lmrec.data.vocabulary import Vocabulary
from lmrec.errors import ConfigError, DataError, NotFittedError
from lmrec.models.base import Recommender
from lmrec.models.bayes_fm import BayesFM, BayesFMConfig, import_myfm
from lmrec.testing.conformance import RecommenderConformance
from lmrec.testing.datasets import random_interactions, tiny_ratings
from lmrec.testing.ratings import fold_rmse

try:
    myfm = import_myfm()
except ImportError:
    pytest.skip("myfm is not installed (pip install 'lmrec[rating]')", allow_module_level=True)

SURPRISE_SVDPP_RMSE = 0.92  # Surprise's published 5-fold CV RMSE of SVD++ on ML-100K (PROTOCOLS.md, P3)


class TestBayesFM(RecommenderConformance):
    """Known users keep their training features, so a history passed for them changes nothing; an unknown
    user is described by which items they rated, not how: on the known-answer rating data every user rated
    all but two items, so those sets carry no taste and the unknown-user known-answer test cannot apply."""

    needs_ratings = True
    uses_history = False

    def make_model(self, **overrides: Any) -> Recommender:
        return BayesFM(BayesFMConfig(**{"rank": 4, "n_iter": 100, **overrides}))


class TestBayesFMOrderedProbit(TestBayesFM):
    """The same contract with the ordered-probit likelihood (expected rating over the 1-5 classes)."""

    def make_model(self, **overrides: Any) -> Recommender:
        return BayesFM(BayesFMConfig(**{"rank": 4, "n_iter": 100, "ordered_probit": True, **overrides}))


class Spy:
    """Records what reaches myFM's samplers (the targets and the relation blocks) and the fitted estimator."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[dict[str, Any]] = []
        for cls in (myfm.MyFMGibbsRegressor, myfm.MyFMOrderedProbit):
            monkeypatch.setattr(cls, "fit", self._wrap(cls.fit))

    def _wrap(self, original: Any) -> Any:
        def fit(fm: Any, x: Any, y: Any, **kwargs: Any) -> Any:
            self.calls.append({"fm": fm, "x": x, "y": np.asarray(y), **kwargs})
            return original(fm, x, y, **kwargs)

        return fit

    def implicit_pairs(self, call: int = -1) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
        """(user, item) pairs in the user block's implicit columns and in the item block's, of one fit."""
        user_block, item_block = self.calls[call]["X_rel"]
        n_users, n_items = user_block.data.shape[0], item_block.data.shape[0]
        user_rows = sp.coo_matrix(user_block.data.tocsr()[:, n_users:])
        item_rows = sp.coo_matrix(item_block.data.tocsr()[:, n_items:])
        assert user_rows.shape == (n_users, n_items) and item_rows.shape == (n_items, n_users)
        by_user = set(zip(user_rows.row.tolist(), user_rows.col.tolist(), strict=True))
        by_item = set(zip(item_rows.col.tolist(), item_rows.row.tolist(), strict=True))
        return by_user, by_item


def pairs(data: Interactions) -> set[tuple[int, int]]:
    return set(zip(data.users.tolist(), data.items.tolist(), strict=True))


def split(data: Interactions, frac: float = 0.25, seed: int = 0) -> tuple[Interactions, Interactions]:
    held = np.random.default_rng(seed).random(len(data)) < frac
    return data.subset(~held), data.subset(held)


def test_implicit_features_hold_only_training_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)
    train, test = split(random_interactions(40, 30, density=0.4, seed=5))
    assert pairs(test) - pairs(train), "the held-out part must hold pairs the training part lacks"
    model = BayesFM(rank=3, n_iter=20).fit(train, seed=0)
    by_user, by_item = spy.implicit_pairs()
    assert by_user == pairs(train) and by_item == pairs(train)
    assert not by_user & (pairs(test) - pairs(train))
    # values: 1/sqrt(|N(u)|) per rated item; the one-hot part covers the users with training data only
    user_block = spy.calls[0]["X_rel"][0].data.tocsr()
    counts = np.diff(train.csr().indptr)
    for u in range(train.n_users):
        row = user_block[u]
        np.testing.assert_allclose(row[:, train.n_users :].data, 1 / np.sqrt(counts[u]))
        assert row[0, u] == (1.0 if counts[u] else 0.0)
    # the sampler saw the training ratings, row for row
    np.testing.assert_array_equal(spy.calls[0]["y"], train.ratings.astype(np.float64))
    np.testing.assert_array_equal(spy.calls[0]["X_rel"][0].original_to_block, train.users)
    assert np.isfinite(model.predict(test.users, test.items)).all()


def test_items_without_training_ratings_are_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    data = random_interactions(30, 25, density=0.4, seed=6)
    train = data.subset(data.items != 7)  # item 7 stays in the vocabulary (as in a shared-vocabulary fold)
    spy = Spy(monkeypatch)
    model = BayesFM(rank=3, n_iter=30).fit(train, seed=0)
    item_block = spy.calls[0]["X_rel"][1].data.tocsr()
    assert item_block[7].nnz == 0  # no one-hot column that only the prior would fill
    users = np.arange(train.n_users)
    np.testing.assert_allclose(
        model.predict(users, np.full_like(users, 7)), model.predict(users, np.full_like(users, -1))
    )


@pytest.mark.parametrize("ordered_probit", [False, True])
def test_posterior_mean_equals_myfm_predictor(monkeypatch: pytest.MonkeyPatch, ordered_probit: bool) -> None:
    """The per-sample split into user and item sides (module docstring) gives myFM's own posterior mean,
    for known users and for an unknown user folded in from a history (implicit features only)."""
    spy = Spy(monkeypatch)
    data = random_interactions(30, 25, density=0.4, seed=7)
    model = BayesFM(rank=3, n_iter=40, ordered_probit=ordered_probit).fit(data, seed=1)
    fm, (user_block, item_block) = spy.calls[0]["fm"], spy.calls[0]["X_rel"]
    user_x, item_x = user_block.data.tocsr(), item_block.data.tocsr()
    users, items = (a.ravel() for a in np.meshgrid(np.arange(30), np.arange(25), indexing="ij"))
    blocks = [myfm.RelationBlock(users, user_x), myfm.RelationBlock(items, item_x)]
    levels = np.unique(data.ratings)
    if ordered_probit:
        expected = fm.predict_proba(None, blocks) @ levels
    else:
        expected = fm.predict(None, blocks)
    np.testing.assert_allclose(model.score(np.arange(30)).ravel(), expected, rtol=1e-5, atol=1e-5)
    # unknown users with user 0's and user 1's training items: one-hot columns off, implicit set on
    folded = user_x[[0, 1]].tolil()
    folded[0, 0], folded[1, 1] = 0.0, 0.0
    blocks = [
        myfm.RelationBlock(np.repeat([0, 1], 25), folded.tocsr()),
        myfm.RelationBlock(np.tile(np.arange(25), 2), item_x),
    ]
    want = fm.predict_proba(None, blocks) @ levels if ordered_probit else fm.predict(None, blocks)
    got = model.score(np.array([-1, -1]), data.csr()[[0, 1]])
    np.testing.assert_allclose(got.ravel(), want, rtol=1e-5, atol=1e-5)


def test_recovers_a_known_low_rank_model_better_than_the_mean() -> None:
    data, true = tiny_ratings(30, 25, density=0.7, noise=0.1, seed=1)
    model = BayesFM(rank=2, n_iter=200).fit(data, seed=0)
    err = float(np.sqrt(np.mean((model.score(np.arange(30)) - true) ** 2)))
    baseline = float(np.sqrt(np.mean((data.ratings.mean() - true) ** 2)))
    assert err < 0.1 < baseline / 4, f"RMSE to the true matrix {err:.4f}, global mean {baseline:.4f}"
    users, items = (a.ravel() for a in np.meshgrid(np.arange(30), np.arange(25), indexing="ij"))
    lo, hi = data.ratings.min(), data.ratings.max()
    np.testing.assert_allclose(
        model.predict(users, items), np.clip(model.score(np.arange(30)).ravel(), lo, hi), rtol=1e-6
    )


def test_ordered_probit_predicts_expected_rating_within_the_scale() -> None:
    data = random_interactions(30, 25, density=0.5, seed=3)
    model = BayesFM(rank=2, n_iter=60, ordered_probit=True).fit(data, seed=0)
    np.testing.assert_array_equal(model.levels_, [1, 2, 3, 4, 5])
    assert model.cutpoints_.shape == (model.n_samples, 4)
    assert (np.diff(model.cutpoints_, axis=1) > 0).all()  # ordered cut points in every sample
    pred = model.predict(np.array([0, -1, 3, -1]), np.array([2, 5, -1, -1]))
    assert ((pred >= 1) & (pred <= 5)).all()
    continuous, _ = tiny_ratings(seed=2)
    with pytest.raises(DataError, match="ordered_probit"):
        BayesFM(ordered_probit=True, n_iter=5).fit(continuous)


def test_unknown_users_and_items_have_an_empty_side() -> None:
    data = random_interactions(seed=4)
    model = BayesFM(rank=3, n_iter=30).fit(data, seed=0)
    mean_w0 = float(model.w0_.astype(np.float64).mean())
    b_user = model.user_bias_.astype(np.float64).mean(axis=1)
    b_item = model.item_bias_.astype(np.float64).mean(axis=1)
    lo, hi = model.rating_range_
    got = model.predict(np.array([-1, 3, -1]), np.array([4, -1, -1]))
    want = np.clip([mean_w0 + b_item[4], mean_w0 + b_user[3], mean_w0], lo, hi)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # an unknown user with an empty history is the same as one without any
    empty = sp.csr_matrix((1, data.n_items), dtype=np.float32)
    np.testing.assert_allclose(model.score(np.array([-1]), empty)[0], mean_w0 + b_item, rtol=1e-5)
    with pytest.raises(ValueError, match="item index out of range"):
        model.predict(np.array([0]), np.array([data.n_items]))
    with pytest.raises(NotFittedError):
        BayesFM().predict(np.array([0]), np.array([0]))


def test_without_implicit_features_a_history_is_not_used() -> None:
    data = random_interactions(seed=8)
    model = BayesFM(rank=3, n_iter=30, implicit_user=False, implicit_item=False).fit(data, seed=0)
    assert model.implicit_factors_.shape[0] == 0
    with_history = model.score(np.array([-1]), data.csr()[[0]])
    without = model.score(np.array([-1]), sp.csr_matrix((1, data.n_items), dtype=np.float32))
    np.testing.assert_array_equal(with_history, without)


def test_seed_reaches_the_sampler() -> None:
    data = random_interactions(seed=9)
    a = BayesFM(rank=3, n_iter=20).fit(data, seed=1).predict(data.users, data.items)
    b = BayesFM(rank=3, n_iter=20).fit(data, seed=1).predict(data.users, data.items)
    c = BayesFM(rank=3, n_iter=20).fit(data, seed=2).predict(data.users, data.items)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("ordered_probit", [False, True])
def test_save_load_predicts_identically(tmp_path: Path, ordered_probit: bool) -> None:
    data = random_interactions(seed=10)
    model = BayesFM(rank=3, n_iter=30, n_kept_samples=12, ordered_probit=ordered_probit).fit(data, seed=0)
    assert model.n_samples == 12
    loaded = Recommender.load(model.save(tmp_path / "m"))
    users = np.array([0, 5, -1, 7, -1])
    items = np.array([1, -1, 3, 9, -1])
    np.testing.assert_array_equal(loaded.predict(users, items), model.predict(users, items))
    hist = data.csr()[[2, 3]]
    np.testing.assert_array_equal(
        loaded.score(np.array([-1, -1]), hist), model.score(np.array([-1, -1]), hist)
    )


def test_needs_finite_explicit_ratings() -> None:
    data = random_interactions(seed=3)
    implicit = Interactions(data.users, data.items, data.user_vocab, data.item_vocab)
    with pytest.raises(DataError, match="has none"):
        BayesFM(n_iter=5).fit(implicit)
    ratings = data.ratings.copy()
    ratings[4] = np.inf
    bad = Interactions(data.users, data.items, data.user_vocab, data.item_vocab, ratings=ratings)
    with pytest.raises(DataError, match="finite"):
        BayesFM(n_iter=5).fit(bad)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"rank": 0}, "rank"),
        ({"rank": 2.5}, "rank"),
        ({"n_iter": 0}, "n_iter"),
        ({"n_iter": 10, "n_kept_samples": 11}, "n_kept_samples"),
        ({"n_kept_samples": 0}, "n_kept_samples"),
        ({"init_std": 0.0}, "init_std"),
        ({"ordered_probit": "yes"}, "ordered_probit"),
        ({"ranks": 10}, "ranks"),
    ],
)
def test_invalid_config_names_the_parameter(params: dict[str, Any], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        BayesFM(**params)


def test_burn_in_default() -> None:
    assert BayesFMConfig(n_iter=500).kept == 450
    assert BayesFMConfig(n_iter=5).kept == 5
    assert BayesFMConfig(n_iter=50, n_kept_samples=7).kept == 7


@pytest.mark.shared_data
def test_rmse_on_movielens_u1_beats_surprise_svdpp(ml100k_dir: Path) -> None:
    # a short chain: the check is "clearly better", not the best
    rmse, unseen = fold_rmse(BayesFM(n_iter=100), ml100k_dir, 1)
    assert unseen > 0  # u1.test has items unseen in u1.base: the fallback path is exercised
    assert rmse < SURPRISE_SVDPP_RMSE - 0.01, f"RMSE {rmse:.4f} on u1"


def _attributes(data: Interactions, seed: int = 0) -> SideAttributes:
    """Random user and item attributes: a 3-way category per user, a 4-way genre list per item."""
    rng = np.random.default_rng(seed)
    users = pd.DataFrame({"group": rng.choice(["a", "b", "c"], data.n_users)}, index=data.user_vocab.ids)
    genres = ["|".join(rng.choice(list("wxyz"), 2, replace=False)) for _ in range(data.n_items)]
    items = pd.DataFrame({"genres": genres}, index=data.item_vocab.ids)
    return SideAttributes(
        user=encode_attributes(users, data.user_vocab, {"group": "category"}),
        item=encode_attributes(items, data.item_vocab, {"genres": "multi"}),
    )


@pytest.mark.parametrize("ordered_probit", [False, True])
def test_with_attributes_posterior_mean_equals_myfm_predictor(
    monkeypatch: pytest.MonkeyPatch, ordered_probit: bool
) -> None:
    """Attribute groups appended to both sides keep the per-sample split exact: the model's scores are
    myFM's posterior mean on the same rows; an unknown user folds in from the implicit set alone."""
    spy = Spy(monkeypatch)
    data = random_interactions(30, 25, density=0.4, seed=9)
    attributes = _attributes(data)
    model = BayesFM(
        rank=3, n_iter=40, ordered_probit=ordered_probit, user_attributes=True, item_attributes=True
    ).fit(data, seed=1, attributes=attributes)
    call = spy.calls[0]
    fm, (user_block, item_block) = call["fm"], call["X_rel"]
    user_x, item_x = user_block.data.tocsr(), item_block.data.tocsr()
    assert user_x.shape[1] == 30 + 25 + 3 and item_x.shape[1] == 25 + 30 + 4
    assert call["group_shapes"] == [30, 25, 3, 25, 30, 4]
    np.testing.assert_allclose(user_x[:, -3:].toarray(), attributes.user.matrix.toarray())
    users, items = (a.ravel() for a in np.meshgrid(np.arange(30), np.arange(25), indexing="ij"))
    blocks = [myfm.RelationBlock(users, user_x), myfm.RelationBlock(items, item_x)]
    levels = np.unique(data.ratings)
    expected = fm.predict_proba(None, blocks) @ levels if ordered_probit else fm.predict(None, blocks)
    np.testing.assert_allclose(model.score(np.arange(30)).ravel(), expected, rtol=1e-5, atol=1e-5)
    folded = user_x[[2]].tolil()
    folded[0, 2] = 0.0
    folded[0, 55:] = 0.0  # an unknown user's attributes are not known either
    blocks = [
        myfm.RelationBlock(np.zeros(25, dtype=np.int64), folded.tocsr()),
        myfm.RelationBlock(np.arange(25), item_x),
    ]
    want = fm.predict_proba(None, blocks) @ levels if ordered_probit else fm.predict(None, blocks)
    np.testing.assert_allclose(
        model.score(np.array([-1]), data.csr()[[2]]).ravel(), want, rtol=1e-5, atol=1e-5
    )


def test_item_attributes_carry_an_item_nobody_rated() -> None:
    """Known answer: everybody rates genre-x items 5 and genre-y items 1 (with noise). Item 0 is of genre x
    and has no training rating: with item attributes it is predicted above 4; without, near the mean."""
    rng = np.random.default_rng(0)
    n_users, n_items = 40, 20
    genre = np.where(np.arange(n_items) % 2 == 0, "x", "y")
    users, items = (a.ravel() for a in np.meshgrid(np.arange(n_users), np.arange(1, n_items), indexing="ij"))
    keep = rng.random(users.size) < 0.6
    users, items = users[keep], items[keep]
    ratings = np.where(genre[items] == "x", 5.0, 1.0) + rng.normal(0, 0.2, users.size)
    data = Interactions(
        users=users,
        items=items,
        user_vocab=Vocabulary(np.arange(n_users)),
        item_vocab=Vocabulary(np.arange(n_items)),
        ratings=np.clip(ratings, 1, 5).astype(np.float32),
    )
    table = pd.DataFrame({"genre": genre}, index=data.item_vocab.ids)
    side = SideAttributes(item=encode_attributes(table, data.item_vocab, {"genre": "category"}))
    assert data.csr()[:, 0].nnz == 0
    probe = np.arange(n_users)
    with_attributes = BayesFM(rank=2, n_iter=100, item_attributes=True).fit(data, seed=0, attributes=side)
    without = BayesFM(rank=2, n_iter=100).fit(data, seed=0, attributes=side)
    assert with_attributes.predict(probe, np.zeros_like(probe)).mean() > 4.0  # prior shrinkage: ~4.4
    assert abs(without.predict(probe, np.zeros_like(probe)).mean() - data.ratings.mean()) < 0.5
    rmse_known = np.sqrt(np.mean((with_attributes.predict(data.users, data.items) - data.ratings) ** 2))
    assert rmse_known < 0.4


def test_attributes_survive_save_and_load(tmp_path: Path) -> None:
    data = random_interactions(30, 25, density=0.4, seed=10)
    model = BayesFM(rank=3, n_iter=30, user_attributes=True, item_attributes=True)
    model.fit(data, seed=0, attributes=_attributes(data))
    loaded = Recommender.load(model.save(tmp_path / "m"))
    users, items = (a.ravel() for a in np.meshgrid(np.arange(30), np.arange(25), indexing="ij"))
    np.testing.assert_array_equal(loaded.predict(users, items), model.predict(users, items))


def test_attribute_errors() -> None:
    data = random_interactions(seed=11)
    with pytest.raises(ConfigError, match="user_attributes is true but the fit was given no user attributes"):
        BayesFM(n_iter=5, user_attributes=True).fit(
            data, attributes=SideAttributes(item=_attributes(data).item)
        )
    with pytest.raises(ConfigError, match="item_attributes is true"):
        BayesFM(n_iter=5, item_attributes=True).fit(data)
    other = random_interactions(31, 25, seed=12)
    with pytest.raises(ValueError, match="user attributes have 31 rows but the data has 30 users"):
        BayesFM(n_iter=5).fit(data, attributes=_attributes(other))
    from lmrec.models.ease import EASE

    with pytest.raises(ValueError, match="EASE does not use user or item attributes"):
        EASE().fit(data, attributes=_attributes(data))
