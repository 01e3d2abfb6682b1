"""Point-wise accuracy: rating error (RMSE, MAE; protocol P3) and binary classification (AUC, log loss)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import rankdata


def _pair(y_true: np.ndarray, y_pred: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"{what}: {t.size} true values but {p.size} predictions")
    if t.size == 0:
        raise ValueError(f"{what}: no values to evaluate")
    for name, arr in (("true values", t), ("predictions", p)):
        if not np.isfinite(arr).all():
            where = np.flatnonzero(~np.isfinite(arr))[:5].tolist()
            raise ValueError(f"{what}: {name} contain NaN or infinity at positions {where}")
    return t, p


def _binary_labels(labels: np.ndarray, what: str) -> np.ndarray:
    y = np.asarray(labels).reshape(-1)
    if y.dtype == np.bool_:
        return y
    bad = (y != 0) & (y != 1)
    if bad.any():
        where = np.flatnonzero(bad)[:5].tolist()
        raise ValueError(f"{what}: labels must be 0/1 or bool; positions {where} are not")
    return y == 1


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error."""
    t, p = _pair(y_true, y_pred, "rmse")
    return float(np.sqrt(np.mean((t - p) ** 2)))


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error."""
    t, p = _pair(y_true, y_pred, "mae")
    return float(np.mean(np.abs(t - p)))


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve via the Mann-Whitney U statistic; tied scores count one half.

    AUC = (Σ ranks of positives − P(P+1)/2) / (P·N), with average ranks for ties (scipy rankdata).
    Raises when only one class is present (AUC is undefined then).
    """
    y = _binary_labels(labels, "auc")
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if s.shape != y.shape:
        raise ValueError(f"auc: {y.size} labels but {s.size} scores")
    if not np.isfinite(s).all():
        raise ValueError("auc: scores contain NaN or infinity")
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"auc is undefined with a single class ({n_pos} positives, {n_neg} negatives)")
    ranks = rankdata(s)  # "average" method: ties share their mean rank
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def log_loss(labels: np.ndarray, probabilities: np.ndarray, *, eps: float = 1e-15) -> float:
    """Mean binary cross-entropy; probabilities are clipped to [eps, 1 − eps] so a sure miss stays finite."""
    if not 0 < eps < 0.5:
        raise ValueError(f"eps must be in (0, 0.5), got {eps}")
    y = _binary_labels(labels, "log_loss")
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if p.shape != y.shape:
        raise ValueError(f"log_loss: {y.size} labels but {p.size} probabilities")
    if y.size == 0:
        raise ValueError("log_loss: no values to evaluate")
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise ValueError("log_loss: probabilities must lie in [0, 1]")
    p = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(np.where(y, np.log(p), np.log1p(-p))))


def evaluate_ratings(
    model_predict_fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
) -> dict[str, float]:
    """RMSE and MAE of `model_predict_fn(users, items)` against `ratings` (protocol P3).

    The predictions are used as returned: any clipping to the rating scale is the model's business and
    should be stated with the numbers. Returns {"rmse", "mae", "n"}.
    """
    users = np.asarray(users)
    items = np.asarray(items)
    ratings = np.asarray(ratings, dtype=np.float64)
    if not users.shape == items.shape == ratings.shape or users.ndim != 1:
        raise ValueError(
            f"users, items and ratings must be 1-D of equal length, got {users.shape}, {items.shape}, "
            f"{ratings.shape}"
        )
    pred = np.asarray(model_predict_fn(users, items), dtype=np.float64)
    if pred.shape != ratings.shape:
        raise ValueError(f"model_predict_fn returned shape {pred.shape}, expected {ratings.shape}")
    return {"rmse": rmse(ratings, pred), "mae": mae(ratings, pred), "n": float(ratings.size)}
