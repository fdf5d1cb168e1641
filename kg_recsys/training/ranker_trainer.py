"""The ranker trainer: held-out interactions against hard negatives from recall."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from kg_recsys.content import history_matrix, item_entity_tfidf
from kg_recsys.evaluation.metrics import recall_at_k
from kg_recsys.model import FittedModel, item_scenarios, new_ranker, scenario_index
from kg_recsys.schema import ITEM
from kg_recsys.serving.index import build_index
from kg_recsys.serving.ranking import pair_stats, ranker_inputs, recall_candidates
from kg_recsys.store.base import GraphSnapshot, InteractionTable
from kg_recsys.threads import torch_threads
from kg_recsys.training.early_stopping import EarlyStopping

#: Ranker training steps between two checks on the held-back users.
CHECK_EVERY = 25
#: Pairs per ranker training step.
RANKER_BATCH = 2048
#: Pairs scored at once by a check on the held-back users.
CHECK_CHUNK = 65_536


def holdout_candidates(graph: GraphSnapshot, scenarios: tuple[str, ...], holdout: InteractionTable) -> np.ndarray:
    """The items of the scenarios ``holdout`` covers: a holdout of music interactions is
    ranked among music, as the evaluation ranks the target scenario only."""
    wanted = scenario_index(np.unique(holdout.scenario), scenarios)
    candidates = np.flatnonzero(np.isin(item_scenarios(graph, scenarios), wanted[wanted >= 0]))
    return candidates if len(candidates) else np.arange(len(graph.items))


def capped_recall(scores: np.ndarray, label: np.ndarray, count: np.ndarray, k: int = 20) -> float:
    """Mean capped Recall@k (:func:`~kg_recsys.evaluation.metrics.recall_at_k`) over the
    rows with ``count > 0``: ``scores, label [U, C]``, ``count [U]`` (a row's positives,
    also those outside its columns)."""
    rows = count > 0
    if not rows.any():
        return 0.0
    top = np.argsort(-scores[rows], axis=1)[:, :k]
    return float(np.mean(recall_at_k(np.take_along_axis(label[rows], top, axis=1), count[rows], k, capped=True)))


def new_to_scenario(holdout: InteractionTable, holdout_scenario: np.ndarray, active: np.ndarray,
                    rate: float, rng: np.random.Generator) -> np.ndarray:
    """The (user, scenario) pairs whose history a ranker view hides, ``[users, scenarios]``
    like ``active`` (where each user has history). A ``rate`` share of the users active in
    several scenarios forget the scenario of one of their held-out interactions, so they
    are new to the scenario they are tested on."""
    shuffled = rng.permutation(len(holdout))
    _, first = np.unique(holdout.user[shuffled], return_index=True)
    forget = np.full(len(active), -1, np.int64)
    forget[holdout.user[shuffled][first]] = holdout_scenario[shuffled][first]
    chosen = (rng.random(len(active)) < rate) & (active.sum(1) > 1) & (forget >= 0)
    new_to = np.zeros(active.shape, bool)
    new_to[np.flatnonzero(chosen), forget[chosen]] = True
    return new_to


def beyond_first(users: np.ndarray, chosen: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Rows of the interactions ``users`` (a user index per row) to hide so that each
    ``chosen [n_users]`` user keeps ``count`` of theirs, drawn at random."""
    rows = rng.permutation(np.flatnonzero(chosen[users]))
    rows = rows[np.argsort(users[rows], kind="stable")]  # grouped by user, in random order within
    owner = users[rows]
    starts = np.r_[0, np.flatnonzero(np.diff(owner)) + 1] if len(rows) else np.zeros(0, np.int64)
    position = np.arange(len(rows)) - np.repeat(starts, np.diff(np.r_[starts, len(rows)]))
    return rows[position >= count]


