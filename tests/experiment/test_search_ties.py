"""Equal validation scores select the same candidate whatever order the search ran its candidates in: the
in-process search groups candidates by fit (scoring parameters rescored, not refitted), a Ray search runs
them in grid order, and both must keep the earliest candidate of the grid among equals."""

from __future__ import annotations

from typing import Any

from lmrec.experiment.tuning import Trial, _Rounds, _Search
from lmrec.models.fit_context import FitContext

# grid order: fit param f, scoring param s; the best score (0.5) is shared by (f 2, s 0) and (f 1, s 1)
GRID = [{"f": 1, "s": 0}, {"f": 2, "s": 0}, {"f": 1, "s": 1}, {"f": 2, "s": 1}]
SCORES = {(1, 0): 0.1, (2, 0): 0.5, (1, 1): 0.5, (2, 1): 0.2}


def fit(params: dict[str, Any], *, context: FitContext, reuse: Any = None) -> tuple[Trial, Any, dict]:
    score = SCORES[(params["f"], params["s"])]
    trial = Trial(params=params, valid={"NDCG@10": score}, fit_seconds=0.0)
    model = ("model", params["f"], params["s"])
    return trial, model, {"seconds": 0.0}


class Bar:
    def update(self, task: Any, total: int) -> None:
        pass

    def advance(self, task: Any) -> None:
        pass


class InOrderEngine:
    """What a Ray engine returns: one result per candidate, in the order given."""

    def map(self, fn: Any, items: list[Any], inputs: dict[str, Any], **_: Any) -> list[Any]:
        return [fn(item, **inputs, context=FitContext()) for item in items]


class Spec:
    display = "fake"


def search(engine: Any) -> _Search:
    state = _Search(Spec(), "NDCG@10", True, lambda _: None)  # type: ignore[arg-type]
    rounds = _Rounds(
        state,
        fit,
        {},
        FitContext(),
        engine,
        Bar(),
        None,
        1,
        False,
        frozenset({"s"}),  # type: ignore[arg-type]
    )
    rounds([dict(c) for c in GRID])
    return state


def test_equal_scores_select_the_earliest_candidate_of_the_grid_in_both_paths() -> None:
    grouped, in_order = search(None), search(InOrderEngine())
    # the in-process search ran (f 1, s 1) before (f 2, s 0); the engine in grid order
    assert [(t.params["f"], t.params["s"]) for t in grouped.trials] == [(1, 0), (1, 1), (2, 0), (2, 1)]
    assert grouped.trials[1].fit_of == 0  # rescored, not refitted
    assert [(t.params["f"], t.params["s"]) for t in in_order.trials] == [(1, 0), (2, 0), (1, 1), (2, 1)]
    for state in (grouped, in_order):
        assert state.best().params == {"f": 2, "s": 0}  # grid position 1, before (f 1, s 1) at 2
        assert state.kept is not None and state.kept[1] == ("model", 2, 0)
