"""Top-n ranking metrics as pure, vectorised functions over a batch of users (binary relevance).

Every metric has the signature `f(hits, n_targets, n) -> float64[users]`:

hits       bool array (users x L), L >= n: hits[u, r] is True when the item at rank r+1 of user u's
           list is in u's target set T_u. Empty slots (lists shorter than L) are False.
n_targets  int array (users,): |T_u| >= 1. Metrics are undefined for an empty target set, so such
           users must be left out before calling (the protocols average over non-empty T only).
n          list length (cut-off); only hits[:, :n] is read.

Definitions follow PROTOCOLS.md ("Common rules"); with h_r = hits[u, r-1]:
  Precision@n = Σ_{r<=n} h_r / n                  (n, not the list length, even for short lists)
  Recall@n    = Σ_{r<=n} h_r / |T|
  HR@n        = 1 if any h_r else 0
  MRR@n       = 1 / min{r <= n : h_r}, 0 without a hit
  NDCG@n      = Σ h_r / log2(r+1)  /  Σ_{r<=min(n,|T|)} 1 / log2(r+1)
  AP@n        = Σ_{r<=n} P@r · h_r / min(n, |T|)   (the convention of most recommender toolkits:
                a perfect list scores 1 even when |T| > n). `trec=True` divides by |T| instead, which
                is what trec_eval's `map_cut_n` computes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

import numpy as np

MetricFn = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


def _check(hits: np.ndarray, n_targets: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate and return (hits[:, :n] as bool, n_targets as int64)."""
    hits = np.asarray(hits)
    if hits.ndim != 2:
        raise ValueError(f"hits must be 2-D (users x list length), got shape {hits.shape}")
    if hits.dtype != np.bool_:
        raise TypeError(f"hits must be a bool array, got dtype {hits.dtype}")
    n_targets = np.asarray(n_targets)
    if n_targets.shape != (hits.shape[0],):
        raise ValueError(f"n_targets must have shape ({hits.shape[0]},), got {n_targets.shape}")
    if n_targets.dtype.kind not in "iu":
        raise TypeError(f"n_targets must be integers, got dtype {n_targets.dtype}")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if hits.shape[1] < n:
        raise ValueError(f"lists have {hits.shape[1]} ranks but n={n}; pad short lists with False")
    n_targets = n_targets.astype(np.int64, copy=False)
    if (n_targets < 1).any():
        bad = np.flatnonzero(n_targets < 1)[:5].tolist()
        raise ValueError(f"users at rows {bad} have an empty target set; metrics are undefined for them")
    top = hits[:, :n]
    n_hits = top.sum(axis=1)
    if (n_hits > n_targets).any():
        bad = np.flatnonzero(n_hits > n_targets)[:5].tolist()
        raise ValueError(f"rows {bad} have more hits than targets (duplicate items in a list?)")
    return top, n_targets


@cache
def _discounts(n: int) -> np.ndarray:
    """1 / log2(r + 1) for ranks r = 1..n (read-only, cached: every batch uses the same few n)."""
    out = 1.0 / np.log2(np.arange(2, n + 2, dtype=np.float64))
    out.flags.writeable = False
    return out


def precision(hits: np.ndarray, n_targets: np.ndarray, n: int) -> np.ndarray:
    """Precision@n = hits in the top n / n."""
    top, _ = _check(hits, n_targets, n)
    return top.sum(axis=1) / float(n)


def recall(hits: np.ndarray, n_targets: np.ndarray, n: int) -> np.ndarray:
    """Recall@n = hits in the top n / |T|."""
    top, n_targets = _check(hits, n_targets, n)
    return top.sum(axis=1) / n_targets


def hit_rate(hits: np.ndarray, n_targets: np.ndarray, n: int) -> np.ndarray:
    """HR@n = 1.0 when at least one target is in the top n, else 0.0."""
    top, _ = _check(hits, n_targets, n)
    return np.asarray(top.any(axis=1), dtype=np.float64)


def mrr(hits: np.ndarray, n_targets: np.ndarray, n: int) -> np.ndarray:
    """MRR@n = 1 / rank of the first hit within the top n (0.0 without a hit)."""
    top, _ = _check(hits, n_targets, n)
    first = top.argmax(axis=1)  # index of the first True; 0 for rows without any, fixed below
    return np.where(top.any(axis=1), 1.0 / (first + 1.0), 0.0)


def ndcg(hits: np.ndarray, n_targets: np.ndarray, n: int) -> np.ndarray:
    """NDCG@n with binary gains; the ideal list holds min(n, |T|) hits."""
    top, n_targets = _check(hits, n_targets, n)
    disc = _discounts(n)
    dcg = top @ disc
    idcg = np.cumsum(disc)[np.minimum(n_targets, n) - 1]
    return dcg / idcg


