"""How well does the simulator mimic real behaviour it has not seen? Checked on a held-out time window.

The log is cut at the time t_min + (1 − holdout)·(t_max − t_min). Simulated users are fitted and their
choice model calibrated on the events before the cut only; then:

(a) next-item prediction: every held-out event (u, i) of a user with training events, i new to u, is scored
    under a softmax over the items u had not consumed before it (training items and earlier held-out
    items), by three models whose parameters all come from the same out-of-sample calibration on the
    training log (`lmrec.simulation.calibration`): the fitted user model (taste + w · appeal, its β),
    the taste-only model (w = 0, its own β: the model before item appeal) and a popularity softmax
    (appeal only, its own fitted temperature; appeal = z-score of log(1 + distinct users before the cut)).
    Reported per model: NDCG@10 (one relevant item: 1/log2(rank + 2) when rank < 10, ties at their mean
    rank) and the mean log-likelihood per event. A user model that cannot beat popularity here is a poor
    model of who picks what.
(b) distributions: `rounds` rounds of the closed loop under a popularity policy, from the training log,
    against the real held-out events: concentration of choices on items (Gini over the catalog, share going
    to the 10% most popular training items), the Wasserstein distance between the log(1 + training
    popularity) of simulated and real chosen items, and per-user activity (share of users active; events
    per active user, mean and median). Rounds and calendar time are not the same unit, and the real users
    were not shown popularity slates: these numbers show direction and size of mismatches, not a test.

`notes` says in plain words which models beat popularity on (a) and which do not, and where the
distributions of (b) do not match.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from lmrec.data.catalog import ItemCatalog
from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError
from lmrec.simulation.calibration import ChoiceEvents, FittedWorld, choice_events, fit_world, log_likelihood
from lmrec.simulation.choice import ChoiceModel
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


def _ndcg_sum(ev: ChoiceEvents, a: float, b: float, k: int = 10) -> float:
    """Σ over events of NDCG@k of the chosen item ranked by a · taste + b · appeal within its choice set."""
    bounds = np.searchsorted(ev.rows, np.arange(ev.affinity.shape[0] + 1))
    total = 0.0
    for r in range(ev.affinity.shape[0]):  # one row (user) at a time: its events share the candidates
        lo, hi = bounds[r], bounds[r + 1]
        scores = a * ev.affinity[r] + b * ev.appeal
        cand = scores[~ev.excluded[r]]
        chosen = scores[ev.items[lo:hi]]
        greater = (cand[None, :] > chosen[:, None]).sum(axis=1)
        equal = (cand[None, :] == chosen[:, None]).sum(axis=1) - 1
        earlier = np.tri(hi - lo, k=-1, dtype=bool)  # [e, f]: event f came before e, its item left the set
        greater -= (earlier & (chosen[None, :] > chosen[:, None])).sum(axis=1)
        equal -= (earlier & (chosen[None, :] == chosen[:, None])).sum(axis=1)
        rank = greater + equal / 2.0
        total += float(np.where(rank < k, 1.0 / np.log2(rank + 2.0), 0.0).sum())
    return total


def next_item(fitted: FittedWorld, train: Interactions, test: Interactions) -> dict[str, Any]:
    """(a) of the module docstring: NDCG@10 and mean log-likelihood of the user model, the taste-only
    model and popularity (`fitted` from `fit_world(train, ..., baselines=True)`)."""
    ev = choice_events(fitted.users, train, test)
    beta, weight = fitted.choice.beta, fitted.users.popularity_weight
    coefs = {
        "model": (beta, beta * weight),
        "taste_only": (fitted.fits["taste_only"].affinity_coef, fitted.fits["taste_only"].appeal_coef),
        "popularity": (0.0, fitted.fits["popularity"].appeal_coef),
    }
    n = max(len(ev), 1)
    out: dict[str, Any] = {"events": len(ev)}
    for name, (a, b) in coefs.items():
        out[name] = {"ndcg10": _ndcg_sum(ev, a, b) / n, "loglik": log_likelihood(ev, a, b)[0] / n}
    return out


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


def _compare(name: str, a: dict[str, Any], base: str) -> list[str]:
    x, y = a[name], a[base]
    rank = "better" if x["ndcg10"] > y["ndcg10"] else "no better"
    lik = "higher" if x["loglik"] > y["loglik"] else "no higher"
    return [
        f"{name} ranks real held-out items {rank} than {base} "
        f"(NDCG@10 {x['ndcg10']:.4f} vs {y['ndcg10']:.4f})",
        f"{name} gives real held-out choices {lik} likelihood than {base} "
        f"({x['loglik']:.3f} vs {y['loglik']:.3f} nats per event)",
    ]


def _notes(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    notes = [*_compare("model", a, "popularity"), *_compare("taste_only", a, "popularity")]
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
    fitted = fit_world(train, sim.users, sim.choice, sim.loop.slate_size, sim.world_seed, baselines=True)
    a = next_item(fitted, train, test)
    b = distributions(sim, train, test, fitted.users, fitted.choice, catalog)
    return {
        "holdout": sim.validation.holdout,
        "train_events": len(train),
        "heldout_events": len(test),
        "beta": fitted.choice.beta,
        "popularity_weight": fitted.users.popularity_weight,
        "calibration": {k: dataclasses.asdict(f) for k, f in fitted.fits.items()},
        "next_item": a,
        "distributions": b,
        "notes": _notes(a, b),
    }
