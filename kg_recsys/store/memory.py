"""The embedded, in-process store (the default): a networkx graph persisted to a folder.

Durability without pickle: every write batch is appended to ``log.jsonl`` and fsync'ed
before the call returns, so an acknowledged batch survives a crash. Opening the folder
replays ``base.jsonl`` (the last compaction) and then the log. :meth:`MemoryStore.compact`
rewrites the state into a new ``base.jsonl`` atomically (write, fsync, rename).
"""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import networkx as nx
import numpy as np

from kg_recsys.schema import (
    DEFAULT_KIND, DEFAULT_SCENARIO, INTERACTED, ITEM, NODE_LABELS, RECOMMENDED, USER,
    InteractionRow, NodeRow, RelationRow, check_label, check_relation_name, interaction_key,
)
from kg_recsys.store.base import GraphSnapshot, InteractionTable, NodeTable, Recommendation

_LOG = "log.jsonl"
_BASE = "base.jsonl"
_VECTORS = "vectors.npz"


class MemoryStore:
    """networkx-backed :class:`~kg_recsys.store.base.GraphStore`.

    Args:
        path: folder that holds the graph; created if missing. ``None`` keeps the graph in
            memory only (tests, notebooks). (default: ``None``)
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.graph = nx.MultiDiGraph()
        self._vectors: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        self._log = None
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)
            for name in (_BASE, _LOG):
                self._replay(self.path / name)
            self._load_vectors()
            self._log = open(self.path / _LOG, "a", encoding="utf-8")

    def __repr__(self) -> str:
        return f"MemoryStore(path={str(self.path)!r}, nodes={self.graph.number_of_nodes()}, " \
               f"relationships={self.graph.number_of_edges()})"

    def __enter__(self) -> "MemoryStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----------------------------------------------------------------- persistence
    def _append(self, op: str, rows: list) -> None:
        if self._log is None:
            return
        self._log.write(json.dumps({"op": op, "rows": rows}, ensure_ascii=False) + "\n")
        self._log.flush()
        os.fsync(self._log.fileno())

    def _replay(self, file: Path) -> None:
        if not file.exists():
            return
        with open(file, encoding="utf-8") as handle:
            lines = handle.readlines()
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines):  # a torn last write was never acknowledged
                    self._truncate_torn_tail(file, lines[:-1])
                    return
                raise ValueError(f"{file}:{number}: corrupt log record; the store folder was edited by hand?")
            self._apply(record["op"], record["rows"])

    @staticmethod
    def _truncate_torn_tail(file: Path, good_lines: list[str]) -> None:
        with open(file, "w", encoding="utf-8") as handle:
            handle.writelines(good_lines)

    def _apply(self, op: str, rows: list) -> None:
        if op == "nodes":
            self._apply_nodes(rows)
        elif op == "interactions":
            self._apply_interactions(rows)
        elif op == "relations":
            self._apply_relations(rows)
        elif op == "recommendations":
            self._apply_recommendations(rows)
        else:
            raise ValueError(f"unknown log operation {op!r}")

    def compact(self) -> None:
        """Rewrite the whole graph as ``base.jsonl`` and empty the log (atomic)."""
        if self.path is None:
            return
        temporary = self.path / (_BASE + ".tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            nodes = [[label, node_id, data.get("text"), data.get("scenario")]
                     for (label, node_id), data in self.graph.nodes(data=True)]
            handle.write(json.dumps({"op": "nodes", "rows": nodes}, ensure_ascii=False) + "\n")
            interactions, relations, recommendations = [], [], []
            for (src_label, src), (dst_label, dst), key, data in self.graph.edges(keys=True, data=True):
                kind = data["type"]
                if kind == INTERACTED:
                    interactions.append([src, dst, data["scenario"], data["kind"], data["weight"], data["timestamp"]])
                elif kind == RECOMMENDED:
                    recommendations.append([data["model"], src, dst, data["score"], data["rank"], data["at"]])
                else:
                    relations.append([src_label, src, kind, dst_label, dst])
            for op, rows in (("interactions", interactions), ("relations", relations),
                             ("recommendations", recommendations)):
                handle.write(json.dumps({"op": op, "rows": rows}, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path / _BASE)
        if self._log is not None:
            self._log.close()
        self._log = open(self.path / _LOG, "w", encoding="utf-8")

    def _load_vectors(self) -> None:
        file = self.path / _VECTORS
        if not file.exists():
            return
        with np.load(file, allow_pickle=False) as data:
            for name in data.files:
                if name.endswith(".ids"):
                    label, prop = name[:-4].split(".", 1)
                    ids, vectors = data[name].tolist(), data[f"{label}.{prop}.vectors"]
                    self._vectors[(label, prop)] = dict(zip(ids, vectors))

    def _save_vectors(self) -> None:
        if self.path is None:
            return
        arrays = {}
        for (label, prop), table in self._vectors.items():
            arrays[f"{label}.{prop}.ids"] = np.asarray(list(table), dtype=str)
            arrays[f"{label}.{prop}.vectors"] = np.stack(list(table.values())) if table else np.zeros((0, 0))
        temporary = self.path / "vectors.tmp.npz"
        np.savez(temporary, **arrays)
        os.replace(temporary, self.path / _VECTORS)

    # ----------------------------------------------------------------- writes
    def ensure_schema(self) -> None:
        """Nothing to create: ids are unique by construction (node key = (label, id))."""

    def upsert_nodes(self, label: str, rows: Sequence[NodeRow]) -> None:
        check_label(label)
        packed = [[label, r["id"], r.get("text"), r.get("scenario")] for r in rows]
        self._append("nodes", packed)
        self._apply_nodes(packed)

    def _apply_nodes(self, rows: list) -> None:
        for label, node_id, text, scenario in rows:
            key = (label, node_id)
            if key not in self.graph:
                self.graph.add_node(key, text=text, scenario=scenario)
            else:
                data = self.graph.nodes[key]
                if text is not None:
                    data["text"] = text
                if scenario is not None:
                    data["scenario"] = scenario

    def _ensure_node(self, label: str, node_id: str) -> tuple[str, str]:
        key = (label, node_id)
        if key not in self.graph:
            self.graph.add_node(key, text=None, scenario=None)
        return key

    def upsert_interactions(self, rows: Sequence[InteractionRow]) -> None:
        packed = [[r["user_id"], r["item_id"], r.get("scenario") or DEFAULT_SCENARIO, r.get("kind") or DEFAULT_KIND,
                   float(r.get("weight", 1.0) if r.get("weight") is not None else 1.0), r.get("timestamp")]
                  for r in rows]
        self._append("interactions", packed)
        self._apply_interactions(packed)

    def _apply_interactions(self, rows: list) -> None:
        for user, item, scenario, kind, weight, timestamp in rows:
            u, i = self._ensure_node(USER, user), self._ensure_node(ITEM, item)
            self.graph.add_edge(u, i, key=interaction_key(scenario, kind, timestamp), type=INTERACTED,
                                scenario=scenario, kind=kind, weight=weight, timestamp=timestamp)

    def upsert_relations(self, rows: Sequence[RelationRow]) -> None:
        packed = []
        for r in rows:
            check_label(r["src_label"]), check_label(r["dst_label"]), check_relation_name(r["relation"])
            packed.append([r["src_label"], r["src_id"], r["relation"], r["dst_label"], r["dst_id"]])
        self._append("relations", packed)
        self._apply_relations(packed)

    def _apply_relations(self, rows: list) -> None:
        for src_label, src, relation, dst_label, dst in rows:
            a, b = self._ensure_node(src_label, src), self._ensure_node(dst_label, dst)
            self.graph.add_edge(a, b, key=relation, type=relation)

    # ----------------------------------------------------------------- reads
    def counts(self) -> dict[str, dict[str, int]]:
        nodes = Counter(label for label, _ in self.graph.nodes)
        relationships = Counter(data for _, _, data in self.graph.edges(data="type"))
        return {"nodes": {label: nodes.get(label, 0) for label in NODE_LABELS},
                "relationships": dict(sorted(relationships.items()))}

    def has_relationship(self, src_label: str, src_id: str, relation: str, dst_label: str, dst_id: str) -> bool:
        check_label(src_label), check_label(dst_label), check_relation_name(relation)
        a, b = (src_label, src_id), (dst_label, dst_id)
        for x, y in ((a, b), (b, a)):
            if self.graph.has_node(x) and self.graph.has_node(y):
                for data in self.graph.get_edge_data(x, y, default={}).values():
                    if data["type"] == relation:
                        return True
        return False

    def node(self, label: str, node_id: str) -> dict | None:
        data = self.graph.nodes.get((label, node_id))
        return None if data is None else {"id": node_id, **data}

    def snapshot(self) -> GraphSnapshot:
        tables: dict[str, tuple[list, list, list]] = {label: ([], [], []) for label in NODE_LABELS}
        for (label, node_id), data in self.graph.nodes(data=True):
            ids, text, scenario = tables[label]
            ids.append(node_id), text.append(data.get("text")), scenario.append(data.get("scenario"))
        built = {label: NodeTable.build(*columns) for label, columns in tables.items()}
        index = {label: built[label].index() for label in NODE_LABELS}
        users, items, scenarios, kinds, weights, stamps = [], [], [], [], [], []
        relations: dict[tuple[str, str, str], tuple[list, list]] = {}
        for (src_label, src), (dst_label, dst), data in self.graph.edges(data=True):
            kind = data["type"]
            if kind == INTERACTED:
                users.append(index[USER][src]), items.append(index[ITEM][dst])
                scenarios.append(data["scenario"]), kinds.append(data["kind"]), weights.append(data["weight"])
                stamps.append(np.nan if data["timestamp"] is None else data["timestamp"])
            elif kind != RECOMMENDED:
                a, b = relations.setdefault((src_label, kind, dst_label), ([], []))
                a.append(index[src_label][src]), b.append(index[dst_label][dst])
        interactions = InteractionTable(
            np.asarray(users, np.int64), np.asarray(items, np.int64), np.asarray(scenarios, dtype=str),
            np.asarray(kinds, dtype=str), np.asarray(weights, np.float32), np.asarray(stamps, np.float64),
        ) if users else InteractionTable.empty()
        return GraphSnapshot(built[USER], built[ITEM], built["Entity"], interactions,
                             {t: (np.asarray(a, np.int64), np.asarray(b, np.int64)) for t, (a, b) in relations.items()})

    # ----------------------------------------------------------------- vectors and recommendations
    def write_vectors(self, label: str, ids: Sequence[str], vectors: np.ndarray, prop: str = "embedding") -> None:
        check_label(label)
        table = self._vectors.setdefault((label, prop), {})
        for node_id, vector in zip(ids, np.asarray(vectors, dtype=np.float32)):
            table[node_id] = vector
        self._save_vectors()

    def similar_by_vector(self, label: str, vector: np.ndarray, k: int, prop: str = "embedding") -> list[tuple[str, float]]:
        table = self._vectors.get((label, prop), {})
        if not table:
            return []
        ids = list(table)
        matrix = np.stack(list(table.values()))
        matrix = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        query = np.asarray(vector, np.float32) / max(float(np.linalg.norm(vector)), 1e-12)
        scores = matrix @ query
        best = np.argsort(-scores)[:k]
        # Same scale as Neo4j's cosine vector index: (1 + cos) / 2.
        return [(ids[i], float((1 + scores[i]) / 2)) for i in best]

    def replace_recommendations(self, model: str, recommendations: Iterable[Recommendation], at: str) -> None:
        rows = [[model, r.user_id, r.item_id, float(r.score), int(r.rank), at] for r in recommendations]
        self._append("recommendations", rows)
        self._apply_recommendations(rows)

    def _apply_recommendations(self, rows: list) -> None:
        for model, user in {(row[0], row[1]) for row in rows}:
            u = (USER, user)
            if u in self.graph:
                stale = [(u, v, key) for _, v, key, data in self.graph.out_edges(u, keys=True, data=True)
                         if data["type"] == RECOMMENDED and data["model"] == model]
                self.graph.remove_edges_from(stale)
        for model, user, item, score, rank, at in rows:
            self.graph.add_edge(self._ensure_node(USER, user), self._ensure_node(ITEM, item),
                                key=f"{RECOMMENDED}|{model}", type=RECOMMENDED,
                                model=model, score=score, rank=rank, at=at)

    def recommendations(self, user_id: str, model: str) -> list[Recommendation]:
        u = (USER, user_id)
        if u not in self.graph:
            return []
        found = [Recommendation(user_id, v[1], data["score"], data["rank"])
                 for _, v, data in self.graph.out_edges(u, data=True)
                 if data["type"] == RECOMMENDED and data["model"] == model]
        return sorted(found, key=lambda r: r.rank)

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
