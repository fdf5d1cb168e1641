"""The embedded, in-process store (the default): a networkx graph persisted to a folder.

User-item interactions (INTERACTED, by far the most relationships: 1M of ml-1m's 1.05M) are
not networkx edges but columns of numpy arrays (:class:`_Interactions`): a networkx edge
costs ~3.5 us and ~1 KiB to add, which capped ingestion at ~45k relationships/s. Every other
relationship is a networkx edge.

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
from itertools import repeat
from pathlib import Path
from typing import Iterable, Sequence

import networkx as nx
import numpy as np

from kg_recsys.schema import (
    DEFAULT_KIND, DEFAULT_SCENARIO, INTERACTED, ITEM, NODE_LABELS, RECOMMENDED, USER,
    InteractionRow, NodeRow, RelationRow, check_label, check_relation_name, check_scenario,
)
from kg_recsys.store.base import (Coded, EdgeType, GraphSnapshot, GraphStore, GraphTopology, InteractionColumns,
                                  InteractionTable, NodeTable, Recommendation)

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


def factorize(values: Sequence, mapping: dict, known: list) -> np.ndarray:
    """Integer codes of ``values`` in ``known`` (``mapping`` is value -> code), adding new ones."""
    codes = np.fromiter(map(mapping.get, values, repeat(-1)), np.int64, count=len(values))
    for n in np.flatnonzero(codes < 0).tolist():
        value = values[n]
        code = mapping.get(value)
        if code is None:
            code = mapping[value] = len(known)
            known.append(value)
        codes[n] = code
    return codes


def recode(column: Coded, mapping: dict, known: list) -> np.ndarray:
    """:func:`factorize` of a coded column: each distinct value looked up once."""
    return factorize(column.values, mapping, known)[column.codes] if len(column) else np.zeros(0, np.int64)


class _Interactions:
    """The INTERACTED relationships as columns: user, item, scenario and kind as codes into
    lists of their values, weight, timestamp (NaN where unknown). A row is one event,
    keyed like :func:`~kg_recsys.schema.interaction_key` (user, item, scenario, kind and the
    timestamp's bits, so ``-0.0`` and ``0.0`` stay two events as their keys' text does); rows
    keep the position of their first write, a later write of the same event sets its weight."""

    _COLUMNS = (("u", np.int64), ("i", np.int64), ("s", np.int64), ("k", np.int64), ("w", np.float64),
                ("t", np.float64))

    def __init__(self) -> None:
        self.users: list[str] = []
        self.items: list[str] = []
        self.scenarios: list[str] = []
        self.kinds: list[str] = []
        self._codes: tuple[dict, dict, dict, dict] = ({}, {}, {}, {})
        self.n = 0
        for name, dtype in self._COLUMNS:
            setattr(self, name, np.zeros(0, dtype))
        self._index: dict | None = None  # event key -> row; built at the first write that may merge

    def __len__(self) -> int:
        return self.n

    def column(self, name: str) -> np.ndarray:
        return getattr(self, name)[:self.n]

    def _keys(self, u, i, s, k, t) -> Iterable[tuple]:
        bits = np.where(np.isnan(t), -1, t.view(np.int64))  # -1 is a NaN pattern: no timestamp has it
        return zip(u.tolist(), i.tolist(), s.tolist(), k.tolist(), bits.tolist())

    def upsert(self, batch: InteractionColumns) -> None:
        users, items, scenarios, kinds, codes = self.users, self.items, self.scenarios, self.kinds, self._codes
        u, i = recode(batch.user_id, codes[0], users), recode(batch.item_id, codes[1], items)
        s, k = recode(batch.scenario, codes[2], scenarios), recode(batch.kind, codes[3], kinds)
        w = np.asarray(batch.weight, np.float64)
        t = np.asarray(batch.timestamp, np.float64)
        size, start = len(u), self.n
        if self._index is None:
            self._index = dict(zip(self._keys(*(self.column(c) for c, _ in self._COLUMNS[:4]), self.column("t")),
                                   range(start)))
        # One C-level pass: an event seen before maps to its row, a new one to its place in the batch.
        candidates = np.arange(start, start + size)
        rows = np.fromiter(map(self._index.setdefault, self._keys(u, i, s, k, t), candidates.tolist()), np.int64,
                           count=size)
        new = rows == candidates
        placed = start + np.cumsum(new) - 1  # where each new event goes: after the rows, in batch order
        if not new.all():
            moved = np.flatnonzero(new & (placed != candidates))
            if len(moved):
                keys = list(self._keys(u[moved], i[moved], s[moved], k[moved], t[moved]))
                for key, row in zip(keys, placed[moved].tolist()):
                    self._index[key] = row
                remap = np.full(size, -1, np.int64)  # candidate -> its final row, for repeats in the batch
                remap[np.flatnonzero(new)] = placed[new]
                inside = rows >= start
                rows[inside] = remap[rows[inside] - start]
        self._reserve(start + int(new.sum()))
        self.n = start + int(new.sum())
        fresh = np.flatnonzero(new)
        for name, values in (("u", u), ("i", i), ("s", s), ("k", k), ("t", t)):
            getattr(self, name)[rows[fresh]] = values[fresh]
        # A repeated event takes the weight of its last write (fancy assignment does not promise an order).
        if len(fresh) == size:
            self.w[rows] = w
        else:
            _, last = np.unique(rows[::-1], return_index=True)
            last = size - 1 - last
            self.w[rows[last]] = w[last]

    def _reserve(self, size: int) -> None:
        if size > len(self.u):
            capacity = max(size, 2 * len(self.u), 1024)
            for name, dtype in self._COLUMNS:
                grown = np.zeros(capacity, dtype)
                grown[:self.n] = getattr(self, name)[:self.n]
                setattr(self, name, grown)

    def keep(self, mask: np.ndarray) -> None:
        """Keep the rows where ``mask`` holds, in order."""
        for name, _ in self._COLUMNS:
            setattr(self, name, getattr(self, name)[:self.n][mask])
        self.n = int(mask.sum())
        self._index = None

    def code(self, which: int, value: str) -> int | None:
        return self._codes[which].get(value)

    def columns(self, rows: np.ndarray | None = None) -> InteractionColumns:
        """Rows (default: all, in order) as :class:`InteractionColumns`."""
        take = slice(0, self.n) if rows is None else rows
        return InteractionColumns(Coded(self.users, self.u[take]), Coded(self.items, self.i[take]),
                                  Coded(self.scenarios, self.s[take]), Coded(self.kinds, self.k[take]),
                                  self.w[take].copy(), self.t[take].copy())


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
        self._interactions = _Interactions()
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
               f"relationships={self.graph.number_of_edges() + len(self._interactions)})"

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
        self._interactions = _Interactions()
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
            rows += _record_rows(op, batch)
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

    def _commit(self, op: str, rows: list | dict, columns: InteractionColumns | None = None) -> None:
        """Append one batch durably (fsync before returning), apply it, compact if due.
        ``columns``: the interaction batch that the record ``rows`` encodes, applied as it is."""
        if self.path is not None:
            self._become_writer()
            data = (json.dumps({"op": op, "rows": rows}, ensure_ascii=False) + "\n").encode("utf-8")
            self._log.write(data)
            self._log.flush()
            os.fsync(self._log.fileno())
            self._log_end += len(data)
            self._log_lines += 1
            self._log_rows += _record_rows(op, rows)
        if columns is not None:
            self._apply_interaction_columns(columns)
        else:
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
        return self.graph.number_of_nodes() + self.graph.number_of_edges() + len(self._interactions)

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
        elif op == "interaction_columns":
            self._apply_interaction_columns(_decode_columns(rows))
        elif op == "interactions":  # the row records of logs written before the columns
            self._apply_interaction_columns(_columns_from_rows(rows))
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
            relations, recommendations = [], []
            for (src_label, src), (dst_label, dst), key, data in self.graph.edges(keys=True, data=True):
                kind = data["type"]
                if kind == RECOMMENDED:
                    recommendations.append([data["model"], src, dst, data["score"], data["rank"], data["at"]])
                else:
                    relations.append([src_label, src, kind, dst_label, dst])
            interactions, _ = _encode_columns(self._interactions.columns())
            for op, rows in (("interaction_columns", interactions), ("relations", relations),
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
        self.upsert_interaction_columns(_columns_from_rows(rows))

    def upsert_interaction_columns(self, columns: InteractionColumns) -> None:
        """:meth:`upsert_interactions` for a batch given as columns: the bulk write path (ingestion
        of a large file uses it), one log record and a few numpy passes per batch.

        Args:
            columns: the batch, scenario and kind filled in.
        """
        if not len(columns):
            return
        record, columns = _encode_columns(columns)
        for what in ("scenario", "kind"):
            # the whole batch is checked before any of it is written; each distinct value once
            for value in getattr(columns, what).values:
                check_scenario(value, what)
        self._commit("interaction_columns", record, columns)

    def _apply_interaction_columns(self, columns: InteractionColumns) -> None:
        if not len(columns):
            return
        nodes = self.graph._node
        if any((USER, u) not in nodes for u in columns.user_id.values) or \
                any((ITEM, i) not in nodes for i in columns.item_id.values):  # (compact: every value is used)
            # Nodes an interaction creates are added as its rows name them, user before item,
            # as one edge at a time did: node order is the snapshot's row order.
            for user, item in zip(columns.user_id.tolist(), columns.item_id.tolist()):
                self._ensure_node(USER, user), self._ensure_node(ITEM, item)
        self._interactions.upsert(columns)

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
        table = self._interactions
        counts: dict[str, Counter] = {}
        if len(table):
            pairs, tally = np.unique(table.column("i") * len(table.scenarios) + table.column("s"), return_counts=True)
            for pair, count in zip(pairs.tolist(), tally.tolist()):
                item, scenario = divmod(pair, len(table.scenarios))
                counts.setdefault(table.items[item], Counter())[table.scenarios[scenario]] = count
        for key, data in self.graph.nodes(data=True):
            if key[0] == ITEM and data.get("scenario") is None:
                found = counts.get(key[1])
                if found:
                    rows.append([ITEM, key[1], None, min(found, key=lambda s: (-found[s], s))])
        if rows:
            self._commit("nodes", rows)  # logged like any node upsert: durable, replayed on open
        return len(rows)

    # ----------------------------------------------------------------- reads
    def counts(self) -> dict[str, dict[str, int]]:
        nodes = Counter(label for label, _ in self.graph.nodes)
        relationships = Counter(data for _, _, data in self.graph.edges(data="type"))
        if len(self._interactions):
            relationships[INTERACTED] = len(self._interactions)
        return {"nodes": {label: nodes.get(label, 0) for label in NODE_LABELS},
                "relationships": dict(sorted(relationships.items()))}

    def has_relationship(self, src_label: str, src_id: str, relation: str, dst_label: str, dst_id: str) -> bool:
        check_label(src_label), check_label(dst_label), check_relation_name(relation)
        a, b = (src_label, src_id), (dst_label, dst_id)
        if relation == INTERACTED:
            return self._has_interaction(a, b) or self._has_interaction(b, a)
        for x, y in ((a, b), (b, a)):
            if self.graph.has_node(x) and self.graph.has_node(y):
                for data in self.graph.get_edge_data(x, y, default={}).values():
                    if data["type"] == relation:
                        return True
        return False

    def _has_interaction(self, user: tuple[str, str], item: tuple[str, str]) -> bool:
        table = self._interactions
        if user[0] != USER or item[0] != ITEM:
            return False
        u, i = table.code(0, user[1]), table.code(1, item[1])
        return u is not None and i is not None and bool(np.any((table.column("u") == u) & (table.column("i") == i)))

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
        interactions = self._interaction_table(index) if len(self._interactions) else InteractionTable.empty()
        return GraphSnapshot(built[USER], built[ITEM], built["Entity"], interactions, self._relation_arrays(index))

    def topology(self) -> GraphTopology:
        ids: dict[str, list[str]] = {label: [] for label in NODE_LABELS}
        for label, node_id in self.graph.nodes:  # node order is the snapshot's row order
            ids[label].append(node_id)
        index = {label: {node_id: n for n, node_id in enumerate(v)} for label, v in ids.items()}
        table = self._interactions
        user_row = np.asarray([index[USER].get(user, -1) for user in table.users], np.int64)[table.column("u")]
        item_row = np.asarray([index[ITEM].get(item, -1) for item in table.items], np.int64)[table.column("i")]
        scenario = np.asarray(table.scenarios, dtype=str)[table.column("s")] if len(table) else np.zeros(0, dtype=str)
        tables = {label: np.asarray(v, dtype=str) if v else np.zeros(0, dtype=str) for label, v in ids.items()}
        return GraphTopology(tables, (user_row, item_row, scenario), self._relation_arrays(index))

    def _relation_arrays(self, index: dict[str, dict[str, int]]) -> dict[EdgeType, tuple[np.ndarray, np.ndarray]]:
        """Every networkx edge but RECOMMENDED, as index arrays per (src label, type, dst label)."""
        relations: dict[tuple[str, str, str], tuple[list, list]] = {}
        for (src_label, src), (dst_label, dst), data in self.graph.edges(data=True):
            kind = data["type"]
            if kind != RECOMMENDED:
                a, b = relations.setdefault((src_label, kind, dst_label), ([], []))
                a.append(index[src_label][src]), b.append(index[dst_label][dst])
        return {t: (np.asarray(a, np.int64), np.asarray(b, np.int64)) for t, (a, b) in relations.items()}

    def _interaction_table(self, index: dict[str, dict[str, int]]) -> InteractionTable:
        """The interactions in the order networkx kept them as edges (the order snapshots always
        had): by user in node order, a user's items in the order they were first interacted
        with, an item's events in the order they were first written."""
        table = self._interactions
        u, i = table.column("u"), table.column("i")
        # A deleted user keeps its code (and no rows): -1 is never taken.
        user_row = np.asarray([index[USER].get(user, -1) for user in table.users], np.int64)[u]
        item_row = np.asarray([index[ITEM].get(item, -1) for item in table.items], np.int64)[i]
        _, first, inverse = np.unique(u * len(table.items) + i, return_index=True, return_inverse=True)
        order = np.lexsort((np.arange(len(u)), first[inverse], user_row))
        scenarios, kinds = np.asarray(table.scenarios, dtype=str), np.asarray(table.kinds, dtype=str)
        return InteractionTable(user_row[order], item_row[order], scenarios[table.column("s")[order]],
                                kinds[table.column("k")[order]], table.column("w")[order].astype(np.float32),
                                table.column("t")[order])

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
                code = self._interactions.code(0, user_id)
                if code is not None:
                    self._interactions.keep(self._interactions.column("u") != code)

    # ----------------------------------------------------------------- vectors and recommendations
    def write_vectors(self, label: str, ids: Sequence[str], vectors: np.ndarray, prop: str = "embedding") -> None:
        check_label(label)
        if self.path is not None:
            self._become_writer()  # before touching the table: catching up reloads it
        table = self._vectors.setdefault((label, prop), {})
        for node_id, vector in zip(ids, np.asarray(vectors, dtype=np.float32)):
            table[node_id] = vector
        self._save_vectors()

    def read_vectors(self, label: str, ids: Sequence[str], prop: str = "embedding") -> tuple[np.ndarray, np.ndarray]:
        table = self._vectors.get((check_label(label), prop), {})
        size = self.vector_size(label, prop)
        vectors, found = np.zeros((len(ids), size), np.float32), np.zeros(len(ids), bool)
        for n, node_id in enumerate(ids):
            vector = table.get(node_id)
            if vector is not None:
                vectors[n], found[n] = vector, True
        return vectors, found

    def vector_size(self, label: str, prop: str = "embedding") -> int:
        table = self._vectors.get((check_label(label), prop), {})
        return len(next(iter(table.values()))) if table else 0

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


