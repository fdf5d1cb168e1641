"""Baselines on the synthetic graph: sanity, cold-node behaviour, reproducibility, and
accuracy numbers that a broken model would miss."""
from __future__ import annotations

import numpy as np
import pytest

from synthetic_graph import N_CLUSTERS, fake_text_vectors
from kg_recsys.evaluation import evaluate, make_split
from kg_recsys.evaluation.baselines import (BPRConfig, BPRMFScorer, EASEScorer, InductiveContentScorer, ItemKNNScorer,
                                            KGOnlyScorer, LightGCNScorer, PopularityScorer,
                                            TextKNNScorer, UserKNNScorer, item_entity_tfidf)
from kg_recsys.evaluation.harness import Scorer

K = 10
FAST = BPRConfig(epochs=60, eval_every=5, patience=3, batch_size=512, lr=1e-2)


@pytest.fixture(scope="module")
def warm(snapshot):
    return make_split(snapshot, "warm", seed=0)


@pytest.fixture(scope="module")
def warm_result(warm):
    scorers = [PopularityScorer(), BPRMFScorer(FAST), LightGCNScorer(FAST)]
    return evaluate(warm, scorers, k=K, progress=False), scorers


def test_all_baselines_satisfy_the_protocol():
    for scorer in (PopularityScorer(), BPRMFScorer(), LightGCNScorer(), TextKNNScorer(fake_text_vectors), EASEScorer(),
                   ItemKNNScorer(), InductiveContentScorer(vectors_fn=fake_text_vectors),
                   KGOnlyScorer(), UserKNNScorer()):
        assert isinstance(scorer, Scorer)


def test_popularity_ranks_most_popular_first(snapshot):
    pop = PopularityScorer()
    pop.fit(snapshot, seed=0)
    scores = pop.score(snapshot, np.array([0, 5]), np.arange(len(snapshot.items)))
    counts = np.array([len(set(snapshot.interactions.user[snapshot.interactions.item == i].tolist()))
                       for i in range(len(snapshot.items))])
    assert scores.shape == (2, len(snapshot.items))
    assert np.argmax(scores[0]) == np.argmax(counts)
    assert counts[np.argmax(scores[0])] > np.median(counts) * 3  # the fixture's popular items
    np.testing.assert_array_equal(scores[0], scores[1])
    # repeated events of one pair count once
    np.testing.assert_array_equal(scores[0], counts)


def test_popularity_counts_target_scenario_only(snapshot):
    pop = PopularityScorer(scenario="music")
    pop.fit(snapshot, seed=0)
    books = snapshot.items.scenario == "books"
    assert pop.counts[books].sum() == 0 and pop.counts[~books].sum() > 0


def test_bpr_mf_and_lightgcn_beat_popularity(warm_result):
    result, _ = warm_result
    pop, mf, gcn = (result["models"][n][f"recall@{K}"] for n in ("popularity", "bpr_mf", "lightgcn"))
    # measured: popularity 0.16, bpr_mf ~0.30, lightgcn ~0.33 (random order would be ~0.07)
    assert pop == pytest.approx(0.16, abs=0.04)
    assert mf > pop + 0.08
    assert gcn > pop + 0.08
    assert result["models"]["lightgcn"][f"ndcg@{K}"] > result["models"]["popularity"][f"ndcg@{K}"]


def test_early_stopping_used_valid(warm_result):
    _, scorers = warm_result
    for scorer in scorers[1:]:
        assert 0.3 < scorer.info["best_valid_recall@20"] <= 1.0
        assert scorer.info["epochs"] <= FAST.epochs


def test_bpr_mf_is_reproducible_with_a_seed(warm):
    a, b, c = BPRMFScorer(BPRConfig(epochs=3)), BPRMFScorer(BPRConfig(epochs=3)), BPRMFScorer(BPRConfig(epochs=3))
    a.fit(warm.train, seed=7)
    b.fit(warm.train, seed=7)
    c.fit(warm.train, seed=8)
    users, items = np.arange(20), np.arange(30)
    np.testing.assert_array_equal(a.score(warm.context, users, items), b.score(warm.context, users, items))
    assert not np.allclose(a.score(warm.context, users, items), c.score(warm.context, users, items))


