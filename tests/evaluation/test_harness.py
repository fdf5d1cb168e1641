"""The harness: output format, exclusion of known items, tie-breaking, chunking."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kg_recsys.evaluation import EvalContext, create_scorer, evaluate, format_table, make_split, register_scorer
from kg_recsys.evaluation.harness import Scorer, UserItems, rank_metrics
from kg_recsys.evaluation.registry import SCORERS, UnknownScorerError
from kg_recsys.serving.ranking import top_k
from kg_recsys.store.base import GraphSnapshot, InteractionTable

K = 5


class Oracle:
    """Scores each user's test items 1, everything else 0 (perfect unless excluded)."""

    name = "oracle"

    def __init__(self, test: InteractionTable) -> None:
        self.truth = set(zip(test.user.tolist(), test.item.tolist()))
        self.fitted_on: GraphSnapshot | None = None
        self.shapes: list[tuple[int, int]] = []

    def fit(self, train: GraphSnapshot, seed: int) -> None:
        self.fitted_on = train

    def score(self, context, users, items):
        self.shapes.append((len(users), len(items)))
        return np.array([[1.0 if (u, i) in self.truth else 0.0 for i in items.tolist()] for u in users.tolist()])


class Constant:
    name = "constant"

    def fit(self, train, seed):
        pass

    def score(self, context, users, items):
        return np.zeros((len(users), len(items)))


class KnownFirst:
    """Scores the user's context items highest: the harness must exclude them."""

    name = "known_first"

    def fit(self, train, seed):
        pass

    def score(self, context, users, items):
        known = set(zip(context.interactions.user.tolist(), context.interactions.item.tolist()))
        return np.array([[10.0 if (u, i) in known else float(i % 7) for i in items.tolist()] for u in users.tolist()])


class Unknown:
    name = "unknown"

    def fit(self, train, seed):
        pass

    def score(self, context, users, items):
        return np.full((len(users), len(items)), np.nan)


@pytest.fixture(scope="module")
def split(snapshot):
    return make_split(snapshot, "warm", seed=0)


def test_output_format_and_json(split):
    oracle = Oracle(split.test)
    result = evaluate(split, [oracle, Constant()], k=K, progress=False, chunk_size=64)
    assert set(result) >= {"protocol", "k", "models", "seconds", "users", "candidates"}
    assert result["protocol"] == "warm" and result["k"] == K
    assert result["users"] == len(split.test_users())
    assert list(result["models"]) == ["oracle", "constant"]
    for name in ("oracle", "constant"):
        assert list(result["models"][name]) == [f"{m}@{K}" for m in
                                               ("recall", "ndcg", "hit", "mrr", "precision", "coverage", "novelty")]
        assert set(result["seconds"][name]) == {"fit", "score"}
    json.dumps(result)  # plain JSON types only
    assert oracle.fitted_on is split.train
    # chunks of at most 64 users, all candidates each time
    assert max(u for u, _ in oracle.shapes) <= 64
    assert {i for _, i in oracle.shapes} == {len(split.candidates)}
    m = result["models"]["oracle"]
    assert m[f"hit@{K}"] == 1.0 and m[f"mrr@{K}"] == 1.0 and m[f"ndcg@{K}"] == pytest.approx(1.0)
    table = format_table(result)
    assert "oracle" in table and f"recall@{K}" in table and "protocol=warm" in table


def test_context_items_are_excluded(split):
    result = evaluate(split, [KnownFirst(), Oracle(split.test)], k=K, progress=False)
    # KnownFirst puts every known item on top; after exclusion it is a fixed i % 7 ranking,
    # so it must not look like the oracle and cannot reach hit 1.
    assert result["models"]["known_first"][f"hit@{K}"] < 0.9


def test_ties_are_broken_at_random_per_user_and_by_seed(split):
    a = evaluate(split, [Constant()], k=K, seed=0, progress=False)["models"]["constant"]
    b = evaluate(split, [Constant()], k=K, seed=0, progress=False, chunk_size=7)["models"]["constant"]
    c = evaluate(split, [Constant()], k=K, seed=1, progress=False)["models"]["constant"]
    assert a == pytest.approx(b, rel=1e-12)  # same seed, other chunking: same numbers (up to summation order)
    assert a != c
    # a random ranking per user: recall@K near K / candidates, and the lists differ
    # between users, so nearly every candidate is shown to someone
    chance = K / len(split.candidates)
    assert 0.6 * chance < a[f"recall@{K}"] < 1.6 * chance
    assert a[f"coverage@{K}"] > 0.9


