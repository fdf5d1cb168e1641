"""Live updates: new interactions reach the serving index without retraining, by a forward
pass over the k-hop subgraph of what they change instead of the whole graph.

With ``L`` message-passing layers, an edge between ``u`` and ``i`` changes the aggregation
at ``u`` and ``i``; their layer-``l`` vectors change, and so do those of the nodes up to
``L - 1`` hops downstream of them (the model's output averages every layer). Those are the
*affected* nodes. Their outputs depend on the nodes up to ``L`` hops upstream of them, so a
forward pass over the subgraph induced by those nodes gives the affected nodes exactly the
vectors a full re-embedding would.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from kg_recsys.model import LABEL_OF, NODE_TYPES, FittedModel, node_features
from kg_recsys.serving.index import ServingIndex
from kg_recsys.store.base import GraphSnapshot, InteractionTable


class LiveGraph:
    """The graph a serving index was built from, kept in memory to re-embed parts of it.

    Args:
        fitted: the model.
        snapshot: the graph the index was built from (same node order).
        text_vectors: the nodes' text vectors (``None`` without text features).
    """

    def __init__(self, fitted: FittedModel, snapshot: GraphSnapshot, text_vectors: dict[str, np.ndarray] | None):
        from kg_recsys.graph import build_hetero_data

        self.fitted, self.snapshot, self.text_vectors = fitted, snapshot, text_vectors
        self.features = node_features(snapshot, text_vectors, fitted.config.model.use_text)
        data = build_hetero_data(snapshot, fitted.layout)
        self.edges = {et: data[et].edge_index for et in fitted.layout.edge_types}
        self.num_nodes = {t: len(snapshot.nodes(LABEL_OF[t])) for t in NODE_TYPES}
        self.id_index = {}
        for t in NODE_TYPES:
            row = {node_id: r for r, node_id in enumerate(fitted.trained_ids[t].tolist()) if node_id}
            self.id_index[t] = torch.tensor([row.get(n, -1) for n in snapshot.nodes(LABEL_OF[t]).ids.tolist()],
                                            dtype=torch.long)

    def add_interactions(self, user: int, items: np.ndarray, scenario: str, rows: InteractionTable) -> None:
        """Add the edges of ``user``'s new interactions (``rows``: their table rows)."""
        from kg_recsys.graph import interaction_relation

        relation = interaction_relation(scenario)
        for edge_type, src, dst in ((("user", relation, "item"), np.full(len(items), user), items),
                                    (("item", f"rev_{relation}", "user"), items, np.full(len(items), user))):
            old = self.edges[edge_type]
            new = torch.from_numpy(np.stack([src, dst]).astype(np.int64))
            self.edges[edge_type] = torch.unique(torch.cat([old, new], dim=1), dim=1)  # unique pairs, as built
        self.snapshot = self.snapshot.with_interactions(InteractionTable.concat([self.snapshot.interactions, rows]))

    def _hops(self, start: dict[str, np.ndarray], hops: int, downstream: bool) -> dict[str, np.ndarray]:
        """The nodes within ``hops`` of ``start`` along edges (``downstream``) or against them."""
        reached = {t: np.zeros(self.num_nodes[t], bool) for t in NODE_TYPES}
        for t, nodes in start.items():
            reached[t][nodes] = True
        frontier = {t: r.copy() for t, r in reached.items()}
        for _ in range(hops):
            step = {t: np.zeros(self.num_nodes[t], bool) for t in NODE_TYPES}
            for (src_type, _, dst_type), ei in self.edges.items():
                a, b = (src_type, dst_type) if downstream else (dst_type, src_type)
                near, far = (ei[0], ei[1]) if downstream else (ei[1], ei[0])
                hit = frontier[a][near.numpy()]
                step[b][far.numpy()[hit]] = True
            frontier = {t: step[t] & ~reached[t] for t in NODE_TYPES}
            for t in NODE_TYPES:
                reached[t] |= step[t]
        return {t: np.flatnonzero(r) for t, r in reached.items()}

    def embed_affected(self, changed: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, Tensor]]:
        """Vectors of the nodes a change at ``changed`` affects, by a forward pass over their
        k-hop subgraph: per node type, ``(node rows, vectors)``."""
        layers = self.fitted.gnn.num_layers
        affected = self._hops(changed, max(layers - 1, 0), downstream=True)
        needed = self._hops(affected, layers, downstream=False)
        local = {t: np.full(self.num_nodes[t], -1, np.int64) for t in NODE_TYPES}
        for t in NODE_TYPES:
            local[t][needed[t]] = np.arange(len(needed[t]))
        edges = {}
        for (src_type, relation, dst_type), ei in self.edges.items():
            a, b = local[src_type][ei[0].numpy()], local[dst_type][ei[1].numpy()]
            keep = (a >= 0) & (b >= 0)
            edges[(src_type, relation, dst_type)] = torch.from_numpy(np.stack([a[keep], b[keep]]))
        features = {t: self.features[t][torch.from_numpy(needed[t])] for t in NODE_TYPES}
        index = {t: self.id_index[t][torch.from_numpy(needed[t])] for t in NODE_TYPES}
        self.fitted.gnn.eval()
        with torch.no_grad():
            z = self.fitted.gnn(features, index, edges)
        return {t: (affected[t], z[t][torch.from_numpy(local[t][affected[t]])]) for t in ("user", "item")}


