"""``fit_model``: the GNN, early-stopped on held-out interactions, then the ranker."""
from __future__ import annotations

import math
import time

import numpy as np
import torch

from kg_recsys.config import RecommenderConfig
from kg_recsys.content import history_matrix
from kg_recsys.evaluation.metrics import recall_at_k
from kg_recsys.graph import make_layout
from kg_recsys.model import LABEL_OF, NODE_TYPES, FittedModel, interacted, new_gnn, node_features
from kg_recsys.nn import average_of
from kg_recsys.serving.ranking import mask_seen, top_k, users_per_block
from kg_recsys.store.base import GraphSnapshot, InteractionTable
from kg_recsys.training import distributed
from kg_recsys.training.early_stopping import EarlyStopping
from kg_recsys.training.gnn_trainer import GNNTrainer, holdout_mask
from kg_recsys.training.ranker_trainer import holdout_candidates, train_ranker


def fit_model(snapshot: GraphSnapshot, config: RecommenderConfig, text_vectors: dict[str, np.ndarray] | None,
              *, seed: int | None = None, progress: bool | None = None,
              holdout: InteractionTable | None = None) -> FittedModel:
    """Train the GNN (and the ranker) on the interactions of ``snapshot``.

    ``holdout`` (interactions on the same node tables, e.g. an evaluation split's valid
    set) drives early stopping and trains the ranker. Without it, a random 10% of each
    user's interactions is held out for that and not used to train the GNN.

    In a ``torch.distributed`` process group (``kgrec train --nproc N``, torchrun) every
    rank calls this on the same snapshot (checked) and trains the GNN data-parallel
    (:mod:`kg_recsys.training.distributed`); rank 0 validates, every rank stops on its
    scores and keeps the same best state, and only rank 0 trains the ranker (the other
    ranks' result has none).
    """
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(config.train.deterministic)
    try:
        return _fit(snapshot, config, text_vectors, config.train.seed if seed is None else seed,
                    config.train.progress if progress is None else progress, holdout)
    finally:
        torch.use_deterministic_algorithms(previous)


class HoldoutRecall:
    """The holdout's capped Recall@k over its scenarios' items, the graph's items excluded,
    for vectors of the graph's nodes. What does not change between epochs (candidates,
    seen items, the truth) is computed once, and users are scored a block of
    ``max_scores`` scores at a time: the whole ``[users, items]`` matrix and its top-k took
    18 GiB on the demo at 0.5M interactions (20,833 users x 27,777 items).
    """

    def __init__(self, graph: GraphSnapshot, scenarios: tuple[str, ...], holdout: InteractionTable, k: int = 20,
                 max_scores: int = 1 << 22):
        self.k = k
        self.users = np.unique(holdout.user)
        self.pool = holdout_candidates(graph, scenarios, holdout)
        num_users, num_items = len(graph.users), len(graph.items)
        self.seen = history_matrix(graph.interactions, num_users, num_items)
        truth = history_matrix(holdout, num_users, num_items)[self.users]
        self.truth_count = np.diff(truth.indptr)
        self.truth_keys = np.repeat(np.arange(len(self.users)), self.truth_count) * num_items + truth.indices
        self.num_items = num_items
        self.block = users_per_block(len(self.pool), max_scores)

    def __call__(self, z: dict[str, torch.Tensor]) -> float:
        pool_vectors = z["item"][torch.from_numpy(self.pool)].T
        recall = np.zeros(len(self.users))
        for start in range(0, len(self.users), self.block):
            rows = np.arange(start, min(start + self.block, len(self.users)))
            users = self.users[rows]
            with torch.no_grad():
                scores = (z["user"][torch.from_numpy(users)] @ pool_vectors).numpy()
            mask_seen(scores, self.seen, users, self.pool)
            columns, _ = top_k(scores, self.k)
            best = np.where(columns >= 0, self.pool[np.maximum(columns, 0)], -1)
            hits = (best >= 0) & np.isin(rows[:, None] * self.num_items + best, self.truth_keys)
            # Capped at k, unlike the tables' hits / relevant, so every user's recall spans 0..1 (a
            # Douban user holds ~55 target items); the tables' form here lowered Douban both ways.
            recall[rows] = recall_at_k(hits, self.truth_count[rows], self.k, capped=True)
        return float(np.mean(recall))


