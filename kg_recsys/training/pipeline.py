"""Fitting: the GNN trainer (BPR with simulated cold start), the ranker trainer, and
``embed``/``score`` for graphs the model has never seen (inductive inference).

Trainers stand apart from models: :class:`GNNTrainer` and :func:`train_ranker` own the
loops; :class:`FittedModel` is the trained bundle that inference needs.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import Tensor

from kg_recsys.config import RecommenderConfig, TrainConfig
from kg_recsys.content import history_matrix, item_entity_tfidf, user_entity_profiles, user_neighbours
from kg_recsys.graph import GraphLayout, build_hetero_data, interaction_relation, make_layout
from kg_recsys.nn import KGRecGNN, MLPRanker, RankerEnsemble, average_of
from kg_recsys.recall import mask_seen
from kg_recsys.schema import ENTITY, ITEM, USER
from kg_recsys.store.base import GraphSnapshot, InteractionTable

NODE_TYPES = ("user", "item", "entity")
LABEL_OF = {"user": USER, "item": ITEM, "entity": ENTITY}
TEXT_DIM_WITHOUT_TEXT = 1  # placeholder feature width when text is switched off


@dataclass
class FittedModel:
    """Everything inference needs; built by :func:`fit_model`, saved by the Recommender."""

    config: RecommenderConfig
    layout: GraphLayout
    gnn: KGRecGNN
    ranker: MLPRanker | RankerEnsemble | None
    #: Per node type, the ids that got a trained id embedding, in embedding-row order.
    #: Inference maps nodes by id, so stores may order nodes differently or grow.
    trained_ids: dict[str, np.ndarray]
    history: list[dict[str, float]] = field(default_factory=list)
    #: One record per ranker draw (see :func:`train_ranker`): where it stopped, which state
    #: it kept, and that state's check recall against the untrained one's.
    ranker_history: list[dict[str, float | None]] = field(default_factory=list)

    @property
    def scenarios(self) -> tuple[str, ...]:
        return self.layout.scenarios


# ---------------------------------------------------------------------- graph tensors
def _features(snapshot: GraphSnapshot, text_vectors: dict[str, np.ndarray] | None, use_text: bool) -> dict[str, Tensor]:
    if use_text and text_vectors is not None:
        return {t: torch.from_numpy(np.ascontiguousarray(text_vectors[LABEL_OF[t]], np.float32)) for t in NODE_TYPES}
    return {t: torch.zeros(len(snapshot.nodes(LABEL_OF[t])), TEXT_DIM_WITHOUT_TEXT) for t in NODE_TYPES}


def _interacted(snapshot: GraphSnapshot) -> dict[str, np.ndarray]:
    users = np.zeros(len(snapshot.users), bool)
    items = np.zeros(len(snapshot.items), bool)
    users[snapshot.interactions.user] = True
    items[snapshot.interactions.item] = True
    return {"user": users, "item": items, "entity": np.ones(len(snapshot.entities), bool)}


def scenario_index(names: np.ndarray, scenarios: tuple[str, ...]) -> np.ndarray:
    """The index of each scenario name in ``scenarios``; ``-1`` for a name not in it."""
    code = {s: i for i, s in enumerate(scenarios)}
    return np.array([code.get(s, -1) for s in names.tolist()], np.int64)


def item_scenarios(snapshot: GraphSnapshot, scenarios: tuple[str, ...]) -> np.ndarray:
    """Each item's scenario index (its node property, else where most of its interactions
    are); ``-1`` if neither is known."""
    result = scenario_index(snapshot.items.scenario, scenarios)
    inter = snapshot.interactions
    if len(inter) and len(scenarios):
        scen = scenario_index(inter.scenario, scenarios)
        known = scen >= 0
        counts = np.zeros((len(snapshot.items), len(scenarios)), np.int64)
        np.add.at(counts, (inter.item[known], scen[known]), 1)
        busiest = counts.argmax(1)
        fill = (result < 0) & (counts.sum(1) > 0)
        result[fill] = busiest[fill]
    return result


def _holdout_mask(inter: InteractionTable, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A random ``fraction`` of each user's interactions (users with at least 3)."""
    mask = np.zeros(len(inter), bool)
    order = np.argsort(inter.user, kind="stable")
    bounds = np.flatnonzero(np.diff(inter.user[order])) + 1
    for rows in np.split(order, bounds):
        if len(rows) >= 3:
            take = max(1, int(round(fraction * len(rows))))
            mask[rng.choice(rows, size=take, replace=False)] = True
    return mask


