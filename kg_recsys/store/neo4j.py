"""The Neo4j backend of :class:`~kg_recsys.store.base.GraphStore`: the only module that imports
the Neo4j driver.

Rules this module keeps (they are why it is safe to run on data from anywhere):

* every write is ``session.execute_write(fn)``; the driver retries ``fn`` on transient errors,
  so ``fn`` only runs idempotent ``UNWIND $rows AS row MERGE ...`` batches and consumes its
  results inside the transaction;
* every session names its database;
* values reach Cypher only as parameters; labels pass :func:`~kg_recsys.schema.check_label`,
  relationship types :func:`~kg_recsys.schema.check_relation_name`, property and index names
  :data:`_NAME`, and only then are they backtick-quoted into the query text.

Writes create nodes first (one ``MERGE`` per distinct id) and then ``MATCH`` both ends and
``MERGE`` the relationships, in the same transaction: a single ``MERGE (a)-..->(b)`` statement
over unbound nodes would make the planner add an eager barrier and re-merge each endpoint once
per row.
"""
from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor, wait
import logging
import math
import os
import re
from collections import defaultdict
from typing import Iterable, Iterator, Sequence

import neo4j
import numpy as np

from kg_recsys.assets import asset
from kg_recsys.schema import (
    DEFAULT_KIND, DEFAULT_SCENARIO, ENTITY, INTERACTED, ITEM, NODE_LABELS, RECOMMENDED, USER,
    InteractionRow, NodeRow, RelationRow, SchemaError, check_label, check_relation_name, check_scenario,
    interaction_key,
)
from kg_recsys.store.base import (GraphSnapshot, GraphTopology, InteractionTable, NodeTable, Recommendation,
                                  StoreConnectionError)

