"""The inspection queries in ``graphs/queries`` and write-back, against the real Neo4j.

One module fixture empties the database, adds one cold item (no interactions), then runs
``kgrec train demo --store bolt://...`` (ingest, fit, save, write vectors and RECOMMENDED);
every query file is then run with its parameters and its answer checked.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kg_recsys.cli import main

pytestmark = pytest.mark.neo4j

QUERIES = Path(__file__).resolve().parents[1] / "graphs" / "queries"
MODEL = "kg_recsys"
COLD = "b_cold"


def query(name: str) -> str:
    return (QUERIES / f"{name}.cypher").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def trained(neo4j_uri, tmp_path_factory):
    """``(driver, store, model_dir, train summary)`` after ``kgrec train demo`` on Neo4j."""
    import neo4j

    from kg_recsys.store.neo4j import Neo4jStore, _password

    model_dir = tmp_path_factory.mktemp("model")
    with Neo4jStore(neo4j_uri) as store:
        store.clear()
        store.ensure_schema()
        store.upsert_nodes("Item", [{"id": COLD, "text": "The Haunted Cellar. A ghost story novel. A tale of ghost, "
                                                        "curse and whisper.", "scenario": "books"}])
        store.upsert_relations([{"src_label": "Item", "src_id": COLD, "relation": "genre",
                                 "dst_label": "Entity", "dst_id": "genre=ghost story"}])
    summary = _run_cli(["train", "demo", "--store", neo4j_uri, "--model-dir", str(model_dir), "--epochs", "3",
                        "--no-progress", "--k", "10"])
    driver = neo4j.GraphDatabase.driver(neo4j_uri, auth=("neo4j", _password(None)))
    store = Neo4jStore(neo4j_uri)
    yield driver, store, model_dir, summary
    store.close()
    driver.close()


def _run_cli(argv: list[str]) -> dict:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    assert code == 0, out.getvalue()
    return json.loads(out.getvalue().strip().splitlines()[-1])


def run(driver, name: str, **parameters) -> list[dict]:
    records, _, _ = driver.execute_query(query(name), parameters, database_="neo4j")
    return [record.data() for record in records]


def test_every_query_is_parameterised():
    files = sorted(p.stem for p in QUERIES.glob("*.cypher"))
    assert files == ["cold_item_neighbours", "scenario_overlap", "top_k_recommended", "user_neighbourhood",
                     "why_recommended"]
    for name in files:
        text = query(name)
        assert "$" in text and "{}" not in text and "%s" not in text, name


def test_train_summary(trained):
    _, store, model_dir, summary = trained
    assert summary["recommended_written"] == 300 * 10
    assert summary["nodes"]["User"] == 300 and summary["nodes"]["Item"] == 401
    assert (model_dir / "model.safetensors").is_file()
    assert store.counts()["relationships"]["RECOMMENDED"] == 3000


def test_recommended_in_cypher_equals_the_api(trained):
    from kg_recsys import Recommender

    driver, store, model_dir, _ = trained
    recommender = Recommender.load(model_dir, store)
    users = ["u001", "u002", "u150", "u300"]
    ids, scores = recommender.recommend(users, k=10)
    for row, user in enumerate(users):
        found = run(driver, "top_k_recommended", user=user, model=MODEL, k=10)
        assert [r["item"] for r in found] == ids[row].tolist()
        assert [r["rank"] for r in found] == list(range(1, 11))
        np.testing.assert_allclose([r["score"] for r in found], scores[row], rtol=1e-4, atol=1e-5)


def test_user_neighbourhood(trained):
    driver, store, _, _ = trained
    rows = run(driver, "user_neighbourhood", user="u001", limit=500)
    relations = {r["relation"] for r in rows}
    assert {"INTERACTED", "RECOMMENDED", "age_group", "country"} <= relations
    for r in rows:
        if r["relation"] == "INTERACTED":
            assert r["label"] == "Item" and not r["incoming"] and r["links"], r
            assert store.has_relationship("User", "u001", "INTERACTED", "Item", r["id"])
    recommended = sorted((r["rank"], r["id"]) for r in rows if r["relation"] == "RECOMMENDED")
    assert [rank for rank, _ in recommended] == list(range(1, 11))
    assert run(driver, "user_neighbourhood", user="no-such-user", limit=10) == []


def test_why_recommended_paths_exist(trained):
    driver, store, _, _ = trained
    top = run(driver, "top_k_recommended", user="u002", model=MODEL, k=1)[0]
    rows = run(driver, "why_recommended", user="u002", item=top["item"], model=MODEL, limit=10)
    assert rows, "no path explains the top recommendation"
    assert {r["rank"] for r in rows} == {1}
    assert [r["weight"] for r in rows] == sorted((r["weight"] for r in rows), reverse=True)
    for r in rows:
        nodes = [n.split(":", 1) for n in r["nodes"]]
        assert nodes[0] == ["User", "u002"] and nodes[-1] == ["Item", top["item"]]
        for (la, a), relation, (lb, b) in zip(nodes, r["relations"], nodes[1:]):
            assert store.has_relationship(la, a, relation, lb, b)


def test_why_recommended_equals_explain(trained):
    """One definition of path weights: the query returns exactly the paths, order and weights
    of ``Recommender.explain`` on the same graph (every path, not only the head)."""
    from kg_recsys import Recommender

    driver, store, model_dir, _ = trained
    recommender = Recommender.load(model_dir, store)
    pairs = [(user, r["item"]) for user in ("u001", "u002", "u150")
             for r in run(driver, "top_k_recommended", user=user, model=MODEL, k=2)]
    pairs.append(("u001", COLD))  # not recommended: no rank, paths through its genre only
    kinds = set()
    for user, item in pairs:
        paths = recommender.explain(user, item, max_paths=10_000).paths
        rows = run(driver, "why_recommended", user=user, item=item, model=MODEL, limit=10_000)
        assert [(r["kind"], r["nodes"], r["relations"]) for r in rows] == \
            [(p.kind, [f"{s.label}:{s.id}" for s in p.nodes], list(p.relations)) for p in paths], (user, item)
        np.testing.assert_allclose([r["weight"] for r in rows], [p.weight for p in paths], rtol=1e-12)
        limited = run(driver, "why_recommended", user=user, item=item, model=MODEL, limit=5)
        assert [r["nodes"] for r in limited] == [[f"{s.label}:{s.id}" for s in p.nodes]
                                                 for p in recommender.explain(user, item, max_paths=5).paths]
        kinds |= {p.kind for p in paths}
    assert {"content", "collaborative"} <= kinds


def test_cold_item_neighbours(trained):
    driver, store, _, _ = trained
    index = store.vector_index_name("Item", "embedding")
    rows = run(driver, "cold_item_neighbours", index=index, k=5, limit=10)
    assert [r["cold_item"] for r in rows] == [COLD]
    neighbours = rows[0]["neighbours"]
    assert len(neighbours) == 5 and COLD not in [n["id"] for n in neighbours]
    assert [n["score"] for n in neighbours] == sorted((n["score"] for n in neighbours), reverse=True)
    # The cold item is a ghost story; most of its neighbours should be horror too.
    horror = sum(store.has_relationship("Item", n["id"], "genre", "Entity", "genre=ghost story")
                 or store.has_relationship("Item", n["id"], "genre", "Entity", "genre=slasher") for n in neighbours)
    assert horror >= 3, neighbours


def test_scenario_overlap(trained):
    driver, store, _, _ = trained
    rows = run(driver, "scenario_overlap", a="books", b="movies", limit=1000)
    assert rows and all(r["in_a"] > 0 and r["in_b"] > 0 for r in rows)
    snapshot = store.snapshot()
    inter = snapshot.interactions
    both = {str(snapshot.users.ids[u]) for u in set(inter.user[inter.scenario == "books"].tolist())
            & set(inter.user[inter.scenario == "movies"].tolist())}
    assert {r["user"] for r in rows} == both
