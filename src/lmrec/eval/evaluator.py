"""Batched top-n evaluation of a fitted model: full ranking over the whole catalog (PROTOCOLS.md).

For each batch of users the model scores every item, seen items (and any extra exclusions) are set to
-inf and the shared `topk` ranks the rest (ties -> lower item index): the one ranking path of
`lmrec.models.ranking`, which `Recommender.recommend` and the service use too, so the lists evaluated are
the lists served. Hits are looked up in the target matrix with one `searchsorted` over (row, item) keys
(`lmrec.eval.batch`). Memory is bounded by batch_size x n_items float32
scores plus what the model needs to produce them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lmrec.distributed.engine import Engine
from lmrec.eval import beyond, sampling
from lmrec.eval.batch import Extras, first_target_rank, full_batch, sampled_batch
from lmrec.eval.metrics import MetricSpec, metric_specs
from lmrec.models.ranking import Scorer, masked_scores, top_items
from lmrec.models.sparse_ranking import GlobalRows, SparseRows, excluded_rows

DEFAULT_METRICS = ("ndcg", "recall", "precision", "hit_rate", "mrr", "map")


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


def _batches(bounds: list[tuple[int, int]], progress: bool) -> Iterator[tuple[int, int]]:
    n_users = bounds[-1][1] - bounds[0][0] if bounds else 0
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
    engine: Engine | None = None,
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
    engine: where the batches run (`lmrec.distributed`; default: one after the other in this process). A
        parallel engine (Ray) gets contiguous shards of whole batches, so every batch holds the users it
        would hold in one process and the metrics, lists and aggregates are the same to the last digit.
    """
    start_time = time.perf_counter()
    plan = _plan(
        model,
        targets,
        history,
        specs=metric_specs(metrics, ns),
        users=users,
        exclude=exclude,
        batch_size=batch_size,
        sequences=sequences,
        sampled_negatives=sampled_negatives,
        seed=seed,
        wants_full=keep_lists or item_popularity is not None or item_vectors is not None,
    )
    extras = _extras(plan, item_popularity, n_train_users, item_vectors)
    columns, counts, kept = _run(model, plan, extras, exclude_history, keep_lists, progress, engine)
    per_user = _per_user(plan, columns)
    protocol = RankingProtocol(
        ranking="sampled" if plan.sampled else "full",
        n_items=plan.n_items,
        exclude_history=exclude_history,
        extra_exclusions=plan.exclude is not None,
        n_users=int(plan.users.size),
        n_skipped_users=plan.n_skipped,
        sampled_negatives=sampled_negatives,
        seed=None if plan.root is None else int(plan.root.entropy),  # type: ignore[arg-type]
        metrics=tuple(c for c in per_user.columns if c != "user"),
    )
    lists = None
    if keep_lists:
        lists = np.concatenate(kept) if kept else np.empty((0, plan.list_len), dtype=np.int64)
    return RankingResult(
        per_user=per_user,
        aggregates=_aggregates(plan, counts),
        protocol=protocol,
        seconds=time.perf_counter() - start_time,
        lists=lists,
    )


@dataclass(frozen=True, eq=False)
class _Plan:
    """The validated inputs of one evaluation run."""

    targets: sp.csr_matrix
    history: sp.csr_matrix
    exclude: sp.csr_matrix | None
    specs: tuple[MetricSpec, ...]
    users: np.ndarray
    """Rows evaluated (each with at least one target)."""
    n_skipped: int
    sequences: Sequence[np.ndarray] | None
    """Ordered histories per target row, for models with `uses_sequences` only (None for the others)."""
    batch_size: int
    sampled_negatives: int | None
    root: np.random.SeedSequence | None
    """Seed of the negative sampling (sampled mode only)."""

    @property
    def n_items(self) -> int:
        return int(self.targets.shape[1])

    @property
    def sampled(self) -> bool:
        return self.sampled_negatives is not None

    @property
    def cutoffs(self) -> list[int]:
        return sorted({s.n for s in self.specs if s.n is not None})

    @property
    def list_len(self) -> int:
        return max(self.cutoffs, default=0)


