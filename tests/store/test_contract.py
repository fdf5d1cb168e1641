"""The GraphStore contract: every test that takes ``store`` runs on MemoryStore and on Neo4jStore
(a real Neo4j, see tests/conftest.py)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from kg_recsys.schema import ENTITY, INTERACTED, ITEM, MAX_SCENARIO_LENGTH, RECOMMENDED, SAME_AS, USER, SchemaError
from kg_recsys.store.base import GraphSnapshot, GraphStore, Recommendation
from kg_recsys.store.memory import MemoryStore

INJECTION = "X`]->() DETACH DELETE n //"

ITEMS = [
    {"id": "i1", "text": "Toy Story (1995)", "scenario": "movie"},
    {"id": "i2", "text": "Jumanji (1995)", "scenario": "movie"},
    {"id": "b1", "text": "Dune", "scenario": "book"},
]
USERS = [{"id": "u1", "text": "age 25, student"}, {"id": "u2"}]
INTERACTIONS = [
    {"user_id": "u1", "item_id": "i1", "scenario": "movie", "kind": "rating", "weight": 5.0, "timestamp": 978300760},
    {"user_id": "u1", "item_id": "i1", "scenario": "movie", "kind": "rating", "weight": 3.0, "timestamp": 978300999},
    {"user_id": "u1", "item_id": "i2", "scenario": "movie", "kind": "rating", "weight": 4.0, "timestamp": 978302109},
    {"user_id": "u2", "item_id": "b1", "scenario": "book", "kind": "click"},  # no weight, no timestamp
    {"user_id": "u3", "item_id": "i2"},  # unknown user: created; defaults for the rest
]
RELATIONS = [
    {"src_label": ITEM, "src_id": "i1", "relation": "film.film.genre", "dst_label": ENTITY, "dst_id": "genre=Animation"},
    {"src_label": ITEM, "src_id": "i2", "relation": "film.film.genre", "dst_label": ENTITY, "dst_id": "genre=Adventure"},
    {"src_label": ITEM, "src_id": "i1", "relation": SAME_AS, "dst_label": ENTITY, "dst_id": "m.0dyb1"},
    {"src_label": ENTITY, "src_id": "m.0dyb1", "relation": "film.film.directed_by", "dst_label": ENTITY,
     "dst_id": "m.director"},
    {"src_label": USER, "src_id": "u1", "relation": "friend", "dst_label": USER, "dst_id": "u2"},
    {"src_label": USER, "src_id": "u1", "relation": "occupation", "dst_label": ENTITY, "dst_id": "occupation=student"},
]
EXPECTED_COUNTS = {
    "nodes": {USER: 3, ITEM: 3, ENTITY: 5},
    "relationships": {INTERACTED: 5, SAME_AS: 1, "film.film.directed_by": 1, "film.film.genre": 2, "friend": 1,
                      "occupation": 1},
}


def load(store: GraphStore) -> None:
    store.ensure_schema()
    store.upsert_nodes(ITEM, ITEMS)
    store.upsert_nodes(USER, USERS)
    store.upsert_interactions(INTERACTIONS)
    store.upsert_relations(RELATIONS)


def canonical(snapshot: GraphSnapshot) -> dict:
    """The snapshot by ids instead of positions, so two stores compare modulo node order."""
    tables = {label: sorted(zip(*(getattr(snapshot.nodes(label), c).tolist() for c in ("ids", "text", "scenario"))))
              for label in (USER, ITEM, ENTITY)}
    user_ids, item_ids = snapshot.users.ids, snapshot.items.ids
    inter = snapshot.interactions
    interactions = sorted(
        ((user_ids[u], item_ids[i], s, k, float(w), None if math.isnan(t) else float(t))
         for u, i, s, k, w, t in zip(inter.user.tolist(), inter.item.tolist(), inter.scenario.tolist(),
                                     inter.kind.tolist(), inter.weight.tolist(), inter.timestamp.tolist())),
        key=lambda row: (row[:5], row[5] is not None, row[5] or 0.0))
    relations = {}
    for (src_label, relation, dst_label), (src, dst) in snapshot.relations.items():
        src_ids, dst_ids = snapshot.nodes(src_label).ids, snapshot.nodes(dst_label).ids
        relations[(src_label, relation, dst_label)] = sorted(zip(src_ids[src].tolist(), dst_ids[dst].tolist()))
    return {"nodes": tables, "interactions": interactions, "relations": relations}


# ------------------------------------------------------------------------------ contract
def test_is_a_graph_store(store):
    assert isinstance(store, GraphStore)


def test_counts_by_type(store):
    load(store)
    assert store.counts() == EXPECTED_COUNTS


def test_upserts_are_idempotent(store):
    load(store)
    first = store.counts()
    load(store)
    store.upsert_interactions(INTERACTIONS[:2])
    store.upsert_relations(RELATIONS[:1])
    assert store.counts() == first == EXPECTED_COUNTS


def test_same_event_merges_and_new_event_adds(store):
    load(store)
    same = dict(INTERACTIONS[0], weight=1.0)  # same user, item, scenario, kind, timestamp
    later = dict(INTERACTIONS[0], timestamp=978400000)
    store.upsert_interactions([same, later])
    assert store.counts()["relationships"][INTERACTED] == EXPECTED_COUNTS["relationships"][INTERACTED] + 1
    weights = {(row[0], row[5]): row[4] for row in canonical(store.snapshot())["interactions"]}
    assert weights[("u1", 978300760.0)] == 1.0  # the merged event took the new weight


def test_interaction_parts_that_contain_the_key_separator_stay_apart(store):
    # Issue 20, defect 2: the key was "scenario|kind|stamp", so these three were one event.
    pairs = [("a|b", "c"), ("a", "b|c"), ("a\\", "|c")]
    rows = [{"user_id": "u1", "item_id": "i1", "scenario": s, "kind": k, "timestamp": 1.0} for s, k in pairs]
    store.upsert_interactions(rows)
    store.upsert_interactions(rows[::-1])  # and the same events again: merged, not added
    assert store.counts()["relationships"] == {INTERACTED: 3}
    assert sorted(row[2:4] for row in canonical(store.snapshot())["interactions"]) == sorted(pairs)


@pytest.mark.parametrize("field", ["scenario", "kind"])
def test_both_stores_take_and_refuse_the_same_scenario_and_kind_lengths(store, field):
    # Issue 20, defect 5: a 20,000-character scenario was taken by the embedded store and aborted
    # a whole batch in Neo4j with a raw DatabaseError (its RANGE index entries are bounded).
    load(store)
    store.upsert_interactions([{"user_id": "u1", "item_id": "i1", field: "s" * MAX_SCENARIO_LENGTH, "timestamp": 1.0}])
    interacted = EXPECTED_COUNTS["relationships"][INTERACTED] + 1
    assert store.counts()["relationships"][INTERACTED] == interacted
    batch = [{"user_id": "u9", "item_id": "i1", "timestamp": 2.0},  # a valid row first: it may not land either
             {"user_id": "u1", "item_id": "i1", field: "s" * 20_000, "timestamp": 3.0}]
    with pytest.raises(SchemaError, match=f"{field} is 20000 characters long"):
        store.upsert_interactions(batch)
    with pytest.raises(SchemaError, match="scenario is 20000 characters long"):
        store.upsert_nodes(ITEM, [{"id": "new"}, {"id": "i1", "scenario": "s" * 20_000}])
    assert store.counts()["relationships"][INTERACTED] == interacted
    assert store.counts()["nodes"] == EXPECTED_COUNTS["nodes"]


def test_none_text_does_not_erase(store):
    load(store)
    store.upsert_nodes(ITEM, [{"id": "i1", "text": None, "scenario": None}, {"id": "b1"}])
    store.upsert_interactions([{"user_id": "u1", "item_id": "i1", "timestamp": 1}])  # touches i1 again
    items = {node_id: (text, scenario) for node_id, text, scenario in canonical(store.snapshot())["nodes"][ITEM]}
    assert items["i1"] == ("Toy Story (1995)", "movie")
    assert items["b1"] == ("Dune", "book")
    store.upsert_nodes(ITEM, [{"id": "i1", "text": "Toy Story", "scenario": None}])
    items = {node_id: (text, scenario) for node_id, text, scenario in canonical(store.snapshot())["nodes"][ITEM]}
    assert items["i1"] == ("Toy Story", "movie")


def test_items_take_the_scenario_of_their_interactions(store):
    # Issue 23, item 9: an item no file gave a scenario gets the busiest scenario of its
    # interactions (a tie: the first by name), as the model reads it.
    store.upsert_nodes(ITEM, [{"id": "i1", "scenario": "movie"}, {"id": "n1"}, {"id": "n2"}, {"id": "n3"}])
    store.upsert_interactions([
        {"user_id": "u1", "item_id": "i1", "scenario": "book", "timestamp": 1},  # i1 keeps its own
        {"user_id": "u1", "item_id": "n1", "scenario": "book", "timestamp": 2},
        {"user_id": "u2", "item_id": "n1", "scenario": "music", "timestamp": 3},
        {"user_id": "u3", "item_id": "n1", "scenario": "music", "timestamp": 4},
        {"user_id": "u1", "item_id": "n2", "scenario": "music", "timestamp": 5},
        {"user_id": "u2", "item_id": "n2", "scenario": "book", "timestamp": 6},
        {"user_id": "u2", "item_id": "n4", "timestamp": 7},  # created by its interaction: "default"
    ])
    assert store.fill_item_scenarios() == 3
    assert store.fill_item_scenarios() == 0  # idempotent
    items = {node_id: scenario for node_id, _, scenario in canonical(store.snapshot())["nodes"][ITEM]}
    assert items == {"i1": "movie", "n1": "music", "n2": "book", "n3": "", "n4": "default"}
    assert store.node(ITEM, "n1")["scenario"] == "music"
    store.upsert_nodes(ITEM, [{"id": "n1", "scenario": "video"}])  # a file's scenario still wins
    store.upsert_interactions([{"user_id": "u9", "item_id": "n1", "scenario": "music", "timestamp": 8}])
    assert store.fill_item_scenarios() == 0 and store.node(ITEM, "n1")["scenario"] == "video"


def test_ingest_gives_items_their_interactions_scenario(store, tmp_path):
    from ingest import ingest_source

    (tmp_path / "interactions.csv").write_text("user_id,item_id,scenario\nu1,a,books\nu2,a,books\nu1,b,movies\n"
                                               "u1,c,movies\n", encoding="utf-8")
    (tmp_path / "items.csv").write_text("item_id,text,scenario\na,Dune,\nb,Alien,\nc,Heat,books\n", encoding="utf-8")
    ingest_source(tmp_path, store, progress=False)
    assert {node_id: scenario for node_id, _, scenario in canonical(store.snapshot())["nodes"][ITEM]} == \
        {"a": "books", "b": "movies", "c": "books"}  # c's own scenario, not its interactions'


@pytest.mark.parametrize("relation", [INJECTION, "", "1abc", "has space", "a" * 129, "bad`tick"])
def test_unsafe_relation_names_are_rejected_before_writing(store, relation):
    load(store)
    batch = [RELATIONS[0] | {"dst_id": "genre=New"},  # a valid row first: nothing of the batch may land
             {"src_label": ITEM, "src_id": "i1", "relation": relation, "dst_label": ENTITY, "dst_id": "x"}]
    with pytest.raises(SchemaError):
        store.upsert_relations(batch)
    try:  # a read with an unsafe name is refused (Neo4j) or finds nothing (embedded: no query text)
        assert not store.has_relationship(ITEM, "i1", relation, ENTITY, "x")
    except SchemaError:
        pass
    assert store.counts() == EXPECTED_COUNTS


def test_unknown_labels_are_rejected(store):
    with pytest.raises(SchemaError):
        store.upsert_nodes("Movie) DETACH DELETE (n", [{"id": "x"}])
    with pytest.raises(SchemaError):
        store.upsert_relations([{"src_label": "Person", "src_id": "a", "relation": "knows", "dst_label": USER,
                                 "dst_id": "u1"}])
    assert sum(store.counts()["nodes"].values()) == 0


def test_has_relationship(store):
    load(store)
    assert store.has_relationship(ITEM, "i1", "film.film.genre", ENTITY, "genre=Animation")
    assert store.has_relationship(ENTITY, "genre=Animation", "film.film.genre", ITEM, "i1")  # either direction
    assert store.has_relationship(USER, "u1", INTERACTED, ITEM, "i2")
    assert not store.has_relationship(ITEM, "i2", "film.film.genre", ENTITY, "genre=Animation")
    assert not store.has_relationship(ITEM, "i1", "film.film.directed_by", ENTITY, "genre=Animation")
    assert not store.has_relationship(ITEM, "nope", "film.film.genre", ENTITY, "genre=Animation")


def test_snapshot_matches_what_was_written(store):
    load(store)
    snapshot = canonical(store.snapshot())
    assert [row[0] for row in snapshot["nodes"][USER]] == ["u1", "u2", "u3"]
    assert ("u1", "age 25, student", "") in snapshot["nodes"][USER]
    assert ("u1", "i1", "movie", "rating", 5.0, 978300760.0) in snapshot["interactions"]
    assert ("u2", "b1", "book", "click", 1.0, None) in snapshot["interactions"]
    assert ("u3", "i2", "default", "interaction", 1.0, None) in snapshot["interactions"]
    assert snapshot["relations"][(USER, "friend", USER)] == [("u1", "u2")]
    assert snapshot["relations"][(ITEM, "film.film.genre", ENTITY)] == [("i1", "genre=Animation"),
                                                                       ("i2", "genre=Adventure")]
    store.replace_recommendations("m", [Recommendation("u1", "b1", 0.9, 1)], at="t")
    assert set(canonical(store.snapshot())["relations"]) == set(snapshot["relations"])  # RECOMMENDED left out


def test_snapshot_survives_save_and_load(store, tmp_path):
    load(store)
    store.snapshot().save(str(tmp_path / "snap.npz"))
    assert canonical(GraphSnapshot.load(str(tmp_path / "snap.npz"))) == canonical(store.snapshot())


def test_vectors_and_similarity(store):
    load(store)
    vectors = np.array([[1, 0, 0, 0], [0.8, 0.6, 0, 0], [0, 0, 1, 0]], dtype=np.float32)
    store.write_vectors(ITEM, ["i1", "i2", "b1"], vectors)
    found = store.similar_by_vector(ITEM, np.array([1, 0, 0, 0]), k=2)
    assert [node_id for node_id, _ in found] == ["i1", "i2"]
    assert found[0][1] == pytest.approx(1.0, abs=1e-4)
    assert found[1][1] == pytest.approx((1 + 0.8) / 2, abs=1e-4)  # (1 + cos) / 2, Neo4j's cosine score
    store.write_vectors(ITEM, ["b1"], np.array([[0.9, 0.1, 0, 0]]))  # overwrite one vector
    assert [node_id for node_id, _ in store.similar_by_vector(ITEM, np.array([1, 0, 0, 0]), k=3)] == ["i1", "b1", "i2"]
    assert store.similar_by_vector(USER, np.array([1, 0, 0, 0]), k=3) == []  # no vectors for users


def test_vector_property_names_are_checked(store):
    load(store)
    with pytest.raises((SchemaError, ValueError)):
        store.write_vectors("Item) DETACH DELETE (n", ["i1"], np.ones((1, 2)))
    if not isinstance(store, MemoryStore):
        with pytest.raises(SchemaError):
            store.write_vectors(ITEM, ["i1"], np.ones((1, 2)), prop="x` = 1 DETACH DELETE n //")


def test_replace_recommendations(store):
    load(store)
    store.replace_recommendations("gnn", [Recommendation("u1", "i2", 0.9, 1), Recommendation("u1", "b1", 0.5, 2),
                                          Recommendation("u2", "i1", 0.7, 1)], at="2024-01-01T00:00:00")
    store.replace_recommendations("pop", [Recommendation("u1", "i1", 0.1, 1)], at="2024-01-01T00:00:00")
    assert [r.item_id for r in store.recommendations("u1", "gnn")] == ["i2", "b1"]
    store.replace_recommendations("gnn", [Recommendation("u1", "i1", 0.8, 1)], at="2024-01-02T00:00:00")
    store.replace_recommendations("gnn", [Recommendation("u1", "i1", 0.8, 1)], at="2024-01-02T00:00:00")  # re-run
    assert store.recommendations("u1", "gnn") == [Recommendation("u1", "i1", 0.8, 1)]
    assert store.recommendations("u2", "gnn") == [Recommendation("u2", "i1", 0.7, 1)]  # other users untouched
    assert store.recommendations("u1", "pop") == [Recommendation("u1", "i1", 0.1, 1)]  # other models untouched
    assert store.counts()["relationships"][RECOMMENDED] == 3
    assert store.recommendations("nobody", "gnn") == []


def test_delete_user_leaves_nothing_of_the_user(store):
    load(store)
    store.write_vectors(USER, ["u1", "u2"], np.array([[1.0, 0.0], [0.0, 1.0]], np.float32))
    store.replace_recommendations("gnn", [Recommendation("u1", "i2", 0.9, 1), Recommendation("u2", "i1", 0.7, 1)],
                                  at="2024-01-01T00:00:00")
    assert store.delete_user("u1") is True
    assert store.delete_user("u1") is False  # a second call finds nothing
    snapshot = store.snapshot()
    assert "u1" not in snapshot.users.ids.tolist()
    counts = store.counts()
    # u1 had 3 interactions (two merged events on i1, one on i2), one friend edge, one
    # attribute edge and one recommendation; u2's and u3's stay.
    assert counts["relationships"][INTERACTED] == 2 and counts["relationships"][RECOMMENDED] == 1
    assert "friend" not in counts["relationships"] and "occupation" not in counts["relationships"]
    assert store.recommendations("u1", "gnn") == [] and len(store.recommendations("u2", "gnn")) == 1
    assert [node_id for node_id, _ in store.similar_by_vector(USER, np.array([1.0, 0.0]), k=5)] == ["u2"]
    assert not store.has_relationship(USER, "u1", INTERACTED, ITEM, "i2")


# ------------------------------------------------------------------------------ across stores
@pytest.mark.neo4j
def test_snapshots_are_equal_across_stores(memory_store, neo4j_store):
    for store in (memory_store, neo4j_store):
        load(store)
        store.upsert_interactions([dict(INTERACTIONS[0], weight=2.5)])
    memory, neo4j = canonical(memory_store.snapshot()), canonical(neo4j_store.snapshot())
    assert neo4j == memory
    assert len(memory["interactions"]) == 5 and len(memory["relations"]) == 5


@pytest.mark.neo4j
def test_neo4j_store_batches_and_is_idempotent_at_scale(neo4j_store, memory_store):
    rng = np.random.default_rng(0)
    rows = [{"user_id": f"u{u}", "item_id": f"i{i}", "weight": float(w), "timestamp": float(t)}
            for u, i, w, t in zip(rng.integers(0, 50, 300), rng.integers(0, 40, 300), rng.integers(1, 6, 300),
                                  rng.integers(0, 10, 300))]
    for store in (neo4j_store, memory_store):
        store.upsert_interactions(rows)
        store.upsert_interactions(rows[::-1])
    assert neo4j_store.counts() == memory_store.counts()
    assert canonical(neo4j_store.snapshot()) == canonical(memory_store.snapshot())


@pytest.mark.neo4j
def test_neo4j_snapshot_has_the_nodes_of_relationships_written_while_it_reads(neo4j_store, monkeypatch):
    # Issue 20, defect 5: an entity created between the snapshot's node and relationship reads
    # raised KeyError: 'kg:749'. Here an "ingest" commits right before the first relationship read.
    import neo4j

    load(neo4j_store)
    run, state = neo4j.ManagedTransaction.run, {"written": False}

    def run_with_an_ingest_in_between(tx, query, parameters=None, **kwargs):
        if not state["written"] and f"[r:`{INTERACTED}`]->" in query and query.startswith("MATCH (u"):
            state["written"] = True  # set first: the writes below run queries too
            neo4j_store.upsert_relations([{"src_label": ITEM, "src_id": "i1", "relation": "film.film.genre",
                                           "dst_label": ENTITY, "dst_id": "genre=Late"}])
            neo4j_store.upsert_interactions([{"user_id": "late", "item_id": "late-item", "timestamp": 1.0}])
        return run(tx, query, parameters, **kwargs)

    monkeypatch.setattr(neo4j.ManagedTransaction, "run", run_with_an_ingest_in_between)
    snapshot = canonical(neo4j_store.snapshot())
    assert state["written"]
    assert ("i1", "genre=Late") in snapshot["relations"][(ITEM, "film.film.genre", ENTITY)]
    assert ("late", "late-item", "default", "interaction", 1.0, 1.0) in snapshot["interactions"]
    assert "genre=Late" in [row[0] for row in snapshot["nodes"][ENTITY]]


# ------------------------------------------------------------------------------ durability (embedded store)
CRASH_SCRIPT = textwrap.dedent("""
    import os, sys
    from kg_recsys.store.memory import MemoryStore
    store = MemoryStore(sys.argv[1])
    store.upsert_nodes("Item", [{"id": "i1", "text": "Toy Story", "scenario": "movie"}])
    store.upsert_interactions([{"user_id": "u1", "item_id": "i1", "timestamp": 1.0},
                               {"user_id": "u2", "item_id": "i1", "timestamp": 2.0}])
    print("acknowledged", flush=True)
    os._exit(0)  # die without close(): no flush, no atexit
