"""Evaluation splits: warm, cold-item, hybrid, cold-user and cross-scenario.

A :class:`Split` holds three views of one graph that share the same node tables, so every
user and item index means the same node in all of them:

- ``train``: what a model may learn from (interactions minus test, valid and any held-out
  context). Node text and KG/attribute relations are all kept: a cold item keeps its text
  and links, it only has no interactions.
- ``context``: ``train`` plus what a model may see when it scores (the valid interactions,
  which are known history at test time, and a cold user's few revealed interactions).
  Items a user has in ``context`` are excluded from that user's ranking.
- ``test``: the ground truth, never in ``train`` or ``context``.

Splits are made over unique (user, item) pairs: when a pair occurs several times (repeated
plays, several kinds), all its rows go to the same side, so a test pair never appears in
training. ``RECOMMENDED`` relationships (model output written back to the store) are
dropped from every view, since they were computed from interactions.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final, Literal

import numpy as np

from kg_recsys.schema import RECOMMENDED
from kg_recsys.store.base import GraphSnapshot, InteractionTable

ProtocolName = Literal["warm", "cold-item", "hybrid", "cold-user", "cross-scenario"]
PROTOCOLS: Final = ("warm", "cold-item", "hybrid", "cold-user", "cross-scenario")


class SplitError(ValueError):
    """A split that cannot be made from this snapshot with these arguments."""


@dataclass(frozen=True)
class Split:
    """One evaluation split (see the module docstring)."""

    protocol: str
    #: What models may train on.
    train: GraphSnapshot
    #: ``train`` plus what a model may see at scoring time (valid, cold-user context).
    context: GraphSnapshot
    #: Ground-truth interactions of the test users.
    test: InteractionTable
    #: Interactions held out of ``train`` for early stopping and tuning (train side).
    valid: InteractionTable
    #: Item indices that are ranked for every test user, sorted.
    candidates: np.ndarray
    seed: int = 0
    source_scenario: str | None = None
    target_scenario: str | None = None
    #: Under ``hybrid``: the held-out (cold) item indices, sorted, which are ranked together
    #: with the warm items; the harness reports their share of each top-K list.
    cold_items: np.ndarray | None = None
    #: Under ``cold-user``: interactions revealed per held-out user (``0``: profile only).
    cold_user_context: int | None = None

    def test_users(self) -> np.ndarray:
        """Sorted indices of the users with at least one test interaction."""
        return np.unique(self.test.user)

    def summary(self) -> dict[str, object]:
        """Sizes of each part, for logs and result files."""
        return {
            "protocol": self.protocol, "seed": self.seed,
            "source_scenario": self.source_scenario, "target_scenario": self.target_scenario,
            **({"cold_user_context": self.cold_user_context} if self.cold_user_context is not None else {}),
            "train_interactions": len(self.train.interactions),
            "context_interactions": len(self.context.interactions),
            "valid_interactions": len(self.valid), "test_interactions": len(self.test),
            "test_users": int(len(self.test_users())), "candidates": int(len(self.candidates)),
        }


def make_split(
    snapshot: GraphSnapshot,
    protocol: str,
    seed: int,
    *,
    source_scenario: str | None = None,
    target_scenario: str | None = None,
    cold_fraction: float = 0.2,
    cold_user_context: int = 3,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.1,
    cross_user_fraction: float = 0.4,
    temporal: bool = False,
) -> Split:
    """Split ``snapshot`` for one evaluation protocol.

    Args:
        snapshot: the full graph.
        protocol: ``warm`` (per-user 80/10/10 of each user's items), ``cold-item`` (a
            fraction of the items that have interactions is held out with all their
            interactions; candidates are those items), ``hybrid`` (the cold-item hold-out
            plus a per-user ``test_fraction`` of the remaining pairs, as ``warm``; cold and
            warm items are ranked together: the ALDI protocol, Huang et al., SIGIR 2023),
            ``cold-user`` (a fraction of users
            is held out; at most ``cold_user_context`` of their items are revealed in
            ``context``, the rest are test; candidates are all items) or
            ``cross-scenario`` (users active in both scenarios: a fraction of them lose
            their ``target_scenario`` history, which becomes test; candidates are the
            items of the target scenario).
        seed: seed of every random choice; the same seed gives the same split.
        source_scenario: scenario A of ``cross-scenario``.
        target_scenario: scenario B of ``cross-scenario``.
        cold_fraction: fraction of items (``cold-item``) or users (``cold-user``) held
            out. (default: ``0.2``)
        cold_user_context: interactions of a cold user revealed in ``context``; ``0``
            means profile only. At least one interaction of each cold user stays test.
            (default: ``3``)
        valid_fraction: fraction of each user's training items moved to ``valid``; users
            with fewer than three training items give none. For ``cross-scenario``, the
            fraction of the users active in both scenarios (none of them test users)
            whose whole target history becomes ``valid``: they are new to the target
            in ``train``, as the test users are. (default: ``0.1``)
        test_fraction: fraction of each user's items that is test under ``warm`` (of each
            user's warm items under ``hybrid``).
            (default: ``0.1``)
        cross_user_fraction: fraction of the users active in both scenarios that become
            test users under ``cross-scenario``. (default: ``0.4``)
        temporal: order by timestamp instead of at random: ``warm`` tests each user's
            latest items, ``cold-user`` reveals the earliest. (default: ``False``)

    Returns:
        A :class:`Split`.
    """
    if protocol not in PROTOCOLS:
        raise SplitError(f"unknown protocol {protocol!r}: use one of {', '.join(PROTOCOLS)}")
    for name, value in (("cold_fraction", cold_fraction), ("valid_fraction", valid_fraction),
                        ("test_fraction", test_fraction), ("cross_user_fraction", cross_user_fraction)):
        if not 0.0 <= value < 1.0:
            raise SplitError(f"{name} must be in [0, 1), got {value}")
    if cold_user_context < 0:
        raise SplitError(f"cold_user_context must be >= 0, got {cold_user_context}")
    if len(snapshot.interactions) == 0:
        raise SplitError("the snapshot has no interactions to split")

    snapshot = _without_model_output(snapshot)
    rng = np.random.default_rng(seed)
    pairs = _Pairs(snapshot.interactions, len(snapshot.items))
    n_items = len(snapshot.items)

    # Each branch assigns every unique pair a side: TRAIN, TEST or CONTEXT (context only).
    side = np.full(pairs.n, _TRAIN, dtype=np.int8)
    if protocol == "warm":
        order_key = pairs.first_time if temporal else rng.random(pairs.n)
        side[_per_user_tail(pairs.user, order_key, test_fraction, min_items=3)] = _TEST
        candidates = np.arange(n_items, dtype=np.int64)
    elif protocol == "cold-item":
        active = np.unique(pairs.item)
        held = _sample(rng, active, cold_fraction, "items with interactions")
        side[np.isin(pairs.item, held)] = _TEST
        candidates = np.sort(held)
    elif protocol == "hybrid":
        active = np.unique(pairs.item)
        held = _sample(rng, active, cold_fraction, "items with interactions")
        is_cold = np.isin(pairs.item, held)
        side[is_cold] = _TEST
        # Among the warm pairs, each user's tail is test as under warm; a user who has only
        # cold items in test still ranks warm items beside them.
        warm_idx = np.flatnonzero(~is_cold)
        order_key = pairs.first_time[warm_idx] if temporal else rng.random(len(warm_idx))
        side[warm_idx[_per_user_tail(pairs.user[warm_idx], order_key, test_fraction, min_items=3)]] = _TEST
        candidates = np.arange(n_items, dtype=np.int64)
    elif protocol == "cold-user":
        active = np.unique(pairs.user)
        held = _sample(rng, active, cold_fraction, "users with interactions")
        is_held = np.isin(pairs.user, held)
        side[is_held] = _TEST
        # Reveal up to cold_user_context pairs of each held user (earliest when temporal),
        # always leaving one test pair.
        order_key = pairs.first_time if temporal else rng.random(pairs.n)
        revealed = _per_user_head(pairs.user, order_key, is_held, cold_user_context)
        side[revealed] = _CONTEXT
        candidates = np.arange(n_items, dtype=np.int64)
    else:  # cross-scenario
        source, target = _check_scenarios(snapshot, source_scenario, target_scenario)
        in_source = snapshot.interactions.scenario == source
        in_target = snapshot.interactions.scenario == target
        users_a = np.unique(snapshot.interactions.user[in_source])
        users_b = np.unique(snapshot.interactions.user[in_target])
        overlap = np.intersect1d(users_a, users_b)
        if len(overlap) < 2:
            raise SplitError(f"only {len(overlap)} users have interactions in both {source!r} and {target!r}; "
                             "cross-scenario needs users active in both")
        held = _sample(rng, overlap, cross_user_fraction, f"users active in both {source!r} and {target!r}")
        # Valid users are new to the target as the test users are: model selection then
        # measures transfer, not recommending more of what a user already has there.
        rest = np.setdiff1d(overlap, held)
        count = min(int(round(valid_fraction * len(overlap))), len(rest) - 1)
        valid_users = np.sort(rng.choice(rest, size=count, replace=False)) if count > 0 else rest[:0]
        # Pairs are per (user, item); the same pair may occur in several scenarios, so
        # scenario membership is decided per row, and a pair leaves training only when
        # it has no row outside the target scenario (otherwise it is known history).
        row_target_only = np.zeros(pairs.n, dtype=bool)
        np.logical_or.at(row_target_only, pairs.of_row[in_target], True)
        row_other = np.zeros(pairs.n, dtype=bool)
        np.logical_or.at(row_other, pairs.of_row[~in_target], True)
        row_target_only &= ~row_other
        side[row_target_only & np.isin(pairs.user, held)] = _TEST
        cross_valid = row_target_only & np.isin(pairs.user, valid_users)
        target_items = np.unique(snapshot.interactions.item[in_target])
        node_items = np.flatnonzero(snapshot.items.scenario == target)
        candidates = np.union1d(target_items, node_items).astype(np.int64)

    # Valid: a per-user random slice of the remaining training pairs (cross-scenario: the
    # target history of the valid users).
    # Under warm the fraction is of the pairs left after test, so the parts are 80/10/10.
    train_pair = side == _TRAIN
    valid_pair = np.zeros(pairs.n, dtype=bool)
    if protocol == "cross-scenario":
        valid_pair = cross_valid
    elif valid_fraction > 0:
        share = valid_fraction / (1.0 - test_fraction) if protocol in ("warm", "hybrid") else valid_fraction
        idx = np.flatnonzero(train_pair)
        picked = _per_user_tail(pairs.user[idx], rng.random(len(idx)), min(share, 0.99), min_items=3)
        valid_pair[idx[picked]] = True
    side_of_row = side[pairs.of_row]
    valid_row = valid_pair[pairs.of_row]
    table = snapshot.interactions
    train_rows = (side_of_row == _TRAIN) & ~valid_row
    context_rows = train_rows | valid_row | (side_of_row == _CONTEXT)
    train = snapshot.with_interactions(table.select(train_rows))
    context = snapshot.with_interactions(table.select(context_rows))
    test = table.select(side_of_row == _TEST)
    valid = table.select(valid_row)
    return Split(protocol=protocol, train=train, context=context, test=test, valid=valid,
                 candidates=np.asarray(candidates, dtype=np.int64), seed=seed,
                 source_scenario=source_scenario if protocol == "cross-scenario" else None,
                 target_scenario=target_scenario if protocol == "cross-scenario" else None,
                 cold_items=np.asarray(held, dtype=np.int64) if protocol == "hybrid" else None,
                 cold_user_context=cold_user_context if protocol == "cold-user" else None)


_TRAIN, _TEST, _CONTEXT = 0, 1, 2


class _Pairs:
    """Unique (user, item) pairs of an interaction table, with row -> pair mapping."""

    def __init__(self, table: InteractionTable, n_items: int) -> None:
        keys = table.user.astype(np.int64) * max(n_items, 1) + table.item.astype(np.int64)
        unique, self.of_row = np.unique(keys, return_inverse=True)
        self.n = len(unique)
        self.user = unique // max(n_items, 1)
        self.item = unique % max(n_items, 1)
        # Earliest timestamp of each pair; pairs without one sort last, in pair order.
        stamps = np.where(np.isnan(table.timestamp), np.inf, table.timestamp)
        self.first_time = np.full(self.n, np.inf)
        np.minimum.at(self.first_time, self.of_row, stamps)


def _without_model_output(snapshot: GraphSnapshot) -> GraphSnapshot:
    relations = {key: value for key, value in snapshot.relations.items() if key[1] != RECOMMENDED}
    return replace(snapshot, relations=relations) if len(relations) != len(snapshot.relations) else snapshot


def _sample(rng: np.random.Generator, population: np.ndarray, fraction: float, what: str) -> np.ndarray:
    count = int(round(fraction * len(population)))
    if count < 1 or count >= len(population):
        raise SplitError(f"holding out {fraction:.0%} of {len(population)} {what} leaves "
                         f"{count} held out; need at least one held out and one kept")
    return np.sort(rng.choice(np.sort(population), size=count, replace=False))


def _rank_within_user(user: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order of rows by (user, key); each row's position inside its user; each user's count."""
    order = np.lexsort((key, user))
    sorted_user = user[order]
    starts = np.flatnonzero(np.r_[True, sorted_user[1:] != sorted_user[:-1]])
    counts = np.diff(np.r_[starts, len(order)])
    position = np.arange(len(order)) - np.repeat(starts, counts)
    return order, position, np.repeat(counts, counts)


