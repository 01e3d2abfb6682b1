"""How well does the simulator mimic real behaviour it has not seen? Checked on a held-out time window.

The log is cut at the time t_min + (1 − holdout)·(t_max − t_min). Simulated users are fitted and their
choice model calibrated on the events before the cut only; then:

(a) next-item prediction: for every held-out event (u, i) of a user with training events, with i new to u,
    the user model's utilities rank the catalog minus u's training items. Reported: NDCG@10 (one relevant
    item: 1/log2(rank + 2) when rank < 10, ties at their mean rank) and the mean log-likelihood of i under
    the calibrated softmax over those items, both next to a popularity ranker (distinct users before the
    cut; its likelihood is (c_i + 1) / Σ_j (c_j + 1)). A user model that cannot beat popularity here is
    a poor model of who picks what.
(b) distributions: `rounds` rounds of the closed loop under a popularity policy, from the training log,
    against the real held-out events: concentration of choices on items (Gini over the catalog, share going
    to the 10% most popular training items), the Wasserstein distance between the log(1 + training
    popularity) of simulated and real chosen items, and per-user activity (share of users active; events
    per active user, mean and median). Rounds and calendar time are not the same unit, and the real users
    were not shown popularity slates: these numbers show direction and size of mismatches, not a test.

`notes` lists, in plain words, where the simulator does not match.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from lmrec.data.catalog import ItemCatalog
from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError
from lmrec.simulation.choice import ChoiceModel, calibrate
from lmrec.simulation.metrics import gini
from lmrec.simulation.user_model import SimulatedUsers

if TYPE_CHECKING:
    from lmrec.simulation.config import Simulation


def time_cut(data: Interactions, holdout: float) -> tuple[Interactions, Interactions]:
    """(before, after) the time cut that holds out the last `holdout` share of the time span."""
    if data.timestamps is None:
        raise ConfigError("validation needs timestamps (set validation.enabled: false for this log)")
    lo, hi = int(data.timestamps.min()), int(data.timestamps.max())
    cut = lo + (1 - holdout) * (hi - lo)
    before = data.timestamps < cut
    return data.subset(before), data.subset(~before)


def _ranks(scores: np.ndarray, target: np.ndarray) -> np.ndarray:
    """0-based rank of each row's target among finite scores, ties at their mean rank."""
    t = scores[np.arange(scores.shape[0]), target][:, None]
    greater = (scores > t).sum(axis=1)
    equal = (scores == t).sum(axis=1) - 1
    return np.asarray(greater + equal / 2.0)


def next_item(
    users: SimulatedUsers, choice: ChoiceModel, train: Interactions, test: Interactions, batch: int = 1024
) -> dict[str, Any]:
    """(a) of the module docstring: NDCG@10 and mean log-likelihood, user model vs popularity."""
    hist = train.csr()
    has_train = np.diff(hist.indptr) > 0
    keep = has_train[test.users] & (np.asarray(hist[test.users, test.items]).ravel() == 0)
    eu, ei = test.users[keep], test.items[keep]
    pop = train.item_user_counts().astype(np.float64)
    out = {"model_ndcg": 0.0, "pop_ndcg": 0.0, "model_loglik": 0.0, "pop_loglik": 0.0}
    for lo in range(0, eu.shape[0], batch):
        u, i = eu[lo : lo + batch], ei[lo : lo + batch]
        seen = hist[u].toarray() > 0
        util = np.where(seen, -np.inf, choice.beta * users.all_utilities(u))
        pops = np.where(seen, -np.inf, np.log(pop + 1.0))
        for name, s in (("model", util), ("pop", pops)):
            rank = _ranks(s, i)
            out[f"{name}_ndcg"] += float(np.where(rank < 10, 1.0 / np.log2(rank + 2.0), 0.0).sum())
            top = s.max(axis=1, keepdims=True)
            lse = top[:, 0] + np.log(np.exp(s - top).sum(axis=1))
            out[f"{name}_loglik"] += float((s[np.arange(u.shape[0]), i] - lse).sum())
    n = max(int(eu.shape[0]), 1)
    return {"events": int(eu.shape[0]), **{k: v / n for k, v in out.items()}}


