"""Rating and classification metrics: hand-computed values, a brute-force AUC, and input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lmrec.eval.rating import auc, evaluate_ratings, log_loss, mae, rmse


def test_rmse_mae_by_hand() -> None:
    # errors 1, -2, 0, 1: squares 1+4+0+1 = 6 -> sqrt(6/4); absolute 1+2+0+1 = 4 -> 1
    t = np.array([4.0, 3.0, 5.0, 2.0])
    p = np.array([3.0, 5.0, 5.0, 1.0])
    assert rmse(t, p) == pytest.approx(math.sqrt(1.5))
    assert mae(t, p) == pytest.approx(1.0)
    assert rmse(t, t) == 0.0


def test_auc_by_hand() -> None:
    # positives score 0.8, 0.4; negatives 0.4, 0.1: pairs (0.8>0.4) (0.8>0.1) (0.4=0.4 -> 1/2) (0.4>0.1)
    labels = np.array([1, 1, 0, 0])
    scores = np.array([0.8, 0.4, 0.4, 0.1])
    assert auc(labels, scores) == pytest.approx(3.5 / 4)
    assert auc(labels.astype(bool), -scores) == pytest.approx(0.5 / 4)
    assert auc(np.array([1, 0]), np.array([0.3, 0.3])) == pytest.approx(0.5)


def brute_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    pos, neg = scores[labels == 1], scores[labels == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (pos.size * neg.size))


@settings(max_examples=100, deadline=None)
@given(arrays(np.int64, st.integers(2, 40), elements=st.integers(0, 1)), st.data())
def test_auc_matches_pairwise_count(labels: np.ndarray, data: st.DataObject) -> None:
    if labels.min() == labels.max():
        labels[0] = 1 - labels[0]
    scores = data.draw(arrays(np.float64, labels.size, elements=st.integers(0, 5).map(float)))  # ties
    value = auc(labels, scores)
    assert value == pytest.approx(brute_auc(labels, scores))
    assert 1 - value == pytest.approx(auc(1 - labels, scores))


def test_auc_needs_two_classes() -> None:
    with pytest.raises(ValueError, match="single class"):
        auc(np.ones(3), np.arange(3.0))
    with pytest.raises(ValueError, match="0/1"):
        auc(np.array([0, 2]), np.arange(2.0))


def test_log_loss_by_hand() -> None:
    # -(log 0.9 + log(1-0.2) + log 0.5) / 3
    y = np.array([1, 0, 1])
    p = np.array([0.9, 0.2, 0.5])
    assert log_loss(y, p) == pytest.approx(-(math.log(0.9) + math.log(0.8) + math.log(0.5)) / 3)
    # a certain miss is clipped to eps, not infinite
    assert log_loss(np.array([1]), np.array([0.0]), eps=1e-6) == pytest.approx(-math.log(1e-6))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        log_loss(y, np.array([0.5, 1.5, 0.5]))


def test_input_checks() -> None:
    with pytest.raises(ValueError, match="3 true values but 2 predictions"):
        rmse(np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="no values"):
        mae(np.array([]), np.array([]))
    with pytest.raises(ValueError, match=r"NaN or infinity at positions \[1\]"):
        rmse(np.ones(3), np.array([1.0, np.nan, 1.0]))


def test_evaluate_ratings() -> None:
    users = np.array([0, 1, 1])
    items = np.array([2, 0, 1])
    ratings = np.array([4.0, 2.0, 5.0])

    def predict(u: np.ndarray, i: np.ndarray) -> np.ndarray:
        return (u + i).astype(float) + 2  # 4, 3, 4: errors 0, 1, -1

    out = evaluate_ratings(predict, users, items, ratings)
    assert out == pytest.approx({"rmse": math.sqrt(2 / 3), "mae": 2 / 3, "n": 3.0})
    with pytest.raises(ValueError, match="returned shape"):
        evaluate_ratings(lambda u, i: np.ones(2), users, items, ratings)
    with pytest.raises(ValueError, match="equal length"):
        evaluate_ratings(predict, users[:2], items, ratings)
