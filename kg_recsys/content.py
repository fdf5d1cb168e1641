"""Profiles from history shared by the model and the baselines: what an item is, as the
entities it links to, and which users are alike, as the items they share. One place, so
the ranker's KG-profile and neighbourhood features and the ``kg_only`` and ``user_knn``
baselines are the same computations."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from kg_recsys.schema import ENTITY, ITEM, SAME_AS
from kg_recsys.store.base import GraphSnapshot, InteractionTable


def item_entity_tfidf(snapshot: GraphSnapshot) -> sp.csr_matrix:
    """``[n_items, n_entities]`` TF-IDF matrix of the entities each item links to.

    An item is a bag of the entities it links to: every Item -> Entity relation
    (attributes such as ``genre=Comedy``), and one more hop: the entities that the item's
    ``SAME_AS`` entity touches through Entity -> Entity triples (either direction). IDF is
    ``log(n_items / df)``, tf is sublinear; rows are L2-normalised.
    """
    n_items, n_entities = len(snapshot.items), len(snapshot.entities)
    rows, cols = [], []
    same_as: list[tuple[np.ndarray, np.ndarray]] = []
    for (src_label, relation, dst_label), (src, dst) in snapshot.relations.items():
        if src_label == ITEM and dst_label == ENTITY:
            if relation == SAME_AS:
                same_as.append((np.asarray(src, np.int64), np.asarray(dst, np.int64)))
            else:
                rows.append(np.asarray(src, np.int64))
                cols.append(np.asarray(dst, np.int64))
    kg_src = [np.asarray(s, np.int64) for (a, _, b), (s, _) in snapshot.relations.items() if a == b == ENTITY]
    kg_dst = [np.asarray(d, np.int64) for (a, _, b), (_, d) in snapshot.relations.items() if a == b == ENTITY]
    if same_as and kg_src:
        # entity -> neighbouring entities, both directions
        heads, tails = np.concatenate(kg_src), np.concatenate(kg_dst)
        neighbours = sp.csr_matrix((np.ones(2 * len(heads), np.float32),
                                    (np.r_[heads, tails], np.r_[tails, heads])), shape=(n_entities, n_entities))
        items, entities = np.concatenate([s for s, _ in same_as]), np.concatenate([d for _, d in same_as])
        link = sp.csr_matrix((np.ones(len(items), np.float32), (items, entities)), shape=(n_items, n_entities))
        hop = (link @ neighbours).tocoo()
        rows.append(hop.row.astype(np.int64))
        cols.append(hop.col.astype(np.int64))
    if not rows:
        return sp.csr_matrix((n_items, n_entities), dtype=np.float32)
    counts = sp.csr_matrix((np.ones(sum(len(r) for r in rows), np.float32),
                            (np.concatenate(rows), np.concatenate(cols))), shape=(n_items, n_entities))
    counts.sum_duplicates()
    df = np.diff(counts.tocsc().indptr)  # items per entity
    counts.data = 1.0 + np.log(counts.data)  # sublinear tf: many paths to one entity count less
    idf = np.log(n_items / np.maximum(df, 1)).astype(np.float32)
    tfidf = sp.csr_matrix(counts.multiply(idf.reshape(1, -1)))
    tfidf.eliminate_zeros()
    norm = np.sqrt(np.asarray(tfidf.multiply(tfidf).sum(axis=1))).ravel()
    return sp.csr_matrix(sp.diags(1.0 / np.where(norm > 0, norm, 1.0)) @ tfidf, dtype=np.float32)


def history_matrix(interactions: InteractionTable, n_users: int, n_items: int) -> sp.csr_matrix:
    """``[n_users, n_items]`` 0/1 matrix of the distinct items each user has."""
    history = sp.csr_matrix((np.ones(len(interactions), np.float32), (interactions.user, interactions.item)),
                            shape=(n_users, n_items))
    history.data[:] = 1.0  # repeated interactions were summed: a user's item counts once
    return history


def user_entity_profiles(history: sp.csr_matrix, item_matrix: sp.csr_matrix) -> sp.csr_matrix:
    """L2-normalised ``[U, n_entities]`` profiles: the sum of the rows of ``item_matrix``
    over each user's history (``history`` is a ``[U, n_items]`` 0/1 matrix). Users
    without history get an empty row."""
    profile = sp.csr_matrix(history @ item_matrix)
    norm = np.sqrt(np.asarray(profile.multiply(profile).sum(axis=1))).ravel()
    return sp.csr_matrix(sp.diags(1.0 / np.where(norm > 0, norm, 1.0)) @ profile, dtype=np.float32)


def user_neighbours(history: sp.csr_matrix, k: int, *, popularity_exponent: float = 0.5,
                    chunk: int = 1024) -> sp.csr_matrix:
    """``[U, U]`` weights of each user's ``k`` most similar other users, rows summing to 1
    (users without history, or without anyone alike, get an empty row).

    Similarity is the cosine of the histories, each item weighted by
    ``1 / popularity ** popularity_exponent``: sharing a niche item says more about two
    users than sharing a blockbuster. Rows are computed ``chunk`` users at a time, so
    memory stays ``O(chunk * U)``.
    """
    n_users = history.shape[0]
    k = min(k, n_users - 1)
    if k <= 0:
        return sp.csr_matrix((n_users, n_users), dtype=np.float32)
    popularity = np.asarray(history.sum(axis=0)).ravel()
    weighted = sp.csr_matrix(history @ sp.diags(1.0 / np.maximum(popularity, 1.0) ** popularity_exponent))
    norm = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1))).ravel()
    unit = sp.csr_matrix(sp.diags(1.0 / np.where(norm > 0, norm, 1.0)) @ weighted, dtype=np.float32)
    unit_t = sp.csc_matrix(unit.T)
    rows, cols, weights = [], [], []
    for start in range(0, n_users, chunk):
        similarity = (unit[start:start + chunk] @ unit_t).toarray()
        block = np.arange(similarity.shape[0])
        similarity[block, start + block] = 0.0  # not one's own neighbour
        top = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        value = np.take_along_axis(similarity, top, axis=1)
        total = value.clip(min=0).sum(axis=1, keepdims=True)
        keep = value > 0
        rows.append(np.broadcast_to(start + block[:, None], top.shape)[keep])
        cols.append(top[keep])
        weights.append((value / np.where(total > 0, total, 1.0))[keep])
    return sp.csr_matrix((np.concatenate(weights).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n_users, n_users))


def ease_inverse(history: sp.csr_matrix, lam: float) -> np.ndarray:
    """EASE's (`Steck, WWW 2019 <https://arxiv.org/abs/1905.03375>`_) inverse Gram matrix
    :math:`P = (X^\\top X + \\lambda I)^{-1}` of a ``[users, items]`` 0/1 history, as
    ``[items, items]`` float32. The item-item weights are :math:`B = I - P\\,\\mathrm{diag}(1/\\mathrm{diag}(P))`
    (so :math:`\\mathrm{diag}(B) = 0`); :func:`ease_scores` applies them without forming B.
    The inverse runs in float64 up to 4,096 items, where float32 would lose digits that
    rankings of close scores notice, and in float32 above (half the memory)."""
    gram = np.asarray((history.T @ history).toarray(), dtype=np.float64 if history.shape[1] <= 4096 else np.float32)
    gram[np.diag_indices_from(gram)] += lam
    return np.linalg.inv(gram).astype(np.float32)


def ease_scores(rows: sp.csr_matrix, inverse: np.ndarray, items: np.ndarray | None = None) -> np.ndarray:
    """EASE scores :math:`x B` of the history rows ``rows [U, n_items]`` for ``items`` (all
    by default), ``[U, len(items)]``, from :func:`ease_inverse`'s ``inverse``.

    :math:`(xB)_j = x_j - (xP)_j / P_{jj}`: an item the row has gets the weights of the
    row's other items, as B's zero diagonal says."""
    columns = inverse if items is None else inverse[:, items]
    diagonal = np.diag(inverse) if items is None else inverse[items, items]
    own = rows.toarray() if items is None else rows[:, items].toarray()
    return own.astype(np.float32) - np.asarray(rows @ columns, dtype=np.float32) / diagonal
