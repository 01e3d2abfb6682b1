"""Cold-item score offset for textseq inductive on P4 cold items of P5 Scientific (issue 16).

textseq scores an item without training data (`trained_` False: the P4 cold items plus the few items that
occur only in valid/test) from its text, in the same cosine space as the trained items. Adding a constant
b to the scores of those items trades warm accuracy for cold accuracy. The targets of issue 16: cold-target
NDCG@10 >= 2 x the content model's, and warm-target NDCG@10 >= 0.95 x SASRec's. This script measures
which b each honest selection rule (validation or training data only) picks and what that b gives on test.

Protocol (the one of benchmarks/configs/p4_scientific_cold.yaml and its warm companion
p4_scientific_warm.yaml): Amazon 2018 Scientific, split as given; 10% of the items (seed 42) lose every
train and valid interaction. Every model is fitted on train only, through `lmrec.experiment.runner`
(`run_model`, as `lmrec run` does), with early stopping on the warm validation targets (history: train),
and sees the train+valid history (last <= 50 items) at test. Full ranking over all 4,385 items, variant
"all items". Cold test targets: the test targets that are cold items (890 users); warm: all the others.
The content model's cold NDCG@10 and SASRec's validation and warm test NDCG@10 are computed in this run.

Selection rules (b in a grid of step 0.005 unless said otherwise; test touched once per rule):
1. pseudo-cold validation: another 10% of the items (drawn from the trained ones, seed 43) are removed
   from train, a second textseq is fitted the same way (early stopping on the remaining warm validation
   targets), and b maximises its validation NDCG@10 over all validation targets (warm + pseudo-cold).
   1b (added by this script, after the scratch diagnostic): the same, with the real cold items removed
   from the auxiliary model's ranking, so it boosts as many untrained items as the real model does.
2. softmax-mass matching, no metric: b such that the untrained items get, averaged over the users'
   training sequences, their catalog share of the model's softmax (cosine / temperature); bisection.
3. the largest b >= 0 up to which the warm validation NDCG@10 stays >= 0.95 x SASRec's validation NDCG@10.
4. the largest b >= 0 up to which the warm validation NDCG@10 stays >= 0.95 x its own value at b = 0.
Each picked b gets its test cold and warm NDCG@10 and a paired test (lmrec.eval.significance) of textseq
with that b against the content model on the cold test users. The TEST sweep of b is printed as well,
labelled "diagnostic: not a selection".

Regenerate (about 15-20 minutes on 2 idle cores, estimated from the separate runs of its parts, not yet
measured whole: textseq 4-6 min, the pseudo-cold textseq 3-5, SASRec 3, the sweeps 1-2):
    LMREC_DATA_HOME=../shared/data .venv/bin/python benchmarks/cold_offset.py \
        --out benchmarks/results/cold_offset
Smoke check only (the numbers mean nothing): add --epochs 1 --threads 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

CONFIGS = Path(__file__).resolve().parent / "configs"
COLD_CONFIG = CONFIGS / "p4_scientific_cold.yaml"
WARM_CONFIG = CONFIGS / "p4_scientific_warm.yaml"
TEXTSEQ, CONTENT, SASREC = "textseq inductive (MiniLM)", "content (MiniLM)", "sasrec (ID only)"
PSEUDO_COLD_SEED = 43
GRID = np.round(np.arange(-0.2, 0.3 + 1e-9, 0.005), 4)
COLD_FACTOR, WARM_FACTOR = 2.0, 0.95
"""Issue 16's targets: cold >= 2 x content's cold NDCG@10, warm >= 0.95 x SASRec's warm NDCG@10."""
METRIC = "NDCG@10"


class OffsetScores:
    """A fitted model's scores of a fixed set of users, computed once, plus `offset` (one value per item):
    the evaluator ranks them exactly as it would rank the model's own scores plus the offset (same tie
    rule), without running the network again for every b."""

    def __init__(self, users: np.ndarray, scores: np.ndarray) -> None:
        self.users = users  # sorted: rows are found by searchsorted
        self.scores = scores
        self.n_items = scores.shape[1]
        self.offset = np.zeros(self.n_items, dtype=np.float32)

    def score(self, users: np.ndarray, history: sp.csr_matrix | None = None) -> np.ndarray:
        return self.scores[np.searchsorted(self.users, users)] + self.offset


