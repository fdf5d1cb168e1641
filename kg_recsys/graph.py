"""From a :class:`~kg_recsys.store.base.GraphSnapshot` to PyG's ``HeteroData``.

Node types are ``user``, ``item`` and ``entity``. Edge types: one per interaction scenario
(``user -interacted_<scenario>-> item`` and its reverse), and one per KG / attribute / user
relation into users and items (``entity -genre-> item``), so the GNN can weigh each
relation on its own. Messages into entities use one merged ``links_to`` type per source.

Items linked to a KG entity (``SAME_AS``) also get that entity's KG triples directly
(``item -film.film.actor-> entity``), as KGCN does: one hop from item to its KG facts
instead of two, which matters with a shallow GNN.

The set of edge types is fixed at training time by a :class:`GraphLayout`; graphs built
later (with new nodes or new edges) reuse it, so the trained per-relation weights apply.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from kg_recsys.schema import ENTITY, ITEM, SAME_AS, USER
from kg_recsys.store.base import GraphSnapshot, GraphTopology

if TYPE_CHECKING:
    from torch_geometric.data import HeteroData

NODE_TYPE = {USER: "user", ITEM: "item", ENTITY: "entity"}
EdgeKey = tuple[str, str, str]


def _safe(name: str) -> str:
    # PyG keys modules by edge type; ModuleDict keys may not contain dots.
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def interaction_relation(scenario: str) -> str:
    return f"interacted_{_safe(scenario)}"


@dataclass(frozen=True)
class GraphLayout:
    """The edge types a model was trained with, in a fixed order, and which rare relations
    were merged into one ``other`` type per (source, target) node type pair."""

    edge_types: tuple[EdgeKey, ...]
    scenarios: tuple[str, ...]
    merged: tuple[tuple[EdgeKey, EdgeKey], ...] = ()

    def to_dict(self) -> dict:
        return {"edge_types": [list(t) for t in self.edge_types], "scenarios": list(self.scenarios),
                "merged": [[list(a), list(b)] for a, b in self.merged]}

    @staticmethod
    def from_dict(values: dict) -> "GraphLayout":
        return GraphLayout(tuple(tuple(t) for t in values["edge_types"]), tuple(values["scenarios"]),
                           tuple((tuple(a), tuple(b)) for a, b in values.get("merged", [])))


def _topology(graph: GraphSnapshot | GraphTopology) -> GraphTopology:
    return graph.topology() if isinstance(graph, GraphSnapshot) else graph


def _edges(graph: GraphSnapshot | GraphTopology, *, use_kg: bool) -> dict[EdgeKey, tuple[np.ndarray, np.ndarray]]:
    """Every edge of the graph as (src, rel, dst) -> index arrays, reverses included."""
    snapshot = _topology(graph)
    edges: dict[EdgeKey, list[tuple[np.ndarray, np.ndarray]]] = {}

    def add(key: EdgeKey, src: np.ndarray, dst: np.ndarray, symmetric: bool = False) -> None:
        s, r, d = key
        if symmetric:
            edges.setdefault(key, []).extend([(src, dst), (dst, src)])
        elif d == "entity" and s != "entity":
            # Messages into entities are merged over relations (one ``links_to`` type per
            # source type): entities are many, and their vectors only matter as messages
            # back to items and users, which keep one weight per relation.
            edges.setdefault((d, r, s), []).append((dst, src))
            edges.setdefault((s, "links_to", d), []).append((src, dst))
        else:
            edges.setdefault(key, []).append((src, dst))
            edges.setdefault((d, f"rev_{r}", s), []).append((dst, src))

    users, items, scenarios = snapshot.interactions
    for scenario in np.unique(scenarios):
        mask = scenarios == scenario
        add(("user", interaction_relation(str(scenario)), "item"), users[mask], items[mask])

    same_as = snapshot.relations.get((ITEM, SAME_AS, ENTITY))
    if same_as is not None:
        order = np.argsort(same_as[1], kind="stable")
        linked_entities, linked_items = same_as[1][order], same_as[0][order]
    for (src_label, relation, dst_label), (src, dst) in sorted(snapshot.relations.items()):
        is_kg = src_label != USER or dst_label != USER
        if is_kg and not use_kg:
            continue
        kg_triple = src_label == ENTITY and dst_label == ENTITY
        if not (kg_triple and same_as is not None):
            # KG triples reach the GNN through the items they describe (below): a raw
            # entity-entity copy would add many edge types for little signal.
            add((NODE_TYPE[src_label], _safe(relation), NODE_TYPE[dst_label]), src, dst,
                symmetric=src_label == dst_label == USER)
        if kg_triple and same_as is not None:
            # Project KG triples onto the items that *are* their head or tail entities.
            for entity_side, other, name in ((src, dst, _safe(relation)), (dst, src, f"inv_{_safe(relation)}")):
                lo = np.searchsorted(linked_entities, entity_side, side="left")
                hi = np.searchsorted(linked_entities, entity_side, side="right")
                counts = hi - lo
                if counts.sum() == 0:
                    continue
                triple_index = np.repeat(np.arange(len(entity_side)), counts)
                starts = np.repeat(lo, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
                add(("item", f"kg_{name}", "entity"), linked_items[starts], other[triple_index])
    return {key: (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
            for key, parts in edges.items()}


def make_layout(snapshot: GraphSnapshot | GraphTopology, *, use_kg: bool = True,
                min_relation_edges: int = 1000) -> GraphLayout:
    """Fix the edge types for training. Relations with fewer than ``min_relation_edges``
    edges are merged into one ``other`` type per node type pair: too rare to learn a
    weight of their own, and each type costs a full aggregation over its target nodes
    (Last.fm's KG has 60 relations, most with a few hundred edges)."""
    counts = {key: len(src) for key, (src, _) in _edges(snapshot, use_kg=use_kg).items()}
    merged = tuple((key, (key[0], "other", key[2])) for key, n in sorted(counts.items())
                   if n < min_relation_edges and not key[1].startswith(("interacted_", "rev_interacted_")))
    renamed = dict(merged)
    edge_types = sorted({renamed.get(key, key) for key in counts})
    return GraphLayout(tuple(edge_types), tuple(snapshot.scenarios()), merged)


def layout_edges(graph: GraphSnapshot | GraphTopology, layout: GraphLayout) -> dict[EdgeKey, np.ndarray]:
    """The edges of every edge type of ``layout``, as :func:`build_hetero_data` puts them
    into ``HeteroData`` (and :class:`~kg_recsys.store.pyg_remote.StoreGraphStore` into PyG's
    ``GraphStore``): each ``[2, E]`` int64, unique (source, target) pairs in ascending order,
    empty where the graph has none. Edge types outside the layout are left out: the model
    has no weights for them.

    Args:
        graph: a snapshot, or a store's :class:`~kg_recsys.store.base.GraphTopology`.
        layout: the edge types.

    Returns:
        ``{edge_type: edge_index}`` for every edge type of ``layout``, in its order.

    Shapes:
        edge_index: ``[2, E]``, rows of the source and target node types.
    """
    renamed = dict(layout.merged)
    grouped: dict[EdgeKey, list[tuple[np.ndarray, np.ndarray]]] = {}
    for key, pair in _edges(graph, use_kg=True).items():
        grouped.setdefault(renamed.get(key, key), []).append(pair)
    found = {}
    for key in layout.edge_types:
        parts = grouped.get(key, [])
        src = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
        dst = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
        pairs = np.stack([src, dst]).astype(np.int64)
        found[key] = np.unique(pairs, axis=1) if len(src) else np.zeros((2, 0), np.int64)
    return found


def build_hetero_data(snapshot: GraphSnapshot | GraphTopology, layout: GraphLayout,
                      text_vectors: dict[str, np.ndarray] | None = None) -> "HeteroData":
    """``HeteroData`` with ``x`` (text vectors, or zeros) per node type and an
    ``edge_index`` for every edge type of ``layout`` (:func:`layout_edges`)."""
    from torch_geometric.data import HeteroData  # here: serving reads GraphLayout without PyG

    topology = _topology(snapshot)
    data = HeteroData()
    for label, node_type in NODE_TYPE.items():
        data[node_type].num_nodes = topology.num_nodes(label)
        if text_vectors is not None:
            data[node_type].x = torch.from_numpy(np.ascontiguousarray(text_vectors[label], dtype=np.float32))
    for key, pairs in layout_edges(topology, layout).items():
        data[key].edge_index = torch.from_numpy(pairs)
    return data
