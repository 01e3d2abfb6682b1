"""What `clean` removed and why: per-reason counts with the first examples, and the report it returns.

Deciding which rows go is `lmrec.data.cleaning` (and `lmrec.data.kcore`); this module only describes it.
An example is a `Problem` (`file:line: column 'x' = 'v': reason`) showing the text of the file where the
loader could not parse a value, so a report says `'four': not a number` rather than `nan`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lmrec.data.raw import BadValueIndex, Problem

if TYPE_CHECKING:
    # only for the annotation: `cleaning` imports this module at run time
    from lmrec.data.cleaning import CleaningConfig

N_EXAMPLES = 5


@dataclass(frozen=True)
class Removal:
    """How many rows one reason removed, with the first examples (lowest input row positions)."""

    count: int
    examples: tuple[Problem, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "examples": [str(p) for p in self.examples]}


@dataclass(frozen=True)
class CoreRound:
    """One round of the iterative k-core: what it removed."""

    round: int
    rows_removed: int
    users_removed: int
    items_removed: int


@dataclass(frozen=True)
class CleaningReport:
    """What `clean` did. Invariant: rows_in - sum(removed counts) == rows_out."""

    name: str
    config: CleaningConfig
    rows_in: int
    """Rows of the raw frame (lines the loader could not parse are in `loader_problems`, not here)."""
    rows_out: int
    users_in: int
    """Distinct non-missing user ids in the raw frame."""
    users_out: int
    items_in: int
    items_out: int
    removed: dict[str, Removal]
    """Reason -> removal, only reasons that removed something, in pass order."""
    core_rounds: tuple[CoreRound, ...] = ()
    loader_problems: Removal = field(default_factory=lambda: Removal(0))
    implicit: bool = False
    """True when the raw log had no rating at all (`Interactions.ratings` is None)."""
    timestamp_kind: str | None = None
    """"unix" / "position" from the loader's meta, "unknown" if it did not say, None without timestamps."""
    floored_timestamps: int = 0
    """Fractional timestamps rounded down to whole units (kept, not removed)."""
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "config": self.config.to_dict(),
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "users_in": self.users_in,
            "users_out": self.users_out,
            "items_in": self.items_in,
            "items_out": self.items_out,
            "removed": {k: v.to_dict() for k, v in self.removed.items()},
            "core_rounds": [dataclasses.asdict(r) for r in self.core_rounds],
            "loader_problems": self.loader_problems.to_dict(),
            "implicit": self.implicit,
            "timestamp_kind": self.timestamp_kind,
            "floored_timestamps": self.floored_timestamps,
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        lines = [
            f"cleaning {self.name!r}: {self.rows_in:,} rows in, {self.rows_out:,} out "
            f"({self.rows_in - self.rows_out:,} removed)",
            f"  users {self.users_in:,} -> {self.users_out:,}; items {self.items_in:,} -> {self.items_out:,}",
            f"  ratings: {'none (implicit)' if self.implicit else 'explicit'}; "
            f"timestamps: {self.timestamp_kind or 'none'}",
        ]
        if self.loader_problems.count:
            lines.append(
                f"  {self.loader_problems.count:,} line(s) the loader could not parse (not in rows_in)"
            )
            lines += [f"      {p}" for p in self.loader_problems.examples]
        for reason, rem in self.removed.items():
            lines.append(f"  removed {rem.count:,} row(s): {reason}")
            lines += [f"      {p}" for p in rem.examples]
        for r in self.core_rounds:
            lines.append(
                f"  k-core round {r.round}: {r.rows_removed:,} rows, {r.users_removed:,} users, "
                f"{r.items_removed:,} items removed"
            )
        if self.floored_timestamps:
            lines.append(f"  {self.floored_timestamps:,} fractional timestamp(s) rounded down")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


# --- examples -------------------------------------------------------------------------------------
def _first(positions: np.ndarray, k: int = N_EXAMPLES) -> np.ndarray:
    """The k smallest positions, sorted (examples are shown in file order)."""
    if positions.size > k:
        positions = np.partition(positions, k)[:k]
    return np.sort(positions)


def _fmt(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def loader_reason(unparsed: BadValueIndex, column: str, default: str) -> Any:
    """A reason function for `Examples`: the loader's reason for the row's text, else `default`."""

    def why(row: int) -> str:
        found = unparsed.get(column, row)
        return default if found is None else found[1]

    return why


class Examples:
    """Builds `Problem`s for rows of the raw frame, showing the file's text for values that did not parse."""

    def __init__(self, frame: pd.DataFrame, unparsed: BadValueIndex) -> None:
        self.frame = frame
        self.unparsed = unparsed

    def __call__(self, positions: np.ndarray, column: Any, reason: Any) -> tuple[Problem, ...]:
        """`column` and `reason` are strings or functions of the row position."""
        source, line = self.frame["source"], self.frame["line"]
        out = []
        for p in _first(positions):
            col = column(int(p)) if callable(column) else column
            why = reason(int(p)) if callable(reason) else reason
            found = self.unparsed.get(col, int(p))
            value = _fmt(self.frame[col].iat[p]) if found is None else found[0]
            out.append(Problem(str(source.iat[p]), int(line.iat[p]), col, value, why))
        return tuple(out)


def problem_message(name: str, what: str, removals: dict[str, Removal], loader: Removal) -> str:
    """Text of the `DataError` raised by `clean` in its "error" modes: counts and examples per reason."""
    lines = [f"{name}: {what}"]
    if loader.count:
        lines.append(f"  {loader.count} line(s) the loader could not parse, e.g.")
        lines += [f"    {p}" for p in loader.examples]
    for key, rem in removals.items():
        lines.append(f"  {key}: {rem.count} row(s), e.g.")
        lines += [f"    {p}" for p in rem.examples]
    return "\n".join(lines)
