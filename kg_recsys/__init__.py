"""kg-recsys: knowledge-graph-enhanced recommendation that works on day one.

Public names are imported at first use (PEP 562), so ``import kg_recsys`` and the ``kgrec``
command start without loading torch, PyG or transformers.
"""
import importlib
import warnings

# PyG's import runs torch.jit.script, which recent torch deprecates with a FutureWarning on
# every command; the scripted helpers still work, and the warning is not ours to act on.
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)

__version__ = "0.1.0"

_EXPORTS = {
    "ConfigError": "kg_recsys.config", "ModelConfig": "kg_recsys.config", "RankConfig": "kg_recsys.config",
    "RecallConfig": "kg_recsys.config", "RecommenderConfig": "kg_recsys.config", "TextConfig": "kg_recsys.config",
    "TrainConfig": "kg_recsys.config",
    "Explanation": "kg_recsys.explanations", "ExplanationPath": "kg_recsys.explanations",
    "Interest": "kg_recsys.explanations",
    "Recommender": "kg_recsys.recommender", "UnknownUserError": "kg_recsys.recommender",
    "GraphSnapshot": "kg_recsys.store", "GraphStore": "kg_recsys.store", "MemoryStore": "kg_recsys.store",
    "open_store": "kg_recsys.store",
}
__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'kg_recsys' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
