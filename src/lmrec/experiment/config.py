"""The experiment file: dataset, cleaning, split, models with search spaces, metrics.

These dataclasses are the schema of the file: `lmrec.experiment.schema` validates a YAML document against
them (pydantic, strict, unknown keys forbidden, as `STRICT` says on each class), so an unknown key or a
wrong type is a `ConfigError` naming the key path and the allowed keys, never a silent default (RecBole's
typo-becomes-None is what we avoid).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

SPLIT_METHODS = (
    "leave_one_out",
    "temporal_ratio",
    "global_temporal",
    "random_ratio",
    "files",
    "given",
    "cold_items",
    "rare_items",
)
TASKS = ("ranking", "rating")
STRICT: dict[str, Any] = {"extra": "forbid", "strict": True}
"""pydantic's config for every class below (a plain dict: pydantic is imported only to parse a file)."""


@dataclass(frozen=True)
class DatasetSpec:
    """Where the interactions come from."""

    __pydantic_config__: ClassVar[dict[str, Any]] = STRICT

    name: str | None = None
    """Registered dataset name (e.g. ml-100k, ml-latest-small, amazon-beauty); see `lmrec data list`."""
    path: str | None = None
    """Local folder, zip or file; overrides download. Relative paths are relative to the experiment file."""
    format: str | None = None
    """Force a format for `path`: movielens, amazon, sequences, user-item-lines, tabular (default: detect)."""
    columns: dict[str, str] | None = None
    """For tabular files: mapping of user/item/rating/timestamp to the file's column names."""
    options: dict[str, Any] = field(default_factory=dict)
    """Extra keyword options passed to the loader (e.g. sep, timestamp_format)."""

    def __post_init__(self) -> None:
        if not self.name and not self.path:
            raise ValueError("dataset needs a `name` or a `path`")


@dataclass(frozen=True)
class CleaningSpec:
    """Options of `lmrec.data.cleaning.CleaningConfig`; see its docs for each key."""

    __pydantic_config__: ClassVar[dict[str, Any]] = STRICT

    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SplitSpec:
    """How to split; `params` go to the split function (e.g. train: 0.8, valid: 0.1, seed)."""

    __pydantic_config__: ClassVar[dict[str, Any]] = STRICT

    method: str = "temporal_ratio"
    """One of leave_one_out, temporal_ratio, global_temporal, random_ratio, files, given (the split the
    dataset is published with, e.g. UniSRec's .train/.valid/.test.inter, kept exactly), or the P4 slices
    cold_items / rare_items (params: base, base_params, and fraction or max_train_count)."""
    params: dict[str, Any] = field(default_factory=dict)
    train: str | None = None
    """For method=files: path of the train file (valid is optional, test required)."""
    valid: str | None = None
    test: str | None = None
    folds: tuple[dict[str, str], ...] = ()
    """For task=rating with method=files: a list of {train, test} pairs, evaluated one by one."""

    def __post_init__(self) -> None:
        if self.method not in SPLIT_METHODS:
            raise ValueError(f"split.method must be one of {SPLIT_METHODS}, not {self.method!r}")
        if self.method == "files" and not (self.test or self.folds):
            raise ValueError("split.method=files needs `train` and `test` paths (or `folds`)")
        if self.method == "given" and self.params:
            raise ValueError(
                f"split.method=given takes no params (the dataset fixes the split), got {self.params}"
            )


