"""`RecommendBatcher`: concurrent single-user requests are answered in batches, each with its own answer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lmrec.models.knn import ItemKNN
from lmrec.service import RecommenderService
from lmrec.service.batching import RecommendBatcher
from lmrec.service.metrics import Metrics


def counters(metrics: Metrics) -> dict[str, float]:
    text = metrics.render()
    return {
        name: float(line.split()[-1])
        for line in text.splitlines()
        for name in ("recommend_batches", "recommend_batched_requests")
        if line.startswith(f"lmrec_{name}_total ")
    }


def test_concurrent_requests_get_the_same_lists_as_alone(knn: ItemKNN) -> None:
    service = RecommenderService.open(knn)
    users = ["u001", "u002", "nobody", "u003", "u004"] * 8
    alone = [service.recommend_user(u, 5) for u in users]
    metrics = Metrics()
    batcher = RecommendBatcher(service, metrics)

    async def many() -> list[Any]:
        return await asyncio.gather(*(batcher.recommend(u, 5) for u in users))

    together = asyncio.run(many())
    batcher.close()
    assert [r.items for r in together] == [r.items for r in alone]
    assert [r.fallback for r in together] == [r.fallback for r in alone]
    c = counters(metrics)
    assert c["recommend_batched_requests"] == len(users)
    assert c["recommend_batches"] < len(users), "requests queued together are answered together"
    service.close()


def test_mixed_list_lengths_are_answered_by_group(knn: ItemKNN) -> None:
    service = RecommenderService.open(knn)
    batcher = RecommendBatcher(service, max_batch=3)

    async def mixed() -> list[Any]:
        calls = [batcher.recommend("u001", n, exclude_seen=n % 2 == 0) for n in (1, 2, 3, 4, 5, 2, 1)]
        return await asyncio.gather(*calls)

    got = asyncio.run(mixed())
    assert [len(r.items) for r in got] == [1, 2, 3, 4, 5, 2, 1]
    assert got[1].items == service.recommend_user("u001", 2, exclude_seen=True).items
    batcher.close()
    service.close()


def test_a_failing_request_fails_alone(knn: ItemKNN, monkeypatch: pytest.MonkeyPatch) -> None:
    service = RecommenderService.open(knn)
    real = service.recommend_users

    def picky(users: list[Any], n: int, *, exclude_seen: bool = True) -> Any:
        if "boom" in users:
            raise RuntimeError("cannot score boom")
        return real(users, n, exclude_seen=exclude_seen)

    monkeypatch.setattr(service, "recommend_users", picky)
    batcher = RecommendBatcher(service)

    async def run() -> list[Any]:
        calls = [batcher.recommend(u, 3) for u in ("u001", "boom", "u002")]
        return await asyncio.gather(*calls, return_exceptions=True)

    ok1, bad, ok2 = asyncio.run(run())
    assert isinstance(bad, RuntimeError) and "boom" in str(bad)
    assert ok1.items == real(["u001"], 3)[0].items and ok2.items == real(["u002"], 3)[0].items
    batcher.close()
    service.close()


def test_batcher_restarts_after_close(knn: ItemKNN) -> None:
    service = RecommenderService.open(knn)
    batcher = RecommendBatcher(service)
    first = asyncio.run(batcher.recommend("u001", 3))
    batcher.close()
    again = asyncio.run(batcher.recommend("u001", 3))
    assert first.items == again.items
    with pytest.raises(ValueError, match="max_batch"):
        RecommendBatcher(service, max_batch=0)
    batcher.close()
    service.close()
