"""Scheduled retraining: the service refits by itself when enough new events arrived; failures keep it up."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lmrec.models.knn import ItemKNN
from lmrec.service import RecommenderService, create_app
from lmrec.service.schedule import RetrainSchedule
from lmrec.service.store import Event


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_tick_retrains_only_with_enough_new_events(knn: ItemKNN) -> None:
    service = RecommenderService.open(knn)
    schedule = RetrainSchedule(service, interval=3600, min_events=2)
    assert schedule.tick() is None and schedule.skipped == 1, "no events: nothing to learn"
    service.add_events([Event("u001", "101")])
    assert schedule.pending_events() == 1
    assert schedule.tick() is None and service.live.version == 1, "below min_events"
    service.add_events([Event("u001", "102")])
    info = schedule.tick()
    assert info is not None and info["events_used"] == 2 and service.live.version == 2
    assert schedule.pending_events() == 0 and schedule.runs == 1
    assert schedule.tick() is None, "the events are in the model now"
    service.close()


def test_failed_retrain_is_reported_and_the_model_keeps_serving(
    knn: ItemKNN, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = RecommenderService.open(knn)
    service.add_events([Event("u001", "101")])

    def broken(**_: object) -> None:
        raise MemoryError("no room for the new model")

    monkeypatch.setattr(service, "retrain", broken)
    schedule = RetrainSchedule(service, interval=3600)
    assert schedule.tick() is None
    assert schedule.failures == 1 and schedule.last_error == "MemoryError: no room for the new model"
    assert service.recommend_user("u001", 5).items and service.live.version == 1
    service.close()


@pytest.mark.parametrize(("interval", "min_events"), [(0, 1), (-5, 1), (10, 0)])
def test_bad_schedule_is_refused(knn: ItemKNN, interval: float, min_events: int) -> None:
    service = RecommenderService.open(knn)
    with pytest.raises(ValueError, match=r"interval|min_events"):
        RetrainSchedule(service, interval=interval, min_events=min_events)
    service.close()


def test_app_retrains_on_schedule_and_hot_swaps(knn_dir: Path, store_url: str, auth: dict[str, str]) -> None:
    app = create_app(knn_dir, store_url=store_url, token="test-token", retrain_every=0.2)
    with TestClient(app) as c:
        status = c.get("/model").json()["retrain_schedule"]
        assert status["running"] and status["interval_seconds"] == 0.2
        time.sleep(0.5)
        assert c.get("/model").json()["version"] == 1, "no events, no retrain"
        c.post("/events", json={"user": "u004", "item": 118}, headers=auth)
        wait_for(lambda: c.get("/model").json()["version"] == 2)
        info = c.get("/model").json()
        assert info["events_in_model"] == 1 and info["online_events"] == 0
        assert info["retrain_schedule"]["runs"] == 1 and info["last_retrain"]["events_used"] == 1
        assert c.get("/users/u004/recommendations").json()["model_version"] == 2
    assert app.state.service.schedule.status()["running"] is False, "shutdown stops the schedule"


def test_app_without_schedule_reports_none(knn_dir: Path, store_url: str) -> None:
    with TestClient(create_app(knn_dir, store_url=store_url)) as c:
        assert c.get("/model").json()["retrain_schedule"] is None
