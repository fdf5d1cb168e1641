import pytest
import torch
import torch.nn.functional as F

from kg_recsys.nn import KGRecGNN, MLPRanker

EDGE_TYPES = (("user", "interacted_default", "item"), ("item", "rev_interacted_default", "user"),
              ("entity", "genre", "item"), ("item", "links_to", "entity"))


def tiny_graph():
    x = {"user": torch.randn(3, 8), "item": torch.randn(4, 8), "entity": torch.randn(2, 8)}
    edges = {
        EDGE_TYPES[0]: torch.tensor([[0, 1, 2], [0, 1, 2]]),
        EDGE_TYPES[1]: torch.tensor([[0, 1, 2], [0, 1, 2]]),
        EDGE_TYPES[2]: torch.tensor([[0, 0, 1, 1], [0, 3, 1, 2]]),
        EDGE_TYPES[3]: torch.tensor([[0, 3, 1, 2], [0, 0, 1, 1]]),
    }
    return x, edges


def ids(n_user=3, n_item=4, n_entity=2):
    return {"user": torch.arange(n_user), "item": torch.arange(n_item), "entity": torch.arange(n_entity)}


@pytest.mark.parametrize("num_layers", [0, 1, 2])
def test_output_shapes(num_layers):
    x, edges = tiny_graph()
    model = KGRecGNN(("user", "item", "entity"), EDGE_TYPES, {"user": 3, "item": 4, "entity": 2}, text_dim=8,
                     hidden_dim=16, num_layers=num_layers)
    out = model(x, ids(), edges)
    assert {k: tuple(v.shape) for k, v in out.items()} == {"user": (3, 16), "item": (4, 16), "entity": (2, 16)}
    assert "hidden_dim=16" in repr(model)


def test_a_node_without_id_gets_its_vector_from_text_and_links():
    torch.manual_seed(0)
    x, edges = tiny_graph()
    model = KGRecGNN(("user", "item", "entity"), EDGE_TYPES, {"user": 3, "item": 3, "entity": 2}, text_dim=8,
                     hidden_dim=16, num_layers=2, dropout=0.0).eval()
    index = ids()
    index["item"] = torch.tensor([0, 1, 2, -1])  # item 3 is new: no id embedding
    out = model(x, index, edges)
    assert torch.isfinite(out["item"][3]).all() and out["item"][3].abs().sum() > 0
    # Its vector depends on its KG neighbour (entity 0), so changing that entity's text moves it.
    x2 = {k: v.clone() for k, v in x.items()}
    x2["entity"][0] += 1.0
    assert not torch.allclose(model(x2, index, edges)["item"][3], out["item"][3])


def test_id_embeddings_only_apply_where_index_is_set():
    x, edges = tiny_graph()
    model = KGRecGNN(("user", "item", "entity"), EDGE_TYPES, {"user": 3, "item": 4, "entity": 2}, text_dim=8,
                     hidden_dim=16, num_layers=0, use_text=False)
    none = {k: torch.full_like(v, -1) for k, v in ids().items()}
    h = model.initial(x, none)
    assert all(not v.any() for v in h.values())


def test_ranker_scores_one_per_pair():
    ranker = MLPRanker(dim=16, num_scenarios=3, num_stats=3)
    out = ranker(torch.randn(5, 16), torch.randn(5, 16), torch.tensor([0, 1, 2, 0, 1]), torch.randn(5, 3))
    assert out.shape == (5,)


