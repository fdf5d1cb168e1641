"""Models: pure ``nn.Module``s over tensors (no I/O, no config objects)."""
from kg_recsys.nn.gnn import KGRecGNN
from kg_recsys.nn.ranker import MLPRanker, RankerEnsemble, average_of

__all__ = ["KGRecGNN", "MLPRanker", "RankerEnsemble", "average_of"]