def test_id_models_give_cold_items_zero_scores(snapshot):
    split = make_split(snapshot, "cold-item", seed=0)
    for scorer in (BPRMFScorer(BPRConfig(epochs=2)), LightGCNScorer(BPRConfig(epochs=2))):
        scorer.fit(split.train, seed=0)
        scores = scorer.score(split.context, split.test_users()[:10], split.candidates)
        assert np.all(scores == 0.0), scorer.name
        warm_items = np.setdiff1d(np.arange(len(snapshot.items)), split.candidates)[:10]
        assert np.any(scorer.score(split.context, split.test_users()[:10], warm_items) != 0.0)


def test_lightgcn_uses_context_interactions_of_cold_users(snapshot):
    with_context = make_split(snapshot, "cold-user", seed=0, cold_user_context=3)
    profile_only = make_split(snapshot, "cold-user", seed=0, cold_user_context=0)
    users = with_context.test_users()[:8]
    items = np.arange(len(snapshot.items))
    for split, expect_zero in ((with_context, False), (profile_only, True)):
        gcn, mf = LightGCNScorer(BPRConfig(epochs=3)), BPRMFScorer(BPRConfig(epochs=3))
        gcn.fit(split.train, seed=0)
        mf.fit(split.train, seed=0)
        assert np.all(gcn.score(split.context, users, items) == 0.0) == expect_zero
        assert np.all(mf.score(split.context, users, items) == 0.0)  # BPR-MF cannot fold in


def test_text_knn_profiles(snapshot):
    scorer = TextKNNScorer(fake_text_vectors)
    scorer.fit(snapshot, seed=0)
    cluster = np.arange(len(snapshot.items)) % N_CLUSTERS
    scores = scorer.score(snapshot, np.array([0, 1]), np.arange(len(snapshot.items)))
    # user u belongs to cluster u % 4 and mostly has items of it: its items score highest
    for user in (0, 1):
        top = np.argsort(-scores[user])[:20]
        assert (cluster[top] == user % N_CLUSTERS).mean() == 1.0
    # no history: the user's own profile text is used
    no_history = snapshot.with_interactions(snapshot.interactions.select(snapshot.interactions.user != 2))
    scores = scorer.score(no_history, np.array([2]), np.arange(len(snapshot.items)))
    assert (cluster[np.argsort(-scores[0])[:20]] == 2).all()


def test_text_knn_beats_popularity_on_cold_items(snapshot):
    split = make_split(snapshot, "cold-item", seed=0)
    result = evaluate(split, [PopularityScorer(), TextKNNScorer(fake_text_vectors)], k=K, progress=False)
    # cold items have no counts: popularity is a random order; text sees the clusters
    assert result["models"]["text_knn"][f"recall@{K}"] > result["models"]["popularity"][f"recall@{K}"] + 0.2


def test_kg_only_features_and_scores(snapshot):
    matrix = item_entity_tfidf(snapshot)
    assert matrix.shape == (len(snapshot.items), len(snapshot.entities))
    entities = snapshot.entities.index()
    # item 5 (cluster 1): its genre entity and, one hop through SAME_AS, its topic entity
    row = set(matrix[5].indices.tolist())
    assert {entities["genre=c1"], entities["topic1"]} <= row
    assert entities["m.5"] not in row  # the SAME_AS entity itself identifies one item only
    np.testing.assert_allclose(np.sqrt(matrix.multiply(matrix).sum(axis=1)).A.ravel(), 1.0, rtol=1e-5)
    split = make_split(snapshot, "cold-item", seed=0)
    result = evaluate(split, [PopularityScorer(), KGOnlyScorer()], k=K, progress=False)
    assert result["models"]["kg_only"][f"recall@{K}"] > result["models"]["popularity"][f"recall@{K}"] + 0.2


