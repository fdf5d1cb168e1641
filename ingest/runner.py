"""Stream a source's canonical rows into a GraphStore, in batches, idempotently.

Order: nodes, then interactions, then relations, each in batches of ``batch_size``; then
items without a scenario take their interactions' (:meth:`GraphStore.fill_item_scenarios`).
A source with ``interaction_columns`` (a canonical folder, ml-1m: :mod:`ingest.fast`) gives its
interactions as columns, and a store with ``upsert_interaction_columns`` (the memory store)
takes them so, without a dict per row; the rows, duplicates and rejects are the same.
Every batch is one store write; the stores MERGE, so running the same ingestion again
changes no count, and a run that crashed is completed by running it again (every batch a
store acknowledged is durable; the re-run re-sends the rest).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from tqdm import tqdm

from kg_recsys.schema import NODE_LABELS
from kg_recsys.store.base import GraphSnapshot, GraphStore
from kg_recsys.store.memory import recode
from ingest.base import IngestError, Rejects, Source, batched

log = logging.getLogger("ingest")

#: Bump when a reader changes what it produces, so cached snapshots are rebuilt.
CACHE_VERSION = 2  # 2: items get their interactions' scenario
DEFAULT_CACHE_DIR = ".kgrec/cache"
RDF_SUFFIXES = {".ttl": "turtle", ".nt": "nt"}


@dataclass
class IngestSummary:
    """What one ingestion did.

    ``nodes`` and ``relationships`` are the store's counts after the run (by label and by
    relationship type). ``rows_read`` counts canonical rows the source produced, rejected
    ones included; ``duplicates`` counts rows that repeat a node id (from a node file) or an
    edge already produced by this source, which the store merges.
    """

    source: str
    nodes: dict[str, int]
    relationships: dict[str, int]
    rows_read: int
    rejected: int
    duplicates: int
    rejects_file: str | None
    seconds: float

    def to_json(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False)


# ------------------------------------------------------------------ resolving sources
def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``data_dir``, else ``$KGREC_DATA_DIR``: never a path relative to the package, which an
    installed copy has no data beside. Raises :class:`~ingest.base.IngestError` if neither is set."""
    if data_dir is not None:
        return Path(data_dir)
    if os.environ.get("KGREC_DATA_DIR"):
        return Path(os.environ["KGREC_DATA_DIR"])
    raise IngestError("no data folder for the named data sets: give --data-dir DIR (data_dir=) or set "
                      "KGREC_DATA_DIR to the folder holding them")


def resolve_source(source: "str | os.PathLike | Source", data_dir: str | os.PathLike | None = None,
                   cache_dir: str | os.PathLike | None = None, encoding: str | None = None) -> Source:
    """Turn a source argument into a reader: a dataset name (see
    :data:`ingest.datasets.DATASETS`), ``demo`` / ``demo:SEED``, an ``.ttl``/``.nt`` file,
    or a canonical dataset folder. A reader object is returned as is. ``encoding`` is the
    character encoding of a canonical folder's files (default: UTF-8); the named data sets
    know their own."""
    if hasattr(source, "nodes") and hasattr(source, "interactions"):
        return source  # type: ignore[return-value]
    from ingest import datasets

    text = str(source)
    path = Path(text)
    is_folder = not (text == "demo" or text.startswith("demo:") or datasets.is_dataset_name(text)
                     or path.suffix.lower() in RDF_SUFFIXES)
    if encoding is not None and not is_folder:
        raise IngestError(f"--encoding applies to canonical dataset folders only, not to {text!r} (the named data "
                          "sets read their own encodings; demo and RDF files are UTF-8)")
    if text == "demo" or text.startswith("demo:"):
        seed_text = text.partition(":")[2] or "0"
        if not seed_text.isdigit():
            raise IngestError(f"demo seed {seed_text!r} is not a non-negative integer; use demo or demo:SEED")
        from ingest.canonical import CanonicalSource

        folder = demo_folder(int(seed_text), cache_dir)
        return CanonicalSource(folder, name=text)
    if datasets.is_dataset_name(text):
        return datasets.open_dataset(text, resolve_data_dir(data_dir))
    if path.suffix.lower() in RDF_SUFFIXES:
        if not path.is_file():
            raise IngestError(f"{path}: RDF file not found")
        from kg_recsys.store.rdf import RdfSource

        return RdfSource(path, format=RDF_SUFFIXES[path.suffix.lower()])
    if path.is_dir():
        from ingest.canonical import CanonicalSource

        return CanonicalSource(path, encoding=encoding)
    raise IngestError(f"unknown source {text!r}{datasets.suggest_dataset(text)}: give a canonical dataset folder, an "
                      f".ttl/.nt file, 'demo', or one of the dataset names {', '.join(datasets.DATASET_NAMES)} (with "
                      "--data-dir or KGREC_DATA_DIR pointing at the data)")


