"""The fitted model: the trained GNN and ranker with their layout, a forward pass for any
graph on that layout (:func:`embed`), and a checkpoint in safe formats (safetensors for the
tensors, JSON for the rest: nothing is unpickled on load).

Training (:mod:`kg_recsys.training`) builds a :class:`FittedModel`; serving
(:mod:`kg_recsys.serving`) reads it and never imports training.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from kg_recsys.config import RecommenderConfig
from kg_recsys.schema import ENTITY, ITEM, USER
from kg_recsys.store.base import GraphSnapshot

NODE_TYPES = ("user", "item", "entity")
LABEL_OF = {"user": USER, "item": ITEM, "entity": ENTITY}
TEXT_DIM_WITHOUT_TEXT = 1  # placeholder feature width when text is switched off
#: Scalar ranker features per (user, item) pair (see :func:`kg_recsys.serving.ranking.pair_stats`).
NUM_RANK_STATS = 14
#: 4: the serving index is saved beside the weights (index.npz); 5: the ranker sees each
#: recall channel's rank (14 statistics) and the index records its channels.
FORMAT_VERSION = 5


class CheckpointError(ValueError):
    """A model folder that cannot be loaded; the message names the file and what to do."""


@dataclass
class FittedModel:
    """Everything inference needs; built by :func:`kg_recsys.training.fit_model`.

    ``layout`` is a :class:`kg_recsys.graph.GraphLayout`; ``gnn`` a
    :class:`kg_recsys.nn.KGRecGNN`; ``ranker`` an :class:`kg_recsys.nn.MLPRanker` (or an
    ensemble), or ``None``.
    """

    config: RecommenderConfig
    layout: object
    #: The GNN, or a function that builds it at first use (a loaded model serves from its
    #: index and builds the GNN only for text users and new nodes); read it as :attr:`gnn`.
    _gnn: "torch.nn.Module | Callable[[], torch.nn.Module] | None"
    ranker: torch.nn.Module | None
    #: Per node type, the ids that got a trained id embedding, in embedding-row order.
    #: Inference maps nodes by id, so stores may order nodes differently or grow.
    trained_ids: dict[str, np.ndarray]
    history: list[dict[str, float]] = field(default_factory=list)
    #: One record per ranker draw (see :func:`kg_recsys.training.ranker.train_ranker`):
    #: where it stopped, which state it kept, and that state's check recall.
    ranker_history: list[dict[str, float | None]] = field(default_factory=list)

    @property
    def scenarios(self) -> tuple[str, ...]:
        return self.layout.scenarios

    @property
    def gnn(self) -> torch.nn.Module:
        if self._gnn is not None and not isinstance(self._gnn, torch.nn.Module):
            self._gnn = self._gnn()
        return self._gnn


# ---------------------------------------------------------------------- graph inputs
def node_features(snapshot: GraphSnapshot, text_vectors: dict[str, np.ndarray] | None,
                  use_text: bool) -> dict[str, Tensor]:
    """The GNN's input features per node type: text vectors, or a zero column without text."""
    if use_text and text_vectors is not None:
        return {t: torch.from_numpy(np.ascontiguousarray(text_vectors[LABEL_OF[t]], np.float32)) for t in NODE_TYPES}
    return {t: torch.zeros(len(snapshot.nodes(LABEL_OF[t])), TEXT_DIM_WITHOUT_TEXT) for t in NODE_TYPES}


def interacted(snapshot: GraphSnapshot, entity_ids: bool = True) -> dict[str, np.ndarray]:
    """Per node type, which nodes get a trained id embedding: the users and items the
    interactions touch, and every entity, or none with ``entity_ids=False``
    (``[model] entity_ids``)."""
    users = np.zeros(len(snapshot.users), bool)
    items = np.zeros(len(snapshot.items), bool)
    users[snapshot.interactions.user] = True
    items[snapshot.interactions.item] = True
    return {"user": users, "item": items, "entity": np.full(len(snapshot.entities), entity_ids, bool)}


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
        counts = np.bincount(inter.item[known] * len(scenarios) + scen[known],
                             minlength=len(snapshot.items) * len(scenarios)).reshape(-1, len(scenarios))
        busiest = counts.argmax(1)
        fill = (result < 0) & (counts.sum(1) > 0)
        result[fill] = busiest[fill]
    return result


# ---------------------------------------------------------------------- modules
def new_gnn(config: RecommenderConfig, layout, num_ids: dict[str, int], text_dim: int, num_layers: int | None = None):
    """An untrained GNN of the configured shape (training starts from it; a checkpoint's
    weights are loaded into it)."""
    from kg_recsys.nn import KGRecGNN

    m = config.model
    layers = (m.num_layers if m.use_gnn else 0) if num_layers is None else num_layers
    return KGRecGNN(NODE_TYPES, layout.edge_types, num_ids, text_dim=text_dim, hidden_dim=m.hidden_dim,
                    num_layers=layers, use_text=m.use_text, use_id_embeddings=m.use_id_embeddings, dropout=m.dropout,
                    relation_gates=m.relation_gates)


