"""Live updates: new interactions reach the serving index without retraining, by
recomputing each layer's vectors at the few nodes an edge changes, from the vectors of
the last full pass, instead of a forward pass over the graph.

With ``L`` message-passing layers, an edge between ``u`` and ``i`` changes the aggregation
at ``u`` and ``i``, so their layer-1 vectors change; a node's layer-``l + 1`` vector changes
where its own layer-``l`` vector or one of its sources' changed. The model's output averages
every layer, so the nodes changed at any layer get new outputs, equal to a full
re-embedding's (the same arithmetic on the same inputs), and the others keep theirs.
On ml-100k-kg one new edge reaches most of the graph within two hops, but only the
last layer, and only at the endpoints' neighbours, needs recomputing.

Each layer's sum over every node's sources (per edge type) is kept too, and moved by the
changed sources' differences and the new edges: recomputing a node then costs its changed
sources, not all of them (on ml-1m, a popular item's thousands of users, each with a
hundred and more items, took 150 ms an update to average again). The sums are float64,
so the vectors stay within float32 rounding of a full pass's.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from kg_recsys.model import LABEL_OF, NODE_TYPES, FittedModel, node_features
from kg_recsys.serving.index import ServingIndex
from kg_recsys.store.base import GraphSnapshot, InteractionTable


class _Neighbours:
    """One edge type's edges both ways, as one array per node: the sources of each target
    and the targets of each source. Adding an edge, or reading a few nodes' neighbours,
    then costs their degrees, not the graph's size."""

    def __init__(self, edge_index: Tensor, num_src: int, num_dst: int) -> None:
        src, dst = edge_index.numpy()
        self.sources, self.targets = _split(src, dst, num_dst), _split(dst, src, num_src)
        #: The number of sources of each target.
        self.counts = np.bincount(dst, minlength=num_dst).astype(np.int64)

    def add(self, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add the edges ``src -> dst`` not there yet; returns those added."""
        added = []
        for a, b in zip(src.tolist(), dst.tolist()):
            if not (self.targets[a] == b).any():  # unique pairs, as the graph is built
                self.targets[a] = np.append(self.targets[a], b)
                self.sources[b] = np.append(self.sources[b], a)
                self.counts[b] += 1
                added.append((a, b))
        pairs = np.array(added, np.int64).reshape(-1, 2)
        return pairs[:, 0], pairs[:, 1]

    def targets_by_source(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The targets of ``rows``, concatenated, and the position in ``rows`` of each."""
        lists = [self.targets[r] for r in rows.tolist()]
        segment = np.repeat(np.arange(len(rows)), [len(x) for x in lists])
        return (np.concatenate(lists).astype(np.int64) if lists else np.zeros(0, np.int64)), segment

    def sources_of(self, rows: np.ndarray) -> tuple[Tensor, Tensor]:
        """The sources of ``rows``, concatenated, and the position in ``rows`` of each."""
        lists = [self.sources[r] for r in rows.tolist()]
        segment = np.repeat(np.arange(len(rows)), [len(x) for x in lists])
        src = np.concatenate(lists) if lists else np.zeros(0, np.int64)
        return torch.from_numpy(src.astype(np.int64)), torch.from_numpy(segment)

    def targets_of(self, rows: np.ndarray) -> np.ndarray:
        lists = [self.targets[r] for r in rows.tolist()]
        return np.unique(np.concatenate(lists)) if lists else np.zeros(0, np.int64)


def _split(values: np.ndarray, keys: np.ndarray, num_keys: int) -> list[np.ndarray]:
    order = np.argsort(keys, kind="stable")
    return np.split(values[order].astype(np.int64), np.cumsum(np.bincount(keys, minlength=num_keys))[:-1])


class LiveGraph:
    """The graph a serving index was built from, kept in memory with every layer's vectors,
    to recompute them where new edges change them.

    Args:
        fitted: the model.
        snapshot: the graph the index was built from (same node order).
        text_vectors: the nodes' text vectors (``None`` without text features).
    """

    def __init__(self, fitted: FittedModel, snapshot: GraphSnapshot, text_vectors: dict[str, np.ndarray] | None):
        from kg_recsys.graph import build_hetero_data

        self.fitted, self._snapshot, self.text_vectors = fitted, snapshot, text_vectors
        #: Interactions added since the snapshot, joined to it when it is next read (joining a
        #: million rows at every update cost 64 ms of it on ml-1m).
        self._pending: list[InteractionTable] = []
        inter = snapshot.interactions
        #: Each user's interacted items (repeats kept), for the user statistics of an update.
        self.user_items = _split(inter.item, inter.user, len(snapshot.users))
        features = node_features(snapshot, text_vectors, fitted.config.model.use_text)
        data = build_hetero_data(snapshot, fitted.layout)
        num_nodes = {t: len(snapshot.nodes(LABEL_OF[t])) for t in NODE_TYPES}
        edges = {et: data[et].edge_index for et in fitted.layout.edge_types}
        self.neighbours = {et: _Neighbours(ei, num_nodes[et[0]], num_nodes[et[2]]) for et, ei in edges.items()}
        id_index = {}
        for t in NODE_TYPES:
            row = {node_id: r for r, node_id in enumerate(fitted.trained_ids[t].tolist()) if node_id}
            id_index[t] = torch.tensor([row.get(n, -1) for n in snapshot.nodes(LABEL_OF[t]).ids.tolist()],
                                       dtype=torch.long)
        gnn = fitted.gnn.eval()
        with torch.no_grad():
            initial = gnn.initial(features, id_index)
            # Without message passing the output is a map of each node's own inputs: no edge moves it.
            self.layers = gnn.layer_states(initial, edges) if gnn.mlp is None else None
        #: ``sums[depth][edge_type]``: per target node, the sum of its sources' layer-``depth``
        #: vectors (float64), for the edge types that layer passes messages along.
        self.sums: list[dict] = []
        if self.layers is not None:
            for depth in range(gnn.num_layers):
                self.sums.append({et: _source_sums(self.layers[depth][et[0]], ei, num_nodes[et[2]])
                                  for et, ei in edges.items() if gnn.updates(depth, et)})
        #: Edges added since the last :meth:`embed_affected`, per edge type: ``(src, dst)``.
        self._new_edges: dict = {}

    @property
    def snapshot(self) -> GraphSnapshot:
        """The graph with every interaction added so far."""
        if self._pending:
            self._snapshot = self._snapshot.with_interactions(
                InteractionTable.concat([self._snapshot.interactions, *self._pending]))
            self._pending = []
        return self._snapshot

    def add_interactions(self, user: int, items: np.ndarray, scenario: str, rows: InteractionTable) -> None:
        """Add the edges of ``user``'s new interactions (``rows``: their table rows)."""
        from kg_recsys.graph import interaction_relation

        relation = interaction_relation(scenario)
        users = np.full(len(items), user)
        for edge_type, src, dst in ((("user", relation, "item"), users, items),
                                    (("item", f"rev_{relation}", "user"), items, users)):
            if edge_type in self.neighbours:
                added = self.neighbours[edge_type].add(src, dst)
                known = self._new_edges.get(edge_type, (np.zeros(0, np.int64), np.zeros(0, np.int64)))
                self._new_edges[edge_type] = tuple(np.concatenate([k, a]) for k, a in zip(known, added))
        self._pending.append(rows)
        self.user_items[user] = np.concatenate([self.user_items[user], np.asarray(rows.item, np.int64)])

    def embed_affected(self, changed: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, Tensor]]:
        """New output vectors of the nodes whose neighbours changed at ``changed`` (per node
        type, rows whose edges were added) and of every node that change reaches: per node
        type among users and items, ``(node rows, vectors)``. Each layer's kept vectors and
        source sums are brought up to date."""
        new_edges, self._new_edges = self._new_edges, {}
        if self.layers is None:
            return {t: (np.zeros(0, np.int64), torch.zeros(0, self.fitted.gnn.hidden_dim)) for t in ("user", "item")}
        gnn = self.fitted.gnn
        ever = {t: np.unique(np.asarray(changed.get(t, []), np.int64)) for t in NODE_TYPES}
        # Layer-0 vectors never change: the new edges add their sources' vectors to the sums.
        self._add_edges(0, new_edges)
        delta: dict[str, tuple[np.ndarray, Tensor]] = {}  # the nodes whose input vectors changed
        with torch.no_grad():
            for depth in range(gnn.num_layers):
                below, above, sums = self.layers[depth], self.layers[depth + 1], self.sums[depth]
                # Recompute the nodes whose input changed, their targets and the new edges' ends.
                reach = {t: [np.asarray(changed.get(t, []), np.int64)] for t in NODE_TYPES}
                for t, (rows, diff) in delta.items():
                    reach[t].append(rows)
                    for et, n in self.neighbours.items():
                        if et[0] != t:
                            continue
                        targets, segment = n.targets_by_source(rows)
                        reach[et[2]].append(targets)
                        if et in sums and len(targets):
                            sums[et].index_add_(0, torch.from_numpy(targets), diff[torch.from_numpy(segment)])
                dirty = {t: np.unique(np.concatenate(parts)) for t, parts in reach.items()}
                fresh = {}
                for t in NODE_TYPES:
                    rows = dirty[t]
                    if not len(rows):
                        continue
                    index = torch.from_numpy(rows)
                    means = {}
                    for et, n in self.neighbours.items():  # the order propagate_rows sums them in
                        if et[2] == t and et in sums and n.counts[rows].any():  # no sources: adds 0
                            count = torch.from_numpy(np.maximum(n.counts[rows], 1)).unsqueeze(-1)
                            means[et] = (sums[et][index] / count).to(below[t].dtype)
                    fresh[t] = gnn.rows_from_means(depth, below[t][index], means)
                if depth + 1 < gnn.num_layers:
                    self._add_edges(depth + 1, new_edges)  # from the next layer's vectors before they change
                delta = {}
                for t, vectors in fresh.items():
                    index = torch.from_numpy(dirty[t])
                    delta[t] = (dirty[t], vectors.double() - above[t][index].double())
                    above[t][index] = vectors
                    ever[t] = np.union1d(ever[t], dirty[t])
        out = {}
        for t in ("user", "item"):
            rows = torch.from_numpy(ever[t])
            out[t] = (ever[t], torch.stack([layer[t][rows] for layer in self.layers]).mean(0))
        return out

    def _add_edges(self, depth: int, edges: dict) -> None:
        """Add the sources' layer-``depth`` vectors of ``edges`` to that layer's sums."""
        for et, (src, dst) in edges.items():
            if et in self.sums[depth] and len(src):
                self.sums[depth][et].index_add_(0, torch.from_numpy(dst), self.layers[depth][et[0]][src].double())


