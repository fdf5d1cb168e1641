"""The GNN trainer: sampled-softmax (or BPR) training with simulated cold start."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from kg_recsys.config import TrainConfig
from kg_recsys.graph import GraphLayout, build_hetero_data, interaction_relation
from kg_recsys.model import NODE_TYPES, interacted, scenario_index
from kg_recsys.nn.gnn import KGRecGNN, to_adjacency
from kg_recsys.store.base import GraphSnapshot, InteractionTable
from kg_recsys.training.distributed import World, average_gradients
from kg_recsys.training.sampling import NeighbourSampler


def holdout_mask(inter: InteractionTable, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A random ``fraction`` of each user's interactions (users with at least 3)."""
    mask = np.zeros(len(inter), bool)
    order = np.argsort(inter.user, kind="stable")
    bounds = np.flatnonzero(np.diff(inter.user[order])) + 1
    for rows in np.split(order, bounds):
        if len(rows) >= 3:
            take = max(1, int(round(fraction * len(rows))))
            mask[rng.choice(rows, size=take, replace=False)] = True
    return mask


class _SampledDot(torch.autograd.Function):
    """``logits[b, k] = queries[b] . rows[index[b, k]]`` (``queries [B, d]``, ``rows [N, d]``,
    ``index [B, K]``), with a backward pass through two sparse products.

    The plain form (gather ``[B, K, d]``, then a batched product) keeps the gathered rows
    and their gradient in memory, and its backward zero-fills and scatters them: 164 ms a
    step for 8192 positives x 64 negatives, against 30 ms here, with the same gradients
    (equal to the last bit in a test), which was half of a GNN step on ml-100k-kg.
    """

    CHUNK = 1024  # rows gathered at a time in the forward pass

    @staticmethod
    def forward(ctx, queries: Tensor, rows: Tensor, index: Tensor) -> Tensor:
        out = torch.empty(index.shape, dtype=queries.dtype)
        for start in range(0, len(index), _SampledDot.CHUNK):
            part = slice(start, start + _SampledDot.CHUNK)
            out[part] = torch.bmm(rows[index[part]], queries[part].unsqueeze(-1)).squeeze(-1)
        ctx.save_for_backward(queries, rows, index)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        queries, rows, index = ctx.saved_tensors
        (batch, count), num_rows = index.shape, rows.size(0)
        grad = grad.contiguous().reshape(-1)
        flat = index.reshape(-1)
        # The logits' gradient as a sparse [B, N] matrix (a row's repeated indices add up)...
        by_query = torch.sparse_csr_tensor(torch.arange(0, batch * count + 1, count), flat, grad,
                                           (batch, num_rows), check_invariants=False)
        # ... and its transpose, [N, B], for the rows' gradient.
        order = torch.argsort(flat, stable=True)
        crow = torch.zeros(num_rows + 1, dtype=torch.long)
        crow[1:] = torch.cumsum(torch.bincount(flat, minlength=num_rows), 0)
        by_row = torch.sparse_csr_tensor(crow, order // count, grad[order], (num_rows, batch), check_invariants=False)
        return by_query @ rows, by_row @ queries, None


class GNNTrainer:
    """Training of :class:`KGRecGNN` with simulated cold start.

    Each step hides the interaction edges and id embeddings of a random ``cold_item_rate``
    of items, and the edges of a random share of (user, scenario) pairs, while still
    supervising their interactions. The model must then score those pairs from text, KG
    links and the user's other scenarios: the situations of the cold-item, cold-user and
    cross-scenario protocols.

    Above ``[train] sampled_above_edges`` edges a step does not run on the whole graph but
    on the sampled neighbourhoods (``[train] fanout``) of its users, its items and its
    negatives (:class:`~kg_recsys.training.sampling.NeighbourSampler`), with the same model
    and loss. The simulated cold start is then drawn on the subgraph: a cold item's or cold
    (user, scenario) pair's interaction edges are dropped after sampling, so a node next to
    cold ones keeps fewer than ``fanout`` interaction edges that step (the full graph drops
    them first); id dropout is the same.

    In a process group (``world.size > 1``, see :mod:`kg_recsys.training.distributed`)
    each rank trains an epoch on its own disjoint shard of the interactions, ``1 / size``
    of each step's batch, with its own ``generator``, and the gradients (and the loss) are
    averaged over the ranks before each optimiser step: the same steps and global batch as
    one process, so the same learning rate fits. A full-graph step still propagates over
    the whole graph on every rank, so more processes shorten only its loss part; a sampled
    step's cost follows its batch.

    :meth:`train_epoch` is the loop; the early stopping around it is the caller's.
    """

    #: The sampler of sampled training; ``None``: full-graph steps.
    sampler: NeighbourSampler | None = None

    def __init__(self, model: KGRecGNN, graph: GraphSnapshot, layout: GraphLayout, features: dict[str, Tensor],
                 config: TrainConfig, generator: torch.Generator, world: World = World(), seed: int = 0) -> None:
        """``world``: the training processes; ``seed``: the permutation of each epoch's
        interactions that the ranks share (one process draws it from ``generator``).
        Entities get id rows where the model has an entity id table (``[model] entity_ids``)."""
        self.model, self.layout, self.config, self.features = model, layout, config, features
        self.generator, self.world, self.seed = generator, world, seed
        self.epochs_done = 0
        data = build_hetero_data(graph, layout)
        self.num_nodes = {t: features[t].size(0) for t in NODE_TYPES}
        self.warm = {t: torch.from_numpy(m) for t, m in interacted(graph, model.num_ids["entity"] > 0).items()}
        inter = graph.interactions
        self.pairs = torch.from_numpy(np.stack([inter.user, inter.item]).astype(np.int64))
        self.pair_scenario = torch.from_numpy(scenario_index(inter.scenario, layout.scenarios))
        self.scenario_items = [torch.from_numpy(np.unique(inter.item[inter.scenario == s])) for s in layout.scenarios]
        self.num_users, self.num_items = len(graph.users), len(graph.items)
        # (edge type, scenario index, user side is src) for the interaction edge types,
        # whose edges change every step; the others are built into adjacency matrices once.
        self.interaction_types = []
        for s, scenario in enumerate(layout.scenarios):
            relation = interaction_relation(scenario)
            self.interaction_types.append((("user", relation, "item"), s, True))
            self.interaction_types.append((("item", f"rev_{relation}", "user"), s, False))
        changing = {edge_type for edge_type, _, _ in self.interaction_types}
        # In target order, once: each step's subset then needs no sort (on ml-1m two sorts
        # of ~800k edges per step).
        self.interaction_edges = {et: data[et].edge_index[:, torch.argsort(data[et].edge_index[1], stable=True)]
                                  for et in changing if et in layout.edge_types}
        self.static_adjacency = {et: to_adjacency(data[et].edge_index, self.num_nodes[et[0]], self.num_nodes[et[2]])
                                 for et in layout.edge_types if et not in changing and data[et].edge_index.numel()}
        self.full_adjacency = {**self.static_adjacency, **{
            et: to_adjacency(ei, self.num_nodes[et[0]], self.num_nodes[et[2]], dst_sorted=True)
            for et, ei in self.interaction_edges.items()}}
        self.num_edges = sum(int(data[et].edge_index.size(1)) for et in layout.edge_types)
        if self.num_edges > config.sampled_above_edges:
            fanout = config.fanout + config.fanout[-1:] * max(0, model.num_layers - len(config.fanout))
            # The sampler reads the full adjacency (kept for validation): no second copy.
            self.sampler = NeighbourSampler(self.full_adjacency, self.num_nodes, fanout[:model.num_layers])
            self.interaction_edges = {}  # only the full-graph steps filter these
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        # The gates the L1 push applies to: all but the interactions', the signal itself.
        self.penalised_gates = torch.tensor([not et[1].startswith(("interacted_", "rev_interacted_"))
                                             for et in layout.edge_types])

    def _cold_view(self) -> tuple[dict, dict[str, Tensor]]:
        """Adjacency and id-embedding rows for one step, with simulated cold items and cold
        (user, scenario) pairs (``-1`` = no id embedding)."""
        rate = self.config.cold_item_rate
        cold_items = torch.rand(self.num_items, generator=self.generator) < rate
        cold_user_scenario = torch.rand(self.num_users, max(1, len(self.layout.scenarios)), generator=self.generator) < rate
        edges = dict(self.static_adjacency)
        for edge_type, s, user_is_src in self.interaction_types:
            ei = self.interaction_edges.get(edge_type)
            if ei is None:
                continue
            users, items = (ei[0], ei[1]) if user_is_src else (ei[1], ei[0])
            kept = ei[:, ~(cold_items[items] | cold_user_scenario[users, s])]
            edges[edge_type] = to_adjacency(kept, self.num_nodes[edge_type[0]], self.num_nodes[edge_type[2]],
                                            dst_sorted=True)
        index = {}
        for t in NODE_TYPES:
            drop_rate = self.config.user_id_dropout if t == "user" else self.config.id_dropout
            keep = self.warm[t] & (torch.rand(self.warm[t].numel(), generator=self.generator) >= drop_rate)
            if t == "item":
                keep &= ~cold_items
            index[t] = torch.where(keep, torch.arange(keep.numel()), -1)
        return edges, index

    def _sampled_view(self, users: Tensor, items: Tensor, negatives: Tensor) \
            -> tuple[dict[str, Tensor], dict[str, Tensor], dict, tuple[Tensor, Tensor, Tensor]]:
        """What :meth:`_cold_view` gives, on the sampled neighbourhood of a batch's users and
        items (positives and negatives): the subgraph's features, id-embedding rows and
        edges, and the batch's users, items and negatives as rows of the subgraph."""
        sub = self.sampler.sample({"user": users, "item": torch.cat([items, negatives.reshape(-1)])}, self.generator)
        nodes = sub.nodes
        rate = self.config.cold_item_rate
        cold_items = torch.rand(nodes["item"].numel(), generator=self.generator) < rate
        cold_user_scenario = torch.rand(nodes["user"].numel(), max(1, len(self.layout.scenarios)),
                                        generator=self.generator) < rate
        edges = dict(sub.edges)
        for edge_type, s, user_is_src in self.interaction_types:
            ei = edges.get(edge_type)
            if ei is None:
                continue
            sub_users, sub_items = (ei[0], ei[1]) if user_is_src else (ei[1], ei[0])
            edges[edge_type] = ei[:, ~(cold_items[sub_items] | cold_user_scenario[sub_users, s])]
        index = {}
        for t in NODE_TYPES:
            drop_rate = self.config.user_id_dropout if t == "user" else self.config.id_dropout
            keep = self.warm[t][nodes[t]] & (torch.rand(nodes[t].numel(), generator=self.generator) >= drop_rate)
            if t == "item":
                keep &= ~cold_items
            index[t] = torch.where(keep, nodes[t], -1)
        features = {t: self.features[t][nodes[t]] for t in NODE_TYPES}
        item_rows = sub.seed_index["item"]
        rows = (sub.seed_index["user"], item_rows[:items.numel()], item_rows[items.numel():].view_as(negatives))
        return features, index, edges, rows

    def _negatives(self, scenario: Tensor, count: int) -> Tensor:
        """``[B, count]`` uniform negatives from each positive's own scenario: the model
        must rank within one."""
        negatives = torch.empty(scenario.numel(), count, dtype=torch.long)
        for s, pool in enumerate(self.scenario_items):
            rows = (scenario == s).nonzero(as_tuple=True)[0]
            if rows.numel():
                negatives[rows] = pool[torch.randint(len(pool), (rows.numel(), count), generator=self.generator)]
        return negatives

    def _loss(self, zu: Tensor, zi: Tensor, z_items: Tensor, negatives: Tensor) -> Tensor:
        """``zu, zi: [B, d]``: the positive pairs; ``z_items: [I, d]``; ``negatives: [B, K]``
        rows of ``z_items``."""
        positive = (zu * zi).sum(-1, keepdim=True)
        negative = _SampledDot.apply(zu, z_items, negatives)
        if self.config.loss == "bpr":
            loss = -F.logsigmoid(positive - negative).mean()
        else:
            # Sampled softmax: the positive against K negatives at once. Per step it gives
            # far more signal than BPR's one pair, and steps are what cost here (each is a
            # full-graph forward pass).
            logits = torch.cat([positive, negative], dim=1) / self.config.temperature
            loss = F.cross_entropy(logits, torch.zeros(len(zu), dtype=torch.long))
        return loss + 1e-4 * (zu.pow(2).sum(-1) + zi.pow(2).sum(-1)).mean()

    def step(self, batch: Tensor) -> float:
        """One optimiser step on the interactions ``batch`` (indices into the training
        pairs), on a fresh cold view of the graph or of the batch's sampled neighbourhood;
        returns the loss."""
        users, items = self.pairs[:, batch]
        negatives = self._negatives(self.pair_scenario[batch], self.config.negatives)
        if self.sampler is None:
            features = self.features
            edges, id_index = self._cold_view()
        else:
            features, id_index, edges, (users, items, negatives) = self._sampled_view(users, items, negatives)
        z = self.model(features, id_index, edges)
        # F.embedding's backward accumulates rows in order; plain indexing's
        # (index_put with accumulate) sorts under deterministic mode: 19 ms a step.
        loss = self._loss(F.embedding(users, z["user"]), F.embedding(items, z["item"]), z["item"], negatives)
        gates = self.model.gate_values()
        if gates is not None and self.config.gate_l1 > 0:
            loss = loss + self.config.gate_l1 * gates[self.penalised_gates].sum()
        self.optimizer.zero_grad()
        loss.backward()
        loss = loss.detach().reshape(1)
        if self.world.size > 1:
            average_gradients(list(self.model.parameters()), loss)
        self.optimizer.step()
        return loss.item()

    def embed(self) -> dict[str, Tensor]:
        """The training graph's vectors as :func:`kg_recsys.model.embed` computes them (all
        edges, every trained id), from the adjacency built once: validation after each
        epoch then costs a forward pass only."""
        index = {t: torch.where(self.warm[t], torch.arange(self.warm[t].numel()), -1) for t in NODE_TYPES}
        self.model.eval()
        with torch.no_grad():
            return self.model(self.features, index, self.full_adjacency)

    def batch_size(self) -> int:
        """``[train] batch_size``, or larger where a full-graph epoch would take more than
        ``[train] max_steps_per_epoch`` steps. A sampled step costs what its batch samples,
        so sampled training keeps the configured batch (and its memory bound). The global
        batch: a rank's is ``1 / world.size`` of it."""
        if self.sampler is not None:
            return self.config.batch_size
        return max(self.config.batch_size, -(-self.pairs.size(1) // self.config.max_steps_per_epoch))

    def epoch_order(self) -> Tensor:
        """The interactions (indices into the training pairs) this rank trains on in the
        next epoch, in order: a permutation of all of them in one process; in a process
        group, this rank's shard of a permutation the ranks share (disjoint shards of
        equal length, the last ``< size`` interactions of the permutation left out, so
        every rank takes as many steps)."""
        count = self.pairs.size(1)
        if self.world.size == 1:
            return torch.randperm(count, generator=self.generator)
        from torch.utils.data.distributed import DistributedSampler

        shard = DistributedSampler(range(count), num_replicas=self.world.size, rank=self.world.rank, shuffle=True,
                                   seed=self.seed, drop_last=True)
        shard.set_epoch(self.epochs_done)
        return torch.tensor(list(shard), dtype=torch.long)

    def train_epoch(self) -> dict[str, float]:
        self.model.train()
        order = self.epoch_order()
        batch = -(-self.batch_size() // self.world.size)
        losses = [self.step(order[start:start + batch]) for start in range(0, order.numel(), batch)]
        self.epochs_done += 1
        return {"loss": sum(losses) / max(len(losses), 1)}
