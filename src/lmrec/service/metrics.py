"""Request counters and latency histograms in the Prometheus text exposition format (version 0.0.4).

A few dozen lines instead of prometheus-client: the service exposes a handful of series, and a private
registry per app (no process-wide default registry) keeps two apps in one process, as in the tests,
from mixing their numbers.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) of the request latency histogram; the issue's target is p99 < 15 ms."""
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return "{" + inner + "}" if inner else ""


def _number(x: float) -> str:
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if float(x).is_integer() and abs(x) < 2**53:
        return str(int(x))
    return repr(float(x))


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    total: float = 0.0
    n: int = 0


class Metrics:
    """Per-app request metrics; `gauges` are read at scrape time (events stored, model version, ...)."""

    def __init__(self, prefix: str = "lmrec") -> None:
        self.prefix = prefix
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = {}
        self._latency: dict[tuple[str, str], _Histogram] = {}
        self._counters: dict[str, tuple[str, float]] = {}
        self._gauges: list[tuple[str, str, Callable[[], Iterable[tuple[dict[str, str], float]]]]] = []

    def observe(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        """Count one finished request and its latency."""
        with self._lock:
            key = (method, endpoint, str(status))
            self._requests[key] = self._requests.get(key, 0) + 1
            hist = self._latency.setdefault((method, endpoint), _Histogram())
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    hist.counts[i] += 1
            hist.total += seconds
            hist.n += 1

    def inc(self, name: str, amount: float = 1.0, help: str = "") -> None:
        """Add to a process counter (name without the prefix and `_total`)."""
        with self._lock:
            old = self._counters.get(name, (help, 0.0))
            self._counters[name] = (help or old[0], old[1] + amount)

    def gauge(self, name: str, help: str, read: Callable[[], Iterable[tuple[dict[str, str], float]]]) -> None:
        """Register a gauge whose labelled values `read()` returns at every scrape."""
        self._gauges.append((name, help, read))

    def render(self) -> str:
        p = self.prefix
        lines: list[str] = []
        with self._lock:
            requests = sorted(self._requests.items())
            latency = sorted((k, _Histogram(list(h.counts), h.total, h.n)) for k, h in self._latency.items())
            counters = sorted(self._counters.items())
        lines += [
            f"# HELP {p}_http_requests_total HTTP requests by method, endpoint (route template) and status.",
            f"# TYPE {p}_http_requests_total counter",
        ]
        for (method, endpoint, status), count in requests:
            labels = _labels([("method", method), ("endpoint", endpoint), ("status", status)])
            lines.append(f"{p}_http_requests_total{labels} {count}")
        lines += [
            f"# HELP {p}_http_request_duration_seconds Time from request to response, by endpoint.",
            f"# TYPE {p}_http_request_duration_seconds histogram",
        ]
        for (method, endpoint), hist in latency:
            base = [("method", method), ("endpoint", endpoint)]
            for bound, count in zip(LATENCY_BUCKETS, hist.counts, strict=True):
                labels = _labels([*base, ("le", _number(bound))])
                lines.append(f"{p}_http_request_duration_seconds_bucket{labels} {count}")
            inf = _labels([*base, ("le", "+Inf")])
            lines.append(f"{p}_http_request_duration_seconds_bucket{inf} {hist.n}")
            lines.append(f"{p}_http_request_duration_seconds_sum{_labels(base)} {_number(hist.total)}")
            lines.append(f"{p}_http_request_duration_seconds_count{_labels(base)} {hist.n}")
        for name, (help_text, value) in counters:
            lines += [
                f"# HELP {p}_{name}_total {help_text}",
                f"# TYPE {p}_{name}_total counter",
                f"{p}_{name}_total {_number(value)}",
            ]
        for gauge, gauge_help, read in self._gauges:
            lines += [f"# HELP {p}_{gauge} {gauge_help}", f"# TYPE {p}_{gauge} gauge"]
            for gauge_labels, gauge_value in read():
                lines.append(f"{p}_{gauge}{_labels(sorted(gauge_labels.items()))} {_number(gauge_value)}")
        return "\n".join(lines) + "\n"
