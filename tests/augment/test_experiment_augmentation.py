"""`augmentation:` in experiment files: every method end to end through `lmrec run`, the same model with
and without it under one split, the known answer through the runner, and clear errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import scipy.sparse as sp
import yaml
from typer.testing import CliRunner

from lmrec.augment import registry
from lmrec.augment.base import Augmenter, Scorer
from lmrec.cli.app import app
from lmrec.data.features import ItemFeatures
from lmrec.data.interactions import Interactions
from lmrec.errors import ConfigError
from lmrec.experiment.config import parse_experiment
from lmrec.experiment.pipeline import run_experiment
from lmrec.experiment.prepare import prepare

Doc = Callable[..., dict[str, Any]]
cli = CliRunner()


def test_every_method_runs_through_lmrec_run(experiment_doc: Doc, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path / "cache"))
    sparse = {"max_train": 8}
    tfidf = {"encoder": "tfidf:8"}
    models = [
        {"name": "itemknn", "params": {"k": 20}},
        {"name": "itemknn", "params": {"k": 20}, "augmentation": {"method": "random", "amount": 3}},
        {"name": "itemknn", "params": {"k": 20}, "augmentation": {"method": "popularity", "ratio": 0.5}},
        {"name": "itemknn", "params": {"k": 20},
         "augmentation": {"method": "itemknn", "amount": 3, "users": sparse, "params": {"k": 10}}},
        {"name": "itemknn", "params": {"k": 20},
         "augmentation": {"method": "text", "amount": 3, "users": sparse, "item_text": tfidf}},
        {"name": "content", "item_text": tfidf,
         "augmentation": {"method": "text", "amount": 2}, "refit": "train"},
    ]  # fmt: skip
    doc = experiment_doc(
        models, evaluation={"ns": [10], "metrics": ["ndcg", "recall"], "pairs": [["itemknn", "itemknn+text"]]}
    )
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = cli.invoke(app, ["run", str(path), "--out", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "augmentation" in result.stdout
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    by_label = {m["label"]: m for m in results["models"]}
    assert list(by_label) == [
        "itemknn", "itemknn+random", "itemknn+popularity", "itemknn+itemknn", "itemknn+text", "content+text",
    ]  # fmt: skip
    assert "augmentation" not in by_label["itemknn"]
    for label, model in by_label.items():
        if label == "itemknn":
            continue
        aug = model["augmentation"]
        parts = ["train"] if label == "content+text" else ["train", "train+valid"]  # refit: train keeps it
        assert [p for p in ("train", "train+valid") if p in aug] == parts
        for part in parts:
            assert aug[part]["rows_synthetic"] > 0 and aug[part]["placement"] == "prepend"
            assert aug[part]["leakage_check"]["checks"][:2] == ["real rows", "synthetic pairs new"]
        assert 0.0 <= model["test"]["NDCG@10"] <= 1.0
    # users: {max_train: 8} augments only the sparse users; all users otherwise
    assert (
        by_label["itemknn+text"]["augmentation"]["train"]["users_augmented"]
        < (by_label["itemknn+random"]["augmentation"]["train"]["users_augmented"])
    )
    assert (
        by_label["itemknn+text"]["augmentation"]["spec"] == "text, 3 per user, users with <= 8 interactions"
    )
    assert results["pairs"][0]["model"] == "itemknn+text"
    board = (tmp_path / "run" / "leaderboard.md").read_text()
    assert "| augmentation |" in board and "popularity, 0.5 x the user's count, all users" in board
    # the plain and augmented runs share the split: the same test users
    per_user = __import__("pandas").read_parquet(tmp_path / "run" / "per_user.parquet")
    users = per_user.groupby("model")["user"].apply(lambda s: tuple(sorted(s)))
    assert users.nunique() == 1


def test_entries_with_the_same_augmentation_share_one_augmented_log(
    experiment_doc: Doc, tmp_path: Path
) -> None:
    aug = {"method": "random", "amount": 2}
    doc = experiment_doc([{"name": "pop", "augmentation": aug}, {"name": "itemknn", "augmentation": aug}])
    results = run_experiment(parse_experiment(doc), out=tmp_path)
    first, second = (m["augmentation"] for m in results["models"])
    assert second["train"]["memo"] is True
    assert second["train"]["rows_synthetic"] == first["train"]["rows_synthetic"]


# --- known answer through the runner --------------------------------------------------------------------
@dataclass(frozen=True)
class HeldOutOracle(Augmenter):
    """Test only: proposes each user's *test* targets (set by the test before the run). A real augmenter
    cannot see them; this one shows that what `augmentation:` adds reaches the model's fit."""

    method: ClassVar[str] = "oracle"
    targets: ClassVar[sp.csr_matrix | None] = None

    def _scorer(self, data: Interactions, seen: sp.csr_matrix, item_features: ItemFeatures | None) -> Scorer:
        truth = HeldOutOracle.targets
        assert truth is not None

        def score(users: np.ndarray, history: sp.csr_matrix, rng: np.random.Generator) -> np.ndarray:
            out = truth[users].toarray().astype(np.float64)
            out[out <= 0] = -np.inf
            return out

        return score


