"""The embedded, in-process store (the default): a networkx graph persisted to a folder.

Durability without pickle: every write batch is appended to ``log.jsonl`` as one line and
fsync'ed before the call returns, so an acknowledged batch survives a crash. Opening the
folder replays ``base.jsonl`` (the last compaction) and then the log.

Several processes may open one folder (``kgrec recommend`` while ``kgrec ingest`` runs):

* one writer at a time: the first write takes an exclusive ``fcntl.flock`` on ``lock`` in the
  folder and holds it until :meth:`MemoryStore.close`; a second writer waits for it up to
  ``lock_timeout`` seconds, then fails with :class:`StoreLockedError`. Opening and reading
  take no lock and never write, so readers never wait and never disturb a writer;
* a reader replays complete lines only: a last line without its newline is a write still in
  progress (or one that died), never acknowledged, so it is not read and not touched;
* a torn tail is cut only by the next writer, under the lock, where no one else can be
  appending; that writer first replays what other writers appended since it opened;
* :meth:`MemoryStore.compact` (run by a writer automatically once the log holds more than
  twice the live records) writes ``base.jsonl`` atomically and then empties the log. A
  reader that saw ``base.jsonl`` replaced while it read starts over; replaying a log that was
  already folded into the new base is harmless, every record being an idempotent upsert.
"""
from __future__ import annotations

import fcntl
import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import networkx as nx
import numpy as np

from kg_recsys.schema import (
    DEFAULT_KIND, DEFAULT_SCENARIO, INTERACTED, ITEM, NODE_LABELS, RECOMMENDED, USER,
    InteractionRow, NodeRow, RelationRow, check_label, check_relation_name, check_scenario, interaction_key,
)
from kg_recsys.store.base import GraphSnapshot, GraphStore, InteractionTable, NodeTable, Recommendation

_LOG = "log.jsonl"
_BASE = "base.jsonl"
_VECTORS = "vectors.npz"
_LOCK = "lock"
#: Seconds a second writer waits for the first to close the store (an ml-1m ingest takes ~1 min).
DEFAULT_LOCK_TIMEOUT = 300.0
#: A reader retries this often if compactions keep replacing ``base.jsonl`` while it reads.
_READ_ATTEMPTS = 20


class StoreLockedError(RuntimeError):
    """Another process holds the store's writer lock for longer than ``lock_timeout``."""


