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
``""`` stays an empty string. Interactions stream to disk as they arrive; nodes (few) are kept
in memory and written by :meth:`Neo4jImportWriter.finish`. Repeats are found by 64-bit hashes,
as the ingest runner's own de-duplication does, so a million interactions cost tens of MB.
"""
from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from kg_recsys.schema import (
    DEFAULT_KIND, DEFAULT_SCENARIO, INTERACTED, ITEM, NODE_LABELS, USER, InteractionRow, NodeRow, RelationRow,
    SchemaError, check_label, check_relation_name, check_scenario, interaction_key,
)

INTERACTIONS_FILE = "interactions.csv"
_NO_PROPERTIES: tuple[None, None] = (None, None)
_INTERACTIONS_HEADER = (f":START_ID({USER}),:END_ID({ITEM}),key,scenario,kind,weight:double,timestamp:double")


def _text(value: str | None) -> str:
    """One CSV field: ``None`` empty and unquoted (no property), any string quoted."""
    if value is None:
        return ""
    return '"' + value.replace('"', '""') + '"'


def _number(value: float | None, what: str) -> str:
    if value is None:
        return ""
    if not math.isfinite(value):
        raise SchemaError(f"{what} {value!r} cannot be bulk-imported: it must be a finite number")
    return repr(value)  # shortest text that parses back to the same double


@dataclass(frozen=True)
class ImportFiles:
    """The CSV files of one import, as ``neo4j-admin database import full`` takes them."""

    #: ``(label, file)`` per node file.
    nodes: list[tuple[str, Path]]
    #: ``(type or None, file)`` per relationship file; ``None``: the file has a ``:TYPE`` column.
    relationships: list[tuple[str | None, Path]]
    #: Files with a value that spans lines (the importer must parse them slower, as multi-line).
    multiline: list[Path] = field(default_factory=list)


class Neo4jImportWriter:
    """Writes import CSVs into ``folder`` (created; it should be empty). Use it as an ingest
    target, then call :meth:`finish` once for the files."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._nodes: dict[str, dict[str, tuple[str | None, str | None]]] = {label: {} for label in NODE_LABELS}
        self._interactions = open(self.folder / INTERACTIONS_FILE, "w", encoding="utf-8", newline="")
        self._interactions.write(_INTERACTIONS_HEADER + "\n")
        self._interaction_seen: set[int] = set()
        #: ``(scenario, kind)`` -> their two CSV fields, for the pairs already checked.
        self._fields: dict[tuple[str, str], str] = {}
        #: Weight of a repeated interaction key, applied to its line by finish().
        self._later_weight: dict[int, float] = {}
        self._relations: dict[tuple[str, str], object] = {}
        self._relation_seen: set[int] = set()
        self._relation_counts: Counter[str] = Counter()
        #: Interactions per (item, scenario), for :meth:`fill_item_scenarios`.
        self._item_scenarios: Counter[tuple[str, str]] = Counter()
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
        # The store checks every row's scenario and kind; the distinct pairs are few, so each is
        # checked once (the whole batch before any of it is kept, as in the store).
        pairs = {(r.get("scenario") or DEFAULT_SCENARIO, r.get("kind") or DEFAULT_KIND) for r in rows}
        for scenario, kind in pairs - self._fields.keys():
            check_scenario(scenario), check_scenario(kind, "kind")
        for pair in pairs - self._fields.keys():
            self._fields[pair] = f"{_text(pair[0])},{_text(pair[1])}"
        users, items, seen, fields = self._nodes[USER], self._nodes[ITEM], self._interaction_seen, self._fields
        item_scenarios = self._item_scenarios
        lines = []
        for r in rows:  # the hot loop of a bulk load: one pass, locals, no calls it can avoid
            scenario, kind = r.get("scenario") or DEFAULT_SCENARIO, r.get("kind") or DEFAULT_KIND
            weight = float(r["weight"]) if r.get("weight") is not None else 1.0
            timestamp = None if r.get("timestamp") is None else float(r["timestamp"])
            key = interaction_key(scenario, kind, timestamp)
            user, item = r["user_id"], r["item_id"]
            users.setdefault(user, _NO_PROPERTIES), items.setdefault(item, _NO_PROPERTIES)
            h = hash((user, item, key))
            if h in seen:
                self._later_weight[h] = weight
                continue
            seen.add(h)
            item_scenarios[item, scenario] += 1
            lines.append(f"{_text(user)},{_text(item)},{_text(key)},{fields[scenario, kind]},"
                         f"{_number(weight, 'weight')},{_number(timestamp, 'timestamp')}\n")
        self._interactions.writelines(lines)

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
        by_item: dict[str, Counter[str]] = {}
        for (item, scenario), count in self._item_scenarios.items():
            by_item.setdefault(item, Counter())[scenario] += count
        items, filled = self._nodes[ITEM], 0
        for item, counts in by_item.items():
            text, scenario = items.get(item, _NO_PROPERTIES)
            if scenario is None:
                items[item] = (text, min(counts, key=lambda s: (-counts[s], s)))
                filled += 1
        return filled

    def counts(self) -> dict[str, dict[str, int]]:
        """What the files hold, in :meth:`Neo4jStore.counts`'s shape."""
        relationships = dict(self._relation_counts)
        if self._interaction_seen:
            relationships[INTERACTED] = len(self._interaction_seen)
        return {"nodes": {label: len(self._nodes[label]) for label in NODE_LABELS},
                "relationships": dict(sorted(relationships.items()))}

    def close(self) -> None:
        self._interactions.close()
        for handle in self._relations.values():
            handle.close()

    # ------------------------------------------------------------- the files
    def finish(self) -> ImportFiles:
        """Close the streams, apply the weights of repeated interactions, write the node files."""
        if self._files is not None:
            return self._files
        self.close()
        if self._later_weight:
            self._apply_later_weights()
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

    def _apply_later_weights(self) -> None:
        """Rewrite the lines of interactions whose key came again with the later weight (rare: the
        ingest runner drops exact repeats before they get here)."""
        import csv

        source = self.folder / INTERACTIONS_FILE
        rewritten = source.with_name(INTERACTIONS_FILE + ".tmp")
        with open(source, encoding="utf-8", newline="") as old, open(rewritten, "w", encoding="utf-8", newline="") as new:
            new.write(old.readline())
            for line in old:
                user, item, key, scenario, kind, weight, timestamp = next(csv.reader([line]))
                later = self._later_weight.get(hash((user, item, key)))
                if later is not None:
                    line = (f"{_text(user)},{_text(item)},{_text(key)},{_text(scenario)},{_text(kind)},"
                            f"{_number(later, 'weight')},{timestamp}\n")
                new.write(line)
        os.replace(rewritten, source)
