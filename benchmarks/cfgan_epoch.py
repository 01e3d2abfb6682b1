"""CFGAN's training epoch on real catalogs, measured in one run on MovieLens-100K (P1 train) and Amazon Toys
(P2 train, 11,924 items): the training as CFGAN had it before (the default for-each Adam, dense first-layer
products) against torch's fused Adam with dense or with sparse first layers (reading each profile's
nonzeros); lmrec uses fused Adam and chooses the first layers by the profiles' density
(`lmrec.models.cfgan.trainer.reads_sparse`), which the "lmrec uses it" column marks. The catalog-wide
layers make Adam's step and the dense products of mostly-zero profiles most of an epoch.

For each data set and variant, a generator and discriminator are built from the same seed and trained for
`--epochs` epochs (lmrec's `train_cfgan`, the p1_ml100k_cfgan setting: zr, ReLU, lr 1e-3, batch 32);
reported: seconds per epoch, the speedup over the first variant, and how far the generator's weights end from
the first variant's (the same formulas; floats round differently).

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
    variants = (
        ("for-each Adam, dense first layers (before)", foreach, False),
        ("fused Adam, dense first layers", fused, False),
        ("fused Adam, sparse first layers", fused, True),
    )
    rows = []
    for name, profiles in _datasets():
        first: dict | None = None
        for label, make, sparse in variants:
            trainer.adam = make
            torch.manual_seed(0)
            gen = Generator(profiles.shape[1], config.g_hidden, config.activation, config.dropout)
            disc = Discriminator(profiles.shape[1], config.d_hidden, config.activation, config.dropout)
            users = np.arange(profiles.shape[0])
            t0 = time.perf_counter()
            log = trainer.train_cfgan(gen, disc, profiles, users, config, seed=0, sparse_input=sparse)
            seconds = time.perf_counter() - t0
            weights = torch.cat([p.detach().flatten() for p in gen.parameters()])
            row = {
                "data": name,
                "users": profiles.shape[0],
                "items": profiles.shape[1],
                "density": profiles.nnz / (profiles.shape[0] * profiles.shape[1]),
                "variant": label,
                "lmrec_uses": make is fused and sparse == trainer.reads_sparse(profiles),
                "epochs": log.epochs_run,
                "seconds_per_epoch": round(seconds / log.epochs_run, 2),
            }
            if first is None:
                first = {"row": row, "weights": weights}
            else:
                row["speedup"] = round(first["row"]["seconds_per_epoch"] / row["seconds_per_epoch"], 2)
                row["generator_weights_max_abs_diff"] = float((weights - first["weights"]).abs().max())
            rows.append(row)
            print(row, flush=True)
        trainer.adam = fused
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
        "# CFGAN: seconds per training epoch, lmrec's against the earlier training (same run)",
        "",
        f"{args.epochs} epochs each, {args.threads} thread(s), zr / ReLU / lr 1e-3 / batch 32; "
        f"peak RSS {result['peak_rss_mb']} MB.",
        "",
        "| data | users | items | density | variant | lmrec uses it | s/epoch | speedup "
        "| max abs diff of G's weights |",
        "|---|---:|---:|---:|---|---|---:|---:|---:|",
    ]
    for r in rows:
        speed = f"{r['speedup']:.2f}x" if "speedup" in r else "–"
        diff = f"{r['generator_weights_max_abs_diff']:.1e}" if "speedup" in r else "–"
        lines.append(
            f"| {r['data']} | {r['users']:,} | {r['items']:,} | {r['density']:.2%} | {r['variant']} | "
            f"{'yes' if r['lmrec_uses'] else ''} | "
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
