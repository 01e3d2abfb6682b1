"""Batched top-n evaluation of a fitted model: full ranking over the whole catalog (PROTOCOLS.md).

For each batch of users the model scores every item, seen items (and any extra exclusions) are set to
-inf, the shared `topk` ranks the rest (ties -> lower item index), and hits are looked up in the target
matrix with one `searchsorted` over (row, item) keys. Memory is bounded by batch_size x n_items float32
scores plus what the model needs to produce them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lmrec.eval import beyond, sampling
from lmrec.eval.metrics import MetricSpec, metric_specs
from lmrec.models.base import mask_out
from lmrec.models.topk import topk

DEFAULT_METRICS = ("ndcg", "recall", "precision", "hit_rate", "mrr", "map")


class Scorer(Protocol):
    """What the evaluator needs from a model (every `lmrec.models.base.Recommender` qualifies)."""

    def score(self, users: np.ndarray, history: sp.csr_matrix | None = None) -> np.ndarray: ...


@dataclass(frozen=True)
class RankingProtocol:
    """How a ranking evaluation was run; reported next to every number."""

    ranking: str
    """"full" (every catalog item ranked) or "sampled" (each target against k sampled negatives)."""
    n_items: int
    """Catalog size the model ranked."""
    exclude_history: bool
    """Whether each user's history items were removed from the ranking."""
    extra_exclusions: bool
    """Whether an extra exclusion matrix was applied as well."""
    n_users: int
    """Users evaluated (non-empty target set)."""
    n_skipped_users: int
    """Requested users left out because their target set was empty."""
    sampled_negatives: int | None = None
    """k in sampled mode, None for full ranking."""
    seed: int | None = None
    """Entropy of the SeedSequence used for sampling (recorded even when drawn from the OS)."""
    tie_break: str = "lower item index"
    """How equal scores are ordered."""
    metrics: tuple[str, ...] = field(default=())
    """Labels of the metric columns."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class RankingResult:
    """Per-user metric values plus aggregate (catalog-level) measures of one evaluation run."""

    per_user: pd.DataFrame
    """Column "user" (index of the row in the target matrix) and one float column per metric."""
    aggregates: dict[str, float]
    """Catalog-level measures that have no per-user value: "Coverage@n", "Gini@n"."""
    protocol: RankingProtocol
    """How the numbers were produced (full vs sampled ranking, exclusions, catalog size)."""
    seconds: float
    """Wall-clock time of the whole evaluation, scoring included."""
    lists: np.ndarray | None = None
    """Top-max(n) item indices per evaluated user (rows as in `per_user`, -1 = empty slot) if kept."""

    @property
    def n_users(self) -> int:
        return len(self.per_user)

    @property
    def users_per_second(self) -> float:
        return self.n_users / self.seconds if self.seconds > 0 else float("inf")

    @property
    def metrics(self) -> tuple[str, ...]:
        """Labels of the per-user metric columns."""
        return tuple(c for c in self.per_user.columns if c != "user")

    def summary(self) -> dict[str, float]:
        """Mean of every per-user column over evaluated users (NaN entries skipped), then the aggregates."""
        out = {c: _nanmean(self.per_user[c].to_numpy(dtype=np.float64)) for c in self.metrics}
        out.update(self.aggregates)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record: summary, protocol, user count and timing (no per-user values or lists)."""
        return {
            "summary": self.summary(),
            "protocol": self.protocol.to_dict(),
            "n_users": self.n_users,
            "seconds": self.seconds,
            "users_per_second": self.users_per_second,
        }


def _nanmean(values: np.ndarray) -> float:
    """Mean of the non-NaN entries; NaN (without numpy's empty-slice warning) when there are none."""
    ok = ~np.isnan(values)
    return float(values[ok].mean()) if ok.any() else float("nan")


def _binary_csr(mat: Any, what: str) -> sp.csr_matrix:
    """A sorted, de-duplicated csr copy holding only the structure of `mat` (explicit zeros dropped)."""
    if not sp.issparse(mat):
        raise TypeError(f"{what} must be a scipy.sparse matrix (users x items), got {type(mat).__name__}")
    out = sp.csr_matrix(mat, copy=True)
    out.sum_duplicates()
    out.eliminate_zeros()
    out.sort_indices()
    return out


def _select_users(users: Any, n_targets: np.ndarray) -> tuple[np.ndarray, int]:
    if users is None:
        return np.flatnonzero(n_targets > 0).astype(np.int64), 0
    users = np.asarray(users)
    if users.ndim != 1 or users.dtype.kind not in "iu":
        raise ValueError(f"users must be a 1-D array of user indices, got shape {users.shape} {users.dtype}")
    users = users.astype(np.int64)
    if users.size and (users.min() < 0 or users.max() >= n_targets.size):
        raise ValueError(f"users must be row indices in [0, {n_targets.size}) of the target matrix")
    if np.unique(users).size != users.size:
        raise ValueError("users contains duplicates; each user is evaluated once")
    keep = n_targets[users] > 0
    return users[keep], int((~keep).sum())


