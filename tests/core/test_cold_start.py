"""Cold start by a forward pass: new items and users get vectors without retraining."""
import numpy as np
import pytest
import torch

from ingest import ingest_source
from kg_recsys.config import RecommenderConfig
from kg_recsys.store import MemoryStore
from kg_recsys.text import TextEncoder, snapshot_text_vectors
from kg_recsys.model import embed
from kg_recsys.training import fit_model


@pytest.fixture(scope="module")
def fitted_demo(tmp_path_factory):
    store = MemoryStore()
    ingest_source("demo", store, progress=False)
    snapshot = store.snapshot()
    config = RecommenderConfig.from_dict({"train": {"epochs": 4, "progress": False},
                                          "text": {"cache_dir": str(tmp_path_factory.mktemp("text"))}})
    encoder = TextEncoder(config.text)
    fitted = fit_model(snapshot, config, snapshot_text_vectors(snapshot, encoder), seed=0)
    return store, fitted, encoder


def test_training_is_reproducible_with_a_seed(fitted_demo, tmp_path):
    store, fitted, encoder = fitted_demo
    snapshot = store.snapshot()
    again = fit_model(snapshot, fitted.config, snapshot_text_vectors(snapshot, encoder), seed=0)
    for (name, a), b in zip(fitted.gnn.state_dict().items(), again.gnn.state_dict().values()):
        assert torch.equal(a, b), name


def test_new_items_get_vectors_from_text_and_links_without_retraining(fitted_demo):
    store, fitted, encoder = fitted_demo
    snapshot = store.snapshot()
    twin = 0
    before = {k: v.clone() for k, v in fitted.gnn.state_dict().items()}
    grown = MemoryStore()
    ingest_source("demo", grown, progress=False)
    links = [(relation, dst, str(snapshot.nodes(dst).ids[b[a == twin][0]]))
             for (src, relation, dst), (a, b) in snapshot.relations.items() if src == "Item" and (a == twin).any()]
    assert any(relation == "genre" for relation, _, _ in links), "the twin item has a genre to copy"
    for new_id in ("new-a", "new-b"):  # two identical new items
        grown.upsert_nodes("Item", [{"id": new_id, "text": str(snapshot.items.text[twin]),
                                     "scenario": str(snapshot.items.scenario[twin])}])
        grown.upsert_relations([{"src_label": "Item", "src_id": new_id, "relation": relation, "dst_label": dst,
                                 "dst_id": dst_id} for relation, dst, dst_id in links])
    new_snapshot = grown.snapshot()
    z = embed(fitted, new_snapshot, snapshot_text_vectors(new_snapshot, encoder))
    rows = new_snapshot.items.index()
    a, b = z["item"][rows["new-a"]], z["item"][rows["new-b"]]
    # A forward pass of text and links alone: same inputs, same vector, and not a zero one.
    assert torch.allclose(a, b) and a.abs().sum() > 0
    # It lands among the items of its genre: closer to them than to the rest on average.
    genre = next(dst_id for relation, _, dst_id in links if relation == "genre")
    src, dst = new_snapshot.relations[("Item", "genre", "Entity")]
    same = np.zeros(len(new_snapshot.items), bool)
    same[src[dst == new_snapshot.entities.index()[genre]]] = True
    same[[rows["new-a"], rows["new-b"]]] = False
    similarity = (torch.nn.functional.normalize(z["item"], dim=-1) @ torch.nn.functional.normalize(a, dim=0)).numpy()
    others = ~same
    others[[rows["new-a"], rows["new-b"]]] = False
    assert similarity[same].mean() > similarity[others].mean() + 0.05
    for name, tensor in fitted.gnn.state_dict().items():
        assert torch.equal(before[name], tensor), f"{name} changed: inference must not train"


def test_text_only_user_is_served_by_text(fitted_demo):
    store, fitted, encoder = fitted_demo
    snapshot = store.snapshot()
    grown = MemoryStore()
    ingest_source("demo", grown, progress=False)
    grown.upsert_nodes("User", [{"id": "newcomer", "text": str(snapshot.users.text[0])}])
    new_snapshot = grown.snapshot()
    z = embed(fitted, new_snapshot, snapshot_text_vectors(new_snapshot, encoder))
    newcomer = z["user"][new_snapshot.users.index()["newcomer"]]
    assert torch.isfinite(newcomer).all() and newcomer.abs().sum() > 0
    # Scores of the newcomer correlate with those of the user whose profile text it copies.
    original = z["user"][new_snapshot.users.index()[snapshot.users.ids[0]]]
    scores_new, scores_old = (z["item"] @ newcomer).numpy(), (z["item"] @ original).numpy()
    assert np.corrcoef(scores_new, scores_old)[0, 1] > 0.3
