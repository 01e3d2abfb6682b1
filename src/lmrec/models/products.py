"""The scoring product of factor models: `user_vectors @ item_vectors.T`, float32.

Through torch's GEMM where torch is installed and the block holds at least `topk.TORCH_MIN_SCORES` scores
(the rule of the top-k engine), else numpy's. Not for speed of the product alone: numpy's OpenBLAS threads
keep spinning for a while after each product, so the evaluator's next steps (the threaded top-k and rank
counts) ran beside a busy core; torch's OpenMP threads go to sleep when done. On Beauty ALS-128 the whole
evaluation ran at 13,322 users/s with numpy's product and 17,098 with torch's, metrics identical
(benchmarks/eval_throughput.py). Small blocks (a service request) stay on numpy: no torch import for them.
"""

from __future__ import annotations

import numpy as np

from lmrec.models import topk


def factor_scores(
    user_vectors: np.ndarray, item_vectors: np.ndarray, *, out: np.ndarray | None = None
) -> np.ndarray:
    """(users x items) float32 scores: the dot product of every user vector with every item vector.

    out: a C-contiguous float32 (users x items) array to write them into (returned); the same scores,
    by the same product, as without it."""
    users = np.ascontiguousarray(user_vectors, dtype=np.float32)
    items = np.ascontiguousarray(item_vectors, dtype=np.float32)
    if not topk.HAS_TORCH or users.shape[0] * items.shape[0] < topk.TORCH_MIN_SCORES:
        return np.matmul(users, items.T, out=out)
    import torch

    u, v = topk.torch_view(users), topk.torch_view(items)
    if out is None:
        return torch.mm(u, v.T).numpy()
    torch.mm(u, v.T, out=torch.from_numpy(out))
    return out
