"""Explanation paths, their weights, their sentence and a user's interests, on a hand-built
graph whose every number is worked out below (no model, no Neo4j).

The graph (``w`` = summed interaction weight, ``k`` = degree as the weights define it)::

    u1 -rating 4, click 1-> A "Star Wars"   (w = 5)      A -genre-> genre=Adventure <-genre- T, C   k = 3
    u1 -rating 2-> B "Jaws"                 (w = 2)      B -director-> director=Spielberg <-director- T   k = 2
    u2 -rating-> A, T, C                    (k = 3)      A -SAME_AS-> work:starwars
    u3 -click-> B, T (T twice)              (k = 2)      T -country-> country=US <-country- u1   k = 1
    u4 -click-> Z                                        Z links to nothing
"""
from __future__ import annotations

import re

import pytest

from kg_recsys.explanations import (
    COLLABORATIVE, CONTENT, PROFILE, Explanation, ExplanationPath, PathStep, display_name, explanation_paths,
    user_interests,
)
from kg_recsys.schema import ENTITY, INTERACTED, ITEM, SAME_AS, USER
from kg_recsys.store.memory import MemoryStore


@pytest.fixture(scope="module")
def graph():
    store = MemoryStore()
    store.upsert_nodes(ITEM, [{"id": "A", "text": "Star Wars. A space opera film."},
                              {"id": "B", "text": "Jaws. A film about a shark."},
                              {"id": "T", "text": "Indiana Jones. An adventure film."},
                              {"id": "C", "text": "The Goonies"}])
    store.upsert_nodes(ENTITY, [{"id": "genre=Adventure", "text": "Adventure"},
                                {"id": "director=Spielberg", "text": "Spielberg"},
                                {"id": "work:starwars", "text": "Star Wars (1977)"}])
    rated = [("u1", "A", "rating", 4.0, 1), ("u1", "A", "click", 1.0, 2), ("u1", "B", "rating", 2.0, 3),
             ("u2", "A", "rating", 3.0, 4), ("u2", "T", "rating", 5.0, 5), ("u2", "C", "rating", 1.0, 6),
             ("u3", "B", "click", 1.0, 7), ("u3", "T", "click", 1.0, 8), ("u3", "T", "click", 1.0, 9),
             ("u4", "Z", "click", 1.0, 10)]
    store.upsert_interactions([{"user_id": u, "item_id": i, "kind": k, "weight": w, "timestamp": t}
                               for u, i, k, w, t in rated])
    links = [(ITEM, "A", "genre", "genre=Adventure"), (ITEM, "T", "genre", "genre=Adventure"),
             (ITEM, "C", "genre", "genre=Adventure"), (ITEM, "B", "director", "director=Spielberg"),
             (ITEM, "T", "director", "director=Spielberg"), (ITEM, "A", SAME_AS, "work:starwars"),
             (ITEM, "T", "country", "country=US"), (USER, "u1", "country", "country=US")]
    store.upsert_relations([{"src_label": s, "src_id": a, "relation": r, "dst_label": ENTITY, "dst_id": b}
                            for s, a, r, b in links])
    return store, store.snapshot()


def _rows(snapshot, user, item):
    return snapshot.users.index()[user], snapshot.items.index()[item]


def test_path_weights_by_hand(graph):
    _, snapshot = graph
    paths = explanation_paths(snapshot, *_rows(snapshot, "u1", "T"), max_paths=10)
    got = [(p.kind, [f"{s.label}:{s.id}" for s in p.nodes], list(p.relations), p.weight) for p in paths]
    # Equal weights are ordered by kind, then nodes: the Cypher query's ORDER BY.
    assert got == [
        (COLLABORATIVE, ["User:u1", "Item:A", "User:u2", "Item:T"], [INTERACTED] * 3, 5 / 3),
        (CONTENT, ["User:u1", "Item:A", "Entity:genre=Adventure", "Item:T"], [INTERACTED, "genre", "genre"], 5 / 3),
        (COLLABORATIVE, ["User:u1", "Item:B", "User:u3", "Item:T"], [INTERACTED] * 3, 2 / 2),
        (CONTENT, ["User:u1", "Item:B", "Entity:director=Spielberg", "Item:T"], [INTERACTED, "director", "director"],
         2 / 2),
        (PROFILE, ["User:u1", "Entity:country=US", "Item:T"], ["country", "country"], 1 / 1),
    ]
    assert [p.forward for p in paths] == [(True, False, True), (True, True, False), (True, False, True),
                                          (True, True, False), (True, False)]
    assert paths[0].interaction_kinds == (("click", "rating"), ("rating",), ("rating",))
    assert paths[2].interaction_kinds == (("rating",), ("click",), ("click",))
    # max_paths keeps the head of the same order.
    assert explanation_paths(snapshot, *_rows(snapshot, "u1", "T"), max_paths=3) == paths[:3]