def test_top_k_orders_by_score_then_key_and_pads():
    scores = torch.tensor([[1.0, 3.0, 3.0, 0.5, 3.0],
                           [2.0, -torch.inf, -torch.inf, -torch.inf, -torch.inf]])
    keys = torch.tensor([[0.9, 0.1, 0.8, 0.5, 0.3],
                         [0.1, 0.2, 0.3, 0.4, 0.5]], dtype=torch.float64)
    top, _ = top_k(scores, 4, keys)  # the one top-k, which the harness ranks with
    # row 0: the three 3.0s by key (2: 0.8, 4: 0.3, 1: 0.1), then 1.0; row 1: one finite score
    np.testing.assert_array_equal(top, [[2, 4, 1, 0], [0, -1, -1, -1]])
    # k cuts inside a tie: the largest keys win
    np.testing.assert_array_equal(top_k(scores[:1], 2, keys[:1])[0], [[2, 4]])


def test_nan_means_no_recommendation(split):
    m = evaluate(split, [Unknown()], k=K, progress=False)["models"]["unknown"]
    assert m[f"recall@{K}"] == 0.0 and m[f"coverage@{K}"] == 0.0


def test_rank_metrics_hand_case():
    # 2 users, 4 items. user 0: knows item 0, relevant {1, 3}; user 1: relevant {2}.
    exclude = UserItems(InteractionTable.from_pairs([0], [0]), 2)
    truth = UserItems(InteractionTable.from_pairs([0, 0, 1], [1, 3, 2]), 2)
    scores = np.array([[9.0, 3.0, 2.0, 1.0],   # user 0 ranks (0 excluded) 1, 2, 3
                       [4.0, 3.0, 2.0, 1.0]])  # user 1 ranks 0, 1, 2, 3

    def score_fn(users, items):
        return scores[users][:, items]

    metrics, n = rank_metrics(score_fn, np.array([0, 1]), np.arange(4), exclude, truth, k=2)
    assert n == 2
    # user 0: top-2 = [1, 2] -> recall 1/2, ndcg 1/(1 + 1/log2 3); user 1: top-2 = [0, 1] -> 0
    assert metrics["recall@2"] == pytest.approx(0.25)
    assert metrics["ndcg@2"] == pytest.approx(0.5 / (1 + 1 / np.log2(3)))
    assert metrics["hit@2"] == pytest.approx(0.5)
    assert metrics["mrr@2"] == pytest.approx(0.5)
    assert metrics["precision@2"] == pytest.approx(0.25)
    assert metrics["coverage@2"] == pytest.approx(3 / 4)  # items 0, 1, 2 shown


def test_rank_metrics_novelty_and_cold_share_hand_case():
    # The same two users: top-2 lists are user 0 -> [1, 2], user 1 -> [0, 1].
    exclude = UserItems(InteractionTable.from_pairs([0], [0]), 2)
    truth = UserItems(InteractionTable.from_pairs([0, 0, 1], [1, 3, 2]), 2)
    scores = np.array([[9.0, 3.0, 2.0, 1.0], [4.0, 3.0, 2.0, 1.0]])
    counts = np.array([2, 1, 0, 0])  # training users per item, of U = 2
    metrics, _ = rank_metrics(lambda u, i: scores[u][:, i], np.array([0, 1]), np.arange(4), exclude, truth, k=2,
                              item_counts=counts, cold_items=np.array([2, 3]))
    info = {0: np.log2(3 / 3), 1: np.log2(3 / 2), 2: np.log2(3 / 1)}
    assert metrics["novelty@2"] == pytest.approx(((info[1] + info[2]) / 2 + (info[0] + info[1]) / 2) / 2)
    assert metrics["cold_share@2"] == pytest.approx((1 / 2 + 0 / 2) / 2)  # only user 0 lists cold item 2


def test_registry_and_unknown_names():
    assert list(SCORERS)[:6] == ["kg_recsys", "popularity", "bpr_mf", "lightgcn", "text_knn", "kg_only"]
    pop = create_scorer("popularity", EvalContext("cross-scenario", "books", "music"))
    assert isinstance(pop, Scorer) and pop.name == "popularity" and pop.scenario == "music"
    with pytest.raises(UnknownScorerError, match="registered"):
        create_scorer("nope")
    register_scorer("popularity_again", lambda ctx: create_scorer("popularity", ctx))
    try:
        assert create_scorer("popularity_again").name == "popularity_again"
        with pytest.raises(ValueError):
            register_scorer("popularity_again", lambda ctx: Constant())
    finally:
        del SCORERS["popularity_again"]


def test_duplicate_names_rejected(split):
    with pytest.raises(ValueError, match="unique"):
        evaluate(split, [Constant(), Constant()], progress=False)
