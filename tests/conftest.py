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