# ---------------------------------------------------------------------- GNN trainer
class GNNTrainer:
    """BPR training of :class:`KGRecGNN` with simulated cold start.

    Each step hides the interaction edges and id embeddings of a random ``cold_item_rate``
    of items, and the edges of a random share of (user, scenario) pairs, while still
    supervising their interactions. The model must then score those pairs from text, KG
    links and the user's other scenarios: the situations of the cold-item, cold-user and
    cross-scenario protocols.
    """

    def __init__(self, model: KGRecGNN, graph: GraphSnapshot, layout: GraphLayout, features: dict[str, Tensor],
                 config: TrainConfig, generator: torch.Generator) -> None:
        self.model, self.layout, self.config, self.features = model, layout, config, features
        self.generator = generator
        data = build_hetero_data(graph, layout)
        self.edge_index = {et: data[et].edge_index for et in layout.edge_types}
        self.warm = {t: torch.from_numpy(m) for t, m in _interacted(graph).items()}
        inter = graph.interactions
        self.pairs = torch.from_numpy(np.stack([inter.user, inter.item]).astype(np.int64))
        self.pair_scenario = torch.from_numpy(scenario_index(inter.scenario, layout.scenarios))
        self.scenario_items = [torch.from_numpy(np.unique(inter.item[inter.scenario == s])) for s in layout.scenarios]
        self.num_users, self.num_items = len(graph.users), len(graph.items)
        # (edge type, scenario index, user side is src) for the interaction edge types.
        self.interaction_types = []
        for s, scenario in enumerate(layout.scenarios):
            relation = interaction_relation(scenario)
            self.interaction_types.append((("user", relation, "item"), s, True))
            self.interaction_types.append((("item", f"rev_{relation}", "user"), s, False))
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    def _cold_view(self) -> tuple[dict, dict[str, Tensor]]:
        """Edges and id-embedding rows for one step, with simulated cold items and cold
        (user, scenario) pairs (``-1`` = no id embedding)."""
        rate = self.config.cold_item_rate
        cold_items = torch.rand(self.num_items, generator=self.generator) < rate
        cold_user_scenario = torch.rand(self.num_users, max(1, len(self.layout.scenarios)), generator=self.generator) < rate
        edges = dict(self.edge_index)
        for edge_type, s, user_is_src in self.interaction_types:
            ei = edges[edge_type]
            users, items = (ei[0], ei[1]) if user_is_src else (ei[1], ei[0])
            edges[edge_type] = ei[:, ~(cold_items[items] | cold_user_scenario[users, s])]
        index = {}
        for t in NODE_TYPES:
            drop_rate = self.config.user_id_dropout if t == "user" else self.config.id_dropout
            keep = self.warm[t] & (torch.rand(self.warm[t].numel(), generator=self.generator) >= drop_rate)
            if t == "item":
                keep &= ~cold_items
            index[t] = torch.where(keep, torch.arange(keep.numel()), -1)
        return edges, index

    def _negatives(self, scenario: Tensor, count: int) -> Tensor:
        """``[B, count]`` uniform negatives from each positive's own scenario: the model
        must rank within one."""
        negatives = torch.empty(scenario.numel(), count, dtype=torch.long)
        for s, pool in enumerate(self.scenario_items):
            rows = (scenario == s).nonzero(as_tuple=True)[0]
            if rows.numel():
                negatives[rows] = pool[torch.randint(len(pool), (rows.numel(), count), generator=self.generator)]
        return negatives

    def _loss(self, zu: Tensor, zi: Tensor, zj: Tensor) -> Tensor:
        """``zu, zi: [B, d]``, ``zj: [B, K, d]``."""
        positive = (zu * zi).sum(-1, keepdim=True)
        negative = torch.einsum("bd,bkd->bk", zu, zj)
        if self.config.loss == "bpr":
            loss = -F.logsigmoid(positive - negative).mean()
        else:
            # Sampled softmax: the positive against K negatives at once. Per step it gives
            # far more signal than BPR's one pair, and steps are what cost here (each is a
            # full-graph forward pass).
            logits = torch.cat([positive, negative], dim=1) / self.config.temperature
            loss = F.cross_entropy(logits, torch.zeros(len(zu), dtype=torch.long))
        return loss + 1e-4 * (zu.pow(2).sum(-1) + zi.pow(2).sum(-1)).mean()

    def train_epoch(self) -> dict[str, float]:
        self.model.train()
        order = torch.randperm(self.pairs.size(1), generator=self.generator)
        total, steps = 0.0, 0
        for start in range(0, order.numel(), self.config.batch_size):
            batch = order[start:start + self.config.batch_size]
            users, items = self.pairs[:, batch]
            negatives = self._negatives(self.pair_scenario[batch], self.config.negatives)
            edges, id_index = self._cold_view()
            z = self.model(self.features, id_index, edges)
            loss = self._loss(z["user"][users], z["item"][items], z["item"][negatives])
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            total, steps = total + loss.item(), steps + 1
        return {"loss": total / max(steps, 1)}


