"""Shared fixtures. Store fixtures: ``memory_store``, ``neo4j_store`` and ``store`` (parametrized
over both, so a test that takes ``store`` is a contract test).

Neo4j tests never skip: ``neo4j_uri`` connects to ``KGREC_NEO4J_URI`` (default
``bolt://127.0.0.1:7687``) with ``KGREC_NEO4J_PASSWORD``; if nothing answers there it starts
the project's own server (``kg_recsys.neo4j_server``) and stops it after the session. If that
fails, the tests fail with the server's log.
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import pytest

from kg_recsys.store.memory import MemoryStore

DEFAULT_NEO4J_URI = "bolt://127.0.0.1:7687"
DEFAULT_TEST_PASSWORD = "kgrec-test-password"


@pytest.fixture(scope="session")
def neo4j_uri() -> str:
    """Bolt URI of a Neo4j that answers with ``KGREC_NEO4J_PASSWORD``; starts one if needed."""
    from kg_recsys import neo4j_server
    from kg_recsys.store.neo4j import check_connectivity

    uri = os.environ.get("KGREC_NEO4J_URI", DEFAULT_NEO4J_URI)
    os.environ.setdefault("KGREC_NEO4J_PASSWORD", DEFAULT_TEST_PASSWORD)
    try:
        check_connectivity(uri)
        started = False
    except Exception as error:  # nothing answers (or not with our password): start ours
        parsed = urlparse(uri)
        if parsed.hostname not in ("127.0.0.1", "localhost"):
            pytest.fail(f"Neo4j at {uri} does not answer ({error}) and is not local, so it cannot be started")
        neo4j_server.start(port=parsed.port or 7687, http_port=0)
        started = True
    yield uri
    if started:
        neo4j_server.stop()


@pytest.fixture
def neo4j_store(neo4j_uri):
    """A :class:`Neo4jStore` on an empty database (everything deleted before the test)."""
    from kg_recsys.store.neo4j import Neo4jStore

    with Neo4jStore(neo4j_uri, batch_size=7) as store:  # small batches: exercise the chunking
        store.clear()
        store.ensure_schema()
        yield store


@pytest.fixture
def memory_store(tmp_path):
    """A :class:`MemoryStore` persisted to a fresh temporary folder."""
    with MemoryStore(tmp_path / "graph") as store:
        yield store


@pytest.fixture(params=["memory", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def store(request):
    """Each store backend in turn: the contract suite runs once per backend."""
    return request.getfixturevalue(f"{request.param}_store")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data sets. On CI (``CI`` set) a missing folder fails the run; elsewhere the
    tests that need it skip with the reason."""
    # The library reads only $KGREC_DATA_DIR (or --data-dir); a checkout's tests also look beside it.
    folder = Path(os.environ.get("KGREC_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data")
    if not (folder / "ml-100k-kg").is_dir():
        message = f"real data not found at {folder}; set KGREC_DATA_DIR or put ../shared/data beside the project"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return folder
