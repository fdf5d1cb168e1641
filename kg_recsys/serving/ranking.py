"""Recall, candidate choice, the ranker's features and the final order, over a
:class:`~kg_recsys.serving.index.ServingIndex`; and the one top-k of the project.

The way of a request: recall scores (dot products, seen items masked) -> candidates (the
best recall scores and the most popular items) -> the ranker's features for those pairs
only -> the ranker's scores -> :func:`top_k`.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from kg_recsys.serving.index import ServingIndex


def top_k(scores: Tensor | np.ndarray, k: int, tie_keys: Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The columns of the ``k`` best scores per row, best first, and their scores.

    Ties are broken by the larger ``tie_keys`` (the evaluation draws them at random per
    user), else by the lower column. ``-1`` marks a slot with no finite score.

    Shapes:
        scores, tie_keys: ``[U, C]`` -> ``([U, min(k, C)], [U, min(k, C)])``.
    """
    scores = torch.as_tensor(scores)
    k = min(k, scores.size(1))
    if k == 0:
        return np.zeros((scores.size(0), 0), np.int64), np.zeros((scores.size(0), 0), np.float32)
    if tie_keys is None:
        tie_keys = -torch.arange(scores.size(1), dtype=torch.float64).expand(scores.shape)
    kth = torch.topk(scores, k, dim=1).values[:, -1:]
    # Everything above the k-th score is in; the tied items fill the rest by key.
    low = tie_keys.min() - 1.0
    pick = torch.where(scores > kth, tie_keys.max() + 1.0, torch.where(scores == kth, tie_keys, low))
    top = torch.topk(pick, k, dim=1).indices
    chosen_scores = torch.gather(scores, 1, top).numpy()
    chosen_keys = torch.gather(tie_keys, 1, top).numpy()
    order = np.lexsort((-chosen_keys, -chosen_scores), axis=-1)
    top = np.take_along_axis(top.numpy(), order, axis=1)
    chosen_scores = np.take_along_axis(chosen_scores, order, axis=1)
    return np.where(np.isneginf(chosen_scores), -1, top), chosen_scores


def recall_scores(index: ServingIndex, users: np.ndarray, items: np.ndarray, *, exclude_seen: bool = True,
                  user_vectors: Tensor | None = None) -> np.ndarray:
    """Dot products ``[U, len(items)]``; ``-inf`` where the user has the item (``exclude_seen``).

    Args:
        user_vectors: vectors to score instead of the index's rows ``users`` (a text-only user).
    """
    vectors = index.user_vectors[torch.from_numpy(users)] if user_vectors is None else user_vectors
    with torch.no_grad():
        scores = (vectors @ index.item_vectors[torch.from_numpy(items)].T).numpy()
    if exclude_seen and user_vectors is None:
        mask_seen(scores, index.seen, users, items)
    return scores


def mask_seen(scores: np.ndarray, seen, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Set ``scores [U, len(items)]`` to ``-inf`` (in place) where ``seen [users, items]`` is set."""
    column = np.full(seen.shape[1], -1, np.int64)
    column[items] = np.arange(len(items))
    rows = seen[users]
    row = np.repeat(np.arange(len(users)), np.diff(rows.indptr))
    col = column[rows.indices]
    keep = col >= 0
    scores[row[keep], col[keep]] = -np.inf
    return scores


def candidate_columns(recall: np.ndarray, popularity: np.ndarray, n: int) -> np.ndarray:
    """The columns the ranker orders, per row: the ``n`` best recall scores and the ``n``
    most popular columns (popularity above zero) with a finite score, without repeats
    (``-1`` pads).

    Popular items join the candidates so that the ranker can fall back on popularity where
    recall knows little, e.g. for a user new to a scenario, whose vector comes from another
    scenario's history. (The nearest users' items were tried as a third source: +0.3 points
    on warm ml-100k, -10% on Douban book -> music, where they are mostly noise.)

    Shapes:
        recall: ``[U, I]``, popularity: ``[I]`` -> ``[U, 2n]``.
    """
    n = min(n, recall.shape[1])
    by_recall = np.argpartition(-recall, n - 1, axis=1)[:, :n]
    by_recall = np.where(np.isfinite(np.take_along_axis(recall, by_recall, axis=1)), by_recall, -1)
    # Items nobody has interacted with (all of them, for cold items) are not "popular".
    popular = np.where(np.isfinite(recall) & (popularity[None, :] > 0), popularity[None, :], -np.inf)
    by_popularity = np.argpartition(-popular, n - 1, axis=1)[:, :n]
    by_popularity = np.where(np.isfinite(np.take_along_axis(popular, by_popularity, axis=1)), by_popularity, -1)
    columns = np.sort(np.concatenate([by_recall, by_popularity], axis=1), axis=1)
    repeat = np.zeros(columns.shape, bool)
    repeat[:, 1:] = columns[:, 1:] == columns[:, :-1]
    return np.where(repeat, -1, columns)


def pair_stats(index: ServingIndex, users: np.ndarray, items: np.ndarray, recall: np.ndarray) -> Tensor:
    """Scalar ranker features of (user, item) pairs: recall score, item popularity, user
    activity, the text and KG-profile similarities of the user and the item (so the ranker
    can lean on content where the graph knows little, e.g. a cold item), the user's
    activity in the item's scenario (none: the user is new to it, and popularity there
    matters more), the share of the user's nearest neighbours who have the item (the
    user -> item -> user -> item paths), and the item's mean weight among the nearest items
    of the user's history (item -> user -> item paths).

    Shapes:
        users, items, recall: ``[P]`` -> ``[P, NUM_RANK_STATS]``.
    """
    text = np.zeros(len(users), np.float32) if index.user_text_vectors is None else \
        np.einsum("ij,ij->i", index.user_text_vectors[users], index.item_text_vectors[items])
    kg = np.zeros(len(users), np.float32) if index.user_entities is None else \
        np.asarray(index.user_entities[users].multiply(index.item_entities[items]).sum(axis=1)).ravel()
    neighbours = np.zeros(len(users), np.float32) if index.user_neighbours is None else \
        np.asarray(index.user_neighbours[users].multiply(index.item_users[items]).sum(axis=1)).ravel()
    near = np.zeros(len(users), np.float32) if index.items_near is None else \
        np.asarray(index.user_history[users].multiply(index.items_near[items]).sum(axis=1)).ravel()
    stats = np.stack([recall, index.item_popularity[items], index.user_activity[users], text, kg,
                      index.user_scenario_activity[users, index.item_scenario[items]], neighbours, near], axis=1)
    return torch.from_numpy(np.nan_to_num(stats.astype(np.float32), neginf=-10.0))


def ranker_inputs(index: ServingIndex, users: np.ndarray, items: np.ndarray, stats: Tensor):
    """The ranker's arguments for pairs whose :func:`pair_stats` are ``stats``."""
    return (index.user_vectors[torch.from_numpy(users)], index.item_vectors[torch.from_numpy(items)],
            torch.from_numpy(index.item_scenario[items]), stats)


