"""Fixtures of the evaluation tests (helpers live in synthetic_graph.py, a unique module name)."""
from __future__ import annotations

import pytest

from synthetic_graph import build_snapshot
from kg_recsys.store.base import GraphSnapshot


@pytest.fixture(scope="session")
def snapshot() -> GraphSnapshot:
    return build_snapshot()
