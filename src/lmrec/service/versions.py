"""Saving a retrained model into its model folder atomically: write the new version, then switch.

A model folder after retrains (`POST /admin/retrain`, `--retrain-every`, `lmrec retrain`):

    MODEL_DIR/
      model.json                    the model to serve; after a retrain it names where its arrays are:
                                    "stored_in": "versions/000003-5f1c09ab"
      versions/000003-5f1c09ab/     the served version: a complete saved model (model.json, arrays.npz, ...)
      versions/000002-0e4b7d21/     the version it replaced (kept one switch longer, see below)
      arrays.npz, ...               the model `lmrec train` wrote (no longer read once a retrain switched)
      events.sqlite, data_card.json, metrics.json

`save_version` writes the new model into a hidden staging folder, fsyncs it and renames it into
`versions/` (atomic), then writes the new `model.json` beside the old one, fsyncs it and renames it over
the old one (atomic): the switch. A crash before that rename leaves the old `model.json`, which names the
old model, intact; after it the new one is complete on disk. `Recommender.load` follows `stored_in`, so
every reader (the service on restart, `lmrec recommend`, `lmrec evaluate`) sees the same model. Folders of
versions older than the one just replaced are then deleted; the replaced one stays, so a reader that read
the previous `model.json` a moment ago can still open its arrays.

The version number is the service's model version (1 for the model `lmrec train` wrote, +1 per retrain),
kept in the model's training info (`lmrec.service.core.MODEL_VERSION`) and so in `model.json`; it names
the folder too, with a random tag so that two writers never pick the same folder. One writer per model
folder at a time: a service and an offline `lmrec retrain` on the same folder race for the switch.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

VERSIONS = "versions"
MODEL_FILE = "model.json"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    for root, _dirs, files in os.walk(folder):
        for name in files:
            _fsync(Path(root) / name)
        _fsync(Path(root))


def stored_in(model_dir: Path) -> str | None:
    """The version folder `model_dir/model.json` names (None: the arrays sit in `model_dir` itself)."""
    path = model_dir / MODEL_FILE
    if not path.is_file():
        return None
    where = json.loads(path.read_text()).get("stored_in")
    return where if isinstance(where, str) else None


def save_version(model: Any, model_dir: Path, version: int) -> Path:
    """Save `model` as version `version` of `model_dir` and switch `model.json` to it (see the module
    docstring); returns the version folder. Any error leaves the model served before in place."""
    model_dir = Path(model_dir)
    versions = model_dir / VERSIONS
    versions.mkdir(parents=True, exist_ok=True)
    name = f"{version:06d}-{secrets.token_hex(4)}"
    staging, final = versions / f".{name}.tmp", versions / name
    try:
        model.save(staging)
        _fsync_tree(staging)
        os.rename(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _fsync(versions)
    meta = json.loads((final / MODEL_FILE).read_text())
    meta["stored_in"] = f"{VERSIONS}/{name}"
    previous = stored_in(model_dir)
    tmp = model_dir / f".{MODEL_FILE}.{name}.tmp"
    try:
        with open(tmp, "w") as f:
            f.write(json.dumps(meta, indent=2, sort_keys=True))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, model_dir / MODEL_FILE)  # the switch
    except BaseException:
        tmp.unlink(missing_ok=True)
        shutil.rmtree(final, ignore_errors=True)
        raise
    _fsync(model_dir)
    _remove_old(versions, keep={name, Path(previous).name if previous else ""})
    return final


def _remove_old(versions: Path, keep: set[str]) -> None:
    """Delete version folders (and staging left by a crash) other than `keep`."""
    for entry in versions.iterdir():
        if entry.name not in keep and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