def _per_user_tail(user: np.ndarray, key: np.ndarray, fraction: float, min_items: int) -> np.ndarray:
    """Rows that are each user's last ``round(fraction * n)`` by ``key`` (at least one),
    for users with at least ``min_items`` rows."""
    if len(user) == 0 or fraction <= 0:
        return np.zeros(0, dtype=np.int64)
    order, position, count = _rank_within_user(user, key)
    take = np.maximum(1, np.rint(fraction * count)).astype(np.int64)
    chosen = (count >= min_items) & (position >= count - take)
    return order[chosen]


def _per_user_head(user: np.ndarray, key: np.ndarray, mask: np.ndarray, limit: int) -> np.ndarray:
    """Rows among ``mask`` that are each user's first ``min(limit, n - 1)`` by ``key``."""
    idx = np.flatnonzero(mask)
    if len(idx) == 0 or limit == 0:
        return np.zeros(0, dtype=np.int64)
    order, position, count = _rank_within_user(user[idx], key[idx])
    chosen = position < np.minimum(limit, count - 1)
    return idx[order[chosen]]


def _check_scenarios(snapshot: GraphSnapshot, source: str | None, target: str | None) -> tuple[str, str]:
    available = snapshot.scenarios()
    listed = ", ".join(repr(s) for s in available) or "none"
    if source is None or target is None:
        raise SplitError("cross-scenario needs a source and a target scenario (--source-scenario, "
                         f"--target-scenario); scenarios in this data: {listed}")
    for name in (source, target):
        if name not in available:
            raise SplitError(f"scenario {name!r} has no interactions; scenarios in this data: {listed}")
    if source == target:
        raise SplitError(f"source and target scenario are both {source!r}; pick two of: {listed}")
    return source, target