def hard_negatives(label: np.ndarray, candidates: np.ndarray, cold_candidate: np.ndarray, pos_r: np.ndarray,
                   pos_c: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A negative candidate column for each positive ``(pos_r, pos_c)``, drawn from the
    same user's recall candidates (``label``, ``candidates``, ``cold_candidate``: ``[U, C]``).

    A cold positive is paired with a cold negative half of the time: the cold-item
    protocol ranks cold items among themselves (where popularity and neighbourhood
    features are all zero), while a recommendation list mixes them with warm ones."""
    negative = ~label & (candidates >= 0)
    neg_pool = [np.flatnonzero(negative[r]) for r in range(len(label))]
    cold_pool = [np.flatnonzero(negative[r] & cold_candidate[r]) for r in range(len(label))]
    pools = [cold_pool[r] if cold_candidate[r, c] and len(cold_pool[r]) and coin else neg_pool[r]
             for r, c, coin in zip(pos_r, pos_c, rng.random(len(pos_r)) < 0.5)]
    return np.array([pool[rng.integers(len(pool))] if len(pool) else c for pool, c in zip(pools, pos_c)])


def train_ranker(fitted: FittedModel, graph: GraphSnapshot, holdout: InteractionTable, text_vectors,
                 rng: np.random.Generator, progress=None):
    """See :func:`_train_ranker`; runs on one torch thread. The ranker's steps are small
    matrix products (2,048 pairs through a 64-wide MLP), where a second thread costs more
    in waiting than it saves: two ranker epochs on ml-100k-kg took 13.5 s on one thread and
    63.5 s on two, with another fit on the cores (benchmarks/results/profile.md)."""
    with torch_threads(1):
        return _train_ranker(fitted, graph, holdout, text_vectors, rng, progress)


def _train_ranker(fitted: FittedModel, graph: GraphSnapshot, holdout: InteractionTable, text_vectors,
                  rng: np.random.Generator, progress=None):
    """Train the ranker on held-out interactions against hard negatives from recall.

    The vectors come from a view where a share of items is made cold (ids and edges hidden,
    popularity zero), so the ranker learns to order cold items too, not only popular ones;
    where users active in several scenarios lose their history in a share of them, so it
    also learns how far to trust recall for a user new to a scenario; and where a share of
    users keep only a few interactions, as a new user has.

    A share of the holdout's users (``[rank] stop_fraction``) is kept out of the ranker's
    training: every ``CHECK_EVERY`` steps their Recall@20 over the candidates picks the best
    state, and ``[rank] patience`` checks without gain, counted from the second epoch,
    stop training. The ranker has few examples and many inputs (two vectors), so it
    overfits within a few hundred steps.

    Only trained states are kept. The untrained ranker is the GNN's recall order, and the
    held-back users also chose the GNN's epoch, so that order looks better to them than it
    is: on Douban music -> book (split 1, model seed 201), each of three draws kept it on
    its ~30 users (0.0447, the GNN alone) where trained draws reach 0.06. The zero start
    (see :class:`~kg_recsys.nn.MLPRanker`) still keeps the earliest states near the recall order.

    Args:
        progress: called as ``progress(epoch, check_score)`` after each epoch (a progress bar).

    Returns:
        The ranker and a record of its training, ``epochs`` and ``checks`` run, the
        ``kept_epoch``/``kept_step`` and ``kept_check`` (held-back Recall@20) of the state
        kept, ``untrained_check``, the recall order's score on the first view, and
        ``first_epoch_check``, the best trained state's score in the first epoch.
    """
    config = fitted.config
    ranker = new_ranker(config, len(fitted.scenarios))
    optimizer = torch.optim.Adam(ranker.parameters(), lr=config.rank.lr)
    users = np.unique(holdout.user)
    row_of = np.full(len(graph.users), -1, np.int64)
    row_of[users] = np.arange(len(users))
    num_items = len(graph.items)
    positive_keys = np.unique(row_of[holdout.user] * num_items + holdout.item)
    positive_row, positive_item = positive_keys // num_items, positive_keys % num_items
    held_count = np.bincount(positive_row, minlength=len(users))
    stopping = rng.random(len(users)) < config.rank.stop_fraction
    inter = graph.interactions
    seen = history_matrix(inter, len(graph.users), num_items)  # the whole training graph's, not a view's
    scenario = scenario_index(inter.scenario, fitted.scenarios)  # all known: the layout is built from them
    active = np.zeros((len(graph.users), max(1, len(fitted.scenarios))), bool)
    active[inter.user, scenario] = True
    holdout_scenario = scenario_index(holdout.scenario, fitted.scenarios)
    pool = holdout_candidates(graph, fitted.scenarios, holdout)
    # Only items with text or links can be ranked cold: made cold, an item with neither
    # would only teach the ranker noise (Douban's items have neither).
    described = np.zeros(num_items, bool)
    if config.model.use_text and text_vectors is not None:
        described |= np.abs(text_vectors[ITEM]).sum(axis=1) > 0
    if config.model.use_kg:
        described |= np.diff(item_entity_tfidf(graph).indptr) > 0
    stopper = EarlyStopping(config.rank.patience)
    scaled = False
    record = {"epochs": 0, "checks": 0, "kept_epoch": None, "kept_step": None, "kept_check": None,
              "untrained_check": None, "first_epoch_check": None}
    for epoch in range(config.rank.epochs):
        record["epochs"] = epoch + 1
        cold = (rng.random(num_items) < config.train.cold_item_rate) & described
        new_to = new_to_scenario(holdout, holdout_scenario, active, config.rank.new_to_scenario_rate, rng)
        keep = ~cold[inter.item] & ~new_to[inter.user, scenario]
        few = np.zeros(len(graph.users), bool)
        few[users] = rng.random(len(users)) < config.rank.few_interactions_rate
        keep[beyond_first(inter.user, few, config.rank.few_interactions, rng)] = False
        view = build_index(fitted, graph.with_interactions(inter.select(keep)), text_vectors,
                           drop_item_ids=np.flatnonzero(cold))
        candidates, recall, ranks, item_item = recall_candidates(view, users, pool, config.recall.num_candidates,
                                                                 seen=seen)
        label = (candidates >= 0) & np.isin(np.arange(len(users))[:, None] * num_items + candidates, positive_keys)
        pos_r, pos_c = np.nonzero(label & ~stopping[:, None])
        if len(pos_r) == 0:
            break
        cold_candidate = (candidates >= 0) & cold[np.maximum(candidates, 0)]
        pos_r, pos_c = np.repeat(pos_r, config.rank.negatives), np.repeat(pos_c, config.rank.negatives)
        neg_c = hard_negatives(label, candidates, cold_candidate, pos_r, pos_c, rng)

        # The statistics are fixed within a view: computed once here, not at every step
        # and check (the sparse neighbourhood lookups dominate their cost).
        def stats_of(r: np.ndarray, c: np.ndarray):
            return pair_stats(view, users[r], candidates[r, c], recall[r, c], ranks[r, c],
                              None if item_item is None else item_item[r, c])

        def inputs(r: np.ndarray, c: np.ndarray, stats):
            return ranker_inputs(view, users[r], candidates[r, c], stats)

        pos_stats, neg_stats = stats_of(pos_r, pos_c), stats_of(pos_r, neg_c)
        if not scaled:
            ranker.fit_scaler(neg_stats)
            scaled = True
        check_rows = np.flatnonzero(stopping & label.any(1))
        check_r, check_c = np.nonzero(candidates[check_rows] >= 0)
        check_stats = stats_of(check_rows[check_r], check_c)

        # Ranked among cold items only, as the cold-item protocol ranks: a ranker that
        # orders warm items well may still scramble the cold ones.
        is_cold = cold_candidate[check_rows]
        cold_count = np.bincount(positive_row[cold[positive_item]], minlength=len(users))[check_rows]

        def check() -> float:
            """Held-back users' Recall@20 over this view's candidates, averaged with their
            Recall@20 among its cold candidates."""
            if not len(check_rows):
                return 0.0
            ranker.eval()
            out = np.empty(len(check_r), np.float32)
            with torch.no_grad():  # a chunk at a time: the hidden layers of every pair at once took GiBs on ml-1m
                for start in range(0, len(check_r), CHECK_CHUNK):
                    part = slice(start, start + CHECK_CHUNK)
                    out[part] = ranker(*inputs(check_rows[check_r[part]], check_c[part], check_stats[part])).numpy()
            ranked = np.full(candidates[check_rows].shape, -np.inf, np.float32)
            ranked[check_r, check_c] = out
            scores = [capped_recall(ranked, label[check_rows], held_count[check_rows])]
            if cold_count.any():
                scores.append(capped_recall(np.where(is_cold, ranked, -np.inf), label[check_rows] & is_cold,
                                            cold_count))
            return float(np.mean(scores))

        if stopper.best_state is not None:
            # The view changes each epoch: score the best state again on this one, so
            # that states are compared on the same view.
            current = {k: v.clone() for k, v in ranker.state_dict().items()}
            ranker.load_state_dict(stopper.best_state)
            stopper.best = check()
            ranker.load_state_dict(current)
        steps = max(100, -(-len(pos_r) // RANKER_BATCH))  # at least 100: a small holdout would give a handful
        score = float("nan")
        for step in range(steps + 1):
            if step % CHECK_EVERY == 0:
                score = check()
                record["checks"] += 1
                if epoch == 0 and step == 0:
                    record["untrained_check"] = score  # scored, never kept (see the docstring)
                # The first epoch is a warm-up: the ranker starts as the recall order
                # (see MLPRanker) and may take more than ``patience`` checks to move
                # away from it. Counted from the start, one warm ml-100k split stopped
                # there for good: 0.3205 instead of 0.39.
                elif stopper.update(score, ranker, count=bool(step and epoch)):
                    record.update(kept_epoch=epoch, kept_step=step)
                    if epoch == 0:
                        record["first_epoch_check"] = score
                if stopper.should_stop or step == steps:
                    break
            ranker.train()
            b = rng.integers(len(pos_r), size=min(RANKER_BATCH, len(pos_r)))
            # Each member's own BPR loss (summed): trained on their average instead, the
            # members would act as one wider MLP and not average out their initial weights.
            loss = -F.logsigmoid(ranker.member_scores(*inputs(pos_r[b], pos_c[b], pos_stats[b]))
                                 - ranker.member_scores(*inputs(pos_r[b], neg_c[b], neg_stats[b]))).mean(1).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if progress is not None:
            progress(epoch, score)
        if stopper.should_stop:
            break
    if stopper.best_state is not None:
        stopper.restore(ranker)
        record["kept_check"] = stopper.best
    return ranker, record
