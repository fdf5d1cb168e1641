"""Fixtures for the ingestion tests: the real data folder (``../shared/data`` beside the
project, or ``$KGREC_DATA_DIR``) and a small canonical dataset writer."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from ingest import resolve_data_dir


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data sets. On CI (``CI`` set) a missing folder fails the run; elsewhere the
    tests that need it skip with the reason."""
    folder = resolve_data_dir()
    if not (folder / "ml-100k-kg").is_dir():
        message = f"real data not found at {folder}; set KGREC_DATA_DIR or put ../shared/data beside the project"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return folder
