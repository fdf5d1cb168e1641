"""RDF import and export (Turtle, N-Triples) in the project vocabulary, ``kg_recsys/assets/ontology.ttl``.

Export streams a :class:`~kg_recsys.store.base.GraphSnapshot` to a file without building
an rdflib graph, so a million interactions export in seconds:

* a node is ``<https://kg-recsys.dev/data/{user,item,entity}/ID>`` (ID percent-encoded),
  ``a kgr:User|Item|Entity``, with ``kgr:id``, ``kgr:text`` and ``kgr:scenario`` literals;
* each INTERACTED relationship is a ``kgr:Interaction`` node with ``kgr:user``,
  ``kgr:item``, ``kgr:scenario``, ``kgr:kind``, ``kgr:weight`` and ``kgr:timestamp``;
* every other relation ``r`` is the property ``kgrel:r``.

Import (:class:`RdfSource`, parsed by rdflib) reads that vocabulary back into canonical
rows, and reads any other RDF generically: a triple whose subject and object are IRIs
becomes ``Entity -[local name of the predicate, sanitised]-> Entity`` (entity id = the
IRI), and an ``rdfs:label`` literal becomes the subject's text. Triples it cannot map
(blank nodes, other literals) are reported as rejects, never dropped silently.
"""
from __future__ import annotations

import hashlib
import math
import os
import re
from pathlib import Path
from typing import Iterator
from urllib.parse import quote, unquote

import numpy as np

from kg_recsys.assets import asset
from kg_recsys.schema import (DEFAULT_KIND, DEFAULT_SCENARIO, ENTITY, INTERACTED, ITEM, RECOMMENDED, USER,
                              InteractionRow, NodeRow, RelationRow, SchemaError, check_id, check_relation_name,
                              interaction_key)
from kg_recsys.store.base import GraphSnapshot

ONTOLOGY = "https://kg-recsys.dev/ontology#"
RELATION = "https://kg-recsys.dev/relation/"
DATA = "https://kg-recsys.dev/data/"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
XSD_DOUBLE = "http://www.w3.org/2001/XMLSchema#double"
#: The vocabulary itself, as Turtle (package data).
ONTOLOGY_FILE = asset("ontology.ttl")
FORMATS = {"turtle": "turtle", "ttl": "turtle", "nt": "nt", "ntriples": "nt", "n-triples": "nt"}
_PATH_SEGMENT = {USER: "user", ITEM: "item", ENTITY: "entity"}
_LABEL_OF_SEGMENT = {segment: label for label, segment in _PATH_SEGMENT.items()}
_CLASS = {USER: ONTOLOGY + "User", ITEM: ONTOLOGY + "Item", ENTITY: ONTOLOGY + "Entity"}
_LABEL_OF_CLASS = {iri: label for label, iri in _CLASS.items()}
_INTERACTION = ONTOLOGY + "Interaction"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:\-]")


class RdfError(ValueError):
    """An RDF file that cannot be read (syntax error, unknown format)."""


def node_iri(label: str, node_id: str) -> str:
    return f"{DATA}{_PATH_SEGMENT[label]}/{quote(node_id, safe='')}"


def relation_iri(relation: str) -> str:
    return RELATION + quote(check_relation_name(relation), safe=":")


def interaction_iri(user_id: str, item_id: str, key: str) -> str:
    digest = hashlib.sha1("\x1f".join((user_id, item_id, key)).encode("utf-8")).hexdigest()[:24]
    return f"{DATA}interaction/{digest}"


def sanitize_relation(predicate: str) -> str:
    """A relation name from any predicate IRI: its local name with unsafe characters as
    ``_``, a letter first, at most 128 characters, never a reserved user-item type."""
    local = re.split(r"[#/]", predicate.rstrip("/#"))[-1]
    name = _UNSAFE.sub("_", unquote(local)) or "related"
    if not name[0].isalpha():
        name = "r_" + name
    name = name[:128].rstrip("_") or "related"
    if name in (INTERACTED, RECOMMENDED):
        name += "_"
    return check_relation_name(name)