def _fit(snapshot: GraphSnapshot, config: RecommenderConfig, text_vectors: dict[str, np.ndarray] | None,
         seed: int, progress: bool, holdout: InteractionTable | None) -> FittedModel:
    world = distributed.current_world()
    distributed.check_same_graph(snapshot)
    progress = progress and world.is_main
    # The same holdout and initial weights on every rank; per-rank draws after that.
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed if world.size == 1 else distributed.rank_seed(seed, world.rank))
    if holdout is None:
        mask = holdout_mask(snapshot.interactions, 0.1, rng)
        graph = snapshot.with_interactions(snapshot.interactions.select(~mask))
        holdout = snapshot.interactions.select(mask)
    else:
        graph = snapshot
    layout = make_layout(snapshot, use_kg=config.model.use_kg, min_relation_edges=config.model.min_relation_edges)
    features = node_features(graph, text_vectors, config.model.use_text)
    # Embedding rows follow the training graph's node order; only warm nodes are trained,
    # the rest are marked "" (never a valid id, see schema.check_id). A type without any
    # (entities with ``[model] entity_ids = false``) gets no table rows.
    warm = interacted(graph, entity_ids=config.model.entity_ids)
    gnn = new_gnn(config, layout, {t: len(warm[t]) if warm[t].any() else 0 for t in NODE_TYPES},
                  features["user"].size(1))
    trained_ids = {t: np.where(warm[t], graph.nodes(LABEL_OF[t]).ids, "") for t in NODE_TYPES}
    fitted = FittedModel(config, layout, gnn, None, trained_ids)
    if world.size > 1:
        distributed.broadcast_parameters(gnn)
        torch.manual_seed(distributed.rank_seed(seed, world.rank))  # the model's dropout
    trainer = GNNTrainer(gnn, graph, layout, features, config.train, generator, world=world, seed=seed)
    valid_recall = HoldoutRecall(graph, layout.scenarios, holdout) if len(holdout) and world.is_main else None
    stopper = EarlyStopping(config.train.patience)
    bar = _bar(progress, config.train.epochs, "training GNN", "epoch")
    started = time.perf_counter()
    for epoch in range(config.train.epochs):
        metrics = trainer.train_epoch()
        metrics["epoch"] = epoch
        metrics["valid_recall@20"] = valid_recall(trainer.embed()) if valid_recall is not None else math.nan
        if world.size > 1:  # rank 0's score: every rank then takes the same decision below
            metrics["valid_recall@20"] = distributed.broadcast_float(metrics["valid_recall@20"])
        metrics["seconds"] = round(time.perf_counter() - started, 3)  # since training began
        fitted.history.append(metrics)
        if bar is not None:
            bar.update()
            bar.set_postfix(loss=f"{metrics['loss']:.4f}", valid=f"{metrics['valid_recall@20']:.4f}")
        if not len(holdout):
            continue  # nothing to stop on: train every epoch, keep the last
        stopper.update(metrics["valid_recall@20"], gnn)
        if stopper.should_stop:
            break
    if bar is not None:
        bar.close()
    stopper.restore(gnn)
    if world.size > 1 and world.is_main:
        distributed.work_alone()
    if config.rank.enabled and config.rank.epochs > 0 and len(holdout) and world.is_main:
        bar = _bar(progress, config.rank.draws * config.rank.epochs, "training ranker", "epoch")
        rankers = []
        for draw in range(config.rank.draws):
            def report(epoch: int, check: float) -> None:
                if bar is not None:
                    bar.update()
                    bar.set_postfix(draw=draw, check=f"{check:.4f}")

            # Each ranker continues the random streams, so each has its own draws.
            ranker, record = train_ranker(fitted, graph, holdout, text_vectors, rng, progress=report)
            rankers.append(ranker)
            fitted.ranker_history.append({"draw": draw, **record})
            if bar is not None:  # epochs a draw did not need: the bar still ends full
                bar.update((draw + 1) * config.rank.epochs - bar.n)
        if bar is not None:
            bar.close()
        fitted.ranker = average_of(rankers)
    return fitted


def _bar(progress: bool, total: int, desc: str, unit: str):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=False)
