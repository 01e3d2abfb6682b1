"""The batched evaluator: known answers, batching, exclusions, sampled mode, and trec_eval on MovieLens."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pytrec_eval
import scipy.sparse as sp

from lmrec.data.interactions import Interactions
from lmrec.data.vocabulary import Vocabulary
from lmrec.eval import RankingResult, evaluate_ranking
from lmrec.eval.sampling import forbidden_keys, sample_negatives
from lmrec.models.base import Recommender
from lmrec.models.popularity import Popularity


@dataclass(frozen=True)
class TableConfig:
    """No hyper-parameters: the scores are given."""


class TableScorer(Recommender):
    """Test model returning a fixed users x items score table; records the history rows it was given."""

    name = "table-test"
    config_class = TableConfig

    def __init__(self, table: np.ndarray) -> None:
        super().__init__()
        self.table = np.asarray(table, dtype=np.float32)
        self.seen_histories: list[sp.csr_matrix] = []

    def _fit(self, data: Interactions, rng: np.random.Generator) -> None:
        pass

    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        self.seen_histories.append(history)
        return self.table[users]


def fitted(table: np.ndarray) -> TableScorer:
    n_users, n_items = table.shape
    data = Interactions(
        users=np.arange(n_users),
        items=np.zeros(n_users, dtype=np.int64),
        user_vocab=Vocabulary(np.arange(n_users)),
        item_vocab=Vocabulary(np.arange(n_items)),
    )
    return TableScorer(table).fit(data)


def csr(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    r = [u for u, items in enumerate(rows) for _ in items]
    c = [i for items in rows for i in items]
    return sp.csr_matrix((np.ones(len(c)), (r, c)), shape=(len(rows), n_items))


# --- tiny known-answer case ------------------------------------------------------------------------
TABLE = np.array(
    [
        [0.9, 0.8, 0.7, 0.6, 0.5],  # user 0: ranking 0 1 2 3 4
        [0.5, 0.5, 0.5, 0.5, 0.5],  # user 1: all tied -> lower index first: 0 1 2 3 4
        [0.1, 0.2, 0.3, 0.4, 0.5],  # user 2: no targets
        [0.1, 0.2, 0.3, 0.4, 0.5],  # user 3: ranking 4 3 2 1 0
    ]
)
HISTORY = csr([[0], [], [1], [4]], 5)
TARGETS = csr([[2, 4], [3], [], [3, 4]], 5)
LOG3, LOG5 = math.log2(3), math.log2(5)


def test_known_answer() -> None:
    res = evaluate_ranking(
        fitted(TABLE),
        TARGETS,
        HISTORY,
        ns=(2, 4),
        metrics=("ndcg", "recall", "precision", "hr", "mrr", "map", "MRR@all"),
        keep_lists=True,
    )
    pu = res.per_user.set_index("user")
    assert list(pu.index) == [0, 1, 3]  # user 2 has no targets
    # user 0: item 0 is history -> list 1 2 3 4; T={2,4}; hits at ranks 2 and 4
    # user 1: list 0 1 2 3 (ties by index); T={3}; hit at rank 4
    # user 3: item 4 is history (and a target: it can never be hit) -> list 3 2 1 0; T={3,4}; hit at 1
    np.testing.assert_array_equal(res.lists, [[1, 2, 3, 4], [0, 1, 2, 3], [3, 2, 1, 0]])
    expected = {
        "Recall@2": [1 / 2, 0, 1 / 2],
        "Recall@4": [2 / 2, 1, 1 / 2],
        "Precision@2": [1 / 2, 0, 1 / 2],
        "Precision@4": [2 / 4, 1 / 4, 1 / 4],
        "HR@2": [1, 0, 1],
        "HR@4": [1, 1, 1],
        "MRR@2": [1 / 2, 0, 1],
        "MRR@4": [1 / 2, 1 / 4, 1],
        "MRR@all": [1 / 2, 1 / 4, 1],
        # DCG@2 user 0 = 1/log2(3); IDCG over min(2,2) = 1 + 1/log2(3); user 3: 1 / (1 + 1/log2 3)
        "NDCG@2": [(1 / LOG3) / (1 + 1 / LOG3), 0, 1 / (1 + 1 / LOG3)],
        # user 0 @4: DCG = 1/log2(3) + 1/log2(5); user 1: 1/log2(5) over IDCG 1
        "NDCG@4": [(1 / LOG3 + 1 / LOG5) / (1 + 1 / LOG3), 1 / LOG5, 1 / (1 + 1 / LOG3)],
        # AP@2 user 0 = P@2 / min(2,2) = 1/4; user 3 = P@1 / 2 = 1/2
        "MAP@2": [1 / 4, 0, 1 / 2],
        # AP@4 user 0 = (P@2 + P@4) / 2 = (1/2 + 2/4) / 2 = 1/2; user 1 = P@4 / 1 = 1/4; user 3 = 1/2
        "MAP@4": [1 / 2, 1 / 4, 1 / 2],
    }
    for col, values in expected.items():
        np.testing.assert_allclose(pu[col].to_numpy(), values, err_msg=col)
    assert res.summary()["Recall@4"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert res.protocol.ranking == "full" and res.protocol.n_items == 5 and res.protocol.exclude_history
    assert res.n_users == 3 and res.seconds > 0 and res.users_per_second > 0
    # coverage@2: items {1,2} ∪ {0,1} ∪ {3,2} = 4 of 5; counts [1,2,2,1,0]
    assert res.summary()["Coverage@2"] == pytest.approx(4 / 5)
    # Gini of sorted counts [0,1,1,2,2], m=5, sum 6: Σ(2k-6)c = (-2·1)+(0·1)+(2·2)+(4·2) = 10 -> 10/30
    assert res.summary()["Gini@2"] == pytest.approx(10 / 30)


def test_model_gets_the_history_rows() -> None:
    model = fitted(TABLE)
    evaluate_ranking(model, TARGETS, HISTORY, ns=(2,), metrics=("recall",), batch_size=2)
    given = sp.vstack(model.seen_histories)
    assert (given != HISTORY[[0, 1, 3]]).nnz == 0


def test_without_history_exclusion() -> None:
    res = evaluate_ranking(
        fitted(TABLE), TARGETS, HISTORY, ns=(2,), metrics=("recall",), exclude_history=False, keep_lists=True
    )
    # user 0: list 0 1 -> no hit; user 3: list 4 3 -> both targets
    np.testing.assert_array_equal(res.lists, [[0, 1], [0, 1], [4, 3]])
    np.testing.assert_allclose(res.per_user["Recall@2"], [0, 0, 1])
    assert not res.protocol.exclude_history


def test_extra_exclusion() -> None:
    extra = csr([[1], [0, 1, 2], [], []], 5)
    res = evaluate_ranking(
        fitted(TABLE), TARGETS, HISTORY, ns=(2,), metrics=("hr", "mrr"), exclude=extra, keep_lists=True
    )
    # user 0: 0 (history) and 1 removed -> 2 3 ; user 1: 0 1 2 removed -> 3 4
    np.testing.assert_array_equal(res.lists, [[2, 3], [3, 4], [3, 2]])
    np.testing.assert_allclose(res.per_user["MRR@2"], [1, 1, 1])
    assert res.protocol.extra_exclusions


def test_users_argument_and_skipping() -> None:
    res = evaluate_ranking(fitted(TABLE), TARGETS, HISTORY, ns=(2,), metrics=("recall",), users=[3, 2, 0])
    assert res.per_user["user"].tolist() == [3, 0]
    assert res.protocol.n_skipped_users == 1 and res.protocol.n_users == 2
    with pytest.raises(ValueError, match="duplicates"):
        evaluate_ranking(fitted(TABLE), TARGETS, HISTORY, users=[0, 0])
    with pytest.raises(ValueError, match="row indices"):
        evaluate_ranking(fitted(TABLE), TARGETS, HISTORY, users=[7])


def test_short_catalog_pads_lists() -> None:
    res = evaluate_ranking(
        fitted(TABLE), TARGETS, HISTORY, ns=(5,), metrics=("precision", "ndcg"), keep_lists=True
    )
    # users 0 and 3 have one history item -> 4 rankable items and an empty 5th slot; user 1 has none
    np.testing.assert_array_equal(res.lists[:, 4], [-1, 4, -1])
    # precision still divides by 5: hits {2,4}, {3}, {3}
    np.testing.assert_allclose(res.per_user["Precision@5"], [2 / 5, 1 / 5, 1 / 5])


def test_input_errors() -> None:
    model = fitted(TABLE)
    with pytest.raises(ValueError, match="history has shape"):
        evaluate_ranking(model, TARGETS, HISTORY[:3])
    with pytest.raises(ValueError, match="ranks 5 items but targets has 4 columns"):
        evaluate_ranking(model, TARGETS[:, :4], HISTORY[:, :4])
    with pytest.raises(TypeError, match=r"scipy\.sparse"):
        evaluate_ranking(model, TARGETS.toarray(), HISTORY)
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate_ranking(model, TARGETS, HISTORY, metrics=("nDCG", "recal"))
    nan_model = fitted(np.where(TABLE > 0.6, np.nan, TABLE))
    with pytest.raises(ValueError, match="NaN"):
        evaluate_ranking(nan_model, TARGETS, HISTORY)


# --- random data: reference implementation and batching --------------------------------------------
def random_case(
    seed: int, n_users: int = 50, n_items: int = 30
) -> tuple[np.ndarray, sp.csr_matrix, sp.csr_matrix]:
    rng = np.random.default_rng(seed)
    table = rng.integers(0, 6, size=(n_users, n_items)).astype(np.float64)  # many ties
    dense_hist = rng.random((n_users, n_items)) < 0.2
    dense_targets = (rng.random((n_users, n_items)) < 0.15) & ~dense_hist
    dense_targets[::7] = False  # some users without targets
    return table, sp.csr_matrix(dense_hist.astype(float)), sp.csr_matrix(dense_targets.astype(float))


def reference(table: np.ndarray, hist: sp.csr_matrix, targets: sp.csr_matrix, n: int) -> pd.DataFrame:
    """Plain-Python full ranking: sort by (-score, item), drop history, then the textbook formulas."""
    rows = []
    for u in range(table.shape[0]):
        t = set(targets[u].indices.tolist())
        if not t:
            continue
        seen = set(hist[u].indices.tolist())
        ranking = [i for i in sorted(range(table.shape[1]), key=lambda i: (-table[u, i], i)) if i not in seen]
        top = ranking[:n]
        rel = [i in t for i in top]
        first = next((r + 1 for r, h in enumerate(rel) if h), None)
        dcg = sum(1 / math.log2(r + 2) for r, h in enumerate(rel) if h)
        idcg = sum(1 / math.log2(r + 2) for r in range(min(n, len(t))))
        ap = sum(sum(rel[: r + 1]) / (r + 1) for r, h in enumerate(rel) if h) / min(n, len(t))
        full_first = next(r + 1 for r, i in enumerate(ranking) if i in t) if t - seen else None
        rows.append(
            {
                "user": u,
                f"Recall@{n}": sum(rel) / len(t),
                f"Precision@{n}": sum(rel) / n,
                f"HR@{n}": float(any(rel)),
                f"MRR@{n}": 1 / first if first else 0.0,
                f"NDCG@{n}": dcg / idcg,
                f"MAP@{n}": ap,
                "MRR@all": 1 / full_first if full_first else 0.0,
            }
        )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_reference_implementation(seed: int) -> None:
    table, hist, targets = random_case(seed)
    res = evaluate_ranking(
        fitted(table),
        targets,
        hist,
        ns=(7,),
        metrics=("recall", "precision", "hr", "mrr", "ndcg", "map", "MRR@all"),
    )
    ref = reference(table, hist, targets, 7)
    pd.testing.assert_frame_equal(res.per_user[ref.columns], ref, check_dtype=False, atol=1e-12, rtol=0)


def test_batch_size_does_not_change_results() -> None:
    table, hist, targets = random_case(3, n_users=70)
    vectors = np.random.default_rng(0).normal(size=(table.shape[1], 4))
    pop = np.asarray((hist > 0).sum(axis=0)).ravel()
    runs = [
        evaluate_ranking(
            fitted(table),
            targets,
            hist,
            ns=(3, 10),
            metrics=("ndcg", "recall", "MRR@all"),
            batch_size=b,
            keep_lists=True,
            item_popularity=pop,
            item_vectors=vectors,
        )
        for b in (1, 4, 33, 1000)
    ]
    for other in runs[1:]:
        pd.testing.assert_frame_equal(other.per_user, runs[0].per_user)
        np.testing.assert_array_equal(other.lists, runs[0].lists)
        assert other.summary() == runs[0].summary()


def test_progress_bar_runs() -> None:
    table, hist, targets = random_case(4)
    quiet = evaluate_ranking(fitted(table), targets, hist, batch_size=8)
    loud = evaluate_ranking(fitted(table), targets, hist, batch_size=8, progress=True)
    pd.testing.assert_frame_equal(quiet.per_user, loud.per_user)


def test_beyond_accuracy_columns() -> None:
    table, hist, targets = random_case(5)
    pop = np.asarray((hist > 0).sum(axis=0)).ravel()
    res = evaluate_ranking(
        fitted(table),
        targets,
        hist,
        ns=(5,),
        metrics=("hr",),
        item_popularity=pop,
        item_vectors=np.eye(table.shape[1]),
        keep_lists=True,
    )
    s = res.summary()
    # one-hot vectors are mutually orthogonal: every pair has cosine distance exactly 1
    assert s["ILD@5"] == pytest.approx(1.0)
    n_train = int((np.diff(hist.indptr) > 0).sum())
    lists = res.lists
    expected_arp = pop[lists].mean(axis=1)
    np.testing.assert_allclose(res.per_user["ARP@5"], expected_arp)
    info = -np.log2(np.maximum(pop, 1) / n_train)
    np.testing.assert_allclose(res.per_user["Novelty@5"], info[lists].mean(axis=1))
    assert s["Coverage@5"] == pytest.approx(np.unique(lists).size / table.shape[1])


# --- sampled negatives ----------------------------------------------------------------------------
def test_sampled_mode_is_labelled_and_reproducible() -> None:
    table, hist, targets = random_case(6, n_users=300, n_items=400)
    model = fitted(table)
    a = evaluate_ranking(model, targets, hist, ns=(10,), metrics=("ndcg", "hr"), sampled_negatives=20, seed=7)
    assert a.protocol.ranking == "sampled" and a.protocol.sampled_negatives == 20 and a.protocol.seed == 7
    assert a.metrics == ("NDCG@10[sampled-20]", "HR@10[sampled-20]")
    assert set(a.summary()) == set(a.metrics)  # no unlabelled number, no coverage
    b = evaluate_ranking(
        model, targets, hist, ns=(10,), metrics=("ndcg", "hr"), sampled_negatives=20, seed=7, batch_size=7
    )
    pd.testing.assert_frame_equal(a.per_user, b.per_user)  # negatives do not depend on the batch size
    c = evaluate_ranking(model, targets, hist, ns=(10,), metrics=("ndcg", "hr"), sampled_negatives=20, seed=8)
    assert not a.per_user.equals(c.per_user)
    full = evaluate_ranking(model, targets, hist, ns=(10,), metrics=("hr",))
    assert full.protocol.ranking == "full" and "HR@10" in full.summary()
    # scores are independent of the targets, so a target's rank is uniform over the 21 candidates
    assert a.summary()["HR@10[sampled-20]"] == pytest.approx(10 / 21, abs=0.02)
    with pytest.raises(ValueError, match="need full ranking"):
        evaluate_ranking(model, targets, hist, sampled_negatives=20, keep_lists=True)
    # without a seed the entropy drawn from the OS is recorded, so the run can be repeated
    first = evaluate_ranking(
        model, targets, hist, ns=(10,), metrics=("hr",), sampled_negatives=5, users=range(40)
    )
    assert isinstance(first.protocol.seed, int)
    repeat = evaluate_ranking(
        model,
        targets,
        hist,
        ns=(10,),
        metrics=("hr",),
        sampled_negatives=5,
        users=range(40),
        seed=first.protocol.seed,
    )
    pd.testing.assert_frame_equal(first.per_user, repeat.per_user)


def test_sampled_with_every_negative_equals_full_ranking() -> None:
    # 4 history items and 1 target per user, k = every other item: the sampled ranking is the full one
    rng = np.random.default_rng(9)
    n_users, n_items = 40, 25
    table = rng.integers(0, 4, size=(n_users, n_items)).astype(float)  # ties across the target/negatives
    picks = [rng.choice(n_items, size=5, replace=False) for _ in range(n_users)]
    hist = csr([p[:4].tolist() for p in picks], n_items)
    targets = csr([[int(p[4])] for p in picks], n_items)
    k = n_items - 5
    specs = ("ndcg", "hr", "mrr", "map", "MRR@all")
    s = evaluate_ranking(fitted(table), targets, hist, ns=(3, 10), metrics=specs, sampled_negatives=k, seed=0)
    f = evaluate_ranking(fitted(table), targets, hist, ns=(3, 10), metrics=specs)
    for col in f.metrics:
        np.testing.assert_allclose(s.per_user[f"{col}[sampled-{k}]"], f.per_user[col], err_msg=col)
    assert f.per_user["HR@3"].between(0, 1).all() and 0 < f.summary()["HR@10"] < 1


def test_sample_negatives_are_valid_and_uniform() -> None:
    n_items, k = 12, 4
    forb_rows = [[0, 1, 2], [5], []]
    block = csr(forb_rows, n_items)
    forbidden = forbidden_keys([block], n_items)
    rng = np.random.default_rng(0)
    rows = np.repeat(np.arange(3), 3000)
    neg = sample_negatives(rng, rows, forbidden, n_items, k)
    assert neg.shape == (rows.size, k)
    assert (np.diff(np.sort(neg, axis=1), axis=1) > 0).all()  # distinct within a draw
    for r, bad in enumerate(forb_rows):
        drawn = neg[rows == r]
        assert not np.isin(drawn, bad).any()
        counts = np.bincount(drawn.ravel(), minlength=n_items)
        allowed = np.setdiff1d(np.arange(n_items), bad)
        expected = drawn.size / allowed.size
        # each allowed item is drawn with probability k / |allowed|; 6 sigma bound on the counts
        assert np.abs(counts[allowed] - expected).max() < 6 * math.sqrt(expected)
    with pytest.raises(ValueError, match="fewer than sampled_negatives"):
        sample_negatives(rng, np.array([0]), forbidden, n_items, 10)


def test_sample_negatives_when_almost_everything_is_forbidden() -> None:
    # 3 allowed items out of 2000: rejection sampling alone would need thousands of rounds
    n_items = 2000
    allowed = np.array([7, 1500, 1999])
    block = sp.csr_matrix(np.isin(np.arange(n_items), allowed, invert=True)[None, :].astype(float))
    forbidden = forbidden_keys([block], n_items)
    neg = sample_negatives(np.random.default_rng(1), np.zeros(5, dtype=np.int64), forbidden, n_items, 3)
    np.testing.assert_array_equal(neg, np.tile(allowed, (5, 1)))
    two = sample_negatives(np.random.default_rng(2), np.zeros(300, dtype=np.int64), forbidden, n_items, 2)
    assert np.isin(two, allowed).all() and (two[:, 0] != two[:, 1]).all()
    # every 2-subset of the 3 allowed items is about equally likely (100 expected each)
    _, counts = np.unique(two, axis=0, return_counts=True)
    assert counts.size == 3 and counts.min() > 60


# --- cross-check against trec_eval on real data ------------------------------------------------------
@pytest.fixture(scope="module")
def ml100k_popularity_run(ml100k_dir: Path) -> tuple[RankingResult, sp.csr_matrix]:
    frame = pd.read_csv(ml100k_dir / "u.data", sep="\t", names=["user", "item", "rating", "timestamp"])
    data = Interactions.from_frame(frame)  # events sorted by user, timestamp, item
    indptr = data.indptr()
    pos = np.arange(len(data)) - indptr[data.users]
    size = np.diff(indptr)[data.users]
    in_train = pos < (8 * size) // 10  # per-user temporal 80/20
    train, test = data.subset(in_train), data.subset(~in_train)
    model = Popularity().fit(train)
    res = evaluate_ranking(
        model,
        test.csr(),
        train.csr(),
        ns=(10, 20),
        metrics=("ndcg", "precision", "recall", "mrr", "map"),
        keep_lists=True,
    )
    return res, test.csr()


@pytest.mark.parametrize("n", [10, 20])
def test_ml100k_popularity_matches_trec_eval(
    ml100k_popularity_run: tuple[RankingResult, sp.csr_matrix], n: int
) -> None:
    res, targets = ml100k_popularity_run
    assert res.n_users == 943
    users = res.per_user["user"].to_numpy()
    run = {
        str(u): {str(i): float(n - r) for r, i in enumerate(row[:n])}
        for u, row in zip(users, res.lists, strict=True)
    }
    qrel = {str(u): {str(i): 1 for i in targets[u].indices} for u in users}
    trec = pytrec_eval.RelevanceEvaluator(
        qrel, {f"ndcg_cut.{n}", f"P.{n}", f"recall.{n}", "recip_rank", f"map_cut.{n}"}
    ).evaluate(run)
    ref = pd.DataFrame.from_dict(trec, orient="index").loc[[str(u) for u in users]]
    n_targets = np.diff(targets.indptr)[users]
    pu = res.per_user
    np.testing.assert_allclose(pu[f"NDCG@{n}"], ref[f"ndcg_cut_{n}"], atol=1e-12)
    np.testing.assert_allclose(pu[f"Precision@{n}"], ref[f"P_{n}"], atol=1e-12)
    np.testing.assert_allclose(pu[f"Recall@{n}"], ref[f"recall_{n}"], atol=1e-12)
    np.testing.assert_allclose(pu[f"MRR@{n}"], ref["recip_rank"], atol=1e-12)  # run = top n only
    # trec's map_cut divides by |T|, lmrec's AP@n by min(n, |T|)
    np.testing.assert_allclose(
        pu[f"MAP@{n}"], ref[f"map_cut_{n}"] * n_targets / np.minimum(n, n_targets), atol=1e-12
    )
    assert pu[f"Recall@{n}"].mean() > 0.01  # popularity does find some test items


def test_no_users_and_all_nan_columns() -> None:
    model = fitted(TABLE)
    with pytest.raises(ValueError, match="no user to evaluate"):
        evaluate_ranking(model, TARGETS, HISTORY, users=[2])
    # ILD of one-item lists is undefined for everyone: NaN in the summary, no numpy warning
    res = evaluate_ranking(model, TARGETS, HISTORY, ns=(1,), metrics=("hr",), item_vectors=np.eye(5))
    assert res.per_user["ILD@1"].isna().all() and math.isnan(res.summary()["ILD@1"])
    record = res.to_dict()
    assert record["n_users"] == 3 and record["protocol"]["ranking"] == "full"
    assert record["summary"]["HR@1"] == pytest.approx(1 / 3)  # only user 3's top item (3) is a target
