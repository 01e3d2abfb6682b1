"""lmrec on a real two-node local Ray cluster (conftest.py): evaluation shards, batch recommendation and
parallel search give exactly what one process gives (same lists, same metrics to the last digit)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lmrec.data.splits import temporal_ratio
from lmrec.data.synthetic import synthetic_log
from lmrec.distributed import RayEngine
from lmrec.distributed.batch import recommend_users
from lmrec.eval import evaluate_ranking
from lmrec.experiment.config import parse_experiment
from lmrec.experiment.pipeline import run_experiment
from lmrec.models.registry import make_model

SASREC = {"embedding_size": 16, "epochs": 3, "batch_size": 64, "num_threads": 1, "max_len": 20}
MODELS = [("pop", {}), ("itemknn", {"k": 20}), ("ease", {"reg": 50.0}), ("als", {"factors": 16}),
          ("sasrec", SASREC)]  # fmt: skip


@pytest.fixture(scope="module")
def engine(ray_cluster: str) -> Iterator[RayEngine]:
    """One driver connection for the module (engines entered inside it reuse it and leave it open)."""
    with RayEngine(ray_cluster) as eng:
        yield eng


@pytest.fixture(scope="module")
def split() -> Any:
    return temporal_ratio(synthetic_log(n_users=900, n_items=400, n_interactions=30_000, seed=5), 0.8, 0.1)


def _evaluate(model: Any, split: Any, **kw: Any) -> Any:
    history = split.train_valid()
    return evaluate_ranking(
        model,
        split.test.csr(),
        history.csr(),
        ns=[5, 10],
        metrics=["ndcg", "recall", "mrr", "MRR@all"],
        batch_size=64,  # 14 batches: every one of the engine's shards holds several
        sequences=history.sequences() if model.uses_sequences else None,
        **kw,
    )


def test_the_cluster_has_two_nodes(engine: RayEngine) -> None:
    facts = engine.describe()
    assert facts["nodes"] == 2 and facts["workers"] == 2 and facts["engine"] == "ray"


@pytest.mark.parametrize(("name", "params"), MODELS, ids=[m[0] for m in MODELS])
def test_evaluation_on_the_cluster_is_the_single_process_one(
    engine: RayEngine, split: Any, name: str, params: dict[str, Any]
) -> None:
    model = make_model(name, params).fit(split.train_valid(), seed=3)
    popularity = np.asarray((split.train_valid().csr() > 0).sum(axis=0)).ravel()
    kw = {"keep_lists": True, "item_popularity": popularity}
    here, there = _evaluate(model, split, **kw), _evaluate(model, split, engine=engine, **kw)
    pd.testing.assert_frame_equal(here.per_user, there.per_user, check_exact=True)
    assert np.array_equal(here.lists, there.lists)
    assert here.aggregates == there.aggregates and here.summary() == there.summary()


def test_sampled_evaluation_and_extra_exclusions_match_too(engine: RayEngine, split: Any) -> None:
    model = make_model("itemknn", {"k": 20}).fit(split.train_valid(), seed=3)
    kw = {"sampled_negatives": 50, "seed": 11, "exclude": split.valid.csr()}
    here, there = _evaluate(model, split, **kw), _evaluate(model, split, engine=engine, **kw)
    pd.testing.assert_frame_equal(here.per_user, there.per_user, check_exact=True)


def test_batch_recommendation_on_the_cluster_is_the_single_process_one(engine: RayEngine, split: Any) -> None:
    model = make_model("als", {"factors": 16}).fit(split.train, seed=3)
    here = recommend_users(model, n=15, batch_size=50)
    there = recommend_users(model, n=15, batch_size=50, engine=engine)
    assert np.array_equal(here.users, there.users) and np.array_equal(here.items, there.items)
    assert np.array_equal(here.scores, there.scores)
    one = model.recommend(np.array([7]), n=15)  # the one ranking path
    assert np.array_equal(here.items[7], one.items[0])


def _experiment(log: Path, ray: dict[str, Any] | None) -> Any:
    blend = {"components": [{"name": "pop"}, {"name": "ease", "params": {"reg": 50.0}}], "fit_users": 0}
    spec = {
        "name": "on-ray",
        "seed": 4,
        "threads": 1,
        "dataset": {"path": str(log), "format": "tabular", "columns": {"user": "user", "item": "item"}},
        "split": {"method": "temporal_ratio", "params": {"train": 0.8, "valid": 0.1}},
        "evaluation": {"ns": [10], "metrics": ["ndcg", "recall"], "select_by": "NDCG@10", "batch_size": 64},
        "models": [
            {"name": "itemknn", "search": {"grid": {"k": [5, 50], "shrink": [0.0, 10.0]}}},
            {"name": "sasrec", "params": SASREC, "search": {"grid": {"dropout": [0.0, 0.3]}},
             "refit": "train"},
            {"name": "weighted", "params": blend},  # a hybrid: its search stays in the driver
        ],
        **({"ray": ray} if ray is not None else {}),
    }  # fmt: skip
    return parse_experiment(spec)


def test_an_experiment_on_the_cluster_has_the_numbers_of_a_local_run(
    engine: RayEngine, tmp_path: Path
) -> None:
    log = tmp_path / "log.csv"
    synthetic_log(n_users=400, n_items=150, n_interactions=9_000, seed=8).to_frame().to_csv(log, index=False)
    local = run_experiment(_experiment(log, None), out=tmp_path / "local")
    remote = run_experiment(_experiment(log, {"address": engine.address}), out=tmp_path / "ray")
    assert local["engine"] == {"engine": "local", "workers": 1}
    assert remote["engine"]["engine"] == "ray" and remote["engine"]["nodes"] == 2
    searched = [m["timings"]["search_fit_seconds_total"]["engine"] for m in remote["models"]]
    assert searched == ["ray", "ray", "local"]  # the hybrid searches in the driver
    for a, b in zip(local["models"], remote["models"], strict=True):
        assert a["label"] == b["label"] and a["test"] == b["test"] and a["selected"] == b["selected"]
        assert [t["valid"] for t in a["trials"]] == [t["valid"] for t in b["trials"]]
    lists = [pd.read_parquet(p / "recommendations.parquet") for p in (tmp_path / "local", tmp_path / "ray")]
    pd.testing.assert_frame_equal(*lists)


def test_recommend_all_command_on_the_cluster(engine: RayEngine, split: Any, tmp_path: Path) -> None:
    from lmrec.cli.app import app

    model = make_model("ease", {"reg": 50.0}).fit(split.train, seed=3)
    model.save(tmp_path / "model")
    runner = CliRunner()
    outs = []
    for extra in ([], ["--ray", engine.address]):
        out = tmp_path / f"recs{len(extra)}.parquet"
        res = runner.invoke(
            app, ["recommend-all", "--model", str(tmp_path / "model"), "--out", str(out), "-n", "5", *extra]
        )
        assert res.exit_code == 0, res.output
        assert f"{len(model.user_vocab_)} users" in res.output
        outs.append(pd.read_parquet(out))
    pd.testing.assert_frame_equal(*outs)
    assert list(outs[0].columns) == ["user", "rank", "item", "score"] and len(outs[0]) == 5 * len(
        model.user_vocab_
    )
    json.dumps(engine.describe())  # what results.json records is JSON
