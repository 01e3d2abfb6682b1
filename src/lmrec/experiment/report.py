"""Results files of a run: results.json, per_user.parquet, leaderboard.md, and the terminal table."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table


def portable_paths(text: str, base: Path | None = None) -> str:
    """Rewrite absolute paths under `base` (default: the working directory) and its parent as relative
    ones, so result files name `../shared/data/...` rather than one machine's folders."""
    base = (base or Path.cwd()).resolve()
    if base.parent == base or base.parent.parent == base.parent:
        return text  # too close to the filesystem root to rewrite safely
    text = text.replace(f"{base}/", "")
    return text.replace(f"{base.parent}/", "../")


def jsonable(obj: Any, *, portable: bool = True) -> Any:
    """Plain JSON values (results files, the service's answers): string keys, numpy scalars and arrays
    unpacked, NaN and infinities as null, config dataclasses and objects with `to_dict` as dicts.

    portable: rewrite paths under the working directory as relative ones (`portable_paths`), as result
    files want; the service passes False."""
    if isinstance(obj, str):
        return portable_paths(obj) if portable else obj
    if isinstance(obj, dict):
        return {str(k): jsonable(v, portable=portable) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v, portable=portable) for v in obj]
    if isinstance(obj, np.generic):
        return jsonable(obj.item(), portable=portable)
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist(), portable=portable)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(dataclasses.asdict(obj), portable=portable)
    if hasattr(obj, "to_dict") and not isinstance(obj, pd.DataFrame):
        return jsonable(obj.to_dict(), portable=portable)
    return obj


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.write_text(json.dumps(jsonable(payload), indent=2, sort_keys=False) + "\n")


def leaderboard_frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    keep = ["model", *[c for c in columns if c in frame.columns]]
    return frame[keep + [c for c in frame.columns if c not in keep]]


def to_markdown(frame: pd.DataFrame, *, floatfmt: str = ".4f") -> str:
    """A GitHub-flavoured Markdown table (no tabulate dependency)."""
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    sep = "|" + "|".join("---:" if _numeric(frame[c]) else "---" for c in frame.columns) + "|"
    body = [
        "| " + " | ".join(_cell(v, floatfmt) for v in row) + " |" for row in frame.itertuples(index=False)
    ]
    return "\n".join([head, sep, *body])


def _numeric(col: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(col)) and not pd.api.types.is_bool_dtype(col)


def _cell(v: Any, floatfmt: str) -> str:
    if isinstance(v, float | np.floating):
        x = float(v)
        if not math.isfinite(x):
            return "–"
        if x != 0 and abs(x) < 1e-4:
            return format(x, ".1e")  # p-values: 0.0000 would hide the order of magnitude
        return format(x, floatfmt)
    return str(v)


def print_table(console: Console, frame: pd.DataFrame, title: str) -> None:
    table = Table(title=title, box=box.SIMPLE_HEAD)
    for col in frame.columns:
        table.add_column(str(col), justify="right" if _numeric(frame[col]) else "left", no_wrap=True)
    for row in frame.itertuples(index=False):
        table.add_row(
            *[_cell(v, ".4f" if abs(v) < 10 else ".1f") if isinstance(v, float) else str(v) for v in row]
        )
    console.print(table)
