"""A small synthetic graph with clear structure, built in code (no data files).

Users and items belong to one of ``N_CLUSTERS`` tastes. Each user mostly interacts with
items of their own cluster, plus a popular item or two; every item links to a genre
entity of its cluster (and the genre entity sits in a tiny KG), and has text naming its
cluster. Items and interactions are split across two scenarios, ``books`` and ``music``,
and most users are active in both.
"""
from __future__ import annotations

import numpy as np

from kg_recsys.schema import ENTITY, ITEM, SAME_AS, USER
from kg_recsys.store.base import GraphSnapshot, InteractionTable, NodeTable

N_USERS, N_ITEMS, N_CLUSTERS = 240, 160, 4
WORDS = ("space rockets astronaut", "cooking recipes kitchen", "football league goals", "piano sonata orchestra")


def build_snapshot(seed: int = 0, n_users: int = N_USERS, n_items: int = N_ITEMS) -> GraphSnapshot:
    rng = np.random.default_rng(seed)
    user_cluster = np.arange(n_users) % N_CLUSTERS
    item_cluster = np.arange(n_items) % N_CLUSTERS
    item_scenario = np.where((np.arange(n_items) // N_CLUSTERS) % 2 == 0, "books", "music")
    popular = np.arange(4)  # items 0..3: liked by many users of any cluster
    rows_user, rows_item, rows_time = [], [], []
    for u in range(n_users):
        own = np.flatnonzero(item_cluster == user_cluster[u])
        liked = rng.choice(own, size=rng.integers(10, 18), replace=False)
        extra = rng.choice(popular, size=2, replace=False)
        items = np.unique(np.r_[liked, extra])
        rows_user.extend([u] * len(items))
        rows_item.extend(items.tolist())
        rows_time.extend(rng.uniform(0, 1000, size=len(items)).tolist())
    # One repeated interaction (same pair, another event) to check pair-level splitting.
    rows_user.append(rows_user[0]); rows_item.append(rows_item[0]); rows_time.append(5000.0)
    user = np.asarray(rows_user, np.int64)
    item = np.asarray(rows_item, np.int64)
    interactions = InteractionTable(
        user=user, item=item, scenario=item_scenario[item].astype(str), kind=np.full(len(user), "rating"),
        weight=np.ones(len(user), np.float32), timestamp=np.asarray(rows_time, np.float64))
    users = NodeTable.build([f"u{u}" for u in range(n_users)],
                            [f"a reader who likes {WORDS[c]}" for c in user_cluster], [None] * n_users)
    items = NodeTable.build([f"i{i}" for i in range(n_items)],
                            [f"a title about {WORDS[c]} number {i}" for i, c in enumerate(item_cluster)],
                            item_scenario.tolist())
    # Entities: one genre per cluster, one SAME_AS entity per item, one "topic" per cluster
    # reached from an item's SAME_AS entity through a KG triple.
    genre = [f"genre=c{c}" for c in range(N_CLUSTERS)]
    topic = [f"topic{c}" for c in range(N_CLUSTERS)]
    same = [f"m.{i}" for i in range(n_items)]
    entity_ids = genre + topic + same
    entities = NodeTable.build(entity_ids, [f"cluster {c}" for c in range(N_CLUSTERS)] * 2 + [""] * n_items,
                               [None] * len(entity_ids))
    relations = {
        (ITEM, "genre", ENTITY): (np.arange(n_items, dtype=np.int64), item_cluster.astype(np.int64)),
        (ITEM, SAME_AS, ENTITY): (np.arange(n_items, dtype=np.int64), 2 * N_CLUSTERS + np.arange(n_items)),
        (ENTITY, "film.topic", ENTITY): (N_CLUSTERS + item_cluster.astype(np.int64),
                                         2 * N_CLUSTERS + np.arange(n_items)),
        (USER, "gender", ENTITY): (np.arange(n_users, dtype=np.int64), np.zeros(n_users, np.int64)),
    }
    return GraphSnapshot(users, items, entities, interactions, relations)


def fake_text_vectors(snapshot: GraphSnapshot) -> dict[str, np.ndarray]:
    """Stand-in for the language model: a bag of the words in each text, L2-normalised."""
    vocabulary = sorted({w for label in (USER, ITEM, ENTITY) for t in snapshot.nodes(label).text for w in t.split()})
    column = {w: i for i, w in enumerate(vocabulary)}
    out = {}
    for label in (USER, ITEM, ENTITY):
        texts = snapshot.nodes(label).text
        matrix = np.zeros((len(texts), len(vocabulary)), np.float32)
        for row, text in enumerate(texts):
            for word in text.split():
                if word in WORDS[0].split() + WORDS[1].split() + WORDS[2].split() + WORDS[3].split():
                    matrix[row, column[word]] = 1.0
        norm = np.linalg.norm(matrix, axis=1, keepdims=True)
        out[label] = matrix / np.where(norm > 0, norm, 1)
    return out
