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
    path = dict((path.name, path) for _, path in files.relationships)["interactions.csv"]
    header, *interactions = read(path)
    assert header == [":START_ID(User)", ":END_ID(Item)", "key", "scenario", "kind", "weight:double", "timestamp:double"]
    assert [row[:5] + [float(row[5]), row[6]] for row in interactions] == [
        ["u1", "i1", interaction_key("books", "rating", 7.0), "books", "rating", 2.5, "7"],
        ["u1", "i2", interaction_key("default", "interaction", None), "default", "interaction", 1.0, ""]]
    # strings quoted, a missing timestamp an empty unquoted field (no property), numbers unquoted
    assert path.read_text(encoding="utf-8").splitlines()[2].endswith('"default","interaction",1,')
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


def test_columns_and_rows_give_the_same_files(tmp_path):
    """The ingest runner hands a column source's interactions over as columns: the same rules as
    rows (first write keeps its place and key, the last weight wins, -0.0 and 0.0 two events,
    a double written so that it parses back to itself)."""
    from kg_recsys.store.memory import _columns_from_rows

    rows = [{"user_id": "u1", "item_id": "i1", "scenario": "a|b", "kind": "c\\d", "weight": 0.1, "timestamp": 1e9},
            {"user_id": 'u"2', "item_id": "i,2", "weight": 1 / 3, "timestamp": -0.0},
            {"user_id": 'u"2', "item_id": "i,2", "weight": 2.0, "timestamp": 0.0},
            {"user_id": "u1", "item_id": "i1", "scenario": "a|b", "kind": "c\\d", "weight": 5e-324, "timestamp": 1e9},
            {"user_id": "u3", "item_id": "i1", "weight": 1e22}]
    by_rows, by_columns = Neo4jImportWriter(tmp_path / "rows"), Neo4jImportWriter(tmp_path / "columns")
    by_rows.upsert_interactions(rows[:3]), by_rows.upsert_interactions(rows[3:])
    by_columns.upsert_interaction_columns(_columns_from_rows(rows[:2]))
    by_columns.upsert_interaction_columns(_columns_from_rows(rows[2:]))
    by_rows.finish(), by_columns.finish()
    assert (tmp_path / "rows" / "interactions.csv").read_bytes() == (tmp_path / "columns" / "interactions.csv").read_bytes()
    assert by_rows.counts() == by_columns.counts() == {"nodes": {"User": 3, "Item": 2, "Entity": 0},
                                                        "relationships": {"INTERACTED": 4}}
    body = read(tmp_path / "rows" / "interactions.csv")[1:]
    assert [(r[0], r[2], float(r[5]), r[6]) for r in body] == [
        ("u1", interaction_key("a|b", "c\\d", 1e9), 5e-324, "1000000000"),
        ('u"2', interaction_key("default", "interaction", -0.0), 1 / 3, "-0"),
        ('u"2', interaction_key("default", "interaction", 0.0), 2.0, "0"),
        ("u3", interaction_key("default", "interaction", None), 1e22, "")]
    with pytest.raises(SchemaError, match="finite"):
        by_columns.upsert_interactions([{"user_id": "u", "item_id": "i", "timestamp": float("nan")}])
