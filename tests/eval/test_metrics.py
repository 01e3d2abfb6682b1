"""Ranking metrics: hand-computed cases, properties (hypothesis), and a cross-check against trec_eval."""

from __future__ import annotations

import math

import numpy as np
import pytest
import pytrec_eval
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lmrec.eval import metrics as M
from lmrec.eval.metrics import (
    MetricSpec,
    average_precision,
    canonical_name,
    get_metric,
    hit_rate,
    metric_specs,
    mrr,
    ndcg,
    parse_metric,
    precision,
    recall,
)

ALL = [precision, recall, hit_rate, mrr, ndcg, average_precision]
D2, D3, D4 = 1 / math.log2(3), 1 / math.log2(4), 1 / math.log2(5)  # discounts of ranks 2, 3, 4


# --- hand-computed cases -----------------------------------------------------------------------
# user 0: list [hit, miss, hit, miss], |T| = 3
# user 1: list [miss, miss, miss, hit], |T| = 1
# user 2: list [miss, miss, miss, miss], |T| = 2
HITS = np.array([[1, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], dtype=bool)
NT = np.array([3, 1, 2])


def test_precision_by_hand() -> None:
    # @4: 2/4, 1/4, 0/4 ; @2: 1/2, 0, 0
    np.testing.assert_allclose(precision(HITS, NT, 4), [0.5, 0.25, 0.0])
    np.testing.assert_allclose(precision(HITS, NT, 2), [0.5, 0.0, 0.0])


def test_recall_by_hand() -> None:
    # @4: 2/3, 1/1, 0/2 ; @1: 1/3, 0, 0
    np.testing.assert_allclose(recall(HITS, NT, 4), [2 / 3, 1.0, 0.0])
    np.testing.assert_allclose(recall(HITS, NT, 1), [1 / 3, 0.0, 0.0])


def test_hit_rate_by_hand() -> None:
    np.testing.assert_allclose(hit_rate(HITS, NT, 4), [1.0, 1.0, 0.0])
    np.testing.assert_allclose(hit_rate(HITS, NT, 3), [1.0, 0.0, 0.0])


def test_mrr_by_hand() -> None:
    # first hits at ranks 1 and 4; none for user 2
    np.testing.assert_allclose(mrr(HITS, NT, 4), [1.0, 0.25, 0.0])
    np.testing.assert_allclose(mrr(HITS, NT, 3), [1.0, 0.0, 0.0])


def test_ndcg_by_hand() -> None:
    # user 0 @4: DCG = 1 + 1/log2(4) = 1.5; IDCG over min(4,3)=3 hits = 1 + 1/log2(3) + 1/log2(4)
    # user 1 @4: DCG = 1/log2(5); IDCG = 1 ; user 2: 0
    expected = [(1 + D3) / (1 + D2 + D3), D4, 0.0]
    np.testing.assert_allclose(ndcg(HITS, NT, 4), expected)
    # user 0 @2: DCG = 1, IDCG over min(2,3)=2 hits = 1 + 1/log2(3)
    np.testing.assert_allclose(ndcg(HITS, NT, 2), [1 / (1 + D2), 0.0, 0.0])


def test_average_precision_by_hand() -> None:
    # user 0 @4: P@1·1 + P@3·1 = 1 + 2/3; divided by min(4, 3) = 3 -> 5/9; trec divides by |T| = 3 too
    # user 1 @4: P@4 = 1/4, divided by min(4, 1) = 1 -> 1/4
    np.testing.assert_allclose(average_precision(HITS, NT, 4), [5 / 9, 0.25, 0.0])
    np.testing.assert_allclose(average_precision(HITS, NT, 4, trec=True), [5 / 9, 0.25, 0.0])
    # user 0 @2: P@1 = 1 over min(2, 3) = 2 -> 1/2 ; trec: over |T| = 3 -> 1/3
    np.testing.assert_allclose(average_precision(HITS, NT, 2), [0.5, 0.0, 0.0])
    np.testing.assert_allclose(average_precision(HITS, NT, 2, trec=True), [1 / 3, 0.0, 0.0])


def test_hits_beyond_n_are_ignored() -> None:
    wide = np.concatenate([HITS, np.ones((3, 5), dtype=bool)], axis=1)
    big_nt = NT + 5
    for f in ALL:
        np.testing.assert_allclose(f(wide, big_nt, 4)[2], 0.0)


# --- validation ----------------------------------------------------------------------------------
def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="empty target set"):
        recall(HITS, np.array([3, 0, 2]), 4)
    with pytest.raises(ValueError, match="more hits than targets"):
        recall(HITS, np.array([1, 1, 1]), 4)
    with pytest.raises(ValueError, match="pad short lists"):
        ndcg(HITS, NT, 5)
    with pytest.raises(ValueError, match="positive integer"):
        ndcg(HITS, NT, 0)
    with pytest.raises(TypeError, match="bool"):
        ndcg(HITS.astype(int), NT, 2)
    with pytest.raises(ValueError, match="shape"):
        ndcg(HITS, NT[:2], 2)


