"""The closed loop: a policy recommends, simulated users choose (or not), the choices feed the policy.

One run = one policy x one seed, for `rounds` rounds. In round t:

1. refit: at t = 0 the policy is fitted on the initial (real) log; then every `refit_every` rounds (t = k,
   2k, ...) it is refitted on the initial log plus every simulated choice of rounds < t, unless it is
   `trained_once` (Chaney et al. 2018's comparison: the policy never sees the simulated choices in
   training). With `warm_start_epochs` a refit after the first starts from the previous fit's weights
   (sequence models). Re-rankers re-read the logged data's item space at the same moments.
2. slates: every active user gets the top-`candidates` items of the policy (items they consumed excluded
   unless `allow_repeats`), cut to `slate_size` by the re-ranker (or the first n). Between refits the
   policy sees each user's up-to-date history the way lmrec's service gives it: the history matrix to
   every model, the ordered sequences to `uses_sequences` models, and users with new choices passed as
   unknown (-1) to models that fold users in (`folds_in()`), so their vector is re-derived from it.
3. choices: each user picks from their slate with the choice model (or nothing); all slates of round t
   are drawn before any choice of round t is recorded, so no policy ever sees a choice before it happens.
4. churn: dissatisfied users may leave, users away may return.
5. metrics of the round (`lmrec.simulation.metrics`).

Cost: per round one scoring pass over the active users in batches of `batch_size` (batch x n_items
floats), one top-k, the re-ranker on (batch x candidates), and a dense users x items boolean "consumed"
matrix (n_users x n_items bytes: 17 MB for 10k users x 1.7k items).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lmrec.data.catalog import ItemCatalog
from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError
from lmrec.models.base import Recommender
from lmrec.models.fit_context import FitContext
from lmrec.models.ranking import masked_scores
from lmrec.models.registry import make_model
from lmrec.models.topk import topk
from lmrec.simulation import metrics as m
from lmrec.simulation.choice import ChoiceModel
from lmrec.simulation.churn import Churn, ChurnConfig
from lmrec.simulation.item_space import ItemSpace
from lmrec.simulation.rerank import Reranker, make_reranker
from lmrec.simulation.user_model import Memory, SimulatedUsers


@dataclass(frozen=True)
class PolicySpec:
    """A policy: any lmrec model (name + params, via `make_model`), optionally followed by a re-ranker."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    label: str | None = None
    rerank: str | None = None
    """Re-ranker name (mmr, calibrated, popularity, epsilon, thompson) or None."""
    rerank_params: dict[str, Any] = field(default_factory=dict)
    refit_every: int = 10
    """Refit the model every this many rounds on the initial log plus the simulated choices so far."""
    trained_once: bool = False
    """Fit once on the initial log and never again (history-based scoring still sees new choices)."""
    warm_start_epochs: int | None = None
    """Refits after the first start from the previous fit's weights and train this many epochs (models
    with `warm_starts`, e.g. SASRec), as a production model is updated on new data rather than retrained
    from scratch; None: every refit trains from scratch with the model's own `epochs`."""

    @property
    def display(self) -> str:
        return self.label or (self.name if self.rerank is None else f"{self.name}+{self.rerank}")


@dataclass(frozen=True)
class LoopSettings:
    """Shape of every run."""

    rounds: int = 20
    slate_size: int = 10
    candidates: int = 100
    """Length of the policy's candidate list the re-ranker picks from."""
    allow_repeats: bool = False
    """Let slates contain items the user already consumed (their utility drops by repeat_penalty)."""
    batch_size: int = 2048
    """Users scored at once (memory: batch_size x n_items float32)."""
    max_pairs: int = 5000
    """User pairs sampled (seeded) for the homogenization (Jaccard) measures."""
    item_dim: int = 32
    """Dimension of the logged-data item vectors (re-rankers, intra-list diversity)."""