def test_every_hop_of_every_path_is_in_the_store(graph):
    store, snapshot = graph
    for user in ("u1", "u2", "u3"):
        for item in ("A", "B", "C", "T"):
            for path in explanation_paths(snapshot, *_rows(snapshot, user, item), max_paths=50):
                for a, relation, b, forward in zip(path.nodes, path.relations, path.nodes[1:], path.forward):
                    src, dst = (a, b) if forward else (b, a)
                    assert store.has_relationship(src.label, src.id, relation, dst.label, dst.id), path


def test_text_says_only_what_the_paths_hold(graph):
    _, snapshot = graph
    paths = explanation_paths(snapshot, *_rows(snapshot, "u1", "T"), max_paths=10)
    explanation = Explanation("u1", "T", 0.5, None, tuple(paths), "Indiana Jones")
    assert explanation.text() == (
        'Because you clicked and rated "Star Wars", and user u2, who also rated it, rated "Indiana Jones"; '
        'and because you clicked and rated "Star Wars", which shares the genre "Adventure" with "Indiana Jones".')
    clauses = [p.sentence() for p in paths]
    assert clauses[2:] == [
        'you rated "Jaws", and user u3, who also clicked it, clicked "Indiana Jones"',
        'you rated "Jaws", which shares the director "Spielberg" with "Indiana Jones"',
        'your country is "US", and "Indiana Jones" has the country "US"',
    ]
    # Every quoted name is a node of that clause's path, in the path's order.
    for path, clause in zip(paths, clauses):
        names = [display_name(s) for s in path.nodes]
        quoted = re.findall(r'"([^"]+)"', clause)
        assert quoted and all(q in names for q in quoted), (clause, names)
    assert explanation.text(max_paths=5).count("because") == 4


def test_text_without_paths_says_so():
    explanation = Explanation("u4", "C", 0.1, 0.2, (), "The Goonies")
    assert explanation.text() == ('No path in the graph ties user u4 to "The Goonies": the score comes from the '
                                  "vectors alone (text and learned features).")


def test_no_path_when_nothing_is_shared(graph):
    _, snapshot = graph
    # u4's one item links to nothing and nobody else took it; u4 has no attributes.
    assert explanation_paths(snapshot, *_rows(snapshot, "u4", "C"), max_paths=5) == []
    # u3 took T, which shares the genre with C, and u2 took both T and C: paths exist.
    kinds = {p.kind for p in explanation_paths(snapshot, *_rows(snapshot, "u3", "C"), max_paths=5)}
    assert kinds == {CONTENT, COLLABORATIVE}


def test_display_names():
    assert display_name(PathStep(ITEM, "m1", "Mr. Holland's Opus (1995). A drama.")) == "Mr. Holland's Opus (1995)"
    assert display_name(PathStep(ITEM, "m2", "")) == "m2"
    assert display_name(PathStep(ENTITY, "genre=Comedy", "")) == "Comedy"
    assert display_name(PathStep(USER, "u7", "a reader")) == "user u7"


def test_interests_by_hand(graph):
    _, snapshot = graph
    u1 = snapshot.users.index()["u1"]
    # A (w 5) spreads over its 2 links, B (w 2) over its 1; all over the total weight 7.
    got = [(i.entity_id, i.name, i.weight) for i in user_interests(snapshot, u1, k=10)]
    assert got == [("genre=Adventure", "Adventure", pytest.approx(2.5 / 7)),
                   ("work:starwars", "Star Wars (1977)", pytest.approx(2.5 / 7)),
                   ("director=Spielberg", "Spielberg", pytest.approx(2 / 7))]
    assert sum(w for _, _, w in got) == pytest.approx(1.0)
    assert [i.entity_id for i in user_interests(snapshot, u1, k=1)] == ["genre=Adventure"]
    # u3: B (w 1, 1 link) and T (w 2, 3 links): total 3.
    u3 = snapshot.users.index()["u3"]
    weights = {i.entity_id: i.weight for i in user_interests(snapshot, u3, k=10)}
    assert weights == pytest.approx({"director=Spielberg": (1 + 2 / 3) / 3, "genre=Adventure": (2 / 3) / 3,
                                     "country=US": (2 / 3) / 3})
    assert user_interests(snapshot, snapshot.users.index()["u4"], k=10) == []  # its item links to nothing


def test_templates_for_a_same_as_path_and_any_other_shape():
    user, a, t = PathStep(USER, "u1", ""), PathStep(ITEM, "A", "Star Wars. A film."), PathStep(ITEM, "T", "Star Wars")
    work = PathStep(ENTITY, "m.0dyb1", "Star Wars (1977)")
    same = ExplanationPath((user, a, work, t), (INTERACTED, SAME_AS, SAME_AS), (True, True, False), 1.0, CONTENT,
                           (("purchase",), (), ()))
    assert same.sentence() == ('you bought "Star Wars", which, like "Star Wars", is "Star Wars (1977)" in the '
                               'knowledge graph')
    # A shape without a template says each hop in its own direction; an unknown interaction
    # kind is named as it is.
    other = ExplanationPath((user, a, work), (INTERACTED, "film.film.sequel"), (True, False), 1.0, "",
                            (("binge",), ()))
    assert other.sentence() == ('user u1 had a "binge" interaction with "Star Wars", '
                                '"Star Wars (1977)" -sequel-> "Star Wars"')