# --- registry and parsing ------------------------------------------------------------------------
def test_registry_names_and_aliases() -> None:
    assert get_metric("NDCG") is ndcg
    assert get_metric("hr") is hit_rate
    assert get_metric("Hit_Rate") is hit_rate
    assert get_metric("map") is average_precision
    assert M.map is average_precision
    assert canonical_name("Recall") == "recall"
    with pytest.raises(ValueError, match=r"unknown metric 'ndgc'; known metrics: .*ndcg.*recall"):
        get_metric("ndgc")


def test_parse_metric() -> None:
    assert parse_metric("NDCG@10") == MetricSpec("ndcg", 10)
    assert parse_metric(" recall @ 20 ") == MetricSpec("recall", 20)
    assert parse_metric("hr@5").label == "HR@5"
    assert parse_metric("HitRate@5").key == "HR@5"
    assert parse_metric("MRR@all") == MetricSpec("mrr", None)
    assert parse_metric("map@3").label == "MAP@3"
    with pytest.raises(ValueError, match="expected NAME@N"):
        parse_metric("ndcg")
    with pytest.raises(ValueError, match="only MRR supports @all"):
        parse_metric("NDCG@all")
    with pytest.raises(ValueError, match="positive integer"):
        parse_metric("NDCG@0")
    with pytest.raises(ValueError, match="unknown metric 'foo'"):
        parse_metric("foo@10")


def test_metric_specs_expands_bare_names() -> None:
    specs = metric_specs(["ndcg", "HR", "Recall@50", "MRR@all", "ndcg"], (10, 20))
    assert [s.label for s in specs] == ["NDCG@10", "NDCG@20", "HR@10", "HR@20", "Recall@50", "MRR@all"]
    with pytest.raises(ValueError, match="no cut-off"):
        metric_specs(["ndcg"], ())


# --- properties ----------------------------------------------------------------------------------
@st.composite
def batches(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    users = draw(st.integers(1, 8))
    length = draw(st.integers(1, 12))
    hits = draw(arrays(np.bool_, (users, length)))
    extra = draw(arrays(np.int64, users, elements=st.integers(0, 6)))
    n_targets = hits.sum(axis=1) + extra
    n_targets[n_targets == 0] = 1
    n = draw(st.integers(1, length))
    return hits, n_targets, n


@settings(max_examples=150, deadline=None)
@given(batches())
def test_values_in_unit_interval_and_ordered(batch: tuple[np.ndarray, np.ndarray, int]) -> None:
    hits, nt, n = batch
    values = {f.__name__: f(hits, nt, n) for f in ALL}
    for name, v in values.items():
        assert v.shape == (hits.shape[0],) and v.dtype == np.float64, name
        assert ((v >= 0) & (v <= 1 + 1e-12)).all(), name
    hr = values["hit_rate"]
    for name in ("precision", "recall", "mrr", "ndcg", "average_precision"):
        assert (hr >= values[name] - 1e-12).all(), name
    # precision and recall count the same hits
    np.testing.assert_allclose(values["precision"] * n, values["recall"] * nt)
    # trec AP divides by |T| >= min(n, |T|)
    assert (average_precision(hits, nt, n, trec=True) <= values["average_precision"] + 1e-12).all()


@settings(max_examples=100, deadline=None)
@given(batches())
def test_monotone_in_n(batch: tuple[np.ndarray, np.ndarray, int]) -> None:
    hits, nt, _ = batch
    for f in (recall, hit_rate, mrr):
        vals = np.stack([f(hits, nt, n) for n in range(1, hits.shape[1] + 1)])
        assert (np.diff(vals, axis=0) >= -1e-12).all(), f.__name__


@settings(max_examples=100, deadline=None)
@given(batches())
def test_invariant_to_user_order(batch: tuple[np.ndarray, np.ndarray, int]) -> None:
    hits, nt, n = batch
    perm = np.random.default_rng(hits.size).permutation(hits.shape[0])
    for f in ALL:
        np.testing.assert_allclose(f(hits[perm], nt[perm], n), f(hits, nt, n)[perm])
        assert f(hits[perm], nt[perm], n).mean() == pytest.approx(f(hits, nt, n).mean())


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 15), st.integers(1, 20))
def test_perfect_lists_score_one(n: int, n_targets: int) -> None:
    hits = np.zeros((1, n), dtype=bool)
    hits[0, : min(n, n_targets)] = True
    nt = np.array([n_targets])
    assert ndcg(hits, nt, n)[0] == pytest.approx(1.0)
    assert average_precision(hits, nt, n)[0] == pytest.approx(1.0)
    assert mrr(hits, nt, n)[0] == 1.0
    assert recall(hits, nt, n)[0] == pytest.approx(min(n, n_targets) / n_targets)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 30), st.data())
