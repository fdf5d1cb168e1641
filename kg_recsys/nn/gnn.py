"""The heterogeneous GNN that turns text features and graph links into user and item vectors."""
from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

EdgeType = tuple[str, str, str]


def to_adjacency(edge_index: Tensor, num_src: int, num_dst: int, *, dst_sorted: bool = False) -> Tensor:
    """Edges ``[2, E]`` (unique pairs) as a ``[num_dst, num_src]`` sparse CSR matrix of ones;
    ``dst_sorted``: the edges are already in target order (a trainer sorts its changing
    edges once, and a subset of sorted edges stays sorted).

    ``SAGEConv`` then aggregates by one sparse matrix product instead of a gather and a
    scatter per edge type: a training step on ml-100k-kg (27 edge types) fell from 0.29 s
    to 0.24 s, most of the gain in the backward pass, which no longer zero-fills a dense
    gradient of the source nodes for every edge type (benchmarks/results/profile.md).
    """
    src, dst = edge_index
    if not dst_sorted:
        src = src[torch.argsort(dst, stable=True)]
    crow = torch.zeros(num_dst + 1, dtype=torch.long)
    crow[1:] = torch.cumsum(torch.bincount(dst, minlength=num_dst), 0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")  # it works on CPU
        return torch.sparse_csr_tensor(crow, src, torch.ones(src.numel()), size=(num_dst, num_src),
                                       check_invariants=False)


class KGRecGNN(nn.Module):
    r"""Relation-aware message passing over the user-item-entity graph.

    Every node starts from its text vector projected per node type, plus a learnable id
    embedding where the node was seen in training (``id_index >= 0``):

    .. math::
        h_v^{(0)} = W_{\tau(v)} t_v + m_v e_v

    Each layer sums a mean aggregation per relation :math:`r` (PyG's ``SAGEConv`` inside
    ``HeteroConv``), with a residual connection, and the output averages the layers as
    LightGCN does:

    .. math::
        h_v^{(l+1)} = h_v^{(l)} + \sum_r \mathrm{mean}_{u \in N_r(v)} W_r^{(l)} h_u^{(l)},
        \qquad z_v = \frac{1}{L+1} \sum_l h_v^{(l)}

    A node without id (new, or dropped in training) still gets a vector from its text and
    neighbours, which is what makes the model inductive.

    Args:
        node_types: node type names, e.g. ``("user", "item", "entity")``.
        edge_types: ``(src, relation, dst)`` triples the model has weights for.
        num_ids: id embeddings per node type.
        text_dim: text vector size (default: ``384``)
        hidden_dim: output vector size (default: ``64``)
        num_layers: message-passing layers; ``0`` gives text + id through an MLP only
            (default: ``2``)
        use_text: use text features (default: ``True``)
        use_id_embeddings: use id embeddings (default: ``True``)
        dropout: dropout on the projected text features (default: ``0.1``)
        relation_gates: scale each edge type's message by a learned non-negative scalar
            :math:`g_r = \mathrm{softplus}(a_r)` (one per edge type, shared by the layers,
            starting at 1): :math:`h_v^{(l+1)} = h_v^{(l)} + \sum_r g_r \,
            \mathrm{mean}(\dots)`. A trainer's L1 push on :meth:`gate_values` lets a relation
            that only adds noise fade out (default: ``False``)

    Shapes:
        - **input:** ``x_dict[type]``: ``[N_type, text_dim]``; ``id_index_dict[type]``:
          long ``[N_type]``, the row of each node's id embedding or ``-1`` for none;
          ``edge_index_dict[edge_type]``: ``[2, E]`` unique pairs, or the same edges as
          a sparse ``[N_dst, N_src]`` matrix from :func:`to_adjacency` (a trainer builds
          the edges that do not change between steps once).
        - **output:** ``dict[type] -> [N_type, hidden_dim]``.
    """

    def __init__(self, node_types: tuple[str, ...], edge_types: tuple[EdgeType, ...], num_ids: dict[str, int],
                 text_dim: int = 384, hidden_dim: int = 64, num_layers: int = 2, use_text: bool = True,
                 use_id_embeddings: bool = True, dropout: float = 0.1, relation_gates: bool = False) -> None:
        # PyG loads with the first GNN built, not with the package: serving a saved index
        # needs no GNN, and importing PyG takes seconds.
        from torch_geometric.nn import HeteroConv, SAGEConv

        super().__init__()
        self.node_types, self.edge_types = tuple(node_types), tuple(edge_types)
        self.num_ids = dict(num_ids)
        self.text_dim, self.hidden_dim, self.num_layers = text_dim, hidden_dim, num_layers
        self.use_text, self.use_id_embeddings = use_text, use_id_embeddings
        self.text_proj = nn.ModuleDict({t: nn.Linear(text_dim, hidden_dim) for t in node_types}) if use_text else None
        self.id_emb = nn.ModuleDict({t: nn.Embedding(max(1, num_ids.get(t, 0)), hidden_dim) for t in node_types}) \
            if use_id_embeddings else None
        self.dropout = nn.Dropout(dropout)
        self.convs = nn.ModuleList(
            HeteroConv({et: SAGEConv(hidden_dim, hidden_dim, aggr="mean", root_weight=False, bias=False)
                        for et in edge_types}, aggr="sum")
            for _ in range(num_layers)
        )
        # One raw scalar per edge type, in ``edge_types`` order; softplus keeps each gate
        # non-negative and smooth near 0, so an L1 push can shrink it without a dead zone.
        self.gate_logits = nn.Parameter(torch.empty(len(self.edge_types))) \
            if relation_gates and num_layers > 0 else None
        self._gate_row = {et: r for r, et in enumerate(self.edge_types)}
        # Without propagation the ablation still gets a non-linear map of its inputs.
        self.mlp = nn.Sequential(nn.Linear(hidden_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, hidden_dim)) \
            if num_layers == 0 else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.text_proj is not None:
            for lin in self.text_proj.values():
                lin.reset_parameters()
        if self.id_emb is not None:
            for emb in self.id_emb.values():
                nn.init.normal_(emb.weight, std=0.1)
        for conv in self.convs:
            conv.reset_parameters()
            for sage in conv.convs.values():
                # Start near identity-like small messages so that depth does not blow up scale.
                nn.init.xavier_uniform_(sage.lin_l.weight, gain=0.5)
        if self.mlp is not None:
            for layer in self.mlp:
                if isinstance(layer, nn.Linear):
                    layer.reset_parameters()
        if self.gate_logits is not None:
            nn.init.constant_(self.gate_logits, math.log(math.e - 1.0))  # softplus(.) = 1

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(hidden_dim={self.hidden_dim}, num_layers={self.num_layers}, "
                f"edge_types={len(self.edge_types)}, text={self.use_text}, ids={self.use_id_embeddings}, "
                f"gates={self.gate_logits is not None})")

    def gate_values(self) -> Tensor | None:
        """The relation gates ``[len(edge_types)]``, in ``edge_types`` order (differentiable),
        or ``None`` without gates."""
        return None if self.gate_logits is None else F.softplus(self.gate_logits)

    def gates(self) -> dict[EdgeType, float]:
        """Each edge type's gate (1.0 for every type without gates), for reports."""
        values = self.gate_values()
        values = None if values is None else values.detach()
        return {et: 1.0 if values is None else float(values[r]) for r, et in enumerate(self.edge_types)}

    def initial(self, x_dict: dict[str, Tensor], id_index_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """Layer-0 vectors: projected text plus the id embedding where ``id_index >= 0``."""
        out = {}
        for node_type in self.node_types:
            n = x_dict[node_type].size(0)
            h = x_dict[node_type].new_zeros(n, self.hidden_dim)
            if self.text_proj is not None:
                # Dropout after the projection: on the 384-wide input it cost 40% of a step.
                h = h + self.dropout(self.text_proj[node_type](x_dict[node_type]))
            if self.id_emb is not None:
                index = id_index_dict[node_type]
                known = index >= 0
                h = h + self.id_emb[node_type](index.clamp(min=0)) * known.unsqueeze(-1).to(h.dtype)
            out[node_type] = h
        return out

    def forward(self, x_dict: dict[str, Tensor], id_index_dict: dict[str, Tensor],
                edge_index_dict: dict[EdgeType, Tensor]) -> dict[str, Tensor]:
        h = self.initial(x_dict, id_index_dict)
        if self.mlp is not None:
            return {t: v + self.mlp(v) for t, v in h.items()}
        layers = self.layer_states(h, edge_index_dict)
        return {t: torch.stack([layer[t] for layer in layers]).mean(0) for t in self.node_types}

    def layer_states(self, h: dict[str, Tensor], edge_index_dict: dict[EdgeType, Tensor]) -> list[dict[str, Tensor]]:
        """The vectors after each layer, from the layer-0 vectors ``h`` (:meth:`initial`):
        ``L + 1`` dicts; the output is their mean. (Live updates keep them, to recompute a
        layer for the few nodes an edge changes: :meth:`propagate_rows`.)"""
        layers = [h]
        edges = {}
        for et, ei in edge_index_dict.items():
            if et not in self.edge_types or (ei._nnz() if ei.layout == torch.sparse_csr else ei.numel()) == 0:
                continue
            edges[et] = ei if ei.layout == torch.sparse_csr else \
                to_adjacency(ei, h[et[0]].size(0), h[et[2]].size(0))
        gates = self.gate_values()
        for depth, conv in enumerate(self.convs):
            edges = {et: ei for et, ei in edges.items() if self.updates(depth, et)}
            if gates is None:
                messages = conv(h, edges)
            else:
                # HeteroConv's loop (a sum over the edge types, in its order), each message
                # scaled by its gate.
                parts: dict[str, list[Tensor]] = {}
                for et, sage in conv.convs.items():
                    if et in edges:
                        out = sage((h[et[0]], h[et[2]]), edges[et]) * gates[self._gate_row[et]]
                        parts.setdefault(et[2], []).append(out)
                messages = {t: torch.stack(p).sum(0) if len(p) > 1 else p[0] for t, p in parts.items()}
            h = {t: h[t] + messages[t] if t in messages else h[t] for t in self.node_types}
            layers.append(h)
        return layers

    def updates(self, depth: int, edge_type: EdgeType) -> bool:
        """Whether layer ``depth`` passes messages along ``edge_type``: entities' last-layer
        vectors feed nothing, so the last layer skips the (largest) updates, those of entities."""
        return edge_type in self.edge_types and not (depth == len(self.convs) - 1 and edge_type[2] == "entity")

    def propagate_rows(self, depth: int, h: dict[str, Tensor], node_type: str, rows: Tensor,
                       sources: dict[EdgeType, tuple[Tensor, Tensor]]) -> Tensor:
        """Layer ``depth``'s output at the nodes ``rows`` of ``node_type`` alone, from the
        layer's input vectors ``h`` of every node: what :meth:`layer_states` computes at those
        rows. ``sources[edge_type] = (src, segment)``: the rows' sources along each edge
        type into ``node_type``, concatenated, and the position in ``rows`` of each."""
        means = {}
        for edge_type, (src, segment) in sources.items():
            if not self.updates(depth, edge_type) or not src.numel():
                continue
            count = torch.bincount(segment, minlength=len(rows)).clamp(min=1).unsqueeze(-1)
            means[edge_type] = torch.zeros(len(rows), h[edge_type[0]].size(1)).index_add_(
                0, segment, h[edge_type[0]][src]) / count
        return self.rows_from_means(depth, h[node_type][rows], means)

    def rows_from_means(self, depth: int, own: Tensor, means: dict[EdgeType, Tensor]) -> Tensor:
        """Layer ``depth``'s output at some nodes of one type from their input vectors ``own``
        and, per edge type into that type, the mean of their sources' input vectors."""
        out = own.clone()
        gates = self.gate_values()
        for edge_type, mean in means.items():
            if self.updates(depth, edge_type):
                # SAGEConv(root_weight=False, bias=False) is lin_l of the mean over the sources;
                # F.linear on its weight is that product without the module call (a live
                # update makes dozens of these calls on a few rows each).
                message = F.linear(mean, self.convs[depth].convs[edge_type].lin_l.weight)
                out = out + (message if gates is None else message * gates[self._gate_row[edge_type]])
        return out