def _hits(items: np.ndarray, target_keys: np.ndarray, n_items: int) -> np.ndarray:
    """hits[r, j] = items[r, j] is a target of batch row r (keys = row·n_items + item, sorted)."""
    query = np.arange(items.shape[0], dtype=np.int64)[:, None] * np.int64(n_items) + items
    pos = np.minimum(np.searchsorted(target_keys, query), target_keys.size - 1)
    return (target_keys[pos] == query) & (items >= 0)


def _first_target_rank(scores: np.ndarray, trows: sp.csr_matrix) -> np.ndarray:
    """1-based rank of each row's best target in the whole ranking; 0 if every target is excluded."""
    b, n_items = scores.shape
    starts = trows.indptr[:-1]
    r = np.repeat(np.arange(b), np.diff(trows.indptr))
    t_score = scores[r, trows.indices]
    best = np.maximum.reduceat(t_score, starts)  # every row has >= 1 target
    first_item = np.minimum.reduceat(np.where(t_score == best[r], trows.indices, n_items), starts)
    ahead = (scores > best[:, None]).sum(axis=1)
    ahead += ((scores == best[:, None]) & (np.arange(n_items) < first_item[:, None])).sum(axis=1)
    return np.where(best == -np.inf, 0, ahead + 1)


def _batches(n_users: int, batch_size: int, progress: bool) -> Iterator[tuple[int, int]]:
    bounds = [(s, min(s + batch_size, n_users)) for s in range(0, n_users, batch_size)]
    if not progress:
        yield from bounds
        return
    from rich.progress import Progress

    with Progress() as bar:
        task = bar.add_task(f"evaluating {n_users} users", total=len(bounds))
        for bound in bounds:
            yield bound
            bar.advance(task)


