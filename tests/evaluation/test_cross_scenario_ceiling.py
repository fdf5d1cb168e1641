"""The cross-scenario ceiling benchmark: its signals, and that it finds the structure the
synthetic graph plants (users keep their taste across scenarios, so who you are like in
one scenario says what you like in the other)."""
import importlib.util
from pathlib import Path

import numpy as np

from kg_recsys.evaluation import make_split

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "cross_scenario_ceiling.py"
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


def test_the_blend_finds_the_planted_taste_far_above_popularity(snapshot):
    result = ceiling.ceiling(snapshot, "books", "music", seed=0)
    assert result["best_blend_recall@20"] > 1.5 * result["popularity_recall@20"]
    weights = result["best_weights"]
    assert weights["co_occurrence"] > 0 or weights["neighbours"] > 0
