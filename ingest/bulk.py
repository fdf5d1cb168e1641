"""``kgrec ingest SOURCE --store bolt://... --bulk``: the first load of an empty Neo4j database
through Neo4j's offline importer instead of transactional writes.

Steps:

1. check that the database is empty and that its server is the project's own (the import stops
   and restarts it): anything else is refused before a row is read;
2. read and validate the source with the same readers, de-duplication and rejects as
   :func:`ingest.runner.ingest_source`, into a :class:`~kg_recsys.store.neo4j_import.Neo4jImportWriter`
   (which keeps the labels, properties, types and ids that :class:`~kg_recsys.store.neo4j.Neo4jStore`
   writes);
3. stop the server and, while it shuts down, write the import CSVs; run ``neo4j-admin database
   import full``, start the server again (:func:`kg_recsys.neo4j_server.import_database`);
4. create the constraints and indexes (``constraints.cypher``) and check the counts against the files.

The graph is the one a transactional ingest of the same source writes, so a later transactional
ingest into it merges as usual (re-running it changes nothing). Unlike a transactional ingest a
bulk load is all or nothing: if it fails, the database is left empty and the command can be run again.
"""
from __future__ import annotations

import logging
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

from ingest.base import IngestError
from ingest.runner import IngestSummary, ingest_source

log = logging.getLogger("ingest")
#: Rows per call into the CSV writer: only the call overhead depends on it.
_BATCH = 50_000


def _check_target(uri: str, user: str, password: str | None, database: str) -> None:
    """Refuse, in one line saying what to do, a target that is not the project's running server
    or whose database is not empty."""
    from kg_recsys import neo4j_server
    from kg_recsys.store.neo4j import Neo4jStore

    parsed = urlparse(uri)
    current = neo4j_server.status()
    if (parsed.hostname not in ("127.0.0.1", "localhost") or not current.running
            or urlparse(current.bolt_uri).port != (parsed.port or neo4j_server.DEFAULT_BOLT_PORT)):
        raise IngestError(f"--bulk stops and restarts the Neo4j server, so it needs the project's own server at {uri} "
                          f"(started by `kgrec neo4j start` with this KGREC_NEO4J_STATE, {neo4j_server.state_dir()}); "
                          "for any other server ingest without --bulk")
    with Neo4jStore(uri, user, password, database) as store:
        if not store.is_empty():
            counts = store.counts()["nodes"]
            raise IngestError(f"--bulk loads an empty database only, and {database!r} at {uri} holds "
                              f"{sum(counts.values()):,} nodes: ingest without --bulk to merge into it, or bulk-load "
                              "a fresh server (`kgrec neo4j start --data-dir NEW_FOLDER`)")


def bulk_ingest_source(source, uri: str, *, data_dir=None, rejects_path=None, progress: bool = True,
                       encoding: str | None = None, user: str = "neo4j", password: str | None = None,
                       database: str = "neo4j", timings: dict[str, float] | None = None) -> IngestSummary:
    """Load ``source`` into the empty Neo4j database at ``uri`` with Neo4j's offline importer.

    Args:
        source: as for :func:`~ingest.runner.ingest_source`.
        uri: Bolt URI of the project's own server (``kgrec neo4j start``), which is restarted.
        data_dir, rejects_path, progress, encoding: as for :func:`~ingest.runner.ingest_source`.
        user, password, database: as for :class:`~kg_recsys.store.neo4j.Neo4jStore`.
        timings: if given, filled with the seconds of each step: ``read`` (reading and validating
            into columns), ``stop``, ``write`` (writing the CSVs, during ``stop``), ``stop_and_write``
            (the two, wall clock), ``importer`` (Neo4j's importer alone), ``start`` and ``schema``
            (constraints and indexes, built). (default: ``None``)

    Returns:
        An :class:`~ingest.runner.IngestSummary` with the database's counts after the load.

    Raises:
        IngestError: the target is not the project's server or not empty, a source error, or the
            database's counts differ from the files'.
        kg_recsys.neo4j_server.Neo4jServerError: the importer or the restart failed.
    """
    from kg_recsys import neo4j_server
    from kg_recsys.store.neo4j import Neo4jStore
    from kg_recsys.store.neo4j_import import Neo4jImportWriter

    started = time.perf_counter()
    timings = timings if timings is not None else {}
    _check_target(uri, user, password, database)
    neo4j_server.state_dir().mkdir(parents=True, exist_ok=True)
    # Beside the database (the same disk), not in /tmp: ml-1m's files are ~100 MB.
    folder = Path(tempfile.mkdtemp(prefix="bulk-import-", dir=neo4j_server.state_dir()))
    try:
        writer = Neo4jImportWriter(folder)
        try:
            summary = ingest_source(source, writer, data_dir=data_dir, rejects_path=rejects_path, batch_size=_BATCH,
                                    progress=progress, encoding=encoding)
        finally:
            writer.close()
        expected = writer.counts()
        timings["read"] = time.perf_counter() - started
        _check_target(uri, user, password, database)  # reading took a while: still empty?
        if progress:
            print(f"bulk import: stopping Neo4j, running neo4j-admin database import full (log "
                  f"{neo4j_server.state_dir() / 'import.log'}), starting Neo4j again", file=sys.stderr, flush=True)
        # The CSVs are written (writer.finish) while the server shuts down.
        neo4j_server.import_database(writer.finish, database, timings=timings)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    step = time.perf_counter()
    with Neo4jStore(uri, user, password, database) as store:
        store.ensure_schema()  # waits for the indexes to be online
        counts = store.counts()
    timings["schema"] = time.perf_counter() - step
    if counts != expected:
        raise IngestError(f"the bulk import of {summary.source} into {uri} wrote {counts}, but its files hold "
                          f"{expected}; see {neo4j_server.state_dir() / 'import.report'}")
    return replace(summary, nodes=counts["nodes"], relationships=counts["relationships"],
                   seconds=round(time.perf_counter() - started, 3))
