"""The GraphStore protocol and the snapshot that stores export for training.

A store holds the entity graph (see :mod:`kg_recsys.schema`). Writes are idempotent
upserts in batches; the learning code never talks to a store directly, it reads a
:class:`GraphSnapshot` (ids, texts and integer edge arrays) instead.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Protocol, Sequence, runtime_checkable

import numpy as np

from kg_recsys.schema import DEFAULT_KIND, DEFAULT_SCENARIO, ENTITY, ITEM, USER, InteractionRow, NodeRow, RelationRow

EdgeType = tuple[str, str, str]  # (src_label, relation, dst_label)


@dataclass(frozen=True)
class NodeTable:
    """Nodes of one label, in a fixed order that every index array refers to."""

    #: ``[N]`` str: the node ids.
    ids: np.ndarray
    #: ``[N]`` str: each node's text, ``""`` where unknown.
    text: np.ndarray
    #: ``[N]`` str: each node's scenario, ``""`` where none applies.
    scenario: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def index(self) -> dict[str, int]:
        """``{id: row}`` of every node."""
        return {node_id: i for i, node_id in enumerate(self.ids.tolist())}

    @staticmethod
    def build(ids: Sequence[str], text: Sequence[str | None], scenario: Sequence[str | None]) -> "NodeTable":
        """A table from parallel sequences, ``None`` text or scenario stored as ``""``."""
        return NodeTable(
            ids=np.asarray(list(ids), dtype=str) if len(ids) else np.zeros(0, dtype=str),
            text=np.asarray([t or "" for t in text], dtype=str) if len(ids) else np.zeros(0, dtype=str),
            scenario=np.asarray([s or "" for s in scenario], dtype=str) if len(ids) else np.zeros(0, dtype=str),
        )


@dataclass(frozen=True)
class InteractionTable:
    """User-item interactions as parallel arrays (one row per INTERACTED relationship)."""

    #: ``[E]`` int64: rows of :attr:`GraphSnapshot.users`.
    user: np.ndarray
    #: ``[E]`` int64: rows of :attr:`GraphSnapshot.items`.
    item: np.ndarray
    #: ``[E]`` str: each interaction's scenario.
    scenario: np.ndarray
    #: ``[E]`` str: each interaction's kind (``"interaction"`` unless the data says).
    kind: np.ndarray
    #: ``[E]`` float32.
    weight: np.ndarray
    #: ``[E]`` float64 seconds, NaN where unknown.
    timestamp: np.ndarray

    def __len__(self) -> int:
        return len(self.user)

    def select(self, mask: np.ndarray) -> "InteractionTable":
        """Rows where ``mask`` (bool array or index array) holds."""
        return InteractionTable(
            user=self.user[mask], item=self.item[mask], scenario=self.scenario[mask],
            kind=self.kind[mask], weight=self.weight[mask], timestamp=self.timestamp[mask],
        )

    @staticmethod
    def from_pairs(user: Sequence[int], item: Sequence[int], scenario: str = DEFAULT_SCENARIO) -> "InteractionTable":
        """Unweighted, untimed ``(user, item)`` rows in one scenario (weight 1, no timestamp)."""
        n = len(user)
        return InteractionTable(np.asarray(user, np.int64), np.asarray(item, np.int64), np.full(n, scenario, dtype=str),
                                np.full(n, DEFAULT_KIND, dtype=str), np.ones(n, np.float32), np.full(n, np.nan))

    @staticmethod
    def concat(parts: Sequence["InteractionTable"]) -> "InteractionTable":
        """The rows of ``parts``, in order, as one table."""
        return InteractionTable(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                                  ("user", "item", "scenario", "kind", "weight", "timestamp")))

    @staticmethod
    def empty() -> "InteractionTable":
        """A table without rows."""
        return InteractionTable(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, dtype=str),
                                np.zeros(0, dtype=str), np.zeros(0, np.float32), np.zeros(0, np.float64))


@dataclass(frozen=True)
class Coded:
    """A column of strings as its distinct values and each row's code into them (as pyarrow's
    dictionary arrays hold them): a million ratings name a few thousand users, so a store maps
    a few thousand values, not a million."""

    #: The values; one may be unused or appear twice.
    values: Sequence
    #: ``[B]`` int64 indices into :attr:`values`.
    codes: np.ndarray

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, index) -> "Coded":
        """The rows ``index`` (a slice, mask or index array) selects."""
        return Coded(self.values, self.codes[index])

    def tolist(self) -> list:
        return np.asarray(self.values, dtype=object)[self.codes].tolist() if len(self.codes) else []

    @staticmethod
    def of(strings: Sequence) -> "Coded":
        """Code a sequence of values."""
        mapping: dict = {}
        codes = np.fromiter((mapping.setdefault(s, len(mapping)) for s in strings), np.int64, count=len(strings))
        return Coded(list(mapping), codes)


@dataclass(frozen=True)
class InteractionColumns:
    """A batch of interactions as parallel columns: the rows of
    :meth:`GraphStore.upsert_interactions`, for a store with a bulk write path
    (``upsert_interaction_columns``, see :class:`~kg_recsys.store.memory.MemoryStore`). Scenario
    and kind are filled in (no ``None``)."""

    #: ``[B]`` str.
    user_id: Coded
    #: ``[B]`` str.
    item_id: Coded
    #: ``[B]`` str.
    scenario: Coded
    #: ``[B]`` str.
    kind: Coded
    #: ``[B]`` float64.
    weight: np.ndarray
    #: ``[B]`` float64 seconds, NaN where unknown.
    timestamp: np.ndarray

    def __len__(self) -> int:
        return len(self.user_id)

    def select(self, index) -> "InteractionColumns":
        """The rows ``index`` (a slice, mask or index array) selects."""
        return InteractionColumns(*(getattr(self, f)[index] for f in _COLUMN_FIELDS))

    def rows(self) -> list[InteractionRow]:
        """The batch as :class:`~kg_recsys.schema.InteractionRow` dicts (for stores without a bulk path)."""
        stamps = [None if t != t else t for t in self.timestamp.tolist()]  # NaN -> None
        return [{"user_id": u, "item_id": i, "scenario": s, "kind": k, "weight": w, "timestamp": t}
                for u, i, s, k, w, t in zip(self.user_id.tolist(), self.item_id.tolist(), self.scenario.tolist(),
                                            self.kind.tolist(), self.weight.tolist(), stamps)]


_COLUMN_FIELDS = ("user_id", "item_id", "scenario", "kind", "weight", "timestamp")


@dataclass(frozen=True)
class GraphSnapshot:
    """Everything the learning code needs from a store, as arrays.

    ``relations`` maps ``(src_label, relation, dst_label)`` to ``(src_index, dst_index)``
    for every relation except INTERACTED (those are in ``interactions``).
    Evaluation splits keep the node tables and filter interactions, so indices stay valid
    across the train, context and full graphs of one split.
    """

    #: The ``User`` nodes; ``interactions.user`` and user-side ``relations`` index them.
    users: NodeTable
    #: The ``Item`` nodes.
    items: NodeTable
    #: The ``Entity`` nodes (KG entities and attribute values such as ``genre=Drama``).
    entities: NodeTable
    #: Every INTERACTED relationship, as row indices into ``users`` and ``items``.
    interactions: InteractionTable
    #: ``(src_label, relation, dst_label) -> (src_index, dst_index)``, two int64 arrays of
    #: one length, for every relation but INTERACTED and RECOMMENDED.
    relations: dict[EdgeType, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def nodes(self, label: str) -> NodeTable:
        """The node table of one label.

        Args:
            label: ``"User"``, ``"Item"`` or ``"Entity"``.

        Returns:
            :attr:`users`, :attr:`items` or :attr:`entities`.
        """
        return {USER: self.users, ITEM: self.items, ENTITY: self.entities}[label]

    def with_interactions(self, interactions: InteractionTable) -> "GraphSnapshot":
        """The same graph with other interactions (an evaluation split's training part).

        Args:
            interactions: rows indexing this snapshot's node tables.

        Returns:
            A new snapshot; the node tables and relations are shared, not copied.
        """
        return replace(self, interactions=interactions)

    def scenarios(self) -> list[str]:
        """The scenarios of the interactions.

        Returns:
            Their names, sorted, each once.
        """
        return sorted(set(self.interactions.scenario.tolist()))

    def topology(self) -> GraphTopology:
        """The snapshot's structure (its arrays shared, not copied).

        Returns:
            The :class:`GraphTopology` that :meth:`GraphStore.topology` gives for the same graph.
        """
        inter = self.interactions
        return GraphTopology({label: self.nodes(label).ids for label in (USER, ITEM, ENTITY)},
                             (inter.user, inter.item, inter.scenario), self.relations)

    # Saved with numpy's npz and allow_pickle=False: plain arrays, nothing executable.
    def save(self, path: str) -> None:
        """Write the snapshot as one compressed ``.npz`` of plain arrays.

        Args:
            path: the file (numpy appends ``.npz`` if the name lacks it).
        """
        arrays: dict[str, np.ndarray] = {}
        for name, table in (("users", self.users), ("items", self.items), ("entities", self.entities)):
            for column in ("ids", "text", "scenario"):
                arrays[f"{name}.{column}"] = getattr(table, column)
        for column in ("user", "item", "scenario", "kind", "weight", "timestamp"):
            arrays[f"interactions.{column}"] = getattr(self.interactions, column)
        edge_types = sorted(self.relations)
        arrays["relations.types"] = np.asarray(["\t".join(t) for t in edge_types], dtype=str).reshape(-1)
        for i, edge_type in enumerate(edge_types):
            src, dst = self.relations[edge_type]
            arrays[f"relations.{i}.src"], arrays[f"relations.{i}.dst"] = src, dst
        np.savez_compressed(path, **arrays)

    @staticmethod
    def load(path: str) -> "GraphSnapshot":
        """Read a file written by :meth:`save` (``allow_pickle=False``).

        Args:
            path: the ``.npz`` file.

        Returns:
            The snapshot.
        """
        with np.load(path, allow_pickle=False) as data:
            tables = {name: NodeTable(*(data[f"{name}.{c}"] for c in ("ids", "text", "scenario")))
                      for name in ("users", "items", "entities")}
            interactions = InteractionTable(*(data[f"interactions.{c}"] for c in
                                              ("user", "item", "scenario", "kind", "weight", "timestamp")))
            relations = {tuple(t.split("\t")): (data[f"relations.{i}.src"], data[f"relations.{i}.dst"])
                         for i, t in enumerate(data["relations.types"].tolist())}
        return GraphSnapshot(tables["users"], tables["items"], tables["entities"], interactions, relations)


@dataclass(frozen=True)
class GraphTopology:
    """The graph's structure without its text, kinds, weights or timestamps: what a
    neighbour sampler reads from a store (:meth:`GraphStore.topology`), numbered as
    :meth:`GraphStore.snapshot` numbers the nodes, so index arrays from either agree.
    Features are not in it: :class:`~kg_recsys.store.pyg_remote.StoreFeatureStore` reads
    them from the store per batch (:meth:`GraphStore.read_vectors`)."""

    #: Per label (``"User"``, ``"Item"``, ``"Entity"``), the ``[N]`` str node ids in
    #: snapshot order: row ``n`` of every index array below is node ``ids[label][n]``.
    ids: dict[str, np.ndarray]
    #: ``[E]`` int64 user rows, ``[E]`` int64 item rows and ``[E]`` str scenarios, one per
    #: INTERACTED relationship (in no particular order).
    interactions: tuple[np.ndarray, np.ndarray, np.ndarray]
    #: As :attr:`GraphSnapshot.relations`.
    relations: dict[EdgeType, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def num_nodes(self, label: str) -> int:
        """How many nodes of ``label`` there are."""
        return len(self.ids[label])

    def scenarios(self) -> list[str]:
        """The scenarios of the interactions, sorted, each once."""
        return sorted(set(self.interactions[2].tolist()))


class StoreConnectionError(ValueError):
    """A store's server cannot be reached, refuses the credentials, or stopped answering
    mid-command; the message names the store and says what to do (the CLI prints it as one
    line, exit code 2)."""


@dataclass(frozen=True)
class Recommendation:
    """One RECOMMENDED relationship: ``score`` and ``rank`` (1 = best) of ``item_id`` for ``user_id``."""

    user_id: str
    item_id: str
    score: float
    rank: int


@runtime_checkable
class GraphStore(Protocol):
    """What every backend implements. All writes are idempotent upserts (MERGE semantics):
    writing the same rows twice leaves every count unchanged. A write that returned is
    durable (acknowledged) even if the process dies right after."""

    def ensure_schema(self) -> None:
        """Create constraints and indexes (no-op where the backend has none)."""

    def upsert_nodes(self, label: str, rows: Sequence[NodeRow]) -> None:
        """Create or update nodes by id; ``None`` text or scenario never erases a known value.

        Args:
            label: ``"User"``, ``"Item"`` or ``"Entity"``.
            rows: ``{"id", "text", "scenario"}`` dicts (:class:`~kg_recsys.schema.NodeRow`;
                only ``id`` is required).
        """

    def upsert_interactions(self, rows: Sequence[InteractionRow]) -> None:
        """Create users, items and INTERACTED relationships, keyed by
        :func:`kg_recsys.schema.interaction_key`.

        Args:
            rows: ``{"user_id", "item_id", "scenario", "kind", "weight", "timestamp"}`` dicts
                (:class:`~kg_recsys.schema.InteractionRow`; the ids are required).
        """

    def upsert_relations(self, rows: Sequence[RelationRow]) -> None:
        """Create endpoint nodes as needed and one relationship per (src, relation, dst).

        Args:
            rows: ``{"src_label", "src_id", "relation", "dst_label", "dst_id"}`` dicts
                (:class:`~kg_recsys.schema.RelationRow`).
        """

    def fill_item_scenarios(self) -> int:
        """Give every item without a scenario the one where most of its interactions are (a
        tie goes to the first name in sort order), as the model reads an item's scenario;
        items with a scenario, and items without interactions, are left as they are.
        Idempotent; ingestion runs it after the interactions.

        Returns:
            The number of items given a scenario.
        """

    def counts(self) -> dict[str, dict[str, int]]:
        """How many nodes and relationships the store holds.

        Returns:
            ``{"nodes": {label: n}, "relationships": {type: n}}``.
        """

    def has_relationship(self, src_label: str, src_id: str, relation: str, dst_label: str, dst_id: str) -> bool:
        """Whether that relationship exists, in either direction.

        Args:
            src_label: the label of one end.
            src_id: its id.
            relation: the relationship type.
            dst_label: the label of the other end.
            dst_id: its id.

        Returns:
            ``True`` if a ``relation`` relationship joins the two nodes.
        """

    def delete_user(self, user_id: str) -> bool:
        """Remove a user node with every relationship it has (interactions, recommendations,
        attributes) and its vectors.

        Args:
            user_id: the user's id.

        Returns:
            ``False`` if there was no such user.
        """
        ...

    def snapshot(self) -> GraphSnapshot:
        """Export the graph as arrays for training.

        Returns:
            The whole graph, RECOMMENDED relationships left out.
        """

    def topology(self) -> GraphTopology:
        """The graph's structure as index arrays, without texts or interaction properties
        (what PyG's samplers need; see :mod:`kg_recsys.store.pyg_remote`), read in batches.

        Returns:
            Node ids and relationships numbered as :meth:`snapshot` numbers them,
            RECOMMENDED relationships left out.
        """

    def read_vectors(self, label: str, ids: Sequence[str], prop: str = "embedding") -> tuple[np.ndarray, np.ndarray]:
        """The vectors stored on some nodes (by :meth:`write_vectors`), in the order asked.

        Args:
            label: the nodes' label.
            ids: the nodes' ids.
            prop: the property the vectors were written to. (default: ``"embedding"``)

        Returns:
            ``(vectors, found)``: float32 vectors, zero rows where a node has none (or there is
            no such node), and which rows were found.

        Shapes:
            ids: ``[B]``; vectors: ``[B, d]`` (``d`` is :meth:`vector_size`, 0 if none is
            stored); found: ``[B]`` bool.
        """

    def vector_size(self, label: str, prop: str = "embedding") -> int:
        """The length of the vectors stored under ``prop`` on ``label`` nodes.

        Args:
            label: the nodes' label.
            prop: the property. (default: ``"embedding"``)

        Returns:
            The length of one of them, 0 if no ``label`` node has one.
        """

    def write_vectors(self, label: str, ids: Sequence[str], vectors: np.ndarray, prop: str = "embedding") -> None:
        """Store one vector per node as a property (and a vector index where supported).

        Args:
            label: the nodes' label.
            ids: the nodes' ids.
            vectors: one row per id.
            prop: the property name. (default: ``"embedding"``)

        Shapes:
            ids: ``[N]``, vectors: ``[N, d]``.
        """

    def similar_by_vector(self, label: str, vector: np.ndarray, k: int, prop: str = "embedding") -> list[tuple[str, float]]:
        """Nearest nodes by cosine over the stored vectors, best first.

        Args:
            label: the nodes' label.
            vector: the query.
            k: how many nodes.
            prop: the property the vectors were written to. (default: ``"embedding"``)

        Returns:
            Up to ``k`` ``(id, score)`` pairs, with score ``(1 + cosine) / 2`` (the scale of
            Neo4j's cosine vector index) in every store.

        Shapes:
            vector: ``[d]``, the size of the stored vectors.
        """

    def replace_recommendations(self, model: str, recommendations: Iterable[Recommendation], at: str) -> None:
        """Replace the RECOMMENDED relationships of ``model`` for the users in ``recommendations``.

        Args:
            model: the model's name; other models' recommendations are kept.
            recommendations: the new ones; every user among them loses its earlier ones of
                ``model``.
            at: when they were made, an ISO 8601 time (stored on each relationship).
        """

    def recommendations(self, user_id: str, model: str) -> list[Recommendation]:
        """The stored RECOMMENDED relationships of one user, by rank.

        Args:
            user_id: the user's id.
            model: the model that wrote them.

        Returns:
            Best first; empty for an unknown user.
        """

    def close(self) -> None:
        """Release what the store holds (a driver, a writer lock); it is not used after."""


def open_store(uri: str = "memory", **kwargs) -> GraphStore:
    """Open a store from a URI.

    Args:
        uri: ``memory`` (the folder ``.kgrec/graph``), ``memory:PATH``, or
            ``bolt://HOST:PORT`` / ``neo4j://HOST:PORT`` (``+s`` for TLS; the password
            from ``KGREC_NEO4J_PASSWORD``). (default: ``"memory"``)
        **kwargs: passed to :class:`~kg_recsys.store.memory.MemoryStore` or
            :class:`~kg_recsys.store.neo4j.Neo4jStore` (``user``, ``password``,
            ``database``, ...).

    Returns:
        The store; close it with ``close()`` or use it as a context manager.
    """
    if uri == "memory" or uri.startswith("memory:"):
        from kg_recsys.store.memory import MemoryStore

        path = uri.partition(":")[2] or kwargs.pop("path", None) or ".kgrec/graph"
        return MemoryStore(path, **kwargs)
    if uri.startswith(("bolt://", "neo4j://", "bolt+s://", "neo4j+s://")):
        from kg_recsys.store.neo4j import Neo4jStore

        return Neo4jStore(uri, **kwargs)
    raise ValueError(f"unknown store {uri!r}: use 'memory', 'memory:PATH' or 'bolt://HOST:PORT'")
