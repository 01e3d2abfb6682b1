"""Files beside a saved model that describe it, shown by the service's `GET /model`.

- `data_card.json`: the data card of the interactions the model was fitted on (`lmrec train` writes it);
- `metrics.json`: the latest `lmrec evaluate` result per split ({"test": {...}, "valid": {...}}).

Both are optional: a model saved from Python has neither until they are written.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

DATA_CARD_FILE = "data_card.json"
METRICS_FILE = "metrics.json"


def read_json(path: Path) -> Any:
    """The JSON in `path`, or None when the file does not exist."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None


def record_metrics(model_dir: Path, split: str, result: dict[str, Any]) -> Path:
    """Store `result` as the latest evaluation on `split` in `model_dir/metrics.json` (atomic replace)."""
    path = Path(model_dir) / METRICS_FILE
    stored = read_json(path) or {}
    stored[split] = {**result, "evaluated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(stored, indent=2, default=float) + "\n")
    tmp.replace(path)
    return path
