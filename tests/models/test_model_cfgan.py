"""CFGAN: conformance, what it learns on two disjoint item blocks under each negative-sampling scheme, the
ZR/PM sampler, early stopping on validation, seeds, per-epoch progress, config errors naming the field, and
the identity-collapse diagnostic."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np
import pytest
import scipy.sparse as sp

from lmrec.errors import ConfigError
from lmrec.eval import evaluate_ranking
from lmrec.models.base import Recommender
from lmrec.models.fit_context import Validation
from lmrec.models.registry import make_model
from lmrec.testing.conformance import RecommenderConformance
from lmrec.testing.datasets import random_blocks, random_interactions

torch = pytest.importorskip("torch", reason="torch is installed by scripts/setup.sh (extra 'lm')")

from lmrec.models.cfgan.diagnostics import collapse_stats, identity_collapse  # noqa: E402
from lmrec.models.cfgan.networks import Discriminator, Generator, SparseRows  # noqa: E402
from lmrec.models.cfgan.recommender import CFGAN, CFGANConfig  # noqa: E402
from lmrec.models.cfgan.trainer import SPARSE_BELOW, reads_sparse, sample_share, train_cfgan  # noqa: E402

SMALL: dict[str, Any] = {
    "g_hidden": (32,),
    "d_hidden": (16,),
    "batch_size": 12,
    "g_learning_rate": 3e-3,
    "d_learning_rate": 3e-3,
    "num_threads": 1,
}


class TestCFGAN(RecommenderConformance):
    """Zero reconstruction alone solves the known-answer logs exactly. With partial masking the
    discriminator, which sees the real profile as its condition, pushes G to 0 on every unpurchased item,
    held-out ones included (the identity collapse the ECIR 2022 study describes): on `block_identity` that
    costs most users their single held-out item, so the schemes with PM are checked on the two-block task
    below instead."""

    contract_overrides: ClassVar[dict[str, Any]] = {"epochs": 3}

    def make_model(self, **overrides: Any) -> Recommender:
        return CFGAN(**{**SMALL, "scheme": "zr", "epochs": 150, **overrides})


@pytest.mark.parametrize(
    ("scheme", "min_auc", "all_users"), [("zr", 1.0, True), ("zp", 0.99, True), ("pm", 0.9, False)]
)
def test_own_block_items_outscore_the_other_block(scheme: str, min_auc: float, all_users: bool) -> None:
    data = random_blocks()
    x = data.csr().toarray() > 0
    lr = {"g_learning_rate": 1e-2, "d_learning_rate": 1e-2, "batch_size": 10}
    model = CFGAN(**{**SMALL, **lr, "scheme": scheme, "epochs": 100}).fit(data, seed=0)
    scores = model.score(np.arange(data.n_users))
    own_block = (np.arange(data.n_items) // 12)[None, :] == (np.arange(data.n_users) % 2)[:, None]
    candidates = own_block & ~x  # the user's unpurchased items of their own block
    lowest_own = np.where(candidates, scores, np.inf).min(axis=1)
    highest_other = np.where(own_block, -np.inf, scores).max(axis=1)
    auc = np.mean(
        [(scores[u, candidates[u]][:, None] > scores[u, ~own_block[u]][None, :]).mean() for u in range(40)]
    )
    assert auc >= min_auc, (scheme, auc)
    if all_users:
        assert (lowest_own > highest_other).all(), np.flatnonzero(lowest_own <= highest_other)


def test_sample_share_draws_the_share_of_unpurchased_items_only() -> None:
    purchased = torch.zeros(3, 20, dtype=torch.bool)
    purchased[0, :5] = True
    purchased[1, :19] = True
    generator = torch.Generator().manual_seed(0)
    drawn = sample_share(purchased, 0.7, generator)
    assert drawn.sum(dim=1).tolist() == [10, 0, 14]  # floor(0.7 x 15), floor(0.7 x 1), floor(0.7 x 20)
    assert not (drawn & purchased).any()
    again = sample_share(purchased, 0.7, torch.Generator().manual_seed(0))
    assert torch.equal(drawn, again)
    assert not sample_share(purchased, 0.0, generator).any()
    assert (sample_share(purchased, 1.0, generator) == ~purchased).all()


def test_sample_share_matches_a_full_sort_of_the_keys() -> None:
    """The per-distinct-k selection draws exactly what sorting every row's keys did."""
    for seed, (n, density) in enumerate([(7, 0.0), (60, 0.05), (500, 0.5), (300, 0.97)]):
        purchased = torch.rand(16, n, generator=torch.Generator().manual_seed(seed)) < density
        for share in (0.01, 0.3, 0.7, 1.0):
            keys = torch.rand(purchased.shape, generator=torch.Generator().manual_seed(seed))
            keys = keys.masked_fill(purchased, 2.0)
            take = torch.floor((~purchased).sum(dim=1) * share + 1e-9).long()
            cut = keys.sort(dim=1).values.gather(1, (take - 1).clamp(min=0)[:, None])
            expected = (keys <= cut) & ~purchased & (take > 0)[:, None]
            drawn = sample_share(purchased, share, torch.Generator().manual_seed(seed))
            assert torch.equal(drawn, expected), (n, density, share)


