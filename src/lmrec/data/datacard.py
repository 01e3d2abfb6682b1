"""A data card: the numbers a reader needs to judge a dataset (size, sparsity, skew, time span, ratings).

Conventions, stated once:

- Distributions (events per user, events per item) are over *every vocabulary entry*, including users or
  items with no event in this log (relevant for split parts); percentiles use numpy's default linear
  interpolation.
- Density is distinct (user, item) pairs / (users x items); repeated pairs are counted in
  `n_interactions` but not in density.
- Gini is the mean-absolute-difference form over all n vocabulary entries (zeros included):
  G = sum_i sum_j |x_i - x_j| / (2 n^2 mean(x)), without the small-sample factor n / (n - 1). So a
  single item holding every event among n gives (n - 1) / n; for [0, 0, 0, 1] that is 0.75.
- "Top 1% / 10% items" are the ceil(p * n_items) items with the most events (at least one item).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from lmrec.data.interactions import Interactions

_MAX_EXACT_RATINGS = 50  # more distinct rating values than this: a 20-bin histogram instead


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative counts (module docstring convention); NaN if they sum to 0.

    O(n log n) via the sorted form G = 2 sum_i i x_(i) / (n sum x) - (n + 1) / n, i = 1..n ascending,
    which equals the mean-absolute-difference definition exactly.
    """
    x = np.sort(np.asarray(counts, dtype=np.float64))
    n, total = x.size, float(x.sum())
    if n == 0 or total == 0:
        return math.nan
    if x[0] < 0:
        raise ValueError("gini needs non-negative counts")
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return float(2.0 * np.dot(ranks, x) / (n * total) - (n + 1) / n)


def count_repeated_pairs(data: Interactions) -> int:
    """Events that repeat an earlier (user, item) pair (0 when every pair is unique)."""
    pair = data.pair_keys()
    pair.sort()  # rows are grouped by user, so this sort is close to linear
    return int(np.count_nonzero(pair[1:] == pair[:-1]))


@dataclass(frozen=True)
class Distribution:
    """Summary of a count distribution."""

    min: float
    p25: float
    median: float
    mean: float
    p75: float
    p90: float
    max: float

    @classmethod
    def of(cls, counts: np.ndarray) -> Distribution | None:
        if counts.size == 0:
            return None
        q = np.percentile(counts, [0, 25, 50, 75, 90, 100])
        return cls(
            float(q[0]), float(q[1]), float(q[2]), float(counts.mean()), float(q[3]), float(q[4]), float(q[5])
        )