# ------------------------------------------------------------------ export
def _literal(value: str) -> str:
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
               .replace("\t", "\\t"))
    return f'"{escaped}"'


def _double(value: float) -> str:
    return f'"{float(value)!r}"^^<{XSD_DOUBLE}>'


def export_rdf(graph, path: str | os.PathLike, format: str = "turtle") -> int:
    """Write a graph as RDF.

    Args:
        graph: a :class:`~kg_recsys.store.base.GraphSnapshot` or any store with ``snapshot()``.
        path: output file.
        format: ``turtle`` or ``nt`` (N-Triples). (default: ``"turtle"``)

    Returns:
        The number of triples written.
    """
    fmt = FORMATS.get(format.lower())
    if fmt is None:
        raise ValueError(f"unknown RDF format {format!r}: use turtle or nt")
    snapshot: GraphSnapshot = graph if isinstance(graph, GraphSnapshot) else graph.snapshot()
    iris = {label: [node_iri(label, node_id) for node_id in snapshot.nodes(label).ids.tolist()]
            for label in _PATH_SEGMENT}
    count = 0
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        if fmt == "turtle":
            out.write(f"@prefix kgr: <{ONTOLOGY}> .\n@prefix kgrel: <{RELATION}> .\n"
                      f"@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .\n\n")

        def statement(subject: str, pairs: list[tuple[str, str]]) -> None:
            nonlocal count
            count += len(pairs)
            if fmt == "turtle":
                body = " ;\n    ".join(f"{p} {o}" for p, o in pairs)
                out.write(f"<{subject}> {body} .\n")
            else:
                out.writelines(f"<{subject}> {p} {o} .\n" for p, o in pairs)

        def term(name: str) -> str:  # vocabulary term, prefixed in Turtle
            return f"kgr:{name}" if fmt == "turtle" else f"<{ONTOLOGY}{name}>"

        rdf_type = "a" if fmt == "turtle" else f"<{RDF_TYPE}>"
        for label in _PATH_SEGMENT:
            table = snapshot.nodes(label)
            for iri, node_id, text, scenario in zip(iris[label], table.ids.tolist(), table.text.tolist(),
                                                    table.scenario.tolist()):
                pairs = [(rdf_type, term(label)), (term("id"), _literal(node_id))]
                if text:
                    pairs.append((term("text"), _literal(text)))
                if scenario:
                    pairs.append((term("scenario"), _literal(scenario)))
                statement(iri, pairs)
        inter = snapshot.interactions
        users, items = snapshot.users.ids, snapshot.items.ids
        for u, i, scenario, kind, weight, stamp in zip(inter.user.tolist(), inter.item.tolist(),
                                                        inter.scenario.tolist(), inter.kind.tolist(),
                                                        inter.weight.tolist(), inter.timestamp.tolist()):
            timestamp = None if math.isnan(stamp) else stamp
            key = interaction_key(scenario, kind, timestamp)
            pairs = [(rdf_type, term("Interaction")), (term("user"), f"<{iris[USER][u]}>"),
                     (term("item"), f"<{iris[ITEM][i]}>"), (term("scenario"), _literal(scenario)),
                     (term("kind"), _literal(kind)), (term("weight"), _double(weight))]
            if timestamp is not None:
                pairs.append((term("timestamp"), _double(timestamp)))
            statement(interaction_iri(str(users[u]), str(items[i]), key), pairs)
        for (src_label, relation, dst_label), (src, dst) in sorted(snapshot.relations.items()):
            predicate = f"<{relation_iri(relation)}>"
            src_iris, dst_iris = iris[src_label], iris[dst_label]
            lines = [f"<{src_iris[a]}> {predicate} <{dst_iris[b]}> .\n" for a, b in zip(src.tolist(), dst.tolist())]
            out.writelines(lines)
            count += len(lines)
    return count


