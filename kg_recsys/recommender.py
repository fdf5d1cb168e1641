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

import time
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from kg_recsys.config import RecommenderConfig
from kg_recsys.explanations import (  # noqa: F401  (Explanation* are re-exported here)
    Explanation, Interest, PathStep, display_name, explanation_paths, user_interests,
)
from kg_recsys.model import CheckpointError, FittedModel, load_checkpoint, read_meta, save_checkpoint
from kg_recsys.schema import (
    DEFAULT_KIND, DEFAULT_SCENARIO, ENTITY, ITEM, SAME_AS, USER, attribute_entity_id, check_id, check_relation_name,
)
from kg_recsys.serving import ServingIndex, build_index, rank_candidates, top_k
from kg_recsys.serving.diversity import mmr_order
from kg_recsys.serving.ranking import pair_ranks, popularity_order, serve_top_k
from kg_recsys.store.base import GraphSnapshot, GraphStore, Recommendation
from kg_recsys.threads import torch_threads

_INDEX_FILE = "index.npz"
#: Torch threads of a request, a batch too: its arithmetic is many small products and
#: element-wise steps, each a barrier where threads wait on each other, and on busy cores
#: they cost more than they save (single-user recommend over 2,000 items, 2 busy cores:
#: 42 ms with 2 threads, 6.5 ms with 1; a 1,000-user batch over 100,000 items at load
#: average 8: 71 to 94 users/s with 2 threads, 280 to 301 with 1). More throughput comes
#: from serving requests side by side.
REQUEST_THREADS = 1