@pytest.mark.parametrize(("scheme", "noise_size"), [("zr", 0), ("zp", 3), ("pm", 0)])
def test_sparse_input_trains_what_the_dense_rows_train(scheme: str, noise_size: int) -> None:
    """The first layers read the profiles' nonzeros; the dense products give the same training up to float
    rounding (PM's unmasked vector stays dense, its condition sparse)."""
    data = random_interactions()
    profiles = data.csr()
    profiles.data[:] = 1.0
    config = CFGANConfig(**{**SMALL, "scheme": scheme, "noise_size": noise_size, "epochs": 3})
    weights = []
    for sparse in (True, False):
        torch.manual_seed(0)
        gen = Generator(data.n_items, config.g_hidden, config.activation, config.dropout, noise_size)
        disc = Discriminator(data.n_items, config.d_hidden, config.activation, config.dropout)
        train_cfgan(gen, disc, profiles, np.arange(data.n_users), config, seed=1, sparse_input=sparse)
        weights.append(torch.cat([p.detach().flatten() for p in [*gen.parameters(), *disc.parameters()]]))
    assert not torch.equal(weights[0], torch.zeros_like(weights[0]))
    torch.testing.assert_close(weights[0], weights[1], rtol=1e-4, atol=1e-5)
    rows = SparseRows.from_csr(profiles[:5])
    dense = torch.from_numpy(profiles[:5].toarray())
    torch.testing.assert_close(gen.logits(rows), gen.logits(dense))


def test_first_layers_read_nonzeros_only_for_sparse_profiles() -> None:
    n_items = 1000
    sparse = sp.random(50, n_items, density=SPARSE_BELOW / 2, format="csr", random_state=0)
    dense = sp.random(50, n_items, density=SPARSE_BELOW * 2, format="csr", random_state=0)
    assert reads_sparse(sparse) and not reads_sparse(dense)
    assert not reads_sparse(sp.csr_matrix((0, n_items)))


def test_seeds_and_thread_setting() -> None:
    data = random_interactions()
    users = np.arange(data.n_users)
    params = {**SMALL, "epochs": 4, "noise_size": 3, "dropout": 0.2}
    a = CFGAN(**params).fit(data, seed=5).score(users)
    np.testing.assert_array_equal(a, CFGAN(**params).fit(data, seed=5).score(users))
    assert not np.array_equal(a, CFGAN(**params).fit(data, seed=6).score(users))
    before = torch.get_num_threads()
    CFGAN(**params).fit(data, seed=5)
    assert torch.get_num_threads() == before  # the model's num_threads is set only while it runs


def test_progress_per_epoch_and_training_record(caplog: pytest.LogCaptureFixture) -> None:
    data = random_interactions()
    with caplog.at_level(logging.INFO, logger="lmrec.train"):
        model = CFGAN(**{**SMALL, "epochs": 3}).fit(data, seed=0)
    lines = [r.getMessage() for r in caplog.records if r.name == "lmrec.train"]
    assert len(lines) == 3 and lines[0].startswith("cfgan epoch 1/3 d_loss ")
    t = model.training_
    assert t["epochs_run"] == 3 and t["best_epoch"] == 3 and len(t["d_losses"]) == len(t["g_losses"]) == 3
    assert t["diagnostics"]["users"] == data.n_users  # the identity-collapse check of every fit


