"""Models: pure ``nn.Module``s over tensors (no I/O, no config objects)."""
from kg_recsys.nn.gnn import KGRecGNN
from kg_recsys.nn.ranker import MLPRanker

__all__ = ["KGRecGNN", "MLPRanker"]