def rank_candidates(ranker: torch.nn.Module, index: ServingIndex, users: np.ndarray, candidates: np.ndarray,
                    recall: np.ndarray) -> np.ndarray:
    """Ranker scores for each user's recall candidates ``[U, N]`` (``-inf`` where padded)."""
    rows, cols = np.nonzero(candidates >= 0)
    ranker.eval()
    with torch.no_grad():
        pair_users, pair_items = users[rows], candidates[rows, cols]
        stats = pair_stats(index, pair_users, pair_items, recall[rows, cols])
        out = ranker(*ranker_inputs(index, pair_users, pair_items, stats))
    result = np.full(candidates.shape, -np.inf, np.float32)
    result[rows, cols] = out.numpy()
    return result


def rank_recall(ranker: torch.nn.Module, index: ServingIndex, users: np.ndarray, items: np.ndarray,
                recall: np.ndarray, num_candidates: int) -> tuple[np.ndarray, np.ndarray]:
    """The ranker over each user's candidates (see :func:`candidate_columns`) of the recall
    scores ``recall [U, I]`` of ``items``: ``(scores, is_candidate)``, both ``[U, I]``, with
    the ranker's score on candidates and the recall score elsewhere."""
    columns = candidate_columns(recall, index.item_popularity[items], num_candidates)
    safe = np.maximum(columns, 0)
    ranked = rank_candidates(ranker, index, users, np.where(columns >= 0, items[safe], -1),
                             np.take_along_axis(recall, safe, axis=1))
    scores, is_candidate = recall.copy(), np.zeros(recall.shape, bool)
    rows, cols = np.nonzero(columns >= 0)
    scores[rows, columns[rows, cols]] = ranked[rows, cols]
    is_candidate[rows, columns[rows, cols]] = True
    return scores, is_candidate


def final_order(scores: np.ndarray, is_candidate: np.ndarray) -> np.ndarray:
    """Sort keys ``[U, I]`` that put every candidate above every non-candidate, the
    candidates by their ranker score and the rest by their recall score."""
    finite = scores[np.isfinite(scores)]
    final = scores - (np.abs(finite).max(initial=0.0) + 1.0) * 2 - 1e3
    if is_candidate.any():
        final[is_candidate] = scores[is_candidate] - scores[is_candidate].min()
    return final


def score_items(ranker: torch.nn.Module | None, index: ServingIndex, users: np.ndarray, items: np.ndarray,
                num_candidates: int) -> np.ndarray:
    """Scores ``[U, I]`` for the given items, in the final order: the ranker's over each
    user's candidates, then the rest by recall score; ``-inf`` for seen items.

    Seen items are left out before candidates are chosen, as the ranker's trainer does:
    kept, they take candidate slots (the GNN scores a user's own training items high) that
    unseen items should have, and evaluation would rank other candidates than serving."""
    recall = recall_scores(index, users, items)
    if ranker is None:
        return recall
    return final_order(*rank_recall(ranker, index, users, items, recall, num_candidates))
