import numpy as np
import torch

from kg_recsys.recall import exclusion_pairs, top_n


def test_top_n_orders_by_dot_product_and_excludes_seen():
    users = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    items = torch.tensor([[3.0, 0.0], [2.0, 0.0], [0.0, 5.0], [0.0, 1.0]])
    seen = exclusion_pairs(np.array([0, 1]), np.array([0, 1, 5]), np.array([0, 3, 2]))
    best, scores = top_n(users, items, 2, exclude=seen, chunk_size=1)
    assert best[0][0] == 1 and 0 not in best[0]  # item 0 is seen by user 0
    assert best[1][0] == 2 and 3 not in best[1]  # item 3 is seen by user 1
    assert scores[1][0] == 5.0 and scores[0][0] == 2.0


def test_candidates_restrict_the_pool_and_pad_when_short():
    users = torch.tensor([[1.0, 1.0]])
    items = torch.tensor([[1.0, 0.0], [5.0, 5.0], [0.0, 2.0]])
    best, scores = top_n(users, items, 3, candidates=np.array([0, 2]))
    assert best[0].tolist() == [2, 0, -1]
    assert np.isneginf(scores[0, 2])
