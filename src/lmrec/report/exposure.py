"""What the lists expose: popularity bias, long tail, catalog coverage, concentration, personalization and
calibration by category, from recommendations.parquet and items.parquet (`lmrec.experiment.run_files`).

Every measure is taken on the top-n of each list, n being the selection metric's cut-off (10 for
NDCG@10). Popularity is an item's number of distinct users in the history the test ranks from.

- popularity curve: the catalog sorted by popularity (most popular first, ties by item index) cut into
  `GROUPS` groups of equal item count; for each group, its share of all recommendation slots, next to
  its share of the consumed interactions (the distinct user-item pairs of the history), and the
  cumulative shares (what the x% most popular items get: a Lorenz-style curve, plotted);
- popularity by user group: users cut into groups by the mean popularity of their history (what they
  consume); per group, the mean popularity of what each model recommends them (ARP, Abdollahpouri et
  al.) next to what they consumed. A model that follows its users' taste follows the diagonal;
- long-tail share: the share of slots that go to items outside the short head, the short head being
  the `HEAD_SHARE` most popular items (Elliot's APLT, pooled over users);
- coverage, Gini and personalization: `lmrec.eval.beyond` (`item_coverage`, `gini_index`,
  `personalization`);
- calibration (catalogs with categories): the category distribution of all recommendation slots next
  to that of the consumed interactions, an item's weight split evenly over its categories (Steck 2018,
  pooled over users rather than per user), and KL(consumed ‖ recommended) with the recommended
  distribution mixed with 1% of the consumed one so that it is finite.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lmrec.eval import beyond
from lmrec.report.accuracy import cutoff, key_metric
from lmrec.report.inputs import RunFiles
from lmrec.report.slices import bucket_users

GROUPS = 20
HEAD_SHARE = 0.2
CALIBRATION_ALPHA = 0.01
TOP_ITEMS = 10


def list_matrix(recommendations: pd.DataFrame, label: str, n: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(users, lists) of one model: user indices and a users x n int array, -1 = empty slot."""
    rows = recommendations[recommendations["model"] == label]
    items = [np.asarray(x, dtype=np.int64)[:n] for x in rows["items"]]
    width = n if n is not None else max((x.size for x in items), default=0)
    out = np.full((len(items), width), -1, dtype=np.int64)
    for i, x in enumerate(items):
        out[i, : x.size] = x
    return rows["user"].to_numpy(dtype=np.int64), out


def _popularity_order(popularity: np.ndarray) -> np.ndarray:
    """Item indices, most popular first; ties by the lower index."""
    return np.lexsort((np.arange(popularity.size), -popularity))


def popularity_groups(popularity: np.ndarray, groups: int = GROUPS) -> np.ndarray:
    """Group (0 = most popular) of every item: `groups` groups of equal item count."""
    order = _popularity_order(popularity)
    out = np.empty(popularity.size, dtype=np.int64)
    out[order] = np.arange(popularity.size) * groups // max(popularity.size, 1)
    return out


def _shares(values: np.ndarray, group: np.ndarray, k: int) -> list[float]:
    total = values.sum()
    sums = np.bincount(group, weights=values, minlength=k)
    return (sums / total).tolist() if total > 0 else [float("nan")] * k


def category_matrix(categories: pd.Series) -> tuple[list[str], np.ndarray]:
    """(category names, items x categories weights): an item's weight 1 split evenly over its
    "|"-separated categories; items without a category have a zero row."""
    split = [
        [c.strip() for c in str(v).split("|") if c.strip()] if isinstance(v, str) else [] for v in categories
    ]
    names = sorted({c for cats in split for c in cats})
    col = {c: j for j, c in enumerate(names)}
    weights = np.zeros((len(split), len(names)))
    for i, cats in enumerate(split):
        for c in cats:
            weights[i, col[c]] += 1.0 / len(cats)
    return names, weights


def _kl(p: np.ndarray, q: np.ndarray, alpha: float = CALIBRATION_ALPHA) -> float:
    mix = (1 - alpha) * q + alpha * p
    keep = p > 0
    return float((p[keep] * np.log(p[keep] / mix[keep])).sum())


