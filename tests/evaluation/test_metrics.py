"""Metric maths on hand-computed cases (the expected numbers are worked out by hand)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from kg_recsys.evaluation.metrics import coverage, metric_names, per_user_metrics, ranking_metrics

L2_3 = math.log2(3)  # discount of rank 2 is 1/log2(3)


def test_two_of_four_relevant_at_two():
    # ranking [a, b, c, d], relevant {b, d}
    m = ranking_metrics(["a", "b", "c", "d"], {"b", "d"}, k=2)
    assert m["recall"] == pytest.approx(0.5)
    assert m["precision"] == pytest.approx(0.5)
    assert m["hit"] == 1.0
    assert m["mrr"] == pytest.approx(0.5)
    assert m["ndcg"] == pytest.approx((1 / L2_3) / (1 + 1 / L2_3))  # ideal: ranks 1 and 2 relevant


def test_same_ranking_at_four():
    m = ranking_metrics(["a", "b", "c", "d"], {"b", "d"}, k=4)
    assert m["recall"] == pytest.approx(1.0)
    assert m["precision"] == pytest.approx(0.5)
    # DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3)
    assert m["ndcg"] == pytest.approx((1 / L2_3 + 1 / math.log2(5)) / (1 + 1 / L2_3))
    assert m["mrr"] == pytest.approx(0.5)


def test_miss_gives_zero_everywhere():
    m = ranking_metrics(["a", "b", "c"], {"z"}, k=3)
    assert m == {"recall": 0.0, "ndcg": 0.0, "hit": 0.0, "mrr": 0.0, "precision": 0.0}


def test_mrr_is_truncated_at_k():
    # the first relevant item is at rank 3: MRR@2 = 0 (documented: MRR is cut at K), MRR@3 = 1/3
    assert ranking_metrics(["a", "b", "c"], {"c"}, k=2)["mrr"] == 0.0
    assert ranking_metrics(["a", "b", "c"], {"c"}, k=3)["mrr"] == pytest.approx(1 / 3)


def test_ideal_dcg_uses_min_of_relevant_and_k():
    # 5 relevant, k = 2, both top items relevant: the ideal list also has only 2 hits -> NDCG 1,
    # while recall divides by all 5 relevant items.
    m = ranking_metrics(["a", "b", "c"], {"a", "b", "x", "y", "z"}, k=2)
    assert m["ndcg"] == pytest.approx(1.0)
    assert m["recall"] == pytest.approx(2 / 5)
    assert m["precision"] == pytest.approx(1.0)


def test_single_relevant_at_rank_one_and_three():
    assert ranking_metrics(["x", "a", "b"], {"x"}, k=3)["ndcg"] == pytest.approx(1.0)
    # rank 3: DCG = 1/log2(4) = 0.5, IDCG = 1
    assert ranking_metrics(["a", "b", "x"], {"x"}, k=3)["ndcg"] == pytest.approx(0.5)


def test_short_list_precision_divides_by_k():
    # only 2 items could be ranked, 1 hit: precision@5 = 1/5, not 1/2
    m = ranking_metrics(["a", "b"], {"a"}, k=5)
    assert m["precision"] == pytest.approx(0.2)
    assert m["recall"] == pytest.approx(1.0)


def test_batched_matches_per_user():
    hits = np.array([[False, True, False, True],
                     [True, False, False, False],
                     [False, False, False, False]])
    out = per_user_metrics(hits, np.array([2, 3, 1]), k=4)
    np.testing.assert_allclose(out["recall"], [1.0, 1 / 3, 0.0])
    np.testing.assert_allclose(out["hit"], [1.0, 1.0, 0.0])
    np.testing.assert_allclose(out["mrr"], [0.5, 1.0, 0.0])
    np.testing.assert_allclose(out["precision"], [0.5, 0.25, 0.0])
    # user 2: 1 hit at rank 1, 3 relevant -> IDCG = 1 + 1/log2(3) + 1/log2(4)
    np.testing.assert_allclose(out["ndcg"][1], 1 / (1 + 1 / L2_3 + 0.5))


def test_rejects_users_without_relevant_items():
    with pytest.raises(ValueError):
        per_user_metrics(np.zeros((1, 2), bool), np.array([0]), k=2)


def test_coverage_counts_distinct_items_and_ignores_padding():
    top = np.array([[0, 1], [1, 2], [2, -1]])
    assert coverage(top, 10) == pytest.approx(0.3)
    assert coverage(np.full((2, 2), -1), 10) == 0.0


def test_metric_names_order():
    assert metric_names(20) == ["recall@20", "ndcg@20", "hit@20", "mrr@20", "precision@20", "coverage@20"]


def test_capped_recall_divides_by_the_cut_off_when_more_are_relevant():
    from kg_recsys.evaluation.metrics import recall_at_k

    hits = np.array([[True, True, False], [True, False, False]])
    relevant = np.array([10, 2])
    # 2 of 10 relevant in the top 3: 0.2 plain, 2/3 capped (at most 3 could be hit).
    assert recall_at_k(hits, relevant, 3).tolist() == pytest.approx([0.2, 0.5])
    assert recall_at_k(hits, relevant, 3, capped=True).tolist() == pytest.approx([2 / 3, 0.5])
