"""The glue between stages: declared capabilities and the one ranking path.

- a hybrid with an ALS component declares fold-in, and the service folds a user with new events in
  through it (before, the service asked for the model's *name* and never folded a hybrid in);
- a model without item-to-item similarity refuses `similar_items` with an error naming the capability;
- `Recommender.recommend`, the evaluator's kept lists and the service give the same top-k lists for the
  same model and history, tied scores included (ties go to the lower item index).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from lmrec.data.interactions import Interactions
from lmrec.data.synthetic import synthetic_log
from lmrec.errors import CapabilityError
from lmrec.eval import evaluate_ranking
from lmrec.hybrid import WeightedHybrid
from lmrec.models.base import Recommender
from lmrec.models.ease import EASE
from lmrec.models.knn import ItemKNN
from lmrec.models.mf import ALS, BPR
from lmrec.models.popularity import Popularity
from lmrec.models.registry import make_model
from lmrec.service.state import LiveModel, UnsupportedError
from lmrec.service.store import StoredEvent

ALS_PARAMS = {"factors": 8, "iterations": 5, "num_threads": 1}
N = 15


@pytest.fixture(scope="module")
def log() -> Interactions:
    return synthetic_log(n_users=60, n_items=40, n_interactions=600, seed=3)


def _event(i: int, user: str, item: str) -> StoredEvent:
    t = 2_000_000_000.0 + i  # after every training event
    return StoredEvent(i, user, item, "click", t, t, None)


# --- declared capabilities ----------------------------------------------------------------------------
def test_fold_in_is_declared_by_the_class_and_by_a_hybrid_for_its_components(log: Interactions) -> None:
    assert ALS.folds_in_users and BPR.folds_in_users
    assert not EASE.folds_in_users and not Popularity.folds_in_users
    with_als = WeightedHybrid(components=[{"name": "als", "params": ALS_PARAMS}, "pop"], weights=[0.5, 0.5])
    without = WeightedHybrid(components=["pop", "itemknn"], weights=[0.5, 0.5])
    assert with_als.fit(log, seed=0).folds_in()
    assert not without.fit(log, seed=0).folds_in()


def test_service_folds_a_user_with_new_events_in_through_a_hybrid_with_als(log: Interactions) -> None:
    hybrid = WeightedHybrid(components=[{"name": "als", "params": ALS_PARAMS}, "pop"], weights=[0.9, 0.1])
    hybrid.fit(log, seed=0)
    live = LiveModel(hybrid)
    user = 5
    raw_user = str(log.user_vocab.id(user))
    seen = set(hybrid.history_[user].indices.tolist())
    new = [i for i in range(log.n_items) if i not in seen][:6]
    live.apply(_event(k + 1, raw_user, str(log.item_vocab.id(i))) for k, i in enumerate(new))
    (served,) = live.recommend_users([raw_user], N)

    sequence = np.concatenate([hybrid.user_history(user), np.array(new, dtype=np.int64)])
    history = sp.csr_matrix(
        (np.ones(sequence.size, np.float32), sequence, [0, sequence.size]), shape=(1, log.n_items)
    )
    history.sum_duplicates()
    folded = hybrid.recommend(np.array([-1]), history, n=N, sequences=[sequence])
    trained = hybrid.recommend(np.array([user]), history, n=N, sequences=[sequence])
    as_ids = [int(x) for x in log.item_vocab.id(folded.items[0][folded.items[0] >= 0])]
    assert [int(x) for x in served.items] == as_ids
    # the events moved the ALS vector: with the trained vector the list would be another one
    assert folded.items[0].tolist() != trained.items[0].tolist()


def test_a_model_without_similar_items_names_the_capability(log: Interactions) -> None:
    model = EASE().fit(log, seed=0)
    assert not EASE.has_similar_items
    with pytest.raises(CapabilityError, match="has_similar_items"):
        model.similar_items(np.array([0]), n=5)
    with pytest.raises(UnsupportedError, match="has_similar_items"):
        LiveModel(model).similar_items(str(log.item_vocab.id(0)), 5)


def test_training_sequences_are_declared_not_sniffed(log: Interactions) -> None:
    knn = ItemKNN().fit(log, seed=0)
    assert knn.training_sequences() is None
    user = int(np.argmax(log.user_counts()))
    # without stored order, the history comes in item-index order
    np.testing.assert_array_equal(knn.user_history(user), np.sort(knn.history_[user].indices))
    assert knn.user_history(-1).size == 0


def test_make_model_builds_from_params_or_a_config() -> None:
    als = make_model("als", ALS_PARAMS)
    assert isinstance(als, ALS) and als.config.factors == 8
    again = make_model("als", {"factors": 4}, config=als.config)
    assert again.config.factors == 4 and again.config.iterations == 5


# --- one ranking path -----------------------------------------------------------------------------------
def _three_ways(model: Recommender, log: Interactions, n: int) -> tuple[np.ndarray, np.ndarray, list]:
    """Top-n of every user by `recommend`, by the evaluator (kept lists) and by the service (raw ids)."""
    users = np.arange(log.n_users)
    recs = model.recommend(users, n=n)
    # every user gets one target outside their history so that the evaluator ranks everybody
    history = model.history_
    target_items = np.array([np.flatnonzero(history[u].toarray()[0] == 0)[0] for u in users])
    targets = sp.csr_matrix((np.ones(users.size, np.float32), (users, target_items)), shape=history.shape)
    sequences = log.sequences() if model.uses_sequences else None
    res = evaluate_ranking(
        model, targets, history, ns=(n,), metrics=("ndcg",), keep_lists=True, sequences=sequences
    )
    served = LiveModel(model).recommend_users(list(log.user_vocab.ids), n)
    return recs.items, np.asarray(res.lists), served


@pytest.mark.parametrize(
    "build", [lambda: Popularity(), lambda: ItemKNN(), lambda: ALS(**ALS_PARAMS)], ids=["pop", "knn", "als"]
)
def test_recommend_evaluator_and_service_give_the_same_lists(log: Interactions, build) -> None:  # type: ignore[no-untyped-def]
    model = build().fit(log, seed=0)
    from_recommend, from_evaluator, from_service = _three_ways(model, log, N)
    np.testing.assert_array_equal(from_evaluator, from_recommend)
    for row, listed in enumerate(from_service):
        expected = from_recommend[row][from_recommend[row] >= 0]
        assert [int(x) for x in listed.items] == [int(x) for x in log.item_vocab.id(expected)]


def test_tied_scores_rank_the_lower_index_first_on_every_path(log: Interactions) -> None:
    model = Popularity().fit(log, seed=0)
    from_recommend, from_evaluator, _ = _three_ways(model, log, N)
    scores = model.score(np.arange(log.n_users))
    ties = 0
    for row, listed in enumerate(from_recommend):
        items = listed[listed >= 0]
        s = scores[row, items]
        tied = s[:-1] == s[1:]
        ties += int(tied.sum())
        assert (items[:-1][tied] < items[1:][tied]).all()  # equal scores: lower item index first
    assert ties > 0, "the case must contain tied scores inside the lists"
    np.testing.assert_array_equal(from_evaluator, from_recommend)


def test_a_sequence_model_ranks_the_same_on_every_path(log: Interactions) -> None:
    pytest.importorskip("torch", reason="torch is installed by scripts/setup.sh (extra 'lm')")
    from lmrec.models.sequential.sasrec import SASRec

    model = SASRec(embedding_size=8, epochs=1, batch_size=32, num_threads=1).fit(log, seed=0)
    from_recommend, from_evaluator, from_service = _three_ways(model, log, N)
    np.testing.assert_array_equal(from_evaluator, from_recommend)
    for row, listed in enumerate(from_service):
        expected = from_recommend[row][from_recommend[row] >= 0]
        assert [int(x) for x in listed.items] == [int(x) for x in log.item_vocab.id(expected)]
