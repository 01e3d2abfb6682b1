"""Warm starts (`FitContext.warm_start`): a sequence model's fit can begin from another fitted model's
weights (the simulator's incremental refits); models without the capability refuse it."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.models.ease import EASE
from lmrec.models.fit_context import FitContext
from lmrec.testing.datasets import successor_sequences

pytest.importorskip("torch", reason="torch is installed by scripts/setup.sh (extra 'lm')")

from lmrec.models.sequential.gru4rec import GRU4Rec
from lmrec.models.sequential.sasrec import SASRec

PARAMS = {"embedding_size": 16, "batch_size": 16, "num_threads": 1, "dropout": 0.0}


def _scores(model: SASRec, n_users: int) -> np.ndarray:
    return model.score(np.arange(n_users), model.history_)


def test_a_warm_start_begins_from_the_previous_weights() -> None:
    """With a vanishing learning rate, a warm-started fit scores as the model it started from; a cold
    fit with the same settings does not (so the equality comes from the copied weights)."""
    data = successor_sequences(n_users=30, n_items=15, min_len=3, max_len=8).data
    first = SASRec(**PARAMS, epochs=3).fit(data, seed=0)
    still = {**PARAMS, "epochs": 1, "learning_rate": 1e-12, "weight_decay": 0.0}
    warm = SASRec(**still).fit(data, seed=1, context=FitContext(warm_start=first))
    cold = SASRec(**still).fit(data, seed=1)
    np.testing.assert_allclose(_scores(warm, 30), _scores(first, 30), atol=1e-4)
    assert not np.allclose(_scores(cold, 30), _scores(first, 30), atol=1e-2)
    assert warm.training_["warm_start"] is True and "warm_start" not in cold.training_


def test_warm_start_is_refused_where_it_cannot_hold() -> None:
    case = successor_sequences(n_users=30, n_items=15, min_len=3, max_len=8)
    data = case.data
    sasrec = SASRec(**PARAMS, epochs=1).fit(data, seed=0)
    with pytest.raises(ValueError, match="EASE cannot start from another model's weights"):
        EASE().fit(data, context=FitContext(warm_start=sasrec))
    with pytest.raises(ValueError, match="can warm-start only from a SASRec, not GRU4Rec"):
        gru = GRU4Rec(embedding_size=16, epochs=1, num_threads=1).fit(data, seed=0)
        SASRec(**PARAMS, epochs=1).fit(data, context=FitContext(warm_start=gru))
    fewer = successor_sequences(n_users=30, n_items=12, min_len=3, max_len=8).data
    with pytest.raises(ValueError, match="same item catalog"):
        SASRec(**PARAMS, epochs=1).fit(fewer, context=FitContext(warm_start=sasrec))
    with pytest.raises(ValueError, match="another network shape"):
        SASRec(**{**PARAMS, "embedding_size": 8}, epochs=1).fit(data, context=FitContext(warm_start=sasrec))
