"""The explorer page in a real browser (headless Chromium): load a user, see titles and
recommendations, post an event and see the recommendations change."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmrec.testing.movielens import title_of

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(explorer_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`lmrec serve` of a hybrid with titles, on loopback in a thread (uvicorn, as the CLI runs it)."""
    import uvicorn

    from lmrec.service import create_app

    root = tmp_path_factory.mktemp("explorer_browser")  # its own event store
    app = create_app(explorer_model, store_url=f"sqlite:///{root / 'e.sqlite'}")
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def _listed(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.eval_on_selector_all("#recs tbody tr.rec", "rows => rows.map(r => r.dataset.item)")


def test_explorer_shows_a_user_and_the_effect_of_an_event(page, server: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server}/explorer")
    page.fill("#user", "3")
    page.click("#show")
    page.wait_for_selector("#recs tbody tr.rec")
    before = _listed(page)
    assert len(before) == 10
    titles = page.eval_on_selector_all("#recs tbody tr.rec .title", "t => t.map(x => x.textContent)")
    assert titles == [title_of(int(i)) for i in before]
    history = page.eval_on_selector_all(
        "#history li", "li => li.map(x => [x.dataset.item, x.querySelector('.title').textContent])"
    )
    assert history and all(title == title_of(int(item)) for item, title in history)
    assert page.locator("#components .component").count() == 2  # each hybrid component's own list
    assert "ease: #" in page.inner_text("#recs tbody tr.rec >> nth=0")  # why: component ranks

    page.click(f'#recs tbody tr.rec[data-item="{before[0]}"] button:has-text("consume")')
    page.wait_for_selector("#changes:has-text('After the event')")
    after = _listed(page)
    assert before[0] not in after and after != before  # the consumed item left the list, others came in
    assert page.locator("#recs tbody tr.new").count() == len(set(after) - set(before)) >= 1
    assert page.locator(f'#history li.event[data-item="{before[0]}"]').count() == 1
    assert "stored event" in page.inner_text("#event-result")
    assert page.problems == []