@dataclass
class World:
    """What every run of an experiment shares: the initial log, the users and how they choose and churn."""

    data: Interactions
    users: SimulatedUsers
    choice: ChoiceModel
    churn: ChurnConfig
    catalog: ItemCatalog | None = None
    genres: tuple[np.ndarray, list[str]] | None = None
    metric_space: ItemSpace = field(init=False)
    """Item space of the initial log: fixed, so diversity and novelty compare across policies."""

    def __post_init__(self) -> None:
        if self.users.n_users != self.data.n_users or self.users.n_items != self.data.n_items:
            raise ConfigError("the simulated users were fitted on another log than the world's")
        self.metric_space = ItemSpace.from_log(self.data.csr(), categories=self.genres, seed=0)


@dataclass
class LoopResult:
    per_round: pd.DataFrame
    """One row per round: the metric columns of `lmrec.simulation.metrics`."""
    choices: pd.DataFrame
    """Every simulated choice: round, user, item (indices), utility (experienced)."""
    fits: list[dict[str, Any]]
    """Every (re)fit: the round before whose slates it happened and the number of events it saw."""
    seconds: float
    user_rounds: int
    """Sum over rounds of the active users served."""


class _Log:
    """The growing log: the initial events plus simulated choices (index arrays, time-ordered)."""

    def __init__(self, data: Interactions) -> None:
        self.data = data
        self.t0 = int(data.timestamps.max()) + 1 if data.timestamps is not None else len(data)
        self.users: list[np.ndarray] = []
        self.items: list[np.ndarray] = []
        self.times: list[np.ndarray] = []

    def add(self, rnd: int, users: np.ndarray, items: np.ndarray) -> None:
        self.users.append(users)
        self.items.append(items)
        self.times.append(np.full(users.shape[0], self.t0 + rnd, dtype=np.int64))

    def interactions(self) -> Interactions:
        d = self.data
        if not self.users:
            return d
        times = d.timestamps if d.timestamps is not None else np.arange(len(d), dtype=np.int64)
        return Interactions(
            users=np.concatenate([d.users, *self.users]),
            items=np.concatenate([d.items, *self.items]),
            user_vocab=d.user_vocab,
            item_vocab=d.item_vocab,
            timestamps=np.concatenate([times, *self.times]),
        )


def _fit(spec: PolicySpec, log: Interactions, seed: int, previous: Recommender | None) -> Recommender:
    if spec.warm_start_epochs is None or previous is None:
        return make_model(spec.name, spec.params).fit(log, seed=seed)
    params = {**spec.params, "epochs": spec.warm_start_epochs}
    return make_model(spec.name, params).fit(log, seed=seed, context=FitContext(warm_start=previous))


