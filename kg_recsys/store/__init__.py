"""Graph stores: the embedded default (networkx) and Neo4j, behind one protocol."""
from kg_recsys.store.base import (GraphSnapshot, GraphStore, GraphTopology, InteractionTable, NodeTable, Recommendation,
                                  open_store)

__all__ = ["GraphSnapshot", "GraphStore", "GraphTopology", "InteractionTable", "NodeTable", "Recommendation",
           "MemoryStore", "open_store"]


def __getattr__(name: str):
    # networkx loads with the embedded store, not with every command that names a store.
    if name == "MemoryStore":
        from kg_recsys.store.memory import MemoryStore

        return MemoryStore
    raise AttributeError(f"module 'kg_recsys.store' has no attribute {name!r}")