@dataclasses.dataclass
class Slice:
    """Targets scored from a history by one model: `ndcg(b, mask)` evaluates the model with b added to
    the scores of the items in `mask`."""

    table: OffsetScores
    targets: sp.csr_matrix
    history: sp.csr_matrix
    exclude: sp.csr_matrix | None = None

    def evaluate(self, b: float, mask: np.ndarray) -> Any:
        from lmrec.eval import evaluate_ranking

        self.table.offset = (b * mask).astype(np.float32)
        return evaluate_ranking(
            self.table, self.targets, self.history, ns=[10], metrics=["ndcg"], users=self.table.users,
            exclude_history=False, exclude=self.exclude,
        )  # fmt: skip

    def ndcg(self, b: float, mask: np.ndarray) -> float:
        return float(self.evaluate(b, mask).summary()[METRIC])


def make_slice(model: Any, targets: Any, history: Any, exclude_items: np.ndarray | None = None) -> Slice:
    """Score every user with a target in `targets` from their `history` (time order) once."""
    tc, hc = targets.csr(), history.csr()
    users = np.flatnonzero(np.diff(tc.indptr) > 0)
    seqs = history.sequences()
    scores = model.score(users, hc[users], sequences=[seqs[u] for u in users])
    exclude = None
    if exclude_items is not None:
        rows = np.repeat(users, exclude_items.size)
        cols = np.tile(exclude_items, users.size)
        exclude = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), shape=tc.shape)
    return Slice(OffsetScores(users, scores), tc, hc, exclude)


def mass_matching_offset(model: Any, iterations: int = 40) -> dict[str, float]:
    """b at which the untrained items' softmax mass (cosine / temperature, the training objective), averaged
    over the users' training sequences, equals their share of the catalog. No targets are read."""
    indptr, _ = model.training_sequences()
    users = np.flatnonzero(np.diff(indptr) > 0)
    untrained = ~model.trained_
    share = float(untrained.mean())
    logits = model.score(users) / np.float32(model.config.temperature)  # stored training sequences

    def mass(b: float) -> float:
        total = 0.0
        for lo in range(0, logits.shape[0], 1024):
            x = logits[lo : lo + 1024].astype(np.float64) + (b / model.config.temperature) * untrained
            p = np.exp(x - x.max(axis=1, keepdims=True))
            total += float((p[:, untrained].sum(axis=1) / p.sum(axis=1)).sum())
        return total / logits.shape[0]

    lo, hi = -1.0, 1.0
    for _ in range(iterations):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if mass(mid) < share else (lo, mid)
    return {"b": (lo + hi) / 2, "catalog_share": share, "mass_at_0": mass(0.0), "users": int(users.size)}


def last_b_holding(values: np.ndarray, floor: float) -> tuple[float, bool]:
    """The largest grid b >= 0 such that values >= floor at every grid b in [0, b] (NaN if not at 0), and
    whether that is the grid's end (the rule would go further)."""
    start = int(np.flatnonzero(GRID >= 0)[0])
    ok = values[start:] >= floor
    if not ok[0]:
        return float("nan"), False
    stop = int(np.argmin(ok)) if not ok.all() else ok.size
    return float(GRID[start + stop - 1]), bool(ok.all())


