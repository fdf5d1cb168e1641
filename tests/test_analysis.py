"""kg_recsys.evaluation.analysis: bucketed recall agrees with the harness; PCA projection."""
from __future__ import annotations

import numpy as np
import pytest

from ingest import load_snapshot
from kg_recsys.evaluation import create_scorer, evaluate, make_split
from kg_recsys.evaluation.analysis import bucket_recall, item_popularity, pca_2d, top_k, user_activity


@pytest.fixture(scope="module")
def fitted():
    split = make_split(load_snapshot("demo"), "warm", seed=0)
    scorer = create_scorer("popularity")
    result = evaluate(split, [scorer], k=10, progress=False)
    return split, scorer, result


def test_one_user_bucket_equals_the_harness_recall(fitted):
    split, scorer, result = fitted
    edges = [0, user_activity(split).max() + 1]
    (row,) = bucket_recall(split, scorer, k=10, by="user_interactions", edges=edges)
    assert row["count"] == result["users"]
    assert row["recall@10"] == pytest.approx(result["models"]["popularity"]["recall@10"], abs=1e-9)


def test_buckets_partition_the_test_data(fitted):
    split, scorer, _ = fitted
    users = bucket_recall(split, scorer, k=10, by="user_interactions", n_buckets=4)
    items = bucket_recall(split, scorer, k=10, by="item_popularity", n_buckets=4)
    assert sum(r["count"] for r in users) == len(split.test_users())
    pairs = np.unique(np.stack([split.test.user, split.test.item], axis=1), axis=0)
    assert sum(r["count"] for r in items) == len(pairs)
    assert [r["lo"] for r in items] == sorted(r["lo"] for r in items)
    # Popularity ranks popular items first, so its recall grows with item popularity.
    assert items[-1]["recall@10"] > items[0]["recall@10"]
    assert item_popularity(split).sum() == len(split.context.interactions) + len(split.test)
    with pytest.raises(ValueError):
        bucket_recall(split, scorer, by="colour")


def test_top_k_excludes_context_items(fitted):
    split, scorer, _ = fitted
    users, top = top_k(split, scorer, k=10)
    assert top.shape == (len(users), 10)
    inter = split.context.interactions
    for row, user in enumerate(users[:20].tolist()):
        assert not set(top[row].tolist()) & set(inter.item[inter.user == user].tolist())


def test_pca_2d():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5)) * np.array([10.0, 3.0, 1.0, 0.5, 0.1])
    points = pca_2d(x)
    assert points.shape == (200, 2)
    assert points[:, 0].var() > points[:, 1].var() > 1.0


def test_bucket_standard_errors_and_the_plot_shows_sizes_and_keeps_the_legend_off_the_bars(fitted):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kg_recsys.evaluation.analysis import plot_buckets

    split, scorer, _ = fitted
    items = bucket_recall(split, scorer, k=10, by="item_popularity", n_buckets=3)
    for row in items:  # binomial over the bucket's pairs
        p = row["recall@10"]
        assert row["unit"] == "pairs" and row["stderr"] == pytest.approx(np.sqrt(p * (1 - p) / row["count"]))
    users = bucket_recall(split, scorer, k=10, by="user_interactions", n_buckets=3)
    assert all(row["unit"] == "users" and row["stderr"] >= 0 for row in users)
    figure, axis = plt.subplots()
    plot_buckets(axis, {"popularity": items}, k=10, xlabel="interactions per item")
    labels = [tick.get_text() for tick in axis.get_xticklabels()]
    assert labels == [f"{row['bucket']}\n(n={row['count']} pairs)" for row in items]
    figure.canvas.draw()
    legend = axis.get_legend().get_window_extent()
    assert legend.x0 >= axis.get_window_extent().x1  # outside the axes: it covers no bar
    plt.close(figure)
