"""Shared fixtures. Real datasets come from ../shared/data (or $LMREC_SHARED_DATA); tests skip without."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    return Path(os.environ.get("LMREC_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder holding the staged real datasets (ml-100k/, amazon-s3rec/, ...)."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real datasets not found at {path} (set LMREC_SHARED_DATA to the shared/data folder)")
    return path


@pytest.fixture(scope="session")
def ml100k_dir(shared_data: Path) -> Path:
    path = shared_data / "ml-100k"
    if not (path / "u.data").is_file():
        pytest.skip(f"MovieLens-100K not found at {path}")
    return path


CHROMIUM = Path(os.environ.get("LMREC_CHROMIUM", "/usr/bin/chromium"))
"""The system Chromium the browser tests drive (Debian package `chromium`; scripts/install_chromium.sh)."""


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    """Headless Chromium through Playwright, for the tests marked `browser`. Skips with the reason when
    Playwright (the `browser` extra) or the system Chromium is missing; Playwright's own browser download
    (`playwright install`) is never used.

    Module scope, not session: while Playwright's sync API is open it keeps an asyncio loop running in
    the main thread, and every later `asyncio.run` (the service tests) would fail."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[browser]'; scripts/setup.sh does)")
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set LMREC_CHROMIUM)")
    # Chromium's sandbox cannot start as root (CI containers); it adds nothing for a local test page
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    """A fresh page (1200 x 900) that records console errors and uncaught exceptions in `page.problems`."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    tab = context.new_page()
    problems: list[str] = []
    tab.on(
        "console",
        lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None,
    )
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    tab.problems = problems
    yield tab
    context.close()