def test_user_neighbours_on_a_hand_computed_case():
    import scipy.sparse as sp

    from kg_recsys.content import user_neighbours

    # items 0 and 1 have 2 users each, item 2 has 3; user 4 has nothing
    history = np.array([[1, 0, 1], [1, 1, 0], [0, 1, 1], [0, 0, 1], [0, 0, 0]], np.float32)
    weighted = history / np.sqrt(history.sum(axis=0))  # an item counts 1/sqrt(popularity)
    norm = np.linalg.norm(weighted, axis=1)
    # user 0's cosines with users 1, 2, 3: (1/2) / n0, (1/3) / (n0 n2), (1/3) / (n0 n3)
    cosine = np.array([0.5 / norm[0], (1 / 3) / (norm[0] * norm[2]), (1 / 3) / (norm[0] * norm[3])])
    np.testing.assert_allclose(cosine, [0.5477, 0.4, 0.6325], atol=1e-4)
    weights = user_neighbours(sp.csr_matrix(history), k=2).toarray()
    np.testing.assert_allclose(weights.sum(axis=1), [1, 1, 1, 1, 0], rtol=1e-6)
    assert np.all(np.diag(weights) == 0)
    # user 0 keeps its two most similar users, 3 and 1, weighted by cosine
    np.testing.assert_allclose(weights[0], [0, cosine[0], 0, cosine[2], 0] / (cosine[0] + cosine[2]), rtol=1e-5)


def test_user_knn_beats_popularity_warm_and_gives_cold_items_zero(snapshot, warm):
    result = evaluate(warm, [PopularityScorer(), UserKNNScorer(k=20)], k=K, progress=False)
    pop, knn = (result["models"][n][f"recall@{K}"] for n in ("popularity", "user_knn"))
    assert knn > pop + 0.1
    split = make_split(snapshot, "cold-item", seed=0)
    scorer = UserKNNScorer()
    scorer.fit(split.train, seed=0)
    assert np.all(scorer.score(split.context, split.test_users()[:5], split.candidates) == 0.0)


def _history_snapshot(history: np.ndarray):
    """A snapshot whose interactions are the 1s of ``history`` [users, items]."""
    from kg_recsys.store.base import GraphSnapshot, InteractionTable, NodeTable

    users, items = np.nonzero(history)
    n_users, n_items = history.shape
    table = InteractionTable(user=users.astype(np.int64), item=items.astype(np.int64),
                             scenario=np.full(len(users), "s"), kind=np.full(len(users), "rating"),
                             weight=np.ones(len(users), np.float32), timestamp=np.arange(len(users), dtype=np.float64))
    return GraphSnapshot(users=NodeTable.build([f"u{u}" for u in range(n_users)], [""] * n_users, [None] * n_users),
                         items=NodeTable.build([f"i{i}" for i in range(n_items)], [""] * n_items, [None] * n_items),
                         entities=NodeTable.build([], [], []), interactions=table)


def test_ease_on_a_hand_computed_case():
    from kg_recsys.evaluation.baselines import EASEScorer

    # X = [[1, 1], [1, 0]]: G = [[2, 1], [1, 1]]; lambda 1: P = inv([[3, 1], [1, 2]]) = [[2, -1], [-1, 3]] / 5,
    # so B_01 = -P_01 / P_11 = 0.2 / 0.6 and B_10 = -P_10 / P_00 = 0.2 / 0.4, and diag(B) = 0.
    train = _history_snapshot(np.array([[1, 1], [1, 0]]))
    scorer = EASEScorer(lambdas=(1.0,))
    scorer.fit(train, seed=0)
    np.testing.assert_allclose(scorer.weights, [[0, 1 / 3], [0.5, 0]], rtol=1e-6)
    # a context where user 1 has item 1 only: item 0 scores B_10
    context = _history_snapshot(np.array([[1, 1], [0, 1]]))
    np.testing.assert_allclose(scorer.score(context, np.array([1]), np.array([0, 1])), [[0.5, 0.0]], rtol=1e-6)


