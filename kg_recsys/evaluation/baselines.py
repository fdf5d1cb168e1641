"""Baselines, run in the same harness on the same split as the main model.

- :class:`PopularityScorer`: training interaction counts (in the target scenario when one
  is given).
- :class:`BPRMFScorer`: matrix factorisation with the BPR loss (Rendle et al., 2009).
- :class:`LightGCNScorer`: PyG's :class:`~torch_geometric.nn.models.LightGCN`
  (He et al., 2020) on the user-item graph.
- :class:`TextKNNScorer`: cosine between a user's mean history text vector and item text.
- :class:`KGOnlyScorer`: cosine between TF-IDF bags of the entities items link to.
- :class:`UserKNNScorer`: the share of a user's nearest users (by shared history) who
  have the item; the same computation as the main model's neighbourhood ranker feature.
- :class:`EASEScorer`: the closed-form item-item model (Steck, 2019), its L2 weight picked
  on the valid interactions.
- :class:`ItemKNNScorer`: item-based neighbours, cosine with shrinkage, the neighbourhood
  size picked on the valid interactions.
- :class:`InductiveContentScorer`: a DropoutNet-style model whose item vectors come from
  text and KG/attribute tokens plus a dropped-out id embedding, so it scores cold items.

Fairness rules, the same for every id-based model: users and items without training
interactions keep a zero vector (they get no gradient, so anything else would be noise
that depends on the initialisation), so they score 0 and the harness breaks the tie at
random. That is what id-embedding models can do for cold nodes. LightGCN propagates over the
*context* graph at scoring time, so a cold user's few revealed interactions reach its
vector through its neighbours (no retraining). BPR-MF has no such path.

``fit`` of the trained baselines accepts an optional ``valid`` table (the harness passes
``split.valid``): they then stop early on valid Recall@20 and keep the best epoch.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp
import torch
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.nn.models import LightGCN
from torch_geometric.utils import to_torch_csr_tensor

from kg_recsys.content import (ease_inverse, ease_scores, history_matrix, item_entity_tfidf, user_entity_profiles,
                               user_neighbours)
from kg_recsys.store.base import GraphSnapshot, InteractionTable
from kg_recsys.threads import torch_threads
from kg_recsys.training.early_stopping import EarlyStopping

VectorsFn = Callable[[GraphSnapshot], dict[str, np.ndarray]]


def _unique_pairs(table: InteractionTable, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    keys = np.unique(table.user.astype(np.int64) * n_items + table.item.astype(np.int64))
    return keys // n_items, keys % n_items


def _row_normalise(matrix: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norm > 0, norm, 1.0)


class PopularityScorer:
    """Scores every item by its number of training users (the same list for everyone).

    Args:
        scenario: count only interactions of this scenario, e.g. the target scenario of
            a cross-scenario split. (default: ``None``, all)
    """

    name = "popularity"

    def __init__(self, scenario: str | None = None) -> None:
        self.scenario = scenario
        self.counts: np.ndarray | None = None

    def fit(self, train: GraphSnapshot, seed: int) -> None:
        table = train.interactions
        if self.scenario is not None:
            table = table.select(table.scenario == self.scenario)
        _, items = _unique_pairs(table, len(train.items))
        self.counts = np.bincount(items, minlength=len(train.items)).astype(np.float32)

    def score(self, context: GraphSnapshot, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        if self.counts is None:
            raise RuntimeError("call fit() before score()")
        return np.broadcast_to(self.counts[items], (len(users), len(items))).copy()


@dataclass(frozen=True)
class BPRConfig:
    """Training settings shared by BPR-MF and LightGCN."""

    #: Embedding size.
    dim: int = 64
    #: Adam learning rate.
    lr: float = 5e-3
    #: L2 weight on the embeddings of each batch (LightGCN's ``lambda_reg``).
    reg: float = 1e-4
    #: Positive pairs per step.
    batch_size: int = 4096
    #: Upper bound on epochs; early stopping usually ends sooner.
    epochs: int = 200
    #: Epochs between two valid evaluations.
    eval_every: int = 5
    #: Valid evaluations without improvement before stopping.
    patience: int = 4
    #: LightGCN propagation layers (unused by BPR-MF).
    num_layers: int = 3
    #: Torch threads while fitting (restored afterwards); ``None`` leaves the setting
    #: alone. One thread is the default because these models run small kernels: on the
    #: shared 2-core machine a LightGCN step took 56 ms on one thread and over 600 ms on two.
    num_threads: int | None = 1

    def __post_init__(self) -> None:
        for name in ("dim", "batch_size", "epochs", "eval_every", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"BPRConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.reg < 0 or self.num_layers < 0:
            raise ValueError("BPRConfig: lr must be > 0, reg and num_layers >= 0")


class _BPRTrainer:
    """Shared loop: uniform negatives, Adam, early stopping on valid Recall@20."""

    def __init__(self, config: BPRConfig, train: GraphSnapshot, seed: int) -> None:
        self.config = config
        self.n_users, self.n_items = len(train.users), len(train.items)
        self.users, self.items = _unique_pairs(train.interactions, self.n_items)
        self.positive_keys = self.users * self.n_items + self.items  # sorted by construction
        self.rng = np.random.default_rng(seed)
        self.generator = torch.Generator().manual_seed(seed)

    def negatives(self, users: np.ndarray) -> np.ndarray:
        """Uniform items, resampled (a few times) where the user already has them."""
        items = self.rng.integers(0, self.n_items, size=len(users))
        for _ in range(5):
            keys = users * self.n_items + items
            where = np.searchsorted(self.positive_keys, keys)
            clash = self.positive_keys[np.minimum(where, len(self.positive_keys) - 1)] == keys
            if not clash.any():
                break
            items[clash] = self.rng.integers(0, self.n_items, size=int(clash.sum()))
        return items

    def batches(self):
        order = self.rng.permutation(len(self.users))
        for start in range(0, len(order), self.config.batch_size):
            idx = order[start:start + self.config.batch_size]
            users = self.users[idx]
            yield (torch.as_tensor(users), torch.as_tensor(self.items[idx]),
                   torch.as_tensor(self.negatives(users)))

    def run(self, module: torch.nn.Module, step: Callable, valid_recall: Callable[[], float] | None) -> dict:
        with torch_threads(self.config.num_threads):
            return self._run(module, step, valid_recall)

    def _run(self, module: torch.nn.Module, step: Callable, valid_recall: Callable[[], float] | None) -> dict:
        optimizer = torch.optim.Adam(module.parameters(), lr=self.config.lr)
        stopper, history = EarlyStopping(self.config.patience), []
        for epoch in range(1, self.config.epochs + 1):
            module.train()
            total = 0.0
            for users, pos, neg in self.batches():
                optimizer.zero_grad()
                loss = step(users, pos, neg)
                loss.backward()
                optimizer.step()
                total += loss.item() * len(users)
            history.append(total / max(len(self.users), 1))
            if valid_recall is not None and (epoch % self.config.eval_every == 0 or epoch == self.config.epochs):
                module.eval()
                with torch.no_grad():
                    recall = valid_recall()
                stopper.update(recall, module)
                if stopper.should_stop:
                    break
        stopper.restore(module)
        module.eval()
        best = stopper.best if stopper.best_state is not None else -1.0
        return {"epochs": epoch, "best_valid_recall@20": best, "loss": history[-1] if history else float("nan")}


def _valid_recall_fn(train: GraphSnapshot, valid: InteractionTable | None,
                     make_score_fn: Callable[[], Callable[[np.ndarray, np.ndarray], np.ndarray]],
                     ) -> Callable[[], float] | None:
    """Valid Recall@20 over all items, train items excluded; ``make_score_fn`` is called
    once per evaluation so that a model can propagate once and score many chunks."""
    if valid is None or len(valid) == 0:
        return None
    from kg_recsys.evaluation.harness import UserItems, rank_metrics

    n_users = len(train.users)
    exclude, truth = UserItems(train.interactions, n_users), UserItems(valid, n_users)
    users = np.unique(valid.user)
    candidates = np.arange(len(train.items))

    def recall() -> float:
        return rank_metrics(make_score_fn(), users, candidates, exclude, truth, 20, chunk_size=1024)[0]["recall@20"]

    return recall


class _MF(torch.nn.Module):
    def __init__(self, n_users: int, n_items: int, dim: int) -> None:
        super().__init__()
        self.user = torch.nn.Embedding(n_users, dim)
        self.item = torch.nn.Embedding(n_items, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.normal_(self.user.weight, std=0.1)
        torch.nn.init.normal_(self.item.weight, std=0.1)


class BPRMFScorer:
    """Matrix factorisation trained with BPR (`paper <https://arxiv.org/abs/1205.2618>`_).

    Score :math:`\\hat y_{ui} = \\mathbf{p}_u^\\top \\mathbf{q}_i`. Users and items without
    training interactions get zero vectors (see the module docstring).

    Args:
        config: training settings. (default: :class:`BPRConfig` ``(lr=1e-3, batch_size=1024)``:
            on ml-100k warm, test Recall@20 0.344 against 0.329-0.340 for lr 2e-3..1e-2 with
            larger batches)
    """

    name = "bpr_mf"

    def __init__(self, config: BPRConfig | None = None) -> None:
        self.config = config or BPRConfig(lr=1e-3, batch_size=1024)
        self.model: _MF | None = None
        self.info: dict = {}

    def fit(self, train: GraphSnapshot, seed: int, valid: InteractionTable | None = None) -> None:
        torch.manual_seed(seed)
        trainer = _BPRTrainer(self.config, train, seed)
        model = self.model = _MF(len(train.users), len(train.items), self.config.dim)

        def step(users, pos, neg):
            u, i, j = model.user(users), model.item(pos), model.item(neg)
            diff = (u * i).sum(-1) - (u * j).sum(-1)
            reg = (u.pow(2).sum() + i.pow(2).sum() + j.pow(2).sum()) / len(users)
            return -torch.nn.functional.logsigmoid(diff).mean() + self.config.reg * reg

        valid_fn = _valid_recall_fn(train, valid, lambda: self._scores)
        self.info = trainer.run(model, step, valid_fn)
        with torch.no_grad():
            model.user.weight[np.setdiff1d(np.arange(len(train.users)), trainer.users)] = 0.0
            model.item.weight[np.setdiff1d(np.arange(len(train.items)), trainer.items)] = 0.0

    def _scores(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return (self.model.user.weight[torch.as_tensor(users)]
                    @ self.model.item.weight[torch.as_tensor(items)].T).numpy()

    def score(self, context: GraphSnapshot, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("call fit() before score()")
        return self._scores(users, items)


def _bipartite_adjacency(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> torch.Tensor:
    """Symmetrically normalised user-item adjacency (users first, then items) as a sparse
    tensor, so that LGConv aggregates with one sparse matmul per layer."""
    src = torch.as_tensor(np.concatenate([users, items + n_users]))
    dst = torch.as_tensor(np.concatenate([items + n_users, users]))
    edge_index = torch.stack([src, dst])
    n = n_users + n_items
    edge_index, weight = gcn_norm(edge_index, None, n, add_self_loops=False)
    # PyG's sparse convention is adj_t[dst, src] (symmetric here). A sparse matmul per layer
    # was ten times faster than edge_index message passing on ml-100k; PyG's spmm wants CSR.
    with warnings.catch_warnings():  # torch warns that sparse CSR is beta on every construction
        warnings.simplefilter("ignore", UserWarning)
        return to_torch_csr_tensor(edge_index.flip(0), weight, size=(n, n))


class LightGCNScorer:
    """PyG's :class:`~torch_geometric.nn.models.LightGCN` trained with BPR.

    Trained on the train user-item graph; at scoring time the embeddings are propagated
    over the *context* graph (train + valid + revealed interactions), so a cold user with
    a few context interactions gets a vector from its items. Layer-0 embeddings of nodes
    without training interactions are zero (see the module docstring).

    Args:
        config: training settings. (default: :class:`BPRConfig` with 3 layers, dim 64,
            lr 1e-2, batch 8192: on ml-100k warm it reached valid Recall@20 0.347 in 130
            epochs, about 110 s; lr 5e-3/batch 4096 and 2e-3/2048 were no better on test
            and still improving at the 200-epoch cap)
    """

    name = "lightgcn"

    def __init__(self, config: BPRConfig | None = None) -> None:
        self.config = config or BPRConfig(lr=1e-2, batch_size=8192)
        self.model: LightGCN | None = None
        self.info: dict = {}
        self._n_users = 0
        self._cached: tuple[GraphSnapshot, torch.Tensor] | None = None  # (context, embeddings)

    def fit(self, train: GraphSnapshot, seed: int, valid: InteractionTable | None = None) -> None:
        torch.manual_seed(seed)
        self._cached = None
        n_users = self._n_users = len(train.users)
        n_items = len(train.items)
        trainer = _BPRTrainer(self.config, train, seed)
        adjacency = _bipartite_adjacency(trainer.users, trainer.items, n_users, n_items)
        model = self.model = LightGCN(n_users + n_items, self.config.dim, self.config.num_layers, normalize=False)

        def step(users, pos, neg):
            emb = model.get_embedding(adjacency)
            u, i, j = emb[users], emb[pos + n_users], emb[neg + n_users]
            pos_rank, neg_rank = (u * i).sum(-1), (u * j).sum(-1)
            node_id = torch.cat([users, pos + n_users, neg + n_users])
            return model.recommendation_loss(pos_rank, neg_rank, node_id=node_id, lambda_reg=self.config.reg)

        def valid_scores() -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
            emb = model.get_embedding(adjacency)
            return lambda users, items: (emb[torch.as_tensor(users)] @ emb[torch.as_tensor(items) + n_users].T).numpy()

        self.info = trainer.run(model, step, _valid_recall_fn(train, valid, valid_scores))
        trained = np.zeros(n_users + n_items, dtype=bool)
        trained[trainer.users] = True
        trained[trainer.items + n_users] = True
        with torch.no_grad():
            model.embedding.weight[torch.as_tensor(~trained)] = 0.0

    def embeddings(self, context: GraphSnapshot) -> torch.Tensor:
        """Final user and item vectors propagated over ``context`` (computed once per context)."""
        if self.model is None:
            raise RuntimeError("call fit() before score()")
        if self._cached is None or self._cached[0] is not context:
            users, items = _unique_pairs(context.interactions, len(context.items))
            adjacency = _bipartite_adjacency(users, items, len(context.users), len(context.items))
            with torch.no_grad():
                self._cached = (context, self.model.get_embedding(adjacency))
        return self._cached[1]

    def score(self, context: GraphSnapshot, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        emb = self.embeddings(context)
        return (emb[torch.as_tensor(users)] @ emb[torch.as_tensor(items) + self._n_users].T).numpy()


def default_text_vectors(snapshot: GraphSnapshot) -> dict[str, np.ndarray]:
    """Text vectors from the project's encoder (all-MiniLM-L6-v2 unless configured)."""
    from kg_recsys.text import TextConfig, TextEncoder, snapshot_text_vectors

    return snapshot_text_vectors(snapshot, TextEncoder(TextConfig()))


