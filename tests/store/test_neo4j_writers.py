"""How Neo4jStore cuts a batch of interactions for its concurrent writers (no server needed; the
writes themselves run in the Neo4j contract, crash and concurrency tests)."""
from __future__ import annotations

from types import SimpleNamespace

from kg_recsys.store.neo4j import Neo4jStore


def split(groups: dict, writers: int) -> list[dict]:
    return Neo4jStore._split(SimpleNamespace(writers=writers), groups)


def test_a_batch_is_cut_into_whole_users_of_about_equal_rows():
    groups = {f"u{n}": {(f"i{k}", "key"): {} for k in range(rows)} for n, rows in enumerate([5, 1, 1, 3, 2, 4, 4])}
    parts = split(groups, 2)
    assert len(parts) == 2
    assert [user for part in parts for user in part] == list(groups)  # every user once, in order
    assert all(part[user] is groups[user] for part in parts for user in part)  # a user's rows stay together
    sizes = [sum(len(rows) for rows in part.values()) for part in parts]
    assert sum(sizes) == 20 and max(sizes) - min(sizes) <= 5  # the largest user bounds the imbalance
    assert split(groups, 1) == [groups]
    assert split({"u": groups["u0"]}, 2) == [{"u": groups["u0"]}]  # one user: one transaction
    assert len(split(groups, 3)) == 3 and len(split(groups, 50)) == len(groups)
