"""CSV files for Neo4j's offline importer (``neo4j-admin database import full``), holding exactly
the graph that :class:`~kg_recsys.store.neo4j.Neo4jStore` writes for the same rows.

:class:`Neo4jImportWriter` is the write half of a :class:`~kg_recsys.store.base.GraphStore`
(``ensure_schema``, ``upsert_nodes``, ``upsert_interactions``, ``upsert_relations``, ``counts``),
so :func:`ingest.runner.ingest_source` drives it through the same readers, validation and
rejects as a transactional ingest. It mirrors the store's rules:

* nodes: one per (label, ``id``); a ``None`` text or scenario never erases a known one, a later
  non-``None`` one replaces it (``SET n.text = coalesce(row.text, n.text)``); the endpoints of
  interactions and relations are nodes too, with only their ``id``;
* ``INTERACTED``: one per (user, item, :func:`~kg_recsys.schema.interaction_key`) with ``key``,
  ``scenario``, ``kind``, ``weight`` (float) and ``timestamp`` (float, absent when ``None``); a
  repeated key keeps the first row's scenario, kind and timestamp (they are part of the key)
  and the last row's weight, as the store's ``SET r.weight`` does;
* other relations: one per (source, type, destination), no properties.

Files (UTF-8, RFC 4180 quoting, a header line each): ``nodes-<Label>.csv``
(``id:ID(<Label>),text,scenario``: one id space per label, so a user and an item may share an
id), ``interactions.csv`` and ``relations-<Src>-<Dst>.csv`` (with a ``:TYPE`` column). A
``None`` is an empty unquoted field, which the importer leaves out; every string is quoted, so
``""`` stays an empty string. Interactions are kept as coded numpy columns (as the embedded
store keeps them), their repeats merged by one sort, and ``interactions.csv`` is written from the
columns by pyarrow in :meth:`Neo4jImportWriter.finish`; nodes (few) are kept in a dict, relations
(few) stream to their files as they arrive (repeats found by 64-bit hashes, as the ingest runner's
own de-duplication does).
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from kg_recsys.schema import (
    INTERACTED, ITEM, NODE_LABELS, USER, InteractionRow, NodeRow, RelationRow, SchemaError, check_label,
    check_relation_name, check_scenario, interaction_key,
)
from kg_recsys.store.base import InteractionColumns
from kg_recsys.store.memory import _columns_from_rows, recode

INTERACTIONS_FILE = "interactions.csv"
_NO_PROPERTIES: tuple[None, None] = (None, None)
_INTERACTIONS_HEADER = (f":START_ID({USER}),:END_ID({ITEM}),key,scenario,kind,weight:double,timestamp:double")


def _text(value: str | None) -> str:
    """One CSV field: ``None`` empty and unquoted (no property), any string quoted."""
    if value is None:
        return ""
    return '"' + value.replace('"', '""') + '"'


@dataclass(frozen=True)
class ImportFiles:
    """The CSV files of one import, as ``neo4j-admin database import full`` takes them."""

    #: ``(label, file)`` per node file.
    nodes: list[tuple[str, Path]]
    #: ``(type or None, file)`` per relationship file; ``None``: the file has a ``:TYPE`` column.
    relationships: list[tuple[str | None, Path]]
    #: Files with a value that spans lines (the importer must parse them slower, as multi-line).
    multiline: list[Path] = field(default_factory=list)


class _Interactions:
    """The INTERACTED relationships of an import as coded columns (user, item, scenario and kind
    as codes into lists of their values; weight; timestamp, NaN where unknown), as the embedded
    store keeps them. Batches are appended as they come; :meth:`settle` merges the repeats of an
    event (user, item, scenario, kind and the timestamp's bits, i.e. the same
    :func:`~kg_recsys.schema.interaction_key`) with one stable sort: the first row keeps its
    place, scenario, kind and timestamp, the last row's weight wins (the store's ``SET r.weight``)."""

    def __init__(self) -> None:
        self.values: tuple[list, list, list, list] = ([], [], [], [])  # users, items, scenarios, kinds
        self._maps: tuple[dict, dict, dict, dict] = ({}, {}, {}, {})
        self._parts: list[tuple[np.ndarray, ...]] = []
        self._settled: tuple[np.ndarray, ...] | None = None

    def add(self, columns: InteractionColumns) -> tuple[np.ndarray, ...]:
        """Append a (checked) batch; returns its codes ``(u, i, s, k)``."""
        codes = tuple(recode(getattr(columns, name), mapping, known) for name, mapping, known in
                      zip(("user_id", "item_id", "scenario", "kind"), self._maps, self.values))
        self._parts.append((*codes, np.asarray(columns.weight, np.float64), np.asarray(columns.timestamp, np.float64)))
        return codes

    def settle(self) -> tuple[np.ndarray, ...]:
        """The columns ``(u, i, s, k, w, t)``, one row per event, in the order of first writes."""
        if not self._parts:
            if self._settled is None:
                self._settled = tuple(np.zeros(0, dtype) for dtype in (np.int64,) * 4 + (np.float64,) * 2)
            return self._settled
        parts = ([self._settled] if self._settled is not None else []) + self._parts
        u, i, s, k, w, t = (np.concatenate(column) for column in zip(*parts))
        self._parts = []
        bits = np.where(np.isnan(t), -1, t.view(np.int64))  # -1 is a NaN pattern: no timestamp has it
        order = np.lexsort((bits, k, s, i, u))  # stable: within an event, rows stay in write order
        keys = [column[order] for column in (u, i, s, k, bits)]
        first = np.zeros(len(order), bool)
        first[:1] = True
        for column in keys:
            first[1:] |= column[1:] != column[:-1]
        if not first.all():
            last = np.append(first[1:], True)
            rows, weight = order[first], w[order[last]]
            place = np.argsort(rows, kind="stable")
            rows, weight = rows[place], weight[place]
            u, i, s, k, t, w = u[rows], i[rows], s[rows], k[rows], t[rows], weight
        self._settled = (u, i, s, k, w, t)
        return self._settled


class Neo4jImportWriter:
    """Writes import CSVs into ``folder`` (created; it should be empty). Use it as an ingest
    target, then call :meth:`finish` once for the files."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._nodes: dict[str, dict[str, tuple[str | None, str | None]]] = {label: {} for label in NODE_LABELS}
        self._interactions = _Interactions()
        #: ``(what, value)`` of the scenarios and kinds already checked.
        self._checked: set[tuple[str, str]] = set()
        self._relations: dict[tuple[str, str], object] = {}
        self._relation_seen: set[int] = set()
        self._relation_counts: Counter[str] = Counter()
        self._files: ImportFiles | None = None

    # ------------------------------------------------------------- the GraphStore write half
    def ensure_schema(self) -> None:
        """Nothing to do: constraints and indexes are created after the import."""

    def upsert_nodes(self, label: str, rows: Sequence[NodeRow]) -> None:
        label = check_label(label)
        rows = list(rows)
        for r in rows:  # the whole batch is checked before any of it is kept, as in the store
            if r.get("scenario") is not None:
                check_scenario(r["scenario"])
        nodes = self._nodes[label]
        for r in rows:
            text, scenario = nodes.get(r["id"], (None, None))
            nodes[r["id"]] = (r.get("text") if r.get("text") is not None else text,
                              r.get("scenario") if r.get("scenario") is not None else scenario)

    def _endpoint(self, label: str, node_id: str) -> None:
        self._nodes[label].setdefault(node_id, _NO_PROPERTIES)

    def upsert_interactions(self, rows: Sequence[InteractionRow]) -> None:
        rows = list(rows)
        for r in rows:  # a NaN is "no timestamp" in columns; in a row it is a value the importer cannot take
            stamp = r.get("timestamp")
            if stamp is not None and float(stamp) != float(stamp):
                raise SchemaError(f"timestamp {stamp!r} cannot be bulk-imported: it must be a finite number")
        self.upsert_interaction_columns(_columns_from_rows(rows))

    def upsert_interaction_columns(self, columns: InteractionColumns) -> None:
        """:meth:`upsert_interactions` for a batch given as columns (the ingest runner's bulk path):
        checked whole first (each distinct scenario and kind once), then kept as codes."""
        if not len(columns):
            return
        used = {name: np.unique(getattr(columns, name).codes) for name in ("user_id", "item_id", "scenario", "kind")}
        for what in ("scenario", "kind"):
            values = getattr(columns, what).values
            for value in (values[n] for n in used[what].tolist()):
                if (what, value) not in self._checked:
                    check_scenario(value, what)
                    self._checked.add((what, value))
        weight, timestamp = np.asarray(columns.weight, np.float64), np.asarray(columns.timestamp, np.float64)
        for what, values, bad in (("weight", weight, ~np.isfinite(weight)), ("timestamp", timestamp, np.isinf(timestamp))):
            if bad.any():
                value = float(values[bad][0])
                raise SchemaError(f"{what} {value!r} cannot be bulk-imported: it must be a finite number")
        self._interactions.add(columns)
        for label, name in ((USER, "user_id"), (ITEM, "item_id")):
            nodes, values = self._nodes[label], getattr(columns, name).values
            for n in used[name].tolist():
                nodes.setdefault(values[n], _NO_PROPERTIES)

    def upsert_relations(self, rows: Sequence[RelationRow]) -> None:
        checked = [(check_label(r["src_label"]), r["src_id"], check_relation_name(r["relation"]),
                    check_label(r["dst_label"]), r["dst_id"]) for r in rows]  # all checked before any is kept
        for src_label, src, relation, dst_label, dst in checked:
            self._endpoint(src_label, src), self._endpoint(dst_label, dst)
            h = hash((src_label, src, relation, dst_label, dst))
            if h in self._relation_seen:
                continue  # MERGE: the same relationship again
            self._relation_seen.add(h)
            handle = self._relations.get((src_label, dst_label))
            if handle is None:
                handle = open(self.folder / f"relations-{src_label}-{dst_label}.csv", "w", encoding="utf-8", newline="")
                handle.write(f":START_ID({src_label}),:END_ID({dst_label}),:TYPE\n")
                self._relations[(src_label, dst_label)] = handle
            handle.write(f"{_text(src)},{_text(dst)},{_text(relation)}\n")
            self._relation_counts[relation] += 1

    def fill_item_scenarios(self) -> int:
        """As :meth:`GraphStore.fill_item_scenarios`: an item without a scenario gets the one
        most of its interactions are in (a tie to the first name), before the files are written.

        Returns:
            The number of items given a scenario.
        """
        _, i, s, _, _, _ = self._interactions.settle()
        item_names, scenario_names = self._interactions.values[1], self._interactions.values[2]
        pairs, counts = np.unique(i * max(len(scenario_names), 1) + s, return_counts=True)
        by_item: dict[str, Counter[str]] = {}
        for pair, count in zip(pairs.tolist(), counts.tolist()):
            item, scenario = divmod(pair, max(len(scenario_names), 1))
            by_item.setdefault(item_names[item], Counter())[scenario_names[scenario]] += count
        items, filled = self._nodes[ITEM], 0
        for item, counts_of in by_item.items():
            text, scenario = items.get(item, _NO_PROPERTIES)
            if scenario is None:
                items[item] = (text, min(counts_of, key=lambda name: (-counts_of[name], name)))
                filled += 1
        return filled

    def counts(self) -> dict[str, dict[str, int]]:
        """What the files hold, in :meth:`Neo4jStore.counts`'s shape."""
        relationships = dict(self._relation_counts)
        interactions = len(self._interactions.settle()[0])
        if interactions:
            relationships[INTERACTED] = interactions
        return {"nodes": {label: len(self._nodes[label]) for label in NODE_LABELS},
                "relationships": dict(sorted(relationships.items()))}

    def close(self) -> None:
        for handle in self._relations.values():
            handle.close()

    # ------------------------------------------------------------- the files
    def finish(self) -> ImportFiles:
        """Close the streams, write the interactions and node files; returns the files."""
        if self._files is not None:
            return self._files
        self.close()
        self._write_interactions(self.folder / INTERACTIONS_FILE)
        nodes, multiline = [], []
        for label in NODE_LABELS:
            path = self.folder / f"nodes-{label}.csv"
            spans_lines = False
            with open(path, "w", encoding="utf-8", newline="") as handle:
                handle.write(f"id:ID({label}),text,scenario\n")
                for node_id, (text, scenario) in self._nodes[label].items():
                    spans_lines = spans_lines or (text is not None and ("\n" in text or "\r" in text))
                    handle.write(f"{_text(node_id)},{_text(text)},{_text(scenario)}\n")
            nodes.append((label, path))
            if spans_lines:
                multiline.append(path)
        relationships: list[tuple[str | None, Path]] = [(INTERACTED, self.folder / INTERACTIONS_FILE)]
        relationships += [(None, Path(handle.name)) for handle in self._relations.values()]
        self._files = ImportFiles(nodes, relationships, multiline)
        return self._files

    def _write_interactions(self, path: Path) -> None:
        """``interactions.csv`` from the columns, by pyarrow: ids, scenario and kind as dictionary
        arrays (each distinct string once), the key as one too (a distinct (scenario, kind,
        timestamp) is formatted once, by :func:`~kg_recsys.schema.interaction_key`'s rules),
        weight and timestamp as doubles (pyarrow writes the shortest text that parses back to
        the same double; a NaN timestamp is a null, an empty field)."""
        import pyarrow as pa
        import pyarrow.csv as pa_csv

        u, i, s, k, w, t = self._interactions.settle()
        users, items, scenarios, kinds = self._interactions.values
        pair, pair_code = np.unique(s * max(len(kinds), 1) + k, return_inverse=True)
        prefixes = [interaction_key(scenarios[p // max(len(kinds), 1)], kinds[p % max(len(kinds), 1)], None)
                    for p in pair.tolist()]
        bits = np.where(np.isnan(t), -1, t.view(np.int64))
        stamp_bits, stamp_code = np.unique(bits, return_inverse=True)
        stamps = ["" if b == -1 else repr(f) for b, f in
                  zip(stamp_bits.tolist(), stamp_bits.view(np.float64).tolist())]
        key, key_code = np.unique(stamp_code.reshape(-1) * max(len(prefixes), 1) + pair_code.reshape(-1),
                                  return_inverse=True)
        keys = [prefixes[c % max(len(prefixes), 1)] + stamps[c // max(len(prefixes), 1)] for c in key.tolist()]

        def coded(codes, values):
            return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int64()), pa.array(values, pa.string()))

        table = pa.table([coded(u, users), coded(i, items), coded(key_code.reshape(-1), keys), coded(s, scenarios),
                          coded(k, kinds), pa.array(w, pa.float64()), pa.array(t, pa.float64(), mask=np.isnan(t))],
                         names=["u", "i", "key", "scenario", "kind", "weight", "timestamp"])
        with open(path, "wb") as handle:
            handle.write((_INTERACTIONS_HEADER + "\n").encode("utf-8"))
            pa_csv.write_csv(table, handle, pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
