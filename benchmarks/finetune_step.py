"""What a fine-tuning step of textseq costs, with the batch's items encoded once per step against the
previous behaviour of encoding them once per read (issue 16's cost lead: the input tokens and the scoring
rows each ran the batch's items through the trainable top block).

Data: Amazon 2018 Scientific (UniSRec's processed set, every interaction as training data: this measures
time, not accuracy), item texts through all-MiniLM-L6-v2 ("{text}", offline), textseq inductive at the P5
shape (64 wide, 2 blocks, max_len 50, batch 512) after one frozen epoch; the tower trains MiniLM's top block
on the first 64 word pieces. Both variants run the same batches with the same weights and are interleaved
(A B A B ...) so that load on the shared machine hits both alike; the verdict is the ratio of their median
step times in this one run. Each step is forward + backward of `TextSeq._batch_softmax_loss` (no optimiser
update, so every step sees the same weights and the two losses must agree).

Regenerate (about 5 minutes on 2 cores):
    LMREC_DATA_HOME=../shared/data .venv/bin/python benchmarks/finetune_step.py \
        --out benchmarks/results/finetune_step
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dataset", default="amazon2018-scientific-unisrec")
    parser.add_argument("--steps", type=int, default=12, help="timed steps per variant")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import numpy as np
    import torch

    from lmrec import __version__
    from lmrec.data.cleaning import CleaningConfig, clean
    from lmrec.data.loaders import load_dataset
    from lmrec.models.sequential.textseq import TextSeq, _batch_items, _log_inclusion
    from lmrec.resources import measure, process_peak_rss
    from lmrec.text import item_features
    from lmrec.text.encoders import make_encoder
    from lmrec.text.finetune import TopLayerTower

    raw = load_dataset(args.dataset)
    assert raw.catalog is not None
    data, _ = clean(raw, CleaningConfig(duplicates="keep_all"))
    features = item_features(raw.catalog, data.item_vocab, make_encoder("minilm"), "{text}")
    model = TextSeq(
        embedding_size=64, n_blocks=2, n_heads=1, max_len=50, dropout=0.2, batch_size=512, epochs=1,
        num_threads=args.threads, mode="inductive", whitening="zca", n_experts=8,
    )  # fmt: skip
    model.fit(data, seed=0, item_features=features)
    torch.set_num_threads(args.threads)
    with measure() as m_tower:
        tower = TopLayerTower(
            make_encoder("minilm"), features.texts or (), layers=1, max_tokens=64, frozen=features.vectors
        )
    net = model.net_
    net.items.text_tower = tower
    net.train()
    batches = list(model._batches(data.sequences(), np.random.default_rng(0))(0))[: args.steps]
    log_inclusion = _log_inclusion(model._batches(data.sequences(), np.random.default_rng(1)), model.n_items)
    original = tower.forward

    def per_read() -> torch.Tensor:  # the previous behaviour: every read re-encodes the active items
        tower.active = tower.active
        return original()

    def step(batch: Any, once: bool) -> tuple[float, float]:
        tower.forward = original if once else per_read  # type: ignore[method-assign]
        torch.manual_seed(0)
        started = time.perf_counter()
        tower.active = _batch_items(batch)
        loss = model._batch_softmax_loss(net, batch, tower.active, log_inclusion)
        loss.backward()
        seconds = time.perf_counter() - started
        net.zero_grad(set_to_none=True)
        return seconds, float(loss.detach())

    times: dict[str, list[float]] = {"once per step": [], "once per read (before)": []}
    losses: dict[str, list[float]] = {k: [] for k in times}
    step(batches[0], True)  # warm-up
    for batch in batches:
        for name, once in (("once per step", True), ("once per read (before)", False)):
            seconds, loss = step(batch, once)
            times[name].append(seconds)
            losses[name].append(loss)
    np.testing.assert_allclose(losses["once per step"], losses["once per read (before)"], rtol=1e-4)
    median = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "benchmark": "finetune_step",
        "dataset": args.dataset,
        "protocol": "cost only: every interaction as training data; one frozen epoch, then timed "
        "fine-tuning steps (forward + backward, no update) of the two variants interleaved",
        "items": model.n_items,
        "batch_size": 512,
        "finetune": {"layers": 1, "max_tokens": 64},
        "steps_per_variant": len(batches),
        "median_step_seconds": {k: round(v, 3) for k, v in median.items()},
        "ratio_before_over_now": round(median["once per read (before)"] / median["once per step"], 2),
        "step_seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "losses_agree": True,
        "tower_build_seconds": round(m_tower.seconds, 1),
        "peak_rss_mb": round(process_peak_rss() / 2**20, 1),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "threads": args.threads},
        "lmrec": __version__,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("median_step_seconds", "ratio_before_over_now")}))


if __name__ == "__main__":
    main()
