"""``Recommender``: one facade over the library (fit, recommend, cold start, explain, save).

Example (the demo dataset ships with the package, no download needed)::

    >>> from kg_recsys import Recommender, MemoryStore, RecommenderConfig
    >>> from ingest import ingest_source
    >>> store = MemoryStore()
    >>> _ = ingest_source("demo", store, progress=False)
    >>> rec = Recommender(RecommenderConfig.from_dict({"train": {"epochs": 3, "progress": False}})).fit(store)
    >>> ids, scores = rec.recommend("u0", k=5)
    >>> len(ids), bool(scores[0] >= scores[-1])
    (5, True)
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from kg_recsys.config import RecommenderConfig
from kg_recsys.graph import GraphLayout
from kg_recsys.nn import KGRecGNN, average_of
from kg_recsys.recall import mask_seen
from kg_recsys.schema import (
    DEFAULT_SCENARIO, ENTITY, INTERACTED, ITEM, SAME_AS, USER, attribute_entity_id, check_id,
)
from kg_recsys.store.base import GraphSnapshot, GraphStore, Recommendation
from kg_recsys.text import TextEncoder, snapshot_text_vectors
from kg_recsys.training.pipeline import (
    NODE_TYPES, FittedModel, fit_model, new_ranker, rank_candidates, rank_recall, scoring_view,
)

_FORMAT_VERSION = 3  # 2: neighbourhood features and a scaler in the ranker; 3: ranker members


class UnknownUserError(KeyError):
    """A user the model has never seen, with ``unknown_user = "error"`` configured."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class PathStep:
    label: str
    id: str
    text: str


@dataclass(frozen=True)
class ExplanationPath:
    """``nodes[i]`` and ``nodes[i + 1]`` are joined by ``relations[i]``; ``forward[i]`` says
    whether that relationship points from ``nodes[i]`` to ``nodes[i + 1]``."""

    nodes: tuple[PathStep, ...]
    relations: tuple[str, ...]
    forward: tuple[bool, ...]
    weight: float

    def __str__(self) -> str:
        parts = [f"{self.nodes[0].label}:{self.nodes[0].id}"]
        for step, relation, forward in zip(self.nodes[1:], self.relations, self.forward):
            arrow = f"-[{relation}]->" if forward else f"<-[{relation}]-"
            name = f" ({step.text[:40]})" if step.text else ""
            parts.append(f"{arrow} {step.label}:{step.id}{name}")
        return " ".join(parts)


@dataclass(frozen=True)
class Explanation:
    user_id: str
    item_id: str
    #: Dot product of the user and item vectors (the recall stage).
    recall_score: float
    #: The ranker's score for the pair (``None`` without a ranker).
    rank_score: float | None
    paths: tuple[ExplanationPath, ...] = field(default_factory=tuple)


