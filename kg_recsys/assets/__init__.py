"""Files the library reads at run time, shipped in the wheel as package data.

- ``constraints.cypher``: the Neo4j schema (:meth:`kg_recsys.store.neo4j.Neo4jStore.ensure_schema`);
- ``ontology.ttl``: the RDF vocabulary of :mod:`kg_recsys.store.rdf`;
- ``neo4j-server/``: the Maven project of the project's Neo4j server (:mod:`kg_recsys.neo4j_server`
  copies it to its state folder and builds it there, since an installed package may be read-only).

They are read through :func:`importlib.resources`, never by a path relative to a checkout.
"""
from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable


def asset(name: str) -> Traversable:
    """The packaged file or folder ``name`` (``"constraints.cypher"``, ``"neo4j-server/pom.xml"``)."""
    return files(__name__).joinpath(*name.split("/"))
