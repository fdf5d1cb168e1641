"""Evaluation, apart from the models: splits, metrics, the harness and baselines.

Typical use::

    split = make_split(snapshot, "cold-item", seed=0)
    scorers = [create_scorer(name, EvalContext(split.protocol)) for name in ("popularity", "lightgcn")]
    result = evaluate(split, scorers, k=20)
    print(format_table(result))
"""
from kg_recsys.evaluation.harness import Scorer, evaluate, fit_scorer, format_table, rank_metrics
from kg_recsys.evaluation.metrics import coverage, metric_names, per_user_metrics, ranking_metrics
from kg_recsys.evaluation.registry import DEFAULT_MODELS, SCORERS, EvalContext, create_scorer, register_scorer
from kg_recsys.evaluation.splits import PROTOCOLS, Split, SplitError, make_split

__all__ = ["DEFAULT_MODELS", "PROTOCOLS", "SCORERS", "EvalContext", "Scorer", "Split", "SplitError", "coverage", "create_scorer",
           "evaluate", "fit_scorer", "format_table", "make_split", "metric_names", "per_user_metrics",
           "rank_metrics", "ranking_metrics", "register_scorer"]