def _source_sums(h: Tensor, edge_index: Tensor, num_dst: int) -> Tensor:
    """``[num_dst, d]`` float64: per target, the sum of its sources' rows of ``h``, by one
    sparse product (gathering a row per edge took 11 s on ml-1m)."""
    src, dst = edge_index.numpy()
    adjacency = sp.csr_matrix((np.ones(len(src)), (dst, src)), shape=(num_dst, h.size(0)))
    return torch.from_numpy(np.asarray(adjacency @ h.numpy().astype(np.float64)))


def add_to_index(index: ServingIndex, live: LiveGraph, user: int, items: np.ndarray, scenario: str) -> None:
    """Bring ``index`` up to date with ``user``'s new interactions on ``items`` (already in
    ``live``): the affected vectors, and the statistics of that user and those items.

    The nearest-neighbour lists (``user_neighbours``, ``item_neighbours``) are kept as they
    are: they change little with one user's interactions, and a fit or a full re-embedding
    recomputes them."""
    for node_type, (rows, vectors) in live.embed_affected({"user": np.array([user]), "item": items}).items():
        target = index.user_vectors if node_type == "user" else index.item_vectors
        target[torch.from_numpy(rows)] = vectors
    row = index.seen[user]
    have = np.union1d(row.indices, items)
    index.seen = _with_row(index.seen, user, sp.csr_matrix((np.ones(len(have), index.seen.dtype),
                                                            (np.zeros(len(have), np.int64), have)),
                                                           shape=(1, index.seen.shape[1])))
    index.item_count[items] += 1
    index.item_popularity[items] = np.log1p(index.item_count[items]).astype(np.float32) / 5.0
    index.popularity_changed()
    history = index.seen[user]
    mine_items = live.user_items[user]
    index.user_activity[user] = np.log1p(len(mine_items)) / 5.0
    per_scenario = np.bincount(index.item_scenario[mine_items], minlength=index.user_scenario_activity.shape[1])
    index.user_scenario_activity[user] = np.log1p(per_scenario) / 5.0
    if index.user_history is not None:
        index.user_history = _with_row(index.user_history, user, history / max(history.nnz, 1))
    if index.user_entities is not None:
        profile = sp.csr_matrix(history @ index.item_entities)
        norm = float(np.sqrt(profile.multiply(profile).sum()))
        index.user_entities = _with_row(index.user_entities, user, profile / (norm if norm > 0 else 1.0))
    if index.user_text_vectors is not None and live.text_vectors is not None:
        from kg_recsys.schema import USER

        profile = live.text_vectors[USER][user].astype(np.float32) + \
            index.item_text_vectors[mine_items].sum(axis=0) / max(len(mine_items), 1)
        index.user_text_vectors[user] = profile / max(float(np.linalg.norm(profile)), 1e-9)


def _with_row(matrix: sp.csr_matrix, row: int, values: sp.csr_matrix) -> sp.csr_matrix:
    """``matrix`` with row ``row`` replaced by the ``[1, N]`` row ``values``, by splicing the
    CSR arrays (copies, no arithmetic: a sparse sum of the whole matrix cost 14 ms a row on
    ml-100k-kg)."""
    values = sp.csr_matrix(values, dtype=matrix.dtype)
    values.eliminate_zeros()
    begin, end = matrix.indptr[row], matrix.indptr[row + 1]
    indptr = matrix.indptr.copy()
    indptr[row + 1:] += values.nnz - (end - begin)
    return sp.csr_matrix((np.concatenate([matrix.data[:begin], values.data, matrix.data[end:]]),
                          np.concatenate([matrix.indices[:begin], values.indices, matrix.indices[end:]]),
                          indptr), shape=matrix.shape)
