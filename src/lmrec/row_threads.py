"""Row blocks of numpy work spread over the machine's cores (at most two) in one process-wide thread pool.

numpy releases the GIL in comparisons, reductions and partitions, so blocks of rows of one batch run in
parallel threads: the top-k's numpy engine and MRR@all's rank counts use it. A forked child (a Ray worker,
a multiprocessing pool) makes its own pool: its parent's threads are not in it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

THREADS = max(1, min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1))
"""Threads of the pool (the cores this process may use, at most two)."""
MIN_SCORES = 1 << 20
"""Blocks smaller than this many scores run in the caller's thread (a service request, a few users)."""
_POOL: tuple[int, ThreadPoolExecutor] | None = None


def map_row_blocks(fn: Callable[[int, int], T], n_rows: int, size: int) -> list[T]:
    """`fn(lo, hi)` for contiguous row blocks covering range(n_rows), in order: one block per thread when
    the work (`size` scores) is large enough and there is more than one thread, else one block here."""
    if THREADS == 1 or size < MIN_SCORES or n_rows < 2:
        return [fn(0, n_rows)]
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():
        _POOL = (os.getpid(), ThreadPoolExecutor(THREADS, thread_name_prefix="lmrec-rows"))
    bounds = [n_rows * i // THREADS for i in range(THREADS + 1)]
    return list(_POOL[1].map(fn, bounds[:-1], bounds[1:]))