# ------------------------------------------------------------------ import
class RdfSource:
    """Reads an RDF file (Turtle or N-Triples) as canonical rows for :func:`ingest.ingest_source`.

    Args:
        path: the file.
        format: ``turtle`` or ``nt``; guessed from the suffix when ``None``. (default: ``None``)
    """

    def __init__(self, path: str | os.PathLike, format: str | None = None) -> None:
        self.path = Path(path)
        self.name = str(self.path)
        guessed = {".ttl": "turtle", ".nt": "nt"}.get(self.path.suffix.lower())
        self.format = FORMATS.get((format or guessed or "").lower())
        if self.format is None:
            raise RdfError(f"{self.path}: cannot tell the RDF format; use a .ttl or .nt file")
        self._parsed: tuple[list, list, list] | None = None

    def __repr__(self) -> str:
        return f"RdfSource({str(self.path)!r}, format={self.format!r})"

    def files(self) -> list[Path]:
        return [self.path]

    def nodes(self, rejects) -> Iterator[tuple[str, NodeRow, bool]]:
        self._parsed = self._parse(rejects)
        yield from self._parsed[0]

    def interactions(self, rejects) -> Iterator[InteractionRow]:
        if self._parsed is None:
            self._parsed = self._parse(rejects)
        yield from self._parsed[1]

    def relations(self, rejects) -> Iterator[RelationRow]:
        if self._parsed is None:
            self._parsed = self._parse(rejects)
        yield from self._parsed[2]
        self._parsed = None

    # The whole file goes through rdflib once; RDF has no row order to stream by.
    def _parse(self, rejects) -> tuple[list, list, list]:
        import rdflib
        from rdflib import BNode, Literal, URIRef

        graph = rdflib.Graph()
        try:
            graph.parse(str(self.path), format=self.format)
        except Exception as error:  # rdflib raises many types; its message names the line
            raise RdfError(f"{self.path}: not valid {self.format} RDF: {error}") from None

        def reject(field: str, message: str, triple) -> None:
            rejects.add(self.path, 0, field, message, " ".join(t.n3() for t in triple))

        labels: dict[URIRef, str] = {}
        interactions_by_node: dict = {}
        for s, o in graph.subject_objects(URIRef(RDF_TYPE)):
            if str(o) in _LABEL_OF_CLASS and isinstance(s, URIRef):
                labels[s] = _LABEL_OF_CLASS[str(o)]
            elif str(o) == _INTERACTION:
                interactions_by_node[s] = {}

        def label_of(term) -> str:
            if term in labels:
                return labels[term]
            text = str(term)
            if text.startswith(DATA):
                return _LABEL_OF_SEGMENT.get(text[len(DATA):].split("/", 1)[0], ENTITY)
            return ENTITY

        ids: dict = {}

        def id_of(term) -> str:
            if term not in ids:
                text = str(term)
                segment = text[len(DATA):].split("/", 1) if text.startswith(DATA) else []
                if len(segment) == 2 and segment[0] in _LABEL_OF_SEGMENT:
                    text = unquote(segment[1])
                ids[term] = check_id(text)
            return ids[term]

        for s, o in graph.subject_objects(URIRef(ONTOLOGY + "id")):
            ids[s] = check_id(str(o))

        nodes: dict[tuple[str, str], dict] = {}
        relations: list[RelationRow] = []
        texts: dict = {}
        for triple in graph:
            s, p, o = triple
            predicate = str(p)
            if s in interactions_by_node:
                if predicate.startswith(ONTOLOGY):
                    interactions_by_node[s][predicate[len(ONTOLOGY):]] = o
                continue
            if predicate == RDF_TYPE and (str(o) in _LABEL_OF_CLASS or str(o) == _INTERACTION):
                continue
            if predicate == ONTOLOGY + "id":
                continue
            if isinstance(s, BNode) or isinstance(o, BNode):
                reject(predicate, "blank nodes have no stable id; give the node an IRI", triple)
                continue
            try:
                if predicate in (ONTOLOGY + "text", ONTOLOGY + "scenario", RDFS_LABEL) and isinstance(o, Literal):
                    key = (label_of(s), id_of(s))
                    node = nodes.setdefault(key, {"id": key[1], "text": None, "scenario": None})
                    if predicate == ONTOLOGY + "scenario":
                        node["scenario"] = str(o)
                    elif predicate == ONTOLOGY + "text" or s not in texts:
                        node["text"] = str(o)
                        texts[s] = predicate
                    continue
                if isinstance(o, Literal):
                    reject(predicate, "a literal value of a property other than rdfs:label or kgr:text is "
                                      "not imported", triple)
                    continue
                relation = (unquote(predicate[len(RELATION):]) if predicate.startswith(RELATION)
                            else sanitize_relation(predicate))
                check_relation_name(relation)
                relations.append({"src_label": label_of(s), "src_id": id_of(s), "relation": relation,
                                  "dst_label": label_of(o), "dst_id": id_of(o)})
            except SchemaError as error:
                reject(predicate, str(error), triple)
        for term, label in labels.items():
            try:
                key = (label, id_of(term))
            except SchemaError as error:
                reject("id", str(error), (term, URIRef(RDF_TYPE), URIRef(_CLASS[label])))
                continue
            nodes.setdefault(key, {"id": key[1], "text": None, "scenario": None})

        interactions: list[InteractionRow] = []
        for node, props in interactions_by_node.items():
            try:
                if "user" not in props or "item" not in props:
                    missing = "user" if "user" not in props else "item"
                    raise SchemaError(f"interaction {node.n3()} has no kgr:{missing}")
                timestamp = props.get("timestamp")
                interactions.append({
                    "user_id": id_of(props["user"]), "item_id": id_of(props["item"]),
                    "scenario": str(props.get("scenario", DEFAULT_SCENARIO)),
                    "kind": str(props.get("kind", DEFAULT_KIND)),
                    "weight": float(props["weight"].toPython()) if "weight" in props else 1.0,
                    "timestamp": None if timestamp is None else float(timestamp.toPython()),
                })
            except (SchemaError, TypeError, ValueError) as error:
                rejects.add(self.path, 0, "kgr:Interaction", str(error), node.n3())
        node_rows = [(label, row, True) for (label, _), row in nodes.items()]
        return node_rows, interactions, relations


def snapshot_rows(snapshot: GraphSnapshot) -> dict[str, set]:
    """A snapshot as order-free sets of id-level rows: two snapshots of the same graph
    compare equal whatever order their stores keep nodes in."""
    out: dict[str, set] = {}
    for label in _PATH_SEGMENT:
        table = snapshot.nodes(label)
        out[label] = set(zip(table.ids.tolist(), table.text.tolist(), table.scenario.tolist()))
    inter = snapshot.interactions
    out[INTERACTED] = {
        (str(snapshot.users.ids[u]), str(snapshot.items.ids[i]), s, k, float(w), None if np.isnan(t) else float(t))
        for u, i, s, k, w, t in zip(inter.user.tolist(), inter.item.tolist(), inter.scenario.tolist(),
                                    inter.kind.tolist(), inter.weight.tolist(), inter.timestamp.tolist())}
    relations = set()
    for (src_label, relation, dst_label), (src, dst) in snapshot.relations.items():
        a_ids, b_ids = snapshot.nodes(src_label).ids, snapshot.nodes(dst_label).ids
        relations.update((src_label, str(a_ids[a]), relation, dst_label, str(b_ids[b]))
                         for a, b in zip(src.tolist(), dst.tolist()))
    out["relations"] = relations
    return out
