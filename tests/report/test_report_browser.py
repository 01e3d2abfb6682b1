"""The report in a real browser (headless Chromium): every plot renders, offline, without a console error."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

RENDERED = "document.querySelectorAll('.lmrec-plot .js-plotly-plot .main-svg').length"
"""Plot containers plotly has drawn into (it adds .js-plotly-plot and the svg layers when it renders)."""


def test_report_renders_every_plot_offline_without_errors(page, report_run: Path) -> None:  # type: ignore[no-untyped-def]
    requests: list[str] = []

    def offline(route) -> None:  # type: ignore[no-untyped-def]
        # the page must not need the network: anything but the file itself is refused and recorded
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            requests.append(route.request.url)
            route.abort()

    page.route("**/*", offline)
    page.goto((report_run / "report.html").as_uri())
    expected = int(page.get_attribute("body", "data-plots"))
    assert expected == page.locator(".lmrec-plot").count() >= 13
    page.wait_for_function(f"{RENDERED} >= {expected}", timeout=30_000)
    plots = "[...document.querySelectorAll('.lmrec-plot')]"
    drawn = page.evaluate(
        f"{plots}.filter(d => d.querySelector('.js-plotly-plot .main-svg')).map(d => d.dataset.plot)"
    )
    assert len(drawn) == expected
    # each plot drew data, not an empty frame: its traces (or heatmap) are in the svg
    traces = "'.cartesianlayer .trace, .cartesianlayer .hm'"
    empty = page.evaluate(f"{plots}.filter(d => !d.querySelector({traces})).map(d => d.dataset.plot)")
    assert empty == []
    assert page.problems == [] and requests == []