@dataclass(frozen=True)
class SearchSpec:
    """Hyper-parameter search on the validation split: a full grid (optionally widened at its edges),
    `n_iter` random draws, or `n_trials` Bayesian (Optuna TPE) trials. The test split is never seen."""

    __pydantic_config__: ClassVar[dict[str, Any]] = STRICT

    grid: dict[str, list[Any]] | None = None
    """Every combination of these values."""
    random: dict[str, Any] | None = None
    """Space for random search: key -> list of choices, or {uniform: [lo, hi]}, {loguniform: [lo, hi]},
    {int: [lo, hi]}."""
    n_iter: int = 10
    """Number of random draws (random search only)."""
    optuna: dict[str, Any] | None = None
    """Space for Bayesian search with Optuna (`lmrec.experiment.optuna_search`), in `random`'s syntax: TPE
    sampler seeded from the experiment seed, trials one after the other (each proposal reads the scores
    before it)."""
    n_trials: int | None = None
    """Number of Optuna trials (default `DEFAULT_TRIALS`); optuna search only."""
    pruner: Literal["median", "none"] | None = None
    """Optuna search only: "median" (default) stops a trial of a model that trains in epochs when its
    validation score at an epoch falls below the median of the earlier trials at that epoch (the trial is
    recorded as pruned and cannot be selected); "none" lets every trial train to its end."""
    widen: bool = False
    """Grid search only: when the selection sits on the smallest or largest value of a numeric
    parameter's grid (of 3 or more numeric values), extend that grid one step beyond the edge and search
    the new candidates on validation, at most `MAX_WIDENINGS` times (`lmrec.experiment.search.widen`).
    Without it such a selection is flagged (a warning, and `edge` in results.json)."""

    def __post_init__(self) -> None:
        given = [k for k in ("grid", "random", "optuna") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"search takes one of `grid`, `random` or `optuna`, got {' and '.join(given)}")
        if self.optuna is None and (self.n_trials is not None or self.pruner is not None):
            raise ValueError("n_trials and pruner are options of `optuna` search; this search has none")
        if self.widen and self.grid is None:
            raise ValueError("widen is an option of `grid` search; this search has no grid")

    @property
    def method(self) -> str:
        """ "grid", "random", "optuna", or "fixed" (no space: the params as given)."""
        return next((k for k in ("grid", "random", "optuna") if getattr(self, k) is not None), "fixed")

    @property
    def trials(self) -> int:
        """The Optuna trial budget (`n_trials`, or its default)."""
        return DEFAULT_TRIALS if self.n_trials is None else self.n_trials


DEFAULT_TRIALS = 20
"""Optuna trials of a search that does not set `n_trials`."""
MAX_WIDENINGS = 2
"""Times a grid with `widen: true` is extended at an edge of the selection."""