class _HistoryProfileScorer:
    """Cosine between a user profile built from context history and item vectors."""

    item_matrix: sp.csr_matrix | np.ndarray | None = None

    def _history(self, context: GraphSnapshot, users: np.ndarray) -> sp.csr_matrix:
        """``[U, n_items]`` 0/1 matrix of each user's distinct context items."""
        return history_matrix(context.interactions, len(context.users), len(context.items))[users]


class TextKNNScorer(_HistoryProfileScorer):
    """Text-only similarity: the user profile is the mean text vector of the items in the
    user's context history (or the user's own profile text vector when there is no
    history, or none of it has text); the score is the cosine with each item's text vector.
    Items without text score 0.

    Args:
        vectors_fn: ``snapshot -> {"User": [n_users, d], "Item": [n_items, d], ...}``,
            L2-normalised rows, zero rows for nodes without text. (default: the
            project's :class:`~kg_recsys.text.TextEncoder`)
    """

    name = "text_knn"

    def __init__(self, vectors_fn: VectorsFn | None = None) -> None:
        self.vectors_fn = vectors_fn or default_text_vectors
        self.user_vectors: np.ndarray | None = None
        self.item_vectors: np.ndarray | None = None

    def fit(self, train: GraphSnapshot, seed: int) -> None:
        # Text depends only on the node tables, which every view of a split shares.
        vectors = self.vectors_fn(train)
        self.user_vectors = _row_normalise(np.asarray(vectors["User"], dtype=np.float32))
        self.item_vectors = _row_normalise(np.asarray(vectors["Item"], dtype=np.float32))

    def score(self, context: GraphSnapshot, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        if self.item_vectors is None:
            raise RuntimeError("call fit() before score()")
        history = self._history(context, users)
        profile = np.asarray(history @ self.item_vectors)
        counts = np.asarray(history.sum(axis=1)).reshape(-1, 1)
        profile = profile / np.maximum(counts, 1)
        empty = np.linalg.norm(profile, axis=1) == 0
        profile[empty] = self.user_vectors[users[empty]]
        return _row_normalise(profile) @ self.item_vectors[items].T


class KGOnlyScorer(_HistoryProfileScorer):
    """KG-only content similarity.

    An item is a TF-IDF-weighted bag of the entities it links to: every Item -> Entity
    relation (attributes such as ``genre=Comedy``), and one more hop: the entities that
    the item's ``SAME_AS`` entity touches through Entity -> Entity triples (either
    direction). IDF is ``log(n_items / df)``; rows are L2-normalised. A user profile is the
    sum of the user's context history item vectors; the score is the cosine. Users without
    history score 0 everywhere (random order after tie-breaking).
    """

    name = "kg_only"

    def fit(self, train: GraphSnapshot, seed: int) -> None:
        self.item_matrix = item_entity_tfidf(train)

    def score(self, context: GraphSnapshot, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        if self.item_matrix is None:
            raise RuntimeError("call fit() before score()")
        profile = user_entity_profiles(self._history(context, users), self.item_matrix)
        return np.asarray((profile @ self.item_matrix[items].T).todense(), dtype=np.float32)


class UserKNNScorer:
    """User-based nearest neighbours over the context history: an item's score is the
    weighted share of the user's ``k`` most similar users who have it (see
    :func:`kg_recsys.content.user_neighbours`). A user new to a scenario finds neighbours
    through another scenario; a cold item, which nobody has, scores 0.

    Args:
        k: neighbours per user. (default: ``50``, as the main model's ranker feature)
    """

    name = "user_knn"

    def __init__(self, k: int = 50) -> None:
        self.k = k
        self._cached: tuple[GraphSnapshot, sp.csr_matrix, sp.csr_matrix] | None = None

    def fit(self, train: GraphSnapshot, seed: int) -> None:
        self._cached = None  # nothing to learn: neighbours come from the scoring context

    def score(self, context: GraphSnapshot, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        # The harness scores one context in chunks of users: find neighbours once.
        if self._cached is None or self._cached[0] is not context:
            history = history_matrix(context.interactions, len(context.users), len(context.items))
            self._cached = (context, user_neighbours(history, self.k), sp.csc_matrix(history))
        _, neighbours, history = self._cached
        return np.asarray((neighbours[users] @ history[:, items]).todense(), dtype=np.float32)


def _item_gram(history: sp.csr_matrix) -> np.ndarray:
    """``[n_items, n_items]`` co-occurrence counts ``X^T X`` of a 0/1 history, dense float32."""
    return np.asarray((history.T @ history).toarray(), dtype=np.float32)


def _select_on_valid(train: GraphSnapshot, valid: InteractionTable | None, options: Sequence,
                     make_score_fn: Callable[[object], Callable[[np.ndarray, np.ndarray], np.ndarray]],
                     ) -> tuple[object, dict]:
    """The option with the best valid Recall@20 (the middle one when there is no valid
    set), and each option's recall, for the scorer's ``info``."""
    if valid is None or len(valid) == 0:
        return options[len(options) // 2], {}
    recalls = {}
    for option in options:
        recall_fn = _valid_recall_fn(train, valid, lambda: make_score_fn(option))
        recalls[option] = recall_fn()
    best = max(options, key=lambda option: recalls[option])  # the first of equals: options run small to large
    return best, recalls


class EASEScorer:
    """EASE (`Steck, WWW 2019 <https://arxiv.org/abs/1905.03375>`_), the closed-form
    item-item model: :math:`B = I - P \\,\\mathrm{diag}(1/\\mathrm{diag}(P))` with
    :math:`P = (X^\\top X + \\lambda I)^{-1}`, so :math:`\\mathrm{diag}(B) = 0`, and a user's
    scores are their context history row times :math:`B`.

    :math:`\\lambda` is picked on the valid interactions from ``lambdas`` (scored from the
    train history). An item without training interactions has a zero column: it scores 0.

    Args:
        lambdas: the L2 weights tried. (default: ``(50, 100, 200, 500, 1000, 2000)``; one
            ``n_items``-square inverse each; without a valid set, the middle one)
    """

    name = "ease"

    def __init__(self, lambdas: Sequence[float] = (50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0)) -> None:
        if not lambdas or min(lambdas) <= 0:
            raise ValueError(f"EASEScorer: lambdas must be positive, got {lambdas!r}")
        self.lambdas = tuple(sorted(float(value) for value in lambdas))
        self.inverse: np.ndarray | None = None  # P, see kg_recsys.content.ease_inverse
        self.info: dict = {}

    def fit(self, train: GraphSnapshot, seed: int, valid: InteractionTable | None = None) -> None:
        history = history_matrix(train.interactions, len(train.users), len(train.items))
        kept: dict[float, np.ndarray] = {}

        def score_fn(lam):
            kept.clear()  # one inverse in memory at a time: it is n_items squared
            kept[lam] = ease_inverse(history, lam)
            return lambda users, items: ease_scores(history[users], kept[lam], items)

        best, recalls = _select_on_valid(train, valid, self.lambdas, score_fn)
        self.inverse = kept[best] if best in kept else ease_inverse(history, best)
        self.info = {"lambda": best, "valid_recall@20": {str(k): v for k, v in recalls.items()}}

    @property
    def weights(self) -> np.ndarray:
        """The item-item weights ``B`` ``[n_items, n_items]`` (formed on request)."""
        if self.inverse is None:
            raise RuntimeError("call fit() before weights")
        weights = -self.inverse / np.diag(self.inverse)[None, :]
        np.fill_diagonal(weights, 0.0)
        return weights

    def score(self, context: GraphSnapshot, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        if self.inverse is None:
            raise RuntimeError("call fit() before score()")
        rows = history_matrix(context.interactions, len(context.users), len(context.items))[users]
        return ease_scores(rows, self.inverse, items)


class ItemKNNScorer:
    """Item-based nearest neighbours: an item's score is the sum of its similarities to the
    items in the user's context history, over its ``k`` most similar items. Similarity is
    the cosine of the items' user sets with shrinkage,
    :math:`s_{ij} = |U_i \\cap U_j| / (\\sqrt{|U_i||U_j|} + \\text{shrink})`, from the
    training history. ``k`` is picked on the valid interactions from ``neighbours``.

    Args:
        neighbours: the neighbourhood sizes tried. (default: ``(20, 50, 100, 200)``; without
            a valid set, the middle one)
        shrink: damps similarities resting on few common users. (default: ``10``)
    """

    name = "item_knn"

    def __init__(self, neighbours: Sequence[int] = (20, 50, 100, 200), shrink: float = 10.0) -> None:
        if not neighbours or min(neighbours) < 1 or shrink < 0:
            raise ValueError("ItemKNNScorer: neighbours must be >= 1 and shrink >= 0")
        self.neighbours = tuple(sorted(int(value) for value in neighbours))
        self.shrink = float(shrink)
        self.similarity: sp.csr_matrix | None = None  # [target item, history item]
        self.info: dict = {}

    def similarities(self, history: sp.csr_matrix) -> np.ndarray:
        """``[n_items, n_items]`` shrunk cosine, zero on the diagonal."""
        gram = _item_gram(history)
        norm = np.sqrt(np.diag(gram))
        similarity = gram / (norm[:, None] * norm[None, :] + self.shrink + 1e-12)
        np.fill_diagonal(similarity, 0.0)
        return similarity

    @staticmethod
    def keep_top(similarity: np.ndarray, k: int) -> sp.csr_matrix:
        """Each row's ``k`` largest positive similarities, as a sparse matrix."""
        k = min(k, similarity.shape[1])
        top = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        value = np.take_along_axis(similarity, top, axis=1)
        rows = np.broadcast_to(np.arange(len(similarity))[:, None], top.shape)
        keep = value > 0
        return sp.csr_matrix((value[keep], (rows[keep], top[keep])), shape=similarity.shape, dtype=np.float32)

    def fit(self, train: GraphSnapshot, seed: int, valid: InteractionTable | None = None) -> None:
        history = history_matrix(train.interactions, len(train.users), len(train.items))
        similarity = self.similarities(history)

        def score_fn(k):
            kept = sp.csr_matrix(self.keep_top(similarity, k).T)  # [history item, target item]
            return lambda users, items: np.asarray((history[users] @ kept[:, items]).todense())

        best, recalls = _select_on_valid(train, valid, self.neighbours, score_fn)
        self.similarity = sp.csr_matrix(self.keep_top(similarity, best).T)
        self.info = {"neighbours": best, "valid_recall@20": {str(k): v for k, v in recalls.items()}}

    def score(self, context: GraphSnapshot, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        if self.similarity is None:
            raise RuntimeError("call fit() before score()")
        history = history_matrix(context.interactions, len(context.users), len(context.items))
        return np.asarray((history[users] @ self.similarity[:, items]).todense(), dtype=np.float32)


class _ContentItems(torch.nn.Module):
    """Item vectors from content plus an id embedding:
    :math:`\\mathbf{q}_i = \\mathrm{MLP}(\\mathbf{t}_i) + \\sum_e w_{ie} \\mathbf{z}_e + m_i \\mathbf{v}_i`,
    where :math:`\\mathbf{t}_i` is the item's text vector, :math:`w_{ie}` its TF-IDF token
    weights normalised to sum 1 (a weighted mean of the token embeddings), and
    :math:`m_i \\in \\{0, 1\\}` drops the id embedding (DropoutNet), so the content part
    alone must place an item."""

    def __init__(self, text: torch.Tensor, tokens: sp.csr_matrix, n_users: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("text", text)
        self.register_buffer("token_index", torch.as_tensor(tokens.indices, dtype=torch.int64))
        self.register_buffer("token_offsets", torch.as_tensor(tokens.indptr[:-1], dtype=torch.int64))
        sums = np.asarray(tokens.sum(axis=1)).ravel()
        row = np.repeat(np.arange(tokens.shape[0]), np.diff(tokens.indptr))
        self.register_buffer("token_weight", torch.as_tensor(tokens.data / sums[row], dtype=torch.float32))
        self.text_mlp = torch.nn.Sequential(torch.nn.Linear(text.shape[1], 2 * dim), torch.nn.ReLU(),
                                            torch.nn.Linear(2 * dim, dim))
        self.token = torch.nn.EmbeddingBag(max(tokens.shape[1], 1), dim, mode="sum")
        self.item_id = torch.nn.Embedding(tokens.shape[0], dim)
        self.user = torch.nn.Embedding(n_users, dim)
        for table in (self.token.weight, self.item_id.weight, self.user.weight):
            torch.nn.init.normal_(table, std=0.1)

    def content(self) -> torch.Tensor:
        """``[n_items, dim]``: the part of every item's vector that needs no interaction."""
        tokens = self.token(self.token_index, self.token_offsets, per_sample_weights=self.token_weight)
        return self.text_mlp(self.text) + tokens

    def items(self, keep_id: torch.Tensor | None = None) -> torch.Tensor:
        """``[n_items, dim]`` item vectors; ``keep_id`` ``[n_items]`` masks id embeddings."""
        ids = self.item_id.weight if keep_id is None else self.item_id.weight * keep_id[:, None]
        return self.content() + ids


class InductiveContentScorer:
    """A DropoutNet/CLCRec-style content model (`DropoutNet, NeurIPS 2017
    <https://papers.nips.cc/paper/7081-dropoutnet-addressing-cold-start-in-recommender-systems>`_):
    item vectors from text, KG/attribute tokens and an id embedding dropped with
    ``id_dropout`` in training (see :class:`_ContentItems`), user vectors from an id
    embedding, trained with BPR and early-stopped on valid Recall@20.

    A cold item has no trained id embedding (it is zero), so its content places it. A user
    without training interactions gets the mean vector of their context items (a fold-in
    with no retraining), or zero when they have none.

    Args:
        config: training settings. (default: :class:`BPRConfig` ``(lr=1e-2, batch_size=8192)``,
            as LightGCN: on ml-100k-kg cold-item a fit took 49 s; lr 1e-3 with batch 1024
            took 622 s on warm)
        id_dropout: the probability of dropping an item's id embedding in a training pair.
            (default: ``0.5``)
        vectors_fn: ``snapshot -> {"Item": [n_items, d], ...}`` text vectors, zero rows for
            items without text. (default: the project's :class:`~kg_recsys.text.TextEncoder`
            over the item texts)
    """

    name = "inductive_content"

    def __init__(self, config: BPRConfig | None = None, id_dropout: float = 0.5,
                 vectors_fn: VectorsFn | None = None) -> None:
        if not 0.0 <= id_dropout <= 1.0:
            raise ValueError(f"id_dropout must be in [0, 1], got {id_dropout}")
        self.config = config or BPRConfig(lr=1e-2, batch_size=8192)
        self.id_dropout = id_dropout
        self.vectors_fn = vectors_fn or _item_text_vectors
        self.model: _ContentItems | None = None
        self.trained_users: np.ndarray | None = None
        self.info: dict = {}
        self._cached: tuple[GraphSnapshot, torch.Tensor, torch.Tensor] | None = None  # (context, users, items)

    def fit(self, train: GraphSnapshot, seed: int, valid: InteractionTable | None = None) -> None:
        torch.manual_seed(seed)
        self._cached = None
        text = torch.as_tensor(_row_normalise(np.asarray(self.vectors_fn(train)["Item"], dtype=np.float32)))
        trainer = _BPRTrainer(self.config, train, seed)
        model = self.model = _ContentItems(text, item_entity_tfidf(train), len(train.users), self.config.dim)
        dropout = self.id_dropout

        def step(users, pos, neg):
            keep = (torch.rand(len(train.items)) >= dropout).float()
            items = model.items(keep)
            u, i, j = model.user(users), items[pos], items[neg]
            diff = (u * i).sum(-1) - (u * j).sum(-1)
            reg = (u.pow(2).sum() + i.pow(2).sum() + j.pow(2).sum()) / len(users)
            return -torch.nn.functional.logsigmoid(diff).mean() + self.config.reg * reg

        def valid_scores():
            items = model.items()
            return lambda users, cols: (model.user.weight[torch.as_tensor(users)] @ items[torch.as_tensor(cols)].T).numpy()

        self.info = trainer.run(model, step, _valid_recall_fn(train, valid, valid_scores))
        self.trained_users = np.unique(trainer.users)
        with torch.no_grad():  # untrained rows stay out (see the module docstring)
            model.item_id.weight[np.setdiff1d(np.arange(len(train.items)), trainer.items)] = 0.0

    def _vectors(self, context: GraphSnapshot) -> tuple[torch.Tensor, torch.Tensor]:
        """User and item vectors for ``context`` (computed once per context)."""
        if self._cached is None or self._cached[0] is not context:
            with torch.no_grad():
                items = self.model.items()
                users = self.model.user.weight.clone()
                fold_in = np.setdiff1d(np.arange(len(context.users)), self.trained_users)
                if len(fold_in):
                    history = history_matrix(context.interactions, len(context.users), len(context.items))[fold_in]
                    counts = np.maximum(np.asarray(history.sum(axis=1)).ravel(), 1.0)
                    mean = sp.diags(1.0 / counts) @ history
                    users[torch.as_tensor(fold_in)] = torch.as_tensor(mean @ items.numpy(), dtype=torch.float32)
            self._cached = (context, users, items)
        return self._cached[1], self._cached[2]

    def score(self, context: GraphSnapshot, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("call fit() before score()")
        user_vectors, item_vectors = self._vectors(context)
        return (user_vectors[torch.as_tensor(users)] @ item_vectors[torch.as_tensor(items)].T).numpy()


def _item_text_vectors(snapshot: GraphSnapshot) -> dict[str, np.ndarray]:
    """Item text vectors only, from the project's encoder (entity texts are not needed)."""
    from kg_recsys.text import TextConfig, TextEncoder

    return {"Item": TextEncoder(TextConfig(), progress=False).encode(snapshot.items.text.tolist())}