def new_ranker(config: RecommenderConfig, num_scenarios: int):
    """An untrained ranker of the configured shape."""
    from kg_recsys.nn import MLPRanker

    return MLPRanker(config.model.hidden_dim, num_scenarios + 1, num_stats=NUM_RANK_STATS,
                     hidden_dim=config.rank.hidden_dim, members=config.rank.members)


def embed(fitted: FittedModel, snapshot: GraphSnapshot, text_vectors: dict[str, np.ndarray] | None,
          *, drop_item_ids: np.ndarray | None = None) -> dict[str, Tensor]:
    """User, item and entity vectors for any graph on the trained layout (new nodes too):
    one full-graph forward pass.

    Args:
        drop_item_ids: item rows to treat as cold (no id embedding).
    """
    from kg_recsys.graph import build_hetero_data

    features = node_features(snapshot, text_vectors, fitted.config.model.use_text)
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


# ---------------------------------------------------------------------- checkpoint
def save_checkpoint(fitted: FittedModel, folder: Path) -> None:
    """``model.safetensors`` (tensors only) and ``model.json`` in ``folder``."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"gnn.{k}": v.contiguous() for k, v in fitted.gnn.state_dict().items()}
    if fitted.ranker is not None:
        tensors.update({f"ranker.{k}": v.contiguous() for k, v in fitted.ranker.state_dict().items()})
    save_file(tensors, str(folder / "model.safetensors"))
    gnn = fitted.gnn
    meta = {
        "format": FORMAT_VERSION, "config": fitted.config.to_dict(), "layout": fitted.layout.to_dict(),
        "trained_ids": {t: fitted.trained_ids[t].tolist() for t in NODE_TYPES},
        "gnn": {"text_dim": gnn.text_dim, "num_layers": gnn.num_layers, "num_ids": gnn.num_ids},
        "ranker": fitted.ranker is not None,
        "ranker_rankers": len(getattr(fitted.ranker, "rankers", [fitted.ranker])) if fitted.ranker is not None else 0,
        "history": fitted.history, "ranker_history": fitted.ranker_history,
    }
    (folder / "model.json").write_text(json.dumps(meta))


def read_meta(folder: Path) -> dict:
    """``model.json`` of a model folder, with its format checked."""
    path = folder / "model.json"
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path}: unreadable ({error}); train again with `kgrec train`") from None
    if meta.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: model format {meta.get('format')} is not {FORMAT_VERSION} "
                              "(saved by another kg-recsys version); train it again with `kgrec train`")
    return meta


#: Settings added since a checkpoint may have been saved, with the value every model saved
#: before them was trained with: their later defaults would misdescribe such a model.
SETTINGS_OF_OLDER_CHECKPOINTS = {"model": {"relation_gates": False, "entity_ids": True}}


def saved_config(saved: dict) -> dict:
    """A checkpoint's ``config`` with :data:`SETTINGS_OF_OLDER_CHECKPOINTS` filled in where
    it has none of them (a checkpoint stores every setting of its time)."""
    config = {key: dict(value) if isinstance(value, dict) else value for key, value in saved.items()}
    for section, settings in SETTINGS_OF_OLDER_CHECKPOINTS.items():
        for name, value in settings.items():
            config.setdefault(section, {}).setdefault(name, value)
    return config


def load_checkpoint(folder: Path, meta: dict | None = None) -> FittedModel:
    """The :class:`FittedModel` saved in ``folder`` by :func:`save_checkpoint`."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from kg_recsys.graph import GraphLayout
    from kg_recsys.nn import average_of

    meta = read_meta(folder) if meta is None else meta
    config = RecommenderConfig.from_dict(saved_config(meta["config"]))
    layout = GraphLayout.from_dict(meta["layout"])
    weights = folder / "model.safetensors"
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError) as error:
        raise CheckpointError(f"{weights}: corrupt or truncated ({error}); train again with `kgrec train`") from None
    ranker = None
    if meta["ranker"]:
        ranker = average_of([new_ranker(config, len(layout.scenarios)) for _ in range(meta["ranker_rankers"])])
    def load(module: torch.nn.Module, prefix: str) -> torch.nn.Module:
        try:
            module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        except RuntimeError as error:
            first = str(error).strip().splitlines()[-1].strip()
            raise CheckpointError(f"{weights}: the weights do not match model.json ({first}); "
                                  "train again with `kgrec train`") from None
        return module

    def gnn() -> torch.nn.Module:
        return load(new_gnn(config, layout, meta["gnn"]["num_ids"], meta["gnn"]["text_dim"],
                            meta["gnn"]["num_layers"]), "gnn.")

    if ranker is not None:
        load(ranker, "ranker.")
    if not any(k.startswith("gnn.") for k in tensors):
        raise CheckpointError(f"{weights}: no GNN weights; train again with `kgrec train`")
    trained = {t: np.asarray(ids, dtype=str) for t, ids in meta["trained_ids"].items()}
    return FittedModel(config, layout, gnn, ranker, trained, meta.get("history", []), meta.get("ranker_history", []))
