import pytest
import torch

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