def test_item_knn_on_a_hand_computed_case():
    from kg_recsys.evaluation.baselines import ItemKNNScorer

    # items' users: 0 -> {0, 1, 2}, 1 -> {0, 1}, 2 -> {1, 3}; with shrink 1:
    # s01 = 2 / (sqrt(6) + 1), s02 = 1 / (sqrt(6) + 1), s12 = 1 / (2 + 1)
    train = _history_snapshot(np.array([[1, 1, 0], [1, 1, 1], [1, 0, 0], [0, 0, 1]]))
    s01, s02, s12 = 2 / (np.sqrt(6) + 1), 1 / (np.sqrt(6) + 1), 1 / 3
    one = ItemKNNScorer(neighbours=(1,), shrink=1.0)
    one.fit(train, seed=0)
    # one neighbour each: 0 -> 1, 1 -> 0, 2 -> 1; a history {1} reaches items 0 and 2, {0} reaches item 1 only
    context = _history_snapshot(np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0], [0, 0, 0]]))
    np.testing.assert_allclose(one.score(context, np.array([0, 1]), np.arange(3)), [[s01, 0, s12], [0, s01, 0]],
                               rtol=1e-5)
    two = ItemKNNScorer(neighbours=(2,), shrink=1.0)
    two.fit(train, seed=0)
    np.testing.assert_allclose(two.score(context, np.array([1]), np.arange(3)), [[0, s01, s02]], rtol=1e-5)


def test_ease_and_item_knn_pick_their_setting_on_valid_and_beat_popularity(warm):
    from kg_recsys.evaluation.baselines import EASEScorer, ItemKNNScorer

    ease, knn = EASEScorer(lambdas=(1.0, 50.0, 5000.0)), ItemKNNScorer(neighbours=(5, 40))
    result = evaluate(warm, [PopularityScorer(), ease, knn], k=K, progress=False)
    recall = {name: result["models"][name][f"recall@{K}"] for name in ("popularity", "ease", "item_knn")}
    assert recall["ease"] > recall["popularity"] + 0.1 and recall["item_knn"] > recall["popularity"] + 0.1
    for scorer, key in ((ease, "lambda"), (knn, "neighbours")):
        tried = scorer.info["valid_recall@20"]
        assert len(tried) == len(scorer.lambdas if key == "lambda" else scorer.neighbours)
        assert tried[str(scorer.info[key])] == max(tried.values())


def test_inductive_content_item_vectors_follow_their_formula_and_score_cold_items(snapshot):
    import torch

    from kg_recsys.evaluation.baselines import InductiveContentScorer

    split = make_split(snapshot, "cold-item", seed=0)
    scorer = InductiveContentScorer(FAST, vectors_fn=fake_text_vectors)
    scorer.fit(split.train, seed=0, valid=split.valid)
    model = scorer.model
    tfidf = item_entity_tfidf(split.train)
    with torch.no_grad():
        text = torch.as_tensor(fake_text_vectors(split.train)["Item"], dtype=torch.float32)
        text = text / text.norm(dim=1, keepdim=True).clamp_min(1e-12)
        item = int(split.candidates[0])
        row = tfidf[item]
        tokens = (torch.as_tensor(row.data / row.data.sum(), dtype=torch.float32)[:, None]
                  * model.token.weight[torch.as_tensor(row.indices)]).sum(0)
        expected = model.text_mlp(text[item]) + tokens + model.item_id.weight[item]
        torch.testing.assert_close(model.items()[item], expected, rtol=1e-5, atol=1e-6)
        assert torch.all(model.item_id.weight[torch.as_tensor(split.candidates)] == 0)  # cold: no id
    result = evaluate(split, [PopularityScorer(), scorer], k=K, progress=False)
    # cold items have no counts: popularity is a random order; content sees the clusters
    assert result["models"]["inductive_content"][f"recall@{K}"] > result["models"]["popularity"][f"recall@{K}"] + 0.2


def test_inductive_content_folds_in_a_user_without_training_interactions(snapshot):
    from kg_recsys.evaluation.baselines import InductiveContentScorer

    split = make_split(snapshot, "cold-user", seed=0)
    scorer = InductiveContentScorer(FAST, vectors_fn=fake_text_vectors)
    scorer.fit(split.train, seed=0, valid=split.valid)
    user = int(split.test_users()[0])
    assert user not in set(scorer.trained_users.tolist())
    users, items = scorer._vectors(split.context)
    mine = np.unique(split.context.interactions.item[split.context.interactions.user == user])
    np.testing.assert_allclose(users[user].numpy(), items[mine].mean(0).numpy(), rtol=1e-5, atol=1e-6)