# ----------------------------------------------------------------- interaction log records
def _columns_from_rows(rows: Sequence[InteractionRow]) -> InteractionColumns:
    """Rows (dicts, or the ``[user, item, scenario, kind, weight, timestamp]`` lists of an old
    log record) as columns, defaults filled in."""
    if rows and not isinstance(rows[0], dict):
        rows = [dict(zip(("user_id", "item_id", "scenario", "kind", "weight", "timestamp"), row)) for row in rows]
    return InteractionColumns(
        Coded.of([r["user_id"] for r in rows]), Coded.of([r["item_id"] for r in rows]),
        Coded.of([r.get("scenario") or DEFAULT_SCENARIO for r in rows]),
        Coded.of([r.get("kind") or DEFAULT_KIND for r in rows]),
        np.asarray([1.0 if r.get("weight") is None else float(r["weight"]) for r in rows], np.float64),
        np.asarray([np.nan if r.get("timestamp") is None else float(r["timestamp"]) for r in rows], np.float64))


def _encode_columns(columns: InteractionColumns) -> tuple[dict, InteractionColumns]:
    """An ``interaction_columns`` log record, and the columns it holds: each string column
    ``{"values", "codes"}`` with only the values its rows use (or one string, when every row
    has the same); weight and timestamp JSON lists, an unknown timestamp ``null``."""
    record, compact = {}, {}
    for name in ("user_id", "item_id", "scenario", "kind"):
        column = getattr(columns, name)
        used, codes = np.unique(column.codes, return_inverse=True)
        values = [column.values[n] for n in used.tolist()]
        compact[name] = Coded(values, codes.reshape(-1))
        record[name] = values[0] if len(values) == 1 else {"values": values, "codes": codes.reshape(-1).tolist()}
    record["weight"] = np.asarray(columns.weight, np.float64).tolist()
    stamps = np.asarray(columns.timestamp, np.float64)
    missing = np.isnan(stamps)
    record["timestamp"] = stamps.tolist() if not missing.any() else \
        [None if gone else t for t, gone in zip(stamps.tolist(), missing.tolist())]
    return record, InteractionColumns(compact["user_id"], compact["item_id"], compact["scenario"], compact["kind"],
                                      np.asarray(columns.weight, np.float64), stamps)


def _decode_columns(record: dict) -> InteractionColumns:
    size = len(record["weight"])
    coded = [Coded([value], np.zeros(size, np.int64)) if isinstance(value, str) else
             Coded(value["values"], np.asarray(value["codes"], np.int64))
             for value in (record[name] for name in ("user_id", "item_id", "scenario", "kind"))]
    stamps = np.asarray(record["timestamp"], np.float64)  # null (None) becomes NaN
    return InteractionColumns(*coded, np.asarray(record["weight"], np.float64), stamps)


def _record_rows(op: str, rows) -> int:
    """The rows a log record holds (compaction compares them with the live records)."""
    return len(rows["weight"]) if op == "interaction_columns" else len(rows)