def test_mrr_is_inverse_rank(rank: int, data: st.DataObject) -> None:
    n = data.draw(st.integers(rank, 40))
    hits = np.zeros((1, n), dtype=bool)
    hits[0, rank - 1] = True
    hits[0, rank:] = data.draw(arrays(np.bool_, n - rank))  # later hits do not matter
    nt = np.array([int(hits.sum()) + 1])
    assert mrr(hits, nt, n)[0] == pytest.approx(1.0 / rank)


# --- cross-check against trec_eval (pytrec_eval) ---------------------------------------------------
def _trec(lists: np.ndarray, targets: list[set[int]], n: int) -> dict[str, dict[str, float]]:
    """trec_eval's measures for top-n lists; scores strictly decrease so its tie handling is moot."""
    run = {
        f"u{u}": {f"i{item}": float(n - r) for r, item in enumerate(row[:n])} for u, row in enumerate(lists)
    }
    qrel = {f"u{u}": {f"i{i}": 1 for i in t} for u, t in enumerate(targets)}
    measures = {f"ndcg_cut.{n}", f"P.{n}", f"recall.{n}", "recip_rank", f"map_cut.{n}"}
    return pytrec_eval.RelevanceEvaluator(qrel, measures).evaluate(run)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n", [1, 5, 10])
def test_matches_trec_eval_on_random_lists(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    n_users, n_items = 60, 40
    lists = np.stack([rng.permutation(n_items)[:n] for _ in range(n_users)])
    targets = [
        set(rng.choice(n_items, size=rng.integers(1, 15), replace=False).tolist()) for _ in range(n_users)
    ]
    hits = np.array([[i in t for i in row] for row, t in zip(lists, targets, strict=True)])
    nt = np.array([len(t) for t in targets])
    trec = _trec(lists, targets, n)
    got = {
        "ndcg": ndcg(hits, nt, n),
        "P": precision(hits, nt, n),
        "recall": recall(hits, nt, n),
        "recip_rank": mrr(hits, nt, n),  # the run holds only the top n, so trec's RR is RR@n
        "map_trec": average_precision(hits, nt, n, trec=True),
        "map": average_precision(hits, nt, n),
    }
    for u in range(n_users):
        ref = trec[f"u{u}"]
        assert got["ndcg"][u] == pytest.approx(ref[f"ndcg_cut_{n}"], abs=1e-12)
        assert got["P"][u] == pytest.approx(ref[f"P_{n}"], abs=1e-12)
        assert got["recall"][u] == pytest.approx(ref[f"recall_{n}"], abs=1e-12)
        assert got["recip_rank"][u] == pytest.approx(ref["recip_rank"], abs=1e-12)
        # trec's map_cut divides by |T|; lmrec's default AP@n divides by min(n, |T|)
        assert got["map_trec"][u] == pytest.approx(ref[f"map_cut_{n}"], abs=1e-12)
        assert got["map"][u] == pytest.approx(ref[f"map_cut_{n}"] * nt[u] / min(n, nt[u]), abs=1e-12)
    assert hits[:, :n].any()  # the check was not vacuous


def testfirst_target_rank_matches_the_full_ranking_under_ties() -> None:
    """MRR@all's rank of each user's best target equals its position in the full ranking of `topk`'s tie
    rule (lower index first), on rows full of ties and of excluded (-inf) items."""
    import scipy.sparse as sp

    from lmrec.eval.batch import first_target_rank
    from lmrec.models.topk import ranks

    rng = np.random.default_rng(1)
    for _ in range(200):
        b, m = int(rng.integers(1, 20)), int(rng.integers(2, 50))
        scores = rng.choice(np.array([0, 0.5, 1, 2, -np.inf], dtype=np.float32), size=(b, m))
        per_row = [rng.choice(m, size=int(rng.integers(1, min(3, m) + 1)), replace=False) for _ in range(b)]
        rows = np.repeat(np.arange(b), [len(p) for p in per_row])
        targets = sp.csr_matrix((np.ones(rows.size), (rows, np.concatenate(per_row))), shape=(b, m))
        full = ranks(scores) + 1
        expected = [
            0 if np.isneginf(scores[r, p]).all() else int(full[r, p].min()) for r, p in enumerate(per_row)
        ]
        assert first_target_rank(scores, targets).tolist() == expected