def fit_auxiliary(
    exp: Any, spec: Any, prep: Any, features: Any
) -> tuple[Any, Any, np.ndarray, dict[str, Any]]:
    """Rule 1's model: textseq fitted as `run_model` fits it, on train without another 10% of the trained
    items (the pseudo-cold items), early-stopped on the remaining (warm) validation targets."""
    from lmrec.data.splits import Split
    from lmrec.eval.metrics import parse_metric
    from lmrec.experiment.prepare import sample_users
    from lmrec.experiment.runner import run_trial, user_popularity
    from lmrec.models.fit_context import Validation

    split = prep.split
    n = split.train.n_items
    trained = np.zeros(n, dtype=bool)
    trained[np.unique(split.train.items)] = True
    rng = np.random.default_rng(PSEUDO_COLD_SEED)
    pseudo = np.sort(rng.choice(np.flatnonzero(trained), size=round(0.1 * n), replace=False))
    is_pseudo = np.zeros(n, dtype=bool)
    is_pseudo[pseudo] = True
    train = split.train.subset(~is_pseudo[split.train.items])
    valid_warm = split.valid.subset(~is_pseudo[split.valid.items])
    aux = Split(
        train=train, valid=valid_warm, test=split.valid.subset(is_pseudo[split.valid.items]),
        name=f"{split.name}+pseudo_cold", params={"pseudo_cold_seed": PSEUDO_COLD_SEED},
    )  # fmt: skip
    users = sample_users(
        np.flatnonzero(np.diff(valid_warm.csr().indptr) > 0), exp.evaluation.user_sample, exp.seed
    )
    validation = Validation(
        targets=valid_warm, history=train, metric=parse_metric(exp.select_by).label,
        exclude_seen=exp.evaluation.exclude_seen, users=users,
    )  # fmt: skip
    _, model, timing = run_trial(
        dict(spec.params), exp=exp, spec=spec, train_fit=train, split=aux, validation=validation,
        valid_users=None, train_pop=user_popularity(train), fit_kwargs={"item_features": features},
    )  # fmt: skip
    facts = {
        "pseudo_cold_items": int(pseudo.size),
        "valid_targets_warm": len(valid_warm),
        "valid_targets_pseudo_cold": len(aux.test),
        "fit": timing,
        "best_epoch": model.training_.get("best_epoch"),
        "best_valid": model.training_.get("best_valid"),
    }
    return model, train, is_pseudo, facts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--epochs", type=int, default=None, help="smoke checks only: cap the sequence models' epochs"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="smoke checks only: torch threads of every model"
    )
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    from lmrec import __version__
    from lmrec.data.cold import choose_cold_items
    from lmrec.eval import evaluate_ranking
    from lmrec.eval.significance import compare
    from lmrec.experiment.config import load_experiment
    from lmrec.experiment.features import item_features_for
    from lmrec.experiment.prepare import prepare
    from lmrec.experiment.runner import run_model, test_history
    from lmrec.resources import measure, process_peak_rss

    t0 = time.perf_counter()
    stages: dict[str, Any] = {}
    exp = load_experiment(COLD_CONFIG)
    specs = {m.display: m for m in exp.models}
    smoke = {k: v for k, v in (("epochs", args.epochs), ("num_threads", args.threads)) if v is not None}
    for label in (TEXTSEQ, SASREC):
        specs[label] = dataclasses.replace(specs[label], params={**specs[label].params, **smoke})
    if args.threads is not None:
        exp = dataclasses.replace(exp, threads=args.threads)
    with measure() as m:
        prep = prepare(exp)
        warm = prepare(load_experiment(WARM_CONFIG)).split
    stages["prepare"] = m.to_dict()
    split = prep.split
    assert np.array_equal(split.train.items, warm.train.items) and np.array_equal(
        split.train.users, warm.train.users
    )
    features_memo: dict[Any, Any] = {}
    runs = {}
    for label in (TEXTSEQ, CONTENT, SASREC):
        with measure() as m:
            runs[label] = run_model(exp, specs[label], prep, features_memo=features_memo)
        stages[f"run_model {label}"] = m.to_dict()
        print(label, {k: round(v, 4) for k, v in runs[label].test.items() if k == METRIC}, flush=True)
    model, sasrec = runs[TEXTSEQ].model, runs[SASREC].model
    untrained = ~model.trained_
    history = test_history(split, exp)
    with threadpool_limits(exp.threads), measure() as m:
        aux, aux_train, is_pseudo, aux_facts = fit_auxiliary(
            exp, specs[TEXTSEQ], prep, item_features_for(specs[TEXTSEQ], prep, features_memo)
        )
    stages["fit pseudo-cold model"] = m.to_dict()

    with measure() as m:
        slices = {
            "test cold": make_slice(model, split.test, history),
            "test warm": make_slice(model, warm.test, history),
            "valid": make_slice(model, split.valid, split.train),
            "aux valid": make_slice(aux, split.valid, aux_train),
            "aux valid, real cold items excluded": make_slice(
                aux,
                split.valid,
                aux_train,
                choose_cold_items(model.n_items, split.params["fraction"], split.params["seed"]),
            ),
        }
        sasrec_warm = evaluate_ranking(
            sasrec, warm.test.csr(), history.csr(), ns=[10], metrics=["ndcg"], exclude_history=False,
            sequences=history.sequences(),
        ).summary()[METRIC]  # fmt: skip
        mass = mass_matching_offset(model)
    stages["score slices"] = m.to_dict()

    with measure() as m:
        sweep: dict[str, list[float]] = {}
        aux_mask = ~aux.trained_
        pseudo_target = pseudo_targets(slices["aux valid"], is_pseudo)
        for b in GRID:
            for name, sl in slices.items():
                per_user = sl.evaluate(float(b), aux_mask if name.startswith("aux") else untrained).per_user
                values = per_user[METRIC].to_numpy()
                sweep.setdefault(name, []).append(float(values.mean()))
                if name.startswith("aux"):
                    sweep.setdefault(f"{name}: pseudo-cold targets", []).append(
                        float(values[pseudo_target].mean())
                    )
                    sweep.setdefault(f"{name}: warm targets", []).append(float(values[~pseudo_target].mean()))
        sweep["test cold x content"] = [v / float(runs[CONTENT].test[METRIC]) for v in sweep["test cold"]]
    stages["sweeps"] = m.to_dict()
    curves = {k: np.array(v) for k, v in sweep.items()}

    content_cold = float(runs[CONTENT].test[METRIC])
    sasrec_valid = float(runs[SASREC].trials[0].valid[METRIC])
    own_valid = float(curves["valid"][GRID == 0][0])
    assert abs(float(curves["test cold"][GRID == 0][0]) - runs[TEXTSEQ].test[METRIC]) < 1e-6
    picks: dict[str, dict[str, Any]] = {}
    for key, name in (("1", "aux valid"), ("1b", "aux valid, real cold items excluded")):
        i = int(np.argmax(curves[name]))
        picks[key] = {
            "b": float(GRID[i]),
            "at_grid_edge": i in (0, GRID.size - 1),
            "valid": float(curves[name][i]),
        }
    picks["2"] = {"b": mass["b"], **mass}
    b3, edge3 = last_b_holding(curves["valid"], WARM_FACTOR * sasrec_valid)
    picks["3"] = {"b": b3, "at_grid_edge": edge3, "floor": WARM_FACTOR * sasrec_valid}
    b4, edge4 = last_b_holding(curves["valid"], WARM_FACTOR * own_valid)
    picks["4"] = {"b": b4, "at_grid_edge": edge4, "floor": WARM_FACTOR * own_valid}
    content_per_user = runs[CONTENT].per_user
    for pick in picks.values():
        cold_res = slices["test cold"].evaluate(pick["b"], untrained)
        cold = float(cold_res.summary()[METRIC])
        warm_nd = slices["test warm"].ndcg(pick["b"], untrained)
        test = compare(content_per_user, cold_res.per_user, METRIC, seed=exp.seed)
        pick.update(
            test_cold=cold, test_warm=warm_nd,
            cold_x_content=cold / content_cold, warm_x_sasrec=warm_nd / sasrec_warm,
            meets_cold=cold >= COLD_FACTOR * content_cold, meets_warm=warm_nd >= WARM_FACTOR * sasrec_warm,
            paired_vs_content=test.to_dict(),
        )  # fmt: skip

    result = {
        "benchmark": "cold_offset",
        "protocol": PROTOCOL,
        "smoke_overrides": smoke or None,
        "reference": {
            "content_test_cold": content_cold,
            "sasrec_test_warm": sasrec_warm,
            "sasrec_valid": sasrec_valid,
            "textseq_valid_b0": own_valid,
            "targets": {"cold": COLD_FACTOR * content_cold, "warm": WARM_FACTOR * sasrec_warm},
            "textseq": {"best_epoch": model.training_.get("best_epoch"), "selected": runs[TEXTSEQ].selected},
            "sasrec_best_epoch": sasrec.training_.get("best_epoch"),
            "content_selected": runs[CONTENT].selected,
            "untrained_items": int(untrained.sum()),
            "cold_test_users": int(slices["test cold"].table.users.size),
            "warm_test_users": int(slices["test warm"].table.users.size),
        },
        "pseudo_cold_model": aux_facts,
        "rules": picks,
        "grid": GRID.tolist(),
        "sweeps": {k: v.tolist() for k, v in curves.items()},
        "stages": stages,
        "total_seconds": round(time.perf_counter() - t0, 1),
        "process_peak_rss_mb": round(process_peak_rss() / 2**20, 1),
        "threads": {"experiment": exp.threads, "textseq": model.config.num_threads},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_avg": os.getloadavg()},
        "lmrec": __version__,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=2, default=float) + "\n")
    (args.out / "report.md").write_text(report(result))
    print(report(result))