# ---------------------------------------------------------------------- inference
def embed(fitted: FittedModel, snapshot: GraphSnapshot, text_vectors: dict[str, np.ndarray] | None,
          *, drop_item_ids: np.ndarray | None = None) -> dict[str, Tensor]:
    """User, item and entity vectors for any graph on the trained layout (new nodes too)."""
    features = _features(snapshot, text_vectors, fitted.config.model.use_text)
    data = build_hetero_data(snapshot, fitted.layout)
    index = {}
    for t in NODE_TYPES:
        row = {node_id: r for r, node_id in enumerate(fitted.trained_ids[t].tolist()) if node_id}
        ids = snapshot.nodes(LABEL_OF[t]).ids.tolist()
        index[t] = torch.tensor([row.get(node_id, -1) for node_id in ids], dtype=torch.long)
    if drop_item_ids is not None:
        index["item"][torch.from_numpy(drop_item_ids)] = -1
    fitted.gnn.eval()
    with torch.no_grad():
        return fitted.gnn(features, index, {et: data[et].edge_index for et in fitted.layout.edge_types})


@dataclass
class ScoringView:
    """What scoring needs about one graph, computed once per graph rather than per batch
    of users: the vectors and the per-node statistics behind the ranker's features."""

    snapshot: GraphSnapshot
    z: dict[str, Tensor]
    #: Scenario index + 1 per item (0 = unknown): the ranker's scenario embedding input.
    item_scenario: np.ndarray
    item_popularity: np.ndarray
    user_activity: np.ndarray
    #: L2-normalised text profile per user (own text + mean text of the history), and the
    #: item text vectors; ``None`` without text features.
    user_text: np.ndarray | None
    item_text: np.ndarray | None
    #: TF-IDF bags of the entities each item links to, and each user's profile over them
    #: (see :mod:`kg_recsys.content`); ``None`` without KG features.
    user_entities: sp.csr_matrix | None
    item_entities: sp.csr_matrix | None
    #: ``log1p`` of each user's interactions per scenario index + 1 (column 0: unknown),
    #: so the ranker knows when a user is new to the scenario of the item.
    user_scenario_activity: np.ndarray
    #: Each user's most similar users by shared history, weights summing to 1
    #: (:func:`~kg_recsys.content.user_neighbours`), and each item's users (``[I, U]``, 0/1);
    #: ``None`` when ``[rank] neighbours = 0``.
    user_neighbours: sp.csr_matrix | None = None
    item_users: sp.csr_matrix | None = None
    #: Each user's history ([U, I], rows summing to 1) and each item's most similar items
    #: by shared users, transposed ([I, I]: row j holds the weights of the items near j).
    user_history: sp.csr_matrix | None = None
    items_near: sp.csr_matrix | None = None


def scoring_view(fitted: FittedModel, snapshot: GraphSnapshot, text_vectors: dict[str, np.ndarray] | None,
                 *, drop_item_ids: np.ndarray | None = None) -> ScoringView:
    z = embed(fitted, snapshot, text_vectors, drop_item_ids=drop_item_ids)
    inter = snapshot.interactions
    user_text = item_text = None
    if fitted.config.model.use_text and text_vectors is not None:
        item_text = text_vectors[ITEM]
        profile = text_vectors[USER].astype(np.float32).copy()
        np.add.at(profile, inter.user, item_text[inter.item] / np.maximum(
            np.bincount(inter.user, minlength=len(snapshot.users))[inter.user], 1)[:, None])
        user_text = profile / np.maximum(np.linalg.norm(profile, axis=1, keepdims=True), 1e-9)
    history = history_matrix(inter, len(snapshot.users), len(snapshot.items))
    user_entities = item_entities = None
    if fitted.config.model.use_kg:
        item_entities = item_entity_tfidf(snapshot)
        user_entities = user_entity_profiles(history, item_entities)
    neighbours = item_users = items_near = user_history = None
    if fitted.config.rank.neighbours:
        neighbours = user_neighbours(history, fitted.config.rank.neighbours)
        item_users = sp.csr_matrix(history.T)
        items_near = sp.csr_matrix(user_neighbours(item_users, fitted.config.rank.neighbours).T)
        counts = np.asarray(history.sum(axis=1)).ravel()
        user_history = sp.csr_matrix(sp.diags(1.0 / np.maximum(counts, 1.0)) @ history)
    item_scenario = item_scenarios(snapshot, fitted.scenarios) + 1
    per_scenario = np.zeros((len(snapshot.users), len(fitted.scenarios) + 1), np.float32)
    np.add.at(per_scenario, (inter.user, item_scenario[inter.item]), 1.0)
    return ScoringView(
        snapshot, z, item_scenario,
        np.log1p(np.bincount(inter.item, minlength=len(snapshot.items))).astype(np.float32) / 5.0,
        np.log1p(np.bincount(inter.user, minlength=len(snapshot.users))).astype(np.float32) / 5.0,
        user_text, item_text, user_entities, item_entities, np.log1p(per_scenario) / 5.0, neighbours, item_users,
        user_history, items_near)


