"""Candidate generation: the top-N items by vector similarity, scored in chunks of users so
that the full user x item score matrix never exists at once (PyG #3958, RecBole #519)."""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def exclusion_pairs(users: np.ndarray, interacted_user: np.ndarray, interacted_item: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(row in ``users``, item) pairs for every item each requested user has interacted with."""
    users = np.asarray(users, dtype=np.int64)
    if len(users) == 0 or len(interacted_user) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # Vectorised lookup of each interaction's user among the requested ones (a hot path:
    # every recommend() call runs it over all interactions).
    order = np.argsort(users, kind="stable")
    slot = np.minimum(np.searchsorted(users[order], interacted_user), len(users) - 1)
    keep = users[order][slot] == interacted_user
    return order[slot[keep]], np.asarray(interacted_item, np.int64)[keep]


def mask_seen(scores: np.ndarray, users: np.ndarray, candidates: np.ndarray, num_items: int,
              interacted_user: np.ndarray, interacted_item: np.ndarray) -> np.ndarray:
    """Set ``scores [U, len(candidates)]`` to ``-inf`` (in place) where the user of the row
    has interacted with the candidate item of the column; returns ``scores``."""
    column = np.full(num_items, -1, np.int64)
    column[candidates] = np.arange(len(candidates))
    rows, items = exclusion_pairs(users, interacted_user, interacted_item)
    keep = column[items] >= 0
    scores[rows[keep], column[items[keep]]] = -np.inf
    return scores


def score_matrix(user_vectors: Tensor, item_vectors: Tensor, exclude_rows: np.ndarray | None = None,
                 exclude_cols: np.ndarray | None = None) -> Tensor:
    """Dot-product scores ``[U, I]`` with excluded (row, column) pairs set to ``-inf``."""
    scores = user_vectors @ item_vectors.T
    if exclude_rows is not None and len(exclude_rows):
        scores[torch.from_numpy(exclude_rows), torch.from_numpy(exclude_cols)] = float("-inf")
    return scores


def top_n(user_vectors: Tensor, item_vectors: Tensor, n: int, *, candidates: np.ndarray | None = None,
          exclude: tuple[np.ndarray, np.ndarray] | None = None, chunk_size: int = 1024
          ) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` best items per user.

    Args:
        user_vectors: ``[U, d]``.
        item_vectors: ``[I, d]`` for the whole catalogue.
        n: how many per user (fewer if fewer candidates remain).
        candidates: item indices allowed (e.g. the items of one scenario); ``None`` = all.
        exclude: (row, item) pairs to leave out, e.g. items already seen.
        chunk_size: users scored at a time (bounds memory to ``chunk_size x I``).

    Returns:
        ``(items [U, n], scores [U, n])``: item indices into the catalogue, best first;
        padded with ``-1`` / ``-inf`` where fewer than ``n`` candidates remain.
    """
    pool = np.arange(item_vectors.size(0)) if candidates is None else np.asarray(candidates, np.int64)
    column = np.full(item_vectors.size(0), -1, np.int64)
    column[pool] = np.arange(len(pool))
    pool_vectors = item_vectors[torch.from_numpy(pool)]
    k = min(n, len(pool))
    items = np.full((user_vectors.size(0), n), -1, np.int64)
    scores = np.full((user_vectors.size(0), n), -np.inf, np.float32)
    if k == 0:
        return items, scores
    ex_rows, ex_items = exclude if exclude is not None else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    ex_cols = column[ex_items] if len(ex_items) else ex_items
    keep = ex_cols >= 0
    ex_rows, ex_cols = ex_rows[keep], ex_cols[keep]
    order = np.argsort(ex_rows, kind="stable")
    ex_rows, ex_cols = ex_rows[order], ex_cols[order]
    with torch.no_grad():
        for start in range(0, user_vectors.size(0), chunk_size):
            stop = min(start + chunk_size, user_vectors.size(0))
            lo, hi = np.searchsorted(ex_rows, [start, stop])
            block = score_matrix(user_vectors[start:stop], pool_vectors, ex_rows[lo:hi] - start, ex_cols[lo:hi])
            best_scores, best = torch.topk(block, k, dim=1)
            items[start:stop, :k] = pool[best.numpy()]
            scores[start:stop, :k] = best_scores.numpy()
    items[~np.isfinite(scores)] = -1
    return items, scores
