"""CFGAN's training epoch on real catalogs: seconds per epoch with torch's fused Adam (what lmrec uses) and
with the default (for-each) Adam, measured in the same run, on MovieLens-100K (P1 train) and Amazon Toys
(P2 train, 11,924 items): the dense catalog-wide layers make Adam's step a large share of an epoch.

For each data set and each optimizer, a generator and discriminator are built from the same seed and trained
for `--epochs` epochs (lmrec's `train_cfgan`, the p1_ml100k_cfgan setting: zr, ReLU, lr 1e-3, batch 32);
reported: seconds per epoch, the ratio, and how far the two runs' generator weights drift apart (the update is
the same formula; floats round differently).

Usage:
    LMREC_DATA_HOME=../shared/data .venv/bin/python benchmarks/cfgan_epoch.py \
        --out benchmarks/results/cfgan_epoch
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from lmrec.models.cfgan import trainer
    from lmrec.models.cfgan.networks import Discriminator, Generator
    from lmrec.models.cfgan.recommender import CFGANConfig
    from lmrec.resources import process_peak_rss

    fused = trainer.adam

    def foreach(params, *, lr, weight_decay):  # type: ignore[no-untyped-def]
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, foreach=True)

    config = CFGANConfig(
        scheme="zr", activation="relu", g_learning_rate=1e-3, d_learning_rate=1e-3, epochs=args.epochs
    )
    rows = []
    for name, profiles in _datasets():
        weights = {}
        for label, make in (("default (for-each) Adam", foreach), ("fused Adam", fused)):
            trainer.adam = make
            torch.manual_seed(0)
            gen = Generator(profiles.shape[1], config.g_hidden, config.activation, config.dropout)
            disc = Discriminator(profiles.shape[1], config.d_hidden, config.activation, config.dropout)
            t0 = time.perf_counter()
            log = trainer.train_cfgan(gen, disc, profiles, np.arange(profiles.shape[0]), config, seed=0)
            seconds = time.perf_counter() - t0
            weights[label] = torch.cat([p.detach().flatten() for p in gen.parameters()])
            rows.append(
                {
                    "data": name,
                    "users": profiles.shape[0],
                    "items": profiles.shape[1],
                    "optimizer": label,
                    "epochs": log.epochs_run,
                    "seconds_per_epoch": round(seconds / log.epochs_run, 2),
                }
            )
            print(rows[-1], flush=True)
        trainer.adam = fused
        base, new = rows[-2], rows[-1]
        new["speedup"] = round(base["seconds_per_epoch"] / new["seconds_per_epoch"], 2)
        diff = (weights["fused Adam"] - weights["default (for-each) Adam"]).abs()
        new["generator_weights_max_abs_diff"] = float(diff.max())
    result = {
        "benchmark": "cfgan_epoch",
        "rows": rows,
        "threads": args.threads,
        "peak_rss_mb": round(process_peak_rss() / 2**20, 1),
        "machine": platform.platform(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# CFGAN: seconds per training epoch, fused against default Adam (same run)",
        "",
        f"{args.epochs} epochs each, {args.threads} thread(s), zr / ReLU / lr 1e-3 / batch 32; "
        f"peak RSS {result['peak_rss_mb']} MB.",
        "",
        "| data | users | items | optimizer | s/epoch | speedup | max abs diff of G's weights |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        speed = f"{r['speedup']:.2f}x" if "speedup" in r else "–"
        diff = f"{r['generator_weights_max_abs_diff']:.1e}" if "speedup" in r else "–"
        lines.append(
            f"| {r['data']} | {r['users']:,} | {r['items']:,} | {r['optimizer']} | "
            f"{r['seconds_per_epoch']:.2f} | {speed} | {diff} |"
        )
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _datasets():  # type: ignore[no-untyped-def]
    """(name, binary CSR profiles of the training users) for ML-100K P1 train and Toys P2 train."""
    from lmrec.data.cleaning import CleaningConfig, clean
    from lmrec.data.loaders import load_dataset
    from lmrec.data.splits import leave_one_out, temporal_ratio

    for name, split in (
        ("ml-100k (P1 train)", lambda d: temporal_ratio(d, train=0.8, valid=0.1)),
        ("amazon-toys (P2 train)", leave_one_out),
    ):
        key = name.split(" ")[0]
        dup = "keep_last" if key == "ml-100k" else "keep_all"
        data, _ = clean(load_dataset(key), CleaningConfig(duplicates=dup))
        yield name, split(data).train.csr(values="binary", dtype=np.float32)


if __name__ == "__main__":
    main()
