"""kg-recsys: knowledge-graph-enhanced recommendation that works on day one."""
from kg_recsys.config import (ConfigError, ModelConfig, RankConfig, RecallConfig, RecommenderConfig, TextConfig,
                              TrainConfig)
from kg_recsys.recommender import Explanation, ExplanationPath, Recommender, UnknownUserError
from kg_recsys.store import GraphSnapshot, GraphStore, MemoryStore, open_store

__version__ = "0.1.0"
__all__ = ["ConfigError", "Explanation", "ExplanationPath", "GraphSnapshot", "GraphStore", "MemoryStore",
           "ModelConfig", "RankConfig", "RecallConfig", "Recommender", "RecommenderConfig", "TextConfig",
           "TrainConfig", "UnknownUserError", "open_store", "__version__"]
