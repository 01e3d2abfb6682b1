"""Wall time and peak resident memory of a stage, for benchmark tables."""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _vm_hwm_bytes() -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter (Linux >= 4.0) so a stage's own peak can be read."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


_peak_before_resets = 0
"""The highest VmHWM read just before `measure` reset the kernel's counter (which also resets ru_maxrss)."""


def process_peak_rss() -> int:
    """Peak RSS of this process since start (bytes), across the counter resets of `measure`."""
    rusage = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    return max(rusage, _vm_hwm_bytes() or 0, _peak_before_resets)


@dataclass
class Measurement:
    """Filled in when the `measure` block exits."""

    seconds: float = 0.0
    peak_rss_bytes: int = 0
    """Peak RSS of the process during the stage (since process start if the kernel can't reset it)."""
    stage_peak: bool = field(default=False)
    """True when the peak is the stage's own (counter reset at stage start)."""
    _carry: int = field(default=0, repr=False)

    @property
    def peak_rss_mb(self) -> float:
        return self.peak_rss_bytes / 2**20

    def to_dict(self) -> dict[str, float | bool]:
        return {
            "seconds": round(self.seconds, 4),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "stage_peak": self.stage_peak,
        }


_active: list[Measurement] = []


@contextmanager
def measure() -> Iterator[Measurement]:
    """Time a block and record its peak RSS: `with measure() as m: ...; m.seconds, m.peak_rss_mb`.

    Blocks may nest: before an inner block resets the kernel counter, the peak so far is carried into
    every enclosing block, so outer peaks stay correct.
    """
    global _peak_before_resets
    m = Measurement()
    hwm_before = _vm_hwm_bytes() or 0
    _peak_before_resets = max(_peak_before_resets, hwm_before)
    for outer in _active:
        outer._carry = max(outer._carry, hwm_before)
    m.stage_peak = _reset_peak()
    _active.append(m)
    start = time.perf_counter()
    try:
        yield m
    finally:
        m.seconds = time.perf_counter() - start
        _active.remove(m)
        hwm = _vm_hwm_bytes() if m.stage_peak else None
        m.peak_rss_bytes = max(hwm, m._carry) if hwm is not None else process_peak_rss()
