"""The one top-k and the seen-item mask of serving."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from kg_recsys.serving.ranking import _through, mask_seen, seen_pairs, top_k


def test_top_k_orders_by_score_breaks_ties_by_lower_column_and_pads():
    scores = np.array([[1.0, 3.0, 3.0, -np.inf], [-np.inf, -np.inf, 2.0, -np.inf]], np.float32)
    columns, found = top_k(scores, 3)
    assert columns.tolist() == [[1, 2, 0], [2, -1, -1]]
    assert found[0].tolist() == [3.0, 3.0, 1.0]
    assert np.isneginf(found[1, 1:]).all()


def test_top_k_breaks_ties_by_the_larger_key_when_keys_are_given():
    scores = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    keys = torch.tensor([[0.1, 0.9, 0.5, 0.99]], dtype=torch.float64)
    columns, _ = top_k(scores, 2, keys)
    assert columns.tolist() == [[1, 2]]


def test_mask_seen_hides_each_users_items_among_the_candidates_only():
    seen = sp.csr_matrix(np.array([[1, 0, 0, 1], [0, 1, 0, 0]], np.float32))
    scores = np.zeros((2, 3), np.float32)
    mask_seen(scores, seen, np.array([1, 0]), np.array([3, 1, 2]))  # rows: user 1, then user 0
    assert np.isneginf(scores).tolist() == [[False, True, False], [True, False, False]]


def test_seen_pairs_and_the_whole_catalogue_mask_read_the_rows_asked_for():
    seen = sp.csr_matrix(np.array([[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 0, 0]], np.float32))
    rows, cols = seen_pairs(seen, np.array([2, 1, 0, 1]))
    assert list(zip(rows.tolist(), cols.tolist())) == [(1, 1), (2, 0), (2, 3), (3, 1)]
    scores = mask_seen(np.zeros((2, 4), np.float32), seen, np.array([0, 1]), np.arange(4))
    assert np.isneginf(scores).tolist() == [[True, False, False, True], [False, True, False, False]]


def test_through_gives_the_products_entries_of_the_pairs():
    rng = np.random.default_rng(0)
    left = sp.random(30, 20, density=0.2, format="csr", random_state=1, dtype=np.float32)
    right = sp.random(20, 50, density=0.1, format="csr", random_state=2, dtype=np.float32)
    users, items = rng.integers(30, size=400), rng.integers(50, size=400)
    dense = (left @ right).toarray()
    for chunk in (1024, 7):
        np.testing.assert_allclose(_through(left, right, users, items, chunk=chunk), dense[users, items], rtol=1e-6)
    empty = sp.csr_matrix((3, 20), dtype=np.float32)
    assert _through(empty, right, np.array([0, 2]), np.array([1, 4])).tolist() == [0, 0]


def test_the_index_popularity_order_is_each_subsets_own_sort_until_popularity_changes():
    from kg_recsys.serving.index import ServingIndex
    from kg_recsys.serving.ranking import popularity_order

    rng = np.random.default_rng(0)
    popularity = rng.integers(0, 5, size=50).astype(np.float32)  # many ties
    index = ServingIndex.__new__(ServingIndex)
    index.item_popularity, index.item_ids, index._popularity_order = popularity, np.arange(50).astype(str), None
    for items in (np.arange(50), np.sort(rng.choice(50, size=17, replace=False))):
        expected = np.argsort(-popularity[items], kind="stable")
        assert popularity_order(index, items).tolist() == expected.tolist()
    popularity[popularity.argmin()] = 99.0  # in place, as a live update changes it
    index.popularity_changed()
    assert popularity_order(index, np.arange(50))[0] == popularity.argmax()


def test_ease_scores_are_the_history_times_the_item_item_weights_off_the_history():
    from kg_recsys.content import ease_inverse, ease_scores

    # X = [[1, 1], [1, 0]], lambda 1: P = [[2, -1], [-1, 3]] / 5, B_01 = 1/3, B_10 = 1/2 (as in test_baselines)
    history = sp.csr_matrix(np.array([[1, 1], [1, 0]], np.float32))
    inverse = ease_inverse(history, 1.0)
    np.testing.assert_allclose(inverse, np.array([[2, -1], [-1, 3]]) / 5, rtol=1e-6)
    rows = sp.csr_matrix(np.array([[0, 1], [1, 0]], np.float32))
    scores = ease_scores(rows, inverse)
    assert abs(scores[0, 0] - 0.5) < 1e-6  # item 0 from item 1: B_10
    assert abs(scores[1, 1] - 1 / 3) < 1e-6  # item 1 from item 0: B_01
    np.testing.assert_allclose(ease_scores(rows, inverse, np.array([1])), scores[:, [1]], rtol=1e-6)


def test_candidates_join_the_item_item_channels_best_to_recall_and_popularity():
    from kg_recsys.serving.ranking import candidate_columns

    recall = np.array([[5.0, 4.0, 0.0, 0.0, 0.0, -np.inf]], np.float32)
    popularity = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 2.0], np.float32)  # 5 is seen (-inf): 4 is the popular one
    item_item = np.array([[0.0, 0.0, 3.0, 1.0, 0.0, -np.inf]], np.float32)
    plain = candidate_columns(recall, popularity, 1)
    assert sorted(plain[plain >= 0].tolist()) == [0, 4]
    fused = candidate_columns(recall, popularity, 1, item_item=item_item)
    assert fused.shape == (1, 3) and sorted(fused[fused >= 0].tolist()) == [0, 2, 4]


def test_fused_candidates_carry_each_channels_rank_and_a_rank_of_one_where_unlisted():
    from kg_recsys.config import RECALL_CHANNELS
    from kg_recsys.serving.ranking import fuse_lists

    lists = {"gnn": np.array([[2, 0], [1, -1]]), "popularity": np.array([[0, 5], [1, 3]])}
    columns, ranks = fuse_lists(lists, 2)
    assert columns.tolist() == [[0, -1, 2, 5], [-1, 1, -1, 3]]  # sorted; repeats and pads -1
    gnn, popular = RECALL_CHANNELS.index("gnn"), RECALL_CHANNELS.index("popularity")
    second = np.log1p(1) / np.log1p(2)  # 0-based place 1 of 2

    def rank_of(row, column, channel):
        return ranks[row, columns[row].tolist().index(column), channel]

    assert [rank_of(0, c, gnn) for c in (0, 2, 5)] == pytest.approx([second, 0.0, 1.0])
    assert [rank_of(0, c, popular) for c in (0, 2, 5)] == pytest.approx([0.0, 1.0, second])
    assert [rank_of(1, c, gnn) for c in (1, 3)] == pytest.approx([0.0, 1.0])
    assert [rank_of(1, c, popular) for c in (1, 3)] == pytest.approx([0.0, second])
    others = [i for i, name in enumerate(RECALL_CHANNELS) if name not in lists]
    assert (ranks[:, :, others] == 1.0).all() and (ranks[columns < 0] == 1.0).all()


def test_channel_lists_are_best_first_and_the_text_channel_joins_the_candidates():
    from kg_recsys.serving.ranking import candidate_columns, channel_lists

    recall = np.array([[5.0, 4.0, 0.0, 0.0, 0.0, -np.inf]], np.float32)
    popularity = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 2.0], np.float32)
    text = np.array([[0.1, 0.2, 0.3, 0.9, 0.5, -np.inf]], np.float32)
    lists = channel_lists(recall, popularity, 2, scores={"text": text}, channels=("text", "gnn"))
    assert list(lists) == ["text", "gnn"]  # only the channels asked for, in their order
    assert lists["text"].tolist() == [[3, 4]] and lists["gnn"].tolist() == [[0, 1]]
    fused = candidate_columns(recall, popularity, 1, text=text)
    assert fused.shape == (1, 3) and sorted(fused[fused >= 0].tolist()) == [0, 3, 4]