def demo_folder(seed: int = 0, cache_dir: str | os.PathLike | None = None) -> Path:
    """The synthetic demo dataset for ``seed``, generated once into the cache folder."""
    from kg_recsys.datasets.demo import DEMO_VERSION, write_demo_dataset

    folder = Path(cache_dir or DEFAULT_CACHE_DIR) / f"demo-v{DEMO_VERSION}-seed{seed}"
    if not (folder / "interactions.csv").is_file():
        temporary = folder.with_name(folder.name + f".tmp{os.getpid()}")
        write_demo_dataset(temporary, seed=seed)
        try:
            os.replace(temporary, folder)
        except OSError:  # another process won the race; its folder is identical
            import shutil

            shutil.rmtree(temporary, ignore_errors=True)
    return folder


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[-80:] or "source"


# ------------------------------------------------------------------ ingestion
def ingest_source(source: "str | os.PathLike | Source", store: GraphStore, *,
                  data_dir: str | os.PathLike | None = None, rejects_path: str | os.PathLike | None = None,
                  batch_size: int = 5000, progress: bool = True, encoding: str | None = None) -> IngestSummary:
    """Ingest one source into ``store``.

    Args:
        source: a canonical folder, an ``.ttl``/``.nt`` file, a dataset name or ``demo``.
        store: any :class:`~kg_recsys.store.base.GraphStore`.
        data_dir: where the named data sets live. (default: ``$KGREC_DATA_DIR``)
        rejects_path: CSV file for rejected rows; written whenever given. Without it, a
            run with rejects writes ``.kgrec/rejects/<source>.csv``. (default: ``None``)
        batch_size: rows per store write. (default: ``5000``)
        progress: show a tqdm progress bar on stderr. (default: ``True``)
        encoding: character encoding of a canonical folder's CSV files, a Python codec
            name such as ``latin-1``. (default: ``None``, UTF-8 with or without a BOM)

    Returns:
        An :class:`IngestSummary`.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    started = time.perf_counter()
    reader = resolve_source(source, data_dir, encoding=encoding)  # a canonical folder's files are checked here
    rejects = Rejects()
    stats = {"rows": 0, "duplicates": 0}
    store.ensure_schema()
    # A source that can count its input lines (canonical folders, DataFrames) moves the bar as
    # it reads them, towards that total; for the others the bar counts the rows written.
    total = reader.total_lines() if progress and hasattr(reader, "total_lines") else None
    with tqdm(desc=f"ingest {reader.name}", total=total, unit=" rows", disable=not progress, file=sys.stderr,
              mininterval=0.5, dynamic_ncols=True) as bar:
        advance = (lambda n: None) if total is not None else bar.update
        if total is not None:
            reader.on_lines = bar.update
        try:
            _write_nodes(reader, store, rejects, stats, batch_size, advance)
            if hasattr(reader, "interaction_columns"):
                _write_interaction_columns(reader, store, rejects, stats, batch_size, advance)
            else:
                for batch in batched(_unique(reader.interactions(rejects), _interaction_key, stats), batch_size):
                    store.upsert_interactions(batch)
                    advance(len(batch))
            for batch in batched(_unique(reader.relations(rejects), _relation_key, stats), batch_size):
                store.upsert_relations(batch)
                advance(len(batch))
            # Items that no file gave a scenario get the one their interactions are in.
            store.fill_item_scenarios()
        finally:
            if total is not None:
                reader.on_lines = None
    written = None
    if rejects_path is not None or len(rejects):
        default = Path(".kgrec/rejects") / f"{_slug(reader.name)}.csv"
        target = Path(rejects_path) if rejects_path is not None else default
        written = str(rejects.write(target))
        for reject in rejects.items[:5]:
            log.warning("rejected %s", reject.describe())
        if len(rejects) > 5:
            log.warning("... %d rejected rows in all; see %s", len(rejects), written)
    counts = store.counts()
    return IngestSummary(
        source=reader.name, nodes=counts["nodes"], relationships=counts["relationships"],
        rows_read=stats["rows"] + len(rejects), rejected=len(rejects), duplicates=stats["duplicates"],
        rejects_file=written, seconds=round(time.perf_counter() - started, 3),
    )


def _write_nodes(reader: Source, store: GraphStore, rejects: Rejects, stats: dict, batch_size: int,
                 advance: Callable[[int], None]) -> None:
    buffers: dict[str, list] = {label: [] for label in NODE_LABELS}
    declared: set[tuple[str, str]] = set()
    implied: set[tuple[str, str]] = set()
    for label, row, is_declared in reader.nodes(rejects):
        stats["rows"] += 1
        key = (label, row["id"])
        if is_declared:
            if key in declared:
                stats["duplicates"] += 1
            declared.add(key)
        elif key in implied or key in declared:
            continue  # an attribute value seen before: the same node, nothing new to write
        else:
            implied.add(key)
        buffer = buffers[label]
        buffer.append(row)
        if len(buffer) >= batch_size:
            store.upsert_nodes(label, buffer)
            advance(len(buffer))
            buffers[label] = []
    for label, buffer in buffers.items():
        if buffer:
            store.upsert_nodes(label, buffer)
            advance(len(buffer))


def _write_interaction_columns(reader, store: GraphStore, rejects: Rejects, stats: dict, batch_size: int,
                               advance: Callable[[int], None]) -> None:
    """The interactions of a source that gives them as columns: first events only (as
    :func:`_unique` with :func:`_interaction_key`), in store writes of ``batch_size`` rows."""
    bulk = getattr(store, "upsert_interaction_columns", None)
    first = _FirstEvents()
    for columns in reader.interaction_columns(rejects):
        stats["rows"] += len(columns)
        keep = first.keep(columns)
        if not keep.all():
            stats["duplicates"] += int((~keep).sum())
            columns = columns.select(keep)
        for start in range(0, len(columns), batch_size):
            part = columns.select(slice(start, start + batch_size))
            if bulk is not None:
                bulk(part)
            else:
                store.upsert_interactions(part.rows())
            advance(len(part))


class _FirstEvents:
    """Which interactions of a run's column batches are not repeats of one before them: the
    same user, item, scenario, kind and timestamp (``-0.0`` and ``0.0`` alike, as in
    :func:`_interaction_key`). A 64-bit mix of the fields' codes finds the candidates; rows
    whose mix repeats are compared field by field, so no two events are ever taken as one."""

    _MIX = np.asarray([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5,
                       0x94D049BB133111EB], np.uint64)

    def __init__(self) -> None:
        self._maps: tuple[dict, ...] = ({}, {}, {}, {})
        self._known: tuple[list, ...] = ([], [], [], [])
        self._keys = np.zeros((0, 5), np.int64)  # the events kept so far
        self._hashes = np.zeros(0, np.uint64)

    def keep(self, columns: InteractionColumns) -> np.ndarray:
        """Whether each row is the first of its event in the run."""
        stamps = np.asarray(columns.timestamp, np.float64) + 0.0  # -0.0 becomes 0.0
        bits = np.where(np.isnan(stamps), -1, stamps.view(np.int64))
        keys = np.stack([recode(values, mapping, known) for values, mapping, known in
                         zip((columns.user_id, columns.item_id, columns.scenario, columns.kind), self._maps,
                             self._known)] + [bits], axis=1)
        with np.errstate(over="ignore"):
            mixed = (keys.astype(np.uint64) * self._MIX).sum(axis=1, dtype=np.uint64)
            mixed ^= mixed >> np.uint64(31)
        before = len(self._hashes)
        hashes, every = np.concatenate([self._hashes, mixed]), np.concatenate([self._keys, keys])
        _, first, inverse, counts = np.unique(hashes, return_index=True, return_inverse=True, return_counts=True)
        inverse = inverse.reshape(-1)
        kept = first[inverse] == np.arange(len(hashes))
        shared = np.flatnonzero(counts[inverse] > 1)
        if len(shared):  # same mix: the fields decide (rows in order, so the first event stays)
            seen: set[tuple] = set()
            for row, key in zip(shared.tolist(), map(tuple, every[shared].tolist())):
                kept[row] = key not in seen
                seen.add(key)
        self._hashes, self._keys = hashes[kept], every[kept]
        return kept[before:]


def _interaction_key(row) -> int:
    stamp = row.get("timestamp")
    return hash((row["user_id"], row["item_id"], row.get("scenario"), row.get("kind"),
                 None if stamp is None else float(stamp)))


def _relation_key(row) -> int:
    return hash((row["src_label"], row["src_id"], row["relation"], row["dst_label"], row["dst_id"]))


def _unique(rows, key, stats: dict) -> Iterator:
    """Rows whose key was not seen before in this run; repeats are counted, not sent.
    Keys are 64-bit hashes so that a million interactions need tens of MB, not hundreds."""
    seen: set[int] = set()
    for row in rows:
        stats["rows"] += 1
        k = key(row)
        if k in seen:
            stats["duplicates"] += 1
            continue
        seen.add(k)
        yield row


# ------------------------------------------------------------------ snapshots for training
def load_snapshot(source: "str | os.PathLike | Source", data_dir: str | os.PathLike | None = None,
                  cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR, progress: bool = False) -> GraphSnapshot:
    """Ingest ``source`` into an in-memory store and return its snapshot.

    The snapshot is cached as ``.npz`` under ``cache_dir``, keyed by the source name and
    the size and modification time of every file it reads, so a changed input rebuilds it.
    """
    from kg_recsys.store.memory import MemoryStore

    reader = resolve_source(source, data_dir, cache_dir=cache_dir)
    if not reader.files():  # in-memory tables (DataFrames): nothing to key a cache on
        store = MemoryStore(None)
        ingest_source(reader, store, progress=progress)
        return store.snapshot()
    stamp = [CACHE_VERSION, reader.name]
    for file in sorted(reader.files()):
        info = file.stat()
        stamp.append([str(file.resolve()), info.st_size, info.st_mtime_ns])
    key = hashlib.sha256(json.dumps(stamp).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"snapshot-{_slug(reader.name)}-{key}.npz"
    if path.is_file():
        try:
            return GraphSnapshot.load(str(path))
        except (OSError, ValueError, KeyError) as error:  # a torn or stale cache file: rebuild it
            log.warning("ignoring unreadable snapshot cache %s (%s)", path, error)
    store = MemoryStore(None)
    ingest_source(reader, store, progress=progress)
    snapshot = store.snapshot()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.stem + f".tmp{os.getpid()}.npz")
    snapshot.save(str(temporary))
    os.replace(temporary, path)
    return snapshot