""")


def test_memory_store_keeps_acknowledged_batches_after_a_crash(tmp_path):
    folder = tmp_path / "graph"
    done = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, str(folder)], capture_output=True, text=True,
                          timeout=120, env=os.environ.copy())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "acknowledged"
    with MemoryStore(folder) as reopened:
        assert reopened.counts() == {"nodes": {USER: 2, ITEM: 1, ENTITY: 0}, "relationships": {INTERACTED: 2}}
        assert reopened.node(ITEM, "i1")["text"] == "Toy Story"


def test_memory_store_ignores_a_torn_last_log_line(tmp_path):
    folder = tmp_path / "graph"
    with MemoryStore(folder) as store:
        load(store)
    log = folder / "log.jsonl"
    torn = json.dumps({"op": "interactions", "rows": [["u9", "i9", "default", "interaction", 1.0, None]]})
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(torn[: len(torn) // 2])  # the process died mid-write: never acknowledged
    with MemoryStore(folder) as reopened:
        assert reopened.counts() == EXPECTED_COUNTS
        reopened.upsert_interactions([{"user_id": "u9", "item_id": "i1", "timestamp": 5.0}])
    with MemoryStore(folder) as again:  # the write after the torn line is intact
        assert again.counts()["relationships"][INTERACTED] == EXPECTED_COUNTS["relationships"][INTERACTED] + 1


def test_memory_store_refuses_a_corrupt_middle_line(tmp_path):
    folder = tmp_path / "graph"
    with MemoryStore(folder) as store:
        load(store)
    log = folder / "log.jsonl"
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = "{not json\n"
    log.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(ValueError, match="corrupt"):
        MemoryStore(folder)


@pytest.mark.neo4j
def test_neo4j_mistakes_are_one_line_that_says_what_to_do(neo4j_uri):
    from kg_recsys.store import open_store
    from kg_recsys.store.neo4j import StoreConnectionError

    with pytest.raises(StoreConnectionError, match=r"^wrong password for neo4j at .*: set KGREC_NEO4J_PASSWORD$"):
        open_store(neo4j_uri, password="not-the-password")
    with pytest.raises(StoreConnectionError, match=r"^no Neo4j at bolt://127\.0\.0\.1:1; start it with `kgrec neo4j start`$"):
        open_store("bolt://127.0.0.1:1", password="any-password")
    with pytest.raises(ValueError, match=r"^retry_seconds must be 0 or more seconds, got -1"):
        open_store(neo4j_uri, retry_seconds=-1)


def test_neo4j_retry_seconds_come_from_the_environment(monkeypatch):
    # Checked before any connection: no server needed. (A server lost mid-ingest, after these
    # retries, is tests/reliability/test_neo4j_crash.py.)
    from kg_recsys.store.neo4j import RETRY_ENV, Neo4jStore

    monkeypatch.setenv(RETRY_ENV, "soon")
    with pytest.raises(ValueError, match=r"^KGREC_NEO4J_RETRY_SECONDS must be a number of seconds, got 'soon'$"):
        Neo4jStore("bolt://127.0.0.1:1", password="any-password")


@pytest.mark.neo4j
def test_the_project_neo4j_keeps_its_files_owner_only(neo4j_uri):
    from kg_recsys import neo4j_server

    record = neo4j_server.status()
    assert record.running and record.home
    for folder in (neo4j_server.state_dir(), record.home):
        assert os.stat(folder).st_mode & 0o777 == 0o700, folder
