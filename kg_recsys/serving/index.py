"""The serving index: what answering a request needs, computed once per graph.

It holds the final user and item vectors, the per-user and per-item statistics behind the
ranker's features, each item's scenario, each user's seen items and the id maps. ``fit``
builds it by one forward pass; :meth:`ServingIndex.save` writes it as an ``.npz`` of plain
arrays (loaded with ``allow_pickle=False``), so loading a model needs no store snapshot,
no GNN forward pass and no text model.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from kg_recsys.config import RECALL_CHANNELS
from kg_recsys.content import (ease_inverse, history_matrix, item_entity_tfidf, user_entity_profiles,
                               user_neighbours)
from kg_recsys.model import FittedModel, embed, item_scenarios
from kg_recsys.schema import ITEM, USER
from kg_recsys.store.base import GraphSnapshot

#: Characters of item text kept for display (``kgrec recommend`` prints it).
DISPLAY_TEXT = 120


@dataclass
class ServingIndex:
    """Vectors, statistics and id maps of one graph (see the module docstring).

    Shapes: ``U`` users, ``I`` items, ``d`` vector size, ``S`` scenarios.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    #: ``[U, d]`` and ``[I, d]``: the GNN's output vectors.
    user_vectors: Tensor
    item_vectors: Tensor
    #: Scenario index + 1 per item (0 = unknown): the ranker's scenario embedding input.
    item_scenario: np.ndarray
    #: Interactions per item (the popularity fallback), and its ``log1p / 5`` (a feature).
    item_count: np.ndarray
    item_popularity: np.ndarray
    user_activity: np.ndarray
    #: ``log1p / 5`` of each user's interactions per scenario index + 1 (column 0: unknown),
    #: so the ranker knows when a user is new to the scenario of the item: ``[U, S + 1]``.
    user_scenario_activity: np.ndarray
    #: ``[U, I]`` 0/1: the items each user has in the graph (left out of recommendations).
    seen: sp.csr_matrix
    #: Item text, cut to :data:`DISPLAY_TEXT` characters.
    item_text: np.ndarray
    #: L2-normalised text profile per user (own text + mean text of the history), and the
    #: item text vectors; ``None`` without text features.
    user_text_vectors: np.ndarray | None = None
    item_text_vectors: np.ndarray | None = None
    #: TF-IDF bags of the entities each item links to, and each user's profile over them
    #: (see :mod:`kg_recsys.content`); ``None`` without KG features.
    user_entities: sp.csr_matrix | None = None
    item_entities: sp.csr_matrix | None = None
    #: Each user's most similar users by shared history, weights summing to 1 (``[U, U]``);
    #: ``None`` when ``[rank] neighbours = 0``.
    user_neighbours: sp.csr_matrix | None = None
    #: Each user's history ([U, I], rows summing to 1) and each item's most similar items by
    #: shared users ([I, I], row h: the weights of the items near h).
    user_history: sp.csr_matrix | None = None
    item_neighbours: sp.csr_matrix | None = None
    #: EASE's inverse Gram matrix ``[I, I]`` of ``seen`` (the item-item channel, see
    #: :func:`kg_recsys.content.ease_inverse`); ``None`` when ``[recall] channels`` lacks ``item_item``
    #: or the catalogue is above ``item_item_max_items``.
    item_item: np.ndarray | None = None
    #: The recall channels this index serves (``[recall] channels`` less those the data
    #: cannot serve: ``item_item`` without its matrix, ``text`` without text vectors).
    channels: tuple[str, ...] = RECALL_CHANNELS
    #: Every item by falling popularity (ties to the lower row), sorted at first use; not saved.
    _popularity_order: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    #: ``item_entities`` transposed, as CSR, made at first use; not saved.
    _entity_items: sp.csr_matrix | None = field(default=None, init=False, repr=False, compare=False)
    #: Each item's popularity within its scenario, computed at first use; not saved.
    _scenario_popularity: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    #: Which items have a text vector (the text channel places only those); not saved.
    _has_text: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.channels = tuple(str(c) for c in np.asarray(self.channels).ravel().tolist())

    def entity_items(self) -> sp.csr_matrix:
        """``item_entities.T`` as CSR (``[entities, I]``), made once: converting it cost
        0.7 ms of every ml-1m request. (Live updates leave ``item_entities`` as it is.)"""
        if self._entity_items is None:
            self._entity_items = sp.csr_matrix(self.item_entities.T)
        return self._entity_items

    def popularity_order(self) -> np.ndarray:
        """Item rows by falling ``item_popularity``, ties to the lower row (one sort, kept
        until :meth:`popularity_changed`)."""
        if self._popularity_order is None:
            self._popularity_order = np.argsort(-self.item_popularity, kind="stable")
        return self._popularity_order

    def popularity_changed(self) -> None:
        """Call after changing ``item_popularity`` in place."""
        self._popularity_order = self._scenario_popularity = None

    def scenario_popularity(self) -> np.ndarray:
        """``[I]``: ``log1p`` of each item's interactions over that of the most popular item of
        its scenario, in ``[0, 1]``: a ranker feature that compares items of scenarios of
        different sizes (Douban's book and movie catalogues) on one scale."""
        if self._scenario_popularity is None:
            counts = np.log1p(self.item_count.astype(np.float64))
            top = np.zeros(int(self.item_scenario.max(initial=0)) + 1)
            np.maximum.at(top, self.item_scenario, counts)
            self._scenario_popularity = (counts / np.maximum(top[self.item_scenario], 1e-9)).astype(np.float32)
        return self._scenario_popularity

    def has_text(self) -> np.ndarray:
        """``[I]`` bool: the items whose text vector is not zero (none without text vectors)."""
        if self._has_text is None:
            self._has_text = np.zeros(self.num_items, bool) if self.item_text_vectors is None else \
                np.abs(self.item_text_vectors).sum(axis=1) > 0
        return self._has_text

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    def user_rows(self) -> dict[str, int]:
        return {u: r for r, u in enumerate(self.user_ids.tolist())}

    def item_rows(self) -> dict[str, int]:
        return {i: r for r, i in enumerate(self.item_ids.tolist())}

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write the index as one ``.npz`` of plain arrays (sparse matrices as their CSR parts)."""
        arrays: dict[str, np.ndarray] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or f.name.startswith("_"):
                continue
            if sp.issparse(value):
                csr = value.tocsr()
                arrays.update({f"{f.name}.data": csr.data, f"{f.name}.indices": csr.indices,
                               f"{f.name}.indptr": csr.indptr, f"{f.name}.shape": np.array(csr.shape, np.int64)})
            elif f.name == "channels":
                arrays[f.name] = np.array(value, dtype=str).reshape(-1)
            elif isinstance(value, Tensor):
                arrays[f.name] = value.detach().numpy()
            else:
                arrays[f.name] = np.asarray(value)
        for name in ("user_ids", "item_ids", "item_text"):
            arrays[name] = arrays[name].astype(str)  # fixed-width unicode: loads without pickle
        with open(path, "wb") as handle:
            np.savez(handle, **arrays)

    @staticmethod
    def load(path: str | Path) -> "ServingIndex":
        """Read an index written by :meth:`save` (``allow_pickle=False``)."""
        with np.load(path, allow_pickle=False) as archive:
            stored = {name: archive[name] for name in archive.files}
        values = {}
        for f in fields(ServingIndex):
            if f.name.startswith("_"):
                continue
            if f"{f.name}.indptr" in stored:
                shape = tuple(stored[f"{f.name}.shape"].tolist())
                values[f.name] = sp.csr_matrix((stored[f"{f.name}.data"], stored[f"{f.name}.indices"],
                                                stored[f"{f.name}.indptr"]), shape=shape)
            elif f.name in stored:
                values[f.name] = stored[f.name]
        for name in ("user_vectors", "item_vectors"):
            values[name] = torch.from_numpy(values[name])
        return ServingIndex(**values)


def build_index(fitted: FittedModel, snapshot: GraphSnapshot, text_vectors: dict[str, np.ndarray] | None,
                *, drop_item_ids: np.ndarray | None = None, vectors: dict[str, Tensor] | None = None) -> ServingIndex:
    """The index of ``snapshot``: a forward pass (unless ``vectors`` are given) and the
    statistics of its interactions.

    Args:
        drop_item_ids: items made cold for the forward pass (the ranker's training views).
        vectors: the GNN's output for ``snapshot``, if already computed.
    """
    z = embed(fitted, snapshot, text_vectors, drop_item_ids=drop_item_ids) if vectors is None else vectors
    config = fitted.config
    inter = snapshot.interactions
    num_users, num_items = len(snapshot.users), len(snapshot.items)
    history = history_matrix(inter, num_users, num_items)
    user_text = item_text = None
    if config.model.use_text and text_vectors is not None:
        item_text = text_vectors[ITEM]
        # Own text plus the mean text of the history, every interaction counted: one sparse
        # product (np.add.at over the interactions took 1.7 s of 2.9 on ml-100k-kg).
        per_interaction = sp.csr_matrix((np.ones(len(inter), np.float32), (inter.user, inter.item)),
                                        shape=(num_users, num_items))
        counts = np.asarray(per_interaction.sum(axis=1)).ravel()
        mean_text = sp.diags(1.0 / np.maximum(counts, 1.0)).astype(np.float32) @ per_interaction @ item_text
        profile = text_vectors[USER].astype(np.float32) + np.asarray(mean_text, np.float32)
        user_text = profile / np.maximum(np.linalg.norm(profile, axis=1, keepdims=True), 1e-9)
    user_entities = item_entities = None
    if config.model.use_kg:
        item_entities = item_entity_tfidf(snapshot)
        user_entities = user_entity_profiles(history, item_entities)
    neighbours = item_neighbours = user_history = None
    if config.rank.neighbours:
        neighbours = user_neighbours(history, config.rank.neighbours)
        item_neighbours = user_neighbours(sp.csr_matrix(history.T), config.rank.neighbours)
        counts = np.asarray(history.sum(axis=1)).ravel()
        user_history = sp.csr_matrix(sp.diags(1.0 / np.maximum(counts, 1.0)) @ history)
    item_item = None
    if "item_item" in config.recall.channels and num_items <= config.recall.item_item_max_items:
        item_item = ease_inverse(history, config.recall.item_item_lambda)
    servable = {"item_item": item_item is not None, "text": user_text is not None}
    channels = tuple(c for c in config.recall.channels if servable.get(c, True))
    item_scenario = item_scenarios(snapshot, fitted.scenarios) + 1
    width = len(fitted.scenarios) + 1
    per_scenario = np.bincount(inter.user * width + item_scenario[inter.item],
                               minlength=num_users * width).reshape(num_users, width).astype(np.float32)
    item_count = np.bincount(inter.item, minlength=num_items)
    return ServingIndex(
        user_ids=snapshot.users.ids, item_ids=snapshot.items.ids, user_vectors=z["user"], item_vectors=z["item"],
        item_scenario=item_scenario, item_count=item_count,
        item_popularity=np.log1p(item_count).astype(np.float32) / 5.0,
        user_activity=np.log1p(np.bincount(inter.user, minlength=num_users)).astype(np.float32) / 5.0,
        user_scenario_activity=np.log1p(per_scenario) / 5.0, seen=history,
        item_text=np.array([str(t)[:DISPLAY_TEXT] for t in snapshot.items.text.tolist()], dtype=str),
        user_text_vectors=user_text, item_text_vectors=item_text, user_entities=user_entities,
        item_entities=item_entities, user_neighbours=neighbours, user_history=user_history,
        item_neighbours=item_neighbours, item_item=item_item, channels=channels)