def _distribution(items: np.ndarray, per_user: np.ndarray, pop: np.ndarray, n_users: int) -> dict[str, Any]:
    counts = np.bincount(items, minlength=pop.shape[0])
    top = np.argsort(-pop, kind="stable")[: max(1, pop.shape[0] // 10)]
    active = per_user[per_user > 0]
    return {
        "events": int(items.shape[0]),
        "item_gini": gini(counts),
        "top10pct_share": float(np.isin(items, top).mean()) if items.size else float("nan"),
        "active_user_share": float(active.shape[0] / n_users),
        "events_per_active_user_mean": float(active.mean()) if active.size else float("nan"),
        "events_per_active_user_median": float(np.median(active)) if active.size else float("nan"),
    }


def distributions(
    sim: Simulation, train: Interactions, test: Interactions, users: SimulatedUsers, choice: ChoiceModel,
    catalog: ItemCatalog | None,
) -> dict[str, Any]:  # fmt: skip
    """(b) of the module docstring."""
    from scipy.stats import wasserstein_distance

    from lmrec.simulation.item_space import genre_categories
    from lmrec.simulation.loop import PolicySpec, World, run_policy

    genres = genre_categories(catalog, train.item_vocab) if catalog is not None else None
    world = World(data=train, users=users, choice=choice, churn=sim.churn, catalog=catalog, genres=genres)
    loop = dataclasses.replace(sim.loop, rounds=sim.validation.rounds)
    result = run_policy(world, PolicySpec("pop"), loop, seed=sim.world_seed)
    pop = train.item_user_counts().astype(np.float64)
    s_items = result.choices["item"].to_numpy(dtype=np.int64)
    s_users = result.choices["user"].to_numpy(dtype=np.int64)
    has_train = np.diff(train.csr().indptr) > 0
    real = has_train[test.users]
    r_items, r_users = test.items[real], test.users[real]
    n = int(has_train.sum())
    sim_d = _distribution(s_items, np.bincount(s_users, minlength=train.n_users)[has_train], pop, n)
    real_d = _distribution(r_items, np.bincount(r_users, minlength=train.n_users)[has_train], pop, n)
    w = (
        float(wasserstein_distance(np.log1p(pop[s_items]), np.log1p(pop[r_items])))
        if s_items.size and r_items.size
        else float("nan")
    )
    return {
        "rounds": sim.validation.rounds,
        "simulated": sim_d,
        "real": real_d,
        "wasserstein_log_popularity": w,
    }


def _notes(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    notes = []
    if a["model_ndcg"] <= a["pop_ndcg"]:
        notes.append(
            f"the user model ranks real held-out items no better than popularity (NDCG@10 "
            f"{a['model_ndcg']:.4f} vs {a['pop_ndcg']:.4f}): simulated tastes are a weak proxy"
        )
    if a["model_loglik"] <= a["pop_loglik"]:
        notes.append(
            f"the calibrated softmax gives real choices lower likelihood than popularity "
            f"({a['model_loglik']:.3f} vs {a['pop_loglik']:.3f} nats per event)"
        )
    s, r = b["simulated"], b["real"]
    if abs(s["item_gini"] - r["item_gini"]) > 0.1:
        more = "more" if s["item_gini"] > r["item_gini"] else "less"
        notes.append(
            f"simulated choices are {more} concentrated on few items "
            f"(Gini {s['item_gini']:.3f} vs {r['item_gini']:.3f})"
        )
    if abs(s["top10pct_share"] - r["top10pct_share"]) > 0.1:
        notes.append(
            f"share of choices on the top-10% items differs: {s['top10pct_share']:.3f} simulated vs "
            f"{r['top10pct_share']:.3f} real"
        )
    if abs(s["active_user_share"] - r["active_user_share"]) > 0.2:
        notes.append(
            f"share of users active differs: {s['active_user_share']:.3f} simulated over {b['rounds']} "
            f"rounds vs {r['active_user_share']:.3f} real in the held-out window"
        )
    return notes


def validate(data: Interactions, sim: Simulation, catalog: ItemCatalog | None = None) -> dict[str, Any]:
    """Both checks of the module docstring on `data`, with the simulation's user/choice/churn settings."""
    train, test = time_cut(data, sim.validation.holdout)
    if len(train) == 0 or len(test) == 0:
        raise ConfigError(f"validation.holdout={sim.validation.holdout} leaves an empty side of the cut")
    users = SimulatedUsers.fit(train, sim.users, seed=sim.world_seed)
    choice = calibrate(
        users, train, sim.choice, sim.loop.slate_size, np.random.default_rng([sim.world_seed, 7])
    )
    a = next_item(users, choice, train, test)
    b = distributions(sim, train, test, users, choice, catalog)
    return {
        "holdout": sim.validation.holdout,
        "train_events": len(train),
        "heldout_events": len(test),
        "beta": choice.beta,
        "next_item": a,
        "distributions": b,
        "notes": _notes(a, b),
    }
