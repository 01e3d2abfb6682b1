"""Row blocks of numpy work spread over the machine's cores (at most two) in one process-wide thread pool.

numpy releases the GIL in comparisons, reductions and partitions, so blocks of rows of one batch run in
parallel threads: the top-k's numpy engine and MRR@all's rank counts use it. A forked child (a Ray worker,
a multiprocessing pool) makes its own pool: its parent's threads are not in it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def _threads() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    omp = os.environ.get("OMP_NUM_THREADS", "")  # Ray sets it to a task's CPUs
    if omp.isdigit() and int(omp) > 0:
        cores = min(cores, int(omp))
    return max(1, min(2, cores))


THREADS = _threads()
"""Threads of the pool: the cores this process may use (at most OMP_NUM_THREADS when set), at most two."""
MIN_SCORES = 1 << 20
"""Blocks smaller than this many scores run in the caller's thread (a service request, a few users)."""
_POOL: tuple[int, ThreadPoolExecutor] | None = None
_LOCK = threading.Lock()
_PREFIX = "lmrec-rows"


def map_row_blocks(fn: Callable[[int, int], T], n_rows: int, size: int) -> list[T]:
    """`fn(lo, hi)` for contiguous row blocks covering range(n_rows), in order: one block per thread when
    the work (`size` scores) is large enough and there is more than one thread, else one block here (also
    when called from a pool thread, so an `fn` that maps again cannot wait on itself)."""
    inside = threading.current_thread().name.startswith(_PREFIX)
    if THREADS == 1 or size < MIN_SCORES or n_rows < 2 or inside:
        return [fn(0, n_rows)]
    global _POOL
    with _LOCK:
        if _POOL is None or _POOL[0] != os.getpid():
            _POOL = (os.getpid(), ThreadPoolExecutor(THREADS, thread_name_prefix=_PREFIX))
        pool = _POOL[1]
    bounds = [n_rows * i // THREADS for i in range(THREADS + 1)]
    return list(pool.map(fn, bounds[:-1], bounds[1:]))
