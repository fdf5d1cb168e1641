"""Evaluation, apart from the models: splits, metrics, the harness and baselines.

Typical use::

    split = make_split(snapshot, "cold-item", seed=0)
    scorers = [create_scorer(name, EvalContext(split.protocol)) for name in ("popularity", "lightgcn")]
    result = evaluate(split, scorers, k=20)
    print(format_table(result))
"""
import importlib

# Imported at first use (PEP 562): `kgrec --help` reads PROTOCOLS without loading torch.
_EXPORTS = {
    "Scorer": "harness", "evaluate": "harness", "fit_scorer": "harness", "format_table": "harness",
    "rank_metrics": "harness", "coverage": "metrics", "metric_names": "metrics", "per_user_metrics": "metrics",
    "ranking_metrics": "metrics", "recall_at_k": "metrics", "DEFAULT_MODELS": "registry", "SCORERS": "registry",
    "EvalContext": "registry", "create_scorer": "registry", "register_scorer": "registry", "PROTOCOLS": "splits",
    "Split": "splits", "SplitError": "splits", "make_split": "splits",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'kg_recsys.evaluation' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"kg_recsys.evaluation.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
