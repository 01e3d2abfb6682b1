"""The `cfgan` augmenter: synthetic rows marked, only items new to the user and with data, seeded from the
augment seed whatever the scoring block, the user's own taste block proposed, options checked by the
model's config, and `augmentation: {method: cfgan}` through an experiment file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lmrec.augment import make_augmenter
from lmrec.data.interactions import Interactions
from lmrec.data.leakage import check_augmented
from lmrec.data.vocabulary import Vocabulary
from lmrec.errors import ConfigError
from lmrec.experiment.config import parse_experiment
from lmrec.experiment.pipeline import run_experiment
from lmrec.testing.datasets import random_blocks

pytest.importorskip("torch", reason="torch is installed by scripts/setup.sh (extra 'lm')")

QUICK: dict[str, Any] = {
    "scheme": "zr",
    "g_hidden": (32,),
    "d_hidden": (16,),
    "train_batch_size": 10,
    "g_learning_rate": 1e-2,
    "d_learning_rate": 1e-2,
    "epochs": 60,
    "num_threads": 1,
}


def with_an_item_nobody_bought(data: Interactions) -> Interactions:
    """`data` with one more catalog item (the last index) that has no interaction."""
    ids = np.append(data.item_vocab.ids, data.item_vocab.ids.max() + 1)
    return Interactions(
        users=data.users, items=data.items, user_vocab=data.user_vocab, item_vocab=Vocabulary(ids)
    )


def pairs(data: Interactions) -> set[tuple[int, int]]:
    return set(zip(data.users.tolist(), data.items.tolist(), strict=True))


def test_rows_are_marked_new_to_the_user_with_data_and_of_the_users_own_block() -> None:
    data = with_an_item_nobody_bought(random_blocks())
    out = make_augmenter("cfgan", QUICK, amount=3).augment(data, seed=0)
    syn = out.synthetic_rows()
    assert out.n_synthetic == 3 * data.n_users and len(syn) == out.n_synthetic
    assert check_augmented(out, data).to_dict()["checks"][:2] == ["real rows", "synthetic pairs new"]
    np.testing.assert_array_equal(out.real().items, data.items)
    assert not pairs(syn) & pairs(data)  # never one of the user's own items
    assert data.n_items - 1 not in set(syn.items.tolist())  # never an item without interactions
    assert (syn.items // 12 == syn.users % 2).all()  # G proposes the user's own taste block


def test_seeded_from_the_augment_seed_whatever_the_scoring_block() -> None:
    data = random_blocks()
    small = {**QUICK, "epochs": 5, "scheme": "zp"}
    a = make_augmenter("cfgan", small, amount=2).augment(data, seed=4)
    b = make_augmenter("cfgan", {**small, "batch_size": 7}, amount=2).augment(data, seed=4)
    np.testing.assert_array_equal(a.data.items, b.data.items)
    np.testing.assert_array_equal(a.synthetic, b.synthetic)
    c = make_augmenter("cfgan", small, amount=2).augment(data, seed=5)
    assert pairs(a.synthetic_rows()) != pairs(c.synthetic_rows())


def test_nothing_is_fitted_when_no_user_is_selected() -> None:
    data = random_blocks(per_user=6)
    out = make_augmenter("cfgan", {"epochs": 10_000}, amount=2, max_train=5).augment(data, seed=0)
    assert out.n_synthetic == 0 and out.users_selected == 0  # instant: 10,000 epochs never ran


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"zr_ratio": 2.0}, "CFGANAugmenter: zr_ratio must be in [0, 1]"),
        ({"train_batch_size": 0}, "CFGANAugmenter: train_batch_size must be an integer >= 1"),
        ({"batch_size": 0}, "CFGANAugmenter: batch_size must be a positive integer"),
        ({"scheme": "gan"}, "CFGANAugmenter: scheme must be one of"),
        ({"patience": 3}, "has no parameter 'patience'"),
    ],
)
def test_bad_options_are_config_errors_naming_the_field(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        make_augmenter("cfgan", params)
    assert message in str(err.value)


def test_yaml_lists_become_the_configs_layer_tuples() -> None:
    augmenter = make_augmenter("cfgan", {"g_hidden": [8, 4]})
    assert augmenter.g_hidden == (8, 4)  # type: ignore[attr-defined]
    assert augmenter.model_config().g_hidden == (8, 4)  # type: ignore[attr-defined]
    hash(augmenter)


def test_augmentation_method_cfgan_in_an_experiment_file(
    experiment_doc: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    params = {"epochs": 3, "g_hidden": [16], "d_hidden": [8], "num_threads": 1}
    aug = {"method": "cfgan", "amount": 2, "params": params}
    doc = experiment_doc([{"name": "itemknn", "params": {"k": 20}, "augmentation": aug}])
    results = run_experiment(parse_experiment(doc), out=tmp_path)
    model = results["models"][0]
    assert model["label"] == "itemknn+cfgan"
    for part in ("train", "train+valid"):
        facts = model["augmentation"][part]
        assert facts["method"] == "cfgan" and facts["rows_synthetic"] > 0
        assert facts["leakage_check"]["checks"][:2] == ["real rows", "synthetic pairs new"]
    bad = experiment_doc(
        [{"name": "ease"}, {"name": "ease", "augmentation": {"method": "cfgan", "params": {"zr_ratio": 2.0}}}]
    )
    with pytest.raises(ConfigError, match=r"models\[1\]\.augmentation: CFGANAugmenter: zr_ratio must be"):
        parse_experiment(bad)