# GraphStore is named as the base so that the methods carry the protocol's docstrings
# (help(), the API reference); the protocol has no state and no behaviour to inherit.
class MemoryStore(GraphStore):
    """networkx-backed :class:`~kg_recsys.store.base.GraphStore`.

    Args:
        path: folder that holds the graph; created at the first write. ``None`` keeps the
            graph in memory only (tests, notebooks). (default: ``None``)
        lock_timeout: seconds the first write waits for another process that is writing to
            the same folder before raising :class:`StoreLockedError`.
            (default: ``DEFAULT_LOCK_TIMEOUT``, 300)
    """

    def __init__(self, path: str | os.PathLike | None = None, *,
                 lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self.path = Path(path) if path is not None else None
        self.lock_timeout = float(lock_timeout)
        self.graph = nx.MultiDiGraph()
        self._vectors: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        self._lock = None  # the lock file, open and flock'ed from the first write to close()
        self._log = None  # log.jsonl opened for appending, only while holding the lock
        self._base_id: tuple[int, int] | None = None  # (device, inode) of the base.jsonl replayed
        self._log_end = 0  # bytes of log.jsonl replayed or written: complete lines only
        self._log_lines = 0
        self._log_rows = 0  # rows in those log lines; compared with the live records to compact
        self._counted_records = 0  # the live records when last counted (see _commit)
        if self.path is not None and self.path.exists():
            if not self.path.is_dir():
                raise ValueError(f"{self.path}: not a folder; a memory store is a folder (memory:PATH)")
            self._load()

    def __repr__(self) -> str:
        return f"MemoryStore(path={str(self.path)!r}, nodes={self.graph.number_of_nodes()}, " \
               f"relationships={self.graph.number_of_edges()})"

    def __enter__(self) -> "MemoryStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----------------------------------------------------------------- reading the folder
    def _base_identity(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self.path / _BASE)
        except FileNotFoundError:
            return None
        return info.st_dev, info.st_ino

    def _load(self) -> None:
        """Replay base and log from scratch, starting over if a compaction interferes."""
        for _ in range(_READ_ATTEMPTS):
            if self._read_folder():
                self._vectors = {}
                self._load_vectors()
                return
            time.sleep(0.01)
        raise RuntimeError(f"{self.path}: base.jsonl was replaced {_READ_ATTEMPTS} times while reading it; "
                           "is a writer compacting in a loop?")

    def _read_folder(self) -> bool:
        """One attempt; False if ``base.jsonl`` was replaced meanwhile (the log may then be
        cut, so what was read is not a consistent state)."""
        self.graph = nx.MultiDiGraph()
        base_file, log_file = self.path / _BASE, self.path / _LOG
        try:
            base = open(base_file, "rb")
        except FileNotFoundError:
            base = None
        base_id = None
        try:
            if base is not None:
                info = os.fstat(base.fileno())
                base_id = (info.st_dev, info.st_ino)
                self._replay(base_file, base.read(), first_line=1)
            try:
                with open(log_file, "rb") as handle:
                    data = handle.read()
            except FileNotFoundError:
                data = b""
            end, lines, rows = self._replay(log_file, data, first_line=1)
            # base is still open here, so its inode cannot be reused by a newer base: an
            # unchanged (device, inode) means no compaction ran since it was opened.
            if self._base_identity() != base_id:
                return False
        except ValueError:
            if self._base_identity() != base_id:
                return False  # the log was cut and rewritten under this read: not corruption
            raise
        finally:
            if base is not None:
                base.close()
        self._base_id, self._log_end, self._log_lines, self._log_rows = base_id, end, lines, rows
        return True

    def _replay(self, file: Path, data: bytes, first_line: int) -> tuple[int, int, int]:
        """Apply the complete lines of ``data``; returns (bytes, lines, rows) applied. A tail
        without a newline is a write in progress or a torn one, never acknowledged: skipped."""
        end = data.rfind(b"\n") + 1
        lines = data[:end].split(b"\n")[:-1] if end else []
        rows = 0
        for number, line in enumerate(lines, first_line):
            try:
                record = json.loads(line)
                op, batch = record["op"], record["rows"]
            except (ValueError, KeyError, TypeError):
                raise ValueError(f"{file}:{number}: corrupt log record; the store folder was edited by hand?") from None
            self._apply(op, batch)
            rows += len(batch)
        return end, len(lines), rows

    # ----------------------------------------------------------------- writing the folder
    def _become_writer(self) -> None:
        """Take the writer lock (once), then catch up with the folder as it is now."""
        if self._lock is not None:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        lock = open(self.path / _LOCK, "a+b")
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    lock.close()
                    raise StoreLockedError(
                        f"{self.path}: another process is writing to this store and did not finish within "
                        f"{self.lock_timeout:g} s; wait for it to end, or use another folder") from None
                time.sleep(0.05)
        self._lock = lock
        try:
            self._catch_up()
            self._log = open(self.path / _LOG, "ab")
        except BaseException:
            self._release()
            raise

    def _catch_up(self) -> None:
        """Under the lock: replay what other writers appended since this store read the
        folder, and cut a torn tail (no one else can be writing it now)."""
        log_file = self.path / _LOG
        size = log_file.stat().st_size if log_file.exists() else 0
        if self._base_identity() != self._base_id or size < self._log_end:
            self._load()  # another writer compacted: read everything again
        else:
            if size > self._log_end:
                with open(log_file, "rb") as handle:
                    handle.seek(self._log_end)
                    end, lines, rows = self._replay(log_file, handle.read(), first_line=self._log_lines + 1)
                self._log_end += end
                self._log_lines += lines
                self._log_rows += rows
            self._vectors = {}
            self._load_vectors()  # another writer may have saved vectors since
        if size > self._log_end:
            os.truncate(log_file, self._log_end)

    def _commit(self, op: str, rows: list) -> None:
        """Append one batch durably (fsync before returning), apply it, compact if due."""
        if self.path is not None:
            self._become_writer()
            data = (json.dumps({"op": op, "rows": rows}, ensure_ascii=False) + "\n").encode("utf-8")
            self._log.write(data)
            self._log.flush()
            os.fsync(self._log.fileno())
            self._log_end += len(data)
            self._log_lines += 1
            self._log_rows += len(rows)
        self._apply(op, rows)
        # Counting the graph's edges walks all of them (80 ms on ml-100k-kg, most of a live
        # update), so recount only when the log could be due: it is compacted at twice the
        # live records, and they were at least ``_counted_records`` at the last count
        # (deletions since then only delay a compaction until the log grows again).
        if self.path is not None and self._log_rows > 2 * self._counted_records:
            self._counted_records = self._live_records()
            if self._log_rows > 2 * self._counted_records:
                self.compact()

    def _live_records(self) -> int:
        return self.graph.number_of_nodes() + self.graph.number_of_edges()

    def _release(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._lock is not None:
            self._lock.close()  # closing the file releases the flock
            self._lock = None

    def _apply(self, op: str, rows: list) -> None:
        if op == "nodes":
            self._apply_nodes(rows)
        elif op == "interactions":
            self._apply_interactions(rows)
        elif op == "relations":
            self._apply_relations(rows)
        elif op == "recommendations":
            self._apply_recommendations(rows)
        elif op == "delete_users":
            self._apply_delete_users(rows)
        else:
            raise ValueError(f"unknown log operation {op!r}")

    def compact(self) -> None:
        """Rewrite the whole graph as ``base.jsonl`` and empty the log, under the writer lock.

        Crash-safe in every order: the new base is fsync'ed and renamed into place (and the
        rename fsync'ed) before the log is cut, so a crash leaves either the old base with the
        full log or the new base with a log it already contains.
        """
        if self.path is None:
            return
        self._become_writer()
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
        folder = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
        os.ftruncate(self._log.fileno(), 0)  # opened with O_APPEND: later writes start at 0
        os.fsync(self._log.fileno())
        self._base_id = self._base_identity()
        self._log_end = self._log_lines = self._log_rows = 0

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
        for row in packed:  # the whole batch is checked before any of it is written
            if row[3] is not None:
                check_scenario(row[3])
        self._commit("nodes", packed)

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
        for row in packed:  # the whole batch is checked before any of it is written
            check_scenario(row[2]), check_scenario(row[3], "kind")
        self._commit("interactions", packed)

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
        self._commit("relations", packed)

    def _apply_relations(self, rows: list) -> None:
        for src_label, src, relation, dst_label, dst in rows:
            a, b = self._ensure_node(src_label, src), self._ensure_node(dst_label, dst)
            self.graph.add_edge(a, b, key=relation, type=relation)

    def fill_item_scenarios(self) -> int:
        rows = []
        # networkx's own dict: through in_edges() or the .pred view this took 7-10 s on ml-1m, 2.5 s here.
        predecessors = self.graph._pred
        for key, data in self.graph.nodes(data=True):
            if key[0] == ITEM and data.get("scenario") is None:
                counts = Counter(edge["scenario"] for by_key in predecessors[key].values()
                                 for edge in by_key.values() if edge["type"] == INTERACTED)
                if counts:
                    rows.append([ITEM, key[1], None, min(counts, key=lambda s: (-counts[s], s))])
        if rows:
            self._commit("nodes", rows)  # logged like any node upsert: durable, replayed on open
        return len(rows)

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
        """One node's properties.

        Args:
            label: ``"User"``, ``"Item"`` or ``"Entity"``.
            node_id: the node's id.

        Returns:
            ``{"id", "text", "scenario"}``, or ``None`` if there is no such node.
        """
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

    def delete_user(self, user_id: str) -> bool:
        if not self.graph.has_node((USER, user_id)):
            return False
        self._commit("delete_users", [user_id])
        if any(user_id in table for (label, _), table in self._vectors.items() if label == USER):
            for (label, _), table in self._vectors.items():
                if label == USER:
                    table.pop(user_id, None)
            self._save_vectors()
        return True

    def _apply_delete_users(self, rows: list) -> None:
        for user_id in rows:
            if self.graph.has_node((USER, user_id)):
                self.graph.remove_node((USER, user_id))  # and every relationship it has

    # ----------------------------------------------------------------- vectors and recommendations
    def write_vectors(self, label: str, ids: Sequence[str], vectors: np.ndarray, prop: str = "embedding") -> None:
        check_label(label)
        if self.path is not None:
            self._become_writer()  # before touching the table: catching up reloads it
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
        self._commit("recommendations", rows)

    def _apply_recommendations(self, rows: list) -> None:
        for model, user in {(row[0], row[1]) for row in rows}:
            u = (USER, user)
            if u in self.graph:
                stale = [(u, v, key) for _, v, key, data in self.graph.out_edges(u, keys=True, data=True)
                         if data["type"] == RECOMMENDED and data["model"] == model]
                self.graph.remove_edges_from(stale)
        for model, user, item, score, rank, at in rows:
            self.graph.add_edge(self._ensure_node(USER, user), self._ensure_node(ITEM, item),
                                key=(RECOMMENDED, model), type=RECOMMENDED,  # a tuple: no string key can equal it
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
        """Close the log and release the writer lock (if this store took it)."""
        self._release()