def exposure(run: RunFiles) -> dict[str, Any] | None:
    """Every measure of the module docstring, per model; None without the lists or the items table."""
    if run.recommendations is None or run.items is None:
        return None
    n = cutoff(key_metric(run))
    items = run.items.sort_values("item")
    n_items = len(items)
    popularity = items["popularity"].to_numpy(dtype=np.float64)
    group = popularity_groups(popularity)
    head = np.zeros(n_items, dtype=bool)
    head[_popularity_order(popularity)[: int(np.ceil(HEAD_SHARE * n_items))]] = True
    out: dict[str, Any] = {
        "n": n,
        "catalog_items": n_items,
        "popularity_curve": {
            "top_items_percent": [(g + 1) * 100 / GROUPS for g in range(GROUPS)],
            "consumed": _shares(popularity, group, GROUPS),
            "consumed_cumulative": np.cumsum(_shares(popularity, group, GROUPS)).tolist(),
            "models": {},
            "models_cumulative": {},
        },
        "long_tail": {
            "head_share": HEAD_SHARE,
            "consumed": float(popularity[~head].sum() / popularity.sum()),
        },
        "models": {},
    }
    user_groups = _user_groups(run)
    if user_groups is not None:
        out["popularity_by_user_group"] = user_groups["info"]
    calibration = _calibration_base(items, popularity)
    if calibration is not None:
        out["calibration"] = calibration["info"]
    for label in run.labels():
        if label not in set(run.recommendations["model"]):
            continue
        users, lists = list_matrix(run.recommendations, label, n)
        counts = beyond.recommendation_counts(lists, n_items)
        slots = counts.astype(np.float64)
        arp = beyond.average_recommended_popularity(lists, popularity)
        shares = _shares(slots, group, GROUPS)
        out["popularity_curve"]["models"][label] = shares
        out["popularity_curve"]["models_cumulative"][label] = np.cumsum(shares).tolist()
        out["models"][label] = {
            "users": int(users.size),
            "coverage": beyond.coverage_from_counts(counts),
            "gini": beyond.gini_index(counts),
            "personalization": beyond.personalization(lists, n_items),
            "long_tail_share": float(slots[~head].sum() / max(slots.sum(), 1.0)),
            "mean_recommended_popularity": float(np.nanmean(arp)) if arp.size else float("nan"),
            "top_items": _top_items(items, counts),
        }
        if user_groups is not None:
            codes = user_groups["codes"].reindex(users).to_numpy()
            means = [
                float(np.nanmean(arp[codes == g])) if np.any(codes == g) else float("nan")
                for g in range(len(user_groups["info"]["groups"]))
            ]
            out["popularity_by_user_group"]["recommended"][label] = means
        if calibration is not None:
            rec = slots @ calibration["weights"]
            rec = rec / rec.sum() if rec.sum() > 0 else rec
            out["calibration"]["recommended"][label] = rec.tolist()
            out["calibration"]["kl"][label] = _kl(np.asarray(calibration["info"]["consumed"]), rec)
    return out


def _user_groups(run: RunFiles) -> dict[str, Any] | None:
    per_user = run.per_user
    if per_user is None or "history_popularity" not in per_user.columns:
        return None
    values = per_user.drop_duplicates("user").set_index("user")["history_popularity"]
    codes, groups = bucket_users(values)
    consumed = [float(values[codes.reindex(values.index) == g].mean()) for g in range(len(groups))]
    info = {"groups": groups, "consumed": consumed, "recommended": {}}
    return {"codes": codes, "info": info}


def _calibration_base(items: pd.DataFrame, popularity: np.ndarray) -> dict[str, Any] | None:
    if "category" not in items.columns or items["category"].isna().all():
        return None
    names, weights = category_matrix(items["category"])
    if not names:
        return None
    consumed = popularity @ weights
    consumed = consumed / consumed.sum()
    info = {"categories": names, "consumed": consumed.tolist(), "recommended": {}, "kl": {}}
    return {"weights": weights, "info": info}


def _top_items(items: pd.DataFrame, counts: np.ndarray) -> list[dict[str, Any]]:
    """The most recommended items: raw id, title (when known), lists holding it, popularity."""
    order = np.lexsort((np.arange(counts.size), -counts))[:TOP_ITEMS]
    out = []
    for i in order:
        if counts[i] == 0:
            break
        row = items.iloc[int(i)]
        entry = {"item_id": row["item_id"], "lists": int(counts[i]), "popularity": int(row["popularity"])}
        if "title" in items.columns and isinstance(row["title"], str):
            entry["title"] = row["title"]
        out.append(entry)
    return out
