"""Top-K ranking metrics with binary relevance, over full (unsampled) rankings.

Definitions, for one user with relevant set :math:`R` and top-K list
:math:`i_1, \\dots, i_K` (:math:`\\mathrm{rel}_r = 1` when :math:`i_r \\in R`):

.. math::
    \\mathrm{Recall@K} = \\frac{\\sum_{r \\le K} \\mathrm{rel}_r}{|R|}, \\quad
    \\mathrm{Precision@K} = \\frac{\\sum_{r \\le K} \\mathrm{rel}_r}{K}, \\quad
    \\mathrm{Hit@K} = [\\sum_{r \\le K} \\mathrm{rel}_r > 0],

.. math::
    \\mathrm{NDCG@K} = \\frac{\\sum_{r \\le K} \\mathrm{rel}_r / \\log_2(r + 1)}
                            {\\sum_{r \\le \\min(|R|, K)} 1 / \\log_2(r + 1)}, \\quad
    \\mathrm{MRR@K} = 1 / r^{*} \\text{ for the first relevant rank } r^{*} \\le K, \\text{ else } 0.

MRR is truncated at K (``mrr@K``), like the other metrics, so every number comes from the
same top-K list. Recall divides by :math:`|R|`, not by :math:`\\min(|R|, K)`. Users are
averaged with equal weight; users with no relevant item are not evaluated.
Catalogue coverage@K is the fraction of candidate items that appear in at least one
user's top-K list. Novelty@K is the mean self-information of the listed items,
:math:`\\log_2((U + 1) / (n_i + 1))` for an item that :math:`n_i` of the :math:`U` users have in
training (Zhou et al., PNAS 2010, smoothed so that an item nobody has is finite): higher
means less popular items.
"""
from __future__ import annotations

from typing import Final, Hashable, Sequence

import numpy as np

METRICS: Final = ("recall", "ndcg", "hit", "mrr", "precision")


def recall_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int, *, capped: bool = False) -> np.ndarray:
    """Per-user Recall@K from a hit matrix (the one definition; see the module docstring).

    Args:
        hits: ``[U, <=K]`` bool, as in :func:`per_user_metrics`.
        n_relevant: relevant items per user (> 0).
        k: the cut-off.
        capped: divide by :math:`\\min(|R|, K)` instead of :math:`|R|`, so that every
            user's recall spans 0..1 (the trainers' early stopping uses it: a Douban user
            holds ~55 target items, and the uncapped form lowered Douban both ways).
    """
    n_relevant = np.asarray(n_relevant, dtype=np.float64)
    denominator = np.minimum(n_relevant, k) if capped else n_relevant
    return np.asarray(hits, dtype=bool).sum(axis=1) / denominator


def per_user_metrics(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Per-user metrics from a hit matrix.

    Args:
        hits: ``hits[u, r]`` is true when the item at rank ``r + 1`` of user ``u``'s list
            is relevant. Lists shorter than ``k`` are padded with ``False``.
        n_relevant: number of relevant items of each user (must be > 0).
        k: the cut-off; ``hits`` has at most ``k`` columns.

    Returns:
        ``{"recall", "ndcg", "hit", "mrr", "precision"}`` -> float64 array of shape ``[U]``.

    Shapes:
        hits: ``[U, <=K]`` bool, n_relevant: ``[U]`` int.
    """
    hits = np.asarray(hits, dtype=bool)
    n_relevant = np.asarray(n_relevant, dtype=np.float64)
    if hits.ndim != 2 or hits.shape[1] > k:
        raise ValueError(f"hits must have shape [users, <= {k}], got {hits.shape}")
    if hits.shape[0] != n_relevant.shape[0]:
        raise ValueError("hits and n_relevant disagree on the number of users")
    if np.any(n_relevant <= 0):
        raise ValueError("every evaluated user needs at least one relevant item")
    width = hits.shape[1]
    discount = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))  # rank r -> 1/log2(r+1)
    n_hits = hits.sum(axis=1).astype(np.float64)
    dcg = (hits * discount[:width]).sum(axis=1)
    ideal = np.cumsum(discount)[np.minimum(n_relevant, k).astype(np.int64) - 1]
    first = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, 0)
    return {
        "recall": recall_at_k(hits, n_relevant, k),
        "ndcg": dcg / ideal,
        "hit": (n_hits > 0).astype(np.float64),
        "mrr": np.where(first > 0, 1.0 / np.maximum(first, 1), 0.0),
        "precision": n_hits / k,
    }


def ranking_metrics(ranked: Sequence[Hashable], relevant: set | frozenset, k: int) -> dict[str, float]:
    """All metrics of one user's ranking (a readable reference for the batched code).

    Args:
        ranked: the user's items, best first (at least the top ``k``).
        relevant: the user's relevant items (non-empty).
        k: the cut-off.
    """
    top = list(ranked)[:k]
    hits = np.asarray([[item in relevant for item in top]], dtype=bool).reshape(1, len(top))
    values = per_user_metrics(hits, np.asarray([len(relevant)]), k)
    return {name: float(array[0]) for name, array in values.items()}


def coverage(top_items: np.ndarray, n_candidates: int) -> float:
    """Fraction of the candidate items that appear in any top-K list.

    Args:
        top_items: candidate positions in the top-K lists; ``-1`` marks padding.
        n_candidates: size of the candidate set.
    """
    seen = np.unique(np.asarray(top_items).ravel())
    seen = seen[seen >= 0]
    return float(len(seen) / n_candidates) if n_candidates else 0.0


def self_information(item_counts: np.ndarray, n_users: int) -> np.ndarray:
    """``log2((n_users + 1) / (item_counts + 1))`` per item: the novelty of listing it.

    Args:
        item_counts: training users per item ``[I]``.
        n_users: users in the graph.

    Returns:
        ``[I]`` float64, ``0`` for an item every user has.
    """
    return np.log2((n_users + 1.0) / (np.asarray(item_counts, dtype=np.float64) + 1.0))


def metric_names(k: int) -> list[str]:
    """Result keys in report order: ``recall@K``, ..., ``coverage@K``."""
    return [f"{name}@{k}" for name in (*METRICS, "coverage")]
