"""Dataset stage of an experiment: load → clean → split → leakage check, with a data card."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

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
    cleaning: dict[str, CleaningReport]
    """One report per cleaned input: "all" for one dataset, or "train"/"valid"/"test" for split files."""
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
        kwargs["path"] = path
        return _load(spec.name, kwargs)
    return _load(str(spec.name or path), kwargs)


def cleaning_config(options: dict[str, Any]) -> CleaningConfig:
    try:
        return CleaningConfig(**options)
    except TypeError as exc:
        raise ConfigError(f"cleaning: {exc}") from exc


def make_split(
    data: Interactions, spec: SplitSpec, seed: int, timestamp_kind: str | None, raw: RawLog | None = None
) -> splits.Split:
    """Apply the split method named in the experiment file (`given` needs `raw`, the log `data` was
    cleaned from, which carries the published parts)."""
    params = dict(spec.params)
    if spec.method in ("cold_items", "rare_items"):
        return _slice_split(data, spec, seed, timestamp_kind, raw)
    if spec.method == "given":
        if raw is None:
            raise ConfigError("split method 'given' needs the raw log the data was cleaned from")
        return splits.given_split(data, raw)
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


def _slice_split(
    data: Interactions, spec: SplitSpec, seed: int, timestamp_kind: str | None, raw: RawLog | None
) -> splits.Split:
    """P4: a cold- or rare-item slice of a base split (split.params: base, base_params, and fraction for
    cold_items or max_train_count for rare_items)."""
    from lmrec.data.cold import cold_item_split, rare_item_split

    params = dict(spec.params)
    base = params.pop("base", "leave_one_out")
    base_params = params.pop("base_params", {}) or {}
    if base not in ("leave_one_out", "temporal_ratio", "global_temporal", "random_ratio", "given"):
        raise ConfigError(f"split.params.base for {spec.method} must be a split method, not {base!r}")
    split = make_split(data, SplitSpec(method=base, params=base_params), seed, timestamp_kind, raw)
    try:
        if spec.method == "cold_items":
            return cold_item_split(split, seed=seed, **params)
        return rare_item_split(split, **params)
    except TypeError as exc:
        raise ConfigError(f"split.params for {spec.method}: {exc}") from exc


def clean_given_split(
    parts: dict[str, RawLog], cfg: CleaningConfig
) -> tuple[splits.Split, dict[str, CleaningReport]]:
    """Clean the parts of a split made elsewhere, each on its own, and join them over shared vocabularies.

    Row-wise cleaning (invalid rows, duplicates, rating threshold) applies per part. k-core filtering is
    refused: applied to a given split it would change that split (remove users from valid/test only), so
    the numbers would no longer be comparable with the split's source; filter before splitting instead.
    """
    if cfg.user_core or cfg.item_core:
        raise ConfigError(
            "cleaning.user_core/item_core cannot be applied to a split given as files: k-core per part "
            "would change the split. Filter the log before splitting, or set them to 0."
        )
    cleaned = {k: clean(v, cfg) for k, v in parts.items()}
    frames = {k: v[0].to_frame(raw_ids=True) for k, v in cleaned.items()}
    split = splits.split_from_frames(frames["train"], frames.get("valid"), frames["test"])
    return split, {k: v[1] for k, v in cleaned.items()}


def prepare(exp: Experiment, *, data_path: str | None = None) -> Prepared:
    """Run the data stage of `exp`. Every dropped row is in the cleaning report; the split is checked."""
    timings: dict[str, Measurement] = {}
    cfg = cleaning_config(exp.cleaning.options)
    if exp.split.method == "files":
        if data_path is not None:
            raise ConfigError(
                "--data does not apply to split.method=files: the files are named in the experiment"
            )
        with measure() as m_load:
            parts = {
                k: _load(str(exp.resolve(getattr(exp.split, k))), _file_kwargs(exp.dataset))
                for k in ("train", "valid", "test")
                if getattr(exp.split, k)
            }
        timings["load"] = m_load
        with measure() as m_clean:
            split, reports = clean_given_split(parts, cfg)
            data = split.train_valid().concat(split.test)
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
        reports = {"all": report}
        with measure() as m_split:
            split = make_split(data, exp.split, exp.seed, report.timestamp_kind, raw)
        timings["split"] = m_split
        catalog, raw_meta = raw.catalog, dict(raw.meta)
    leak = check_split(split)
    kind = next(iter(reports.values())).timestamp_kind
    return Prepared(
        data=data,
        split=split,
        cleaning=reports,
        card=data_card(data, name=exp.name, timestamp_kind=kind),
        catalog=catalog,
        raw_meta=raw_meta,
        leakage=leak.to_dict(),
        timings=timings,
    )


def _load(target: str, kwargs: dict[str, Any]) -> RawLog:
    """`load_dataset`, with unknown loader options reported as a config error rather than a traceback."""
    try:
        return load_dataset(target, **kwargs)
    except TypeError as exc:
        raise ConfigError(
            f"dataset options {sorted(kwargs)} do not fit the loader for {target}: {exc}"
        ) from exc


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
