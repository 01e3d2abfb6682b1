"""The explorer's two read endpoints (a user's history, explained recommendations with each hybrid
component's list) and the page itself; the page in a real browser: test_explorer_browser.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lmrec.service import create_app
from lmrec.testing.movielens import title_of


@pytest.fixture()
def client(explorer_model: Path, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(
        create_app(explorer_model, store_url=f"sqlite:///{tmp_path / 'e.sqlite'}", token="t")
    ) as c:
        yield c


def test_history_then_posted_events(client: TestClient) -> None:
    before = client.get("/users/3/history?n=1000").json()
    assert before["user"] == 3 and before["online_events"] == 0
    assert len(before["items"]) == before["history_length"] > 0
    assert all(e["title"] == title_of(e["item"]) and e["source"] == "training" for e in before["items"])
    assert (
        client.post("/events", json={"user": 3, "item": 5}, headers={"Authorization": "Bearer t"}).status_code
        == 200
    )
    after = client.get("/users/3/history?n=2").json()
    assert after["history_length"] == before["history_length"] + 1 and after["online_events"] == 1
    assert after["items"][-1] == {
        "item": 5,
        "source": "event",
        "title": title_of(5),
        "fields": after["items"][-1]["fields"],
    }
    assert len(after["items"]) == 2  # the last n, oldest first


def test_explanation_matches_the_served_list_and_lists_components(client: TestClient) -> None:
    served = client.get("/users/3/recommendations?n=5").json()["items"]
    explained = client.get("/users/3/explanation?n=5").json()
    assert [e["item"] for e in explained["items"]] == [e["item"] for e in served]
    for entry in explained["items"]:
        assert entry["title"] == title_of(entry["item"])
        assert [c["component"] for c in entry["components"]] == ["ease", "itemknn"]
        assert all(b["title"] == title_of(b["item"]) for b in entry["because"])
    assert [c["component"] for c in explained["components"]] == ["ease", "itemknn"]
    assert all(len(c["items"]) == 5 for c in explained["components"])
    # after an event the explanation follows the new history, as the served list does
    client.post("/events", json={"user": 3, "item": served[0]["item"]}, headers={"Authorization": "Bearer t"})
    again = client.get("/users/3/explanation?n=5").json()
    assert served[0]["item"] not in [e["item"] for e in again["items"]]
    assert [e["item"] for e in again["items"]] == [
        e["item"] for e in client.get("/users/3/recommendations?n=5").json()["items"]
    ]


def test_unknown_user_gets_the_fallback_and_the_page_is_served(client: TestClient) -> None:
    body = client.get("/users/nobody/explanation?n=3").json()
    assert body["fallback"] == "popularity" and len(body["items"]) == 3 and body["components"] == []
    assert client.get("/users/nobody/history").json()["history_length"] == 0
    page = client.get("/explorer")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "window.LMREC_BOOT" in page.text and '"users": [1, 2, 3' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing fetched from elsewhere


def test_explorer_reads_need_the_token_with_auth_reads(explorer_model: Path, tmp_path: Path) -> None:
    app = create_app(
        explorer_model, store_url=f"sqlite:///{tmp_path / 'e.sqlite'}", token="t", auth_reads=True
    )
    with TestClient(app) as c:
        assert c.get("/users/3/history").status_code == 401
        assert c.get("/users/3/explanation").status_code == 401
        assert c.get("/users/3/history", headers={"Authorization": "Bearer t"}).status_code == 200
        assert c.get("/explorer").status_code == 200  # the page holds no data
