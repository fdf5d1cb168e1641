"""kg-recsys: knowledge-graph-enhanced recommendation that works on day one."""
from kg_recsys.store import GraphSnapshot, GraphStore, MemoryStore, open_store

__version__ = "0.1.0"
__all__ = ["GraphSnapshot", "GraphStore", "MemoryStore", "open_store", "__version__"]