@dataclass(frozen=True)
class AugmentationSpec:
    """Training-data augmentation of one model entry (`lmrec.augment`): pseudo-interactions added to the
    model's fit data only (train when tuning, train+valid when refitted), after the split, seeded from the
    experiment seed; validation and test targets and histories stay the split's own."""

    __pydantic_config__: ClassVar[dict[str, Any]] = STRICT

    method: str
    """random, popularity, itemknn or text (see `lmrec.augment`)."""
    amount: int | None = None
    """Pseudo-interactions per selected user (default 5)."""
    ratio: float | None = None
    """Instead of `amount`: ceil(ratio x the user's interaction count) per user."""
    users: Any = "all"
    """"all", or {max_train: k}: only users with at most k interactions in the data being augmented
    (checked here rather than by a type union, so a mistake gets one message)."""
    params: dict[str, Any] = field(default_factory=dict)
    """Options of the method (e.g. itemknn: k, shrink; popularity: exponent)."""
    item_text: dict[str, str] | None = None
    """For method text: {encoder, template} of the item embeddings (default: the model's `item_text`, else
    the default encoder)."""

    def __post_init__(self) -> None:
        if self.amount is not None and self.ratio is not None:
            raise ValueError("takes `amount` or `ratio`, not both")
        users = self.users
        k = users.get("max_train") if isinstance(users, dict) and set(users) == {"max_train"} else None
        if users != "all" and (type(k) is not int or k < 1):
            raise ValueError(
                f"users must be 'all' or {{max_train: k}} with k a positive integer, got {users!r}"
            )
        unknown = sorted(set(self.item_text or {}) - {"encoder", "template"})
        if unknown:
            raise ValueError(f"item_text: unknown key(s) {unknown}; allowed: ['encoder', 'template']")

    @property
    def max_train(self) -> int | None:
        return int(self.users["max_train"]) if isinstance(self.users, dict) else None

    def describe(self) -> str:
        """One line for leaderboards: "text, 5 per user, users with <= 10 interactions"."""
        from lmrec.augment.base import Augmenter  # numpy and scipy: not needed to parse a file

        amount = self.amount if self.amount is not None else Augmenter.amount
        how = f"{self.ratio:g} x the user's count" if self.ratio is not None else f"{amount} per user"
        who = "all users" if self.max_train is None else f"users with <= {self.max_train} interactions"
        extra = "".join(f", {k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.method}, {how}, {who}{extra}"


@dataclass(frozen=True)
class AttributeTableSpec:
    """Where one side's attributes come from and how each column is encoded (`lmrec.data.attributes`)."""

    __pydantic_config__: ClassVar[dict[str, Any]] = STRICT

    source: str
    """"movielens_users" (the dataset's u.user / users.dat), "catalog" (the dataset's item catalog), or
    the path of a CSV, TSV or Parquet table (relative to the experiment file) with `id_column`."""
    columns: dict[str, str]
    """Column -> rule: category, multi[:SEP], bin:W, prefix:N, year:W (e.g. {age: "bin:5"})."""
    id_column: str | None = None
    """For a table file: the column holding the user or item ids."""

    def __post_init__(self) -> None:
        if not self.columns:
            raise ValueError("attributes: `columns` must name at least one column")
        is_file = self.source not in ("movielens_users", "catalog")
        if is_file and not self.id_column:
            raise ValueError(f"attributes from the table {self.source!r} need `id_column`")
        if not is_file and self.id_column:
            raise ValueError(f"attributes from {self.source!r} take no `id_column` (it knows its ids)")


@dataclass(frozen=True)
class AttributesSpec:
    """User and item attributes for models that use them (`uses_attributes`: bayesfm with
    user_attributes / item_attributes)."""

    __pydantic_config__: ClassVar[dict[str, Any]] = STRICT

    user: AttributeTableSpec | None = None
    item: AttributeTableSpec | None = None

    def __post_init__(self) -> None:
        if self.user is None and self.item is None:
            raise ValueError("attributes needs `user` or `item`")
        if self.user is not None and self.user.source == "catalog":
            raise ValueError("attributes.user: the catalog describes items; use movielens_users or a table")
        if self.item is not None and self.item.source == "movielens_users":
            raise ValueError("attributes.item: movielens_users describes users; use catalog or a table")


@dataclass(frozen=True)
class ModelSpec:
    """One model of the experiment."""

    __pydantic_config__: ClassVar[dict[str, Any]] = STRICT

    name: str
    """Registry name: pop, itemknn, ease, als, bpr, biasedmf."""
    label: str | None = None
    """Display name in the leaderboard (default: the registry name)."""
    params: dict[str, Any] = field(default_factory=dict)
    """Fixed hyper-parameters."""
    search: SearchSpec | None = None
    refit: str | None = None
    """Overrides evaluation.refit for this model: "train" keeps the model selected on validation (for
    sequence models with early stopping, the best-on-validation checkpoint), "train+valid" refits."""
    item_text: dict[str, str] | None = None
    """For content-aware models: {encoder: "minilm" | "tfidf" | a sentence-transformers name or path,
    template: "{title}. {genres}" (default: the catalog's text fields)}."""
    augmentation: AugmentationSpec | None = None
    """Pseudo-interactions added to this model's fit data (`AugmentationSpec`); the default label is then
    "<name>+<method>", so the same model can be listed with and without it."""

    def __post_init__(self) -> None:
        if self.refit not in (None, "train", "train+valid"):
            raise ValueError(f"model refit must be 'train' or 'train+valid', not {self.refit!r}")
        unknown = sorted(set(self.item_text or {}) - {"encoder", "template"})
        if unknown:
            raise ValueError(f"item_text: unknown key(s) {unknown}; allowed: ['encoder', 'template']")

    @property
    def display(self) -> str:
        if self.label:
            return self.label
        return self.name if self.augmentation is None else f"{self.name}+{self.augmentation.method}"


@dataclass(frozen=True)
class EvaluationSpec:
    """Metrics and protocol options."""

    __pydantic_config__: ClassVar[dict[str, Any]] = STRICT

    ns: tuple[int, ...] = (10, 20)
    """List lengths n for every metric."""
    metrics: tuple[str, ...] = ("ndcg", "recall", "precision", "hit_rate", "mrr", "map")
    select_by: str | None = None
    """Validation metric for model selection: default NDCG@10 (higher is better) for task=ranking; task=rating
    always selects by validation RMSE (lower is better)."""
    exclude_seen: bool = True
    """Remove each user's known items (train at validation; train+valid at test) from the ranking."""
    refit: str = "train+valid"
    """Data the selected configuration is fitted on for the test: "train+valid" or "train"."""
    test_input: str = "train+valid"
    """History each model is given at test time: "train+valid" (lmrec's P1) or "train" (P1-peer, the
    rule of the peer libraries' runs). The ranking excludes train+valid either way (`exclude_seen`)."""
    batch_size: int = 1024
    """Users scored per batch (memory: batch_size x n_items float32)."""
    user_sample: int | None = None
    """Evaluate a seeded uniform sample of this many users (never a sample of items); None = all users."""
    sampled_negatives: int | None = None
    """Rank each target against this many sampled negatives instead of the full catalog (labelled)."""
    significance: bool = True
    """Paired t-test, Wilcoxon and bootstrap CI of every model against the best one on the test split."""
    pairs: tuple[tuple[str, str], ...] = ()
    """Further paired tests on the test split, as [baseline label, model label] pairs (e.g. a model with
    and without one option); reported as model − baseline."""

    def __post_init__(self) -> None:
        if self.refit not in ("train+valid", "train"):
            raise ValueError(f"evaluation.refit must be 'train+valid' or 'train', not {self.refit!r}")
        if self.test_input not in ("train+valid", "train"):
            raise ValueError(
                f"evaluation.test_input must be 'train+valid' or 'train', not {self.test_input!r}"
            )
        if self.test_input == "train" and self.refit == "train+valid":
            raise ValueError(
                "evaluation.test_input 'train' needs evaluation.refit 'train' (P1-peer: fit on train, "
                "test input train); a model refitted on train+valid would be scored without the "
                "validation events it was fitted on"
            )
        if not self.ns or any(int(n) <= 0 for n in self.ns):
            raise ValueError(f"evaluation.ns must be positive list lengths, got {self.ns}")
        bad = [p for p in self.pairs if not isinstance(p, list | tuple) or len(p) != 2 or p[0] == p[1]]
        if bad:
            raise ValueError(
                f"evaluation.pairs: each pair is [baseline, model], two different labels; got {bad}"
            )
        object.__setattr__(self, "pairs", tuple((str(a), str(b)) for a, b in self.pairs))


@dataclass(frozen=True)
class RaySpec:
    """Run the experiment's evaluations (user shards) and search trials on Ray (`lmrec.distributed`); the
    numbers are the same as in one process."""

    __pydantic_config__: ClassVar[dict[str, Any]] = STRICT

    address: str = "local"
    """"local": a Ray instance started for this run; "auto": the cluster `ray start` made on this
    machine; HOST:PORT: the address of a running cluster's head."""
    search: bool = True
    """Run a model's search candidates as parallel Ray tasks (each with `threads` CPUs; hybrids, which
    take their components from the run, search in this process)."""

    def __post_init__(self) -> None:
        if not self.address.strip():
            raise ValueError("ray.address must be 'local', 'auto' or HOST:PORT")


@dataclass(frozen=True)
class Experiment:
    """A whole experiment file."""

    __pydantic_config__: ClassVar[dict[str, Any]] = STRICT

    name: str
    dataset: DatasetSpec
    models: tuple[ModelSpec, ...]
    task: str = "ranking"
    """"ranking" (top-n, implicit) or "rating" (RMSE/MAE on explicit ratings)."""
    seed: int = 42
    cleaning: CleaningSpec = field(default_factory=CleaningSpec)
    split: SplitSpec = field(default_factory=SplitSpec)
    evaluation: EvaluationSpec = field(default_factory=EvaluationSpec)
    output: str | None = None
    """Folder for results (default runs/<name>); relative to the current directory."""
    threads: int | None = None
    """Threads for BLAS and implicit (default: all cores)."""
    ray: RaySpec | None = None
    """Evaluate and search on a Ray cluster (default: in this process)."""
    attributes: AttributesSpec | None = None
    """User and item attributes given to the models that use them (task=rating)."""
    save_models: bool = True
    """Save each selected, refitted model under <output>/models/<label> (for `lmrec recommend`)."""
    protocol: str | None = None
    """Free text naming the protocol followed (e.g. "P1 of shared/PROTOCOLS.md"); copied into results."""
    base_dir: str = "."
    """Folder of the experiment file (set by `load_experiment`), for relative dataset paths."""

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, not {self.task!r}")
        if not self.models:
            raise ValueError("an experiment needs at least one model")
        augmented = [m.display for m in self.models if m.augmentation is not None]
        if self.task == "rating" and augmented:
            raise ValueError(f"augmentation is for task=ranking; remove it from models {augmented}")
        searched = [m.display for m in self.models if m.search is not None and m.search.method == "optuna"]
        widened = [m.display for m in self.models if m.search is not None and m.search.widen]
        if self.task == "rating" and (searched or widened):  # rating folds search grids and random draws
            raise ValueError(
                f"optuna search and grid widening are for task=ranking; models {searched + widened} use them"
            )
        if self.attributes is not None and self.task != "rating":
            raise ValueError(
                "attributes are read by task=rating experiments (bayesfm); a ranking experiment does not "
                "pass them to its models yet, so remove the `attributes` section"
            )
        self._check_selection()
        labels = [m.display for m in self.models]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ValueError(f"model labels must be unique; repeated: {dup} (set `label`)")
        unknown = sorted({x for p in self.evaluation.pairs for x in p} - set(labels))
        if unknown:
            raise ValueError(f"evaluation.pairs: no model is labelled {unknown}; the labels are {labels}")

    @property
    def select_by(self) -> str:
        """The metric that model selection uses (resolved default)."""
        if self.task == "rating":
            return "RMSE"
        return self.evaluation.select_by or "NDCG@10"

    def _check_selection(self) -> None:
        from lmrec.eval.metrics import metric_specs, parse_metric

        sel = self.evaluation.select_by
        if self.task == "rating":
            if sel not in (None, "RMSE"):
                raise ValueError(
                    f"task=rating selects by validation RMSE; evaluation.select_by={sel!r} is invalid"
                )
            return
        try:
            labels = [m.label for m in metric_specs(self.evaluation.metrics, self.evaluation.ns)]
            wanted = parse_metric(self.select_by).label
        except (ValueError, KeyError) as exc:
            raise ValueError(f"evaluation: {exc}") from exc
        if wanted not in labels:
            raise ValueError(
                f"evaluation.select_by={wanted} is not among the evaluated metrics {labels}; "
                "add its name to evaluation.metrics and its n to evaluation.ns"
            )

    def resolve(self, path: str | None) -> Path | None:
        if path is None:
            return None
        p = Path(path).expanduser()
        return p if p.is_absolute() else Path(self.base_dir) / p


def parse_experiment(data: dict[str, Any], *, base_dir: str | Path = ".") -> Experiment:
    """Experiment from a mapping (the YAML document), validated by `lmrec.experiment.schema`."""
    from lmrec.experiment.schema import parse

    return parse(data, base_dir=base_dir)


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment YAML file (`lmrec.experiment.schema`)."""
    from lmrec.experiment.schema import load

    return load(path)