def test_an_oracle_augmentation_raises_test_recall_in_the_same_run(
    experiment_doc: Doc, weak_log_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry.AUGMENTERS, "oracle", f"{__name__}:HeldOutOracle")
    doc = experiment_doc(
        [
            {"name": "itemknn", "params": {"k": 50}},
            {"name": "itemknn", "params": {"k": 50}, "augmentation": {"method": "oracle", "amount": 50}},
        ],
        dataset={"path": str(weak_log_csv), "format": "tabular"},
    )
    exp = parse_experiment(doc)
    HeldOutOracle.targets = prepare(exp).split.test.csr()
    results = run_experiment(exp, out=tmp_path)
    plain, oracle = (m["test"]["Recall@10"] for m in results["models"])
    assert oracle > plain + 0.05, (plain, oracle)


# --- errors -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("augmentation", "message"),
    [
        ({"method": "gpt"}, "models[1].augmentation.method: unknown augmentation method 'gpt'"),
        ({"method": "itemknn", "params": {"kk": 1}},
         "models[1].augmentation.params: unknown key(s) ['kk'] for augmentation method itemknn of model "
         "ease+itemknn; allowed: ['batch_size', 'k', 'shrink']"),
        ({"method": "popularity", "params": {"exponent": "high"}},
         "models[1].augmentation.params.exponent: expected a float, got 'high'"),
        ({"method": "random", "amount": 0},
         "models[1].augmentation: RandomAugmenter: amount must be a positive"),
        ({"method": "random", "amount": 2, "ratio": 0.5}, "takes `amount` or `ratio`, not both"),
        ({"method": "random", "users": {"min_train": 3}}, "users must be 'all' or {max_train: k}"),
        ({"method": "random", "params": {"max_train": 3}},
         "models[1].augmentation.params.max_train: a common option, given beside method"),
        ({"method": "random", "item_text": {"encoder": "tfidf"}}, "uses no item text"),
        ({"method": "random", "amuont": 3}, "models[1].augmentation: unknown key(s) ['amuont']"),
    ],
)  # fmt: skip
def test_bad_augmentation_entries_are_config_errors_naming_the_entry(
    experiment_doc: Doc, augmentation: dict[str, Any], message: str
) -> None:
    doc = experiment_doc([{"name": "ease"}, {"name": "ease", "augmentation": augmentation}])
    with pytest.raises(ConfigError) as err:
        parse_experiment(doc)
    assert message in str(err.value)


def test_text_augmentation_without_a_catalog_names_the_model(tmp_path: Path) -> None:
    from lmrec.data.synthetic import synthetic_log

    synthetic_log(n_users=40, n_items=20, n_interactions=400, seed=1).to_frame().to_csv(
        tmp_path / "events.csv", index=False
    )
    doc = {
        "name": "no-text",
        "dataset": {"path": str(tmp_path / "events.csv"), "format": "tabular"},
        "evaluation": {"ns": [10], "metrics": ["ndcg"]},
        "models": [{"name": "pop", "augmentation": {"method": "text"}}],
    }
    with pytest.raises(ConfigError, match=r"model pop\+text \(augmentation text\) needs item text"):
        run_experiment(parse_experiment(doc), out=tmp_path / "run")


def test_augmentation_is_for_ranking_experiments(experiment_doc: Doc) -> None:
    doc = experiment_doc([{"name": "biasedmf", "augmentation": {"method": "random"}}], task="rating")
    with pytest.raises(ConfigError, match=r"augmentation is for task=ranking"):
        parse_experiment(doc)


def test_the_cli_reports_a_bad_entry_in_one_line(experiment_doc: Doc, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(experiment_doc([{"name": "pop", "augmentation": {"method": "gpt"}}])))
    result = cli.invoke(app, ["run", str(path), "--out", str(tmp_path / "run")])
    assert result.exit_code != 0
    assert "models[0].augmentation.method: unknown augmentation method 'gpt'" in result.output


def test_the_readme_augmentation_example_parses() -> None:
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Augmentation", 1)[1]
    block = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)[0]
    doc = {"name": "readme", "dataset": {"name": "ml-100k"}, **yaml.safe_load(block)}
    exp = parse_experiment(doc)
    assert [m.display for m in exp.models] == ["itemknn", "itemknn+text"]
    assert exp.models[1].augmentation is not None and exp.models[1].augmentation.max_train == 10