def pseudo_targets(sl: Slice, is_pseudo: np.ndarray) -> np.ndarray:
    """Per evaluated user (the rows of the evaluator's per-user frame, users ascending): whether their one
    validation target is a pseudo-cold item."""
    counts = np.diff(sl.targets.indptr)[sl.table.users]
    assert (counts == 1).all(), "one validation target per user (leave-one-out)"
    return is_pseudo[sl.targets.indices[sl.targets.indptr[sl.table.users]]]


PROTOCOL = (
    "P4 cold items on P5 (benchmarks/configs/p4_scientific_cold.yaml and p4_scientific_warm.yaml): "
    "Amazon 2018 Scientific, split as given; 10% of the items (seed 42) lose every train and valid "
    "interaction; fit on train only (early stopping on warm validation targets, history train); input at "
    "test: train+valid (last <= 50 items); full ranking over all 4,385 items, nothing excluded; cold slice = "
    "test targets that are cold items, warm slice = the other test targets"
)

RULES = {
    "1": "pseudo-cold validation: max validation NDCG@10 of the auxiliary model (warm + pseudo-cold targets)",
    "1b": "as 1, real cold items removed from the auxiliary model's ranking (variant added by this script)",
    "2": "softmax-mass matching on training sequences (no targets read)",
    "3": "warm validation NDCG@10 >= 0.95 x SASRec's validation NDCG@10",
    "4": "warm validation NDCG@10 >= 0.95 x textseq's own at b = 0",
}