def evaluate_ranking(
    model: Scorer,
    targets: sp.csr_matrix,
    history: sp.csr_matrix,
    *,
    ns: Sequence[int] = (10, 20),
    metrics: Sequence[str] = DEFAULT_METRICS,
    users: np.ndarray | Sequence[int] | None = None,
    exclude_history: bool = True,
    exclude: sp.csr_matrix | None = None,
    batch_size: int = 1024,
    item_popularity: np.ndarray | None = None,
    n_train_users: int | None = None,
    item_vectors: np.ndarray | None = None,
    sampled_negatives: int | None = None,
    seed: int | None = None,
    keep_lists: bool = False,
    progress: bool = False,
    sequences: Sequence[np.ndarray] | None = None,
) -> RankingResult:
    """Evaluate top-n recommendation of `model` against held-out `targets`.

    targets: users x items; row u holds user u's target set (row index = the model's user index).
    history: same shape; what the model is given as each user's known items and, with
        `exclude_history`, what is removed from their ranking.
    ns, metrics: metric names ("ndcg", "recall", "precision", "hit_rate"/"hr", "mrr", "map") are
        computed at every n in ns; names with a cut-off ("Recall@50", "MRR@all") are taken as given.
    users: row indices to evaluate (default: every row with at least one target); users whose target
        set is empty are skipped and counted in `protocol.n_skipped_users`.
    exclude: extra users x items matrix of items to remove from the ranking.
    item_popularity, n_train_users: training popularity per item (distinct users) and the number of
        training users (default: rows of `history` with an item) for Novelty@n and ARP@n.
    item_vectors: items x dim array for ILD@n. Coverage@n and Gini@n are always reported.
    sampled_negatives, seed: rank each target against k negatives instead of the whole catalog
        (labelled "[sampled-k]"; see `lmrec.eval.sampling`). Never the default. In this mode
        batch_size is rounded down to a multiple of `sampling.BLOCK` (at least one block).
    keep_lists: keep the top-max(n) item indices of every evaluated user in `result.lists`.
    sequences: per target row, the history in time order (item indices, oldest first); required for
        models that read ordered histories (`uses_sequences`), which get the rows of their batch.
    """
    start_time = time.perf_counter()
    specs = metric_specs(metrics, ns)
    targets = _binary_csr(targets, "targets")
    history = _binary_csr(history, "history")
    n_items = targets.shape[1]
    if history.shape != targets.shape:
        raise ValueError(f"history has shape {history.shape} but targets has {targets.shape}")
    if exclude is not None:
        exclude = _binary_csr(exclude, "exclude")
        if exclude.shape != targets.shape:
            raise ValueError(f"exclude has shape {exclude.shape} but targets has {targets.shape}")
    model_items = getattr(model, "n_items", None)
    if model_items is not None and model_items != n_items:
        raise ValueError(f"the model ranks {model_items} items but targets has {n_items} columns")
    ordered = bool(getattr(model, "uses_sequences", False))
    if ordered and sequences is None:
        raise ValueError(
            f"{type(model).__name__} reads ordered histories: pass sequences= (e.g. history_log.sequences())"
        )
    if sequences is not None and len(sequences) != targets.shape[0]:
        raise ValueError(f"sequences has {len(sequences)} entries but targets has {targets.shape[0]} rows")
    if isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    eval_users, n_skipped = _select_users(users, np.diff(targets.indptr))
    if eval_users.size == 0:
        raise ValueError(f"no user to evaluate: no requested user has a target ({n_skipped} skipped)")
    cutoffs = sorted({s.n for s in specs if s.n is not None})
    list_len = max(cutoffs, default=0)

    sampled = sampled_negatives is not None
    root: np.random.SeedSequence | None = None
    if sampled_negatives is not None:
        if isinstance(sampled_negatives, bool) or sampled_negatives < 1:
            raise ValueError(f"sampled_negatives must be a positive integer, got {sampled_negatives}")
        if keep_lists or item_popularity is not None or item_vectors is not None:
            raise ValueError("lists and beyond-accuracy measures need full ranking, not sampled_negatives")
        root = np.random.SeedSequence(seed)
        # sampling blocks must not straddle batches, or the batch size would change the negatives
        batch_size = max(sampling.BLOCK, batch_size // sampling.BLOCK * sampling.BLOCK)
    pop = None
    if item_popularity is not None:
        pop = np.asarray(item_popularity, dtype=np.float64)
        if pop.shape != (n_items,):
            raise ValueError(f"item_popularity must have one entry per item ({n_items}), got {pop.shape}")
        if n_train_users is None:
            n_train_users = int((np.diff(history.indptr) > 0).sum())
    unit = None
    if item_vectors is not None:
        unit = beyond.unit_vectors(item_vectors)  # once, not per batch
        if unit.shape[0] != n_items:
            raise ValueError(f"item_vectors must have one row per item ({n_items}), got {unit.shape}")
    extras = _Extras(pop=pop, n_train_users=n_train_users, unit=unit)

    columns: dict[str, list[np.ndarray]] = {s.label: [] for s in specs}
    counts = {n: np.zeros(n_items, dtype=np.int64) for n in cutoffs} if not sampled else {}
    kept: list[np.ndarray] = []
    for lo, hi in _batches(eval_users.size, batch_size, progress):
        bu = eval_users[lo:hi]
        hist_rows = history[bu]
        if ordered:
            assert sequences is not None
            batch_seqs = [np.asarray(sequences[u]) for u in bu]
            raw = model.score(bu, hist_rows, sequences=batch_seqs)  # type: ignore[call-arg]
        else:
            raw = model.score(bu, hist_rows)
        scores = np.asarray(raw, dtype=np.float32)
        if scores.shape != (bu.size, n_items):
            raise RuntimeError(f"model.score returned shape {scores.shape}, expected {(bu.size, n_items)}")
        if np.isnan(scores).any():
            raise ValueError(f"model.score returned NaN for users {bu[np.isnan(scores).any(axis=1)][:5]}")
        extra_rows = exclude[bu] if exclude is not None else None
        if exclude_history:
            mask_out(scores, hist_rows)
        if extra_rows is not None:
            mask_out(scores, extra_rows)
        trows = targets[bu]
        if sampled:
            assert root is not None and sampled_negatives is not None
            parts = [hist_rows, trows] + ([extra_rows] if extra_rows is not None else [])
            values = _sampled_batch(scores, trows, parts, specs, sampled_negatives, root, lo, list_len)
            for label, v in values.items():
                columns[label].append(v)
            continue
        items = topk(scores, list_len)[0] if list_len else np.empty((bu.size, 0), dtype=np.int64)
        for label, v in _full_batch(scores, items, trows, specs, cutoffs, counts, extras).items():
            columns.setdefault(label, []).append(v)
        if keep_lists:
            kept.append(items)

    suffix = f"[sampled-{sampled_negatives}]" if sampled else ""
    frame: dict[str, np.ndarray] = {"user": eval_users}
    for label, parts_ in columns.items():
        frame[label + suffix] = np.concatenate(parts_) if parts_ else np.empty(0)
    aggregates: dict[str, float] = {}
    for n in cutoffs if not sampled else ():
        aggregates[f"Coverage@{n}"] = beyond.coverage_from_counts(counts[n])
        aggregates[f"Gini@{n}"] = beyond.gini_index(counts[n])
    per_user = pd.DataFrame(frame)
    protocol = RankingProtocol(
        ranking="sampled" if sampled else "full",
        n_items=n_items,
        exclude_history=exclude_history,
        extra_exclusions=exclude is not None,
        n_users=int(eval_users.size),
        n_skipped_users=n_skipped,
        sampled_negatives=sampled_negatives,
        seed=None if root is None else int(root.entropy),  # type: ignore[arg-type]
        metrics=tuple(c for c in per_user.columns if c != "user"),
    )
    lists = None
    if keep_lists:
        lists = np.concatenate(kept) if kept else np.empty((0, list_len), dtype=np.int64)
    return RankingResult(
        per_user=per_user,
        aggregates=aggregates,
        protocol=protocol,
        seconds=time.perf_counter() - start_time,
        lists=lists,
    )


@dataclass(frozen=True)
class _Extras:
    """Inputs of the optional per-user beyond-accuracy columns (full ranking only)."""

    pop: np.ndarray | None
    n_train_users: int | None
    unit: np.ndarray | None


def _full_batch(
    scores: np.ndarray,
    items: np.ndarray,
    trows: sp.csr_matrix,
    specs: tuple[MetricSpec, ...],
    cutoffs: list[int],
    counts: dict[int, np.ndarray],
    extras: _Extras,
) -> dict[str, np.ndarray]:
    """Per-user values of one batch under full ranking; adds the batch's lists to `counts`."""
    n_items = scores.shape[1]
    n_targets = np.diff(trows.indptr)
    hits = _hits(items, sampling.row_keys(trows, n_items), n_items)
    out: dict[str, np.ndarray] = {}
    for s in specs:
        if s.n is None:
            rank = _first_target_rank(scores, trows)
            out[s.label] = np.where(rank > 0, 1.0 / np.maximum(rank, 1), 0.0)
        else:
            out[s.label] = s.fn(hits, n_targets, s.n)
    for n in cutoffs:
        top = items[:, :n]
        counts[n] += np.bincount(top[top >= 0], minlength=n_items)
        if extras.pop is not None:
            assert extras.n_train_users is not None
            out[f"Novelty@{n}"] = beyond.novelty(top, extras.pop, extras.n_train_users)
            out[f"ARP@{n}"] = beyond.average_recommended_popularity(top, extras.pop)
        if extras.unit is not None:
            out[f"ILD@{n}"] = beyond.intra_list_diversity(top, extras.unit, normalized=True)
    return out


def _sampled_batch(
    scores: np.ndarray,
    trows: sp.csr_matrix,
    parts: list[sp.csr_matrix],
    specs: tuple[MetricSpec, ...],
    k: int,
    root: np.random.SeedSequence,
    offset: int,
    list_len: int,
) -> dict[str, np.ndarray]:
    """Per-user metric values of one batch in sampled mode (per-target values averaged per user)."""
    n_items = scores.shape[1]
    n_targets = np.diff(trows.indptr)
    r = np.repeat(np.arange(scores.shape[0]), n_targets)
    ranks = np.zeros(r.size, dtype=np.int64)
    for b0 in range(0, scores.shape[0], sampling.BLOCK):
        b1 = min(b0 + sampling.BLOCK, scores.shape[0])
        block_id = (offset + b0) // sampling.BLOCK
        rng = np.random.default_rng(np.random.SeedSequence(root.entropy, spawn_key=(block_id,)))
        sel = slice(trows.indptr[b0], trows.indptr[b1])
        block = [p[b0:b1] for p in parts]
        neg = sampling.sample_negatives(rng, r[sel] - b0, sampling.forbidden_keys(block, n_items), n_items, k)
        ranks[sel] = sampling.sampled_ranks(scores[b0:b1], r[sel] - b0, trows.indices[sel], neg)
    # each target is a one-relevant list: its rank decides every metric
    width = max(list_len, 1)
    hits = np.zeros((r.size, width), dtype=bool)
    inside = (ranks >= 1) & (ranks <= list_len)
    hits[np.flatnonzero(inside), ranks[inside] - 1] = True
    ones = np.ones(r.size, dtype=np.int64)
    out: dict[str, np.ndarray] = {}
    for s in specs:
        per_target = (
            np.where(ranks > 0, 1.0 / np.maximum(ranks, 1), 0.0) if s.n is None else s.fn(hits, ones, s.n)
        )
        out[s.label] = np.add.reduceat(per_target, trows.indptr[:-1]) / n_targets
    return out