NUM_RANK_STATS = 8
#: Ranker training steps between two checks on the held-back users.
CHECK_EVERY = 25


def _pair_stats(view: ScoringView, users: np.ndarray, items: np.ndarray, recall: np.ndarray) -> Tensor:
    """Scalar ranker features: recall score, item popularity, user activity, the text and
    KG-profile similarities of the user and the item (so the ranker can lean on content
    where the graph knows little, e.g. a cold item), the user's activity in the item's
    scenario (none: the user is new to it, and popularity there matters more), and the
    share of the user's nearest neighbours who have the item (the user -> item -> user ->
    item paths; for a user new to a scenario, neighbours found in another scenario), and
    the item's mean weight among the nearest items of the user's history (item -> user ->
    item paths)."""
    text = np.zeros(len(users), np.float32) if view.user_text is None else \
        np.einsum("ij,ij->i", view.user_text[users], view.item_text[items])
    kg = np.zeros(len(users), np.float32) if view.user_entities is None else \
        np.asarray(view.user_entities[users].multiply(view.item_entities[items]).sum(axis=1)).ravel()
    neighbours = np.zeros(len(users), np.float32) if view.user_neighbours is None else \
        np.asarray(view.user_neighbours[users].multiply(view.item_users[items]).sum(axis=1)).ravel()
    near = np.zeros(len(users), np.float32) if view.items_near is None else \
        np.asarray(view.user_history[users].multiply(view.items_near[items]).sum(axis=1)).ravel()
    stats = np.stack([recall, view.item_popularity[items], view.user_activity[users], text, kg,
                      view.user_scenario_activity[users, view.item_scenario[items]], neighbours, near], axis=1)
    return torch.from_numpy(np.nan_to_num(stats.astype(np.float32), neginf=-10.0))


def _ranker_inputs(view: ScoringView, users: np.ndarray, items: np.ndarray, stats: Tensor):
    """The ranker's arguments for pairs whose :func:`_pair_stats` are ``stats``."""
    return (view.z["user"][torch.from_numpy(users)], view.z["item"][torch.from_numpy(items)],
            torch.from_numpy(view.item_scenario[items]), stats)


def rank_candidates(fitted: FittedModel, view: ScoringView, users: np.ndarray, candidates: np.ndarray,
                    recall_scores: np.ndarray) -> np.ndarray:
    """Ranker scores for each user's recall candidates ``[U, N]`` (``-inf`` where padded)."""
    rows, cols = np.nonzero(candidates >= 0)
    fitted.ranker.eval()
    with torch.no_grad():
        pair_users, pair_items = users[rows], candidates[rows, cols]
        stats = _pair_stats(view, pair_users, pair_items, recall_scores[rows, cols])
        out = fitted.ranker(*_ranker_inputs(view, pair_users, pair_items, stats))
    result = np.full(candidates.shape, -np.inf, np.float32)
    result[rows, cols] = out.numpy()
    return result


