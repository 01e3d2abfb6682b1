"""Saving and loading any Recommender: `model.json` (class, config, versions) plus `arrays.npz`.

No pickle anywhere: the class is looked up in the registry by name and rebuilt from its config; arrays are
plain numeric numpy arrays (`allow_pickle=False`). Models add their learned arrays through the `_state` /
`_set_state` hooks and anything else (a hybrid's components, a tuned encoder) through `_save_extra` /
`_load_extra`. A damaged or foreign file is a `DataError` naming it.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from lmrec import __version__
from lmrec.data.vocabulary import Vocabulary
from lmrec.errors import DataError

if TYPE_CHECKING:
    from lmrec.models.base import Recommender

FORMAT_VERSION = 1
REQUIRED_ARRAYS = ("user_ids", "item_ids", "history_indptr", "history_indices")


def save_model(model: Recommender, path: Path) -> Path:
    """Write a fitted model into folder `path` (created if needed); returns `path`."""
    path.mkdir(parents=True, exist_ok=True)
    hist = model.history_
    arrays = {
        "user_ids": model.user_vocab_.ids,
        "item_ids": model.item_vocab_.ids,
        "history_indptr": hist.indptr,
        "history_indices": hist.indices,
        **{f"state_{k}": np.asarray(v) for k, v in model._state().items()},
    }
    np.savez(path / "arrays.npz", **arrays)  # savez of non-object arrays needs no pickle
    meta = {
        "format_version": FORMAT_VERSION,
        "lmrec_version": __version__,
        "model": model.name,
        "config": dataclasses.asdict(model.config),
        "n_users": len(model.user_vocab_),
        "n_items": len(model.item_vocab_),
        "items_appended": model.item_vocab_.appended,
        "training": getattr(model, "training_", {}),
    }
    widened = [k for k, v in (("user", model.user_vocab_), ("item", model.item_vocab_)) if v.integer_text]
    if widened:  # vocabularies widened from integer ids (`Vocabulary.integer_text`)
        meta["integer_text_ids"] = widened
    (path / "model.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
    model._save_extra(path)
    return path


def load_model(path: Path, expected: type[Recommender] | None = None) -> Recommender:
    """The model saved in folder `path`; `expected`: refuse (TypeError) a model of another class."""
    from lmrec.models.registry import get_model_class, make_model

    meta_file = path / "model.json"
    if not meta_file.is_file():
        raise FileNotFoundError(f"{path} is not a saved lmrec model (no model.json)")
    try:
        meta = json.loads(meta_file.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{meta_file} is not valid JSON ({exc}); save the model again") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{meta_file}: unsupported format_version {meta.get('format_version')}")
    klass = get_model_class(meta["model"])
    if expected is not None and not issubclass(klass, expected):
        raise TypeError(f"{path} holds a {klass.__name__}, not a {expected.__name__}")
    model = make_model(meta["model"], config=klass.config_class(**meta["config"]))
    folder = _stored_in(path, meta.get("stored_in"))
    arrays = _read_arrays(folder / "arrays.npz")
    widened = meta.get("integer_text_ids", [])
    model.user_vocab_ = Vocabulary(arrays["user_ids"], integer_text="user" in widened)
    model.item_vocab_ = Vocabulary(
        arrays["item_ids"], integer_text="item" in widened, appended=int(meta.get("items_appended", 0))
    )
    indices = arrays["history_indices"]
    model.history_ = sp.csr_matrix(
        (np.ones(indices.shape[0], dtype=np.float32), indices, arrays["history_indptr"]),
        shape=(len(model.user_vocab_), len(model.item_vocab_)),
    )
    model.training_ = meta.get("training", {})
    model._set_state({k[6:]: v for k, v in arrays.items() if k.startswith("state_")})
    model._load_extra(folder)
    return model


def _stored_in(path: Path, where: Any) -> Path:
    """The folder holding a saved model's arrays: `path` itself, or the sub-folder `model.json` names."""
    if where is None:
        return path
    folder = (path / str(where)).resolve()
    if not isinstance(where, str) or not folder.is_relative_to(path.resolve()) or not folder.is_dir():
        raise ValueError(f"{path / 'model.json'}: stored_in {where!r} is not a folder inside {path}")
    return folder


def _read_arrays(file: Path) -> dict[str, np.ndarray]:
    """Every array of a saved model's `arrays.npz`; a truncated, empty or foreign file is a `DataError`
    naming it (numpy would say BadZipFile or EOFError without the path)."""
    if not file.is_file():
        raise DataError(f"{file} is missing: the model folder is incomplete; save the model again")
    try:  # the file is opened here so that it is closed when numpy fails to read it
        with file.open("rb") as handle, np.load(handle, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise DataError(
            f"{file} is damaged or truncated ({type(exc).__name__}: {exc}); save the model again"
        ) from None
    missing = [k for k in REQUIRED_ARRAYS if k not in arrays]
    if missing:
        raise DataError(f"{file} lacks the arrays {missing}: it is not an lmrec model's arrays file")
    return arrays
