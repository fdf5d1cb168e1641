"""The trainers' parts: holdouts, ranking within a scenario, the ranker's features, the loss."""
import numpy as np
import pytest
import torch
from torch import nn

from ingest import ingest_source
from kg_recsys.config import ConfigError, RecommenderConfig, TrainConfig
from kg_recsys.nn import MLPRanker, RankerEnsemble
from kg_recsys.store import MemoryStore
from kg_recsys.store.base import InteractionTable
from kg_recsys.text import TextEncoder, snapshot_text_vectors
from kg_recsys.training import fit_model
from kg_recsys.model import NUM_RANK_STATS, item_scenarios
from kg_recsys.serving import build_index, candidate_columns, score_items
from kg_recsys.serving.ranking import pair_stats as _pair_stats
from kg_recsys.training import GNNTrainer
from kg_recsys.training.gnn_trainer import _SampledDot
from kg_recsys.training.ranker_trainer import (
    CHECK_EVERY, hard_negatives as _hard_negatives, holdout_candidates as _holdout_candidates,
    new_to_scenario as _new_to_scenario,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    store = MemoryStore()
    ingest_source("demo", store, progress=False)
    snapshot = store.snapshot()
    config = RecommenderConfig.from_dict({"train": {"epochs": 2, "progress": False},
                                          "text": {"cache_dir": str(tmp_path_factory.mktemp("text"))}})
    text = snapshot_text_vectors(snapshot, TextEncoder(config.text))
    return snapshot, config, text


@pytest.fixture(scope="module")
def demo_fitted(demo):
    """The demo's default model (seed 0), fitted once for the tests that only read it."""
    snapshot, config, text = demo
    return fit_model(snapshot, config, text, seed=0)


def test_a_given_holdout_is_used_and_every_other_interaction_trains(demo):
    snapshot, config, text = demo
    inter = snapshot.interactions
    held = np.zeros(len(inter), bool)
    held[::10] = True
    fitted = fit_model(snapshot.with_interactions(inter.select(~held)), config, text, seed=0,
                       holdout=inter.select(held))
    # Without a holdout 10% more would be carved out of training; with one, every
    # training user keeps an id embedding and validation is measured each epoch.
    assert set(fitted.trained_ids["user"][fitted.trained_ids["user"] != ""]) == \
        set(snapshot.users.ids[np.unique(inter.user[~held])])
    assert all(np.isfinite(h["valid_recall@20"]) for h in fitted.history)
    # Each epoch records the seconds since training began (the ml-1m benchmark splits the
    # GNN's time from the ranker's with it).
    seconds = [h["seconds"] for h in fitted.history]
    assert seconds == sorted(seconds) and seconds[0] > 0


def test_a_holdout_of_one_scenario_is_ranked_among_that_scenario_only(demo):
    snapshot, _, _ = demo
    scenarios = ("books", "movies")
    movies = snapshot.interactions.select(snapshot.interactions.scenario == "movies")
    candidates = _holdout_candidates(snapshot, scenarios, movies)
    assert len(candidates) == 200
    assert set(item_scenarios(snapshot, scenarios)[candidates]) == {1}
    both = _holdout_candidates(snapshot, scenarios, snapshot.interactions)
    assert len(both) == len(snapshot.items)


def test_ranker_features_see_kg_profiles_and_users_new_to_a_scenario(demo, demo_fitted):
    snapshot, config, text = demo
    fitted = demo_fitted
    inter = snapshot.interactions
    user = int(inter.user[0])
    # The user forgets their movies: new to that scenario.
    keep = ~((inter.user == user) & (inter.scenario == "movies"))
    view = build_index(fitted, snapshot.with_interactions(inter.select(keep)), text)
    scenario = item_scenarios(snapshot, fitted.scenarios)
    book, movie = np.flatnonzero(scenario == 0)[0], np.flatnonzero(scenario == 1)[0]
    stats = _pair_stats(view, np.array([user, user]), np.array([book, movie]), np.zeros(2, np.float32)).numpy()
    assert stats.shape == (2, NUM_RANK_STATS)
    assert stats[0, 5] > 0 and stats[1, 5] == 0  # activity in the item's scenario
    # The item-item channel: EASE over the user's history in the view
    from kg_recsys.content import ease_scores
    expected = ease_scores(view.seen[[user]], view.item_item)[0, [book, movie]]
    np.testing.assert_allclose(stats[:, 8], expected, rtol=1e-5, atol=1e-6)
    # KG profile similarity: the items of the user's history are the most similar.
    history = np.unique(inter.item[(inter.user == user) & keep])
    others = np.setdiff1d(np.arange(len(snapshot.items)), history)
    users = np.full(len(history), user)
    kg_history = _pair_stats(view, users, history, np.zeros(len(history), np.float32)).numpy()[:, 4]
    kg_others = _pair_stats(view, np.full(len(others), user), others, np.zeros(len(others), np.float32)).numpy()[:, 4]
    assert kg_history.min() >= 0 and kg_history.mean() > kg_others.mean() > 0
    # Neighbourhood: the share of the user's nearest users who have the item, in [0, 1];
    # users alike in books recommend the movies that they watched.
    neighbours = _pair_stats(view, np.full(len(snapshot.items), user), np.arange(len(snapshot.items)),
                             np.zeros(len(snapshot.items), np.float32)).numpy()[:, 6]
    assert 0 <= neighbours.min() and neighbours.max() <= 1 + 1e-6
    forgotten = np.unique(inter.item[(inter.user == user) & ~keep])
    movies = np.flatnonzero(scenario == 1)
    assert neighbours[forgotten].mean() > neighbours[np.setdiff1d(movies, forgotten)].mean()
    # Items near the history: the mean weight, over the user's items, of each item among
    # their nearest items (by shared users); also in [0, 1] and higher for what they forgot.
    near = _pair_stats(view, np.full(len(snapshot.items), user), np.arange(len(snapshot.items)),
                       np.zeros(len(snapshot.items), np.float32)).numpy()[:, 7]
    assert 0 <= near.min() and near.max() <= 1 + 1e-6
    assert near[forgotten].mean() > near[np.setdiff1d(movies, forgotten)].mean()


def test_pair_stats_are_the_same_a_chunk_at_a_time(demo, demo_fitted, monkeypatch):
    """The text similarity is gathered PAIR_CHUNK pairs at a time (memory): a chunk smaller
    than the pairs, and not dividing them, gives every feature unchanged."""
    import kg_recsys.serving.ranking as ranking

    snapshot, _, text = demo
    index = build_index(demo_fitted, snapshot, text)
    rng = np.random.default_rng(1)
    users = rng.integers(len(snapshot.users), size=1000)
    items = rng.integers(len(snapshot.items), size=1000)
    recall = rng.standard_normal(1000).astype(np.float32)
    whole = _pair_stats(index, users, items, recall).numpy()
    assert np.abs(whole[:, 3]).max() > 0  # the text similarity column is there to compare
    monkeypatch.setattr(ranking, "PAIR_CHUNK", 77)
    np.testing.assert_array_equal(_pair_stats(index, users, items, recall).numpy(), whole)


@pytest.mark.parametrize("loss", ["bpr", "softmax"])
def test_losses_fall_as_the_positive_outscores_the_negatives(demo, loss):
    snapshot, config, _ = demo
    trainer = GNNTrainer.__new__(GNNTrainer)
    trainer.config = TrainConfig(loss=loss, negatives=4)
    zu = torch.tensor([[1.0, 0.0]])
    items, negatives = torch.tensor([[0.0, 1.0]]), torch.zeros(1, 4, dtype=torch.long)
    good = trainer._loss(zu, torch.tensor([[2.0, 0.0]]), items, negatives)
    bad = trainer._loss(zu, torch.tensor([[-2.0, 0.0]]), items, negatives)
    assert good < bad


def test_sampled_dot_gives_the_gathered_products_and_their_gradients():
    generator = torch.Generator().manual_seed(0)
    queries = torch.randn(300, 8, generator=generator, requires_grad=True)
    rows = torch.randn(40, 8, generator=generator, requires_grad=True)
    index = torch.randint(40, (300, 16), generator=generator)  # repeats within a row too
    upstream = torch.randn(300, 16, generator=generator)
    expected = torch.einsum("bd,bkd->bk", queries, rows[index])
    expected.backward(upstream)
    expected_grads = queries.grad.clone(), rows.grad.clone()
    queries.grad = rows.grad = None
    got = _SampledDot.apply(queries, rows, index)
    got.backward(upstream)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(queries.grad, expected_grads[0])
    torch.testing.assert_close(rows.grad, expected_grads[1])


def test_the_trainers_validation_vectors_are_those_of_a_fresh_forward_pass(demo):
    snapshot, config, text = demo
    from kg_recsys.model import embed, node_features

    held = np.zeros(len(snapshot.interactions), bool)
    held[::10] = True
    graph = snapshot.with_interactions(snapshot.interactions.select(~held))
    config = RecommenderConfig.from_dict({**config.to_dict(), "train": {"epochs": 1, "progress": False},
                                          "rank": {"enabled": False}})
    fitted = fit_model(graph, config, text, seed=0, holdout=snapshot.interactions.select(held))
    trainer = GNNTrainer(fitted.gnn, graph, fitted.layout, node_features(graph, text, config.model.use_text),
                         config.train, torch.Generator())
    fresh, cached = embed(fitted, graph, text), trainer.embed()
    for node_type in ("user", "item", "entity"):
        torch.testing.assert_close(cached[node_type], fresh[node_type], atol=1e-5, rtol=1e-5)


def test_an_epoch_takes_at_most_max_steps_per_epoch_steps():
    trainer = GNNTrainer.__new__(GNNTrainer)
    trainer.config = TrainConfig(batch_size=100, max_steps_per_epoch=4)
    trainer.pairs = torch.zeros(2, 399, dtype=torch.long)
    assert trainer.batch_size() == 100  # four steps of the configured size
    trainer.pairs = torch.zeros(2, 1001, dtype=torch.long)
    assert trainer.batch_size() == 251 and -(-1001 // trainer.batch_size()) == 4


def test_users_and_items_drop_their_ids_at_their_own_rates():
    trainer = GNNTrainer.__new__(GNNTrainer)
    trainer.config = TrainConfig(id_dropout=0.5, user_id_dropout=0.0, cold_item_rate=0.0)
    trainer.generator = torch.Generator().manual_seed(0)
    trainer.layout = type("Layout", (), {"scenarios": ("default",)})()
    trainer.num_users, trainer.num_items = 1000, 1000
    trainer.static_adjacency, trainer.interaction_edges, trainer.interaction_types = {}, {}, []
    trainer.warm = {"user": torch.ones(1000, dtype=torch.bool), "item": torch.ones(1000, dtype=torch.bool),
                    "entity": torch.ones(1000, dtype=torch.bool)}
    _, index = trainer._cold_view()
    assert (index["user"] >= 0).all()
    for node_type in ("item", "entity"):
        assert 0.4 < (index[node_type] < 0).float().mean() < 0.6
    with pytest.raises(ConfigError, match=r"\[train\] user_id_dropout"):
        TrainConfig(user_id_dropout=1.5)


def test_without_entity_ids_an_entity_is_its_text_and_links_in_training_serving_and_a_reload(demo, demo_fitted,
                                                                                               tmp_path):
    import copy

    from kg_recsys.model import embed, load_checkpoint, node_features, save_checkpoint

    snapshot, config, text = demo
    assert len(snapshot.entities) > 0

    def nudged_entity_ids(fitted):
        """The vectors before and after every entity id row moved by 1."""
        before = embed(fitted, snapshot, text)
        with torch.no_grad():
            fitted.gnn.id_emb["entity"].weight.add_(1.0)
        return before, embed(fitted, snapshot, text)

    # With entity_ids: entities have trained ids, and their rows move the items' vectors.
    with_ids = fit_model(snapshot, RecommenderConfig.from_dict(
        {**config.to_dict(), "train": {"epochs": 1, "progress": False}, "model": {"entity_ids": True},
         "rank": {"enabled": False}}), text, seed=0)
    before, after = nudged_entity_ids(copy.deepcopy(with_ids))
    assert (with_ids.trained_ids["entity"] != "").all()
    assert not torch.allclose(before["item"], after["item"])

    # The default: none.
    assert RecommenderConfig().model.entity_ids is False and demo_fitted.gnn.num_ids["entity"] == 0
    config = RecommenderConfig.from_dict({**config.to_dict(), "train": {"epochs": 1, "progress": False},
                                          "model": {"entity_ids": False}, "rank": {"enabled": False}})
    fitted = fit_model(snapshot, config, text, seed=0)
    # No id table for entities (one placeholder row), none of them trained, and so nothing
    # an entity id row holds reaches any vector.
    assert fitted.gnn.num_ids["entity"] == 0 and fitted.gnn.id_emb["entity"].num_embeddings == 1
    assert (fitted.trained_ids["entity"] == "").all() and (fitted.trained_ids["item"] != "").any()
    before, after = nudged_entity_ids(fitted)
    for node_type in ("user", "item", "entity"):
        torch.testing.assert_close(after[node_type], before[node_type], rtol=0, atol=0)
    # Training's views never give an entity its id either.
    trainer = GNNTrainer(fitted.gnn, snapshot, fitted.layout, node_features(snapshot, text, True), config.train,
                         torch.Generator().manual_seed(0))
    _, index = trainer._cold_view()
    assert (index["entity"] < 0).all() and (index["item"] >= 0).any()
    # A saved model reloads with the same (absent) table and serves the same vectors.
    save_checkpoint(fitted, tmp_path / "model")
    reloaded = load_checkpoint(tmp_path / "model")
    assert reloaded.config.model.entity_ids is False and reloaded.gnn.num_ids["entity"] == 0
    for node_type, vectors in embed(reloaded, snapshot, text).items():
        torch.testing.assert_close(vectors, after[node_type], rtol=0, atol=0)


def test_a_checkpoint_saved_before_gates_and_entity_ids_loads_as_it_was_trained(demo, tmp_path):
    """A model.json from before ``relation_gates`` and ``entity_ids`` existed (entities had
    ids, there were no gates) loads with those settings, not today's defaults, and serves
    the vectors it was saved with."""
    import json

    from kg_recsys.model import embed, load_checkpoint, save_checkpoint

    snapshot, config, text = demo
    old = RecommenderConfig.from_dict({**config.to_dict(), "train": {"epochs": 1, "progress": False},
                                       "model": {"entity_ids": True, "relation_gates": False},
                                       "rank": {"enabled": False}})
    fitted = fit_model(snapshot, old, text, seed=0)
    save_checkpoint(fitted, tmp_path / "model")
    meta_path = tmp_path / "model" / "model.json"
    meta = json.loads(meta_path.read_text())
    del meta["config"]["model"]["entity_ids"], meta["config"]["model"]["relation_gates"]
    meta_path.write_text(json.dumps(meta))
    reloaded = load_checkpoint(tmp_path / "model")
    assert reloaded.config.model.entity_ids is True and reloaded.config.model.relation_gates is False
    for node_type, vectors in embed(fitted, snapshot, text).items():
        torch.testing.assert_close(embed(reloaded, snapshot, text)[node_type], vectors, rtol=0, atol=0)


def test_hard_negatives_are_the_users_other_candidates_and_cold_half_the_time_for_a_cold_positive():
    rng = np.random.default_rng(0)
    candidates = np.array([[10, 11, 12, 13, -1]] * 2)
    label = np.array([[True, False, False, False, False], [False, True, False, False, False]])
    cold = np.array([[True, False, True, False, False], [False, False, False, False, False]])
    pos_r, pos_c = np.repeat([0, 1], 2000), np.repeat([0, 1], 2000)
    negative = _hard_negatives(label, candidates, cold, pos_r, pos_c, rng)
    first, second = negative[:2000], negative[2000:]
    assert set(first) == {1, 2, 3} and set(second) == {0, 2, 3}  # never a positive, never padding
    # User 0's positive is cold: half the time its negative is the one cold negative (column
    # 2), otherwise any of the three.
    assert 0.6 < (first == 2).mean() < 0.73


def test_only_users_of_several_scenarios_become_new_to_one_of_their_holdout():
    holdout = InteractionTable(np.array([0, 0, 1, 2]), np.array([5, 6, 7, 8]), np.array(["a", "b", "a", "b"]),
                               np.array(["view"] * 4), np.ones(4, np.float32), np.full(4, np.nan))
    active = np.array([[True, True], [True, False], [True, True]])
    new_to = _new_to_scenario(holdout, np.array([0, 1, 0, 1]), active, 1.0, np.random.default_rng(0))
    assert new_to.shape == active.shape
    assert new_to[0].sum() == 1 and new_to[2].tolist() == [False, True] and not new_to[1].any()


def test_ranker_patience_counts_from_the_second_epoch_and_the_untrained_state_is_never_kept(demo, monkeypatch):
    """A ranker that cannot improve (a learning rate of almost zero) still trains its whole
    first epoch, then stops after ``patience`` checks of the second; it keeps its first
    trained state, though the untrained one (the recall order) scores as well."""
    snapshot, config, text = demo
    checks = []
    monkeypatch.setattr(MLPRanker, "eval", lambda self: checks.append(1) or nn.Module.eval(self))
    config = RecommenderConfig.from_dict({**config.to_dict(), "rank": {"lr": 1e-12, "patience": 1, "epochs": 3,
                                                                           "draws": 1}})  # one ranker's checks
    fitted = fit_model(snapshot, config, text, seed=0)
    # First epoch: a check at steps 0, 25, ..., 100. Second: the best state again on the
    # new view, then steps 0 and 25, where the one check without gain stops it.
    assert len(checks) == (100 // CHECK_EVERY + 1) + 3
    (record,) = fitted.ranker_history
    assert record["epochs"] == 2 and record["checks"] == (100 // CHECK_EVERY + 1) + 2
    # Ties never replace a kept state, so the first trained state (step 25) is kept: its
    # last layer has moved from zero, by a hair.
    assert (record["kept_epoch"], record["kept_step"]) == (0, CHECK_EVERY)
    assert record["first_epoch_check"] == record["untrained_check"] >= 0
    assert any(mlp[-1].weight.abs().sum() > 0 for mlp in fitted.ranker.members)


def test_ranker_checks_score_a_chunk_at_a_time_with_the_same_result(demo, monkeypatch):
    """A check scores the held-back pairs CHECK_CHUNK at a time (memory): a chunk smaller
    than the pairs keeps the same training record (scores, kept state) and ranker."""
    import kg_recsys.training.ranker_trainer as ranker_trainer

    snapshot, config, text = demo
    config = RecommenderConfig.from_dict({**config.to_dict(), "train": {"epochs": 1, "progress": False},
                                          "rank": {"epochs": 2, "draws": 1}})
    whole = fit_model(snapshot, config, text, seed=0)
    monkeypatch.setattr(ranker_trainer, "CHECK_CHUNK", 101)
    chunked = fit_model(snapshot, config, text, seed=0)
    (expected,), (record,) = whole.ranker_history, chunked.ranker_history
    assert record["checks"] > 2 and record["kept_check"] > 0
    assert record == pytest.approx(expected, rel=1e-6)
    for name, value in whole.ranker.state_dict().items():
        torch.testing.assert_close(chunked.ranker.state_dict()[name], value)


def test_loss_settings_are_validated():
    with pytest.raises(ConfigError, match=r"\[train\] loss"):
        TrainConfig(loss="hinge")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"\[train\] negatives"):
        TrainConfig(negatives=0)


def test_validation_and_ranker_candidates_score_users_a_block_at_a_time_with_the_same_result(demo, demo_fitted):
    from kg_recsys.serving.ranking import (_item_item_pairs, item_item_scores, mask_seen, recall_candidates,
                                           recall_scores, text_scores)
    from kg_recsys.training.fit import HoldoutRecall

    snapshot, config, text = demo
    held = np.zeros(len(snapshot.interactions), bool)
    held[::7] = True
    graph, holdout = snapshot.with_interactions(snapshot.interactions.select(~held)), snapshot.interactions.select(held)
    z = {"user": torch.randn(len(graph.users), 8), "item": torch.randn(len(graph.items), 8)}
    whole = HoldoutRecall(graph, demo_fitted.scenarios, holdout)
    blocked = HoldoutRecall(graph, demo_fitted.scenarios, holdout, max_scores=3 * len(whole.pool))  # 3 users a block
    assert blocked.block == 3 < len(whole.users) and whole.block >= len(whole.users)
    assert blocked(z) == pytest.approx(whole(z), abs=1e-12) and whole(z) > 0

    view = build_index(demo_fitted, graph, text)
    users, items = np.unique(holdout.user), np.arange(len(graph.items))
    seen = view.seen
    scores = mask_seen(recall_scores(view, users, items, exclude_seen=False), seen, users, items)
    assert view.item_item is not None and view.channels == ("gnn", "item_item", "text", "popularity")
    text_channel = text_scores(view, users, items)
    text_channel[~np.isfinite(scores)] = -np.inf  # every channel leaves out the seen items
    columns = candidate_columns(scores, view.item_popularity, 10, item_item=item_item_scores(view, users, items),
                                text=text_channel)
    candidates, recall, ranks, item_item = recall_candidates(view, users, items, 10, max_scores=5 * len(items))
    np.testing.assert_array_equal(candidates, columns)  # items are the whole catalogue: columns are rows
    # The candidates' raw EASE scores, passed on to the ranker's features, are those the
    # features would compute themselves, to the bit.
    r, c = np.nonzero(candidates >= 0)
    np.testing.assert_array_equal(item_item[r, c], _item_item_pairs(view, users[r], candidates[r, c]))
    assert np.abs(item_item[r, c]).max() > 0
    # Every candidate is ranked by some channel; pads are ranked by none.
    assert (ranks[candidates >= 0].min(axis=1) < 1).all() and (ranks[candidates < 0] == 1).all()
    # The same dot products, up to the last bits a matrix product of other shapes may change.
    np.testing.assert_allclose(recall[columns >= 0], np.take_along_axis(scores, np.maximum(columns, 0), 1)[columns >= 0],
                               rtol=1e-5, atol=1e-6)


def test_candidates_are_the_best_recall_and_the_most_popular_unseen_items():
    recall = np.array([[5.0, 4.0, 0.0, 0.0, -np.inf, 1.0],
                       [0.0, 0.0, 3.0, 2.0, 1.0, -np.inf]])
    popularity = np.array([0.0, 0.1, 0.2, 0.3, 0.9, 0.8])
    columns = candidate_columns(recall, popularity, 2)
    assert columns.shape == (2, 4)
    # Row 0: recall picks 0, 1; popularity picks 5 and 3 (4 is seen: -inf).
    assert set(columns[0]) == {0, 1, 3, 5}
    # Row 1: recall picks 2, 3; popularity picks 4 and 3 (5 is seen): 3 once, one pad.
    assert sorted(columns[1].tolist()) == [-1, 2, 3, 4]
    # Items nobody has interacted with are not popular: only recall picks then.
    assert sorted(candidate_columns(recall, np.zeros(6), 2)[0].tolist()) == [-1, -1, 0, 1]


def test_scoring_leaves_seen_items_out_before_choosing_candidates(demo, demo_fitted):
    snapshot, config, text = demo
    fitted = demo_fitted
    view = build_index(fitted, snapshot, text)
    inter = snapshot.interactions
    users = np.unique(inter.user)[:20]
    items = np.arange(len(snapshot.items))
    scores = score_items(fitted.ranker, view, users, items, fitted.config.recall.num_candidates)
    seen = np.zeros(scores.shape, bool)
    for row, user in enumerate(users):
        seen[row, inter.item[inter.user == user]] = True
    assert np.isneginf(scores[seen]).all()
    # The best unseen items by recall are all candidates (scored >= 0, above the rest):
    # with seen items among the candidates, some of them would have lost their place.
    recall = (view.user_vectors[torch.from_numpy(users)] @ view.item_vectors.T).numpy()
    best_unseen = np.argsort(-np.where(seen, -np.inf, recall), axis=1)[:, :config.recall.num_candidates]
    assert (np.take_along_axis(scores, best_unseen, axis=1) >= 0).all()
    assert (np.where(seen, 0.0, scores) < 0).any()  # and some unseen items are not candidates


def test_ranker_draws_are_trained_apart_and_averaged(demo):
    """``[rank] draws = 2``: two rankers, each on its own draws, whose scores are averaged."""
    snapshot, config, text = demo
    config = RecommenderConfig.from_dict({**config.to_dict(), "rank": {"draws": 2}})
    fitted = fit_model(snapshot, config, text, seed=0)
    assert isinstance(fitted.ranker, RankerEnsemble) and len(fitted.ranker.rankers) == 2
    first, second = fitted.ranker.rankers
    assert not torch.equal(first.members[0][0].weight, second.members[0][0].weight)
    dim = fitted.gnn.hidden_dim
    inputs = (torch.randn(5, dim), torch.randn(5, dim), torch.zeros(5, dtype=torch.long),
              torch.randn(5, first.num_stats))
    with torch.no_grad():
        torch.testing.assert_close(fitted.ranker(*inputs), (first(*inputs) + second(*inputs)) / 2)
    # The first draw is the single ranker that the default (one draw) trains.
    single = fit_model(snapshot, RecommenderConfig.from_dict({**config.to_dict(), "rank": {"draws": 1}}), text, seed=0)
    assert isinstance(single.ranker, MLPRanker)
    with torch.no_grad():
        torch.testing.assert_close(single.ranker(*inputs), first(*inputs))
