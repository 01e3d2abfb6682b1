"""Dataset stage of an experiment: load → clean → split → leakage check, with a data card."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lmrec.data import splits
from lmrec.data.catalog import ItemCatalog
from lmrec.data.cleaning import CleaningConfig, CleaningReport, clean
from lmrec.data.datacard import DataCard, data_card
from lmrec.data.interactions import Interactions
from lmrec.data.leakage import check_split
from lmrec.data.loaders import load_dataset
from lmrec.data.raw import RawLog
from lmrec.errors import ConfigError
from lmrec.experiment.config import DatasetSpec, Experiment, SplitSpec
from lmrec.resources import Measurement, measure


@dataclass
class Prepared:
    """Everything the model stage needs, plus the facts a results file reports about the data."""

    data: Interactions
    split: splits.Split
    cleaning: CleaningReport
    card: DataCard
    catalog: ItemCatalog | None
    raw_meta: dict[str, Any]
    leakage: dict[str, Any]
    timings: dict[str, Measurement] = field(default_factory=dict)


def load_raw(spec: DatasetSpec, exp: Experiment | None = None, *, path_override: str | None = None) -> RawLog:
    """Load the dataset named or located by `spec` (a CLI `--data` path overrides the spec's path)."""
    path = path_override or (str(exp.resolve(spec.path)) if exp is not None and spec.path else spec.path)
    kwargs: dict[str, Any] = dict(spec.options)
    if spec.format:
        kwargs["format"] = spec.format
    if spec.columns:
        kwargs["columns"] = spec.columns
    if spec.name and path:
        return load_dataset(spec.name, path=path, **kwargs)
    return load_dataset(spec.name or path, **kwargs)  # type: ignore[arg-type]


def cleaning_config(options: dict[str, Any]) -> CleaningConfig:
    try:
        return CleaningConfig(**options)
    except TypeError as exc:
        raise ConfigError(f"cleaning: {exc}") from exc


def make_split(data: Interactions, spec: SplitSpec, seed: int, timestamp_kind: str | None) -> splits.Split:
    """Apply the split method named in the experiment file."""
    params = dict(spec.params)
    try:
        if spec.method == "leave_one_out":
            return splits.leave_one_out(data, **params)
        if spec.method == "temporal_ratio":
            return splits.temporal_ratio(data, **params)
        if spec.method == "global_temporal":
            return splits.global_temporal(data, timestamp_kind=str(timestamp_kind), **params)
        if spec.method == "random_ratio":
            params.setdefault("seed", seed)
            return splits.random_ratio(data, **params)
    except TypeError as exc:
        raise ConfigError(f"split.params for {spec.method}: {exc}") from exc
    raise ConfigError(f"split method {spec.method!r} is handled by prepare_files")


def _frame(inter: Interactions) -> pd.DataFrame:
    return inter.to_frame(raw_ids=True)


def prepare(exp: Experiment, *, data_path: str | None = None) -> Prepared:
    """Run the data stage of `exp`. Every dropped row is in the cleaning report; the split is checked."""
    timings: dict[str, Measurement] = {}
    cfg = cleaning_config(exp.cleaning.options)
    if exp.split.method == "files":
        with measure() as m_load:
            parts = {
                k: load_dataset(str(exp.resolve(getattr(exp.split, k))), **_file_kwargs(exp.dataset))
                for k in ("train", "valid", "test")
                if getattr(exp.split, k)
            }
        timings["load"] = m_load
        with measure() as m_clean:
            cleaned = {k: clean(v, cfg) for k, v in parts.items()}
            frames = {k: _frame(v[0]) for k, v in cleaned.items()}
            split = splits.split_from_frames(frames["train"], frames.get("valid"), frames["test"])
            data = split.train_valid().concat(split.test)
            report = cleaned["train"][1]
        timings["clean"] = m_clean
        catalog = next((p.catalog for p in parts.values() if p.catalog is not None), None)
        raw_meta = {k: v.meta for k, v in parts.items()}
    else:
        with measure() as m_load:
            raw = load_raw(exp.dataset, exp, path_override=data_path)
        timings["load"] = m_load
        with measure() as m_clean:
            data, report = clean(raw, cfg)
        timings["clean"] = m_clean
        with measure() as m_split:
            split = make_split(data, exp.split, exp.seed, report.timestamp_kind)
        timings["split"] = m_split
        catalog, raw_meta = raw.catalog, dict(raw.meta)
    leak = check_split(split)
    return Prepared(
        data=data,
        split=split,
        cleaning=report,
        card=data_card(data, name=exp.name, timestamp_kind=report.timestamp_kind),
        catalog=catalog,
        raw_meta=raw_meta,
        leakage=leak.to_dict(),
        timings=timings,
    )


def _file_kwargs(spec: DatasetSpec) -> dict[str, Any]:
    kwargs: dict[str, Any] = dict(spec.options)
    if spec.format:
        kwargs["format"] = spec.format
    if spec.columns:
        kwargs["columns"] = spec.columns
    return kwargs


def sample_users(users: np.ndarray, size: int | None, seed: int) -> np.ndarray:
    """A seeded uniform sample of users (sorted), or all of them when `size` is None or large enough."""
    if size is None or size >= users.shape[0]:
        return users
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(users, size=size, replace=False))