def report(r: dict[str, Any]) -> str:
    ref = r["reference"]
    lines = [
        "# Cold-item score offset for textseq inductive (issue 16)",
        "",
        f"Protocol: {r['protocol']}.",
        "",
        f"Content cold NDCG@10 {ref['content_test_cold']:.4f} "
        f"(target: textseq >= {ref['targets']['cold']:.4f}); "
        f"SASRec warm NDCG@10 {ref['sasrec_test_warm']:.4f} "
        f"(target: textseq >= {ref['targets']['warm']:.4f}), "
        f"SASRec validation {ref['sasrec_valid']:.4f}; "
        f"textseq validation at b = 0: {ref['textseq_valid_b0']:.4f}. "
        f"b is added to the cosine scores of the {ref['untrained_items']} items without training data; "
        f"{ref['cold_test_users']} cold and {ref['warm_test_users']} warm test users.",
        "",
    ]
    if r["smoke_overrides"]:
        lines += [f"**Smoke run ({r['smoke_overrides']}): the numbers mean nothing.**", ""]
    lines += [
        "## Selection rules (validation or training data only; test scored once per rule)",
        "",
        "| rule | b | test cold NDCG@10 | x content | test warm NDCG@10 | x SASRec | both targets | "
        "cold vs content: diff [95% CI], t p, Wilcoxon p |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for key, p in r["rules"].items():
        t = p["paired_vs_content"]
        edge = " (grid edge)" if p.get("at_grid_edge") else ""
        lines.append(
            f"| {key}. {RULES[key]} | {p['b']:+.4f}{edge} | {p['test_cold']:.4f} | "
            f"{p['cold_x_content']:.2f} | {p['test_warm']:.4f} | {p['warm_x_sasrec']:.2f} | "
            f"{'yes' if p['meets_cold'] and p['meets_warm'] else 'no'} | "
            f"{t['mean_diff']:+.4f} [{t['ci_low']:+.4f}, {t['ci_high']:+.4f}], {t['t_pvalue']:.2g}, "
            f"{t['wilcoxon_pvalue']:.2g} |"
        )
    aux = r["pseudo_cold_model"]
    lines += [
        "",
        f"Pseudo-cold model: {aux['pseudo_cold_items']} more items (seed {PSEUDO_COLD_SEED}) removed "
        f"from train; best epoch {aux['best_epoch']}, warm validation {aux['best_valid']:.4f}; "
        f"{aux['valid_targets_pseudo_cold']} pseudo-cold and {aux['valid_targets_warm']} warm validation "
        "targets. "
        f"Rule 2: catalog share {r['rules']['2']['catalog_share']:.4f}, softmax mass at b = 0 "
        f"{r['rules']['2']['mass_at_0']:.4f}.",
        "",
        "## Validation sweeps (what rules 1, 3, 4 read)",
        "",
        "| b | aux: all | aux: pseudo-cold | aux: warm | aux 1b: all | aux 1b: pseudo-cold | textseq valid |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    s = r["sweeps"]
    a, x = "aux valid", "aux valid, real cold items excluded"
    for i, b in enumerate(r["grid"]):
        if round(b * 1000) % 20 == 0:
            lines.append(
                f"| {b:+.2f} | {s[a][i]:.4f} | {s[a + ': pseudo-cold targets'][i]:.4f} "
                f"| {s[a + ': warm targets'][i]:.4f} | {s[x][i]:.4f} "
                f"| {s[x + ': pseudo-cold targets'][i]:.4f} | {s['valid'][i]:.4f} |"
            )
    lines += [
        "",
        "## TEST sweep of b — diagnostic: not a selection",
        "",
        "Read on the test targets; no b may be chosen from this table.",
        "",
        "| b | test cold NDCG@10 | x content | test warm NDCG@10 | x SASRec | both targets |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    window = []
    for i, b in enumerate(r["grid"]):
        cold, warm = s["test cold"][i], s["test warm"][i]
        both = cold >= ref["targets"]["cold"] and warm >= ref["targets"]["warm"]
        if both:
            window.append(b)
        if round(b * 1000) % 20 == 0:
            lines.append(
                f"| {b:+.2f} | {cold:.4f} | {cold / ref['content_test_cold']:.2f} | {warm:.4f} | "
                f"{warm / ref['sasrec_test_warm']:.2f} | {'yes' if both else ''} |"
            )
    span = f"[{min(window):+.3f}, {max(window):+.3f}]" if window else "empty"
    stages = ", ".join(f"{k} {v['seconds']:.0f} s" for k, v in r["stages"].items())
    lines += [
        "",
        f"Grid b meeting both targets on test (diagnostic): {span} (step {r['grid'][1] - r['grid'][0]:.3f}).",
        "",
        f"Run: {r['total_seconds']:.0f} s, peak RSS {r['process_peak_rss_mb']:.0f} MB, "
        f"threads {r['threads']}; {stages}. lmrec {r['lmrec']}.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
