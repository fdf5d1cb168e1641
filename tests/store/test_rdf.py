"""RDF export and import: round trip, N-Triples and Turtle, generic RDF, the ontology file."""
from __future__ import annotations

import pytest
import rdflib

from ingest import ingest_source
from kg_recsys.datasets import write_demo_dataset
from kg_recsys.store.memory import MemoryStore
from kg_recsys.store.rdf import (DATA, ONTOLOGY, ONTOLOGY_FILE, RdfError, RdfSource, export_rdf, node_iri,
                                 relation_iri, sanitize_relation, snapshot_rows)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory) -> MemoryStore:
    folder = write_demo_dataset(tmp_path_factory.mktemp("demo"), seed=0, n_users=60, n_items=80)
    store = MemoryStore(None)
    ingest_source(folder, store, progress=False)
    # ids and texts that need escaping in IRIs and literals
    store.upsert_nodes("Item", [{"id": "odd id/with spaces#and?\"quotes\"", "text": 'say "hi"\\n\nnext\tline',
                                 "scenario": "books"}])
    store.upsert_interactions([{"user_id": "ünïcødé user", "item_id": "odd id/with spaces#and?\"quotes\"",
                                "scenario": "books", "kind": "rating", "weight": 0.1, "timestamp": 1.5e9 + 0.25}])
    store.upsert_relations([{"src_label": "Entity", "src_id": "x:1", "relation": "film.film.actor",
                             "dst_label": "Entity", "dst_id": "x:2"}])
    return store


@pytest.mark.parametrize("fmt, suffix", [("turtle", "ttl"), ("nt", "nt")])
def test_round_trip_keeps_counts_and_snapshot(demo_store, tmp_path, fmt, suffix):
    path = tmp_path / f"graph.{suffix}"
    triples = export_rdf(demo_store, path, fmt)
    parsed = rdflib.Graph().parse(str(path), format=fmt)
    assert len(parsed) == triples
    fresh = MemoryStore(None)
    summary = ingest_source(path, fresh, progress=False)
    assert summary.rejected == 0
    assert fresh.counts() == demo_store.counts()
    assert snapshot_rows(fresh.snapshot()) == snapshot_rows(demo_store.snapshot())


def test_export_uses_the_vocabulary(demo_store, tmp_path):
    path = tmp_path / "g.ttl"
    export_rdf(demo_store.snapshot(), path)
    graph = rdflib.Graph().parse(str(path), format="turtle")
    kgr = rdflib.Namespace(ONTOLOGY)
    user = rdflib.URIRef(node_iri("User", "ünïcødé user"))
    assert (user, rdflib.RDF.type, kgr.User) in graph
    assert (user, kgr.id, rdflib.Literal("ünïcødé user")) in graph
    interaction = next(graph.subjects(kgr.user, user))
    assert (interaction, rdflib.RDF.type, kgr.Interaction) in graph
    assert graph.value(interaction, kgr.timestamp).toPython() == 1.5e9 + 0.25
    assert graph.value(interaction, kgr.kind) == rdflib.Literal("rating")
    actor = rdflib.URIRef(relation_iri("film.film.actor"))
    assert (rdflib.URIRef(node_iri("Entity", "x:1")), actor, rdflib.URIRef(node_iri("Entity", "x:2"))) in graph


def test_generic_rdf_becomes_entities_and_relations(tmp_path):
    path = tmp_path / "generic.ttl"
    path.write_text("""
@prefix ex: <http://example.org/> .
@prefix schema: <https://schema.org/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
ex:tolstoy rdfs:label "Leo Tolstoy"@en ; schema:birthPlace ex:yasnaya ; ex:wrote ex:war_and_peace .
ex:war_and_peace rdfs:label "War and Peace" ; <http://example.org/has%20genre> ex:novel ;
    ex:pages 1225 ; ex:INTERACTED ex:x .
ex:yasnaya ex:near [ rdfs:label "a blank node" ] .
""", encoding="utf-8")
    store = MemoryStore(None)
    rejects = tmp_path / "rejects.csv"
    summary = ingest_source(path, store, rejects_path=rejects, progress=False)
    assert store.node("Entity", "http://example.org/tolstoy")["text"] == "Leo Tolstoy"
    assert store.has_relationship("Entity", "http://example.org/tolstoy", "birthPlace", "Entity",
                                  "http://example.org/yasnaya")
    assert store.has_relationship("Entity", "http://example.org/war_and_peace", "has_genre", "Entity",
                                  "http://example.org/novel")
    assert store.has_relationship("Entity", "http://example.org/war_and_peace", "INTERACTED_", "Entity",
                                  "http://example.org/x")
    # the literal ex:pages, the blank-node triple and the blank node's label are reported, not dropped
    assert summary.rejected == 3
    text = rejects.read_text(encoding="utf-8")
    assert "http://example.org/pages" in text and "blank node" in text
    # tolstoy, yasnaya, war_and_peace, novel, x
    assert summary.nodes == {"User": 0, "Item": 0, "Entity": 5}


@pytest.mark.parametrize("predicate, name", [
    ("http://example.org/ns#knows", "knows"), ("http://example.org/has%20genre", "has_genre"),
    ("http://example.org/1st", "r_1st"), ("http://example.org/path/", "path"),
    ("http://example.org/RECOMMENDED", "RECOMMENDED_"), ("urn:x:café", "urn:x:caf"),
])
def test_sanitize_relation(predicate, name):
    assert sanitize_relation(predicate) == name


def test_bad_rdf_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.ttl"
    path.write_text("<a> <b> .\n")
    with pytest.raises(RdfError, match="bad.ttl: not valid turtle"):
        ingest_source(path, MemoryStore(None), progress=False)
    with pytest.raises(RdfError, match="cannot tell the RDF format"):
        RdfSource(tmp_path / "graph.xml")


def test_ontology_declares_the_schema():
    graph = rdflib.Graph().parse(data=ONTOLOGY_FILE.read_text(encoding="utf-8"), format="turtle")
    kgr = rdflib.Namespace(ONTOLOGY)
    for cls in ("User", "Item", "Entity", "Interaction"):
        assert (kgr[cls], rdflib.RDF.type, rdflib.OWL.Class) in graph
    for prop in ("id", "text", "scenario", "kind", "weight", "timestamp", "user", "item"):
        assert (kgr[prop], rdflib.RDF.type, None) in graph, prop
    assert DATA.startswith("https://kg-recsys.dev/")
