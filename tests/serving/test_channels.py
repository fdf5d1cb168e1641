"""The recall channels on the demo data set: the text and per-scenario popularity channels,
the configured channel list, and what each channel's candidates recall."""
import numpy as np
import pytest

from ingest import ingest_source
from kg_recsys.config import RECALL_CHANNELS, ConfigError, RecallConfig, RecommenderConfig
from kg_recsys.serving import build_index
from kg_recsys.serving.index import ServingIndex
from kg_recsys.serving.ranking import (channel_scores, index_lists, pair_stats, recall_candidates, recall_scores,
                                       text_scores)
from kg_recsys.store import MemoryStore
from kg_recsys.text import TextEncoder, snapshot_text_vectors
from kg_recsys.training import fit_model


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    store = MemoryStore()
    ingest_source("demo", store, progress=False)
    snapshot = store.snapshot()
    config = RecommenderConfig.from_dict({"train": {"epochs": 1, "progress": False},
                                          "rank": {"epochs": 1},
                                          "recall": {"channels": list(RECALL_CHANNELS), "num_candidates": 5},
                                          "text": {"cache_dir": str(tmp_path_factory.mktemp("text"))}})
    text = snapshot_text_vectors(snapshot, TextEncoder(config.text))
    fitted = fit_model(snapshot, config, text, seed=0)
    return snapshot, fitted, text, build_index(fitted, snapshot, text)


def test_the_channel_list_is_validated_and_reads_from_a_toml_list():
    assert RecommenderConfig.from_dict({"recall": {"channels": ["text", "gnn"]}}).recall.channels == ("text", "gnn")
    config = RecommenderConfig.from_dict({"recall": {"channels": ["gnn", "text"]}})
    assert RecommenderConfig.from_dict(config.to_dict()) == config
    for bad, message in ((["gnn", "bm25"], "unknown channel"), (["gnn", "gnn"], "twice"), ([], "at least one"),
                         ("gnn", "list")):
        with pytest.raises(ConfigError, match=rf"\[recall\] channels: .*{message}"):
            RecallConfig(channels=bad)


def test_the_text_channel_scores_the_profile_against_item_text_and_skips_items_without_text(demo):
    snapshot, fitted, text, index = demo
    assert index.channels == RECALL_CHANNELS
    users, items = np.arange(4), np.arange(index.num_items)
    scores = text_scores(index, users, items)
    expected = index.user_text_vectors[users] @ index.item_text_vectors.T
    described = np.abs(index.item_text_vectors).sum(axis=1) > 0
    np.testing.assert_allclose(scores[:, described], expected[:, described], rtol=1e-5, atol=1e-6)
    assert np.isneginf(scores[:, ~described]).all()
    # Every channel leaves out what recall leaves out (the user's own items).
    recall = recall_scores(index, users, items)
    for name, values in channel_scores(index, users, items, recall).items():
        assert np.isneginf(values[~np.isfinite(recall)]).all(), name
    lists = index_lists(index, users, items, recall, 5)
    assert set(lists) == set(RECALL_CHANNELS)
    best_text = np.argsort(-np.where(np.isfinite(recall), scores, -np.inf), axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(lists["text"], best_text)


def test_the_popularity_channel_is_the_requested_scenarios_most_popular_and_a_feature_per_scenario(demo):
    snapshot, fitted, text, index = demo
    scenario = 1  # the first scenario's items only, as a request for that scenario asks
    items = np.flatnonzero(index.item_scenario == scenario)
    users = np.arange(3)
    lists = index_lists(index, users, items, recall_scores(index, users, items), 3)
    counts = index.item_count[items]
    for row, user in enumerate(users):
        unseen = np.flatnonzero(index.seen[user].toarray().ravel()[items] == 0)
        top = unseen[np.argsort(-counts[unseen], kind="stable")][:3]
        assert lists["popularity"][row].tolist() == top.tolist()
    popularity = index.scenario_popularity()
    for s in np.unique(index.item_scenario):
        mine = index.item_scenario == s
        if index.item_count[mine].max() > 0:
            assert popularity[mine].max() == pytest.approx(1.0)  # the scenario's most popular
    stats = pair_stats(index, np.zeros(len(items), np.int64), items, np.zeros(len(items), np.float32))
    from kg_recsys.model import NUM_RANK_STATS

    assert stats.shape == (len(items), NUM_RANK_STATS)
    np.testing.assert_allclose(stats[:, 9].numpy(), popularity[items], rtol=1e-6)
    assert (stats[:, 10:] == 1.0).all()  # no ranks given: listed by no channel


def test_an_index_serves_only_its_configured_channels_and_keeps_them_through_save_and_load(demo, tmp_path):
    import dataclasses

    snapshot, fitted, text, index = demo
    config = dataclasses.replace(fitted.config, recall=RecallConfig(channels=("gnn", "text"), num_candidates=5))
    narrow = build_index(dataclasses.replace(fitted, config=config), snapshot, text)
    assert narrow.channels == ("gnn", "text") and narrow.item_item is None
    users, items = np.arange(6), np.arange(index.num_items)
    candidates, _, ranks, item_item = recall_candidates(narrow, users, items, 5)
    assert item_item is None  # no item-item channel: no scores to pass on
    assert candidates.shape == (6, 10) and (ranks[..., RECALL_CHANNELS.index("popularity")] == 1).all()
    narrow.save(tmp_path / "index.npz")
    assert ServingIndex.load(tmp_path / "index.npz").channels == ("gnn", "text")


def test_the_harness_reports_each_channels_candidate_recall(demo):
    from kg_recsys.evaluation.harness import UserItems, candidate_recall
    from kg_recsys.evaluation.kgrec_scorer import KGRecScorer
    from kg_recsys.store.base import InteractionTable

    snapshot, fitted, text, index = demo
    scorer = KGRecScorer(fitted.config)
    scorer.fitted, scorer._text = fitted, text
    users, items = np.arange(len(snapshot.users)), np.arange(len(snapshot.items))
    lists = scorer.candidate_lists(snapshot, users, items)
    assert set(lists) == {*RECALL_CHANNELS, "candidates"}
    # Truth: each user's first text-channel item, and one item no channel lists for user 0.
    first = lists["text"][:, 0]
    keep = first >= 0
    seen_by_0 = snapshot.interactions.item[snapshot.interactions.user == 0]
    unlisted = np.setdiff1d(items, np.r_[lists["candidates"][0], seen_by_0])[0]
    truth_user = np.r_[users[keep], 0]
    truth_item = np.r_[items[first[keep]], unlisted]
    count = len(truth_user)
    truth = InteractionTable(user=truth_user, item=truth_item, scenario=np.full(count, "x"),
                             kind=np.full(count, "interaction"), weight=np.ones(count, np.float32),
                             timestamp=np.full(count, np.nan))
    exclude = UserItems(snapshot.interactions, len(users))
    result = candidate_recall(lambda u, i: scorer.candidate_lists(snapshot, u, i), users, items, exclude,
                              UserItems(truth, len(users)), chunk_size=4)
    width = lists["candidates"].shape[1]
    assert set(result) == {"gnn@5", "item_item@5", "text@5", "popularity@5", f"candidates@{width}"}
    evaluated = int(keep.sum()) + (0 if keep[0] else 1)
    expected = (keep.sum() - (0.5 if keep[0] else 0.0)) / evaluated  # user 0 finds one of two
    assert result["text@5"] == pytest.approx(expected)
    assert result[f"candidates@{width}"] == pytest.approx(expected)