def rank_recall(fitted: FittedModel, view: ScoringView, users: np.ndarray, items: np.ndarray,
                recall: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ranker over each user's candidates (see :func:`candidate_columns`) of the recall
    scores ``recall [U, I]`` of ``items``: ``(scores, is_candidate)``, both ``[U, I]``,
    with the ranker's score on candidates and the recall score elsewhere. Candidates come
    before every other item; among themselves the ranker decides."""
    columns = candidate_columns(recall, view.item_popularity[items], fitted.config.recall.num_candidates)
    safe = np.maximum(columns, 0)
    ranked = rank_candidates(fitted, view, users, np.where(columns >= 0, items[safe], -1),
                             np.take_along_axis(recall, safe, axis=1))
    scores, is_candidate = recall.copy(), np.zeros(recall.shape, bool)
    rows, cols = np.nonzero(columns >= 0)
    scores[rows, columns[rows, cols]] = ranked[rows, cols]
    is_candidate[rows, columns[rows, cols]] = True
    return scores, is_candidate


def score_items(fitted: FittedModel, view: ScoringView, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Scores ``[U, I]`` for the given items: the ranker's order over each user's
    candidates (see :func:`rank_recall`), then the rest by recall score; ``-inf`` for the
    items the user already has in the view's graph.

    Seen items are left out before candidates are chosen, as the Recommender and the
    ranker's trainer do: kept, they take candidate slots (the GNN scores a user's own
    training items high) that unseen items should have, and evaluation would rank other
    candidates than the Recommender serves."""
    recall = _unseen_scores(view.z, view.snapshot, users, items)
    if fitted.ranker is None:
        return recall
    scores, is_candidate = rank_recall(fitted, view, users, items, recall)
    # Candidates sit above every non-candidate; among themselves the ranker decides.
    final = recall - (np.abs(recall[np.isfinite(recall)]).max(initial=0.0) + 1.0) * 2 - 1e3
    if is_candidate.any():
        final[is_candidate] = scores[is_candidate] - scores[is_candidate].min()
    return final


def _holdout_candidates(graph: GraphSnapshot, scenarios: tuple[str, ...], holdout: InteractionTable) -> np.ndarray:
    """The items of the scenarios ``holdout`` covers: a holdout of music interactions is
    ranked among music, as the evaluation ranks the target scenario only."""
    wanted = scenario_index(np.unique(holdout.scenario), scenarios)
    candidates = np.flatnonzero(np.isin(item_scenarios(graph, scenarios), wanted[wanted >= 0]))
    return candidates if len(candidates) else np.arange(len(graph.items))


def _unseen_scores(z: dict[str, Tensor], graph: GraphSnapshot, users: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Recall scores ``[U, len(candidates)]``, ``-inf`` where the user has the item in ``graph``."""
    with torch.no_grad():
        scores = (z["user"][torch.from_numpy(users)] @ z["item"][torch.from_numpy(candidates)].T).numpy()
    return mask_seen(scores, users, candidates, len(graph.items), graph.interactions.user, graph.interactions.item)


def candidate_columns(recall: np.ndarray, popularity: np.ndarray, n: int) -> np.ndarray:
    """The columns the ranker orders, per row: the ``n`` best recall scores and the ``n``
    most popular columns (popularity above zero) with a finite score, without repeats
    (``-1`` pads).

    Popular items join the candidates so that the ranker can fall back on popularity where
    recall knows little, e.g. for a user new to a scenario, whose vector comes from another
    scenario's history. (The nearest users' items were tried as a third source: +0.3 points
    on warm ml-100k, -10% on Douban book -> music, where they are mostly noise.)

    Shapes:
        recall: ``[U, I]``, popularity: ``[I]`` -> ``[U, 2n]``.
    """
    n = min(n, recall.shape[1])
    by_recall = np.argpartition(-recall, n - 1, axis=1)[:, :n]
    by_recall = np.where(np.isfinite(np.take_along_axis(recall, by_recall, axis=1)), by_recall, -1)
    # Items nobody has interacted with (all of them, for cold items) are not "popular".
    popular = np.where(np.isfinite(recall) & (popularity[None, :] > 0), popularity[None, :], -np.inf)
    by_popularity = np.argpartition(-popular, n - 1, axis=1)[:, :n]
    by_popularity = np.where(np.isfinite(np.take_along_axis(popular, by_popularity, axis=1)), by_popularity, -1)
    columns = np.sort(np.concatenate([by_recall, by_popularity], axis=1), axis=1)
    repeat = np.zeros(columns.shape, bool)
    repeat[:, 1:] = columns[:, 1:] == columns[:, :-1]
    return np.where(repeat, -1, columns)


def _recall_at(fitted: FittedModel, graph: GraphSnapshot, text_vectors, holdout: InteractionTable, k: int = 20) -> float:
    users = np.unique(holdout.user)
    pool = _holdout_candidates(graph, fitted.scenarios, holdout)
    scores = torch.from_numpy(_unseen_scores(embed(fitted, graph, text_vectors), graph, users, pool))
    best = pool[torch.topk(scores, min(k, len(pool)), dim=1).indices.numpy()]
    row = {int(u): r for r, u in enumerate(users.tolist())}
    hits = np.zeros(len(users))
    truth = np.zeros(len(users))
    for u, i in zip(holdout.user.tolist(), holdout.item.tolist()):
        r = row[u]
        truth[r] += 1
        hits[r] += i in best[r]
    # Capped at k, unlike the tables' hits / relevant, so every user's recall spans 0..1 (a
    # Douban user holds ~55 target items); the tables' form here lowered Douban both ways
    # (README, "The trainers' recall differs from the tables'"). _recall_of does the same.
    return float(np.mean(hits / np.minimum(truth, k)))


# ---------------------------------------------------------------------- ranker trainer
def _recall_of(scores: np.ndarray, label: np.ndarray, count: np.ndarray, k: int = 20) -> float:
    """Mean Recall@k over the rows with ``count > 0``: ``scores, label [U, C]``, ``count [U]``
    (a row's positives, also those outside its columns)."""
    rows = count > 0
    top = np.argsort(-scores[rows], axis=1)[:, :k]
    hits = np.take_along_axis(label[rows], top, axis=1).sum(1)
    return float(np.mean(hits / np.minimum(count[rows], k))) if rows.any() else 0.0


def _new_to_scenario(holdout: InteractionTable, holdout_scenario: np.ndarray, active: np.ndarray,
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


def _hard_negatives(label: np.ndarray, candidates: np.ndarray, cold_candidate: np.ndarray, pos_r: np.ndarray,
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


def new_ranker(config: RecommenderConfig, num_scenarios: int) -> MLPRanker:
    """An untrained ranker of the configured shape: what training starts from and what a
    checkpoint's weights are loaded into."""
    return MLPRanker(config.model.hidden_dim, num_scenarios + 1, num_stats=NUM_RANK_STATS,
                     hidden_dim=config.rank.hidden_dim, members=config.rank.members)


def train_ranker(fitted: FittedModel, graph: GraphSnapshot, holdout: InteractionTable, text_vectors,
                 generator: torch.Generator, rng: np.random.Generator) -> tuple[MLPRanker, dict[str, float | None]]:
    """Train the ranker on held-out interactions against hard negatives from recall.

    The vectors come from a view where a share of items is made cold (ids and edges hidden,
    popularity zero), so the ranker learns to order cold items too, not only popular ones;
    and where users active in several scenarios lose their history in a share of them, so
    it also learns how far to trust recall for a user new to a scenario.

    A share of the holdout's users (``[rank] stop_fraction``) is kept out of the ranker's
    training: every ``CHECK_EVERY`` steps their Recall@20 over the candidates picks the best
    state, and ``[rank] patience`` checks without gain, counted from the second epoch,
    stop training. The ranker has few examples and many inputs (two vectors), so it
    overfits within a few hundred steps.

    Only trained states are kept. The untrained ranker is the GNN's recall order, and the
    held-back users also chose the GNN's epoch, so that order looks better to them than it
    is: on Douban music -> book (split 1, model seed 201), each of three draws kept it on
    its ~30 users (0.0447, the GNN alone) where trained draws reach 0.06. The zero start
    (see :class:`MLPRanker`) still keeps the earliest states near the recall order.

    Returns the ranker and a record of its training: ``epochs`` and ``checks`` run, the
    ``kept_epoch``/``kept_step`` and ``kept_check`` (held-back Recall@20) of the state kept,
    ``untrained_check``, the recall order's score on the first view, and
    ``first_epoch_check``, the best trained state's score in the first epoch. (Where that
    beats the untrained one, the untrained state would not have been kept either: the rule
    changes nothing for that draw.)
    """
    config = fitted.config
    ranker = new_ranker(config, len(fitted.scenarios))
    optimizer = torch.optim.Adam(ranker.parameters(), lr=config.rank.lr)
    fitted.ranker = ranker
    users = np.unique(holdout.user)
    row = {int(u): r for r, u in enumerate(users.tolist())}
    positives = {(row[u], i) for u, i in zip(holdout.user.tolist(), holdout.item.tolist())}
    positive_row, positive_item = np.array(sorted(positives), np.int64).reshape(-1, 2).T
    held_count = np.bincount(positive_row, minlength=len(users))
    stopping = rng.random(len(users)) < config.rank.stop_fraction
    inter = graph.interactions
    scenario = scenario_index(inter.scenario, fitted.scenarios)  # all known: the layout is built from them
    active = np.zeros((len(graph.users), max(1, len(fitted.scenarios))), bool)
    active[inter.user, scenario] = True
    holdout_scenario = scenario_index(holdout.scenario, fitted.scenarios)
    pool = _holdout_candidates(graph, fitted.scenarios, holdout)
    # Only items with text or links can be ranked cold: made cold, an item with neither
    # would only teach the ranker noise (Douban's items have neither).
    described = np.zeros(len(graph.items), bool)
    if config.model.use_text and text_vectors is not None:
        described |= np.abs(text_vectors[ITEM]).sum(axis=1) > 0
    if config.model.use_kg:
        described |= np.diff(item_entity_tfidf(graph).indptr) > 0
    best, best_state, waited, scaled = -1.0, None, 0, False
    record = {"epochs": 0, "checks": 0, "kept_epoch": None, "kept_step": None, "kept_check": None,
              "untrained_check": None, "first_epoch_check": None}
    for epoch in range(config.rank.epochs):
        record["epochs"] = epoch + 1
        cold = (rng.random(len(graph.items)) < config.train.cold_item_rate) & described
        new_to = _new_to_scenario(holdout, holdout_scenario, active, config.rank.new_to_scenario_rate, rng)
        keep = ~cold[inter.item] & ~new_to[inter.user, scenario]
        view = scoring_view(fitted, graph.with_interactions(inter.select(keep)), text_vectors,
                            drop_item_ids=np.flatnonzero(cold))
        # Seen items: those of the whole training graph, not only of the view.
        scores = _unseen_scores(view.z, graph, users, pool)
        columns = candidate_columns(scores, view.item_popularity[pool], config.recall.num_candidates)
        candidates = np.where(columns >= 0, pool[np.maximum(columns, 0)], -1)
        recall = np.take_along_axis(scores, np.maximum(columns, 0), axis=1)
        label = np.array([[(r, i) in positives for i in candidates[r]] for r in range(len(users))])
        pos_r, pos_c = np.nonzero(label & (candidates >= 0) & ~stopping[:, None])
        if len(pos_r) == 0:
            break
        cold_candidate = (candidates >= 0) & cold[np.maximum(candidates, 0)]
        pos_r, pos_c = np.repeat(pos_r, config.rank.negatives), np.repeat(pos_c, config.rank.negatives)
        neg_c = _hard_negatives(label, candidates, cold_candidate, pos_r, pos_c, rng)

        # The statistics are fixed within a view: computed once here, not at every step
        # and check (the sparse neighbourhood lookups dominate their cost).
        def stats_of(r: np.ndarray, c: np.ndarray) -> Tensor:
            return _pair_stats(view, users[r], candidates[r, c], recall[r, c])

        def inputs(r: np.ndarray, c: np.ndarray, stats: Tensor):
            return _ranker_inputs(view, users[r], candidates[r, c], stats)

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
            with torch.no_grad():
                out = ranker(*inputs(check_rows[check_r], check_c, check_stats)).numpy()
            ranked = np.full(candidates[check_rows].shape, -np.inf, np.float32)
            ranked[check_r, check_c] = out
            scores = [_recall_of(ranked, label[check_rows], held_count[check_rows])]
            if cold_count.any():
                scores.append(_recall_of(np.where(is_cold, ranked, -np.inf), label[check_rows] & is_cold, cold_count))
            return float(np.mean(scores))

        if best_state is not None:
            # The view changes each epoch: score the best state again on this one, so
            # that states are compared on the same view.
            current = copy.deepcopy(ranker.state_dict())
            ranker.load_state_dict(best_state)
            best = check()
            ranker.load_state_dict(current)
        steps = max(100, -(-len(pos_r) // 2048))  # at least 100: a small holdout would give a handful
        for step in range(steps + 1):
            if step % CHECK_EVERY == 0:
                score = check()
                record["checks"] += 1
                if epoch == 0 and step == 0:
                    record["untrained_check"] = score  # scored, never kept (see the docstring)
                elif best_state is None or score > best:
                    best, best_state, waited = score, copy.deepcopy(ranker.state_dict()), 0
                    record.update(kept_epoch=epoch, kept_step=step)
                    if epoch == 0:
                        record["first_epoch_check"] = score
                elif step and epoch:
                    # The first epoch is a warm-up: the ranker starts as the recall order
                    # (see MLPRanker) and may take more than ``patience`` checks to move
                    # away from it. Counted from the start, one warm ml-100k split
                    # stopped there for good: 0.3205 instead of 0.39.
                    waited += 1
                if waited >= config.rank.patience or step == steps:
                    break
            ranker.train()
            b = rng.integers(len(pos_r), size=min(2048, len(pos_r)))
            # Each member's own BPR loss (summed): trained on their average instead, the
            # members would act as one wider MLP and not average out their initial weights.
            loss = -F.logsigmoid(ranker.member_scores(*inputs(pos_r[b], pos_c[b], pos_stats[b]))
                                 - ranker.member_scores(*inputs(pos_r[b], neg_c[b], neg_stats[b]))).mean(1).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if waited >= config.rank.patience:
            break
    if best_state is not None:
        ranker.load_state_dict(best_state)
        record["kept_check"] = best
    return ranker, record


# ---------------------------------------------------------------------- fit
def fit_model(snapshot: GraphSnapshot, config: RecommenderConfig, text_vectors: dict[str, np.ndarray] | None,
              *, seed: int | None = None, progress: bool | None = None,
              holdout: InteractionTable | None = None) -> FittedModel:
    """Train the GNN (and the ranker) on the interactions of ``snapshot``.

    ``holdout`` (interactions on the same node tables, e.g. an evaluation split's valid
    set) drives early stopping and trains the ranker. Without it, a random 10% of each
    user's interactions is held out for that and not used to train the GNN.
    """
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(config.train.deterministic)
    try:
        return _fit(snapshot, config, text_vectors, config.train.seed if seed is None else seed,
                    config.train.progress if progress is None else progress, holdout)
    finally:
        torch.use_deterministic_algorithms(previous)


def _fit(snapshot: GraphSnapshot, config: RecommenderConfig, text_vectors: dict[str, np.ndarray] | None,
         seed: int, progress: bool, holdout: InteractionTable | None) -> FittedModel:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    if holdout is None:
        holdout_mask = _holdout_mask(snapshot.interactions, 0.1, rng)
        graph = snapshot.with_interactions(snapshot.interactions.select(~holdout_mask))
        holdout = snapshot.interactions.select(holdout_mask)
    else:
        graph = snapshot
    layout = make_layout(snapshot, use_kg=config.model.use_kg, min_relation_edges=config.model.min_relation_edges)
    features = _features(graph, text_vectors, config.model.use_text)
    m = config.model
    gnn = KGRecGNN(NODE_TYPES, layout.edge_types, {t: len(graph.nodes(LABEL_OF[t])) for t in NODE_TYPES},
                   text_dim=features["user"].size(1), hidden_dim=m.hidden_dim,
                   num_layers=m.num_layers if m.use_gnn else 0, use_text=m.use_text,
                   use_id_embeddings=m.use_id_embeddings, dropout=m.dropout)
    # Embedding rows follow the training graph's node order; only warm nodes are trained,
    # the rest are marked "" (never a valid id, see schema.check_id).
    warm = _interacted(graph)
    trained_ids = {t: np.where(warm[t], graph.nodes(LABEL_OF[t]).ids, "") for t in NODE_TYPES}
    fitted = FittedModel(config, layout, gnn, None, trained_ids)
    trainer = GNNTrainer(gnn, graph, layout, features, config.train, generator)
    best, best_state, waited = -1.0, None, 0
    epochs = range(config.train.epochs)
    if progress:
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc="training GNN", unit="epoch")
    started = time.perf_counter()
    for epoch in epochs:
        metrics = trainer.train_epoch()
        metrics["epoch"] = epoch
        metrics["valid_recall@20"] = _recall_at(fitted, graph, text_vectors, holdout) if len(holdout) else math.nan
        metrics["seconds"] = round(time.perf_counter() - started, 3)  # since training began
        fitted.history.append(metrics)
        if progress:
            epochs.set_postfix(loss=f"{metrics['loss']:.4f}", valid=f"{metrics['valid_recall@20']:.4f}")
        score = metrics["valid_recall@20"]
        if not len(holdout) or score > best:
            best, waited = score, 0
            best_state = {k: v.clone() for k, v in gnn.state_dict().items()}
        else:
            waited += 1
            if waited >= config.train.patience:
                break
    if best_state is not None:
        gnn.load_state_dict(best_state)
    if config.rank.enabled and config.rank.epochs > 0 and len(holdout):
        # Each ranker continues the random streams, so each has its own draws.
        rankers = []
        for draw in range(config.rank.draws):
            ranker, record = train_ranker(fitted, graph, holdout, text_vectors, generator, rng)
            rankers.append(ranker)
            fitted.ranker_history.append({"draw": draw, **record})
        fitted.ranker = average_of(rankers)
    return fitted
