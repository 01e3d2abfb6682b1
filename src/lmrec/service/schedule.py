"""Scheduled retraining inside the service: every `interval` seconds, refit when enough new events arrived.

A daemon thread wakes up on the interval, asks the store for the newest event id and, when at least
`min_events` events are newer than the model, runs `RecommenderService.retrain` (the same code as
POST /admin/retrain and `lmrec retrain`), which hot swaps the model while requests keep being answered.
A failed retrain is logged (logger "lmrec.service") and recorded in `status()`; the service keeps serving
the model it has and tries again at the next tick. A retrain already running (started through the API)
makes the tick a no-op.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lmrec.service.core import RecommenderService

log = logging.getLogger("lmrec.service")


@dataclass
class RetrainSchedule:
    """Retrain `service` every `interval` seconds when at least `min_events` new events are stored."""

    service: RecommenderService
    interval: float
    min_events: int = 1
    runs: int = 0
    skipped: int = 0
    failures: int = 0
    last_error: str | None = None
    next_run_at: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.interval > 0:
            raise ValueError(f"retrain interval must be a positive number of seconds, not {self.interval!r}")
        if self.min_events < 1:
            raise ValueError(f"min_events must be at least 1, not {self.min_events!r}")

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the retrain schedule is already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="lmrec-retrain-schedule", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop ticking; a retrain in progress finishes first (wait at most `timeout` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.next_run_at = None

    def pending_events(self) -> int:
        """Stored events newer than the served model's training data."""
        return max(0, self.service.store.max_id() - self.service.live.events_upto)

    def tick(self) -> dict[str, Any] | None:
        """One scheduled decision: retrain when enough events are pending; the retrain summary, or None."""
        from lmrec.service.core import RetrainBusy

        pending = self.pending_events()
        if pending < self.min_events:
            self.skipped += 1
            return None
        log.info("scheduled retrain: %d new events", pending)
        try:
            info = self.service.retrain()
        except RetrainBusy:
            self.skipped += 1
            return None
        except Exception as exc:  # keep serving the current model; report and retry next tick
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            version = self.service.live.version
            log.exception("scheduled retrain failed; still serving model version %d", version)
            return None
        self.runs += 1
        self.last_error = None
        log.info("scheduled retrain done: version %s in %.1f s", info["version"], info["seconds"])
        return info

    def _loop(self) -> None:
        while True:
            self.next_run_at = time.time() + self.interval
            if self._stop.wait(self.interval):
                return
            self.tick()

    def status(self) -> dict[str, Any]:
        return {
            "interval_seconds": self.interval,
            "min_events": self.min_events,
            "running": self._thread is not None,
            "next_run_at": self.next_run_at,
            "runs": self.runs,
            "skipped": self.skipped,
            "failures": self.failures,
            "last_error": self.last_error,
        }
