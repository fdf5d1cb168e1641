"""PyG's remote backend over a :class:`~kg_recsys.store.base.GraphStore`: a ``FeatureStore``
and a ``GraphStore`` (``torch_geometric.data``) that PyG's loaders take as
``data=(feature_store, graph_store)`` instead of an in-memory ``HeteroData``.

The graph store holds the structure: one read of :meth:`GraphStore.topology` (index arrays
per relationship type, in batches; no texts, no interaction properties), turned into the
edge types of a :class:`~kg_recsys.graph.GraphLayout` by :func:`~kg_recsys.graph.layout_edges`,
the function :func:`~kg_recsys.graph.build_hetero_data` uses: node numbers, edge types and
edge order are the ``HeteroData``'s, so a loader with the same seed yields the same
subgraphs from either. A neighbour sampler needs every node's edges at hand, which is why
PyG's samplers convert the whole structure to CSC once (``graph_store.csc()``).

The feature store reads what a batch needs and nothing more: ``x`` of the nodes a loader
sampled, fetched from the store per batch (:meth:`GraphStore.read_vectors`, batched Cypher
on Neo4j) from the vectors written under :data:`TEXT_VECTOR_PROP`. Nodes without a vector
get a zero row, as nodes without text get a zero text vector.

Example::

    fs, gs = store_backend(store, layout)
    sampler = TorchNeighborSampler((fs, gs), [10, 5], seed=0)
    loader = NeighborLoader((fs, gs), [10, 5], input_nodes=("user", None), batch_size=512,
                            neighbor_sampler=sampler)
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import EdgeAttr, FeatureStore, GraphStore as PyGGraphStore, TensorAttr
from torch_geometric.data.graph_store import EdgeLayout

from kg_recsys.graph import NODE_TYPE, GraphLayout, layout_edges, make_layout
from kg_recsys.store.base import GraphStore, GraphTopology

#: The node property the text vectors are written to (``store.write_vectors(..., prop=...)``).
TEXT_VECTOR_PROP = "text_vector"
_LABEL = {node_type: label for label, node_type in NODE_TYPE.items()}


def _rows(index, size: int) -> np.ndarray:
    """A ``TensorAttr`` index (``None``, a slice, an int, a tensor or array) as int64 rows."""
    if index is None:
        return np.arange(size)
    if isinstance(index, slice):
        return np.arange(size)[index]
    if isinstance(index, Tensor):
        index = index.cpu().numpy()
    rows = np.asarray(index)
    if rows.dtype == bool:
        return np.flatnonzero(rows)
    return rows.astype(np.int64).reshape(-1)


class StoreFeatureStore(FeatureStore):
    """Node features read from a store by node index, per request.

    Each node type (``user``, ``item``, ``entity``) has one attribute, ``x``: the vectors
    stored under ``prop``, row ``n`` being node ``ids[label][n]``.

    Args:
        store: the store that holds the vectors.
        ids: per label, the node ids in the numbering of the graph store (a
            :class:`~kg_recsys.store.base.GraphTopology`'s ``ids``).
        prop: the node property of the vectors. (default: :data:`TEXT_VECTOR_PROP`)
        dim: the vectors' length. (default: the length the store has under ``prop``)
    """

    def __init__(self, store: GraphStore, ids: dict[str, np.ndarray], prop: str = TEXT_VECTOR_PROP,
                 dim: int | None = None) -> None:
        super().__init__()
        self.store, self.prop = store, prop
        self.ids = {NODE_TYPE[label]: np.asarray(node_ids) for label, node_ids in ids.items()}
        self.dim = dim if dim is not None else max(store.vector_size(label, prop) for label in ids)
        if self.dim < 1:
            raise ValueError(f"the store has no vectors under {prop!r}: write them with "
                             f"store.write_vectors(label, ids, vectors, prop={prop!r}) or put_tensor")

    def __repr__(self) -> str:
        return f"StoreFeatureStore(store={self.store!r}, prop={self.prop!r}, dim={self.dim})"

    def _check(self, attr: TensorAttr) -> str:
        if attr.group_name not in self.ids or attr.attr_name != "x":
            raise KeyError(f"no feature {attr.group_name!r}.{attr.attr_name!r}: the node types' 'x' only")
        return _LABEL[attr.group_name]

    def _get_tensor(self, attr: TensorAttr) -> Tensor:
        label = self._check(attr)
        rows = _rows(attr.index, len(self.ids[attr.group_name]))
        vectors, _ = self.store.read_vectors(label, self.ids[attr.group_name][rows].tolist(), self.prop)
        if vectors.shape[1] == 0:  # no node of this type has a vector
            vectors = np.zeros((len(rows), self.dim), np.float32)
        if vectors.shape[1] != self.dim:
            raise ValueError(f"{label} vectors under {self.prop!r} have length {vectors.shape[1]}, not {self.dim}")
        return torch.from_numpy(vectors)

    def _put_tensor(self, tensor: Tensor, attr: TensorAttr) -> bool:
        """Write ``tensor`` (rows ``attr.index``) to the store, as vectors of those nodes."""
        label = self._check(attr)
        rows = _rows(attr.index, len(self.ids[attr.group_name]))
        values = np.asarray(tensor.detach().cpu().numpy() if isinstance(tensor, Tensor) else tensor, np.float32)
        if values.ndim != 2 or len(values) != len(rows) or values.shape[1] != self.dim:
            raise ValueError(f"expected a [{len(rows)}, {self.dim}] tensor, got {tuple(values.shape)}")
        self.store.write_vectors(label, self.ids[attr.group_name][rows].tolist(), values, self.prop)
        return True

    def _remove_tensor(self, attr: TensorAttr) -> bool:
        return False  # vectors leave the store with their nodes, not through PyG

    def _get_tensor_size(self, attr: TensorAttr) -> tuple[int, int]:
        self._check(attr)
        return len(self.ids[attr.group_name]), self.dim

    def get_all_tensor_attrs(self) -> list[TensorAttr]:
        return [TensorAttr(group_name=node_type, attr_name="x") for node_type in self.ids]


class StoreGraphStore(PyGGraphStore):
    """The edges of a layout's edge types over a store's topology, held as COO.

    Args:
        topology: the structure read from the store (:meth:`GraphStore.topology`).
        layout: the edge types. (default: :func:`~kg_recsys.graph.make_layout` of ``topology``)
    """

    def __init__(self, topology: GraphTopology, layout: GraphLayout | None = None) -> None:
        super().__init__()
        self.layout = layout if layout is not None else make_layout(topology)
        self.num_nodes = {NODE_TYPE[label]: topology.num_nodes(label) for label in NODE_TYPE}
        self._edges: dict[tuple, tuple[EdgeAttr, tuple[Tensor, Tensor]]] = {}
        for edge_type, pairs in layout_edges(topology, self.layout).items():
            size = (self.num_nodes[edge_type[0]], self.num_nodes[edge_type[2]])
            edges = torch.from_numpy(pairs)
            self.put_edge_index((edges[0], edges[1]), edge_type=edge_type, layout=EdgeLayout.COO, size=size)

    def __repr__(self) -> str:
        return f"StoreGraphStore(edge_types={len(self._edges)}, num_nodes={self.num_nodes})"

    @staticmethod
    def _key(attr: EdgeAttr) -> tuple:
        return tuple(attr.edge_type), EdgeLayout(attr.layout).value

    def _put_edge_index(self, edge_index: tuple[Tensor, Tensor], edge_attr: EdgeAttr) -> bool:
        self._edges[self._key(edge_attr)] = (edge_attr, edge_index)
        return True

    def _get_edge_index(self, edge_attr: EdgeAttr) -> tuple[Tensor, Tensor] | None:
        found = self._edges.get(self._key(edge_attr))
        return None if found is None else found[1]

    def _remove_edge_index(self, edge_attr: EdgeAttr) -> bool:
        return self._edges.pop(self._key(edge_attr), None) is not None

    def get_all_edge_attrs(self) -> list[EdgeAttr]:
        return [attr for attr, _ in self._edges.values()]


def store_backend(store: GraphStore, layout: GraphLayout | None = None, prop: str = TEXT_VECTOR_PROP,
                  dim: int | None = None) -> tuple[StoreFeatureStore, StoreGraphStore]:
    """PyG's ``(feature_store, graph_store)`` over ``store``: its topology read once, its
    vectors read per batch.

    Args:
        store: the store (embedded or Neo4j).
        layout: the edge types (a trained model's). (default: made from the topology)
        prop: the node property of the vectors. (default: :data:`TEXT_VECTOR_PROP`)
        dim: the vectors' length. (default: the stored vectors')

    Returns:
        The feature store and the graph store, numbered as
        :func:`~kg_recsys.graph.build_hetero_data` numbers the store's snapshot.
    """
    topology = store.topology()
    return StoreFeatureStore(store, topology.ids, prop, dim), StoreGraphStore(topology, layout)


def write_text_vectors(store: GraphStore, ids: dict[str, Sequence[str]], vectors: dict[str, np.ndarray],
                       prop: str = TEXT_VECTOR_PROP) -> None:
    """Write each label's text vectors to the store, where :class:`StoreFeatureStore` reads them.

    Args:
        store: the store.
        ids: per label, the node ids.
        vectors: per label, one row per id.
        prop: the node property. (default: :data:`TEXT_VECTOR_PROP`)

    Shapes:
        ids[label]: ``[N]``; vectors[label]: ``[N, d]``.
    """
    for label, node_ids in ids.items():
        if len(node_ids):
            store.write_vectors(label, list(node_ids), vectors[label], prop)
