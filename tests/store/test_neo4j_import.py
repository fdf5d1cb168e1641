"""The import CSVs of ``kgrec ingest --bulk`` (no Neo4j needed): what Neo4jStore's MERGEs would
keep, in the importer's CSV dialect. The load itself is tested in test_neo4j_bulk.py."""
from __future__ import annotations

import csv

import pytest

from kg_recsys.schema import SchemaError, interaction_key
from kg_recsys.store.neo4j_import import Neo4jImportWriter


def read(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_the_files_hold_what_the_store_would_keep(tmp_path):
    writer = Neo4jImportWriter(tmp_path / "csv")
    writer.upsert_nodes("Item", [{"id": "i1", "text": 'say "hi",\nthen go', "scenario": None}])
    writer.upsert_nodes("Item", [{"id": "i1", "text": None, "scenario": "books"}])  # None keeps the text
    writer.upsert_nodes("User", [{"id": "u1", "text": "", "scenario": None}])
    rows = [{"user_id": "u1", "item_id": "i1", "scenario": "books", "kind": "rating", "weight": 4, "timestamp": 7},
            {"user_id": "u1", "item_id": "i2"}]  # defaults; i2 exists only as an endpoint
    writer.upsert_interactions(rows)
    # The same key again with another weight: one relationship, the last weight (SET r.weight).
    writer.upsert_interactions([{**rows[0], "weight": 2.5}])
    writer.upsert_relations([{"src_label": "Item", "src_id": "i1", "relation": "genre", "dst_label": "Entity",
                              "dst_id": "genre=War"}] * 2)
    files = writer.finish()
    assert writer.counts() == {"nodes": {"User": 1, "Item": 2, "Entity": 1},
                               "relationships": {"INTERACTED": 2, "genre": 1}}
    paths = dict(files.nodes)
    assert read(paths["Item"]) == [["id:ID(Item)", "text", "scenario"], ["i1", 'say "hi",\nthen go', "books"],
                                   ["i2", "", ""]]
    assert files.multiline == [paths["Item"]]  # only the file with a line break is parsed as multi-line
    lines = paths["User"].read_text(encoding="utf-8").splitlines()
    assert lines[1] == '"u1","",'  # an empty text is a quoted "" (kept), a None an empty field (no property)
    interactions = read(dict((path.name, path) for _, path in files.relationships)["interactions.csv"])
    assert interactions == [
        [":START_ID(User)", ":END_ID(Item)", "key", "scenario", "kind", "weight:double", "timestamp:double"],
        ["u1", "i1", interaction_key("books", "rating", 7.0), "books", "rating", "2.5", "7.0"],
        ["u1", "i2", interaction_key("default", "interaction", None), "default", "interaction", "1.0", ""]]
    relations = [path for kind, path in files.relationships if kind is None]
    assert [read(path) for path in relations] == [[[":START_ID(Item)", ":END_ID(Entity)", ":TYPE"],
                                                   ["i1", "genre=War", "genre"]]]


def test_bad_values_are_refused(tmp_path):
    # An error ends the bulk load (its files are deleted), so what a refused batch left does not matter.
    writer = Neo4jImportWriter(tmp_path / "csv")
    with pytest.raises(SchemaError, match="kind"):
        writer.upsert_interactions([{"user_id": "u", "item_id": "i", "kind": "a\nb"}])
    with pytest.raises(SchemaError, match="relation name"):
        writer.upsert_relations([{"src_label": "Item", "src_id": "i", "relation": "no spaces", "dst_label": "Entity",
                                  "dst_id": "e"}])
    with pytest.raises(SchemaError, match="finite"):
        writer.upsert_interactions([{"user_id": "u", "item_id": "i", "weight": float("inf")}])


def test_items_without_a_scenario_take_their_interactions_scenario_as_the_stores_do(tmp_path):
    writer = Neo4jImportWriter(tmp_path / "csv")
    writer.upsert_nodes("Item", [{"id": "keeps", "text": None, "scenario": "movies"},
                                 {"id": "tie", "text": "t", "scenario": None}])
    rows = [{"user_id": u, "item_id": i, "scenario": s} for u, i, s in
            [("u1", "busy", "books"), ("u2", "busy", "books"), ("u3", "busy", "music"),
             ("u1", "keeps", "books"), ("u1", "tie", "music"), ("u2", "tie", "books")]]
    writer.upsert_interactions(rows)
    writer.upsert_interactions(rows[:1])  # a repeat is one interaction, not two
    assert writer.fill_item_scenarios() == 2
    assert writer.fill_item_scenarios() == 0  # idempotent
    items = {row[0]: row[1:] for row in read(writer.finish().nodes[1][1])[1:]}
    assert items == {"keeps": ["", "movies"], "tie": ["t", "books"], "busy": ["", "books"]}
