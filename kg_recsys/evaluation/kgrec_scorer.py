"""kg-recsys as a :class:`~kg_recsys.evaluation` scorer, so it runs in the same harness and on
the same split as the baselines."""
from __future__ import annotations

import dataclasses

import numpy as np

from kg_recsys.config import RecommenderConfig
from kg_recsys.store.base import GraphSnapshot, InteractionTable
from kg_recsys.model import FittedModel
from kg_recsys.serving import build_index, fuse_lists, index_lists, recall_scores, score_items
from kg_recsys.serving.diversity import diversify_scores
from kg_recsys.text import TextEncoder, snapshot_text_vectors
from kg_recsys.training import fit_model


class KGRecScorer:
    """Fits on the split's train graph; scores on its context graph by a forward pass, so
    cold items, cold users and users new to a scenario need no retraining."""

    def __init__(self, config: RecommenderConfig | None = None, name: str = "kg_recsys",
                 progress: bool | None = None) -> None:
        self.config = config or RecommenderConfig()
        self.name = name
        #: Progress bars (text encoding, training); ``None`` follows ``[train] progress``.
        self.progress = progress
        self.fitted: FittedModel | None = None
        self._text: dict[str, np.ndarray] | None = None
        self._index = None
        self._context = None

    def _text_vectors(self, snapshot: GraphSnapshot) -> dict[str, np.ndarray] | None:
        if not self.config.model.use_text:
            return None
        if self._text is None:
            progress = self.config.train.progress if self.progress is None else self.progress
            encoder = TextEncoder(self.config.text, progress=progress)
            self._text = snapshot_text_vectors(snapshot, encoder)
            encoder.close()
        return self._text

    def fit(self, train: GraphSnapshot, seed: int, valid: InteractionTable | None = None) -> None:
        # The split's valid set stops training and trains the ranker, so the GNN learns
        # from all of train (as the baselines do) instead of carving out another 10%.
        self.fitted = fit_model(train, self.config, self._text_vectors(train), seed=seed, holdout=valid,
                                progress=self.progress)
        self._index = self._context = None

    def training_summary(self) -> dict:
        """What the harness records of the fit: the GNN's epochs, the epoch it kept (best
        valid recall), and one record per ranker draw
        (see :func:`~kg_recsys.training.train_ranker`)."""
        assert self.fitted is not None, "fit() first"
        recall = [h["valid_recall@20"] for h in self.fitted.history]
        best = int(np.nanargmax(recall)) if recall and not np.isnan(recall).all() else len(recall) - 1
        summary = {"gnn_epochs": len(recall), "gnn_kept_epoch": best, "ranker_draws": self.fitted.ranker_history}
        gnn = self.fitted.gnn
        if getattr(gnn, "gate_logits", None) is not None:
            summary["relation_gates"] = {"__".join(et): round(g, 4) for et, g in gnn.gates().items()}
        return summary

    def _index_of(self, context: GraphSnapshot):
        assert self.fitted is not None, "fit() first"
        # The harness scores one context in chunks of users: embed it once.
        if self._index is None or self._context is not context:
            self._index, self._context = build_index(self.fitted, context, self._text_vectors(context)), context
        return self._index

    def candidate_lists(self, context: GraphSnapshot, users: np.ndarray, items: np.ndarray) -> dict[str, np.ndarray]:
        """Each recall channel's list and their union, the ranker's candidates, as positions
        in ``items`` (``-1`` pads): ``{channel: [U, n], "candidates": [U, W]}``, so the
        harness can report what each channel finds (see
        :func:`~kg_recsys.evaluation.harness.candidate_recall`)."""
        index = self._index_of(context)
        users, items = np.asarray(users), np.asarray(items)
        n = self.config.recall.num_candidates
        lists = index_lists(index, users, items, recall_scores(index, users, items), n)
        return {**lists, "candidates": fuse_lists(lists, n)[0]}

    def score(self, context: GraphSnapshot, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        self._index_of(context)
        items = np.asarray(items)
        scores = score_items(self.fitted.ranker, self._index, np.asarray(users), items,
                             self.config.recall.num_candidates)
        rank = self.config.rank
        return diversify_scores(scores, self._index.item_vectors.numpy()[items], rank.diversity, rank.diversity_depth)


def ablation(name: str, progress: bool | None = None, config: RecommenderConfig | None = None,
             **model_changes) -> KGRecScorer:
    """A scorer with parts of ``config`` (default: the defaults) switched off, e.g.
    ``ablation("kg_recsys_no_kg", use_kg=False)``."""
    config = config or RecommenderConfig()
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, **model_changes))
    return KGRecScorer(config, name=name, progress=progress)