def average_precision(hits: np.ndarray, n_targets: np.ndarray, n: int, *, trec: bool = False) -> np.ndarray:
    """AP@n = Σ_r P@r · rel_r / min(n, |T|); with `trec=True` the denominator is |T| (trec_eval map_cut).

    The mean over users of this value is MAP@n (registry name "map").
    """
    top, n_targets = _check(hits, n_targets, n)
    ranks = np.arange(1, n + 1, dtype=np.float64)
    prec_at_r = np.cumsum(top, axis=1) / ranks
    total = (prec_at_r * top).sum(axis=1)
    return total / (n_targets if trec else np.minimum(n_targets, n))


map = average_precision  # the name the literature uses; lmrec.eval exports average_precision


# --- registry ------------------------------------------------------------------------------------

METRICS: dict[str, MetricFn] = {
    "ndcg": ndcg,
    "recall": recall,
    "precision": precision,
    "hit_rate": hit_rate,
    "mrr": mrr,
    "map": average_precision,
}
"""Canonical metric name -> function."""

ALIASES: dict[str, str] = {"hr": "hit_rate", "hitrate": "hit_rate", "hit": "hit_rate", "p": "precision"}
"""Extra (lower-case) spellings accepted by `canonical_name`."""

DISPLAY: dict[str, str] = {
    "ndcg": "NDCG",
    "recall": "Recall",
    "precision": "Precision",
    "hit_rate": "HR",
    "mrr": "MRR",
    "map": "MAP",
}
"""How each metric is labelled in result tables ("NDCG@10", "HR@20", ...)."""

FULL_RANKING_METRICS = frozenset({"mrr"})
"""Metrics that also exist without a cut-off ("MRR@all": 1 / rank of the first target in the full ranking)."""

_SPEC = re.compile(r"^\s*([A-Za-z_\-]+)\s*(?:@\s*(\d+|all))?\s*$", re.IGNORECASE)


def canonical_name(name: str) -> str:
    """The registry name for a (case-insensitive) metric name or alias; unknown names list the known ones."""
    key = name.strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    if key not in METRICS:
        known = sorted(set(METRICS) | set(ALIASES))
        raise ValueError(f"unknown metric {name!r}; known metrics: {', '.join(known)} (e.g. 'NDCG@10')")
    return key


def get_metric(name: str) -> MetricFn:
    """The function registered under `name` (aliases and any case accepted)."""
    return METRICS[canonical_name(name)]


@dataclass(frozen=True)
class MetricSpec:
    """One metric at one list length, e.g. NDCG@10."""

    name: str
    """Canonical registry name ("ndcg", "hit_rate", ...)."""
    n: int | None
    """List length; None means the whole ranking (only metrics in FULL_RANKING_METRICS)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", canonical_name(self.name))
        if self.n is None:
            if self.name not in FULL_RANKING_METRICS:
                raise ValueError(f"{DISPLAY[self.name]} needs a cut-off like @10; only MRR supports @all")
        elif isinstance(self.n, bool) or not isinstance(self.n, int | np.integer) or self.n < 1:
            raise ValueError(f"metric cut-off must be a positive integer, got {self.n!r}")

    @property
    def label(self) -> str:
        """Column label: "NDCG@10", "MRR@all"."""
        return f"{DISPLAY[self.name]}@{'all' if self.n is None else self.n}"

    @property
    def key(self) -> str:
        """Same as `label`: the column / summary key of this metric under full ranking."""
        return self.label

    @property
    def fn(self) -> MetricFn:
        return METRICS[self.name]


def parse_metric(text: str) -> MetricSpec:
    """Parse "NDCG@10", "recall@20", "HR@5", "MRR@all" (case-insensitive) into a MetricSpec."""
    match = _SPEC.match(text)
    if match is None or match.group(2) is None:
        raise ValueError(f"cannot parse metric {text!r}: expected NAME@N such as 'NDCG@10' or 'MRR@all'")
    name, cut = match.group(1), match.group(2).lower()
    return MetricSpec(name, None if cut == "all" else int(cut))


def metric_specs(metrics: Iterable[str], ns: Iterable[int]) -> tuple[MetricSpec, ...]:
    """Expand metric names over list lengths: a bare name ("ndcg") gives one spec per n in `ns`, a name
    with a cut-off ("MRR@all", "Recall@50") is used as given. Order is kept, duplicates are dropped."""
    if isinstance(metrics, str):
        metrics = (metrics,)
    ns = tuple(ns)
    out: dict[MetricSpec, None] = {}
    for text in metrics:
        if "@" in text:
            out[parse_metric(text)] = None
        else:
            name = canonical_name(text)
            if not ns:
                raise ValueError(f"metric {text!r} has no cut-off and ns is empty")
            for n in ns:
                out[MetricSpec(name, n)] = None
    if not out:
        raise ValueError("no metrics requested")
    return tuple(out)
