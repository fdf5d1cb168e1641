import numpy as np

from kg_recsys.graph import build_hetero_data, make_layout
from kg_recsys.store import MemoryStore


def small_store():
    store = MemoryStore()
    store.upsert_nodes("Item", [{"id": "i1", "text": "one"}, {"id": "i2", "text": "two"}])
    store.upsert_interactions([{"user_id": "u1", "item_id": "i1", "scenario": "books"},
                               {"user_id": "u1", "item_id": "i2", "scenario": "movies"},
                               {"user_id": "u2", "item_id": "i2", "scenario": "movies"}])
    store.upsert_relations([
        {"src_label": "Item", "src_id": "i1", "relation": "SAME_AS", "dst_label": "Entity", "dst_id": "e1"},
        {"src_label": "Entity", "src_id": "e1", "relation": "film.director", "dst_label": "Entity", "dst_id": "e2"},
        {"src_label": "User", "src_id": "u1", "relation": "friend", "dst_label": "User", "dst_id": "u2"},
    ])
    return store


def test_edge_types_per_scenario_relation_and_kg_projection():
    snap = small_store().snapshot()
    layout = make_layout(snap, min_relation_edges=0)
    types = set(layout.edge_types)
    assert ("user", "interacted_books", "item") in types and ("user", "interacted_movies", "item") in types
    assert ("item", "rev_interacted_books", "user") in types
    assert ("entity", "kg_film_director", "item") in types  # triple projected onto the linked item
    assert ("user", "friend", "user") in types
    data = build_hetero_data(snap, layout)
    items, entities = snap.items.index(), snap.entities.index()
    src, dst = data["entity", "kg_film_director", "item"].edge_index.tolist()
    assert (entities["e2"], items["i1"]) in set(zip(src, dst))
    # Friends are symmetric.
    assert data["user", "friend", "user"].edge_index.size(1) == 2
    assert layout.scenarios == ("books", "movies")


def test_layout_is_kept_when_a_graph_lacks_an_edge_type():
    store = small_store()
    layout = make_layout(store.snapshot(), use_kg=False, min_relation_edges=0)
    assert not any("kg_" in r or r == "SAME_AS" for _, r, _ in layout.edge_types)
    empty = MemoryStore()
    empty.upsert_interactions([{"user_id": "x", "item_id": "y", "scenario": "books"}])
    data = build_hetero_data(empty.snapshot(), layout)
    assert data["user", "friend", "user"].edge_index.shape == (2, 0)
    assert np.array_equal(data["user", "interacted_books", "item"].edge_index.numpy(), [[0], [0]])


def test_rare_relations_share_one_other_type():
    snap = small_store().snapshot()
    layout = make_layout(snap, min_relation_edges=5)  # every non-interaction relation is rare here
    assert ("entity", "other", "item") in layout.edge_types
    assert not any(r.startswith("kg_") for _, r, _ in layout.edge_types)
    # Interactions are never merged, however few: each scenario keeps its own weights.
    assert not any("interacted" in original[1] for original, _ in layout.merged)
    assert ("user", "interacted_books", "item") in layout.edge_types
    data = build_hetero_data(snap, layout)
    items, entities = snap.items.index(), snap.entities.index()
    pairs = set(zip(*data["entity", "other", "item"].edge_index.tolist()))
    assert (entities["e2"], items["i1"]) in pairs  # the projected KG triple is still there
    from kg_recsys.graph import GraphLayout
    assert GraphLayout.from_dict(layout.to_dict()) == layout