@dataclass(frozen=True)
class DataCard:
    """Statistics of one `Interactions` log; JSON via `to_dict`, Markdown via `to_markdown`."""

    name: str
    n_users: int
    """Users in the vocabulary."""
    n_items: int
    """Items in the vocabulary (the catalog)."""
    n_interactions: int
    active_users: int
    """Users with at least one event in this log."""
    active_items: int
    n_pairs: int
    """Distinct (user, item) pairs."""
    density: float | None
    user_length: Distribution | None
    item_popularity: Distribution | None
    gini_items: float | None
    gini_users: float | None
    top1_share: float | None
    """Share of events on the top 1% items."""
    top10_share: float | None
    time_range: dict[str, Any] | None
    """{"kind": "unix", "start"/"end": ISO 8601 UTC} for Unix times, else {"kind", "min", "max"}."""
    rating_histogram: dict[str, int] | None
    """Rating value (or "[lo, hi)" bin) -> events; None for implicit logs."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_markdown(self) -> str:
        def num(v: Any) -> str:
            if v is None:
                return "n/a"
            if isinstance(v, int):
                return f"{v:,}"
            return f"{v:,.4g}"

        rows = [
            ("users", self.n_users),
            ("items", self.n_items),
            ("interactions", self.n_interactions),
            ("active users / items", f"{self.active_users:,} / {self.active_items:,}"),
            ("distinct (user, item) pairs", self.n_pairs),
            ("density", self.density),
            ("Gini of item popularity", self.gini_items),
            ("Gini of user activity", self.gini_users),
            ("share of events on top 1% / 10% items", f"{num(self.top1_share)} / {num(self.top10_share)}"),
        ]
        if self.time_range is not None:
            tr = self.time_range
            lo, hi = (tr["start"], tr["end"]) if "start" in tr else (tr["min"], tr["max"])
            rows.append((f"time range ({tr['kind']})", f"{lo} … {hi}"))
        out = [f"## Data card: {self.name}", "", "| statistic | value |", "|---|---:|"]
        out += [f"| {k} | {v if isinstance(v, str) else num(v)} |" for k, v in rows]
        out += ["", "| events per | min | p25 | median | mean | p75 | p90 | max |", "|---|" + "---:|" * 7]
        for label, dist in (("user", self.user_length), ("item", self.item_popularity)):
            if dist is not None:
                out.append(f"| {label} | " + " | ".join(num(v) for v in asdict(dist).values()) + " |")
        if self.rating_histogram:
            total = sum(self.rating_histogram.values())
            out += ["", "| rating | events | share |", "|---|---:|---:|"]
            out += [f"| {k} | {v:,} | {v / total:.3f} |" for k, v in self.rating_histogram.items()]
        return "\n".join(out) + "\n"


def _top_share(sorted_counts: np.ndarray, frac: float) -> float | None:
    total = sorted_counts.sum()
    if sorted_counts.size == 0 or total == 0:
        return None
    k = max(1, math.ceil(frac * sorted_counts.size))
    return float(sorted_counts[-k:].sum() / total)


def _time_range(times: np.ndarray, kind: str | None) -> dict[str, Any]:
    lo, hi = int(times.min()), int(times.max())
    if kind == "unix":
        iso = [datetime.fromtimestamp(t, tz=UTC).isoformat().replace("+00:00", "Z") for t in (lo, hi)]
        return {"kind": "unix", "start": iso[0], "end": iso[1]}
    return {"kind": kind or "unknown", "min": lo, "max": hi}


def _rating_histogram(ratings: np.ndarray) -> dict[str, int]:
    counts = pd.Series(ratings).value_counts(sort=False).sort_index()
    if len(counts) <= _MAX_EXACT_RATINGS:
        return {f"{float(v):g}": int(c) for v, c in counts.items()}
    hist, edges = np.histogram(ratings, bins=20)
    return {f"[{edges[i]:.4g}, {edges[i + 1]:.4g})": int(hist[i]) for i in range(20)}


def data_card(data: Interactions, *, name: str = "", timestamp_kind: str | None = None) -> DataCard:
    """Describe `data`. Pass `timestamp_kind="unix"` (e.g. `CleaningReport.timestamp_kind`) to get the
    time range as UTC dates: `Interactions` does not record whether timestamps are Unix seconds or
    positions in a sequence file."""
    uc, ic = data.user_counts(), data.item_counts()
    ic_sorted = np.sort(ic)
    n_pairs = len(data) - count_repeated_pairs(data)

    def undefined_to_none(v: float) -> float | None:
        return None if math.isnan(v) else v

    cells = data.n_users * data.n_items
    return DataCard(
        name=name,
        n_users=data.n_users,
        n_items=data.n_items,
        n_interactions=len(data),
        active_users=int(np.count_nonzero(uc)),
        active_items=int(np.count_nonzero(ic)),
        n_pairs=n_pairs,
        density=n_pairs / cells if cells else None,
        user_length=Distribution.of(uc),
        item_popularity=Distribution.of(ic),
        gini_items=undefined_to_none(gini(ic_sorted)),
        gini_users=undefined_to_none(gini(uc)),
        top1_share=_top_share(ic_sorted, 0.01),
        top10_share=_top_share(ic_sorted, 0.10),
        time_range=None
        if data.timestamps is None or not len(data)
        else _time_range(data.timestamps, timestamp_kind),
        rating_histogram=None if data.ratings is None else _rating_histogram(data.ratings),
    )
