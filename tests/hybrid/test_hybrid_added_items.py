"""A switching hybrid (rule item_count) with textseq as its cold-item component adds items after training:
they have no training users, so they take textseq's score; the ID-only component keeps its catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lmrec.data.features import ItemFeatures
from lmrec.errors import CapabilityError
from lmrec.hybrid import SwitchingHybrid
from lmrec.hybrid.normalize import minmax
from lmrec.models.base import Recommender
from lmrec.testing.datasets import random_interactions, successor_sequences

pytest.importorskip("torch", reason="textseq needs torch (extra 'lm')")

SEQ: dict[str, Any] = {
    "embedding_size": 32,
    "epochs": 30,
    "batch_size": 16,
    "dropout": 0.0,
    "learning_rate": 5e-3,
    "num_threads": 1,
}
N_ITEMS = 30


@pytest.fixture(scope="module")
def fitted() -> tuple[SwitchingHybrid, ItemFeatures]:
    data = successor_sequences(n_users=120, n_items=N_ITEMS).data
    rng = np.random.default_rng(0)
    features = ItemFeatures(rng.normal(size=(N_ITEMS, 24)), np.ones(N_ITEMS, dtype=bool), source="test")
    comps = [
        {"name": "textseq", "params": {**SEQ, "adaptor_dropout": 0.0}},
        {"name": "sasrec", "params": SEQ},
    ]
    model = SwitchingHybrid(components=comps, rule="item_count", threshold=0)
    return model.fit(data, seed=0, item_features=features), features


def test_added_items_are_cold_and_take_the_text_models_score(
    fitted: tuple[SwitchingHybrid, ItemFeatures], tmp_path: Path
) -> None:
    import copy

    hybrid, features = copy.deepcopy(fitted[0]), fitted[1]
    users = np.arange(len(hybrid.user_vocab_))
    before = hybrid.score(users)
    text_top = hybrid.components_[0].score(users).argmax(axis=1)
    twin = int(np.bincount(text_top).argmax())  # the item textseq puts first for the most users
    assert hybrid.adds_items_from_text
    assert hybrid.item_text_recipe() == hybrid.components_[0].item_text_recipe()
    (new,) = hybrid.add_items([900], features.vectors[[twin]])
    assert new == N_ITEMS and hybrid.item_users_[new] == 0
    assert hybrid.components_[0].n_items == N_ITEMS + 1  # textseq took the item
    assert hybrid.components_[1].n_items == N_ITEMS  # the ID-only SASRec cannot: it keeps its catalog
    after = hybrid.score(users)
    np.testing.assert_array_equal(after[:, :N_ITEMS], before)  # every old item keeps its score
    # the new item is cold (0 training users): its score is textseq's, normalised per user
    text = minmax(hybrid.components_[0].score(users), np.asarray(hybrid.history_.toarray() == 0))
    np.testing.assert_allclose(after[:, new], text[:, new], rtol=1e-6)
    wanted = np.flatnonzero(text_top == twin)
    recs = hybrid.recommend(users[wanted], n=2)
    assert (recs.items == new).any(axis=1).all()  # best textseq score: it leads these users' lists
    # a history holding the new item: the SASRec component reads the part it knows
    seqs = [np.array([3, 4, new]), np.array([new])]
    assert hybrid.score(np.array([-1, -1]), sequences=seqs).shape == (2, N_ITEMS + 1)
    loaded = Recommender.load(hybrid.save(tmp_path / "hybrid"))
    assert isinstance(loaded, SwitchingHybrid) and loaded.item_vocab_.ids[-1] == 900
    np.testing.assert_array_equal(loaded.score(users), after)


def test_a_switching_hybrid_that_cannot_route_new_items_refuses_them() -> None:
    data = random_interactions(n_users=20, seed=1)
    vec = np.zeros((1, 4), dtype=np.float32)
    comps = [{"name": "pop"}, {"name": "itemknn", "params": {"k": 5}}]
    by_user = SwitchingHybrid(components=comps).fit(data, seed=0)
    with pytest.raises(CapabilityError, match="rule is 'history_length'"):
        by_user.add_items([900], vec)
    by_item = SwitchingHybrid(components=comps, rule="item_count").fit(data, seed=0)
    with pytest.raises(
        CapabilityError, match=r"first .*component pop lacks the capability adds_items_from_text"
    ):
        by_item.item_text_recipe()
    with pytest.raises(CapabilityError, match="textseq"):
        by_item.add_items([900], vec)
    assert by_item.n_items == data.n_items


def test_the_service_adds_items_to_a_served_hybrid(fitted: tuple[SwitchingHybrid, ItemFeatures]) -> None:
    pytest.importorskip("sqlalchemy")
    from lmrec.service import RecommenderService
    from lmrec.text.new_items import NewItem

    hybrid, features = fitted
    service = RecommenderService.open(hybrid)
    try:
        added = service.add_items([NewItem(901, vector=features.vectors[0].tolist())])
        assert added.items == [901] and added.n_items == N_ITEMS + 1 and added.model_version == 2
        assert service.live.model is not hybrid and hybrid.n_items == N_ITEMS  # served copy, no mutation
        rec = service.recommend_history([hybrid.item_vocab_.ids[3]], n=N_ITEMS + 1)
        assert 901 in rec.items
    finally:
        service.close()
