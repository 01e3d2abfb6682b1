"""The contract tests every lmrec model passes (STYLE habit 8), as a pytest mixin.

Usage, in a test module::

    class TestMyModel(RecommenderConformance):
        def make_model(self, **overrides):
            return MyModel(MyConfig(factors=8, **overrides))

Class attributes switch off what a model legitimately cannot do (each with the reason in its skip):
`personalized = False` for models that give every user the same list (known-answer data is then
skipped), `uses_history = False` for models that ignore the history of an unknown user, and
`needs_ratings = True` for explicit-rating models (known-answer data then carries ratings).
Sequence models (`uses_sequences`) are given ordered histories, and their known-answer data is the
successor task (`successor_sequences`): set-style data such as the checker board has no next-item
signal for the held-out item (it is never anyone's next item), so it would test the wrong thing.
"""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import scipy.sparse as sp

from lmrec.data.interactions import Interactions
from lmrec.errors import NotFittedError, UnknownIdError
from lmrec.models.base import Recommender
from lmrec.models.registry import get_model_class
from lmrec.testing.datasets import (
    KnownAnswer,
    block_identity,
    checkerboard,
    random_interactions,
    successor_sequences,
)


class RecommenderConformance(ABC):
    """Mixin: subclass it in a `Test...` class and implement `make_model`."""

    personalized: ClassVar[bool] = True
    """False for non-personalised models: the known-answer tests are skipped."""
    uses_history: ClassVar[bool] = True
    """False when an unknown user's history does not change its scores (e.g. popularity)."""
    needs_ratings: ClassVar[bool] = False
    """True for explicit-rating models: known-answer data is generated with ratings."""
    known_answer_misses: ClassVar[float] = 0.0
    """Share of known-answer users a model may get wrong (0 for every model that solves the data exactly;
    a subclass that raises it must say why in its docstring)."""
    contract_overrides: ClassVar[dict[str, Any]] = {}
    """Parameters for the tests that check the contract (shapes, seeds, persistence, batching, exclusion)
    rather than what the model learns: e.g. a few epochs where the known answer needs many. The
    known-answer tests use `make_model()` as it is."""

    @abstractmethod
    def make_model(self, **overrides: Any) -> Recommender:
        """A fresh, unfitted model with a small, test-sized configuration."""

    # --- data hooks (override to adapt) -----------------------------------------------------------
    def known_answer_cases(self) -> list[KnownAnswer]:
        if self.make_model().uses_sequences:
            return [successor_sequences(n_users=120, n_items=20)]
        return [
            checkerboard(ratings=self.needs_ratings),
            checkerboard(24, 24, block=3, holdout=2, ratings=self.needs_ratings),
            block_identity(ratings=self.needs_ratings),
        ]

    def random_data(self) -> Interactions:
        return random_interactions()

    def fit_kwargs(self, data: Interactions) -> dict[str, Any]:
        """Extra `fit` arguments for `data` (e.g. `item_features` for content models)."""
        return {}

    def fit(self, model: Recommender, data: Interactions, seed: int | np.random.Generator = 0) -> Recommender:
        return model.fit(data, seed=seed, **self.fit_kwargs(data))

    def fitted(
        self,
        data: Interactions | None = None,
        seed: int | np.random.Generator = 0,
        *,
        learned: bool = False,
        **overrides: Any,
    ) -> Recommender:
        """A model fitted on `data` (default: `random_data()`); with the `contract_overrides` unless
        `learned` (the known-answer tests, which check what the model learns)."""
        data = self.random_data() if data is None else data
        base = {} if learned else self.contract_overrides
        return self.fit(self.make_model(**{**base, **overrides}), data, seed)

    # --- contract ----------------------------------------------------------------------------------
    def test_registered_under_its_name(self) -> None:
        model = self.make_model()
        assert get_model_class(model.name) is type(model)

    def test_fit_returns_self(self) -> None:
        model = self.make_model(**self.contract_overrides)
        assert self.fit(model, self.random_data(), seed=0) is model

    def test_use_before_fit_raises(self, tmp_path: Path) -> None:
        model = self.make_model()
        with pytest.raises(NotFittedError):
            model.recommend(np.array([0]))
        with pytest.raises(NotFittedError):
            model.score(np.array([0]))
        with pytest.raises(NotFittedError):
            model.recommend_ids(["u000"])
        with pytest.raises(NotFittedError):
            model.save(tmp_path / "m")

    def test_score_shape_and_dtype(self) -> None:
        data = self.random_data()
        model = self.fitted(data)
        scores = model.score(np.arange(data.n_users))
        assert scores.shape == (data.n_users, data.n_items)
        assert scores.dtype == np.float32
        assert np.isfinite(scores).all()

    def test_scores_into_a_buffer(self) -> None:
        """`score(out=...)` writes exactly `score()`'s values for models that declare `scores_into`, and is
        refused (TypeError) by the others; a wrong buffer is a ValueError."""
        data = self.random_data()
        model = self.fitted(data)
        users = np.arange(data.n_users)
        buffer = np.full((data.n_users, data.n_items), np.nan, dtype=np.float32)
        if not model.scores_into:
            with pytest.raises(TypeError, match="scores_into"):
                model.score(users, out=buffer)
            return
        assert model.score(users, out=buffer) is buffer
        np.testing.assert_array_equal(buffer, model.score(users))
        with pytest.raises(ValueError, match="C-contiguous float32"):
            model.score(users, out=buffer[:, :-1])

    def test_known_answer(self) -> None:
        if not self.personalized:
            pytest.skip("non-personalised model: every user gets the same list by design")
        for case in self.known_answer_cases():
            model = self.fitted(case.data, learned=True)
            h = case.expected.shape[1]
            recs = model.recommend(np.arange(case.data.n_users), n=h)
            got = np.sort(recs.items, axis=1)
            wrong = np.flatnonzero((got != case.expected).any(axis=1))
            assert wrong.size <= self.known_answer_misses * case.data.n_users, (
                f"{case.name}: users {wrong[:5].tolist()} got {got[wrong[:5]].tolist()}, "
                f"expected {case.expected[wrong[:5]].tolist()}"
            )

    def test_known_answer_unknown_user_from_history(self) -> None:
        if not (self.personalized and self.uses_history):
            pytest.skip("model does not score unknown users from their history")
        case = self.known_answer_cases()[0]
        model = self.fitted(case.data, learned=True)
        hist = case.data.csr()
        seqs = case.data.sequences() if model.uses_sequences else None
        h = case.expected.shape[1]
        recs = model.recommend(np.full(case.data.n_users, -1), hist, n=h, sequences=seqs)
        wrong = (np.sort(recs.items, axis=1) != case.expected).any(axis=1)
        assert wrong.sum() <= self.known_answer_misses * case.data.n_users, (
            f"{case.name}: {int(wrong.sum())} of {wrong.size} unknown users got a wrong list"
        )

    def test_batch_equals_one_user_at_a_time(self) -> None:
        data = self.random_data()
        model = self.fitted(data)
        users = np.arange(data.n_users)
        batch = model.recommend(users, n=5)
        batch_scores = model.score(users)
        for u in users:
            single = model.recommend(np.array([u]), n=5)
            np.testing.assert_array_equal(single.items[0], batch.items[u])
            np.testing.assert_allclose(single.scores[0], batch.scores[u], rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(model.score(np.array([u]))[0], batch_scores[u], rtol=1e-6, atol=1e-6)

    def test_exclude_history(self) -> None:
        data = self.random_data()
        model = self.fitted(data)
        hist = data.csr().toarray() > 0
        recs = model.recommend(np.arange(data.n_users), n=data.n_items, exclude_history=True)
        for u in range(data.n_users):
            items = recs.items[u][recs.items[u] >= 0]
            assert not hist[u, items].any(), f"user {u} was recommended a history item"
            np.testing.assert_array_equal(np.sort(items), np.flatnonzero(~hist[u]))
        kept = model.recommend(np.arange(data.n_users), n=data.n_items, exclude_history=False)
        assert (kept.items >= 0).all()

    def test_save_load_round_trip(self, tmp_path: Path) -> None:
        data = self.random_data()
        model = self.fitted(data)
        path = model.save(tmp_path / "model")
        with np.load(path / "arrays.npz", allow_pickle=False) as npz:
            for key in npz.files:
                assert npz[key].dtype != object, f"array {key} would need pickle"
        meta = json.loads((path / "model.json").read_text())
        assert meta["model"] == model.name
        loaded = Recommender.load(path)
        assert type(loaded) is type(model)
        assert loaded.config == model.config
        users = np.arange(data.n_users)
        np.testing.assert_array_equal(loaded.score(users), model.score(users))
        hist = data.csr()[:3]
        unknown = np.full(3, -1)
        np.testing.assert_array_equal(loaded.score(unknown, hist), model.score(unknown, hist))
        assert type(model).load(path).config == model.config

    def test_keep_history(self, tmp_path: Path) -> None:
        """A model fitted on an augmented log and given the real one (`keep_history`) scores, recommends,
        reports and saves its known users from the real log only."""
        data = self.random_data()
        model = self.fitted(data.concat(self._pseudo_rows(data)))
        model.keep_history(data)
        users = np.arange(data.n_users)
        given: dict[str, Any] = {"sequences": data.sequences()} if model.uses_sequences else {}
        np.testing.assert_array_equal(model.score(users), model.score(users, data.csr(), **given))
        hist = data.csr().toarray() > 0
        recs = model.recommend(users, n=data.n_items, exclude_history=True)
        for u in range(data.n_users):
            items = recs.items[u][recs.items[u] >= 0]
            np.testing.assert_array_equal(np.sort(items), np.flatnonzero(~hist[u]))
        ordered = model.training_sequences() is not None
        for u in range(0, data.n_users, 5):
            want = data.sequences()[u] if ordered else np.flatnonzero(hist[u])
            np.testing.assert_array_equal(model.user_history(u), want)
        loaded = Recommender.load(model.save(tmp_path / "model"))
        assert (loaded.history_ != data.csr()).nnz == 0
        np.testing.assert_array_equal(loaded.score(users), model.score(users))
        other = random_interactions(data.n_users + 1, data.n_items)
        with pytest.raises(ValueError, match="keep_history"):
            model.keep_history(other)

    @staticmethod
    def _pseudo_rows(data: Interactions) -> Interactions:
        """One event per user on their first unseen item, before their first real one (as augmenters
        prepend), rated 3 where the log has ratings."""
        seen = data.csr().toarray() > 0
        users = np.flatnonzero((~seen).any(axis=1))
        items = np.argmax(~seen[users], axis=1)
        first = None if data.timestamps is None else data.timestamps[data.indptr()[users]] - 1
        return Interactions(
            users=users,
            items=items,
            user_vocab=data.user_vocab,
            item_vocab=data.item_vocab,
            ratings=None if data.ratings is None else np.full(users.shape[0], 3.0, np.float32),
            timestamps=first,
        )

    def test_config_round_trip(self) -> None:
        model = self.make_model(**self.contract_overrides)
        config = model.config
        as_dict = dataclasses.asdict(config)
        assert type(config)(**as_dict) == config
        assert type(config)(**json.loads(json.dumps(as_dict))) == config
        data = self.random_data()
        users = np.arange(data.n_users)
        first = self.fit(model, data, seed=3).score(users)
        again = self.fit(type(model)(config), data, seed=3).score(users)
        np.testing.assert_array_equal(first, again)

    def test_same_seed_same_scores(self) -> None:
        data = self.random_data()
        users = np.arange(data.n_users)
        a = self.fitted(data, seed=11).score(users)
        b = self.fitted(data, seed=11).score(users)
        c = self.fitted(data, seed=np.random.default_rng(11)).score(users)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)

    def test_unknown_user_with_history(self) -> None:
        data = self.random_data()
        model = self.fitted(data)
        doc = (type(model).__doc__ or "").lower()
        assert "unknown user" in doc, f"{type(model).__name__}'s docstring must say what unknown users get"
        hist = data.csr()[[0, 1]]
        hist.data[:] = 2.0  # counts, not 1s: a model must neither rely on nor overwrite the values
        given = hist.copy()
        scores = model.score(np.array([-1, -1]), hist)
        np.testing.assert_array_equal(hist.data, given.data)
        assert scores.shape == (2, data.n_items)
        assert scores.dtype == np.float32
        assert np.isfinite(scores).all()
        empty = model.score(np.array([-1]), sp.csr_matrix((1, data.n_items), dtype=np.float32))
        assert empty.shape == (1, data.n_items) and np.isfinite(empty).all()
        recs = model.recommend(np.array([-1, -1]), hist, n=data.n_items)
        for row in range(2):
            items = recs.items[row][recs.items[row] >= 0]
            assert not np.isin(items, hist[row].indices).any()

    def test_unknown_raw_id_raises(self) -> None:
        model = self.fitted()
        with pytest.raises(UnknownIdError):
            model.recommend_ids(["no-such-user"])
        with pytest.raises(UnknownIdError):
            model.recommend_ids(["u000", "u999"])

    def test_recommend_ids_uses_raw_ids(self) -> None:
        data = self.random_data()
        model = self.fitted(data)
        records = model.recommend_ids(["u001", "u002"], n=4)
        assert [r["user"] for r in records] == ["u001", "u002"]
        recs = model.recommend(np.array([1, 2]), n=4)
        for rec, items in zip(records, recs.items, strict=True):
            assert rec["items"] == data.item_vocab.id(items[items >= 0]).tolist()
