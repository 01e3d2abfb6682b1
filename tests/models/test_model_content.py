"""ContentBased: conformance, the profile formula, history order, items without content, similar_items,
and item-to-item similarity on MovieLens-100K titles + genres."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from lmrec.data.cleaning import clean
from lmrec.data.features import ItemFeatures
from lmrec.data.interactions import Interactions
from lmrec.data.loaders import load_dataset
from lmrec.data.vocabulary import Vocabulary
from lmrec.errors import ConfigError
from lmrec.models.base import Recommender
from lmrec.models.content import NO_CONTENT_SCORE, ContentBased, ContentConfig
from lmrec.testing.conformance import RecommenderConformance
from lmrec.testing.datasets import KnownAnswer, block_identity, checkerboard, successor_sequences
from lmrec.text import item_features


def cooccurrence_features(data: Interactions) -> ItemFeatures:
    """Item i's content vector = its row of the item-item co-occurrence matrix XᵀX, normalised.

    The known-answer logs carry no text, so the conformance data get synthetic "content" that encodes
    the structure the right answer rests on: items of one group co-occur only with each other, so their
    rows share a direction (the group's items) and are orthogonal to every other group's rows. A user's
    profile then points at their own group, and its unseen items are exactly the expected ones. On the
    random log the vectors are just dense, generic features.
    """
    x = data.csr()
    c = (x.T @ x).toarray()
    norms = np.linalg.norm(c, axis=1, keepdims=True)
    return ItemFeatures(c / np.maximum(norms, 1e-12), has_content=norms[:, 0] > 0, source="co-occurrence")


class TestContentBased(RecommenderConformance):
    def make_model(self, **overrides: Any) -> Recommender:
        # decay and a profile window below the history lengths, so both code paths run in every test
        params: dict[str, Any] = {"recency_decay": 0.3, "profile_items": 6, **overrides}
        return ContentBased(ContentConfig(**params))

    def fit_kwargs(self, data: Interactions) -> dict[str, Any]:
        return {"item_features": cooccurrence_features(data)}

    def known_answer_cases(self) -> list[KnownAnswer]:
        # The mixin gives sequence models only the successor task; a content model must also solve the
        # set-style cases (its profile is a mean, so group structure in the vectors must carry over).
        # The successor task is solved through recency: neighbours on both sides of a walk co-occur
        # equally, and only the decay / profile window tips the profile towards the walk's end.
        return [
            successor_sequences(n_users=120, n_items=20),
            checkerboard(),
            checkerboard(24, 24, block=3, holdout=2),
            block_identity(),
        ]


def test_recency_is_what_solves_the_successor_task() -> None:
    case = successor_sequences(n_users=120, n_items=20)
    users = np.arange(case.data.n_users)
    solved = {}
    for decay in (0.0, 0.5):
        model = ContentBased(ContentConfig(recency_decay=decay, profile_items=None))
        model.fit(case.data, item_features=cooccurrence_features(case.data))
        solved[decay] = (model.recommend(users, n=1).items == case.expected).mean()
    assert solved[0.5] == 1.0 and solved[0.0] < 0.7  # without recency, successor and predecessor tie


# --- hand-made data ----------------------------------------------------------------------------------

# items 0 and 1 are orthogonal; 2 leans to 0 and 3 to 1 (mirror images); 4 is unrelated; 5 has no text
VECTORS = np.array(
    [[1, 0, 0], [0, 1, 0], [1, 0.2, 0], [0.2, 1, 0], [0, 0, 1], [0, 0, 0]],
    dtype=np.float32,
)
HAS = np.array([True, True, True, True, True, False])


def small_log() -> Interactions:
    # user 0 saw item 1 first, then item 0 (time order differs from item-index order); user 1 saw item 4
    return Interactions(
        users=np.array([0, 0, 1]),
        items=np.array([1, 0, 4]),
        user_vocab=Vocabulary(np.array(["a", "b"])),
        item_vocab=Vocabulary(np.arange(6) + 100),
        timestamps=np.array([1, 2, 1]),
    )


def fitted(**config: Any) -> ContentBased:
    model = ContentBased(ContentConfig(**config))
    return model.fit(small_log(), item_features=ItemFeatures(VECTORS * 3, HAS, source="hand-made"))


def expected_scores(sequence: list[int], decay: float) -> np.ndarray:
    unit = VECTORS / np.maximum(np.linalg.norm(VECTORS, axis=1, keepdims=True), 1e-12)
    age = np.arange(len(sequence))[::-1]
    profile = (np.exp(-decay * age)[:, None] * unit[sequence]).sum(axis=0)
    scores = unit @ (profile / np.linalg.norm(profile))
    scores[~HAS] = NO_CONTENT_SCORE
    return scores


@pytest.mark.parametrize("decay", [0.0, 0.7, 3.0])
def test_scores_are_the_cosine_to_the_recency_weighted_profile(decay: float) -> None:
    model = fitted(recency_decay=decay)
    for seq in ([0, 1], [1, 0], [0, 0, 1, 4]):
        got = model.score(np.array([-1]), sequences=[np.array(seq)])[0]
        np.testing.assert_allclose(got, expected_scores(seq, decay), rtol=1e-5, atol=1e-6)


def test_recent_items_weigh_more() -> None:
    model = fitted(recency_decay=2.0)
    recent_1, recent_0 = model.score(np.array([-1, -1]), sequences=[np.array([0, 1]), np.array([1, 0])])
    assert recent_1[3] > recent_1[2] and recent_0[2] > recent_0[3]
    flat = fitted(recency_decay=0.0).score(np.array([-1]), sequences=[np.array([0, 1])])[0]
    assert flat[2] == pytest.approx(flat[3])  # no decay: mirror-image items tie


def test_profile_items_keeps_only_the_last_items() -> None:
    model = fitted(profile_items=1)
    got = model.score(np.array([-1]), sequences=[np.array([4, 0, 1])])[0]
    np.testing.assert_allclose(got, expected_scores([1], 0.0), rtol=1e-5, atol=1e-6)


def test_known_users_use_their_training_order_and_sets_weigh_items_equally() -> None:
    model = fitted(recency_decay=2.0)
    own = model.score(np.array([0]))[0]  # training order: 1 then 0, so 0 is the most recent
    np.testing.assert_allclose(own, expected_scores([1, 0], 2.0), rtol=1e-5, atol=1e-6)
    assert model.recommend(np.array([0]), n=1).items[0, 0] == 2  # recommend ranks like score
    as_set = sp.csr_matrix(np.array([[1, 1, 0, 0, 0, 0]], dtype=np.float32))
    unknown = model.score(np.array([-1]), as_set)[0]
    np.testing.assert_allclose(unknown, expected_scores([0, 1], 0.0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(model.score(np.array([0]), as_set)[0], own)  # same set: training order
    other = sp.csr_matrix(np.array([[1, 0, 0, 0, 1, 0]], dtype=np.float32))
    np.testing.assert_allclose(
        model.score(np.array([0]), other)[0], expected_scores([0, 4], 0.0), rtol=1e-5, atol=1e-6
    )


def test_items_without_content_rank_last_and_users_without_profile_get_zeros() -> None:
    model = fitted()
    scores = model.score(np.array([0, 1]))
    assert (scores[:, 5] == NO_CONTENT_SCORE).all() and np.isfinite(scores).all()
    assert (scores[:, :5] > NO_CONTENT_SCORE).all()
    empty = model.score(np.array([-1, -1]), sequences=[np.array([], dtype=np.int64), np.array([5])])
    np.testing.assert_array_equal(empty[:, :5], 0.0)
    assert model.recommend(np.array([-1]), n=6, sequences=[np.array([5])]).items[0, -1] == -1


def test_sequences_with_unknown_items_are_refused() -> None:
    with pytest.raises(ValueError, match=r"outside 0\.\.5"):
        fitted().score(np.array([-1]), sequences=[np.array([0, 6])])


def test_similar_items() -> None:
    model = fitted()
    items, scores = model.similar_items(np.array([0, 1, 5]), n=3)
    np.testing.assert_array_equal(items[0], [2, 3, 1])  # never the item itself, nor item 5 (no content)
    np.testing.assert_array_equal(items[1], [3, 2, 0])
    np.testing.assert_array_equal(items[2], [-1, -1, -1])  # no content: nothing is similar
    unit = VECTORS[:5] / np.linalg.norm(VECTORS[:5], axis=1, keepdims=True)
    np.testing.assert_allclose(scores[0], unit[[2, 3, 1]] @ unit[0], rtol=1e-6)
    assert model.similar_items(np.array([4]), n=10)[0][0].tolist() == [0, 1, 2, 3, -1, -1, -1, -1, -1, -1]
    with pytest.raises(ValueError, match="item indices"):
        model.similar_items(np.array([6]))


def test_saved_model_needs_no_features(tmp_path: Path) -> None:
    model = fitted(recency_decay=1.0)
    loaded = Recommender.load(model.save(tmp_path / "m"))
    assert isinstance(loaded, ContentBased)
    assert loaded.training_["item_features"] == "hand-made"
    np.testing.assert_array_equal(loaded.score(np.array([0, 1])), model.score(np.array([0, 1])))
    for a, b in zip(loaded.similar_items(np.arange(6)), model.similar_items(np.arange(6)), strict=True):
        np.testing.assert_array_equal(a, b)


def test_fit_needs_item_features() -> None:
    with pytest.raises(ValueError, match=r"lmrec\.text\.item_features"):
        ContentBased().fit(small_log())
    with pytest.raises(ValueError, match="6 items"):
        ContentBased().fit(small_log(), item_features=ItemFeatures(VECTORS[:4], HAS[:4]))


@pytest.mark.parametrize(
    "bad",
    [{"recency_decay": -0.1}, {"recency_decay": float("inf")}, {"profile_items": 0}, {"profile_items": 2.5}],
)
def test_bad_config_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ContentConfig(**bad)


# --- real data ---------------------------------------------------------------------------------------


@pytest.mark.shared_data
def test_ml100k_toy_story_is_similar_to_animated_and_childrens_films(
    ml100k_dir: Path, tmp_path: Path
) -> None:
    raw = load_dataset("ml-100k", path=ml100k_dir)
    assert raw.catalog is not None
    data, _ = clean(raw)
    features = item_features(raw.catalog, data.item_vocab, "tfidf:128", cache_dir=tmp_path)
    model = ContentBased().fit(data, item_features=features)
    toy = data.item_vocab.index(1)  # "Toy Story (1995)"
    assert raw.catalog.frame.loc[1, "title"] == "Toy Story (1995)"
    items, scores = model.similar_items(toy, n=10)
    genres = raw.catalog.frame.loc[data.item_vocab.id(items[0]), "genres"].fillna("").tolist()
    kids = [("Animation" in g) or ("Children's" in g) for g in genres]
    # about 9% of the 1,682 films are animated or children's: 8 of 10 by chance is out of the question
    assert sum(kids) >= 8, list(zip(data.item_vocab.id(items[0]).tolist(), genres, strict=True))
    assert (np.diff(scores[0]) <= 0).all() and toy[0] not in items[0]
