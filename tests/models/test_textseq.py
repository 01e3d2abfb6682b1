"""textseq: items never seen in training are recommended from their text alone, in both modes; the
transductive ID part is absent for them by construction; whitening; config errors."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

from lmrec.data.features import ItemFeatures
from lmrec.data.interactions import Interactions
from lmrec.data.vocabulary import Vocabulary
from lmrec.errors import CapabilityError, ConfigError
from lmrec.models.base import Recommender
from lmrec.models.sequential.sasrec import SASRec
from lmrec.testing.datasets import successor_sequences

torch = pytest.importorskip("torch", reason="torch is installed by scripts/setup.sh (extra 'lm')")

from lmrec.models.sequential.text_adaptor import zca_whitening  # noqa: E402
from lmrec.models.sequential.textseq import TextSeq  # noqa: E402

SMALL: dict[str, Any] = {
    "embedding_size": 32,
    "epochs": 60,
    "batch_size": 16,
    "dropout": 0.0,
    "adaptor_dropout": 0.0,
    "learning_rate": 5e-3,
    "num_threads": 1,
}
N_WARM, N_COLD = 30, 10


def cold_case() -> tuple[Interactions, ItemFeatures, list[np.ndarray]]:
    """The successor task over 30 items, plus 10 items no one interacted with: cold item 30 + k has the
    same text as warm item k, so after a history ending in k - 1 it is the right cold answer."""
    data = successor_sequences(n_items=N_WARM).data
    widened = Interactions(
        users=data.users, items=data.items, user_vocab=data.user_vocab,
        item_vocab=Vocabulary(np.arange(N_WARM + N_COLD) + 100), timestamps=data.timestamps,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    warm_text = rng.normal(size=(N_WARM, 24)).astype(np.float32)
    text = np.concatenate([warm_text, warm_text[:N_COLD]])
    features = ItemFeatures(text, np.ones(N_WARM + N_COLD, dtype=bool), source="test")
    seqs = [np.array([k - 3, k - 2, k - 1]) % N_WARM for k in range(N_COLD)]
    return widened, features, seqs


@pytest.mark.parametrize(
    "extra",
    [{"mode": "inductive"}, {"mode": "transductive", "id_dropout": 0.3}, {"whitening": "learned"}],
    ids=["inductive", "transductive", "learned-whitening"],
)
def test_an_item_never_seen_in_training_is_recommended_from_its_text(extra: dict[str, Any]) -> None:
    data, features, seqs = cold_case()
    model = TextSeq(**{**SMALL, **extra}).fit(data, seed=0, item_features=features)
    assert not model.trained_[N_WARM:].any()
    # only cold items may be recommended: the right one must come first
    scores = model.score(np.full(N_COLD, -1), sequences=seqs)
    assert (scores[:, N_WARM:].argmax(axis=1) == np.arange(N_COLD)).mean() >= 0.9
    # and the cold item ranks right beside its warm twin among all 40 items
    ranks = (scores > scores[np.arange(N_COLD), N_WARM + np.arange(N_COLD)][:, None]).sum(axis=1)
    assert np.median(ranks) <= 1
    # an ID-only SASRec cannot do this: it ranks cold items last, in index order
    id_scores = id_only_cold_scores()
    assert (id_scores[:, N_WARM:].argmax(axis=1) == np.arange(N_COLD)).mean() <= 0.2


@functools.cache
def id_only_cold_scores() -> np.ndarray:
    """The ID-only SASRec baseline of the test above: the same fit for every parameter, so fitted once."""
    data, _, seqs = cold_case()
    id_only = SASRec(**{k: v for k, v in SMALL.items() if k != "adaptor_dropout"}).fit(data, seed=0)
    return id_only.score(np.full(N_COLD, -1), sequences=seqs)


def test_transductive_cold_items_have_no_id_part() -> None:
    data, features, _ = cold_case()
    model = TextSeq(**{**SMALL, "epochs": 2, "mode": "transductive"})
    model.fit(data, seed=0, item_features=features)
    items = model.net_.items
    known = items.known.numpy()
    assert (known[1 : N_WARM + 1] == 1).all() and (known[N_WARM + 1 :] == 0).all()
    # a cold item's vector is its text through the adaptor, nothing else
    with torch.no_grad():
        table = items.table().numpy()
        text_only = torch.nn.functional.normalize(items.adapt(items.whitened()), dim=-1).numpy()
    np.testing.assert_allclose(table[N_WARM + 1 :], text_only[N_WARM + 1 :], atol=1e-6)
    assert not np.allclose(table[1 : N_WARM + 1], text_only[1 : N_WARM + 1], atol=1e-3)


def test_zca_whitening_gives_identity_covariance() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 8)) @ rng.normal(size=(8, 8)) + 5.0  # correlated, off-centre
    mean, w = zca_whitening(x, eps=1e-9)
    white = (x - mean) @ w
    np.testing.assert_allclose(np.cov(white, rowvar=False), np.eye(8), atol=1e-3)
    np.testing.assert_allclose(white.mean(axis=0), 0, atol=1e-4)


def test_needs_features_and_checks_its_config() -> None:
    data = successor_sequences(n_users=20).data
    with pytest.raises(ValueError, match="needs item_features"):
        TextSeq(**{**SMALL, "epochs": 1}).fit(data)
    for params, message in [
        ({"mode": "hybrid"}, "mode"),
        ({"whitening": "pca"}, "whitening"),
        ({"n_experts": 0}, "n_experts"),
        ({"temperature": 0.0}, "temperature"),
        ({"id_dropout": 0.2}, "transductive"),
    ]:
        with pytest.raises(ConfigError, match=message):
            TextSeq(**params)


def test_sasrec_text_name_says_what_replaced_it() -> None:
    from lmrec.models.registry import get_model_class

    with pytest.raises(KeyError, match="textseq"):
        get_model_class("sasrec_text")


@pytest.mark.parametrize("mode", ["inductive", "transductive"])
def test_items_added_after_training_are_scored_from_their_text(mode: str, tmp_path: Any) -> None:
    """An added item is exactly what an item without training data is: its text through the adaptor. Given
    the text of cold item 30 + k, it gets that item's scores; the old items' scores do not move; a
    save/load round trip keeps it (appended after the sorted ids)."""
    data, features, seqs = cold_case()
    model = TextSeq(**{**SMALL, "epochs": 3, "mode": mode}).fit(data, seed=0, item_features=features)
    users = np.array([-1] * N_COLD + [0, 1])
    sequences = [*seqs, np.array([], dtype=np.int64), np.array([5, 6])]
    before = model.score(users, sequences=sequences)
    twins = N_WARM + np.array([2, 7])
    added = model.add_items([900, 901], features.vectors[twins])
    assert added.tolist() == [N_WARM + N_COLD, N_WARM + N_COLD + 1] and model.n_items == N_WARM + N_COLD + 2
    after = model.score(users, sequences=sequences)
    np.testing.assert_array_equal(after[:, : before.shape[1]], before)
    np.testing.assert_allclose(after[:, added], before[:, twins], rtol=1e-6)
    assert not model.trained_[added].any() and (model.popularity_[added] == 0).all()
    assert (model.net_.items.known[added + 1] == 0).all()
    assert model.history_.shape == (len(model.user_vocab_), model.n_items)
    recs = model.recommend(np.full(N_COLD, -1), n=3, sequences=seqs)
    assert (recs.items == added[0]).any()  # cold twin 32 and the new item 900 rank together
    loaded = Recommender.load(model.save(tmp_path / "m"))
    assert loaded.item_vocab_.ids[-2:].tolist() == [900, 901] and loaded.item_vocab_.appended == 2
    np.testing.assert_array_equal(loaded.score(users, sequences=sequences), after)
    loaded.add_items(["902"], features.vectors[[N_WARM]])  # and it keeps adding after a load
    assert loaded.item_vocab_.index([902]).tolist() == [N_WARM + N_COLD + 2]


def test_add_items_refuses_what_it_cannot_add() -> None:
    data, features, _ = cold_case()
    model = TextSeq(**{**SMALL, "epochs": 1}).fit(data, seed=0, item_features=features)
    vec = features.vectors[:1]
    cases = [
        ([100], vec, "already in the vocabulary"),
        ([900, 900], features.vectors[:2], "more than once"),
        (["abc"], vec, "integers"),
        ([900], vec[:, :5], "length 24"),
        ([900, 901], vec, "2 item"),
        ([900], np.full((1, 24), np.nan), "NaN"),
    ]
    for ids, vectors, message in cases:
        with pytest.raises(ValueError, match=message):
            model.add_items(ids, vectors)
    assert model.n_items == N_WARM + N_COLD and model.net_.items.text.shape[0] == N_WARM + N_COLD + 1
    sasrec = SASRec(**{k: v for k, v in SMALL.items() if k != "adaptor_dropout"} | {"epochs": 1}).fit(
        data, seed=0
    )
    assert not sasrec.adds_items_from_text and TextSeq.adds_items_from_text
    with pytest.raises(CapabilityError, match=r"adds_items_from_text.*textseq"):
        sasrec.add_items([900], vec)


def test_the_text_recipe_is_recorded_at_fit_time(tmp_path: Any) -> None:
    data, features, _ = cold_case()
    recipe = {
        "encoder": {"type": "st", "model": "all-MiniLM-L6-v2", "normalize": True},
        "template": "{title}",
    }
    with_recipe = ItemFeatures(features.vectors, features.has_content, source="test", recipe=recipe)
    model = TextSeq(**{**SMALL, "epochs": 1}).fit(data, seed=0, item_features=with_recipe)
    loaded = Recommender.load(model.save(tmp_path / "m"))
    assert loaded.item_text_recipe() == {**recipe, "dim": 24}
    bare = TextSeq(**{**SMALL, "epochs": 1}).fit(data, seed=0, item_features=features)
    assert bare.item_text_recipe() == {"encoder": None, "dim": 24}