def test_ranker_standardises_statistics_and_starts_from_the_recall_order():
    ranker = MLPRanker(dim=16, num_scenarios=3, num_stats=3)
    # A recall score around 10 and a share in [0, 1]: after fit_scaler both are unit-scale.
    stats = torch.stack([10 + 5 * torch.randn(200), torch.rand(200), torch.randn(200)], dim=1)
    ranker.fit_scaler(stats)
    standardised = (stats - ranker.stats_mean) / ranker.stats_scale
    assert torch.allclose(standardised.mean(0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(standardised.std(0), torch.ones(3), atol=1e-5)
    # Zero-initialised output: a positive affine map of the recall score keeps its order.
    out = ranker(torch.randn(200, 16), torch.randn(200, 16), torch.zeros(200, dtype=torch.long), stats)
    assert torch.equal(torch.argsort(out), torch.argsort(stats[:, 0]))
    # The scaler travels with the weights (saved to safetensors with the state dict).
    assert {"stats_mean", "stats_scale"} <= set(ranker.state_dict())


def test_ranker_members_start_apart_and_their_average_is_the_score():
    torch.manual_seed(0)
    ranker = MLPRanker(dim=16, num_scenarios=3, num_stats=3, members=3)
    first, second = (ranker.members[m][0].weight for m in (0, 1))
    assert not torch.equal(first, second)
    # Nudge the zero-initialised output layers so that the members disagree.
    with torch.no_grad():
        for mlp in ranker.members:
            mlp[-1].weight.normal_()
    args = (torch.randn(5, 16), torch.randn(5, 16), torch.tensor([0, 1, 2, 0, 1]), torch.randn(5, 3))
    each = ranker.member_scores(*args)
    assert each.shape == (3, 5)
    assert not torch.allclose(each[0], each[1])
    assert torch.allclose(ranker(*args), each.mean(0))


def test_a_relation_gate_learns_to_shut_a_pure_noise_relation():
    # Each item's target is a fixed map of its "signal" entity's features, drawn anew every
    # step (so only the relation can carry it); its "noise" entity's features are drawn
    # anew too and predict nothing. Under the L1 push the noise gate must close. (The
    # signal gate shrinks too, slowly, as its weight grows to make up for it: a gate and
    # its relation's weight share one scale, so only their product is fixed by the loss.)
    torch.manual_seed(0)
    signal, noise = ("entity", "signal", "item"), ("entity", "noise", "item")
    n = 32
    one_each = torch.stack([torch.arange(n), torch.arange(n)])
    edges = {signal: one_each, noise: torch.stack([torch.arange(n, 2 * n), torch.arange(n)])}
    model = KGRecGNN(("user", "item", "entity"), (signal, noise), {}, text_dim=8, hidden_dim=8, num_layers=1,
                     use_id_embeddings=False, dropout=0.0, relation_gates=True)
    assert torch.allclose(model.gate_values(), torch.ones(2))
    target_map = torch.randn(8, 8)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-2)
    for _ in range(300):
        entity = torch.randn(2 * n, 8)
        x = {"user": torch.zeros(1, 8), "item": torch.zeros(n, 8), "entity": entity}
        none = {"user": torch.full((1,), -1), "item": torch.full((n,), -1), "entity": torch.full((2 * n,), -1)}
        out = model(x, none, edges)["item"]
        # The output averages layer 0 and layer 1, so the message enters it halved.
        loss = F.mse_loss(out, 0.5 * entity[:n] @ target_map) + 0.05 * model.gate_values().sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    gates = model.gates()
    assert gates[noise] < 0.1 and gates[signal] > 4 * gates[noise], gates
    assert loss.item() < 0.05  # and the signal relation still fits its target


def test_gated_messages_are_what_the_live_update_path_computes():
    # rows_from_means (live updates) must scale each message by the same gate as a forward pass.
    torch.manual_seed(0)
    x, edges = tiny_graph()
    model = KGRecGNN(("user", "item", "entity"), EDGE_TYPES, {"user": 3, "item": 4, "entity": 2}, text_dim=8,
                     hidden_dim=16, num_layers=2, dropout=0.0, relation_gates=True).eval()
    with torch.no_grad():
        model.gate_logits.copy_(torch.tensor([0.3, -2.0, 1.5, -0.5]))
    layers = model.layer_states(model.initial(x, ids()), edges)
    rows = torch.arange(4)
    for depth in range(2):
        sources = {}
        for et, ei in edges.items():
            if et[2] == "item":
                sources[et] = (ei[0], ei[1])
        got = model.propagate_rows(depth, layers[depth], "item", rows, sources)
        torch.testing.assert_close(got, layers[depth + 1]["item"], atol=1e-6, rtol=1e-6)
    # Closing a gate removes that relation's message and nothing else.
    with torch.no_grad():
        model.gate_logits[2] = -1e4  # entity -genre-> item
    no_genre = dict(edges)
    del no_genre[EDGE_TYPES[2]]
    torch.testing.assert_close(model(x, ids(), edges), model(x, ids(), no_genre), atol=1e-6, rtol=1e-6)