class Recommender:
    """Fit on a :class:`~kg_recsys.store.base.GraphStore`, then recommend, serve cold users
    and items, explain and save.

    Args:
        config: :class:`~kg_recsys.config.RecommenderConfig`. (default: ``RecommenderConfig()``)
    """

    def __init__(self, config: RecommenderConfig | None = None) -> None:
        self.config = config or RecommenderConfig()
        self.fitted: FittedModel | None = None
        self.store: GraphStore | None = None
        self._encoder: TextEncoder | None = None

    def __repr__(self) -> str:
        state = "unfitted" if self.fitted is None else \
            f"users={len(self.snapshot.users)}, items={len(self.snapshot.items)}"
        return f"Recommender({state})"

    # ------------------------------------------------------------------ fitting
    @property
    def encoder(self) -> TextEncoder:
        if self._encoder is None:
            self._encoder = TextEncoder(self.config.text, progress=self.config.train.progress)
        return self._encoder

    def _text_vectors(self, snapshot: GraphSnapshot) -> dict[str, np.ndarray] | None:
        return snapshot_text_vectors(snapshot, self.encoder) if self.config.model.use_text else None

    def fit(self, store: GraphStore) -> "Recommender":
        """Train on everything in ``store``; returns ``self``."""
        self.store = store
        snapshot = store.snapshot()
        if len(snapshot.interactions) == 0:
            raise ValueError("the store has no interactions to learn from; ingest some first (kgrec ingest ...)")
        self.fitted = fit_model(snapshot, self.config, self._text_vectors(snapshot))
        self._refresh(snapshot)
        return self

    def _refresh(self, snapshot: GraphSnapshot | None = None) -> None:
        """Re-embed the graph by a forward pass: how new nodes become recommendable."""
        self.snapshot = snapshot if snapshot is not None else self.store.snapshot()
        self._view = scoring_view(self._require_fitted(), self.snapshot, self._text_vectors(self.snapshot))
        self.vectors = self._view.z
        self._user_row = self.snapshot.users.index()
        self._item_row = self.snapshot.items.index()
        self._item_scenario = self._view.item_scenario - 1  # -1 = unknown scenario
        self._popularity = np.bincount(self.snapshot.interactions.item, minlength=len(self.snapshot.items))

    def _require_fitted(self) -> FittedModel:
        if self.fitted is None:
            raise RuntimeError("the recommender is not fitted: call fit(store) or Recommender.load(path, store)")
        return self.fitted

    # ------------------------------------------------------------------ recommending
    def _candidates(self, scenario: str | None) -> np.ndarray:
        if scenario is None:
            return np.arange(len(self.snapshot.items))
        if scenario not in self.fitted.scenarios:
            raise ValueError(f"unknown scenario {scenario!r}; known: {list(self.fitted.scenarios)}")
        return np.flatnonzero(self._item_scenario == self.fitted.scenarios.index(scenario))

    def _top_k(self, user_vectors: torch.Tensor, users: np.ndarray | None, k: int, scenario: str | None,
               exclude_seen: bool) -> tuple[np.ndarray, np.ndarray]:
        candidates = self._candidates(scenario)
        with torch.no_grad():
            recall = (user_vectors @ self.vectors["item"][torch.from_numpy(candidates)].T).numpy()
        if exclude_seen and users is not None:
            inter = self.snapshot.interactions
            mask_seen(recall, users, candidates, len(self.snapshot.items), inter.user, inter.item)
        if self.fitted.ranker is not None and users is not None and len(candidates):
            # The same candidates and order as in evaluation: the ranker's over best recall
            # and most popular first, then the rest by recall score (stable sorts).
            ranked, is_candidate = rank_recall(self.fitted, self._view, users, candidates, recall)
            top = np.lexsort((-ranked, ~is_candidate), axis=1)[:, :k]
            scores = np.take_along_axis(ranked, top, axis=1)
        else:
            top = np.argsort(-recall, axis=1, kind="stable")[:, :k]
            scores = np.take_along_axis(recall, top, axis=1)
        top, scores = top[:, :k], scores[:, :k]
        ids = self.snapshot.items.ids[candidates[top]]
        return np.where(np.isfinite(scores), ids, ""), scores

    def _popular(self, k: int, scenario: str | None) -> tuple[np.ndarray, np.ndarray]:
        candidates = self._candidates(scenario)
        order = candidates[np.argsort(-self._popularity[candidates], kind="stable")[:k]]
        return self.snapshot.items.ids[order], self._popularity[order].astype(np.float32)

    def recommend(self, user_ids: str | Sequence[str], k: int = 10, scenario: str | None = None,
                  exclude_seen: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` item ids and scores for one user (1-D arrays) or a batch (``[U, k]``).

        An unknown user gets the configured fallback (``unknown_user``): the most popular
        items, or an :class:`UnknownUserError` that says what to do.
        """
        self._require_fitted()
        single = isinstance(user_ids, str)
        batch = [user_ids] if single else list(user_ids)
        ids = np.full((len(batch), k), "", dtype=object)
        scores = np.full((len(batch), k), -np.inf, dtype=np.float32)
        known = [(r, self._user_row[u]) for r, u in enumerate(batch) if u in self._user_row]
        for r, u in enumerate(batch):
            if u not in self._user_row:
                if self.config.unknown_user == "error":
                    raise UnknownUserError(f"unknown user {u!r}: add it with add_users(), serve it with "
                                           "recommend_for_text(), or set unknown_user = 'popularity'")
                found, value = self._popular(k, scenario)
                ids[r, :len(found)], scores[r, :len(found)] = found, value
        if known:
            rows, users = map(np.array, zip(*known))
            found, value = self._top_k(self.vectors["user"][torch.from_numpy(users)], users, k, scenario, exclude_seen)
            ids[rows, :found.shape[1]], scores[rows, :found.shape[1]] = found, value
        ids = ids.astype(str)
        return (ids[0], scores[0]) if single else (ids, scores)

    def recommend_for_text(self, profile_text: str, k: int = 10, scenario: str | None = None
                           ) -> tuple[np.ndarray, np.ndarray]:
        """Serve a user known only by a description or search history (no id, no history)."""
        self._require_fitted()
        if not profile_text.strip():
            raise ValueError("profile_text is empty")
        user = self._text_vectors_for([profile_text])
        z = self.fitted.gnn.initial({"user": user, "item": user[:0], "entity": user[:0]},
                                    {"user": torch.tensor([-1]), "item": torch.zeros(0, dtype=torch.long),
                                     "entity": torch.zeros(0, dtype=torch.long)})["user"]
        # A text-only user has no edges, so layer 0 is all there is; the GNN averages its
        # layers, and an isolated node keeps the same vector in each (residual, no messages).
        ids, scores = self._top_k(z.detach(), None, k, scenario, exclude_seen=False)
        return ids[0], scores[0]

    def _text_vectors_for(self, texts: list[str]) -> torch.Tensor:
        if not self.config.model.use_text:
            return torch.zeros(len(texts), 1)
        return torch.from_numpy(self.encoder.encode(texts))

    def similar_items(self, item_id: str, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Items nearest to ``item_id`` by cosine of their vectors (itself excluded)."""
        self._require_fitted()
        if item_id not in self._item_row:
            raise KeyError(f"unknown item {item_id!r}")
        vectors = torch.nn.functional.normalize(self.vectors["item"], dim=-1)
        scores = (vectors @ vectors[self._item_row[item_id]]).numpy()
        scores[self._item_row[item_id]] = -np.inf
        top = np.argsort(-scores, kind="stable")[:k]
        return self.snapshot.items.ids[top], scores[top]

    # ------------------------------------------------------------------ cold start
    def add_items(self, rows: Iterable[dict]) -> None:
        """Add items (``item_id``, ``text``, ``scenario``, ``attributes: {name: value or
        [values]}``, ``links: [entity ids]``) to the store and make them recommendable at
        once, by a forward pass and without retraining."""
        self._add(ITEM, "item_id", rows)

    def add_users(self, rows: Iterable[dict]) -> None:
        """Add users (``user_id``, ``text``, ``attributes``, ``interactions: [item ids]``
        with optional ``scenario``) without retraining."""
        self._add(USER, "user_id", rows)

    def _add(self, label: str, key: str, rows: Iterable[dict]) -> None:
        self._require_fitted()
        nodes, relations, interactions = [], [], []
        for row in rows:
            node_id = check_id(row[key])
            nodes.append({"id": node_id, "text": row.get("text"), "scenario": row.get("scenario")})
            for attribute, values in (row.get("attributes") or {}).items():
                for value in values if isinstance(values, (list, tuple)) else [values]:
                    relations.append({"src_label": label, "src_id": node_id, "relation": attribute,
                                      "dst_label": ENTITY, "dst_id": attribute_entity_id(attribute, str(value))})
            for entity in row.get("links") or []:
                relations.append({"src_label": ITEM, "src_id": node_id, "relation": SAME_AS,
                                  "dst_label": ENTITY, "dst_id": check_id(entity)})
            for item in row.get("interactions") or []:
                interactions.append({"user_id": node_id, "item_id": check_id(item),
                                     "scenario": row.get("scenario") or DEFAULT_SCENARIO})
        self.store.upsert_nodes(label, nodes)
        if relations:
            # Attribute entities need their value as text to carry meaning for new nodes.
            self.store.upsert_nodes(ENTITY, [{"id": r["dst_id"], "text": r["dst_id"].split("=", 1)[-1]}
                                             for r in relations if r["relation"] != SAME_AS])
            self.store.upsert_relations(relations)
        if interactions:
            self.store.upsert_interactions(interactions)
        self._refresh()

    # ------------------------------------------------------------------ explanations
    def explain(self, user_id: str, item_id: str, max_paths: int = 5) -> Explanation:
        """The graph paths that tie ``user_id`` to ``item_id``, strongest first, with the
        score split into its recall and ranking parts. Every hop is a relationship that
        exists in the store."""
        self._require_fitted()
        if user_id not in self._user_row or item_id not in self._item_row:
            raise KeyError(f"unknown user {user_id!r} or item {item_id!r}")
        u, i = self._user_row[user_id], self._item_row[item_id]
        zu, zi = self.vectors["user"][u], self.vectors["item"][i]
        recall_score = float(zu @ zi)
        rank_score = None
        if self.fitted.ranker is not None:
            rank_score = float(rank_candidates(self.fitted, self._view, np.array([u]),
                                               np.array([[i]]), np.array([[recall_score]]))[0, 0])
        return Explanation(user_id, item_id, recall_score, rank_score, tuple(self._paths(u, i, max_paths)))

    def _step(self, label: str, row: int) -> PathStep:
        table = self.snapshot.nodes(label)
        return PathStep(label, str(table.ids[row]), str(table.text[row]))

    def _paths(self, u: int, i: int, max_paths: int) -> list[ExplanationPath]:
        snap, z = self.snapshot, self.vectors
        inter = snap.interactions
        history = np.unique(inter.item[inter.user == u])
        history = history[history != i]
        item_vectors = torch.nn.functional.normalize(z["item"], dim=-1)
        closeness = (item_vectors[torch.from_numpy(history)] @ item_vectors[i]).numpy() if len(history) else []
        weight = dict(zip(history.tolist(), np.asarray(closeness, dtype=float).tolist()))
        user_step, target = self._step(USER, u), self._step(ITEM, i)
        # Item -> entity links (attributes, SAME_AS) of the target and of the history.
        links: dict[int, list[tuple[str, int]]] = {}
        for (src, relation, dst), (a, b) in snap.relations.items():
            if src == ITEM and dst == ENTITY:
                for item, entity in zip(a.tolist(), b.tolist()):
                    links.setdefault(item, []).append((relation, entity))
        target_links = links.get(i, [])
        degree = np.bincount(np.concatenate([b for (s, _, d), (_, b) in snap.relations.items()
                                             if s == ITEM and d == ENTITY] or [np.zeros(0, np.int64)]),
                             minlength=len(snap.entities))
        paths = []
        for h, closeness_h in weight.items():
            history_step = self._step(ITEM, h)
            shared = {(r, e) for r, e in links.get(h, [])} & set(target_links)
            for relation, entity in shared:
                # Rarer shared entities say more (an idf-like weight).
                strength = closeness_h + 1.0 / np.log2(2 + degree[entity])
                paths.append(ExplanationPath((user_step, history_step, self._step(ENTITY, entity), target),
                                             (INTERACTED, relation, relation), (True, True, False), strength))
        # Collaborative paths: user -> history item <- other user -> target.
        takers = set(inter.user[inter.item == i].tolist()) - {u}
        if takers:
            for h in sorted(weight, key=weight.get, reverse=True)[:20]:
                for other in sorted(takers & set(inter.user[inter.item == h].tolist()))[:2]:
                    paths.append(ExplanationPath((user_step, self._step(ITEM, h), self._step(USER, other), target),
                                                 (INTERACTED, INTERACTED, INTERACTED), (True, False, True),
                                                 weight[h]))
        # User attribute / relation paths: user -> entity <- item (a shared attribute).
        for (src, relation, dst), (a, b) in snap.relations.items():
            if src == USER and dst == ENTITY:
                mine = set(b[a == u].tolist())
                for relation_i, entity in target_links:
                    if entity in mine:
                        paths.append(ExplanationPath((user_step, self._step(ENTITY, entity), target),
                                                     (relation, relation_i), (True, False), 1.0))
        paths.sort(key=lambda p: -p.weight)
        unique, seen = [], set()
        for path in paths:
            key = tuple((s.label, s.id) for s in path.nodes)
            if key not in seen:
                seen.add(key)
                unique.append(path)
        return unique[:max_paths]

    # ------------------------------------------------------------------ write-back
    def write_back(self, k: int = 10, model: str = "kg_recsys", at: str | None = None) -> int:
        """Write item and user vectors, and every user's top-``k`` as RECOMMENDED
        relationships, to the store (replacing this model's earlier ones). Returns the
        number of recommendations written."""
        from datetime import datetime, timezone

        self._require_fitted()
        at = at or datetime.now(timezone.utc).isoformat(timespec="seconds")
        for label, node_type in ((ITEM, "item"), (USER, "user")):
            self.store.write_vectors(label, self.snapshot.nodes(label).ids.tolist(), self.vectors[node_type].numpy())
        users = self.snapshot.users.ids.tolist()
        written = 0
        for start in range(0, len(users), 1000):
            chunk = users[start:start + 1000]
            ids, scores = self.recommend(chunk, k=k)
            rows = [Recommendation(user, str(item), float(score), rank + 1)
                    for user, user_ids, user_scores in zip(chunk, ids, scores)
                    for rank, (item, score) in enumerate(zip(user_ids, user_scores)) if item]
            self.store.replace_recommendations(model, rows, at)
            written += len(rows)
        return written

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Save to a folder: ``model.safetensors`` (tensors only) and ``model.json``."""
        from safetensors.torch import save_file

        fitted = self._require_fitted()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {f"gnn.{k}": v.contiguous() for k, v in fitted.gnn.state_dict().items()}
        if fitted.ranker is not None:
            tensors.update({f"ranker.{k}": v.contiguous() for k, v in fitted.ranker.state_dict().items()})
        save_file(tensors, str(folder / "model.safetensors"))
        gnn = fitted.gnn
        meta = {
            "format": _FORMAT_VERSION, "config": self.config.to_dict(), "layout": fitted.layout.to_dict(),
            "trained_ids": {t: fitted.trained_ids[t].tolist() for t in NODE_TYPES},
            "gnn": {"text_dim": gnn.text_dim, "num_layers": gnn.num_layers,
                    "num_ids": gnn.num_ids},
            "ranker": fitted.ranker is not None, "history": fitted.history,
            "ranker_history": fitted.ranker_history,
        }
        (folder / "model.json").write_text(json.dumps(meta))

    @staticmethod
    def load(path: str | Path, store: GraphStore) -> "Recommender":
        """Load a folder written by :meth:`save` (no pickle anywhere) onto ``store``."""
        from safetensors.torch import load_file

        folder = Path(path)
        meta = json.loads((folder / "model.json").read_text())
        if meta.get("format") != _FORMAT_VERSION:
            raise ValueError(f"{folder}: model format {meta.get('format')} is not {_FORMAT_VERSION} "
                             "(saved by another kg-recsys version); train it again with `kgrec train`")
        config = RecommenderConfig.from_dict(meta["config"])
        layout = GraphLayout.from_dict(meta["layout"])
        m = config.model
        gnn = KGRecGNN(NODE_TYPES, layout.edge_types, meta["gnn"]["num_ids"], text_dim=meta["gnn"]["text_dim"],
                       hidden_dim=m.hidden_dim, num_layers=meta["gnn"]["num_layers"], use_text=m.use_text,
                       use_id_embeddings=m.use_id_embeddings, dropout=m.dropout)
        tensors = load_file(str(folder / "model.safetensors"))
        gnn.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("gnn.")})
        ranker = None
        if meta["ranker"]:
            ranker = average_of([new_ranker(config, len(layout.scenarios)) for _ in range(config.rank.draws)])
            ranker.load_state_dict({k[7:]: v for k, v in tensors.items() if k.startswith("ranker.")})
        trained = {t: np.asarray(ids, dtype=str) for t, ids in meta["trained_ids"].items()}
        recommender = Recommender(config)
        recommender.fitted = FittedModel(config, layout, gnn, ranker, trained, meta.get("history", []),
                                         meta.get("ranker_history", []))
        recommender.store = store
        recommender._refresh()
        return recommender