def _check_k(value: int, name: str, most: int) -> None:
    """A count argument in ``1..max(most, 1)``, else a ValueError that names it."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not 1 <= value <= max(most, 1):
        raise ValueError(f"{name} must be an integer in 1..{max(most, 1)}, got {value!r}")


class UnknownUserError(KeyError):
    """A user the model has never seen, with ``unknown_user = "error"`` configured."""

    def __str__(self) -> str:
        return str(self.args[0])


class Recommender:
    """Fit on a :class:`~kg_recsys.store.base.GraphStore`, then recommend, serve cold users
    and items, explain and save.

    Requests are answered from a :class:`~kg_recsys.serving.ServingIndex` (vectors and
    statistics written by ``fit`` and ``save``): no store snapshot, no GNN forward pass and
    no text model, which loads only for text input or new nodes.

    Args:
        config: :class:`~kg_recsys.config.RecommenderConfig`. (default: ``RecommenderConfig()``)
    """

    def __init__(self, config: RecommenderConfig | None = None) -> None:
        self.config = config or RecommenderConfig()
        self.fitted: FittedModel | None = None
        self.index: ServingIndex | None = None
        self.store: GraphStore | None = None
        self._snapshot: GraphSnapshot | None = None
        self._encoder = None
        self._live = None
        #: Seconds per stage of the last :meth:`fit` (snapshot, text, gnn, ranker, index).
        self.timings: dict[str, float] = {}

    def __repr__(self) -> str:
        state = "unfitted" if self.index is None else f"users={self.index.num_users}, items={self.index.num_items}"
        return f"Recommender({state})"

    # ------------------------------------------------------------------ fitting
    @property
    def encoder(self):
        """The text model, loaded at first use."""
        if self._encoder is None:
            from kg_recsys.text import TextEncoder

            self._encoder = TextEncoder(self.config.text, progress=self.config.train.progress)
        return self._encoder

    def _text_vectors(self, snapshot: GraphSnapshot) -> dict[str, np.ndarray] | None:
        if not self.config.model.use_text:
            return None
        from kg_recsys.text import snapshot_text_vectors

        return snapshot_text_vectors(snapshot, self.encoder)

    def fit(self, store: GraphStore) -> "Recommender":
        """Train on everything in ``store``: text vectors, the GNN, the ranker, the serving index.

        Args:
            store: the graph to learn from; new nodes and write-back go there too.

        Returns:
            ``self``, fitted (:attr:`timings` holds the seconds of each stage).

        In a ``torch.distributed`` process group (``kgrec train --nproc N``) every rank
        calls this: rank 0 reads the store and encodes the text and hands both to the
        others (one read of the store, and every rank holds the same rows in the same
        order), the ranks train the GNN together, and only rank 0 trains the ranker and
        builds the index; on the other ranks only :attr:`fitted` (the GNN) is set.
        """
        from kg_recsys.training import distributed, fit_model

        self.store = store
        clock = time.perf_counter()
        snapshot = distributed.from_main(store.snapshot)
        if len(snapshot.interactions) == 0:
            raise ValueError("the store has no interactions to learn from; ingest some first (kgrec ingest ...)")
        self.timings = {"snapshot": time.perf_counter() - clock}
        clock = time.perf_counter()
        text = distributed.from_main(lambda: self._text_vectors(snapshot))
        self.timings["text"] = time.perf_counter() - clock
        clock = time.perf_counter()
        self.fitted = fit_model(snapshot, self.config, text)
        fit_seconds = time.perf_counter() - clock
        gnn_seconds = self.fitted.history[-1]["seconds"] if self.fitted.history else 0.0
        self.timings.update(gnn=gnn_seconds, ranker=fit_seconds - gnn_seconds)
        if not distributed.current_world().is_main:  # rank 0 serves and saves; this rank helped train the GNN
            self.timings = {stage: round(seconds, 2) for stage, seconds in self.timings.items()}
            return self
        clock = time.perf_counter()
        self._reindex(snapshot, text)
        self.timings["index"] = time.perf_counter() - clock
        self.timings = {stage: round(seconds, 2) for stage, seconds in self.timings.items()}
        return self

    @classmethod
    def from_frames(cls, interactions, items=None, users=None, triples=None, links=None, entities=None, *,
                    config: RecommenderConfig | None = None, store: GraphStore | None = None,
                    progress: bool = False) -> "Recommender":
        """Ingest pandas DataFrames into a store and fit on it; returns the fitted recommender.

        The frames have the columns of the canonical folder's files (``interactions.csv``
        and the rest, see :mod:`ingest.canonical`) and go through the same checks: a bad row
        is rejected with its frame, row position and field, as a bad CSV line is. To see the
        ingestion summary, call :func:`ingest.frames.ingest_frames` and then :meth:`fit`.

        Args:
            interactions: ``user_id, item_id [, scenario, kind, weight, timestamp]``.
            items: ``item_id [, text, scenario]`` + attribute columns. (default: ``None``)
            users: ``user_id [, text]`` + attribute columns. (default: ``None``)
            triples: ``head, relation, tail``. (default: ``None``)
            links: ``item_id, entity_id``. (default: ``None``)
            entities: ``entity_id [, text]``. (default: ``None``)
            config: the recommender's settings. (default: ``RecommenderConfig()``)
            store: where the graph goes. (default: ``None``, a new in-memory
                :class:`~kg_recsys.store.memory.MemoryStore`)
            progress: show the ingestion's progress bar. (default: ``False``)

        Returns:
            A fitted :class:`Recommender` on ``store``.
        """
        from ingest.frames import ingest_frames
        from kg_recsys.store.memory import MemoryStore

        store = MemoryStore(None) if store is None else store
        ingest_frames(store, interactions, items, users, triples, links, entities, progress=progress)
        return cls(config).fit(store)

    def _reindex(self, snapshot: GraphSnapshot, text: dict[str, np.ndarray] | None = None) -> None:
        """Embed ``snapshot`` by a forward pass and serve from its index: how new nodes
        become recommendable."""
        text = self._text_vectors(snapshot) if text is None else text
        self._use_index(build_index(self._require_fitted(), snapshot, text))
        self._snapshot = snapshot

    def _use_index(self, index: ServingIndex) -> None:
        self.index = index
        self._live = None  # a live graph belongs to the index it updates
        self._user_row = index.user_rows()
        self._item_row = index.item_rows()
        self._all_items = np.arange(index.num_items)

    @property
    def snapshot(self) -> GraphSnapshot:
        """The store's graph, read at first use after a load (explanations walk it); after
        live updates, the live graph's."""
        if self._snapshot is None and self._live is not None:
            return self._live.snapshot
        if self._snapshot is None:
            self._snapshot = self._require_store().snapshot()
        return self._snapshot

    def _require_fitted(self) -> FittedModel:
        if self.fitted is None:
            raise RuntimeError("the recommender is not fitted: call fit(store) or Recommender.load(path, store)")
        return self.fitted

    def _require_store(self) -> GraphStore:
        if self.store is None:
            raise RuntimeError("this recommender has no store: load it with Recommender.load(path, store)")
        return self.store

    # ------------------------------------------------------------------ recommending
    def _candidates(self, scenario: str | None) -> np.ndarray:
        if scenario is None:
            return self._all_items
        if scenario not in self.fitted.scenarios:
            raise ValueError(f"unknown scenario {scenario!r}; known: {list(self.fitted.scenarios)}")
        return np.flatnonzero(self.index.item_scenario == self.fitted.scenarios.index(scenario) + 1)

    def _top_k(self, users: np.ndarray | None, k: int, scenario: str | None, exclude_seen: bool,
               user_vectors: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Item ids and scores ``[U, k]`` for index rows ``users`` (or for ``user_vectors``):
        the same candidates and order as in evaluation."""
        candidates = self._candidates(scenario)
        rank = self.config.rank
        depth = max(k, rank.diversity_depth) if rank.diversity > 0 else k
        top, scores = serve_top_k(self.fitted.ranker, self.index, np.zeros(0, np.int64) if users is None else users,
                                  candidates, depth, self.config.recall.num_candidates, exclude_seen=exclude_seen,
                                  user_vectors=user_vectors)
        if depth > k:  # MMR over the best `depth`; scores stay the model's, in the new order
            vectors = self.index.item_vectors.numpy()[candidates[np.maximum(top, 0)]]
            order = mmr_order(np.where(top >= 0, scores, -np.inf), vectors, rank.diversity)[:, :k]
            top, scores = np.take_along_axis(top, order, axis=1), np.take_along_axis(scores, order, axis=1)
        return np.where(top >= 0, self.index.item_ids[candidates[np.maximum(top, 0)]], ""), scores

    def _popular(self, k: int, scenario: str | None) -> np.ndarray:
        candidates = self._candidates(scenario)
        # item_popularity is log1p(item_count) / 5: the index's one sort orders both.
        return self.index.item_ids[candidates[popularity_order(self.index, candidates)[:k]]]

    def recommend(self, user_ids: str | Sequence[str], k: int = 10, scenario: str | None = None,
                  exclude_seen: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` item ids and scores for one user or a batch.

        An unknown user gets the configured fallback (``unknown_user``): the most popular
        items, with ``NaN`` scores (they have no model score, and popularity counts would
        not compare with the model's scores of the other rows), or an
        :class:`UnknownUserError` that says what to do.

        Args:
            user_ids: one user id, or a sequence of them.
            k: items per user, in ``1..`` the number of items. (default: ``10``)
            scenario: recommend only items of this scenario. (default: ``None``, all)
            exclude_seen: leave out items the user has. (default: ``True``)

        Returns:
            ``(ids, scores)``, best first, with the ranker's scores on the candidates, then
            recall scores (with ``[rank] diversity`` above 0, in the diversity order, each
            item keeping its score); ``""`` and ``-inf`` pad a user with fewer than ``k``
            items to offer.

        Shapes:
            one user: ``ids [k]`` (str), ``scores [k]`` (float32); ``U`` users: ``[U, k]`` each.
        """
        self._require_fitted()
        _check_k(k, "k", self.index.num_items)
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
                found = self._popular(k, scenario)
                ids[r, :len(found)], scores[r, :len(found)] = found, np.nan
        if known:
            rows, users = map(np.array, zip(*known))
            with torch_threads(REQUEST_THREADS):
                found, value = self._top_k(users, k, scenario, exclude_seen)
            ids[rows, :found.shape[1]], scores[rows, :found.shape[1]] = found, value
        ids = ids.astype(str)
        return (ids[0], scores[0]) if single else (ids, scores)

    def recommend_frame(self, user_ids: str | Sequence[str], k: int = 10, scenario: str | None = None,
                        exclude_seen: bool = True):
        """:meth:`recommend` as a pandas DataFrame, one row per recommendation.

        Args:
            user_ids: one user or several.
            k: recommendations per user. (default: ``10``)
            scenario: recommend only items of this scenario. (default: ``None``, all)
            exclude_seen: leave out items the user has. (default: ``True``)

        Returns:
            A DataFrame with the columns ``user_id``, ``rank`` (1 = best), ``item_id``,
            ``score`` (``NaN`` for an unknown user's popularity fallback) and ``scenario``
            (the item's, ``None`` where unknown), in the order of ``user_ids``. A user with
            fewer than ``k`` candidates has fewer rows.
        """
        from ingest.frames import import_pandas

        pandas = import_pandas()
        batch = [user_ids] if isinstance(user_ids, str) else list(user_ids)
        ids, scores = self.recommend(batch, k=k, scenario=scenario, exclude_seen=exclude_seen)
        names = np.array([None, *self.fitted.scenarios], dtype=object)
        rows, columns = np.nonzero(ids != "")
        found = ids[rows, columns]
        return pandas.DataFrame({
            "user_id": np.asarray(batch, dtype=object)[rows], "rank": columns + 1, "item_id": found,
            "score": scores[rows, columns].astype(np.float64),
            "scenario": names[self.index.item_scenario[[self._item_row[i] for i in found]]],
        })

    def recommend_for_text(self, profile_text: str, k: int = 10, scenario: str | None = None
                           ) -> tuple[np.ndarray, np.ndarray]:
        """Serve a user known only by a description or search history (no id, no history).

        The user's vector is the GNN's layer-0 vector of the text (its projection, no id
        embedding), which a node without edges keeps through every layer; it is scored
        against the items by dot product, and the ranker is skipped, having no statistics
        for such a user.

        Args:
            profile_text: the user's description; not empty.
            k: how many items. (default: ``10``)
            scenario: recommend only items of this scenario. (default: ``None``, all)

        Returns:
            ``(ids, scores)``, best first.

        Shapes:
            ``ids [k]`` (str), ``scores [k]`` (float32).
        """
        self._require_fitted()
        _check_k(k, "k", self.index.num_items)
        if not profile_text.strip():
            raise ValueError("profile_text is empty")
        user = self._text_vectors_for([profile_text])
        with torch.no_grad():
            z = self.fitted.gnn.initial({"user": user, "item": user[:0], "entity": user[:0]},
                                        {"user": torch.tensor([-1]), "item": torch.zeros(0, dtype=torch.long),
                                         "entity": torch.zeros(0, dtype=torch.long)})["user"]
        # A text-only user has no edges, so layer 0 is all there is; the GNN averages its
        # layers, and an isolated node keeps the same vector in each (residual, no messages).
        with torch_threads(REQUEST_THREADS):
            ids, scores = self._top_k(None, k, scenario, exclude_seen=False, user_vectors=z)
        return ids[0], scores[0]

    def _text_vectors_for(self, texts: list[str]) -> torch.Tensor:
        if not self.config.model.use_text:
            return torch.zeros(len(texts), 1)
        return torch.from_numpy(self.encoder.encode(texts))

    def similar_items(self, item_id: str, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Items nearest to ``item_id`` by cosine of their vectors (itself excluded).

        Args:
            item_id: an item of the model.
            k: how many items. (default: ``10``)

        Returns:
            ``(ids, scores)``, nearest first, scores the cosines.

        Shapes:
            ``ids [k]`` (str), ``scores [k]`` (float32); fewer where the catalogue is smaller.
        """
        self._require_fitted()
        _check_k(k, "k", self.index.num_items)
        if item_id not in self._item_row:
            raise KeyError(f"unknown item {item_id!r}")
        vectors = torch.nn.functional.normalize(self.index.item_vectors, dim=-1)
        scores = (vectors @ vectors[self._item_row[item_id]]).numpy()
        scores[self._item_row[item_id]] = -np.inf
        top, found = top_k(scores[None, :], k)
        keep = top[0] >= 0
        return self.index.item_ids[top[0][keep]], found[0][keep]

    # ------------------------------------------------------------------ cold start
    def add_items(self, rows: Iterable[dict]) -> None:
        """Add items to the store and make them recommendable at once, by a forward pass and
        without retraining.

        Args:
            rows: one dict per item: ``item_id``, and optionally ``text``, ``scenario``,
                ``attributes`` (``{name: value or [values]}``) and ``links`` (entity ids).
        """
        self._add(ITEM, "item_id", rows)

    def add_users(self, rows: Iterable[dict]) -> None:
        """Add users to the store and serve them at once, without retraining.

        Args:
            rows: one dict per user: ``user_id``, and optionally ``text``, ``attributes``
                (``{name: value or [values]}``), ``interactions`` (item ids) and their
                ``scenario``.
        """
        self._add(USER, "user_id", rows)

    def _add(self, label: str, key: str, rows: Iterable[dict]) -> None:
        self._require_fitted()
        store = self._require_store()
        # The whole request is checked (ids, attribute names) before the first write.
        nodes, relations, interactions = [], [], []
        for row in rows:
            node_id = check_id(row[key])
            nodes.append({"id": node_id, "text": row.get("text"), "scenario": row.get("scenario")})
            for attribute, values in (row.get("attributes") or {}).items():
                check_relation_name(attribute)
                for value in values if isinstance(values, (list, tuple)) else [values]:
                    relations.append({"src_label": label, "src_id": node_id, "relation": attribute,
                                      "dst_label": ENTITY, "dst_id": attribute_entity_id(attribute, str(value))})
            for entity in row.get("links") or []:
                relations.append({"src_label": ITEM, "src_id": node_id, "relation": SAME_AS,
                                  "dst_label": ENTITY, "dst_id": check_id(entity)})
            for item in row.get("interactions") or []:
                interactions.append({"user_id": node_id, "item_id": check_id(item),
                                     "scenario": row.get("scenario") or DEFAULT_SCENARIO})
        store.upsert_nodes(label, nodes)
        if relations:
            # Attribute entities need their value as text to carry meaning for new nodes.
            store.upsert_nodes(ENTITY, [{"id": r["dst_id"], "text": r["dst_id"].split("=", 1)[-1]}
                                             for r in relations if r["relation"] != SAME_AS])
            store.upsert_relations(relations)
        if interactions:
            store.upsert_interactions(interactions)
        self._reindex(store.snapshot())

    def add_interactions(self, user_id: str, item_ids: Sequence[str], scenario: str | None = None) -> None:
        """Record new interactions of a known user and serve them at once, without retraining.

        They are written to the store first (so nothing acknowledged is lost), then only the
        vectors they change are recomputed, by a forward pass over their k-hop subgraph
        (:mod:`kg_recsys.serving.live`), equal to a full re-embedding. The first call reads
        the store's graph once and keeps it in memory. Items the user already has are
        merged by the store (the same event) and change nothing.

        Args:
            user_id: a user of the model.
            item_ids: items of the model.
            scenario: the interactions' scenario (default: the model's only scenario, or
                ``"default"``).
        """
        from kg_recsys.serving.live import add_to_index
        from kg_recsys.store.base import InteractionTable

        fitted = self._require_fitted()
        store = self._require_store()
        if user_id not in self._user_row:
            raise KeyError(f"unknown user {user_id!r}: add it with add_users()")
        unknown = [i for i in item_ids if i not in self._item_row]
        if unknown:
            raise KeyError(f"unknown item(s) {', '.join(map(repr, unknown))}: add them with add_items()")
        if scenario is None:
            scenario = fitted.scenarios[0] if len(fitted.scenarios) == 1 else DEFAULT_SCENARIO
        if scenario not in fitted.scenarios:
            raise ValueError(f"unknown scenario {scenario!r}; known: {list(fitted.scenarios)}")
        live = self._live_graph()
        user = self._user_row[user_id]
        items = np.array(sorted({self._item_row[i] for i in item_ids}), np.int64)
        store.upsert_interactions([{"user_id": user_id, "item_id": str(self.index.item_ids[i]), "scenario": scenario}
                                   for i in items])
        items = items[np.asarray(self.index.seen[user, items].todense()).ravel() == 0] if len(items) else items
        if not len(items):
            return
        table = InteractionTable(np.full(len(items), user), items, np.full(len(items), scenario),
                                 np.full(len(items), DEFAULT_KIND), np.ones(len(items), np.float32),
                                 np.full(len(items), np.nan))
        with torch_threads(REQUEST_THREADS):  # small products on a few rows, as a request's
            live.add_interactions(user, items, scenario, table)
            add_to_index(self.index, live, user, items, scenario)
        self._snapshot = None  # the live graph's, joined when next read (see snapshot)

    def _live_graph(self):
        """The in-memory graph behind live updates, read from the store at first use (and
        the index rebuilt from it if the store has changed since the index was made)."""
        from kg_recsys.serving.live import LiveGraph

        if self._live is None:
            snapshot = self._require_store().snapshot()
            text = self._text_vectors(snapshot)
            if not (np.array_equal(snapshot.users.ids, self.index.user_ids)
                    and np.array_equal(snapshot.items.ids, self.index.item_ids)):
                self._reindex(snapshot, text)
            self._live = LiveGraph(self.fitted, snapshot, text)
        return self._live

    def forget_user(self, user_id: str) -> None:
        """Remove a user from the store (node, interactions, recommendations, vectors), from
        the text cache (its profile text) and from the model (its trained id embedding, which
        is zeroed), then re-embed the graph so that its interactions move no other vector.

        Args:
            user_id: the user's id.

        Raises:
            KeyError: the store has no such user.
        """
        fitted = self._require_fitted()
        store = self._require_store()
        snapshot = store.snapshot()
        users = snapshot.users.index()
        if user_id not in users:
            raise KeyError(f"unknown user {user_id!r}: not in the store")
        text = str(snapshot.users.text[users[user_id]])
        store.delete_user(user_id)
        if text and self.config.model.use_text:
            self.encoder.forget([text])
        trained = fitted.trained_ids["user"]
        rows = np.flatnonzero(trained == user_id)
        if len(rows):
            trained[rows] = ""
            id_emb = getattr(fitted.gnn, "id_emb", None)
            if id_emb is not None:
                with torch.no_grad():
                    id_emb["user"].weight[torch.from_numpy(rows)] = 0.0
        self._reindex(store.snapshot())

    # ------------------------------------------------------------------ explanations
    def explain(self, user_id: str, item_id: str, max_paths: int = 5) -> Explanation:
        """The graph paths that tie ``user_id`` to ``item_id``, strongest first, with the
        score split into its recall and ranking parts. Every hop is a relationship that
        exists in the store; :meth:`Explanation.text` says it in words.

        Path weights are graph-only and the same as ``graphs/queries/why_recommended.cypher``
        returns (see :mod:`kg_recsys.explanations`):

        - content ``u -INTERACTED-> h -R-> e <-R- item``: ``w(u, h) / k(e)``;
        - collaborative ``u -INTERACTED-> h <-INTERACTED- o -INTERACTED-> item``: ``w(u, h) / k(o)``;
        - profile ``u -R1-> e <-R2- item``: ``1 / k(e)``;

        where ``w(u, h)`` sums the weights of u's interactions with h, ``k(e)`` counts the
        Item -> e relationships and ``k(o)`` the distinct items o interacted with. Ties are
        ordered by kind, then node ids, then relation types.

        Args:
            user_id: a user the model knows.
            item_id: an item the model knows.
            max_paths: how many paths to keep, at most 10,000. (default: ``5``)

        Returns:
            An :class:`~kg_recsys.explanations.Explanation`.

        Raises:
            KeyError: an unknown user or item, or one no longer in the store.
        """
        self._require_fitted()
        _check_k(max_paths, "max_paths", 10_000)
        if user_id not in self._user_row:
            raise KeyError(f"unknown user {user_id!r}")
        if item_id not in self._item_row:
            raise KeyError(f"unknown item {item_id!r}")
        u, i = self._user_row[user_id], self._item_row[item_id]
        recall_score = float(self.index.user_vectors[u] @ self.index.item_vectors[i])
        rank_score = None
        if self.fitted.ranker is not None:
            ranks = pair_ranks(self.index, u, i, self.config.recall.num_candidates)
            rank_score = float(rank_candidates(self.fitted.ranker, self.index, np.array([u]),
                                               np.array([[i]]), np.array([[recall_score]]), ranks)[0, 0])
        users, items = self.snapshot.users.index(), self.snapshot.items.index()
        if user_id not in users or item_id not in items:
            raise KeyError(f"user {user_id!r} or item {item_id!r} is no longer in the store")
        row = items[item_id]
        paths = explanation_paths(self.snapshot, users[user_id], row, max_paths)
        name = display_name(PathStep(ITEM, item_id, str(self.snapshot.items.text[row])))
        return Explanation(user_id, item_id, recall_score, rank_score, tuple(paths), name)

    def interests(self, user_id: str, k: int = 10) -> list[Interest]:
        """The ``k`` entities (attribute values, KG nodes) that ``user_id``'s history in the
        store points at most, as :class:`~kg_recsys.explanations.Interest` (entity id, name,
        weight), highest first. The weight of entity e is
        ``sum_h w(u, h) * n(h, e) / n(h)`` over the user's items h, divided by ``sum_h w(u, h)``:
        each item spreads the user's interaction weight evenly over its entity links
        (``n(h, e)`` of its ``n(h)``), so the weights of all entities sum to 1
        (:func:`~kg_recsys.explanations.user_interests`).

        Args:
            user_id: a user in the store.
            k: how many entities, at most 10,000. (default: ``10``)

        Returns:
            Up to ``k`` :class:`~kg_recsys.explanations.Interest`, highest weight first (ties
            by entity id); none when no item of the history links to an entity.

        Raises:
            KeyError: the store has no such user.
        """
        _check_k(k, "k", 10_000)
        users = self.snapshot.users.index()
        if user_id not in users:
            raise KeyError(f"unknown user {user_id!r}: not in the store")
        return user_interests(self.snapshot, users[user_id], k)

    # ------------------------------------------------------------------ write-back
    def write_back(self, k: int = 10, model: str = "kg_recsys", at: str | None = None) -> int:
        """Write item and user vectors, and every user's top-``k`` as RECOMMENDED
        relationships, to the store (replacing this model's earlier ones).

        Args:
            k: recommendations per user. (default: ``10``)
            model: the ``model`` property of the relationships, so that several models'
                lists can sit side by side. (default: ``"kg_recsys"``)
            at: the ``at`` property, an ISO 8601 time. (default: ``None``, now in UTC)

        Returns:
            The number of recommendations written.
        """
        from datetime import datetime, timezone

        self._require_fitted()
        store = self._require_store()
        at = at or datetime.now(timezone.utc).isoformat(timespec="seconds")
        store.write_vectors(ITEM, self.index.item_ids.tolist(), self.index.item_vectors.numpy())
        store.write_vectors(USER, self.index.user_ids.tolist(), self.index.user_vectors.numpy())
        users = self.index.user_ids.tolist()
        written = 0
        for start in range(0, len(users), 1000):
            chunk = users[start:start + 1000]
            ids, scores = self.recommend(chunk, k=k)
            rows = [Recommendation(user, str(item), float(score), rank + 1)
                    for user, user_ids, user_scores in zip(chunk, ids, scores)
                    for rank, (item, score) in enumerate(zip(user_ids, user_scores)) if item]
            store.replace_recommendations(model, rows, at)
            written += len(rows)
        return written

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Save to a folder: ``model.safetensors`` (tensors only), ``model.json`` and the
        serving index ``index.npz`` (plain arrays).

        Args:
            path: the folder; created if missing.
        """
        fitted = self._require_fitted()
        folder = Path(path)
        save_checkpoint(fitted, folder)
        self.index.save(folder / _INDEX_FILE)

    @staticmethod
    def load(path: str | Path, store: GraphStore | None = None) -> "Recommender":
        """Load a folder written by :meth:`save` (no pickle anywhere). Serving reads the
        saved index only.

        Args:
            path: the folder.
            store: where new nodes go and explanations come from. (default: ``None``:
                recommend only)

        Returns:
            The fitted recommender.

        Raises:
            CheckpointError: a file is missing or unreadable; the message says to train again.
        """
        folder = Path(path)
        meta = read_meta(folder)
        if not (folder / _INDEX_FILE).is_file():
            raise CheckpointError(f"{folder / _INDEX_FILE}: missing; train again with `kgrec train`")
        fitted = load_checkpoint(folder, meta)
        try:
            index = ServingIndex.load(folder / _INDEX_FILE)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise CheckpointError(f"{folder / _INDEX_FILE}: unreadable ({error}); train again with `kgrec train`") \
                from None
        recommender = Recommender(fitted.config)
        recommender.fitted = fitted
        recommender.store = store
        recommender._use_index(index)
        return recommender
