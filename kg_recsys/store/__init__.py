"""Graph stores: the embedded default (networkx) and Neo4j, behind one protocol."""
from kg_recsys.store.base import (GraphSnapshot, GraphStore, InteractionTable, NodeTable, Recommendation,
                                  open_store)
from kg_recsys.store.memory import MemoryStore

__all__ = ["GraphSnapshot", "GraphStore", "InteractionTable", "NodeTable", "Recommendation", "MemoryStore",
           "open_store"]
