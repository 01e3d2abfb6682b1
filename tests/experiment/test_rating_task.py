"""task=rating (protocol P3): folds are checked for leakage, --data is honoured, test is scored once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lmrec.data.vocabulary import Vocabulary
from lmrec.errors import ConfigError, DataError, LeakageError
from lmrec.experiment.config import parse_experiment
from lmrec.experiment.pipeline import run_experiment

MODEL = [{"name": "biasedmf", "params": {"factors": 10, "iterations": 5}}]


def rating_exp(**split):  # type: ignore[no-untyped-def]
    return parse_experiment(
        {
            "name": "r",
            "task": "rating",
            "dataset": {"name": "ml-100k"},
            "split": {"method": "files", **split},
            "models": MODEL,
        }
    )


def test_official_fold_with_data_flag(ml100k_dir: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("LMREC_DATA_HOME", raising=False)
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path / "empty-cache"))
    exp = rating_exp(folds=[{"train": "u1.base", "test": "u1.test"}])
    res = run_experiment(exp, out=tmp_path, data_path=str(ml100k_dir))
    fold = res["models"][0]["folds"][0]
    assert fold["test"]["n_test"] == 20_000
    assert 0.85 < fold["test"]["RMSE"] < 1.0
    assert res["folds"][0]["leakage_check"]["checks"]
    assert (tmp_path / "leaderboard.md").read_text().count("u1.base -> u1.test") == 1
    report = json.loads((tmp_path / "report.json").read_text())  # the report of a rating run: its table
    assert report["report"]["kind"] == "rating"
    assert report["leaderboard"]["rows"][0]["mean"]["RMSE"] == pytest.approx(fold["test"]["RMSE"], rel=1e-5)


def test_fold_whose_test_repeats_train_is_refused(ml100k_dir: Path, tmp_path: Path) -> None:
    lines = (ml100k_dir / "u1.base").read_text().splitlines()
    train, test = tmp_path / "train.tsv", tmp_path / "test.tsv"
    train.write_text("\n".join(lines) + "\n")
    test.write_text("\n".join(lines[:100]) + "\n")
    exp = parse_experiment(
        {
            "name": "leaky",
            "task": "rating",
            "dataset": {
                "path": str(train),
                "format": "tabular",
                "options": {"sep": "\t", "names": ["user", "item", "rating", "timestamp"]},
                "columns": {"user": "user", "item": "item", "rating": "rating", "timestamp": "timestamp"},
            },
            "split": {"method": "files", "folds": [{"train": str(train), "test": str(test)}]},
            "models": MODEL,
        }
    )
    with pytest.raises(LeakageError):
        run_experiment(exp, out=tmp_path / "out")


def test_k_core_on_given_split_is_refused(tmp_path: Path) -> None:
    for part in ("train", "test"):
        (tmp_path / f"{part}.csv").write_text("user,item,timestamp\n1,1,1\n2,1,2\n")
    exp = parse_experiment(
        {
            "name": "kcore",
            "dataset": {
                "path": str(tmp_path / "train.csv"),
                "format": "tabular",
                "columns": {"user": "user", "item": "item", "timestamp": "timestamp"},
            },
            "cleaning": {"user_core": 2},
            "split": {
                "method": "files",
                "train": str(tmp_path / "train.csv"),
                "test": str(tmp_path / "test.csv"),
            },
            "models": [{"name": "pop"}],
        }
    )
    with pytest.raises(ConfigError, match="k-core"):
        run_experiment(exp, out=tmp_path / "out")


def test_model_that_predicts_no_ratings_is_refused(tmp_path: Path) -> None:
    exp = parse_experiment(
        {
            "name": "r",
            "task": "rating",
            "dataset": {"name": "ml-100k"},
            "split": {"method": "files", "folds": [{"train": "u1.base", "test": "u1.test"}]},
            "models": [{"name": "ease"}],
        }
    )
    with pytest.raises(ConfigError, match=r"predicts_ratings.*ease"):
        run_experiment(exp, out=tmp_path)


def test_bayesfm_implicit_features_see_no_held_out_pair(tmp_path: Path, monkeypatch) -> None:
    """Every fit of a rating run builds the implicit features from the pairs it is trained on: the
    validation fit from the train file minus the carve-out, the refit from the train file; no fit sees a
    pair of the test file (whose ratings are unknown at fit time, as in u1.base/u1.test)."""
    from lmrec.models.bayes_fm import BayesFM, import_myfm

    try:
        myfm = import_myfm()
    except ImportError:
        pytest.skip("myfm is not installed (pip install 'lmrec[rating]')")
    rng = np.random.default_rng(0)
    users, items = np.nonzero(rng.random((40, 30)) < 0.5)
    frame = pd.DataFrame({"user": users + 1, "item": items + 1, "rating": rng.integers(1, 6, users.size)})
    frame["timestamp"] = np.arange(len(frame))
    test_rows = rng.random(len(frame)) < 0.2
    files = {"train": frame[~test_rows], "test": frame[test_rows]}
    for part, rows in files.items():
        rows.to_csv(tmp_path / f"{part}.tsv", sep="\t", header=False, index=False)
    raw = {part: set(zip(rows["user"], rows["item"], strict=True)) for part, rows in files.items()}

    seen: list[set[tuple[int, int]]] = []
    fit_data: list = []
    original_fit, original_sampler = BayesFM._fit_attributed, myfm.MyFMGibbsRegressor.fit

    def record_fit(model, data, rng, attributes):  # type: ignore[no-untyped-def]
        fit_data.append(data)
        return original_fit(model, data, rng, attributes)

    def record_sampler(fm, x, y, **kwargs):  # type: ignore[no-untyped-def]
        data = fit_data[-1]
        user_block = kwargs["X_rel"][0].data.tocsr()
        implicit = user_block[:, data.n_users :].tocoo()
        ids = zip(data.user_vocab.id(implicit.row), data.item_vocab.id(implicit.col), strict=True)
        seen.append({(int(u), int(i)) for u, i in ids})
        return original_sampler(fm, x, y, **kwargs)

    monkeypatch.setattr(BayesFM, "_fit_attributed", record_fit)
    monkeypatch.setattr(myfm.MyFMGibbsRegressor, "fit", record_sampler)
    exp = parse_experiment(
        {
            "name": "bfm",
            "task": "rating",
            "dataset": {
                "path": str(tmp_path / "train.tsv"),
                "format": "tabular",
                "options": {"sep": "\t", "names": ["user", "item", "rating", "timestamp"]},
                "columns": {"user": "user", "item": "item", "rating": "rating", "timestamp": "timestamp"},
            },
            "split": {
                "method": "files",
                "folds": [{"train": str(tmp_path / "train.tsv"), "test": str(tmp_path / "test.tsv")}],
            },
            "models": [{"name": "bayesfm", "params": {"rank": 2, "n_iter": 10}}],
        }
    )
    res = run_experiment(exp, out=tmp_path / "out")
    assert len(seen) == 2  # the validation fit, then the refit on the whole train file
    valid_fit, refit = seen
    assert valid_fit < raw["train"] and len(raw["train"] - valid_fit) > 0  # the carve-out is left out
    assert refit == raw["train"]
    assert not (valid_fit | refit) & raw["test"]
    assert res["models"][0]["folds"][0]["test"]["n_test"] == len(files["test"])


def test_movielens_attributes_reach_bayesfm(ml100k_dir: Path, tmp_path: Path) -> None:
    """`attributes:` from u.user and the item catalog are encoded per fold and given to bayesfm's fits;
    a model that asks for attributes the file does not give is a clear error."""
    from lmrec.models.bayes_fm import import_myfm

    try:  # not pytest.importorskip("myfm"): myfm 0.4.0 imports only through lmrec's pkg_resources stand-in
        import_myfm()
    except ImportError:
        pytest.skip("myfm is not installed (pip install 'lmrec[rating]')")
    doc = {
        "name": "attr",
        "task": "rating",
        "dataset": {"path": str(ml100k_dir)},
        "split": {"method": "files", "folds": [{"train": "u1.base", "test": "u1.test"}]},
        "attributes": {
            "user": {"source": "movielens_users", "columns": {"age": "bin:10", "occupation": "category"}},
            "item": {"source": "catalog", "columns": {"genres": "multi", "release_date": "year:10"}},
        },
        "models": [{"name": "bayesfm", "params": {"rank": 2, "n_iter": 10, "item_attributes": True}}],
        "save_models": False,
    }
    res = run_experiment(parse_experiment(doc), out=tmp_path / "a")
    facts = res["folds"][0]["attributes"]
    assert facts["user"]["groups"]["occupation"] == 21 and facts["user"]["ids_without_row"] == 0
    # genres: u.item's 19 flags less "unknown" (the loader reads it as no genre)
    assert facts["item"]["groups"]["genres"] == 18 and facts["item"]["ids_without_row"] == 0
    assert 0.85 < res["models"][0]["folds"][0]["test"]["RMSE"] < 1.1
    del doc["attributes"]["user"]
    doc["models"][0]["params"]["user_attributes"] = True
    with pytest.raises(ConfigError, match="user_attributes is true but the fit was given no user attributes"):
        run_experiment(parse_experiment(doc), out=tmp_path / "b")


def test_attribute_section_errors(tmp_path: Path) -> None:
    base = {"name": "x", "task": "rating", "dataset": {"name": "ml-100k"}, "models": [{"name": "bayesfm"}]}
    bad = [
        ({"user": {"source": "catalog", "columns": {"genres": "multi"}}}, "the catalog describes items"),
        ({"item": {"source": "items.csv", "columns": {"genres": "multi"}}}, "need `id_column`"),
        ({"item": {"source": "catalog", "columns": {}}}, "at least one column"),
        ({"item": {"source": "catalog", "columns": {"genres": "multi"}, "colour": 1}}, "colour"),
    ]
    for section, message in bad:
        with pytest.raises(ConfigError, match=message):
            parse_experiment({**base, "attributes": section})
    with pytest.raises(ConfigError, match="attributes are read by task=rating"):
        parse_experiment(
            {
                **base,
                "task": "ranking",
                "attributes": {"item": {"source": "catalog", "columns": {"g": "multi"}}},
            }
        )
    missing = {**base, "split": {"method": "files", "folds": [{"train": "u1.base", "test": "u1.test"}]}}
    table = {"source": str(tmp_path / "nope.csv"), "id_column": "item", "columns": {"g": "category"}}
    from lmrec.experiment.attributes import load_attribute_tables

    with pytest.raises(DataError, match=r"nope\.csv does not exist"):
        load_attribute_tables(parse_experiment({**missing, "attributes": {"item": table}}), catalog=None)


def test_attribute_table_errors_name_the_file_line(tmp_path: Path) -> None:
    """A table file is read with its line numbers: a bad value, a repeated id and a line with too few fields
    are each reported by file line (header = line 1), and nothing is dropped silently."""
    from lmrec.experiment.attributes import load_attribute_tables

    base = {"name": "x", "task": "rating", "dataset": {"name": "ml-100k"}, "models": [{"name": "bayesfm"}]}
    base["split"] = {"method": "files", "folds": [{"train": "u1.base", "test": "u1.test"}]}

    def load(text: str, name: str = "items.csv") -> Any:
        path = tmp_path / name
        path.write_text(text)
        table = {"source": str(path), "id_column": "item", "columns": {"year": "bin:10", "zip": "prefix:2"}}
        exp = parse_experiment({**base, "attributes": {"item": table}})
        vocab = Vocabulary(np.array([1, 2, 3]))
        return load_attribute_tables(exp, catalog=None).encode(vocab, vocab)

    got = load("item,year,zip,extra\n1,1994,02138,a\n\n2,2001,10023,b\n")
    assert got.item is not None and got.item.groups == (("year", 2), ("zip", 2))  # "02" kept as text
    np.testing.assert_array_equal(got.item.matrix.toarray()[:, 2:], [[1, 0], [0, 1], [0, 0]])
    with pytest.raises(DataError, match=r"items.csv, column year: line 4: 'soon' is not a number"):
        load("item,year,zip,extra\n1,1994,02138,a\n\n2,soon,10023,b\n")
    with pytest.raises(DataError, match=r"ids listed more than once: '1' \(line 3\)"):
        load("item,year,zip,extra\n1,1994,02138,a\n1,2001,10023,b\n")
    with pytest.raises(DataError, match=r"items.csv: 1 line\(s\) do not have the header's 4 fields \(line 3"):
        load("item,year,zip,extra\n1,1994,02138,a\n2,2001\n3,1990,10023,c\n")
    with pytest.raises(DataError, match=r"no column\(s\) \['zip'\]"):
        load("item,year\n1,1994\n")
    with pytest.raises(DataError, match=r"cannot tell the format from the name"):
        load("item,year,zip\n1,1994,02138\n", name="items.txt")
    with pytest.raises(DataError, match=r"column year: line 3: 'x' is not a number"):
        load("item\tyear\tzip\n1\t1994\t02138\n2\tx\t1\n", name="items.tsv")
