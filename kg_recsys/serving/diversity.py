"""Diversity re-ranking: maximal marginal relevance (MMR, Carbonell & Goldstein, SIGIR 1998)
over the items' GNN vectors.

The top ``depth`` items of each list are re-ordered greedily: each next item maximises

.. math::
    (1 - \\lambda)\\, \\hat r_i - \\lambda \\max_{j \\in S} \\cos(v_i, v_j),

where :math:`\\hat r_i` is the item's score min-max scaled to ``[0, 1]`` within the user's
``depth`` list, :math:`S` the items already placed and :math:`\\lambda` ``[rank] diversity``
(``0`` keeps the list as it is). The first item is always the best-scored one.
"""
from __future__ import annotations

import numpy as np

from kg_recsys.serving.ranking import top_k


def mmr_order(relevance: np.ndarray, vectors: np.ndarray, weight: float) -> np.ndarray:
    """MMR order of each row's ``N`` items.

    Args:
        relevance: ``[U, N]`` scores; ``-inf`` marks an empty slot, placed last.
        vectors: ``[U, N, d]`` item vectors (cosine similarity is taken, so any scale).
        weight: :math:`\\lambda` in ``[0, 1]``.

    Returns:
        ``[U, N]`` positions into each row, in the re-ranked order.
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"diversity weight must be in [0, 1], got {weight}")
    count, width = relevance.shape
    valid = np.isfinite(relevance)
    low = np.where(valid, relevance, np.inf).min(axis=1, keepdims=True)
    high = np.where(valid, relevance, -np.inf).max(axis=1, keepdims=True)
    span = np.where(np.isfinite(high - low) & (high > low), high - low, 1.0)
    scaled = np.where(valid, (relevance - np.where(np.isfinite(low), low, 0.0)) / span, -np.inf)
    norms = np.linalg.norm(vectors, axis=2, keepdims=True)
    unit = vectors / np.where(norms > 0, norms, 1.0)
    similarity = np.einsum("und,umd->unm", unit, unit)  # [U, N, N]
    rows = np.arange(count)
    closest = np.zeros((count, width))  # max similarity to the placed items (none yet: 0)
    placed = np.zeros((count, width), dtype=bool)
    order = np.empty((count, width), dtype=np.int64)
    for step in range(width):
        gain = (1.0 - weight) * scaled - weight * closest
        gain[placed] = -np.inf
        gain[~valid & ~placed] = -1e30  # empty slots after every real item
        pick = np.argmax(gain, axis=1)
        order[:, step] = pick
        placed[rows, pick] = True
        closest = np.maximum(closest, similarity[rows, pick]) if step else similarity[rows, pick]
    return order


def diversify_scores(scores: np.ndarray, item_vectors: np.ndarray, weight: float, depth: int) -> np.ndarray:
    """Scores ``[U, I]`` whose order puts each row's top ``depth`` items first, in MMR order
    (:func:`mmr_order`), then the rest in their old order; ``-inf`` stays ``-inf``.

    Args:
        scores: ``[U, I]`` scores of ``I`` items.
        item_vectors: ``[I, d]`` the same items' vectors.
        weight: :math:`\\lambda`; ``0`` returns ``scores`` unchanged.
        depth: how many of the best items are re-ordered.

    Returns:
        ``[U, I]`` float32.
    """
    if weight == 0.0 or depth <= 1 or scores.size == 0:
        return scores
    top, found = top_k(scores, min(depth, scores.shape[1]))
    safe = np.maximum(top, 0)
    order = mmr_order(np.where(top >= 0, found, -np.inf), item_vectors[safe], weight)
    reordered = np.take_along_axis(top, order, axis=1)
    finite = np.isfinite(scores)
    bound = float(np.abs(scores[finite]).max(initial=0.0))
    out = np.where(finite, scores - 2.0 * bound - depth - 2.0, -np.inf).astype(np.float32)
    rows, positions = np.nonzero(reordered >= 0)
    out[rows, reordered[rows, positions]] = depth - positions  # above every other item
    return out
