"""Identity collapse of a CFGAN generator (Pérez Maurera et al., ECIR 2022): conditioned on the real
profile c_u and asked to match it on the purchased items, G can drift towards copying c_u, scoring the
purchased items near 1 and everything else alike, so it stops telling unpurchased items apart.

`collapse_stats` measures it on any generator output; `identity_collapse` runs a fitted CFGAN on users'
profiles. Every CFGAN fit records the latter on its training users in `training_["diagnostics"]`.
For a perfect copy (G(c_u) = c_u): cosine 1, topk_in_profile = topk_in_profile_identity,
mean_purchased 1 and mean_unpurchased 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from lmrec.models.topk import topk

if TYPE_CHECKING:
    from lmrec.models.cfgan.recommender import CFGAN


BLOCK = 512
"""Users per generator pass in `identity_collapse` (memory: BLOCK x n_items floats)."""
_MEASURES = ("cosine", "topk_in_profile", "topk_in_profile_identity", "mean_purchased", "mean_unpurchased")


def collapse_stats(generated: np.ndarray, profiles: sp.csr_matrix, k: int = 10) -> dict[str, float]:
    """Identity-collapse measures of generator outputs `generated` (B x n, values in [0, 1]) for the
    binary `profiles` (B x n) they were generated from, each a mean over the users with a non-empty
    profile (users with none are left out):

    * cosine: cosine similarity between G(c_u) and c_u;
    * topk_in_profile: share of G's top-k items (history not excluded) that are already in c_u;
    * topk_in_profile_identity: the same for G = identity, min(k, |c_u|) / k, the ceiling of the above;
    * mean_purchased / mean_unpurchased: G's mean output on the user's purchased / unpurchased items.
    """
    return _summary(_per_user(generated, profiles, k), k)


def identity_collapse(
    model: CFGAN, users: np.ndarray | None = None, history: sp.csr_matrix | None = None, k: int = 10
) -> dict[str, float]:
    """`collapse_stats` of a fitted CFGAN's generator for `users` (training user indices; default every
    user) from their training profiles, or from `history` (one row per user) when given; computed BLOCK
    users at a time."""
    model.check_is_fitted()
    if history is None:
        users = np.arange(model.history_.shape[0]) if users is None else np.asarray(users, dtype=np.int64)
        history = model.history_[users]
    profiles = sp.csr_matrix(history)
    parts = [
        _per_user(model.generate(profiles[s : s + BLOCK]), profiles[s : s + BLOCK], k)
        for s in range(0, profiles.shape[0], BLOCK)
    ]
    return _summary({m: np.concatenate([p[m] for p in parts]) for m in _MEASURES} if parts else {}, k)


def _per_user(generated: np.ndarray, profiles: sp.csr_matrix, k: int) -> dict[str, np.ndarray]:
    """Each measure of `collapse_stats` for each user with a non-empty profile."""
    g = np.asarray(generated, dtype=np.float32)
    rows = sp.csr_matrix(profiles)
    if g.shape != rows.shape:
        raise ValueError(f"generated has shape {g.shape}, profiles {rows.shape}")
    if k < 1:
        raise ValueError(f"k must be positive, got {k}")
    sizes = np.diff(rows.indptr)
    keep = np.flatnonzero(sizes > 0)
    g = g[keep]
    c = rows[keep].toarray() > 0
    size = sizes[keep].astype(np.float64)
    n = c.shape[1]
    on_profile = np.where(c, g, 0.0).sum(axis=1, dtype=np.float64)
    norms = np.linalg.norm(g.astype(np.float64), axis=1) * np.sqrt(size)
    top, _ = topk(g, min(k, n))
    unpurchased = n - size
    off_profile = g.sum(axis=1, dtype=np.float64) - on_profile
    return {
        "cosine": np.divide(on_profile, norms, out=np.zeros_like(on_profile), where=norms > 0),
        "topk_in_profile": np.take_along_axis(c, top, axis=1).sum(axis=1) / k,
        "topk_in_profile_identity": np.minimum(size, k) / k,
        "mean_purchased": on_profile / size,
        "mean_unpurchased": np.divide(
            off_profile, unpurchased, out=np.zeros_like(off_profile), where=unpurchased > 0
        ),
    }


def _summary(per_user: dict[str, np.ndarray], k: int) -> dict[str, float]:
    users = len(per_user["cosine"]) if per_user else 0
    out: dict[str, float] = {"users": float(users), "k": float(k)}
    if users:
        out |= {m: round(float(per_user[m].mean()), 6) for m in _MEASURES}
    return out
