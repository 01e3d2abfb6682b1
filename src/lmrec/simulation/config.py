"""The simulation file: dataset, cleaning, users, choice, churn, loop shape, policies, seeds, output.

Validated the way experiment files are (`lmrec.experiment.schema`): the structure is the frozen config
dataclasses of the simulation modules read by pydantic in strict mode with unknown keys forbidden, model
params are checked against each model's config dataclass, and every problem of a file is reported together
with its key path, e.g. `policies[1].params.k: expected an integer, got 'ten'`.

    name: ml100k-feedback
    dataset: {name: ml-100k}
    cleaning: {min_rating: 4}            # any lmrec.data.cleaning.CleaningConfig key
    users: {method: als, factors: 32, boredom: 1.0}
    choice: {position_bias: 0.1}         # beta, users.popularity_weight, no_choice_utility: fitted if absent
    churn: {return_rate: 0.05}
    loop: {rounds: 20, slate_size: 10}
    seeds: [0, 1]
    policies:
      - {name: itemknn, params: {k: 50}}
      - {name: itemknn, rerank: mmr, rerank_params: {lam: 0.3}}
      - {name: als, label: als-once, trained_once: true}
      - {name: sasrec, params: {epochs: 10}, warm_start_epochs: 2}   # refits continue from the last fit
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from lmrec.errors import ConfigError
from lmrec.experiment.config import STRICT, CleaningSpec, DatasetSpec, ModelSpec
from lmrec.simulation.choice import ChoiceConfig
from lmrec.simulation.churn import ChurnConfig
from lmrec.simulation.loop import LoopSettings, PolicySpec
from lmrec.simulation.user_model import UserModelConfig

# the simulation modules' configs stay free of pydantic; the file schema declares them strict here
for _klass in (ChoiceConfig, ChurnConfig, LoopSettings, PolicySpec, UserModelConfig):
    _klass.__pydantic_config__ = STRICT  # type: ignore[union-attr]


@dataclass(frozen=True)
class ValidationSettings:
    """Validation of the simulator on a held-out time window (`lmrec.simulation.validation`)."""

    __pydantic_config__: ClassVar[dict[str, Any]] = STRICT

    enabled: bool = True
    holdout: float = 0.1
    """Share of the log's time span (the latest events) held out."""
    rounds: int = 10
    """Rounds of the popularity-policy simulation compared with the held-out window's distributions."""

    def __post_init__(self) -> None:
        if not 0 < self.holdout < 1:
            raise ValueError(f"holdout must be in (0, 1), got {self.holdout}")
        if self.rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {self.rounds}")


