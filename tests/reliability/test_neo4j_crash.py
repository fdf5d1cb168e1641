"""kill -9 around a real ``kgrec ingest`` into Neo4j (issue 20, fault injection).

* The ingest process is killed at random points: each time the graph is a prefix of the full
  one, and a re-run makes every count exact.
* The server is killed mid-ingest: the ingest ends in one line naming the store and what to do
  (exit 2, after the driver's retries), ``kgrec neo4j start`` brings the server back, every batch
  committed before the kill is still there, and a re-run makes every count exact.

"Exact" is the counts of the same source ingested without interruption. The server the session
uses is restarted on its own port, home and Browser port, so the tests after these find it
running (whatever happens here, see ``_server_running``).
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest

from ingest import ingest_source
from kg_recsys import neo4j_server
from kg_recsys.store.memory import MemoryStore
from kg_recsys.store.neo4j import RETRY_ENV, Neo4jStore
from test_memory_concurrency import flat, synthetic_folder

pytestmark = pytest.mark.neo4j

#: ``kgrec`` itself, run by this interpreter (whichever checkout is on its path).
KGREC = [sys.executable, "-c", "import sys; from kg_recsys.cli import main; sys.exit(main())"]
#: Small batches: many transactions, so that a kill lands between and inside them.
KILLED_BATCH = "100"


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    """A small canonical folder and its counts when ingested without interruption."""
    data = synthetic_folder(tmp_path_factory.mktemp("neo4j-crash") / "data", users=300, items=200,
                            interactions=3000)
    summary = ingest_source(data, MemoryStore(None), progress=False)
    return data, flat({"nodes": summary.nodes, "relationships": summary.relationships})


def _empty(uri: str) -> None:
    with Neo4jStore(uri) as store:
        store.clear()
        store.ensure_schema()


def _ingest(uri: str, data: Path, *batch: str) -> subprocess.Popen:
    # A lost server is retried for 3 s, not the driver's 30: the test waits for the give-up.
    return subprocess.Popen([*KGREC, "ingest", str(data), "--store", uri, "--no-progress", *batch],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, RETRY_ENV: "3"})


def _wait_for_progress(uri: str, process: subprocess.Popen, done: int, timeout: float = 60) -> dict[str, int]:
    """Poll the counts until their total reaches ``done``; the last counts seen."""
    deadline = time.monotonic() + timeout
    with Neo4jStore(uri) as store:
        while time.monotonic() < deadline:
            counts = flat(store.counts())
            if sum(counts.values()) >= done:
                return counts
            assert process.poll() is None, f"the ingest ended first: {process.communicate()}"
            time.sleep(0.05)
    raise AssertionError(f"the ingest did not reach {done} records in {timeout:.0f} s")


def _is_prefix(seen: dict[str, int], expected: dict[str, int]) -> bool:
    return set(seen) <= set(expected) and all(n <= expected[key] for key, n in seen.items())


@contextmanager
def _server_running(uri: str):
    """The project's server at ``uri``, left running afterwards whatever the test did to it."""
    current = neo4j_server.status()
    if not current.running or urlparse(current.bolt_uri).port != urlparse(uri).port:
        pytest.skip(f"the Neo4j at {uri} was not started by `kgrec neo4j start`, so it cannot be killed and restarted")
    http_port = urlparse(current.browser_url).port if current.browser_url else 0
    restart = [*KGREC, "neo4j", "start", "--port", str(urlparse(uri).port), "--http-port", str(http_port),
               "--data-dir", current.home, "--timeout", "300"]
    try:
        yield current, restart
    finally:
        if not neo4j_server.status().running:
            subprocess.run(restart, capture_output=True, timeout=320)


def test_kill_9_of_the_ingest_at_random_points(neo4j_uri, source):
    data, expected = source
    total = sum(expected.values())
    _empty(neo4j_uri)
    rng, kills = random.Random(20), []
    # Three kills, each later in the source than the one before (a re-run writes its prefix again
    # before it reaches new rows), at a random fraction of the records.
    for fraction in sorted(rng.uniform(0.15, 0.85) for _ in range(3)):
        ingest = _ingest(neo4j_uri, data, "--batch-size", KILLED_BATCH)
        try:
            _wait_for_progress(neo4j_uri, ingest, int(fraction * total))
            time.sleep(rng.uniform(0, 0.2))  # between or inside a transaction
            ingest.send_signal(signal.SIGKILL)
            ingest.wait(timeout=60)
        finally:
            ingest.kill()
        kills.append(ingest.returncode == -signal.SIGKILL)
        with Neo4jStore(neo4j_uri) as store:
            seen = flat(store.counts())
        assert _is_prefix(seen, expected), (seen, expected)  # whole batches or nothing, never more
    started = time.monotonic()
    rerun = subprocess.run([*KGREC, "ingest", str(data), "--store", neo4j_uri, "--no-progress"],
                           capture_output=True, text=True, timeout=300)
    recovery = time.monotonic() - started
    assert rerun.returncode == 0, rerun.stderr
    assert flat(json.loads(rerun.stdout)) == expected
    with Neo4jStore(neo4j_uri) as store:
        assert flat(store.counts()) == expected  # exact after three kills
    assert sum(kills) == 3, f"only {sum(kills)} of 3 kills hit a running ingest"
    print(f"ingest kills: {sum(kills)}, recovery (re-run) {recovery:.1f} s")


# Last: the restarted server is cold (its first queries are planned and compiled again).
def test_kill_9_of_the_server_mid_ingest(neo4j_uri, source):
    data, expected = source
    with _server_running(neo4j_uri) as (server, restart):
        _empty(neo4j_uri)
        ingest = _ingest(neo4j_uri, data, "--batch-size", KILLED_BATCH)
        try:
            # Nodes are written first, then interactions: kill once some of those are in.
            acknowledged = _wait_for_progress(neo4j_uri, ingest, expected["User"] + expected["Item"] + 600)
            os.kill(server.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            neo4j_server.status()  # reaps the server if this process started it
            out, err = ingest.communicate(timeout=120)
        finally:
            ingest.kill()
        # One clear line, not a traceback: it names the store and says what to do.
        assert ingest.returncode == 2, (out, err)
        assert out == "" and err.count("\n") == 1, err
        assert err.startswith(f"kgrec ingest: error: lost the connection to Neo4j at {neo4j_uri} "), err
        assert "kgrec neo4j start" in err and "re-run" in err, err

        started = subprocess.run(restart, capture_output=True, text=True, timeout=320)
        assert started.returncode == 0, started.stderr[-3000:]
        back = time.monotonic()
        with Neo4jStore(neo4j_uri) as store:
            after = flat(store.counts())
        # Every batch the server had committed before the kill survived it; nothing extra appeared.
        assert all(after.get(key, 0) >= n for key, n in acknowledged.items()), (acknowledged, after)
        assert _is_prefix(after, expected), (after, expected)

        rerun = subprocess.run([*KGREC, "ingest", str(data), "--store", neo4j_uri, "--no-progress"],
                               capture_output=True, text=True, timeout=300)
        done = time.monotonic()
        assert rerun.returncode == 0, rerun.stderr
        summary = json.loads(rerun.stdout)
        assert flat(summary) == expected  # exact: nothing lost, nothing doubled
        with Neo4jStore(neo4j_uri) as store:
            assert flat(store.counts()) == expected
    print(f"server killed at {acknowledged}; restart {back - killed_at:.1f} s, "
          f"re-run {done - back:.1f} s, recovery {done - killed_at:.1f} s")
