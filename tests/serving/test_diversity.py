"""MMR re-ranking, on hand-computed cases, and through the harness and the Recommender."""
import numpy as np
import pytest

from kg_recsys.serving.diversity import diversify_scores, mmr_order


def _vectors():
    # items 0 and 1 point the same way; item 2 is orthogonal to both
    return np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])


def test_mmr_places_a_dissimilar_item_before_a_near_duplicate():
    relevance = np.array([[1.0, 0.9, 0.5]])  # scaled to [1, 0.8, 0]
    vectors = _vectors()[None]
    # weight 0.5, step 2: item 1 gains 0.5 * 0.8 - 0.5 * 1 = -0.1, item 2 gains 0.5 * 0 - 0.5 * 0 = 0
    assert mmr_order(relevance, vectors, 0.5).tolist() == [[0, 2, 1]]
    assert mmr_order(relevance, vectors, 0.0).tolist() == [[0, 1, 2]]  # relevance alone
    # weight 0.1: item 1 gains 0.9 * 0.8 - 0.1 = 0.62 > item 2's 0: relevance still wins
    assert mmr_order(relevance, vectors, 0.1).tolist() == [[0, 1, 2]]


def test_mmr_puts_empty_slots_last_and_rejects_bad_weights():
    relevance = np.array([[-np.inf, 0.2, 0.7]])
    assert mmr_order(relevance, _vectors()[None], 0.5).tolist()[0][:2] == [2, 1]
    with pytest.raises(ValueError, match="diversity weight"):
        mmr_order(relevance, _vectors()[None], 1.5)


def test_diversify_scores_reorders_the_top_and_keeps_the_rest_and_seen_items():
    scores = np.array([[1.0, 0.9, 0.5, 0.1, -np.inf]], np.float32)
    vectors = np.vstack([_vectors(), [[0.5, 0.5]], [[1.0, 1.0]]])
    out = diversify_scores(scores, vectors, 0.5, depth=3)
    assert np.argsort(-out[0])[:4].tolist() == [0, 2, 1, 3]  # the top 3 by MMR, then item 3
    assert np.isneginf(out[0, 4])
    assert diversify_scores(scores, vectors, 0.0, depth=3) is scores


def test_ild_in_the_harness_hand_case():
    from kg_recsys.evaluation.harness import UserItems, rank_metrics
    from kg_recsys.store.base import InteractionTable

    scores = np.array([[3.0, 2.0, 1.0], [1.0, 3.0, 2.0]])
    metrics, _ = rank_metrics(lambda u, i: scores[u][:, i], np.array([0, 1]), np.arange(3),
                              UserItems(InteractionTable.from_pairs([], []), 2),
                              UserItems(InteractionTable.from_pairs([0, 1], [0, 1]), 2), k=2,
                              item_vectors=_vectors())
    # user 0 lists items 0, 1 (distance 0); user 1 lists 1, 2 (distance 1)
    assert metrics["ild@2"] == pytest.approx(0.5)
