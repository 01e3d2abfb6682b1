"""Why an item was recommended: what each component said about it, and which history items it is close to.

For every recommended item of a hybrid: each component's score and rank of the item among the user's
rankable items (for cascades: whether that retriever proposed it, i.e. ranked it within `n_candidates`),
and the history items most similar to it. Similarity is text cosine when the model holds item text vectors
(the learned ranker's `text` feature or a content component), otherwise the cosine of the items' columns
in the training log (items bought by the same users). Works for single models too (without components).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from lmrec.data.interactions import sequences_to_csr, users_per_item
from lmrec.hybrid.components import HybridRecommender, component_label
from lmrec.models.base import Recommender, mask_out
from lmrec.models.topk import ranks as item_ranks

BECAUSE = 3
"""History items listed per recommended item."""


def _text_vectors(model: Recommender) -> np.ndarray | None:
    text = getattr(model, "text_", None)
    if text is not None:
        return np.asarray(text, dtype=np.float32)
    for comp in getattr(model, "components_", []):
        vectors = getattr(comp, "item_vectors_", None)
        if vectors is not None and comp.name == "content":
            v = np.asarray(vectors, dtype=np.float32)
            return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return None


def _similarities(model: Recommender, item: int, past: np.ndarray) -> tuple[np.ndarray, str]:
    text = _text_vectors(model)
    if text is not None:
        return text[past] @ text[item], "text"
    cols = sp.csc_matrix(model.history_)
    target = cols[:, [item]]
    overlap = np.asarray((cols[:, past].T @ target).todense()).ravel()
    counts = users_per_item(cols).astype(np.float64)
    denom = np.sqrt(counts[past] * counts[item])
    return np.where(denom > 0, overlap / np.maximum(denom, 1e-12), 0.0), "co-occurrence"


def _ranks(scores: np.ndarray, history: sp.csr_matrix, exclude_history: bool) -> np.ndarray:
    s = scores.copy()
    if exclude_history:
        mask_out(s, history)
    return item_ranks(s) + 1


def explain(
    model: Recommender,
    users: np.ndarray,
    n: int = 10,
    *,
    history: sp.csr_matrix | None = None,
    sequences: list[np.ndarray] | None = None,
    exclude_history: bool = True,
) -> list[dict[str, Any]]:
    """Top-`n` lists with reasons, one record per user (raw item ids; user -1 = an ad-hoc history)."""
    users = np.asarray(users, dtype=np.int64).reshape(-1)
    if history is None and sequences is not None:
        history = sequences_to_csr(sequences, model.n_items)
    rows = model._history_rows(users, history)
    recs = model.recommend(users, history, n=n, exclude_history=exclude_history, sequences=sequences)
    parts: list[tuple[str, np.ndarray]] = []
    cutoff = None
    if isinstance(model, HybridRecommender):
        for i, spec in enumerate(model.component_specs_):
            raw = model.component_scores(i, users, rows, sequences, history_given=history is not None)
            parts.append((component_label(spec), raw))
        cutoff = getattr(model.config, "n_candidates", None)
    ranks = [(label, raw, _ranks(raw, rows, exclude_history)) for label, raw in parts]
    vocab = model.item_vocab_
    out = []
    for r, u in enumerate(users):
        past = rows.indices[rows.indptr[r] : rows.indptr[r + 1]]
        if sequences is not None:
            past = np.asarray(sequences[r], dtype=np.int64)
        items = []
        for item, score in zip(recs.items[r], recs.scores[r], strict=True):
            if item < 0:
                continue
            entry: dict[str, Any] = {"item": vocab.id(item).item(), "score": float(score)}
            comps = []
            for k, (label, raw, rank) in enumerate(ranks):
                c = {"component": label, "score": float(raw[r, item]), "rank": int(rank[r, item])}
                if cutoff is not None and k < len(getattr(model.config, "retrievers", ())):
                    c["proposed"] = bool(rank[r, item] <= cutoff)
                comps.append(c)
            if comps:
                entry["components"] = comps
            if past.size:
                sims, kind = _similarities(model, int(item), past)
                top = np.argsort(-sims, kind="stable")[:BECAUSE]
                entry["because"] = [
                    {"item": vocab.id(past[t]).item(), "similarity": round(float(sims[t]), 4), "by": kind}
                    for t in top
                    if sims[t] > 0
                ]
            items.append(entry)
        user_id = model.user_vocab_.id(u).item() if u >= 0 else None
        out.append({"user": user_id, "items": items})
    return out


def component_lists(
    model: Recommender,
    users: np.ndarray,
    n: int = 10,
    *,
    history: sp.csr_matrix | None = None,
    sequences: list[np.ndarray] | None = None,
    exclude_history: bool = True,
) -> list[list[dict[str, Any]]]:
    """Per user, each component's own top-`n` (a hybrid's; [] per user for other models): one
    {"component", "items": [{"item", "score"}]} per component, ranked through the shared top-k."""
    from lmrec.models.topk import topk

    users = np.asarray(users, dtype=np.int64).reshape(-1)
    if not isinstance(model, HybridRecommender):
        return [[] for _ in users]
    if history is None and sequences is not None:
        history = sequences_to_csr(sequences, model.n_items)
    rows = model._history_rows(users, history)
    vocab = model.item_vocab_
    out: list[list[dict[str, Any]]] = [[] for _ in users]
    for i, spec in enumerate(model.component_specs_):
        raw = model.component_scores(i, users, rows, sequences, history_given=history is not None).copy()
        if exclude_history:
            mask_out(raw, rows)
        items, scores = topk(raw, n)
        for r in range(users.size):
            keep = (items[r] >= 0) & np.isfinite(scores[r])
            listed = [
                {"item": vocab.id(it).item(), "score": float(sc)}
                for it, sc in zip(items[r][keep], scores[r][keep], strict=True)
            ]
            out[r].append({"component": component_label(spec), "items": listed})
    return out
