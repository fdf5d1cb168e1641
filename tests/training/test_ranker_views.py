"""The ranker's training views: which interactions a view hides."""
import numpy as np

from kg_recsys.training.ranker_trainer import beyond_first


def test_a_chosen_user_keeps_a_few_random_interactions_and_the_others_keep_all():
    users = np.array([0, 1, 0, 0, 2, 1, 0, 2, 0])
    chosen = np.array([True, False, True])
    kept_sets = set()
    for seed in range(20):
        hidden = beyond_first(users, chosen, 2, np.random.default_rng(seed))
        keep = np.ones(len(users), bool)
        keep[hidden] = False
        assert np.bincount(users[keep], minlength=3).tolist() == [2, 2, 2]  # user 0 had 5, user 2 had 2
        assert set(hidden.tolist()) <= set(np.flatnonzero(users == 0).tolist())
        kept_sets.add(tuple(np.flatnonzero(keep & (users == 0)).tolist()))
    assert len(kept_sets) > 3  # which ones are kept is drawn, not the first in the log
    assert len(beyond_first(users, np.zeros(3, bool), 2, np.random.default_rng(0))) == 0
