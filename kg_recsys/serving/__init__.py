"""Serving: the serving index (vectors + per-node statistics), recall, candidates, the
ranker's features for candidates only, the final order and the one top-k. Serving reads a
fitted model and an index; it never imports training."""
from kg_recsys.serving.index import ServingIndex, build_index
from kg_recsys.serving.ranking import (candidate_columns, channel_lists, final_order, fuse_lists, index_lists,
                                       pair_stats, rank_candidates, rank_recall, recall_scores, score_items, top_k)

__all__ = ["ServingIndex", "build_index", "candidate_columns", "channel_lists", "final_order", "fuse_lists",
           "index_lists", "pair_stats", "rank_candidates", "rank_recall", "recall_scores", "score_items", "top_k"]
