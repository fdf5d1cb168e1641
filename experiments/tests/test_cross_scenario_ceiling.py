"""The cross-scenario ceiling benchmark: its signals, and that it finds the structure the
synthetic graph plants (users keep their taste across scenarios, so who you are like in
one scenario says what you like in the other)."""
import importlib.util
from pathlib import Path

import numpy as np

from kg_recsys.evaluation import make_split

SCRIPT = Path(__file__).resolve().parents[1] / "cross_scenario_ceiling.py"
spec = importlib.util.spec_from_file_location("cross_scenario_ceiling", SCRIPT)
ceiling = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ceiling)


def test_signals_are_scaled_per_user_and_cover_the_candidates(snapshot):
    split = make_split(snapshot, "cross-scenario", 0, source_scenario="books", target_scenario="music")
    users, items = split.test_users(), split.candidates
    parts = ceiling.signals(split.train, split.context, "music", users, items)
    assert set(parts) == {"popularity", *ceiling.SIGNALS}
    for name, scores in parts.items():
        assert scores.shape == (len(users), len(items)), name
        assert scores.min() >= 0.0 and scores.max() <= 1.0, name
        assert np.allclose(scores.max(axis=1), 1.0), name  # every user has a best item


def test_the_blend_and_the_trees_find_the_planted_taste_far_above_popularity(snapshot):
    result = ceiling.ceiling(snapshot, "books", "music", seed=0)
    assert result["best_blend_recall@20"] > 1.5 * result["popularity_recall@20"]
    weights = result["best_weights"]
    assert weights["co_occurrence"] > 0 or weights["neighbours"] > 0
    assert result["trees_recall@20"] > 1.5 * result["popularity_recall@20"]


def test_cross_fitted_trees_learn_from_the_other_half_only():
    # Each user's relevant items are those where one signal is high, so trees trained on
    # any users rank them first. A user's row must come from the half it is not in.
    rng = np.random.default_rng(0)
    users, items = 40, 300
    parts = {name: rng.random((users, items)) for name in ("popularity", *ceiling.SIGNALS)}
    relevant = (parts["neighbours"] > 0.95).astype(np.float32)
    scores = ceiling.cross_fitted_trees(parts, np.full(users, 10), relevant, seed=0)
    assert scores.shape == (users, items)
    top = np.argsort(-scores, axis=1)[:, :10]
    assert np.take_along_axis(relevant, top, axis=1).mean() > 0.9

    # With the labels of one half flipped to the other signal, that half's own rows still
    # follow the signal the other half was labelled with: the trees never saw their labels.
    half = ceiling.halves(users, 0)
    mixed = relevant.copy()
    mixed[half == 0] = (parts["co_occurrence"][half == 0] > 0.95)
    scores = ceiling.cross_fitted_trees(parts, np.full(users, 10), mixed, seed=0)
    top = np.argsort(-scores[half == 0], axis=1)[:, :10]
    assert np.take_along_axis(relevant[half == 0], top, axis=1).mean() > 0.9
