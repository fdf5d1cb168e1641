"""``kgrec ingest --bulk`` (issue 22): Neo4j's offline importer loads an empty database with the
same graph that a transactional ingest writes.

"The same" is checked on everything: every node with all its properties and every relationship
with its endpoints, type and properties, read back from Neo4j after the bulk load and after a
transactional ingest of the same source into the emptied database, plus the snapshot of an
embedded-store ingest. A transactional re-ingest on top of the bulk load must change nothing
(same ids, keys and weights, or MERGE would add). Each bulk load restarts the server (~1 min
on the 2-core box), so there are two: the demo data set and a canonical folder with rejects.
"""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

from ingest import ingest_source
from ingest.bulk import bulk_ingest_source
from kg_recsys import neo4j_server
from kg_recsys.store.memory import MemoryStore
from kg_recsys.store.neo4j import Neo4jStore

pytestmark = pytest.mark.neo4j

KGREC = [sys.executable, "-c", "import sys; from kg_recsys.cli import main; sys.exit(main())"]


@pytest.fixture
def our_server(neo4j_uri) -> str:
    """The URI of the project's server, emptied; --bulk must stop and restart it."""
    current = neo4j_server.status()
    if not current.running or urlparse(current.bolt_uri).port != urlparse(neo4j_uri).port:
        pytest.skip(f"the Neo4j at {neo4j_uri} was not started by `kgrec neo4j start`, so --bulk cannot restart it")
    with Neo4jStore(neo4j_uri) as store:
        store.clear()
    yield neo4j_uri
    # The tests after these expect the schema a transactional store applies on first write.
    with Neo4jStore(neo4j_uri) as store:
        store.ensure_schema()


def dump(uri: str) -> tuple[list, list]:
    """Every node ``(label, properties)`` and relationship ``(src label, src id, type, dst label,
    dst id, properties)``, sorted: the whole graph, to compare exactly."""
    with Neo4jStore(uri) as store:
        nodes = store._read("MATCH (n) RETURN labels(n), properties(n)")
        relationships = store._read("MATCH (a)-[r]->(b) RETURN labels(a), a.id, type(r), labels(b), b.id, properties(r)")
    return (sorted((tuple(labels), sorted(props.items())) for labels, props in nodes),
            sorted((tuple(a), s, t, tuple(b), d, sorted(props.items())) for a, s, t, b, d, props in relationships))


def snapshot_rows(snapshot) -> dict:
    """A snapshot as sets of plain values (tables by id, interactions and relations by ids)."""
    def table(t):
        return sorted(zip(t.ids.tolist(), t.text.tolist(), t.scenario.tolist()))

    i = snapshot.interactions
    return {"users": table(snapshot.users), "items": table(snapshot.items), "entities": table(snapshot.entities),
            "interactions": sorted(zip(snapshot.users.ids[i.user].tolist(), snapshot.items.ids[i.item].tolist(),
                                       i.scenario.tolist(), i.kind.tolist(), i.weight.tolist(),
                                       np.nan_to_num(i.timestamp, nan=-1.0).tolist())),
            "relations": {kind: sorted(zip(snapshot.nodes(kind[0]).ids[a].tolist(), snapshot.nodes(kind[2]).ids[b].tolist()))
                          for kind, (a, b) in snapshot.relations.items()}}


def assert_bulk_equals_transactional(uri: str, source, bulk_dump, bulk_summary, tmp_path: Path) -> None:
    # A transactional ingest on top of the bulk load finds every node and relationship already there.
    with Neo4jStore(uri) as store:
        again = ingest_source(source, store, progress=False, rejects_path=tmp_path / "again.csv")
    assert (again.nodes, again.relationships) == (bulk_summary.nodes, bulk_summary.relationships)
    assert dump(uri) == bulk_dump
    # And a transactional ingest into the emptied database writes exactly the bulk-loaded graph.
    with Neo4jStore(uri) as store:
        store.clear()
        transactional = ingest_source(source, store, progress=False, rejects_path=tmp_path / "transactional.csv")
    assert dump(uri) == bulk_dump
    assert (transactional.nodes, transactional.relationships) == (bulk_summary.nodes, bulk_summary.relationships)
    assert (transactional.rows_read, transactional.rejected, transactional.duplicates) == (
        bulk_summary.rows_read, bulk_summary.rejected, bulk_summary.duplicates)


def test_bulk_import_of_the_demo_equals_a_transactional_ingest(our_server, tmp_path):
    summary = bulk_ingest_source("demo", our_server, progress=False)
    bulk = dump(our_server)
    nodes, relationships = bulk
    assert len(nodes) == sum(summary.nodes.values()) > 1000
    assert len(relationships) == sum(summary.relationships.values()) > 10_000
    # Properties as the store writes them: ids and texts strings, weights and timestamps floats.
    interacted = [props for _, _, kind, _, _, props in relationships if kind == "INTERACTED"]
    assert all({"key", "scenario", "kind", "weight"} <= dict(p).keys() for p in interacted)
    assert all(isinstance(dict(p)["weight"], float) for p in interacted)
    with Neo4jStore(our_server) as store:
        names = {name for (name,) in store._read("SHOW INDEXES YIELD name RETURN name")}
        assert {"user_id", "item_id", "entity_id", "item_scenario", "interacted_scenario", "node_text"} <= names
        assert {state for (state,) in store._read("SHOW INDEXES YIELD state RETURN state")} == {"ONLINE"}
        assert snapshot_rows(store.snapshot()) == snapshot_rows(ingested_in_memory("demo").snapshot())
    assert_bulk_equals_transactional(our_server, "demo", bulk, summary, tmp_path)