def add_to_index(index: ServingIndex, live: LiveGraph, user: int, items: np.ndarray, scenario: str) -> None:
    """Bring ``index`` up to date with ``user``'s new interactions on ``items`` (already in
    ``live``): the affected vectors, and the statistics of that user and those items.

    The nearest-neighbour lists (``user_neighbours``, ``item_neighbours``) are kept as they
    are: they change little with one user's interactions, and a fit or a full re-embedding
    recomputes them."""
    for node_type, (rows, vectors) in live.embed_affected({"user": np.array([user]), "item": items}).items():
        target = index.user_vectors if node_type == "user" else index.item_vectors
        target[torch.from_numpy(rows)] = vectors
    index.seen = index.seen.maximum(sp.csr_matrix((np.ones(len(items), np.float32), (np.full(len(items), user), items)),
                                                  shape=index.seen.shape))
    index.item_count[items] += 1
    index.item_popularity[items] = np.log1p(index.item_count[items]).astype(np.float32) / 5.0
    index.popularity_changed()
    history = index.seen[user]
    inter = live.snapshot.interactions
    mine = inter.user == user
    index.user_activity[user] = np.log1p(mine.sum()) / 5.0
    per_scenario = np.bincount(index.item_scenario[inter.item[mine]], minlength=index.user_scenario_activity.shape[1])
    index.user_scenario_activity[user] = np.log1p(per_scenario) / 5.0
    if index.user_history is not None:
        index.user_history = _with_row(index.user_history, user, history / max(history.nnz, 1))
    if index.user_entities is not None:
        profile = sp.csr_matrix(history @ index.item_entities)
        norm = float(np.sqrt(profile.multiply(profile).sum()))
        index.user_entities = _with_row(index.user_entities, user, profile / (norm if norm > 0 else 1.0))
    if index.user_text_vectors is not None and live.text_vectors is not None:
        from kg_recsys.schema import USER

        mine_items = inter.item[mine]
        profile = live.text_vectors[USER][user].astype(np.float32) + \
            index.item_text_vectors[mine_items].sum(axis=0) / max(len(mine_items), 1)
        index.user_text_vectors[user] = profile / max(float(np.linalg.norm(profile)), 1e-9)


def _with_row(matrix: sp.csr_matrix, row: int, values: sp.csr_matrix) -> sp.csr_matrix:
    """``matrix`` with row ``row`` replaced by the ``[1, N]`` row ``values`` (one sparse sum,
    no format conversion of the whole matrix)."""
    change = sp.csr_matrix(values, dtype=matrix.dtype) - matrix[row]
    change = change.tocoo()
    result = matrix + sp.csr_matrix((change.data, (np.full(change.nnz, row), change.col)), shape=matrix.shape)
    result.eliminate_zeros()
    return sp.csr_matrix(result, dtype=matrix.dtype)