def test_early_stopping_keeps_the_best_generator_and_the_refit_reuses_its_epoch() -> None:
    data = random_interactions(60, 30, density=0.3, seed=1)
    train = data.subset(np.arange(len(data)) % 5 != 0)
    valid = data.subset(np.arange(len(data)) % 5 == 0)
    model = CFGAN(**{**SMALL, "epochs": 40, "eval_every": 2, "patience": 2})
    model.fit(train, seed=0, validation=Validation(valid, train, metric="NDCG@10"))
    t = model.training_
    assert t["metric"] == "NDCG@10" and len(t["valid"]) >= 1
    assert t["best_valid"] == pytest.approx(max(t["valid"]), abs=1e-6) and t["best_epoch"] % 2 == 0
    again = evaluate_ranking(model, valid.csr(), train.csr(), ns=(), metrics=["NDCG@10"])
    assert again.summary()["NDCG@10"] == pytest.approx(t["best_valid"])  # the kept generator is the best
    assert model.selected_params() == {"epochs": t["best_epoch"]}
    assert t["stopped_early"] and t["epochs_run"] == t["best_epoch"] + 2 * 2  # patience x eval_every


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"scheme": "zz"}, "scheme"),
        ({"g_hidden": [64, 0]}, "g_hidden"),
        ({"d_hidden": "64"}, "d_hidden"),
        ({"activation": "gelu"}, "activation"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"d_steps": 0}, "d_steps"),
        ({"noise_size": -1}, "noise_size"),
        ({"g_learning_rate": 0.0}, "g_learning_rate"),
        ({"d_reg": -1.0}, "d_reg"),
        ({"zr_ratio": 1.5}, "zr_ratio"),
        ({"pm_ratio": -0.1}, "pm_ratio"),
        ({"zr_coefficient": -1.0}, "zr_coefficient"),
        ({"dropout": 1.0}, "dropout"),
        ({"num_threads": 0}, "num_threads"),
        ({"zr_ration": 0.5}, "zr_ration"),
        ({"epochs": "many"}, "epochs"),
    ],
)
def test_config_errors_name_the_field(params: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        make_model("cfgan", params)


def test_yaml_lists_become_layer_tuples() -> None:
    config = CFGANConfig(g_hidden=[64, 32], d_hidden=[])  # type: ignore[arg-type]
    assert config.g_hidden == (64, 32) and config.d_hidden == ()


def test_the_experiment_threads_reach_cfgan() -> None:
    from lmrec.experiment.config import parse_experiment
    from lmrec.experiment.runner import _with_threads

    exp = parse_experiment(
        {"name": "t", "dataset": {"name": "ml-100k"}, "threads": 1, "models": [{"name": "cfgan"}]}
    )
    assert _with_threads(exp, CFGAN, {}) == {"num_threads": 1}
    assert _with_threads(exp, CFGAN, {"num_threads": 2}) == {"num_threads": 2}


# --- the identity-collapse diagnostic ----------------------------------------------------------------
def test_collapse_stats_of_an_exact_copy_and_of_a_constant() -> None:
    profiles = sp.csr_matrix(
        np.array([[1, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0]], dtype=np.float32)
    )
    copy = collapse_stats(profiles.toarray(), profiles, k=2)
    assert copy == {
        "users": 2.0,  # the empty profile is left out
        "k": 2.0,
        "cosine": 1.0,
        "topk_in_profile": 0.75,  # user 1 has one item, so half of its top 2 must be new
        "topk_in_profile_identity": 0.75,
        "mean_purchased": 1.0,
        "mean_unpurchased": 0.0,
    }
    flat = collapse_stats(np.full((3, 6), 0.5), profiles, k=2)
    assert flat["mean_purchased"] == flat["mean_unpurchased"] == 0.5
    np.testing.assert_allclose(flat["cosine"], np.mean([np.sqrt(2 / 6), np.sqrt(1 / 6)]), rtol=1e-5)
    with pytest.raises(ValueError, match="shape"):
        collapse_stats(np.zeros((2, 6)), profiles)


def test_identity_collapse_flags_an_identity_like_generator() -> None:
    data = random_interactions()
    model = CFGAN(**{**SMALL, "g_hidden": (), "epochs": 1}).fit(data, seed=0)  # G = sigmoid(W c + b)
    layer = model.generator_.net[0]
    with torch.no_grad():  # W = 20 I, b = -10: 1 on the profile's items, 0 elsewhere
        layer.weight.copy_(20.0 * torch.eye(data.n_items))
        layer.bias.fill_(-10.0)
    stats = identity_collapse(model)
    assert stats["users"] == data.n_users
    assert stats["cosine"] > 0.999 and stats["mean_purchased"] > 0.999 and stats["mean_unpurchased"] < 1e-4
    assert stats["topk_in_profile"] == stats["topk_in_profile_identity"]
    fitted = CFGAN(**{**SMALL, "epochs": 3}).fit(data, seed=0)
    assert identity_collapse(fitted)["cosine"] < stats["cosine"]
    some = identity_collapse(fitted, np.array([0, 1]))
    assert some["users"] == 2
    given = identity_collapse(fitted, history=data.csr()[[0, 1]])
    assert given == some


def test_identity_collapse_in_blocks_equals_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from lmrec.models.cfgan import diagnostics

    data = random_interactions()
    model = CFGAN(**{**SMALL, "epochs": 2}).fit(data, seed=0)
    whole = collapse_stats(model.generate(data.csr()), data.csr(), k=5)
    monkeypatch.setattr(diagnostics, "BLOCK", 7)
    assert identity_collapse(model, k=5) == whole
