"""Fixtures of the experiments' tests. They are outside the default test run (pytest's
``testpaths`` is ``tests``): run them with ``python -m pytest experiments``.

The ceiling test uses the synthetic graph of the evaluation tests."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[2] / "tests" / "evaluation"))
from synthetic_graph import build_snapshot  # noqa: E402

from kg_recsys.store.base import GraphSnapshot  # noqa: E402


@pytest.fixture(scope="session")
def snapshot() -> GraphSnapshot:
    return build_snapshot()