@dataclass(frozen=True)
class Simulation:
    """A whole simulation file."""

    __pydantic_config__: ClassVar[dict[str, Any]] = STRICT

    name: str
    dataset: DatasetSpec
    policies: tuple[PolicySpec, ...]
    seeds: tuple[int, ...] = (0,)
    """One run per policy and seed; the seed drives choices, churn, re-rankers and policy fits."""
    users: UserModelConfig = field(default_factory=UserModelConfig)
    choice: ChoiceConfig = field(default_factory=ChoiceConfig)
    churn: ChurnConfig = field(default_factory=ChurnConfig)
    loop: LoopSettings = field(default_factory=LoopSettings)
    validation: ValidationSettings = field(default_factory=ValidationSettings)
    world_seed: int = 0
    """Seed of the simulated users' fit and calibration: one world shared by every run."""
    summary_rounds: tuple[int, ...] | None = None
    """Rounds (0-based) summarised in results.json (default: first, middle, last)."""
    cleaning: CleaningSpec = field(default_factory=CleaningSpec)
    output: str | None = None
    """Results folder (default runs/<name>)."""
    base_dir: str = "."
    """Folder of the file (set by `load_simulation`), for relative dataset paths."""

    def __post_init__(self) -> None:
        if not self.policies:
            raise ValueError("a simulation needs at least one policy")
        if not self.seeds:
            raise ValueError("seeds: give at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {list(self.seeds)}")
        labels = [p.display for p in self.policies]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ValueError(f"policy labels must be unique; repeated: {dup} (set `label`)")
        bad = [r for r in self.summary_rounds or () if not 0 <= r < self.loop.rounds]
        if bad:
            raise ValueError(f"summary_rounds {bad} are outside 0..{self.loop.rounds - 1}")

    @property
    def report_rounds(self) -> tuple[int, ...]:
        r = self.loop.rounds
        return self.summary_rounds or tuple(sorted({0, r // 2, r - 1}))

    def out_dir(self, override: str | Path | None = None) -> Path:
        return Path(override) if override is not None else Path(self.output or f"runs/{self.name}")

    def resolve(self, path: str | None) -> Path | None:
        if path is None:
            return None
        p = Path(path).expanduser()
        return p if p.is_absolute() else Path(self.base_dir) / p


def _policy_problems(policies: tuple[PolicySpec, ...], seed: int) -> list[str]:
    from lmrec.experiment.schema import check_model
    from lmrec.simulation.rerank import make_reranker

    problems: list[str] = []
    rng = np.random.default_rng(seed)
    for i, spec in enumerate(policies):
        check_model(ModelSpec(name=spec.name, params=dict(spec.params)), f"policies[{i}]", rng, problems)
        if spec.refit_every < 1:
            problems.append(f"policies[{i}].refit_every: must be >= 1, got {spec.refit_every}")
        if spec.warm_start_epochs is not None:
            from lmrec.models.registry import get_model_class

            try:
                klass: Any = get_model_class(spec.name)
            except (ConfigError, KeyError, ValueError):
                klass = None  # check_model has reported the unknown name
            if spec.warm_start_epochs < 1:
                problems.append(
                    f"policies[{i}].warm_start_epochs: must be >= 1, got {spec.warm_start_epochs}"
                )
            elif klass is not None and not klass.warm_starts:
                problems.append(
                    f"policies[{i}].warm_start_epochs: {spec.name} cannot start from its previous fit "
                    "(only models that train in epochs from weights can, e.g. sasrec)"
                )
            if spec.trained_once:
                problems.append(f"policies[{i}].warm_start_epochs: a trained_once policy is never refitted")
        if spec.rerank is None and spec.rerank_params:
            problems.append(f"policies[{i}].rerank_params: given without a rerank")
        if spec.rerank is not None:
            try:
                make_reranker(spec.rerank, spec.rerank_params)
            except ConfigError as exc:
                key = "rerank" if "unknown re-ranker" in str(exc) else "rerank_params"
                problems.append(f"policies[{i}].{key}: {exc}")
    return problems


def _loop_problems(loop: LoopSettings) -> list[str]:
    out = []
    for key in ("rounds", "slate_size", "candidates", "batch_size", "max_pairs", "item_dim"):
        if getattr(loop, key) < 1:
            out.append(f"loop.{key}: must be >= 1, got {getattr(loop, key)}")
    if loop.candidates < loop.slate_size:
        out.append(f"loop.candidates ({loop.candidates}) must be >= loop.slate_size ({loop.slate_size})")
    return out


def parse(data: Any, *, base_dir: str | Path = ".") -> Simulation:
    """The simulation in mapping `data` (a YAML document), or a `ConfigError` listing every problem."""
    from pydantic import TypeAdapter

    from lmrec.experiment.schema import check_cleaning, dataclass_keys, raise_problems, validate_with

    if not isinstance(data, dict):
        raise ConfigError("simulation file must be a mapping at the top level")
    data = dict(data)
    problems: list[str] = []
    cleaning = check_cleaning(data.pop("cleaning", None), problems)
    data.setdefault("base_dir", str(base_dir))
    keys = lambda loc: dataclass_keys(Simulation, loc)  # noqa: E731 - the allowed keys at a location
    sim = validate_with(TypeAdapter(Simulation), data, "", keys, problems)
    if sim is not None:
        problems.extend(_policy_problems(sim.policies, sim.world_seed))
        problems.extend(_loop_problems(sim.loop))
    raise_problems(
        [
            f"simulation:{p.removeprefix('experiment:')}" if p.startswith("experiment:") else p
            for p in problems
        ]
    )
    return dataclasses.replace(sim, cleaning=cleaning)


def load_simulation(path: str | Path) -> Simulation:
    """Read and validate a simulation YAML file; every message starts with the file's path."""
    from lmrec.experiment.schema import load_yaml

    return load_yaml(path, "simulation", parse)
