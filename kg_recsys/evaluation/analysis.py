"""Where a model wins and loses: metrics by item-popularity and by user-activity bucket, and a
2-D projection of vectors. The notebooks plot these; the logic lives here.

Ranking follows the harness's rules (:mod:`kg_recsys.evaluation.harness`): all candidates
are ranked, items in the user's ``split.context`` are excluded, ``NaN`` scores never rank.

Example::

    split = make_split(snapshot, "cold-item", seed=0)
    result = evaluate(split, scorers, k=20)          # fits the scorers
    table = bucket_recall(split, scorers[0], k=20, by="user_interactions")
"""
from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
import torch

from kg_recsys.evaluation.harness import Scorer, UserItems, ranked_chunks
from kg_recsys.evaluation.splits import Split

BucketBy = Literal["item_popularity", "user_interactions"]


def top_k(split: Split, scorer: Scorer, k: int, users: np.ndarray | None = None, chunk_size: int = 256,
          seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each test user's top-``k`` candidate items from a fitted ``scorer``.

    Args:
        split: the split ``scorer`` was fitted on.
        scorer: a fitted scorer.
        k: list length.
        users: user indices (default: ``split.test_users()``).
        chunk_size: users scored at once. (default: ``256``)
        seed: seed of the tie-breaking keys, as in the harness. (default: ``0``)

    Returns:
        ``(users, items)``: ``items[u, r]`` is the item index at rank ``r + 1`` of
        ``users[u]``, ``-1`` where fewer than ``k`` items could be ranked.

    Shapes:
        users: ``[U]``, items: ``[U, k]`` int64.
    """
    users = split.test_users() if users is None else np.asarray(users, dtype=np.int64)
    candidates = np.asarray(split.candidates, dtype=np.int64)
    exclude = UserItems(split.context.interactions, len(split.context.users))
    width = min(k, len(candidates))
    out = np.full((len(users), k), -1, dtype=np.int64)
    # The harness's own ranking and tie-breaking, so buckets add up to its numbers.
    with torch.no_grad():
        for start, top in ranked_chunks(lambda u, i: scorer.score(split.context, u, i), users, candidates,
                                        exclude, k, seed=seed, chunk_size=chunk_size):
            out[start:start + len(top), :width] = np.where(top >= 0, candidates[np.maximum(top, 0)], -1)
    return users, out


def item_popularity(split: Split) -> np.ndarray:
    """Interactions per item over everything observed (context and test): how popular an item
    turns out to be. Only used to group items, never to score them. Shape ``[items]``."""
    n = len(split.context.items)
    return (np.bincount(split.context.interactions.item, minlength=n)
            + np.bincount(split.test.item, minlength=n)).astype(np.int64)


def user_activity(split: Split) -> np.ndarray:
    """Interactions per user that a model may see (``split.context``). Shape ``[users]``."""
    return np.bincount(split.context.interactions.user, minlength=len(split.context.users)).astype(np.int64)


def quantile_edges(values: np.ndarray, n_buckets: int = 4) -> np.ndarray:
    """Bucket edges at quantiles of ``values`` (duplicates dropped): bucket ``b`` holds
    ``edges[b] <= v < edges[b + 1]``, the last one is closed."""
    edges = np.unique(np.quantile(np.asarray(values, dtype=np.float64), np.linspace(0, 1, n_buckets + 1)))
    return edges if len(edges) > 1 else np.array([edges[0], edges[0]])


def _bucket_of(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)


def bucket_recall(split: Split, scorer: Scorer, k: int = 20, by: BucketBy = "item_popularity",
                  edges: Sequence[float] | None = None, n_buckets: int = 4, seed: int = 0) -> list[dict]:
    """Recall@K of a fitted ``scorer`` per bucket.

    ``by="item_popularity"``: test (user, item) pairs are grouped by the item's
    :func:`item_popularity`; a bucket's recall is the fraction of its pairs found in the
    user's top-K. ``by="user_interactions"``: test users are grouped by
    :func:`user_activity`; a bucket's recall is the mean per-user Recall@K.

    Args:
        edges: bucket edges (default: :func:`quantile_edges` with ``n_buckets``).

    Returns:
        One row per bucket: ``{"bucket": "lo-hi", "lo", "hi", "count", "unit", "recall@K",
        "stderr"}`` (``count`` = ``unit``, pairs or users; ``stderr`` = the standard error of the
        bucket's recall: binomial over pairs, or over users' recalls); buckets with no
        test data are left out.
    """
    if by not in ("item_popularity", "user_interactions"):
        raise ValueError(f"by must be 'item_popularity' or 'user_interactions', got {by!r}")
    users, top = top_k(split, scorer, k, seed=seed)
    position = {u: r for r, u in enumerate(users.tolist())}
    pairs = np.unique(np.stack([split.test.user, split.test.item], axis=1), axis=0)
    in_candidates = np.isin(pairs[:, 1], split.candidates)
    pairs = pairs[in_candidates]
    # A pair whose item the user already has in context cannot be ranked: not counted (harness rule).
    context = set(zip(split.context.interactions.user.tolist(), split.context.interactions.item.tolist()))
    pairs = np.array([p for p in pairs.tolist() if tuple(p) not in context], dtype=np.int64).reshape(-1, 2)
    hit = np.array([item in top[position[user]] for user, item in pairs.tolist()], dtype=bool)
    if by == "item_popularity":
        values = item_popularity(split)[pairs[:, 1]]
    else:
        values = user_activity(split)[pairs[:, 0]]
    edges = quantile_edges(values, n_buckets) if edges is None else np.asarray(edges, dtype=np.float64)
    bucket = _bucket_of(values, edges)
    rows = []
    for b in range(len(edges) - 1):
        mask = bucket == b
        if not mask.any():
            continue
        if by == "item_popularity":
            count, recall = int(mask.sum()), float(hit[mask].mean())
            stderr = float(np.sqrt(recall * (1.0 - recall) / count))
        else:
            per_user = [hit[mask & (pairs[:, 0] == u)].mean() for u in np.unique(pairs[mask, 0])]
            count, recall = len(per_user), float(np.mean(per_user))
            stderr = float(np.std(per_user, ddof=1) / np.sqrt(count)) if count > 1 else 0.0
        lo, hi = float(edges[b]), float(edges[b + 1])
        rows.append({"bucket": f"{lo:g}-{hi:g}", "lo": lo, "hi": hi, "count": count,
                     "unit": "pairs" if by == "item_popularity" else "users", f"recall@{k}": recall, "stderr": stderr})
    return rows


def pca_2d(vectors: np.ndarray | torch.Tensor) -> np.ndarray:
    """Project rows onto their first two principal components. Shape ``[N, d] -> [N, 2]``."""
    x = vectors.detach().cpu().numpy() if isinstance(vectors, torch.Tensor) else np.asarray(vectors)
    x = x.astype(np.float64) - x.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return x @ vt[:2].T


def plot_buckets(ax, tables: dict[str, list[dict]], k: int = 20, title: str = "", xlabel: str = "bucket"):
    """Grouped bars of :func:`bucket_recall` tables, one series per model, on a matplotlib
    ``ax``: error bars of one standard error, each bucket's size under its label, and the
    legend outside the axes so that it covers no bar."""
    names = list(tables)
    first = tables[names[0]] if names else []
    buckets = [row["bucket"] for row in first]
    width = 0.8 / max(len(names), 1)
    for n, name in enumerate(names):
        rows = {row["bucket"]: row for row in tables[name]}
        ax.bar(np.arange(len(buckets)) + n * width, [rows[b][f"recall@{k}"] if b in rows else 0.0 for b in buckets],
               width, yerr=[rows[b]["stderr"] if b in rows else 0.0 for b in buckets], capsize=2, label=name)
    ax.set_xticks(np.arange(len(buckets)) + width * (len(names) - 1) / 2,
                  [f"{row['bucket']}\n(n={row['count']} {row['unit']})" for row in first])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"Recall@{k}")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return ax


def plot_projection(ax, points: np.ndarray, groups: Sequence[str], title: str = ""):
    """Scatter of :func:`pca_2d` points coloured by group (e.g. scenario)."""
    groups = np.asarray(groups)
    for group in sorted(set(groups.tolist())):
        mask = groups == group
        ax.scatter(points[mask, 0], points[mask, 1], s=8, alpha=0.7, label=f"{group or '(none)'} ({mask.sum()})")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", markerscale=2)
    return ax