def _plan(
    model: Scorer,
    targets: Any,
    history: Any,
    *,
    specs: tuple[MetricSpec, ...],
    users: Any,
    exclude: Any,
    batch_size: int,
    sequences: Sequence[np.ndarray] | None,
    sampled_negatives: int | None,
    seed: int | None,
    wants_full: bool,
) -> _Plan:
    """Check every input of `evaluate_ranking` against the others; the errors name the argument."""
    targets = _binary_csr(targets, "targets")
    history = _binary_csr(history, "history")
    if history.shape != targets.shape:
        raise ValueError(f"history has shape {history.shape} but targets has {targets.shape}")
    if exclude is not None:
        exclude = _binary_csr(exclude, "exclude")
        if exclude.shape != targets.shape:
            raise ValueError(f"exclude has shape {exclude.shape} but targets has {targets.shape}")
    ordered = _check_model(model, targets.shape, sequences)
    if isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    eval_users, n_skipped = _select_users(users, np.diff(targets.indptr))
    if eval_users.size == 0:
        raise ValueError(f"no user to evaluate: no requested user has a target ({n_skipped} skipped)")
    root: np.random.SeedSequence | None = None
    if sampled_negatives is not None:
        if isinstance(sampled_negatives, bool) or sampled_negatives < 1:
            raise ValueError(f"sampled_negatives must be a positive integer, got {sampled_negatives}")
        if wants_full:
            raise ValueError("lists and beyond-accuracy measures need full ranking, not sampled_negatives")
        root = np.random.SeedSequence(seed)
        # sampling blocks must not straddle batches, or the batch size would change the negatives
        batch_size = max(sampling.BLOCK, batch_size // sampling.BLOCK * sampling.BLOCK)
    return _Plan(
        targets=targets,
        history=history,
        exclude=exclude,
        specs=specs,
        users=eval_users,
        n_skipped=n_skipped,
        sequences=sequences if ordered else None,
        batch_size=batch_size,
        sampled_negatives=sampled_negatives,
        root=root,
    )


def _check_model(model: Scorer, shape: tuple[int, int], sequences: Sequence[np.ndarray] | None) -> bool:
    """Whether the model reads ordered histories (it then needs `sequences`, one per target row)."""
    model_items = getattr(model, "n_items", None)  # a plain Scorer (a score table) may not say
    if model_items is not None and model_items != shape[1]:
        raise ValueError(f"the model ranks {model_items} items but targets has {shape[1]} columns")
    ordered = bool(getattr(model, "uses_sequences", False))
    if ordered and sequences is None:
        raise ValueError(
            f"{type(model).__name__} reads ordered histories: pass sequences= (e.g. history_log.sequences())"
        )
    if sequences is not None and len(sequences) != shape[0]:
        raise ValueError(f"sequences has {len(sequences)} entries but targets has {shape[0]} rows")
    return ordered


def _extras(
    plan: _Plan,
    item_popularity: np.ndarray | None,
    n_train_users: int | None,
    item_vectors: np.ndarray | None,
) -> Extras:
    """Inputs of Novelty/ARP (popularity) and ILD (item vectors), checked against the catalog."""
    n_items = plan.n_items
    pop = None
    if item_popularity is not None:
        pop = np.asarray(item_popularity, dtype=np.float64)
        if pop.shape != (n_items,):
            raise ValueError(f"item_popularity must have one entry per item ({n_items}), got {pop.shape}")
        if n_train_users is None:
            n_train_users = int((np.diff(plan.history.indptr) > 0).sum())
    unit = None
    if item_vectors is not None:
        unit = beyond.unit_vectors(item_vectors)  # once, not per batch
        if unit.shape[0] != n_items:
            raise ValueError(f"item_vectors must have one row per item ({n_items}), got {unit.shape}")
    return Extras(pop=pop, n_train_users=n_train_users, unit=unit)


_Parts = tuple[dict[str, list[np.ndarray]], dict[int, np.ndarray], list[np.ndarray]]


def _empty_parts(plan: _Plan) -> _Parts:
    """No metric values, zero item counts per cut-off (full ranking), no lists."""
    columns: dict[str, list[np.ndarray]] = {s.label: [] for s in plan.specs}
    counts = {} if plan.sampled else {n: np.zeros(plan.n_items, dtype=np.int64) for n in plan.cutoffs}
    return columns, counts, []


def _run(
    model: Scorer,
    plan: _Plan,
    extras: Extras,
    exclude_history: bool,
    keep_lists: bool,
    progress: bool,
    engine: Engine | None,
) -> _Parts:
    """Per-user values per metric label, item counts per cut-off (full ranking) and the kept lists of
    every batch, run here or, with a parallel engine, as shards of whole batches merged in order."""
    n, size = plan.users.size, plan.batch_size
    bounds = [(s, min(s + size, n)) for s in range(0, n, size)]
    if engine is None or not engine.parallel or len(bounds) < 2:
        return _run_batches(bounds, model, plan, extras, exclude_history, keep_lists, progress)
    n_shards = min(len(bounds), 4 * engine.workers)  # a few shards per worker evens out slow ones
    shards = [list(part) for part in np.array_split(np.arange(len(bounds)), n_shards)]
    parts = engine.map(
        _run_batches,
        [[bounds[i] for i in shard] for shard in shards],
        {"model": model, "plan": plan, "extras": extras, "exclude_history": exclude_history,
         "keep_lists": keep_lists, "progress": False},
        describe=f"evaluating {n} users in {n_shards} shards" if progress else None,
    )  # fmt: skip
    columns, counts, kept = _empty_parts(plan)
    for part_columns, part_counts, part_kept in parts:
        for label, values in part_columns.items():
            columns.setdefault(label, []).extend(values)
        for c, item_counts in part_counts.items():
            counts[c] += item_counts
        kept.extend(part_kept)
    return columns, counts, kept


def _run_batches(
    bounds: list[tuple[int, int]],
    model: Scorer,
    plan: _Plan,
    extras: Extras,
    exclude_history: bool,
    keep_lists: bool,
    progress: bool,
) -> _Parts:
    """Score, mask and rank the batches `bounds` (positions in `plan.users`) with the shared ranking
    path."""
    columns, counts, kept = _empty_parts(plan)
    shortcut = not plan.sampled and plan.sequences is None and _ranks_without_rows(model)
    buffer = None  # one score block for every batch, for models that write into it
    if not shortcut and bool(getattr(model, "scores_into", False)) and bounds:
        widest = max(hi - lo for lo, hi in bounds)
        buffer = np.empty((widest, plan.n_items), dtype=np.float32)
    for lo, hi in _batches(bounds, progress):
        bu = plan.users[lo:hi]
        hist_rows = plan.history[bu]
        extra_rows = plan.exclude[bu] if plan.exclude is not None else None
        seen = hist_rows if exclude_history else None
        trows = plan.targets[bu]
        if shortcut:  # the same lists and ranks without the catalog-wide score rows
            ranked = _ranked_rows(model, bu, hist_rows, seen, extra_rows)
            items, target_rank = ranked.top(plan.list_len)[0], partial(ranked.first_target_rank, trows)
        else:
            seqs = None if plan.sequences is None else [np.asarray(plan.sequences[u]) for u in bu]
            scores = masked_scores(
                model, bu, hist_rows, n_items=plan.n_items, sequences=seqs, seen=seen, exclude=extra_rows,
                out=None if buffer is None else buffer[: bu.size],
            )  # fmt: skip
            if plan.sampled:
                assert plan.root is not None and plan.sampled_negatives is not None
                parts = [hist_rows, trows] + ([extra_rows] if extra_rows is not None else [])
                values = sampled_batch(
                    scores, trows, parts, plan.specs, plan.sampled_negatives, plan.root, lo, plan.list_len
                )
                for label, v in values.items():
                    columns.setdefault(label, []).append(v)
                continue
            items, target_rank = top_items(scores, plan.list_len), partial(first_target_rank, scores, trows)
        values = full_batch(target_rank, items, trows, plan.specs, plan.cutoffs, counts, extras)
        if keep_lists:
            kept.append(items)
        for label, v in values.items():
            columns.setdefault(label, []).append(v)
    return columns, counts, kept


def _ranks_without_rows(model: Scorer) -> bool:
    """Whether the model declares scores that rank without a dense row (`lmrec.models.sparse_ranking`)."""
    return bool(getattr(model, "sparse_scores", False) or getattr(model, "user_independent_scores", False))


def _ranked_rows(
    model: Any,
    users: np.ndarray,
    history: sp.csr_matrix,
    seen: sp.csr_matrix | None,
    extra: sp.csr_matrix | None,
) -> SparseRows | GlobalRows:
    excluded = excluded_rows(seen, extra, shape=(users.size, history.shape[1]))
    if model.sparse_scores:
        return SparseRows(model.score_sparse(users, history), excluded)
    return GlobalRows(model.item_scores(), excluded)


def _per_user(plan: _Plan, columns: dict[str, list[np.ndarray]]) -> pd.DataFrame:
    suffix = f"[sampled-{plan.sampled_negatives}]" if plan.sampled else ""
    frame: dict[str, np.ndarray] = {"user": plan.users}
    for label, parts in columns.items():
        frame[label + suffix] = np.concatenate(parts) if parts else np.empty(0)
    return pd.DataFrame(frame)


def _aggregates(plan: _Plan, counts: dict[int, np.ndarray]) -> dict[str, float]:
    """Catalog-level measures of the full-ranking lists: Coverage@n and Gini@n."""
    out: dict[str, float] = {}
    for n in plan.cutoffs if not plan.sampled else ():
        out[f"Coverage@{n}"] = beyond.coverage_from_counts(counts[n])
        out[f"Gini@{n}"] = beyond.gini_index(counts[n])
    return out
