"""PyG's ``NeighborSampler`` with the draw done by :class:`~kg_recsys.training.sampling.NeighbourSampler`,
so PyG's ``NeighborLoader`` and ``LinkNeighborLoader`` run without ``pyg-lib`` or
``torch-sparse`` (neither installs here, see :mod:`kg_recsys.training.sampling`), over an
in-memory ``HeteroData`` or a remote ``(feature_store, graph_store)`` pair alike
(:mod:`kg_recsys.store.pyg_remote`).

PyG builds the CSC of every edge type (from ``HeteroData``, or ``graph_store.csc()``);
:class:`TorchNeighborSampler` puts each target's sources in ascending order and keeps the
edge types in sorted order, so the draw depends on the graph only, not on how its edges were
stored: with one seed, both inputs yield the same subgraphs.
"""
from __future__ import annotations

import warnings

import torch
from torch import Tensor
from torch_geometric.sampler import HeteroSamplerOutput, NeighborSampler
from torch_geometric.sampler.base import DataType, SubgraphType
from torch_geometric.utils import index_sort

from kg_recsys.training.sampling import NeighbourSampler


class TorchNeighborSampler(NeighborSampler):
    """``torch_geometric.sampler.NeighborSampler`` for heterogeneous graphs, sampling in plain
    torch: directed, without replacement, the same fan-out for every edge type.

    Args:
        data: a ``HeteroData``, or a ``(FeatureStore, GraphStore)`` pair.
        num_neighbors: edges kept per node, edge type and hop (hop 1 first); ``-1`` keeps all.
        seed: the seed of the sampler's own generator. (default: ``0``)
        **kwargs: passed to PyG's ``NeighborSampler``; options the draw does not implement
            (``replace``, ``disjoint``, ``time_attr``, ``weight_attr``, a subgraph type other
            than ``"directional"``) raise ``ValueError``.
    """

    def __init__(self, data, num_neighbors: list[int], *, seed: int = 0, **kwargs) -> None:
        for name in ("replace", "disjoint", "time_attr", "weight_attr"):
            if kwargs.get(name):
                raise ValueError(f"TorchNeighborSampler does not implement {name}=")
        if SubgraphType(kwargs.get("subgraph_type", "directional")) != SubgraphType.directional:
            raise ValueError("TorchNeighborSampler samples directional subgraphs only")
        if not isinstance(num_neighbors, (list, tuple)):
            raise ValueError("num_neighbors must be one list of fan-outs (per hop) for every edge type")
        with warnings.catch_warnings():  # "without pyg-lib is deprecated": this class is the fallback
            warnings.filterwarnings("ignore", message=".*pyg-lib.*")
            super().__init__(data, list(num_neighbors), **kwargs)
        if not self.is_hetero:
            raise ValueError("TorchNeighborSampler samples heterogeneous graphs only")
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self.edge_types = sorted(self.edge_types)
        self.node_types = sorted(self.node_types)
        adjacency = {}
        for edge_type in self.edge_types:
            adjacency[edge_type] = self._sorted_csc(edge_type)
        self.sampler = NeighbourSampler(adjacency, {t: self.num_nodes[t] for t in self.node_types},
                                        tuple(num_neighbors))

    def _sorted_csc(self, edge_type: tuple[str, str, str]) -> tuple[Tensor, Tensor]:
        """The edge type's ``(colptr, row)``, each target's sources ascending; the edge
        permutation (``edge_permutation``, which loaders map edge ids with) follows."""
        rel = self.to_rel_type[edge_type]
        colptr, row = self.colptr_dict[rel], self.row_dict[rel]
        perm = (self.perm or {}).get(edge_type)
        if row.numel():
            target = torch.repeat_interleave(torch.arange(colptr.numel() - 1), colptr.diff())
            key = target * max(self.num_nodes[edge_type[0]], 1) + row
            _, order = index_sort(key, stable=True)
            row = row[order]
            perm = order if perm is None else perm[order]
        self.row_dict[rel] = row
        if self.perm is None:
            self.perm = {}
        self.perm[edge_type] = perm
        return colptr, row

    def _sample(self, seed: dict[str, Tensor], seed_time=None, **kwargs) -> HeteroSamplerOutput:
        """One subgraph: the seeds first in the order given, then each hop's new nodes."""
        if seed_time is not None:
            raise ValueError("TorchNeighborSampler does not sample by time")
        sub = self.sampler.sample(seed, self.generator)
        node, remap = {}, {}
        for node_type in self.node_types:
            ids = sub.nodes.get(node_type, torch.zeros(0, dtype=torch.long))
            node[node_type], remap[node_type] = ids, None
            given = seed.get(node_type)
            if given is not None and given.numel():
                # The draw puts the distinct seeds first in ascending order; loaders read the
                # first batch_size rows as the seeds in their order (edge loaders pass them distinct).
                index = sub.seed_index[node_type]
                if torch.unique(index).numel() != index.numel():
                    raise ValueError(f"the {node_type} seeds of one batch must be distinct")
                order = torch.arange(ids.numel())
                order[index] = torch.arange(index.numel())
                node[node_type] = ids.clone()
                node[node_type][:index.numel()] = given
                remap[node_type] = order
        row, col, edge = {}, {}, {}
        empty = torch.zeros(0, dtype=torch.long)
        for edge_type in self.edge_types:
            pairs = sub.edges.get(edge_type)
            if pairs is None:
                row[edge_type], col[edge_type], edge[edge_type] = empty, empty, empty
                continue
            src, dst = remap[edge_type[0]], remap[edge_type[2]]
            row[edge_type] = pairs[0] if src is None else src[pairs[0]]
            col[edge_type] = pairs[1] if dst is None else dst[pairs[1]]
            edge[edge_type] = sub.edge_ids[edge_type]
        return HeteroSamplerOutput(node=node, row=row, col=col, edge=edge, batch=None)
