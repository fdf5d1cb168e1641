"""Split protocols: no leakage, the promised shapes, and determinism with a seed."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kg_recsys.evaluation.splits import PROTOCOLS, SplitError, make_split
from kg_recsys.schema import ITEM, RECOMMENDED, USER

CROSS = dict(source_scenario="books", target_scenario="music")


def kwargs_for(protocol: str) -> dict:
    return CROSS if protocol == "cross-scenario" else {}


def pairs(table) -> set[tuple[int, int]]:
    return set(zip(table.user.tolist(), table.item.tolist()))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_no_test_pair_in_train_or_context(snapshot, protocol):
    split = make_split(snapshot, protocol, seed=0, **kwargs_for(protocol))
    test = pairs(split.test)
    assert test, "every protocol must produce test pairs"
    assert not test & pairs(split.train.interactions)
    assert not test & pairs(split.context.interactions)
    assert not pairs(split.valid) & pairs(split.train.interactions)
    assert not pairs(split.valid) & test


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_rows_are_conserved_and_views_share_nodes(snapshot, protocol):
    split = make_split(snapshot, protocol, seed=0, **kwargs_for(protocol))
    n_rows = len(split.context.interactions) + len(split.test)
    assert n_rows == len(snapshot.interactions)
    # context = train + valid (+ cold-user revealed rows)
    assert pairs(split.train.interactions) | pairs(split.valid) <= pairs(split.context.interactions)
    for view in (split.train, split.context):
        assert view.users is snapshot.users and view.items is snapshot.items
        assert view.entities is snapshot.entities
        assert set(view.relations) == set(snapshot.relations)
    assert np.all(np.diff(split.candidates) > 0)
    assert np.isin(split.test.item, split.candidates).all()


def test_warm_is_per_user_80_10_10(snapshot):
    split = make_split(snapshot, "warm", seed=0)
    n = len(snapshot.interactions)
    assert 0.07 < len(split.test) / n < 0.13
    assert 0.07 < len(split.valid) / n < 0.13
    # every user with >= 3 items has test items and keeps training items
    assert set(split.test.user.tolist()) == set(range(len(snapshot.users)))
    assert set(split.train.interactions.user.tolist()) == set(range(len(snapshot.users)))
    np.testing.assert_array_equal(split.candidates, np.arange(len(snapshot.items)))


def test_warm_keeps_repeated_pairs_together(snapshot):
    # the fixture's first pair occurs twice; both rows land on the same side
    u, i = int(snapshot.interactions.user[0]), int(snapshot.interactions.item[0])
    for seed in range(5):
        split = make_split(snapshot, "warm", seed=seed)
        sides = [int(((t.user == u) & (t.item == i)).sum())
                 for t in (split.train.interactions, split.valid, split.test)]
        assert sorted(sides) == [0, 0, 2]


def test_warm_temporal_tests_latest_items(snapshot):
    split = make_split(snapshot, "warm", seed=0, temporal=True)
    ctx = split.context.interactions
    for user in range(0, len(snapshot.users), 7):
        test_times = split.test.timestamp[split.test.user == user]
        # a pair is ordered by its first event (user 0 has a pair that repeats later)
        first = {}
        for item, time in zip(ctx.item[ctx.user == user].tolist(), ctx.timestamp[ctx.user == user].tolist()):
            first[item] = min(time, first.get(item, np.inf))
        assert test_times.min() >= max(first.values())


def test_cold_item_items_never_in_train(snapshot):
    split = make_split(snapshot, "cold-item", seed=0)
    held = set(split.candidates.tolist())
    active = set(snapshot.interactions.item.tolist())
    assert len(held) == round(0.2 * len(active))
    assert held.isdisjoint(split.train.interactions.item.tolist())
    assert held.isdisjoint(split.context.interactions.item.tolist())
    assert held.isdisjoint(split.valid.item.tolist())
    # all interactions of held items are test
    assert int(np.isin(snapshot.interactions.item, list(held)).sum()) == len(split.test)
    # the held items keep their text and KG/attribute links
    src, _ = split.train.relations[(ITEM, "genre", "Entity")]
    assert held <= set(src.tolist())
    assert all(split.train.items.text[list(held)] != "")


def test_hybrid_ranks_cold_and_warm_items_together(snapshot):
    split = make_split(snapshot, "hybrid", seed=0)
    cold = set(split.cold_items.tolist())
    active = set(snapshot.interactions.item.tolist())
    assert len(cold) == round(0.2 * len(active))
    assert cold.isdisjoint(split.train.interactions.item.tolist())
    assert cold.isdisjoint(split.context.interactions.item.tolist())
    np.testing.assert_array_equal(split.candidates, np.arange(len(snapshot.items)))  # warm and cold together
    test_items = set(split.test.item.tolist())
    assert test_items & cold and test_items - cold  # both kinds are test
    # every interaction of a cold item is test; the warm test is a per-user tail of the rest
    assert int(np.isin(split.test.item, list(cold)).sum()) == int(np.isin(snapshot.interactions.item, list(cold)).sum())
    warm_test = len(pairs(split.test) - {p for p in pairs(split.test) if p[1] in cold})
    warm_all = len({p for p in pairs(snapshot.interactions) if p[1] not in cold})
    assert 0.05 < warm_test / warm_all < 0.15
    assert make_split(snapshot, "warm", seed=0).cold_items is None


@pytest.mark.parametrize("context_size", [0, 3])
def test_cold_user_users_never_in_train(snapshot, context_size):
    split = make_split(snapshot, "cold-user", seed=0, cold_user_context=context_size)
    held = set(split.test.user.tolist())
    assert len(held) == round(0.2 * len(snapshot.users))
    assert held.isdisjoint(split.train.interactions.user.tolist())
    assert held.isdisjoint(split.valid.user.tolist())
    ctx = split.context.interactions
    revealed = np.isin(ctx.user, list(held))
    revealed_pairs = pairs(ctx.select(revealed))
    counts = np.bincount([u for u, _ in revealed_pairs], minlength=len(snapshot.users))
    assert counts.max(initial=0) == context_size
    assert len(revealed_pairs) == context_size * len(held)
    assert split.summary()["cold_user_context"] == context_size  # result files say which setting
    # profile (attribute) relations of the held users stay
    src, _ = split.train.relations[(USER, "gender", "Entity")]
    assert held <= set(src.tolist())
    np.testing.assert_array_equal(split.candidates, np.arange(len(snapshot.items)))


def test_cross_scenario_moves_target_history_of_test_users(snapshot):
    split = make_split(snapshot, "cross-scenario", seed=0, **CROSS)
    assert set(split.test.scenario.tolist()) == {"music"}
    test_users = set(split.test.user.tolist())
    train = split.train.interactions
    # test users keep their source history and have no target history in training
    in_train = np.isin(train.user, list(test_users))
    assert set(train.scenario[in_train].tolist()) == {"books"}
    assert set(split.context.interactions.scenario[np.isin(split.context.interactions.user,
                                                           list(test_users))].tolist()) == {"books"}
    # candidates are the music items
    music = set(np.flatnonzero(snapshot.items.scenario == "music").tolist())
    assert set(split.candidates.tolist()) == music
    # other users still have music history to learn the transfer from
    assert (train.scenario == "music").sum() > 0
    both = set(snapshot.interactions.user[snapshot.interactions.scenario == "books"].tolist()) & \
        set(snapshot.interactions.user[snapshot.interactions.scenario == "music"].tolist())
    assert len(test_users) == round(0.4 * len(both))
    assert set(split.valid.scenario.tolist()) <= {"music"}
    # valid users are new to music in training too, and none of them is a test user
    valid_users = set(split.valid.user.tolist())
    assert len(valid_users) == round(0.1 * len(both)) and not valid_users & test_users
    assert set(train.scenario[np.isin(train.user, list(valid_users))].tolist()) == {"books"}


def test_cross_scenario_without_names_lists_scenarios(snapshot):
    with pytest.raises(SplitError, match="'books', 'music'"):
        make_split(snapshot, "cross-scenario", seed=0)
    with pytest.raises(SplitError, match="scenarios in this data"):
        make_split(snapshot, "cross-scenario", seed=0, source_scenario="books", target_scenario="films")


def test_cross_scenario_shared_item_known_from_source_is_not_test(snapshot):
    # Give the pair (user 0, item of music) an extra books row: it is known history, not test.
    table = snapshot.interactions
    music_row = int(np.flatnonzero((table.user == 1) & (table.scenario == "music"))[0])
    extra = table.select(np.array([music_row]))
    extra = dataclasses.replace(extra, scenario=np.array(["books"]))
    from kg_recsys.store.base import InteractionTable

    shared = snapshot.with_interactions(InteractionTable.concat([table, extra]))
    for seed in range(6):
        split = make_split(shared, "cross-scenario", seed=seed, **CROSS)
        assert not pairs(split.test) & pairs(split.train.interactions)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_same_seed_same_split_other_seed_differs(snapshot, protocol):
    a = make_split(snapshot, protocol, seed=3, **kwargs_for(protocol))
    b = make_split(snapshot, protocol, seed=3, **kwargs_for(protocol))
    c = make_split(snapshot, protocol, seed=4, **kwargs_for(protocol))
    for field in ("user", "item", "timestamp"):
        np.testing.assert_array_equal(getattr(a.test, field), getattr(b.test, field))
        np.testing.assert_array_equal(getattr(a.valid, field), getattr(b.valid, field))
    np.testing.assert_array_equal(a.candidates, b.candidates)
    assert pairs(a.test) != pairs(c.test)


def test_model_output_relations_are_dropped(snapshot):
    relations = dict(snapshot.relations)
    relations[(USER, RECOMMENDED, ITEM)] = (np.array([0]), np.array([1]))
    leaky = dataclasses.replace(snapshot, relations=relations)
    split = make_split(leaky, "warm", seed=0)
    assert (USER, RECOMMENDED, ITEM) not in split.train.relations
    assert (USER, RECOMMENDED, ITEM) not in split.context.relations


def test_bad_arguments(snapshot):
    with pytest.raises(SplitError, match="unknown protocol"):
        make_split(snapshot, "sideways", seed=0)
    with pytest.raises(SplitError, match="cold_fraction"):
        make_split(snapshot, "cold-item", seed=0, cold_fraction=1.5)
    with pytest.raises(SplitError, match="no interactions"):
        from kg_recsys.store.base import InteractionTable

        make_split(snapshot.with_interactions(InteractionTable.empty()), "warm", seed=0)