def run_policy(
    world: World,
    spec: PolicySpec,
    settings: LoopSettings,
    seed: int,
    *,
    on_round: Callable[[int], None] | None = None,
) -> LoopResult:
    """Simulate `spec` for `settings.rounds` rounds with `seed` (see the module docstring)."""
    start = time.perf_counter()
    data, users, n_items, n = world.data, world.users, world.data.n_items, world.data.n_users
    rng = np.random.default_rng([seed, 1])
    pair_rng = np.random.default_rng([seed, 2])
    reranker: Reranker | None = (
        make_reranker(spec.rerank, spec.rerank_params) if spec.rerank is not None else None
    )
    consumed = data.csr().toarray().astype(bool)
    sim_consumed = np.zeros((n, n_items), dtype=bool)
    sequences = data.sequences()
    memory = Memory.from_log(data, users.config.memory, users.config.memory_decay)
    churn = Churn(n, world.churn)
    space = world.metric_space
    cats = space.categories
    cat_mass = np.asarray(data.csr() @ cats)
    entropy0 = m.entropy_rows(cat_mass)
    user_pairs = m.sample_pairs(n, settings.max_pairs, pair_rng)
    log = _Log(data)
    model: Recommender | None = None
    changed = np.zeros(n, dtype=bool)
    fits: list[dict[str, Any]] = []
    rows: list[dict[str, float]] = []
    all_choices: list[pd.DataFrame] = []
    cumulative = 0.0
    user_rounds = 0
    for rnd in range(settings.rounds):
        if model is None or (not spec.trained_once and rnd % spec.refit_every == 0):
            current = log.interactions()
            model = _fit(spec, current, seed * 100_003 + len(fits), model)
            fits.append(
                {"round": rnd, "events": len(current), "warm": bool(model.training_.get("warm_start"))}
            )
            changed[:] = False
            if reranker is not None:
                reranker.refit(
                    ItemSpace.from_log(
                        current.csr(), categories=world.genres, dim=settings.item_dim, seed=len(fits)
                    )
                )
        active = np.flatnonzero(churn.active)
        user_rounds += active.shape[0]
        slates = np.full((active.shape[0], settings.slate_size), -1, dtype=np.int64)
        for lo in range(0, active.shape[0], settings.batch_size):
            batch = active[lo : lo + settings.batch_size]
            hist = sp.csr_matrix(consumed[batch], dtype=np.float32)
            who = np.where(changed[batch], -1, batch) if model.folds_in() else batch
            seqs = [sequences[u] for u in batch] if model.uses_sequences else None
            scores = masked_scores(
                model,
                who,
                hist,
                n_items=n_items,
                sequences=seqs,
                seen=None if settings.allow_repeats else hist,
            )
            cand, cand_scores = topk(scores, min(settings.candidates, n_items), checked=True)
            if reranker is None:
                slate = cand[:, : settings.slate_size]
            else:
                slate = reranker.rerank(cand, cand_scores, settings.slate_size, history=hist, rng=rng)
            slates[lo : lo + batch.shape[0], : slate.shape[1]] = slate
        # every slate of the round is drawn: only now do the users choose
        repeat = np.take_along_axis(consumed[active], np.where(slates >= 0, slates, 0), axis=1) & (
            slates >= 0
        )
        util = users.experienced(active, slates, repeat, memory)
        slot = world.choice.choose(util, rng)
        chose = slot >= 0
        who_chose = active[chose]
        item = slates[chose, slot[chose]]
        got = util[chose, slot[chose]]
        chosen_util = np.full(active.shape[0], np.nan)
        chosen_util[chose] = got
        consumed[who_chose, item] = True
        sim_consumed[who_chose, item] = True
        for u, i in zip(who_chose.tolist(), item.tolist(), strict=True):
            sequences[u] = np.append(sequences[u], i)
        memory.remember(who_chose, item)
        changed[who_chose] = True
        cat_mass[who_chose] += cats[item]
        log.add(rnd, who_chose, item)
        all_choices.append(pd.DataFrame({"round": rnd, "user": who_chose, "item": item, "utility": got}))
        churn.step(active, chosen_util, rng)
        cumulative += float(got.sum()) / n
        slate_pairs = m.sample_pairs(active.shape[0], settings.max_pairs, pair_rng)
        rows.append(
            {
                "round": rnd,
                "active_users": float(active.shape[0]),
                "engagement": m.engagement(chose, active.shape[0]),
                "utility": float(got.sum()) / n,
                "cumulative_utility": cumulative,
                "retention": churn.retention,
                "jaccard_consumed": m.mean_jaccard(sim_consumed, user_pairs),
                "jaccard_slates": m.mean_jaccard(m.slate_sets(slates, n_items), slate_pairs),
                "exposure_gini": m.gini(m.exposure(slates, n_items)),
                "coverage": m.coverage(slates, n_items),
                "intra_list_diversity": m.intra_list_diversity(slates, space.vectors),
                "novelty": m.novelty(item, space.popularity, space.n_users),
                "entropy_drift": float(np.mean(m.entropy_rows(cat_mass) - entropy0)),
            }
        )
        if on_round is not None:
            on_round(rnd)
    choices = (
        pd.concat(all_choices, ignore_index=True)
        if all_choices
        else pd.DataFrame({"round": [], "user": [], "item": [], "utility": []})
    )
    return LoopResult(
        per_round=pd.DataFrame(rows),
        choices=choices,
        fits=fits,
        seconds=time.perf_counter() - start,
        user_rounds=user_rounds,
    )