log = logging.getLogger(__name__)
PASSWORD_ENV = "KGREC_NEO4J_PASSWORD"
#: Seconds the driver keeps retrying a transaction that failed transiently (a lost connection
#: included) before the store gives up; the driver's own default is 30.
RETRY_ENV = "KGREC_NEO4J_RETRY_SECONDS"
CONSTRAINTS_FILE = asset("constraints.cypher")
#: Property and index names the store writes into Cypher text (after this check).
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def check_name(name: str, what: str = "property name") -> str:
    """Return ``name`` if it is a safe Cypher property or index name, else raise :class:`SchemaError`."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise SchemaError(f"{what} {name!r} is not allowed: a letter or _ first, then letters, digits or _")
    return name


def _q(name: str) -> str:
    """Backtick-quote a name that has already been checked (checks forbid backticks)."""
    return f"`{name}`"


def _password(password: str | None) -> str:
    password = password if password is not None else os.environ.get(PASSWORD_ENV)
    if not password:
        raise ValueError(f"no Neo4j password: pass password=... or set {PASSWORD_ENV}")
    return password


def check_connectivity(uri: str, user: str = "neo4j", password: str | None = None) -> None:
    """Raise unless a Neo4j server at ``uri`` accepts these credentials."""
    with neo4j.GraphDatabase.driver(uri, auth=(user, _password(password)), connection_timeout=5.0) as driver:
        driver.verify_connectivity()


def _chunks(rows: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _schema_statements(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if not line.strip().startswith("//")]
    return [statement.strip() for statement in "\n".join(lines).split(";") if statement.strip()]


class Neo4jStore:
    """:class:`~kg_recsys.store.base.GraphStore` over a Neo4j 5 database, via Bolt.

    Args:
        uri: ``bolt://HOST:PORT`` or ``neo4j://HOST:PORT``.
        user: user name. (default: ``"neo4j"``)
        password: password. (default: ``$KGREC_NEO4J_PASSWORD``)
        database: database every session names. (default: ``"neo4j"``)
        batch_size: rows per write transaction. (default: ``5000``)
        retry_seconds: how long a transaction that failed transiently (the server restarting,
            a dropped connection) is retried before :class:`StoreConnectionError`.
            (default: ``$KGREC_NEO4J_RETRY_SECONDS`` or ``30``)
        writers: concurrent write transactions per batch of interactions, each on its own users
            (a user's rows never go to two of them). Two keep the server's second core busy:
            on ml-1m (2-core box, load 5-7) a fresh load 6,816 -> 7,438 relationships/s, a re-run
            18,863 -> 30,721/s; see benchmarks/results/ingest_ml1m.md. (default: ``2``)

    The store owns its driver: close it with :meth:`close` or use the store as a context
    manager. The first write applies ``constraints.cypher`` (package data, :mod:`kg_recsys.assets`) (see :meth:`ensure_schema`)
    so that every ``MERGE`` on an id is an index seek.
    """

    def __init__(self, uri: str, user: str = "neo4j", password: str | None = None, database: str = "neo4j",
                 batch_size: int = 5000, retry_seconds: float | None = None, writers: int = 2) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if writers < 1:
            raise ValueError("writers must be at least 1")
        if retry_seconds is None:
            text = os.environ.get(RETRY_ENV) or "30"
            try:
                retry_seconds = float(text)
            except ValueError:
                raise ValueError(f"{RETRY_ENV} must be a number of seconds, got {text!r}") from None
        if not 0 <= retry_seconds < math.inf:
            raise ValueError(f"retry_seconds must be 0 or more seconds, got {retry_seconds}")
        self.uri, self.user, self.database, self.batch_size = uri, user, database, batch_size
        self.retry_seconds, self.writers = retry_seconds, writers
        self._pool: ThreadPoolExecutor | None = None
        self._driver = neo4j.GraphDatabase.driver(uri, auth=(user, _password(password)), connection_timeout=5.0,
                                                  max_transaction_retry_time=retry_seconds)
        self._schema_ready = False
        # The driver connects lazily: without this, a wrong password or a stopped server
        # surfaces as a long traceback at the first query instead of one line here.
        try:
            self._driver.verify_connectivity()
        except neo4j.exceptions.AuthError:
            self._driver.close()
            raise StoreConnectionError(f"wrong password for {user} at {uri}: set {PASSWORD_ENV}") from None
        except (neo4j.exceptions.ServiceUnavailable, OSError):
            self._driver.close()
            raise StoreConnectionError(f"no Neo4j at {uri}; start it with `kgrec neo4j start`") from None

    def __repr__(self) -> str:
        return f"Neo4jStore(uri={self.uri!r}, database={self.database!r}, batch_size={self.batch_size})"

    def __enter__(self) -> "Neo4jStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        self._driver.close()

    def verify_connectivity(self) -> None:
        self._driver.verify_connectivity()

    # ----------------------------------------------------------------- plumbing
    @contextlib.contextmanager
    def _session(self) -> Iterator[neo4j.Session]:
        """A session on the store's database. Every query goes through here, so a server that
        stops answering mid-command (killed, restarted too slowly for the driver's retries) is
        one :class:`StoreConnectionError` naming the store and what to do, not a driver traceback.
        Nothing acknowledged is lost: a batch is committed whole or not at all, and re-running an
        ingest writes what is missing (every write is an idempotent MERGE)."""
        try:
            with self._driver.session(database=self.database) as session:
                yield session
        except (neo4j.exceptions.ServiceUnavailable, neo4j.exceptions.SessionExpired) as error:
            raise StoreConnectionError(
                f"lost the connection to Neo4j at {self.uri} ({type(error).__name__}, still failing after "
                f"{self.retry_seconds:g} s of retries): check the server (`kgrec neo4j status`, its log), start it "
                "with `kgrec neo4j start`, then re-run the command; an ingest re-run completes the graph") from None

    def _write(self, statements: list[tuple[str, dict]]) -> None:
        """Run ``statements`` in one retried write transaction, consuming every result."""
        def work(tx) -> None:
            for query, parameters in statements:
                tx.run(query, parameters).consume()

        with self._session() as session:
            session.execute_write(work)

    def _read(self, query: str, parameters: dict | None = None) -> list[tuple]:
        def work(tx) -> list[tuple]:
            return [tuple(record.values()) for record in tx.run(query, parameters or {})]

        with self._session() as session:
            return session.execute_read(work)

    @staticmethod
    def _merge_nodes(label: str, ids: Iterable[str]) -> tuple[str, dict]:
        return f"UNWIND $ids AS id MERGE (:{_q(check_label(label))} {{id: id}})", {"ids": sorted(set(ids))}

    # ----------------------------------------------------------------- schema
    def ensure_schema(self) -> None:
        """Apply ``constraints.cypher`` (package data, :mod:`kg_recsys.assets`) (idempotent) and wait for the indexes to be online.

        All statements go in one transaction, the indexes before the constraints: a constraint's
        creation waits for its own index to be built, and the others (on a bulk-loaded graph,
        the index over every INTERACTED relationship) are then already being built meanwhile.
        """
        statements = _schema_statements(CONSTRAINTS_FILE.read_text(encoding="utf-8"))
        statements.sort(key=lambda q: " CONSTRAINT " in f" {q.upper()} ")  # stable: indexes first, in file order

        def apply(tx) -> None:
            for statement in statements:
                tx.run(statement).consume()

        with self._session() as session:
            session.execute_write(apply)
        with self._session() as session:
            session.run("CALL db.awaitIndexes(300)").consume()
        self._schema_ready = True

    def _ready(self) -> None:
        if not self._schema_ready:
            self.ensure_schema()

    # ----------------------------------------------------------------- writes
    def upsert_nodes(self, label: str, rows: Sequence[NodeRow]) -> None:
        label = check_label(label)
        rows = list(rows)
        for r in rows:  # the whole batch is checked before any chunk of it is written
            if r.get("scenario") is not None:
                check_scenario(r["scenario"])
        self._ready()
        query = (f"UNWIND $rows AS row MERGE (n:{_q(label)} {{id: row.id}}) "
                 "SET n.text = coalesce(row.text, n.text), n.scenario = coalesce(row.scenario, n.scenario)")
        for chunk in _chunks(rows, self.batch_size):
            packed = [{"id": r["id"], "text": r.get("text"), "scenario": r.get("scenario")} for r in chunk]
            self._write([(query, {"rows": packed})])

    #: Idempotent INTERACTED writes. ``MERGE (u)-[r:INTERACTED {key: ..}]->(i)`` would scan the
    #: relationships between u and i once per row, so a user's k-th rating costs O(k) (ml-1m users
    #: have up to 2,300): that made ingestion quadratic per user. Instead each user's existing
    #: (item, key, weight) triples are read once per statement, O(degree) per user, nothing on a
    #: fresh load; unchanged rows are skipped, new ones CREATEd, and only rows whose weight changed
    #: pay for the pattern lookup. Correct because every user appears once per statement (rows
    #: are grouped and de-duplicated in Python) and a retried transaction is rolled back whole.
    _INTERACTIONS = (
        f"UNWIND $groups AS g MATCH (u:{_q(USER)} {{id: g.u}}) "
        f"CALL (u) {{ MATCH (u)-[r:{_q(INTERACTED)}]->(i:{_q(ITEM)}) "  # no rows: one row, empty lists
        "RETURN collect([i.id, r.key]) AS keys, collect([i.id, r.key, r.weight]) AS unchanged } "
        "UNWIND g.rows AS row "
        "WITH u, row, [row.i, row.key] IN keys AS known WHERE NOT [row.i, row.key, row.weight] IN unchanged "
        f"MATCH (i:{_q(ITEM)} {{id: row.i}}) "
        f"CALL (u, i, row, known) {{ WITH * WHERE NOT known CREATE (u)-[r:{_q(INTERACTED)}]->(i) "
        "SET r.key = row.key, r.scenario = row.scenario, r.kind = row.kind, r.weight = row.weight, "
        "r.timestamp = row.timestamp } "
        f"CALL (u, i, row, known) {{ WITH * WHERE known MATCH (u)-[r:{_q(INTERACTED)} {{key: row.key}}]->(i) "
        "SET r.weight = row.weight }")

    def upsert_interactions(self, rows: Sequence[InteractionRow]) -> None:
        rows = list(rows)
        for r in rows:  # the whole batch is checked before any chunk of it is written
            check_scenario(r.get("scenario") or DEFAULT_SCENARIO), check_scenario(r.get("kind") or DEFAULT_KIND, "kind")
        self._ready()
        for chunk in _chunks(rows, self.batch_size):
            # One group per user and one row per (item, key), the last one winning as a second
            # MERGE ... SET would: the query reads each user's relationships once, before writing.
            groups: dict[str, dict[tuple[str, str], dict]] = defaultdict(dict)
            for r in chunk:
                scenario, kind = r.get("scenario") or DEFAULT_SCENARIO, r.get("kind") or DEFAULT_KIND
                weight = float(r["weight"]) if r.get("weight") is not None else 1.0
                timestamp = None if r.get("timestamp") is None else float(r["timestamp"])
                key = interaction_key(scenario, kind, timestamp)
                groups[r["user_id"]][(r["item_id"], key)] = {
                    "i": r["item_id"], "key": key, "scenario": scenario, "kind": kind, "weight": weight,
                    "timestamp": timestamp}
            self._write_concurrently([self._interaction_statements(part) for part in self._split(groups)])

    def _split(self, groups: dict[str, dict]) -> list[dict[str, dict]]:
        """``groups`` (rows by user) cut into up to :attr:`writers` parts of about equal rows,
        whole users each: concurrent transactions then never read or write the same user's
        relationships, which the per-user read in :data:`_INTERACTIONS` relies on."""
        total = sum(len(rows) for rows in groups.values())
        if self.writers == 1 or len(groups) == 1:
            return [groups]
        parts: list[dict[str, dict]] = [{}]
        size, share = 0, total / self.writers
        for user, rows in groups.items():
            if size >= share * len(parts) and len(parts) < self.writers:
                parts.append({})
            parts[-1][user] = rows
            size += len(rows)
        return parts

    def _interaction_statements(self, groups: dict[str, dict]) -> list[tuple[str, dict]]:
        packed = [{"u": user, "rows": list(by_key.values())} for user, by_key in groups.items()]
        items = {item for by_key in groups.values() for item, _ in by_key}
        return [self._merge_nodes(USER, groups), self._merge_nodes(ITEM, items), (self._INTERACTIONS, {"groups": packed})]

    def _write_concurrently(self, transactions: list[list[tuple[str, dict]]]) -> None:
        """Each of ``transactions`` in its own retried write transaction, concurrently; returns when
        all are committed, raising the first error. Shared nodes (the items) are merged in sorted
        id order in each, so two transactions lock them in the same order and seldom deadlock; a
        deadlock is transient, so the driver retries the transaction it aborted."""
        if len(transactions) == 1:
            self._write(transactions[0])
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.writers, thread_name_prefix="neo4j-writer")
        futures = [self._pool.submit(self._write, statements) for statements in transactions]
        wait(futures)  # all settled before an error is raised: none still writes after the call
        for future in futures:
            future.result()

    def upsert_relations(self, rows: Sequence[RelationRow]) -> None:
        groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
        for r in rows:  # validate everything before writing anything
            key = (check_label(r["src_label"]), check_relation_name(r["relation"]), check_label(r["dst_label"]))
            groups[key].append({"s": r["src_id"], "d": r["dst_id"]})
        self._ready()
        for (src_label, relation, dst_label), group in groups.items():
            query = (f"UNWIND $rows AS row "
                     f"MATCH (a:{_q(src_label)} {{id: row.s}}) MATCH (b:{_q(dst_label)} {{id: row.d}}) "
                     f"MERGE (a)-[:{_q(relation)}]->(b)")
            for chunk in _chunks(group, self.batch_size):
                ends: dict[str, set[str]] = defaultdict(set)
                for p in chunk:
                    ends[src_label].add(p["s"]), ends[dst_label].add(p["d"])
                self._write([*(self._merge_nodes(label, ids) for label, ids in ends.items()),
                             (query, {"rows": list(chunk)})])

    def clear(self) -> None:
        """Delete every node and relationship and drop the store's vector indexes (tests, rebuilds).
        Constraints and the other indexes stay."""
        with self._session() as session:
            # Relationships first, in bounded transactions: a DETACH DELETE batch of dense nodes
            # would hold all their relationships in one transaction's memory.
            session.run("MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 20000 ROWS").consume()
            session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 20000 ROWS").consume()
            for (name,) in session.run("SHOW VECTOR INDEXES YIELD name RETURN name").values():
                session.run(f"DROP INDEX {_q(check_name(name, 'index name'))} IF EXISTS").consume()

    def delete_user(self, user_id: str) -> bool:
        # DETACH DELETE takes its relationships (INTERACTED, RECOMMENDED, attributes) and
        # its properties, vectors included.
        query = "MATCH (u:User {id: $id}) WITH u, u.id AS id DETACH DELETE u RETURN count(id)"
        with self._session() as session:
            deleted = session.execute_write(lambda tx: tx.run(query, {"id": user_id}).single()[0])
        return bool(deleted)

    #: Items without a scenario take the busiest one of their interactions (ties: by name).
    _FILL_ITEM_SCENARIOS = (
        f"MATCH (i:{_q(ITEM)}) WHERE i.scenario IS NULL "
        f"CALL (i) {{ MATCH (:{_q(USER)})-[r:{_q(INTERACTED)}]->(i) WITH r.scenario AS s, count(*) AS n "
        "ORDER BY n DESC, s LIMIT 1 RETURN s } "
        "SET i.scenario = s RETURN count(i)")

    def fill_item_scenarios(self) -> int:
        self._ready()
        with self._session() as session:
            return session.execute_write(lambda tx: tx.run(self._FILL_ITEM_SCENARIOS).single()[0])

    # ----------------------------------------------------------------- reads
    def counts(self) -> dict[str, dict[str, int]]:
        # Single-label and single-type counts are answered from Neo4j's count store.
        nodes = {label: self._read(f"MATCH (n:{_q(label)}) RETURN count(n)")[0][0] for label in NODE_LABELS}
        relationships = {}
        for (kind,) in self._read("CALL db.relationshipTypes() YIELD relationshipType RETURN relationshipType"):
            n = self._read(f"MATCH ()-[r:{_q(check_relation_name(kind))}]->() RETURN count(r)")[0][0]
            if n:
                relationships[kind] = n
        return {"nodes": nodes, "relationships": dict(sorted(relationships.items()))}

    def is_empty(self) -> bool:
        """Whether the database holds no node (and so no relationship); from the count store."""
        return self._read("MATCH (n) RETURN count(n)")[0][0] == 0

    def has_relationship(self, src_label: str, src_id: str, relation: str, dst_label: str, dst_id: str) -> bool:
        query = (f"MATCH (a:{_q(check_label(src_label))} {{id: $a}})-[r:{_q(check_relation_name(relation))}]-"
                 f"(b:{_q(check_label(dst_label))} {{id: $b}}) RETURN count(r) > 0")
        return bool(self._read(query, {"a": src_id, "b": dst_id})[0][0])

    def node(self, label: str, node_id: str) -> dict | None:
        found = self._read(f"MATCH (n:{_q(check_label(label))} {{id: $id}}) RETURN n.text, n.scenario", {"id": node_id})
        return None if not found else {"id": node_id, "text": found[0][0], "scenario": found[0][1]}

    def snapshot(self) -> GraphSnapshot:
        """The graph as arrays; node tables are ordered by id.

        Read in one transaction. Neo4j reads committed data statement by statement, so an
        ingest running meanwhile can add a relationship whose endpoint the node statements
        did not see: such endpoints are read at the end (same transaction) and included, so
        every relationship in the snapshot has both its nodes, and the count is logged.
        """
        with self._session() as session:
            nodes, interactions, relations, late = session.execute_read(self._snapshot_rows)
        if late:
            log.info("snapshot: %d nodes were written while it was read; included", late)
        tables = {label: NodeTable.build(list(rows), [r[0] for r in rows.values()], [r[1] for r in rows.values()])
                  for label, rows in ((label, dict(sorted(nodes[label].items()))) for label in NODE_LABELS)}
        index = {label: tables[label].index() for label in NODE_LABELS}
        if interactions:
            users, items, scenarios, kinds, weights, stamps = zip(*interactions)
            n = len(interactions)
            table = InteractionTable(
                np.fromiter((index[USER][u] for u in users), np.int64, n),
                np.fromiter((index[ITEM][i] for i in items), np.int64, n),
                np.asarray(scenarios, dtype=str), np.asarray(kinds, dtype=str), np.asarray(weights, np.float32),
                np.asarray([math.nan if t is None else t for t in stamps], np.float64))
        else:
            table = InteractionTable.empty()
        pairs: dict[tuple[str, str, str], tuple[list, list]] = {}
        for src_label, src, kind, dst_label, dst in relations:
            a, b = pairs.setdefault((src_label, kind, dst_label), ([], []))
            a.append(index[src_label][src]), b.append(index[dst_label][dst])
        return GraphSnapshot(tables[USER], tables[ITEM], tables[ENTITY], table,
                             {t: (np.asarray(a, np.int64), np.asarray(b, np.int64)) for t, (a, b) in pairs.items()})

    @staticmethod
    def _snapshot_rows(tx) -> tuple[dict[str, dict[str, tuple]], list[tuple], list[tuple], int]:
        """Every read of :meth:`snapshot`, in the one transaction ``tx``."""
        nodes = {label: {r[0]: (r[1], r[2]) for r in tx.run(f"MATCH (n:{_q(label)}) RETURN n.id, n.text, n.scenario")}
                 for label in NODE_LABELS}
        interactions = [tuple(r.values()) for r in tx.run(
            f"MATCH (u:{_q(USER)})-[r:{_q(INTERACTED)}]->(i:{_q(ITEM)}) "
            "RETURN u.id, i.id, r.scenario, r.kind, r.weight, r.timestamp")]
        relations = [tuple(r.values()) for r in tx.run(
            "MATCH (a)-[r]->(b) WHERE NOT type(r) IN $excluded "
            "RETURN labels(a)[0], a.id, type(r), labels(b)[0], b.id", {"excluded": [INTERACTED, RECOMMENDED]})]
        missing: dict[str, set[str]] = defaultdict(set)
        for u, i, *_ in interactions:
            missing[USER].add(u), missing[ITEM].add(i)
        for src_label, src, _, dst_label, dst in relations:
            missing[src_label].add(src), missing[dst_label].add(dst)
        late = 0
        for label, ids in missing.items():
            ids = sorted(ids - nodes[label].keys())
            if ids:
                found = {r[0]: (r[1], r[2]) for r in tx.run(
                    f"MATCH (n:{_q(check_label(label))}) WHERE n.id IN $ids RETURN n.id, n.text, n.scenario",
                    {"ids": ids})}
                if len(found) < len(ids):  # written and deleted again while this ran
                    raise RuntimeError(f"the graph changed while the snapshot was read ({label} "
                                       f"{sorted(set(ids) - found.keys())[0]!r} was deleted); take it again")
                nodes[label].update(found)
                late += len(found)
        return nodes, interactions, relations, late

    # ----------------------------------------------------------------- batched reads (PyG's stores)
    def topology(self) -> GraphTopology:
        """The graph's structure, numbered as :meth:`snapshot` numbers it (nodes by id), read in
        one transaction: the ids of each label, then each label's outgoing relationships a batch
        of :attr:`batch_size` source nodes per statement, every batch one record of lists (the
        driver decodes a list far faster than as many records). Only the end's id comes back;
        its row is a binary search in the sorted ids. A relationship to a node written while
        this ran (an ingest meanwhile) is left out and counted in the log."""
        with self._session() as session:
            topology, late = session.execute_read(self._topology_rows)
        if late:
            log.info("topology: %d relationships to nodes written while it was read were left out", late)
        return topology

    #: One batch of users' interactions: ``k`` is the user's position in ``$ids``.
    _TOPOLOGY_INTERACTIONS = (
        f"UNWIND range(0, size($ids) - 1) AS k MATCH (:{_q(USER)} {{id: $ids[k]}})-[r:{_q(INTERACTED)}]->"
        f"(i:{_q(ITEM)}) RETURN collect(k), collect(i.id), collect(r.scenario)")

    def _topology_rows(self, tx) -> tuple[GraphTopology, int]:
        ids = {}
        for label in NODE_LABELS:
            (found,), = [r.values() for r in tx.run(f"MATCH (n:{_q(label)}) RETURN collect(n.id)")]
            ids[label] = np.asarray(sorted(found), dtype=str) if found else np.zeros(0, dtype=str)
        late = 0

        def rows(label: str, found: list[str]) -> tuple[np.ndarray, np.ndarray]:
            """Rows of ``found`` ids in ``ids[label]``, and which of them are there."""
            table, wanted = ids[label], np.asarray(found, dtype=str)
            at = np.searchsorted(table, wanted) if len(table) else np.zeros(len(wanted), np.int64)
            known = at < len(table)
            known[known] = table[at[known]] == wanted[known]
            return at.astype(np.int64), known

        users, items, scenarios = [], [], []
        for start in range(0, len(ids[USER]), self.batch_size):
            (k, item, scenario), = [r.values() for r in tx.run(
                self._TOPOLOGY_INTERACTIONS, {"ids": ids[USER][start:start + self.batch_size].tolist()})]
            at, known = rows(ITEM, item)
            late += int((~known).sum())
            users.append(start + np.asarray(k, np.int64)[known]), items.append(at[known])
            scenarios.append(np.asarray(scenario, dtype=str)[known] if scenario else np.zeros(0, dtype=str))
        kinds = sorted(check_relation_name(kind) for (kind,) in
                       (r.values() for r in tx.run("CALL db.relationshipTypes() YIELD relationshipType "
                                                   "RETURN relationshipType"))
                       if kind not in (INTERACTED, RECOMMENDED))
        pairs: dict[tuple[str, str, str], tuple[list, list]] = defaultdict(lambda: ([], []))
        if kinds:
            types = "|".join(_q(kind) for kind in kinds)
            for src_label in NODE_LABELS:
                # Typed expansion: the INTERACTED relationships of a user are not even touched.
                query = (f"UNWIND range(0, size($ids) - 1) AS k MATCH (:{_q(src_label)} {{id: $ids[k]}})"
                         f"-[r:{types}]->(b) RETURN type(r), labels(b)[0], collect(k), collect(b.id)")
                for start in range(0, len(ids[src_label]), self.batch_size):
                    batch = ids[src_label][start:start + self.batch_size].tolist()
                    for kind, dst_label, k, dst in (r.values() for r in tx.run(query, {"ids": batch})):
                        at, known = rows(check_label(dst_label), dst)
                        late += int((~known).sum())
                        a, b = pairs[(src_label, kind, dst_label)]
                        a.append(start + np.asarray(k, np.int64)[known]), b.append(at[known])
        def concat(parts: list[np.ndarray], dtype) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0, dtype)

        relations = {key: (concat(a, np.int64), concat(b, np.int64)) for key, (a, b) in sorted(pairs.items())}
        return GraphTopology(ids, (concat(users, np.int64), concat(items, np.int64), concat(scenarios, str)),
                             relations), late

    def read_vectors(self, label: str, ids: Sequence[str], prop: str = "embedding") -> tuple[np.ndarray, np.ndarray]:
        """One statement per :attr:`batch_size` ids, each one record: the positions found and
        their vectors, as two lists."""
        label, prop = check_label(label), check_name(prop)
        ids = [str(node_id) for node_id in ids]
        query = (f"UNWIND range(0, size($ids) - 1) AS k MATCH (n:{_q(label)} {{id: $ids[k]}}) "
                 f"WHERE n.{_q(prop)} IS NOT NULL RETURN collect(k), collect(n.{_q(prop)})")

        def work(tx) -> list[tuple[list, list]]:
            return [tuple(r.values()) for start in range(0, len(ids), self.batch_size)
                    for r in tx.run(query, {"ids": ids[start:start + self.batch_size]})]

        with self._session() as session:
            batches = session.execute_read(work)
        found = np.zeros(len(ids), bool)
        size = next((len(v[0]) for _, v in batches if v), None)
        vectors = np.zeros((len(ids), self.vector_size(label, prop) if size is None else size), np.float32)
        for start, (k, values) in zip(range(0, len(ids), self.batch_size), batches):
            if k:
                at = start + np.asarray(k, np.int64)
                vectors[at], found[at] = np.asarray(values, np.float32), True
        return vectors, found

    def vector_size(self, label: str, prop: str = "embedding") -> int:
        label, prop = check_label(label), check_name(prop)
        found = self._read(f"MATCH (n:{_q(label)}) WHERE n.{_q(prop)} IS NOT NULL RETURN size(n.{_q(prop)}) LIMIT 1")
        return int(found[0][0]) if found else 0

    # ----------------------------------------------------------------- vectors
    @staticmethod
    def vector_index_name(label: str, prop: str) -> str:
        return f"{check_label(label).lower()}_{check_name(prop)}_vector"

    def write_vectors(self, label: str, ids: Sequence[str], vectors: np.ndarray, prop: str = "embedding") -> None:
        """Set ``prop`` on each existing ``label`` node to its vector (float32) and create a cosine
        vector index on it if there is none. Ids with no node are skipped."""
        label, prop = check_label(label), check_name(prop)
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(ids):
            raise ValueError(f"vectors must have shape [{len(ids)}, dim], got {vectors.shape}")
        self._ready()
        query = (f"UNWIND $rows AS row MATCH (n:{_q(label)} {{id: row.id}}) "
                 "CALL db.create.setNodeVectorProperty(n, $prop, row.v)")
        rows = [{"id": node_id, "v": vector.tolist()} for node_id, vector in zip(ids, vectors)]
        for chunk in _chunks(rows, self.batch_size):
            self._write([(query, {"rows": list(chunk), "prop": prop})])
        name = self.vector_index_name(label, prop)
        create = (f"CREATE VECTOR INDEX {_q(name)} IF NOT EXISTS FOR (n:{_q(label)}) ON (n.{_q(prop)}) "
                  "OPTIONS {indexConfig: {`vector.dimensions`: $dimensions, `vector.similarity_function`: 'cosine', "
                  # exact scores: quantization (on by default since 5.23) perturbs them by ~1e-3
                  "`vector.quantization.enabled`: false}}")
        with self._session() as session:
            session.execute_write(lambda tx: tx.run(create, {"dimensions": int(vectors.shape[1])}).consume())
            session.run("CALL db.awaitIndex($name, 300)", {"name": name}).consume()

    def similar_by_vector(self, label: str, vector: np.ndarray, k: int, prop: str = "embedding") -> list[tuple[str, float]]:
        """Nearest ``label`` nodes by cosine, best first, scored ``(1 + cos) / 2`` as Neo4j does."""
        name = self.vector_index_name(label, prop)
        if not self._read("SHOW VECTOR INDEXES YIELD name WHERE name = $name RETURN name", {"name": name}):
            return []
        query = ("CALL db.index.vector.queryNodes($name, $k, $vector) YIELD node, score "
                 "RETURN node.id, score ORDER BY score DESC")
        vector = np.asarray(vector, dtype=np.float32).tolist()
        return [(node_id, float(score)) for node_id, score in self._read(query, {"name": name, "k": int(k),
                                                                              "vector": vector})]

    # ----------------------------------------------------------------- recommendations
    def replace_recommendations(self, model: str, recommendations: Iterable[Recommendation], at: str) -> None:
        """Per batch of users, one transaction deletes their RECOMMENDED relationships of ``model``
        and writes the new ones, so a re-run replaces instead of adding."""
        by_user: dict[str, dict[str, dict]] = defaultdict(dict)
        for r in recommendations:
            by_user[r.user_id][r.item_id] = {"u": r.user_id, "i": r.item_id, "score": float(r.score),
                                             "rank": int(r.rank)}
        if not by_user:
            return
        self._ready()
        delete = (f"UNWIND $users AS uid MATCH (:{_q(USER)} {{id: uid}})-[r:{_q(RECOMMENDED)}]->() "
                  "WHERE r.model = $model DELETE r")
        create = (f"UNWIND $rows AS row MATCH (u:{_q(USER)} {{id: row.u}}) MATCH (i:{_q(ITEM)} {{id: row.i}}) "
                  f"MERGE (u)-[r:{_q(RECOMMENDED)} {{model: $model}}]->(i) "
                  "SET r.score = row.score, r.rank = row.rank, r.at = $at")
        users = list(by_user)
        batch, batch_users = [], []
        for index, user in enumerate(users):
            batch.extend(by_user[user].values()), batch_users.append(user)
            if len(batch) >= self.batch_size or index == len(users) - 1:
                self._write([(delete, {"users": batch_users, "model": model}),
                             self._merge_nodes(USER, batch_users),
                             self._merge_nodes(ITEM, (row["i"] for row in batch)),
                             (create, {"rows": batch, "model": model, "at": at})])
                batch, batch_users = [], []

    def recommendations(self, user_id: str, model: str) -> list[Recommendation]:
        rows = self._read(f"MATCH (:{_q(USER)} {{id: $u}})-[r:{_q(RECOMMENDED)}]->(i:{_q(ITEM)}) "
                          "WHERE r.model = $model RETURN i.id, r.score, r.rank ORDER BY r.rank",
                          {"u": user_id, "model": model})
        return [Recommendation(user_id, item_id, float(score), int(rank)) for item_id, score, rank in rows]
