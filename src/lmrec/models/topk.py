"""The one top-k used by every model: exact, batched, ties broken by the lower item index.

Two engines give the same lists. Where torch is installed (the `lm` extra), float rows go through
`torch.topk` (threaded over rows): k + 1 per row, then, for rows tied at the k-th value, a window somewhat
wider than k ordered by (score descending, index ascending), exact whenever the tie group ends inside it;
the rare rows where it does not take the window's entries above the k-th value plus the lowest-index ties
found by scanning growing row prefixes (`_select_torch`). Without torch, or with `engine="numpy"`, the
numpy engine does every row, the batch's halves in two threads (`lmrec.row_threads`). `benchmarks/topk.py`
measures both on the same rows.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from lmrec.row_threads import map_row_blocks

ROW_CHUNK = 256
"""Rows processed at once (bounds the temporary copies to ROW_CHUNK x items)."""
SPARSE_FACTOR = 8
"""A row takes the positives-only search when at most 1/SPARSE_FACTOR of its items are positive."""
TORCH_ROW_CHUNK = 4096
"""Rows handed to torch.topk at once (its output is only rows x window)."""
PROBE_ROWS = 64
"""Rows the torch engine probes for boundary ties before choosing its first call."""
WIDE_FIRST_SHARE = 0.25
"""When more probed rows than this are tied at the k-th value (item-kNN's zero scores, rounded scores), the
torch engine skips the narrow k + 1 call: most rows would need the wide one anyway."""
TIE_MARGIN = 32
"""The torch engine reads the best k + max(k, TIE_MARGIN) of each row, so that ties at the k-th value
are resolved from torch's output unless a tie group is longer than that."""
ENGINES = ("auto", "torch", "numpy")
"""`topk`'s engines: "auto" is torch where it is installed, the scores are floats and the block holds at
least TORCH_MIN_SCORES scores, else numpy."""
TORCH_MIN_SCORES = 1 << 20
"""Smaller blocks (a service request, a few users) stay on numpy: torch's per-call overhead, and importing
torch (~1 s, ~200 MB) in a process that does not use it otherwise, are not worth it there."""
HAS_TORCH = importlib.util.find_spec("torch") is not None


def _kth_largest(chunk: np.ndarray, k: int) -> np.ndarray:
    """The k-th largest value of each row.

    Rows of sparse non-negative scores (item-kNN, popularity over a long tail) are mostly zeros, and
    partitioning 100k equal values is slow; for rows with at least k positive scores, few enough, the k-th
    largest is found among the positives alone (packed into a rectangle padded with -inf). Other rows use a
    value partition of the whole row, which is several times faster than argpartition.
    """
    rows, m = chunk.shape
    positive = chunk > 0
    counts = np.count_nonzero(positive, axis=1)
    sparse = (counts >= k) & (counts * SPARSE_FACTOR <= m)
    kth = np.empty(rows, dtype=chunk.dtype)
    dense = np.flatnonzero(~sparse)
    if dense.size:
        kth[dense] = np.partition(chunk[dense], m - k, axis=1)[:, m - k]
    if dense.size < rows:
        idx = np.flatnonzero(sparse)
        sub_counts = counts[idx]
        widest = int(sub_counts.max())
        r, c = np.nonzero(positive[idx])
        slot = np.arange(r.shape[0]) - np.repeat(np.cumsum(sub_counts) - sub_counts, sub_counts)
        packed = np.full((idx.shape[0], widest), -np.inf, dtype=chunk.dtype)
        packed[r, slot] = chunk[idx[r], c]
        kth[idx] = np.partition(packed, widest - k, axis=1)[:, widest - k]
    return kth


def _select_chunk(chunk: np.ndarray, k: int) -> np.ndarray:
    """Column indices (rows x k, unordered) of each row's k best scores, lower index winning ties."""
    rows, _ = chunk.shape
    kth = _kth_largest(chunk, k)
    ge = chunk >= kth[:, None]
    exact = np.count_nonzero(ge, axis=1) == k
    cols = np.empty((rows, k), dtype=np.int64)
    if exact.all():
        cols[:] = np.nonzero(ge)[1].reshape(rows, k)
        return cols
    if exact.any():
        cols[exact] = np.nonzero(ge[exact])[1].reshape(-1, k)
    for r in np.flatnonzero(~exact):  # the k-th value is tied beyond k: take the lowest-index ties
        row = chunk[r]
        above = np.flatnonzero(row > kth[r])
        cols[r] = np.concatenate([above, np.flatnonzero(row == kth[r])[: k - above.shape[0]]])
    return cols


def torch_view(array: np.ndarray) -> Any:
    """`torch.from_numpy(array)` without torch's warning for read-only arrays (a model's factors that
    Ray handed a worker zero-copy): lmrec only reads such views."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)


def nan_rows(scores: np.ndarray) -> np.ndarray:
    """Indices of the rows of `scores` (2-D) holding a NaN, from one summing pass over the block: the sum
    is NaN only when a NaN is present (or +inf meets -inf, or it overflows to both), and only then is the
    elementwise check run. Blocks of at least TORCH_MIN_SCORES floats are summed by torch (threaded)
    where it is installed."""
    if scores.dtype.kind != "f" or scores.size == 0:
        return np.empty(0, dtype=np.int64)
    if HAS_TORCH and scores.size >= TORCH_MIN_SCORES and scores.flags.c_contiguous:
        total = float(torch_view(scores).sum())
    else:
        with np.errstate(invalid="ignore", over="ignore"):  # +inf meeting -inf: checked below
            total = float(np.sum(scores, dtype=np.float64))
    if total == total:
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(np.isnan(scores).any(axis=1))


def _select_numpy(scores: np.ndarray, k: int, checked: bool = False) -> np.ndarray:
    """The numpy engine: (rows x k) column indices of each row's k best, lower index winning ties; the
    rows' halves in two threads (`lmrec.row_threads`), each in chunks of ROW_CHUNK rows."""
    b, m = scores.shape
    cols = np.empty((b, k), dtype=np.int64)

    def select(lo: int, hi: int) -> bool:
        for r in range(lo, hi, ROW_CHUNK):
            chunk = scores[r : min(r + ROW_CHUNK, hi)]
            if not checked and nan_rows(chunk).size:
                return False
            cols[r : r + chunk.shape[0]] = _select_chunk(chunk, k) if k < m else np.arange(m)
        return True

    if not all(map_row_blocks(select, b, scores.size)):
        raise ValueError("scores contain NaN; a model produced an invalid score")
    return cols


def _select_torch(scores: np.ndarray, k: int, checked: bool = False) -> np.ndarray:
    """The torch engine (k < items), in up to three steps per row:

    1. torch.topk(k + 1): when the k-th and (k + 1)-th values differ, the k best form an exact set (their
       order is set afterwards by `topk`); torch picks among equal scores in no defined order, so rows tied
       at that boundary go on;
    2. torch.topk of a window of k + max(k, TIE_MARGIN), ordered by (score descending, index ascending):
       exact whenever the k-th value's tie group ends inside the window;
    3. the few rows whose tie group reaches past the window (mostly-zero or mostly-excluded rows) are
       resolved from a scan of the row for the lowest-index ties (`_boundary_ties`).
    A narrow first call is cheaper (torch.topk's cost grows with k: 14 ms for k = 21 against 19 ms for
    k = 52 on 1,024 x 12,101 scores) when most rows have no boundary tie; a probe of the first rows
    decides (WIDE_FIRST_SHARE). Every path gives the same lists."""
    import torch

    b, m = scores.shape
    window = min(m, k + max(k, TIE_MARGIN))
    cols = np.empty((b, k), dtype=np.int64)
    for r in range(0, b, TORCH_ROW_CHUNK):
        chunk = np.ascontiguousarray(scores[r : r + TORCH_ROW_CHUNK])
        t = torch_view(chunk)
        if not checked and nan_rows(chunk).size:
            raise ValueError("scores contain NaN; a model produced an invalid score")
        if _boundary_tie_share(t, k) > WIDE_FIRST_SHARE:  # rows of ties (item-kNN): one wide call
            tied, out = np.arange(chunk.shape[0]), np.empty((chunk.shape[0], k), dtype=np.int64)
        else:
            values, index = torch.topk(t, k + 1, dim=1, largest=True, sorted=True)
            v = values.numpy()
            out = index[:, :k].numpy().copy()
            tied = np.flatnonzero(v[:, k - 1] == v[:, k])
        if tied.size:
            sub = t if tied.size == chunk.shape[0] else t[tied]  # no copy of a whole chunk
            wide_v, wide_i = torch.topk(sub, window, dim=1, largest=True, sorted=True)
            wv, wi = wide_v.numpy(), wide_i.numpy()
            order = np.lexsort((wi, -wv), axis=-1)[:, :k]
            out[tied] = np.take_along_axis(wi, order, axis=1)
            if window < m:
                spill = np.flatnonzero(wv[:, window - 1] == wv[:, k - 1])
                if spill.size:
                    kth = wv[spill, k - 1]
                    above = [wi[j][wv[j] > kth[i]] for i, j in enumerate(spill)]
                    out[tied[spill]] = _boundary_ties(chunk, tied[spill], kth, above, k)
        cols[r : r + TORCH_ROW_CHUNK] = out
    return cols


def _boundary_tie_share(t: Any, k: int) -> float:
    """Share of the first PROBE_ROWS rows of `t` whose k-th and (k + 1)-th best values are equal."""
    import torch

    head = torch.topk(t[:PROBE_ROWS], k + 1, dim=1, largest=True, sorted=True).values
    return float((head[:, k - 1] == head[:, k]).float().mean())


def _boundary_ties(
    scores: np.ndarray, rows: np.ndarray, kth: np.ndarray, above: list[np.ndarray], k: int
) -> np.ndarray:
    """(len(rows), k) columns of the k best of each row `rows` of `scores` when its k-th best value `kth`
    is tied beyond the window: `above` (per row, the columns scoring above `kth`, fewer than k, read from
    the window), then the lowest-index columns equal to `kth`, found by scanning growing prefixes of the
    rows (tie groups this long are common values, a prefix usually holds enough: no pass over, or copy
    of, the whole row)."""
    n_rows, m = rows.shape[0], scores.shape[1]
    need = np.array([k - a.shape[0] for a in above])
    found: list[np.ndarray | None] = [None] * n_rows
    todo = np.arange(n_rows)
    width = min(m, max(4096, 64 * k))
    while todo.size:
        eq = scores[rows[todo], :width] == kth[todo, None]
        enough = np.count_nonzero(eq, axis=1) >= need[todo]
        if width == m:
            enough[:] = True
        for j in np.flatnonzero(enough):
            r = todo[j]
            found[r] = np.flatnonzero(eq[j])[: need[r]]
        todo = todo[~enough]
        width = min(m, width * 8)
    return np.stack([np.concatenate([above[r], found[r]]) for r in range(n_rows)])  # type: ignore[list-item]


def topk(
    scores: np.ndarray, n: int, *, engine: str = "auto", checked: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Top-`n` item indices and scores of each row of `scores` (batch x items), best first.

    Exact under ties: among equal scores the lower item index ranks first, as the benchmark protocols
    require. Entries equal to -inf (excluded items) are never returned; their slots are -1 with score -inf,
    so a row with fewer than `n` rankable items yields a shorter list padded with -1.

    engine: "auto" (torch where installed, for float scores in blocks of at least TORCH_MIN_SCORES),
    "torch" or "numpy"; every engine returns the same lists (module doc).
    checked: the caller has already found no NaN in `scores` (`nan_rows`, as `masked_scores` does), so
    the pass that looks for one is skipped; otherwise a NaN is a ValueError.

    Cost (numpy engine): a value partition per row to find the n-th best score (O(items)), one comparison
    pass, an exact tie resolution only for rows whose n-th score is tied beyond n, and an O(n log n) sort
    of the selected entries. The torch engine replaces the first two with a threaded torch.topk.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D (batch x items), got shape {scores.shape}")
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {list(ENGINES)}, got {engine!r}")
    b, m = scores.shape
    k = min(n, m)
    if k == 0 or b == 0:
        return np.full((b, n), -1, dtype=np.int64), np.full((b, n), -np.inf, dtype=np.float32)
    floats = scores.dtype in (np.float32, np.float64)
    if engine == "torch" and not (HAS_TORCH and floats):
        raise ValueError("engine 'torch' needs torch installed and float32/float64 scores")
    large = b * m >= TORCH_MIN_SCORES
    use_torch = k < m and (engine == "torch" or (engine == "auto" and HAS_TORCH and floats and large))
    cols = _select_torch(scores, k, checked) if use_torch else _select_numpy(scores, k, checked)
    vals = np.take_along_axis(scores, cols, axis=1)
    # best first: score descending, then item index ascending
    order = np.lexsort((cols, -vals), axis=-1)
    items = np.take_along_axis(cols, order, axis=1)
    top = np.take_along_axis(vals, order, axis=1).astype(np.float32)
    items[np.isneginf(top)] = -1
    if k < n:
        items = np.pad(items, ((0, 0), (0, n - k)), constant_values=-1)
        top = np.pad(top, ((0, 0), (0, n - k)), constant_values=-np.inf)
    return items, top


def ranks(scores: np.ndarray) -> np.ndarray:
    """Each item's 0-based rank in its row (0 = the row's best), with the tie rule of `topk` (the lower
    item index first): the order `topk(scores, n_items)` lists the items in."""
    order = np.argsort(-scores, axis=1, kind="stable")
    out = np.empty_like(order)
    out[np.arange(scores.shape[0])[:, None], order] = np.arange(scores.shape[1])[None, :]
    return out
