"""The closed loop: refit schedule, no look-ahead, determinism, re-rankers, trained_once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from lmrec.data.interactions import Interactions
from lmrec.data.synthetic import synthetic_log
from lmrec.models import registry
from lmrec.models.base import Recommender
from lmrec.simulation.choice import ChoiceModel
from lmrec.simulation.churn import ChurnConfig
from lmrec.simulation.loop import LoopSettings, PolicySpec, World, run_policy
from lmrec.simulation.user_model import SimulatedUsers, UserModelConfig


@dataclass(frozen=True)
class RecorderConfig:
    pass


class Recorder(Recommender):
    """Scores items by -index and records what it was fitted on and shown at every call."""

    name: ClassVar[str] = "recorder"
    config_class = RecorderConfig
    fits: ClassVar[list[int]] = []
    calls: ClassVar[list[tuple[np.ndarray, np.ndarray]]] = []

    def _fit(self, data: Interactions, rng: np.random.Generator) -> None:
        Recorder.fits.append(len(data))

    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        Recorder.calls.append((users.copy(), np.asarray(history.sum(axis=1)).ravel()))
        return np.tile(-np.arange(self.n_items, dtype=np.float32), (users.shape[0], 1))


@pytest.fixture(scope="module")
def world() -> World:
    data = synthetic_log(n_users=60, n_items=50, n_interactions=600, seed=2)
    users = SimulatedUsers.fit(data, UserModelConfig(method="svd", factors=4), seed=0)
    return World(data, users, ChoiceModel(beta=1.0, no_choice_utility=0.0), ChurnConfig(return_rate=0.5))


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> type[Recorder]:
    monkeypatch.setitem(registry.MODELS, "recorder", f"{__name__}:Recorder")
    Recorder.fits.clear()
    Recorder.calls.clear()
    return Recorder


def test_refits_every_k_rounds_and_never_sees_a_choice_early(world: World, recorder: type[Recorder]) -> None:
    settings = LoopSettings(rounds=7, slate_size=3, candidates=10)
    result = run_policy(world, PolicySpec("recorder", refit_every=3), settings, seed=0)
    choices = result.choices
    assert choices["round"].nunique() == 7  # users choose in every round: the check below has teeth
    before = [int((choices["round"] < t).sum()) for t in range(8)]
    assert [f["round"] for f in result.fits] == [0, 3, 6]
    assert recorder.fits == [len(world.data) + before[t] for t in (0, 3, 6)]
    assert [f["events"] for f in result.fits] == recorder.fits
    initial = np.asarray((world.data.csr() > 0).sum(axis=1)).ravel()
    assert len(recorder.calls) == 7  # one batch per round
    for t, (users, seen) in enumerate(recorder.calls):
        # the history scored in round t holds the real log and the choices of rounds < t, nothing later
        past = choices[choices["round"] < t].groupby("user").size()
        expected = initial[users] + past.reindex(users, fill_value=0).to_numpy()
        np.testing.assert_array_equal(seen, expected)


def test_trained_once_fits_once(world: World, recorder: type[Recorder]) -> None:
    run_policy(
        world, PolicySpec("recorder", refit_every=2, trained_once=True), LoopSettings(rounds=5), seed=0
    )
    assert recorder.fits == [len(world.data)]


def test_same_seed_same_table_and_other_seed_differs(world: World) -> None:
    spec = PolicySpec("itemknn", {"k": 10}, rerank="epsilon", rerank_params={"epsilon": 0.3}, refit_every=2)
    settings = LoopSettings(rounds=5, slate_size=4, candidates=20)
    a = run_policy(world, spec, settings, seed=4)
    b = run_policy(world, spec, settings, seed=4)
    c = run_policy(world, spec, settings, seed=5)
    pd.testing.assert_frame_equal(a.per_round, b.per_round)
    pd.testing.assert_frame_equal(a.choices, b.choices)
    assert not a.choices.equals(c.choices)


@pytest.mark.parametrize(
    ("rerank", "params"),
    [
        ("mmr", {"lam": 0.7}),
        ("calibrated", {}),
        ("popularity", {"alpha": 1.0}),
        ("epsilon", {"epsilon": 0.5}),
        ("thompson", {"sigma": 2.0}),
    ],
)
def test_rerankers_give_full_slates_of_unseen_distinct_items(
    world: World, rerank: str, params: dict[str, Any]
) -> None:
    spec = PolicySpec("pop", rerank=rerank, rerank_params=params)
    result = run_policy(world, spec, LoopSettings(rounds=3, slate_size=5, candidates=15), seed=0)
    chosen = result.choices
    seen = world.data.csr().toarray() > 0
    assert not seen[chosen["user"], chosen["item"]].any()  # never an item consumed before the loop
    assert not chosen.duplicated(["user", "item"]).any()  # nor one consumed in an earlier round
    assert (result.per_round["coverage"] > 0).all()


def test_mmr_diversifies_slates(world: World) -> None:
    settings = LoopSettings(rounds=1, slate_size=5, candidates=30)
    plain = run_policy(world, PolicySpec("itemknn", {"k": 20}), settings, seed=0)
    mmr = run_policy(
        world, PolicySpec("itemknn", {"k": 20}, rerank="mmr", rerank_params={"lam": 0.9}), settings, seed=0
    )
    assert mmr.per_round["intra_list_diversity"][0] > plain.per_round["intra_list_diversity"][0]


def test_folding_in_and_sequences_are_passed(world: World) -> None:
    # ALS folds users with new choices in; the loop must run with it and refit on schedule
    result = run_policy(
        world,
        PolicySpec("als", {"factors": 4, "iterations": 2, "num_threads": 1}, refit_every=2),
        LoopSettings(rounds=3, slate_size=3),
        seed=0,
    )
    assert [f["round"] for f in result.fits] == [0, 2]


def test_warm_start_refits_continue_from_the_last_fit(world: World) -> None:
    """`warm_start_epochs`: the first fit trains from scratch, every later refit starts from the previous
    fit's weights."""
    pytest.importorskip("torch", reason="torch is installed by scripts/setup.sh (extra 'lm')")
    params = {"embedding_size": 8, "epochs": 2, "batch_size": 64, "num_threads": 1, "max_len": 20}
    spec = PolicySpec("sasrec", params=params, refit_every=2, warm_start_epochs=1)
    result = run_policy(world, spec, LoopSettings(rounds=5, slate_size=3, candidates=10), seed=0)
    assert [(f["round"], f["warm"]) for f in result.fits] == [(0, False), (2, True), (4, True)]
