"""Heterogeneous neighbour sampling for mini-batch GNN training, in plain torch.

PyG's ``NeighborSampler`` (behind ``NeighborLoader`` and ``LinkNeighborLoader``) needs
``pyg-lib`` or ``torch-sparse`` and raises ``ImportError`` without them; PyG 2.8.1 has no
pure-torch fallback. Neither installs here from PyPI for torch 2.15: pyg-lib has no PyPI
wheel, and torch-sparse 0.6.18 (2023) is a source package that compiles C++ against torch.
This sampler does what ``NeighborSampler`` does for a heterogeneous graph with the default
settings (directed, without replacement, seeds of several node types at once) on the
adjacency matrices the trainer already holds, so it adds no copy of the graph.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

EdgeType = tuple[str, str, str]


@dataclass
class Subgraph:
    """A sampled neighbourhood.

    ``nodes[type]``: the global ids of the subgraph's nodes, the unique seeds first (in
    ascending order), then each hop's new nodes. ``edges[edge_type]``: ``[2, E]`` unique
    (source, target) pairs in subgraph ids. ``seed_index[type]``: for each seed given to
    :meth:`NeighbourSampler.sample`, its row in ``nodes[type]`` (the seeds' shape).
    ``edge_ids[edge_type]``: each edge's position in that edge type's sources (``col`` of its
    adjacency), in the order of ``edges``.
    """

    nodes: dict[str, Tensor]
    edges: dict[EdgeType, Tensor]
    seed_index: dict[str, Tensor]
    edge_ids: dict[EdgeType, Tensor] = field(default_factory=dict)


def sample_offsets(degree: Tensor, fanout: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Which edges of each node to keep: all of them where ``degree <= fanout`` (or
    ``fanout < 0``), else ``fanout`` distinct ones drawn uniformly.

    The draw is Floyd's algorithm, one vectorised round per pick: ``fanout`` rounds over
    the nodes, instead of a random key per edge of every high-degree node (a popular item
    has thousands). Returns ``(node, offset)``: positions in ``degree`` and the chosen
    edges' offsets within each node's edges.
    """
    take_all = degree <= fanout if fanout >= 0 else torch.ones_like(degree, dtype=torch.bool)
    nodes = take_all.nonzero(as_tuple=True)[0]
    counts = degree[nodes]
    node_all = torch.repeat_interleave(nodes, counts)
    offset_all = torch.arange(int(counts.sum())) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    big = (~take_all).nonzero(as_tuple=True)[0]
    if not big.numel():
        return node_all, offset_all
    d = degree[big]
    chosen = torch.empty(big.numel(), fanout, dtype=torch.long)
    for pick in range(fanout):
        # Floyd: a uniform offset in [0, top]; if taken, top itself (never taken yet, as
        # every earlier pick is below it). The result is a uniform fanout-subset.
        top = d - fanout + pick
        draw = (torch.rand(big.numel(), dtype=torch.float64, generator=generator) * (top + 1)).long().minimum(top)
        if pick:
            draw = torch.where((chosen[:, :pick] == draw.unsqueeze(1)).any(1), top, draw)
        chosen[:, pick] = draw
    return torch.cat([node_all, big.repeat_interleave(fanout)]), torch.cat([offset_all, chosen.reshape(-1)])


class NeighbourSampler:
    """``len(fanout)``-hop neighbourhoods of seed nodes: at hop ``h`` every node first
    reached at hop ``h - 1`` (the seeds at hop 1) keeps up to ``fanout[h - 1]`` of its
    incoming edges of each edge type, and their sources join the subgraph.

    An ``L``-layer model run on the subgraph then sees, at every node within ``L - 1`` hops
    of a seed, the sampled incoming edges, so with all neighbours kept its output at the
    seeds is the full graph's (nodes at hop ``L`` only feed their layer-0 vectors).

    Args:
        adjacency: per edge type, the ``[N_dst, N_src]`` sparse CSR matrix of its edges
            (:func:`kg_recsys.nn.gnn.to_adjacency`): each target's sources in a row; or that
            matrix's ``(crow_indices, col_indices)``, which is PyG's CSC ``(colptr, row)``.
        num_nodes: nodes per type.
        fanout: edges kept per node, edge type and hop (hop 1 first); ``-1`` keeps all.
    """

    def __init__(self, adjacency: dict[EdgeType, Tensor | tuple[Tensor, Tensor]], num_nodes: dict[str, int],
                 fanout: tuple[int, ...]) -> None:
        self.rows = {et: a if isinstance(a, tuple) else (a.crow_indices(), a.col_indices())
                     for et, a in adjacency.items()}
        self.fanout = tuple(fanout)
        # Global -> subgraph id, -1 outside it, reset after each sample; and a mark per node
        # for de-duplicating ids (torch.unique sorts: half of a sampled step on ml-1m).
        self._local = {t: torch.full((n,), -1, dtype=torch.long) for t, n in num_nodes.items()}
        self._mark = {t: torch.zeros(n, dtype=torch.bool) for t, n in num_nodes.items()}

    def _unique(self, node_type: str, ids: Tensor) -> Tensor:
        """The distinct ``ids``, ascending."""
        mark = self._mark[node_type]
        mark[ids] = True
        unique = mark.nonzero(as_tuple=True)[0]
        mark[unique] = False
        return unique

    def sample(self, seeds: dict[str, Tensor], generator: torch.Generator) -> Subgraph:
        nodes = {t: [torch.zeros(0, dtype=torch.long)] for t in self._local}
        seed_index, frontier = {}, {}
        for node_type, ids in seeds.items():
            unique = self._unique(node_type, ids)
            nodes[node_type], frontier[node_type] = [unique], unique
            self._local[node_type][unique] = torch.arange(unique.numel())
            seed_index[node_type] = self._local[node_type][ids]
        count = {t: ids[0].numel() for t, ids in nodes.items()}
        found: dict[EdgeType, list[tuple[Tensor, Tensor]]] = {}
        for fanout in self.fanout:
            reached: dict[str, list[Tensor]] = {}
            for edge_type, (crow, col) in self.rows.items():
                targets = frontier.get(edge_type[2])
                if targets is None or not targets.numel():
                    continue
                which, offset = sample_offsets(crow[targets + 1] - crow[targets], fanout, generator)
                if not which.numel():
                    continue
                position = crow[targets[which]] + offset
                sources = col[position]
                found.setdefault(edge_type, []).append((sources, self._local[edge_type[2]][targets[which]], position))
                reached.setdefault(edge_type[0], []).append(sources)
            frontier = {}
            for node_type, parts in reached.items():
                candidates = torch.cat(parts)
                local = self._local[node_type]
                new = self._unique(node_type, candidates[local[candidates] < 0])
                local[new] = torch.arange(count[node_type], count[node_type] + new.numel())
                count[node_type] += new.numel()
                nodes[node_type].append(new)
                frontier[node_type] = new
        edges, edge_ids = {}, {}
        for edge_type, parts in found.items():
            sources = self._local[edge_type[0]][torch.cat([p[0] for p in parts])]
            edges[edge_type] = torch.stack([sources, torch.cat([p[1] for p in parts])])
            edge_ids[edge_type] = torch.cat([p[2] for p in parts])
        nodes = {t: torch.cat(parts) for t, parts in nodes.items()}
        for node_type, ids in nodes.items():
            self._local[node_type][ids] = -1
        return Subgraph(nodes, edges, seed_index, edge_ids)
