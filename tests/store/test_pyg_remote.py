"""PyG's remote backend over the stores (kg_recsys.store.pyg_remote) and the plain-torch
NeighborSampler (kg_recsys.training.pyg_sampler): a loader over (feature_store, graph_store)
yields, for one seed, the subgraphs a loader over the in-memory HeteroData yields. Every test
that takes ``demo`` runs on the embedded store and on Neo4j (marked ``neo4j``), on the demo
data set loaded once per module."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.loader import LinkNeighborLoader, NeighborLoader

from ingest import ingest_source
from kg_recsys.graph import build_hetero_data, make_layout
from kg_recsys.schema import ENTITY, ITEM, NODE_LABELS, USER, SchemaError
from kg_recsys.store.base import GraphSnapshot, GraphTopology
from kg_recsys.store.memory import MemoryStore
from kg_recsys.store.pyg_remote import TEXT_VECTOR_PROP, store_backend, write_text_vectors
from kg_recsys.training.pyg_sampler import TorchNeighborSampler

DIM = 8
FANOUT = [4, 3]


def load_demo(store) -> tuple[GraphSnapshot, dict[str, np.ndarray]]:
    """The demo graph in ``store`` with random text vectors on every node but each fifth
    entity (those read as zero rows); returns the reference snapshot and vectors."""
    ingest_source("demo", store, progress=False)
    snapshot = store.snapshot()
    rng = np.random.default_rng(0)
    text = {label: rng.standard_normal((len(snapshot.nodes(label)), DIM)).astype(np.float32) for label in NODE_LABELS}
    text[ENTITY][::5] = 0.0
    ids = {label: snapshot.nodes(label).ids for label in NODE_LABELS}
    ids[ENTITY] = [node_id for n, node_id in enumerate(ids[ENTITY]) if n % 5]
    write_text_vectors(store, ids, {**text, ENTITY: text[ENTITY][np.arange(len(text[ENTITY])) % 5 > 0]})
    return snapshot, text


@pytest.fixture(scope="module", params=["memory", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def demo(request, tmp_path_factory):
    """``(store, snapshot, text vectors)``: the demo graph with its vectors in each backend."""
    if request.param == "memory":
        store = MemoryStore(tmp_path_factory.mktemp("graph"))
    else:
        from kg_recsys.store.neo4j import Neo4jStore

        # batches of 64 nodes: several statements per read, as on a large graph
        store = Neo4jStore(request.getfixturevalue("neo4j_uri"), batch_size=64)
        store.clear()
        store.ensure_schema()
    with store:
        yield (store, *load_demo(store))


def canonical(topology: GraphTopology) -> dict:
    """The topology as sorted (id, id) pairs, so two of them compare modulo edge order."""
    ids = topology.ids
    users, items, scenarios = topology.interactions
    return {"ids": {label: ids[label].tolist() for label in NODE_LABELS},
            "interactions": sorted(zip(ids[USER][users].tolist(), ids[ITEM][items].tolist(), scenarios.tolist())),
            "relations": {key: sorted(zip(ids[key[0]][src].tolist(), ids[key[2]][dst].tolist()))
                          for key, (src, dst) in topology.relations.items()}}


def loader(data, seed: int = 0, **kwargs) -> NeighborLoader:
    # input_nodes as a bare type name: PyG 2.8.1 loses the type of ("user", None) on remote backends.
    return NeighborLoader(data, FANOUT, input_nodes="user", batch_size=32, shuffle=True,
                          generator=torch.Generator().manual_seed(seed),
                          neighbor_sampler=TorchNeighborSampler(data, FANOUT, seed=seed), **kwargs)


def assert_same_batches(first, second) -> int:
    batches = 0
    for a, b in zip(first, second, strict=True):
        assert a.node_types == b.node_types and sorted(a.edge_types) == sorted(b.edge_types)
        for node_type in a.node_types:
            assert torch.equal(a[node_type].n_id, b[node_type].n_id), node_type
            assert torch.equal(a[node_type].x, b[node_type].x), node_type
            assert a[node_type].num_nodes == b[node_type].num_nodes
        for edge_type in a.edge_types:
            assert torch.equal(a[edge_type].edge_index, b[edge_type].edge_index), edge_type
            assert torch.equal(a[edge_type].e_id, b[edge_type].e_id), edge_type
        assert torch.equal(a["user"].input_id, b["user"].input_id) and a["user"].batch_size == b["user"].batch_size
        batches += 1
    return batches


# ------------------------------------------------------------------------------ the stores' reads
def test_topology_is_the_snapshot_structure_in_its_numbering(demo):
    store, snapshot, _ = demo
    topology = store.topology()
    for label in NODE_LABELS:
        assert topology.ids[label].tolist() == snapshot.nodes(label).ids.tolist()
    assert canonical(topology) == canonical(snapshot.topology())
    assert len(topology.interactions[0]) == len(snapshot.interactions) == 7087
    assert topology.scenarios() == snapshot.scenarios() == ["books", "movies"]


def test_read_vectors_follows_the_ids_asked_with_zero_rows_for_nodes_without_one(demo):
    store, snapshot, text = demo
    items = snapshot.items.ids
    entities = snapshot.entities.ids
    asked = [items[7], "no-such-item", items[0], items[7], "x`}) DETACH DELETE n //"]
    vectors, found = store.read_vectors(ITEM, asked, TEXT_VECTOR_PROP)
    assert vectors.dtype == np.float32 and vectors.shape == (5, DIM)
    assert found.tolist() == [True, False, True, True, False]
    np.testing.assert_array_equal(vectors[[0, 2, 3]], text[ITEM][[7, 0, 7]])
    assert not vectors[[1, 4]].any()
    vectors, found = store.read_vectors(ENTITY, [entities[0], entities[1]], TEXT_VECTOR_PROP)
    assert found.tolist() == [False, True] and not vectors[0].any()
    assert store.vector_size(ITEM, TEXT_VECTOR_PROP) == DIM and store.vector_size(ITEM, "nothing_here") == 0
    empty, none = store.read_vectors(ITEM, [], TEXT_VECTOR_PROP)
    assert empty.shape == (0, DIM) and none.shape == (0,)
    assert store.read_vectors(ITEM, [items[0]], "nothing_here")[0].shape == (1, 0)


# ------------------------------------------------------------------------------ loaders
def test_a_loader_over_the_store_yields_the_in_memory_heterodata_subgraphs(demo, monkeypatch):
    store, snapshot, text = demo
    layout = make_layout(snapshot)
    data = build_hetero_data(snapshot, layout, text)
    monkeypatch.setattr(store, "snapshot", lambda: pytest.fail("the remote backend exported a snapshot"))
    feature_store, graph_store = store_backend(store, layout)
    assert feature_store.dim == DIM
    assert assert_same_batches(loader(data), loader((feature_store, graph_store))) == 10  # 300 users / 32
    # Another seed draws other subgraphs (so the equality above is not vacuous).
    other = next(iter(loader(data, seed=1)))
    first = next(iter(loader(data)))
    assert not torch.equal(other["user"].n_id, first["user"].n_id)


def test_link_loader_over_the_store_yields_the_in_memory_subgraphs(demo):
    store, snapshot, text = demo
    layout = make_layout(snapshot)
    data = build_hetero_data(snapshot, layout, text)
    feature_store, graph_store = store_backend(store, layout)
    edge_type = ("user", "interacted_movies", "item")
    pairs = data[edge_type].edge_index[:, :200]

    def link_loader(source):
        return LinkNeighborLoader(source, FANOUT, edge_label_index=(edge_type, pairs), batch_size=64, shuffle=True,
                                  generator=torch.Generator().manual_seed(0),
                                  neighbor_sampler=TorchNeighborSampler(source, FANOUT, seed=0))

    batches = 0
    for a, b in zip(link_loader(data), link_loader((feature_store, graph_store)), strict=True):
        for node_type in a.node_types:
            assert torch.equal(a[node_type].n_id, b[node_type].n_id) and torch.equal(a[node_type].x, b[node_type].x)
        for key in a.edge_types:
            assert torch.equal(a[key].edge_index, b[key].edge_index)
        label_index = a[edge_type].edge_label_index
        assert torch.equal(label_index, b[edge_type].edge_label_index)
        # the labelled pairs, mapped back through n_id, are the pairs asked for
        asked = {tuple(p) for p in pairs.t().tolist()}
        mapped = torch.stack([a["user"].n_id[label_index[0]], a["item"].n_id[label_index[1]]])
        assert {tuple(p) for p in mapped.t().tolist()} <= asked
        batches += 1
    assert batches == 4


def test_sampled_batches_are_subgraphs_of_the_graph_within_the_fanout():
    store = MemoryStore()
    snapshot, text = load_demo(store)
    data = build_hetero_data(snapshot, make_layout(snapshot), text)
    edges = {key: set(map(tuple, data[key].edge_index.t().tolist())) for key in data.edge_types}
    seen_users = []
    for batch in loader(data):
        users = batch["user"]
        seeds = users.n_id[:users.batch_size]
        assert torch.equal(seeds, users.input_id)  # seeds first, in the loader's order
        seen_users.append(seeds)
        for node_type in batch.node_types:
            assert torch.equal(batch[node_type].x, data[node_type].x[batch[node_type].n_id])
            assert batch[node_type].n_id.unique().numel() == batch[node_type].n_id.numel()
        for key in batch.edge_types:
            local = batch[key].edge_index
            glob = torch.stack([batch[key[0]].n_id[local[0]], batch[key[2]].n_id[local[1]]])
            assert {tuple(p) for p in glob.t().tolist()} <= edges[key]
            assert torch.equal(data[key].edge_index[:, batch[key].e_id], glob)  # e_id: rows of the full graph
            if local.shape[1]:  # at most the fan-out's sum of edges into one target per type
                assert torch.bincount(local[1]).max() <= sum(FANOUT)
    assert torch.cat(seen_users).sort().values.tolist() == list(range(300))  # an epoch: every user once


def test_options_the_draw_does_not_implement_are_refused():
    store = MemoryStore()
    snapshot, text = load_demo(store)
    data = build_hetero_data(snapshot, make_layout(snapshot), text)
    for kwargs in ({"replace": True}, {"disjoint": True}, {"subgraph_type": "induced"}):
        with pytest.raises(ValueError, match="TorchNeighborSampler"):
            TorchNeighborSampler(data, FANOUT, **kwargs)
    with pytest.raises(ValueError, match="one list"):
        TorchNeighborSampler(data, {("user", "interacted_movies", "item"): FANOUT})


def test_the_feature_store_writes_through_and_refuses_unknown_features(demo):
    store, snapshot, text = demo
    feature_store, graph_store = store_backend(store)
    assert feature_store.get_tensor_size(group_name="item", attr_name="x") == (len(snapshot.items), DIM)
    assert torch.equal(feature_store.get_tensor(group_name="item", attr_name="x", index=torch.tensor([2, 0])),
                       torch.from_numpy(text[ITEM][[2, 0]]))
    # Another property, so the vectors the other tests read stay as they are.
    scratch, _ = store_backend(store, prop="scratch_vector", dim=DIM)
    new = torch.full((2, DIM), 0.5)
    scratch.put_tensor(new, group_name="item", attr_name="x", index=torch.tensor([3, 1]))
    got = scratch.get_tensor(group_name="item", attr_name="x", index=torch.tensor([1, 2, 3]))
    assert torch.equal(got[[0, 2]], new) and not got[1].any()  # item 2 has no scratch vector: zeros
    with pytest.raises(KeyError):
        feature_store.get_tensor(group_name="item", attr_name="text", index=torch.tensor([0]))
    assert {attr.edge_type for attr in graph_store.get_all_edge_attrs()} == set(make_layout(snapshot).edge_types)


def test_a_store_without_vectors_says_how_to_write_them(memory_store):
    ingest_source("demo", memory_store, progress=False)
    with pytest.raises(ValueError, match="write_vectors"):
        store_backend(memory_store)


@pytest.mark.neo4j
def test_neo4j_names_are_checked_before_they_reach_cypher(neo4j_store):
    with pytest.raises(SchemaError):
        neo4j_store.read_vectors(ITEM, ["x"], "x`) DETACH DELETE n //")
    with pytest.raises(SchemaError):
        neo4j_store.vector_size("Item`", TEXT_VECTOR_PROP)
    with pytest.raises(SchemaError):
        neo4j_store.read_vectors("Item` {id: 'x'}) DETACH DELETE n //", ["x"], TEXT_VECTOR_PROP)


def test_topology_follows_the_snapshot_after_a_user_is_deleted_in_small_batches(store):
    """Every kind of relationship (user-user, user-entity, item-entity, entity-entity, repeated
    interactions) and a deleted user; on Neo4j in batches of 7 (the fixture's)."""
    store.upsert_nodes(ITEM, [{"id": f"i{n}", "text": "t"} for n in range(12)])
    store.upsert_interactions([{"user_id": f"u{n % 9}", "item_id": f"i{n % 12}", "scenario": ("a", "b")[n % 2],
                                "timestamp": float(n // 20)} for n in range(60)])
    store.upsert_relations(
        [{"src_label": USER, "src_id": "u1", "relation": "friend", "dst_label": USER, "dst_id": "u2"},
         {"src_label": USER, "src_id": "u3", "relation": "occupation", "dst_label": ENTITY, "dst_id": "occ=x"},
         {"src_label": ENTITY, "src_id": "m.1", "relation": "film.actor", "dst_label": ENTITY, "dst_id": "m.2"}]
        + [{"src_label": ITEM, "src_id": f"i{n}", "relation": "genre", "dst_label": ENTITY, "dst_id": f"g{n % 4}"}
           for n in range(12)])
    assert store.delete_user("u4")
    snapshot, topology = store.snapshot(), store.topology()
    assert canonical(topology) == canonical(snapshot.topology())
    assert "u4" not in topology.ids[USER].tolist() and len(topology.interactions[0]) == len(snapshot.interactions)
    layout = make_layout(snapshot, min_relation_edges=1)
    assert make_layout(topology, min_relation_edges=1) == layout
    data = build_hetero_data(snapshot, layout)
    _, graph_store = store_backend(store, layout, dim=DIM)
    for attr in graph_store.get_all_edge_attrs():
        row, col = graph_store.get_edge_index(attr)
        assert torch.equal(torch.stack([row, col]), data[attr.edge_type].edge_index), attr.edge_type