def ingested_in_memory(source) -> MemoryStore:
    store = MemoryStore(None)
    ingest_source(source, store, progress=False)
    return store


def write(folder: Path, name: str, rows: list[list[str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / name, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)


def test_bulk_import_of_a_canonical_folder_keeps_the_rejects_and_every_value(our_server, tmp_path):
    data = tmp_path / "data"
    write(data, "interactions.csv", [
        ["user_id", "item_id", "scenario", "kind", "weight", "timestamp"],
        ["u1", "i1", "books", "rating", "5", "100"],
        ["", "i2", "books", "rating", "5", "100"],            # rejected: user_id
        ["u1", "i3", "books", "rating", "five", "100"],       # rejected: weight
        ["u1", "i1", "books", "rating", "5", "100"],          # a duplicate, merged
        ["u1", "i1", "books", "click", "1", "100"],           # another kind: another interaction
        ["u2", "i1", "", "", "", ""],                         # defaults, no timestamp
        ['u"3', "i,4", "a|b", "c\\d", "0.1", "1e9"],          # ids and keys that need quoting/escaping
    ])
    write(data, "items.csv", [
        ["item_id", "text", "scenario", "genre"],
        ["i1", 'A "quoted", multi-line\ntext — ünïcode', "books", "Drama|War"],
        ["i2", "", "", "Drama"],
        ["bad\x01id", "x", "", ""],                           # rejected: item_id
    ])
    write(data, "users.csv", [["user_id", "text"], ["u1", "first user"], ["u9", "a user with no interactions"]])
    write(data, "triples.csv", [["head", "relation", "tail"], ["Q1", "film.film.genre", "Q2"],
                                ["Q1", "bad relation!", "Q2"]])  # rejected: relation
    write(data, "links.csv", [["item_id", "entity_id"], ["i1", "Q1"]])

    summary = bulk_ingest_source(data, our_server, progress=False, rejects_path=tmp_path / "bulk.csv")
    memory = MemoryStore(None)
    expected = ingest_source(data, memory, progress=False, rejects_path=tmp_path / "memory.csv")
    assert summary.rejected == expected.rejected == 4
    assert (tmp_path / "bulk.csv").read_text() == (tmp_path / "memory.csv").read_text()  # file, line, field, raw
    assert (summary.nodes, summary.relationships) == (expected.nodes, expected.relationships)
    bulk = dump(our_server)
    with Neo4jStore(our_server) as store:
        assert store.node("Item", "i1") == memory.node("Item", "i1")  # quotes, comma, newline, unicode intact
        assert store.node("Item", "i1")["text"].startswith('A "quoted", multi-line\n')
        # no scenario in items.csv: the one of its interactions (fill_item_scenarios)
        assert store.node("Item", "i,4") == {"id": "i,4", "text": None, "scenario": "a|b"}
        assert store.has_relationship("User", 'u"3', "INTERACTED", "Item", "i,4")
        assert snapshot_rows(store.snapshot()) == snapshot_rows(memory.snapshot())
    assert_bulk_equals_transactional(our_server, data, bulk, summary, tmp_path)


def test_bulk_import_refuses_a_database_that_is_not_empty(our_server, tmp_path):
    with Neo4jStore(our_server) as store:
        store.upsert_nodes("User", [{"id": "already-here"}])
    done = subprocess.run([*KGREC, "ingest", "demo", "--store", our_server, "--bulk", "--no-progress"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr  # one line that says what to do
    assert "--bulk loads an empty database only" in done.stderr and "ingest without --bulk" in done.stderr
    with Neo4jStore(our_server) as store:
        assert store.counts()["nodes"] == {"User": 1, "Item": 0, "Entity": 0}


def test_a_failure_while_writing_the_files_restarts_the_server(our_server):
    """import_database writes the files (a callable) while the server stops; if writing fails,
    the server is started again on the same port with its database, and the error goes on."""
    with Neo4jStore(our_server) as store:
        store.upsert_nodes("User", [{"id": "kept"}])

    def write():
        raise RuntimeError("no files today")

    timings: dict[str, float] = {}
    with pytest.raises(RuntimeError, match="no files today"):
        neo4j_server.import_database(write, timings=timings)
    assert neo4j_server.status().running and "stop" in timings and "importer" not in timings
    with Neo4jStore(our_server) as store:
        assert store.counts()["nodes"] == {"User": 1, "Item": 0, "Entity": 0}
