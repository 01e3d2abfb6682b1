"""The simulation's plots on a hand-made per-round table: what they draw (`curves`) and the static PNG."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmrec.simulation.report import METRICS, PNG_DPI, curves, write_png

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def per_round(
    policies: tuple[str, ...] = ("pop", "itemknn+mmr"), seeds: tuple[int, ...] = (0, 1)
) -> pd.DataFrame:
    """Rounds 0-2, every metric = policy index + seed + round / 10, listed rounds last-first."""
    rows = [
        {"policy": policy, "seed": seed, "round": rnd, **dict.fromkeys(METRICS, p + seed + rnd / 10)}
        for p, policy in enumerate(policies)
        for seed in seeds
        for rnd in (2, 1, 0)
    ]
    return pd.DataFrame(rows)


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which a PNG must start with."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_MAGIC and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def test_curves_are_the_band_per_metric_and_policy() -> None:
    names, policies, lines = curves(per_round())
    assert names == list(METRICS) and policies == ["pop", "itemknn+mmr"]
    d = lines["engagement", "itemknn+mmr"]
    np.testing.assert_array_equal(d["round"], [0, 1, 2])
    # seeds give 1 + r/10 and 2 + r/10: mean 1.5 + r/10, sd 1/sqrt(2), half width t_{0.975,1} * 0.5
    np.testing.assert_allclose(d["mean"], [1.5, 1.6, 1.7])
    np.testing.assert_allclose(d["high"] - d["mean"], 12.7062047 * 0.5, rtol=1e-6)
    names, _, lines = curves(per_round(), ["retention"])
    assert names == ["retention"] and set(lines) == {("retention", "pop"), ("retention", "itemknn+mmr")}
    with pytest.raises(ValueError, match="unknown metric"):
        curves(per_round(), ["retention", "ctr"])
    with pytest.raises(ValueError, match="no metric"):
        curves(per_round(), [])


def test_write_png_two_policies_two_seeds(tmp_path: Path) -> None:
    path = write_png(per_round(), tmp_path / "plots.png", "lmrec simulation: hand-made")
    assert path == tmp_path / "plots.png" and path.exists()
    width, height = png_size(path)
    # 15 inches wide; 4 rows of 3 panels, the title and one legend row: 14 inches high
    assert width == 15 * PNG_DPI and 1200 <= height <= 1800
    from matplotlib.image import imread

    pixels = imread(path)  # decodes: a valid PNG, not only its header
    assert pixels.shape[:2] == (height, width)
    drawn = (pixels[..., :3] < 0.9).any(axis=-1).mean()
    assert 0.02 < drawn < 0.6  # panels, lines and text, on a white background


def test_write_png_one_seed_and_a_metric_subset(tmp_path: Path) -> None:
    # one seed: no interval, lines only; two metrics: one row of two panels
    path = write_png(per_round(seeds=(0,)), tmp_path / "p.png", "one seed", metrics=["engagement", "novelty"])
    width, height = png_size(path)
    assert width == 15 * PNG_DPI and 300 <= height <= 600
