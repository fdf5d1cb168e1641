"""Snapshots of Neo4j taken in a loop while ``kgrec ingest`` writes to it (issue 20, defect 5 and
the concurrency probe): each snapshot is read in one transaction, so every one of them is
consistent (no KeyError, every relationship's two nodes in the node tables), no count ever goes
down from one snapshot to the next, and the last one equals the source's counts exactly."""
from __future__ import annotations

import subprocess
import time
from collections import Counter

import numpy as np
import pytest

from kg_recsys.schema import ENTITY, INTERACTED, ITEM, USER
from kg_recsys.store.base import GraphSnapshot
from kg_recsys.store.neo4j import Neo4jStore
from test_neo4j_crash import KGREC, KILLED_BATCH, _empty, source  # noqa: F401 (source: a fixture)

pytestmark = pytest.mark.neo4j


def snapshot_counts(snapshot: GraphSnapshot) -> dict[str, int]:
    """The snapshot's counts as ``store.counts()`` gives them, after checking that every index
    in it points at a node of its table."""
    sizes = {USER: len(snapshot.users), ITEM: len(snapshot.items), ENTITY: len(snapshot.entities)}
    interactions = snapshot.interactions
    assert np.all(interactions.user < sizes[USER]) and np.all(interactions.item < sizes[ITEM])
    counts = Counter({**sizes, INTERACTED: len(interactions)} if len(interactions) else sizes)
    for (src_label, relation, dst_label), (src, dst) in snapshot.relations.items():
        assert len(src) == len(dst)
        assert np.all((0 <= src) & (src < sizes[src_label])) and np.all((0 <= dst) & (dst < sizes[dst_label]))
        counts[relation] += len(src)
    return dict(counts)


def test_snapshots_during_an_ingest_are_consistent(neo4j_uri, source):
    data, expected = source
    _empty(neo4j_uri)
    ingest = subprocess.Popen([*KGREC, "ingest", str(data), "--store", neo4j_uri, "--no-progress",
                               "--batch-size", KILLED_BATCH], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    seen, during, deadline = [], 0, time.monotonic() + 90
    try:
        with Neo4jStore(neo4j_uri) as reader:
            while ingest.poll() is None and time.monotonic() < deadline:
                counts = snapshot_counts(reader.snapshot())  # raises if it is not consistent
                if any(counts.values()):
                    seen.append(counts)
                    during += ingest.poll() is None  # this snapshot overlapped the ingest
                time.sleep(0.25)  # a reader, not a load test: leave the two cores to the ingest
            out, err = ingest.communicate(timeout=120)
            final = snapshot_counts(reader.snapshot())
    finally:
        ingest.kill()
    assert ingest.returncode == 0, err
    assert during >= 5, f"only {during} snapshots overlapped the ingest"
    assert final == expected  # exact
    # No count went down: what one snapshot held, every later one holds too.
    for before, after in zip(seen, seen[1:] + [final]):
        assert all(after.get(key, 0) >= n for key, n in before.items()), (before, after)
    print(f"snapshots during the ingest: {during}, final: {final}")
