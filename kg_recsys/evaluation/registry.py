"""The models ``kgrec evaluate`` knows, by name, in one place.

A factory takes an :class:`EvalContext` (what the split is about, never its test data)
and returns a fresh :class:`~kg_recsys.evaluation.harness.Scorer`. Heavy or optional
modules are imported inside the factory, so listing names costs nothing and a model that
is not built yet only fails when it is asked for. Ablations of the main model register
extra names (the three of the issue are registered below); more can be added with::

    register_scorer("kg_recsys_2_layers", lambda ctx: KGRecScorer(my_config, name="kg_recsys_2_layers"))
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from kg_recsys.evaluation.harness import Scorer

if TYPE_CHECKING:
    from kg_recsys.config import RecommenderConfig


@dataclass(frozen=True)
class EvalContext:
    """What a factory may know about the evaluation it builds a scorer for."""

    protocol: str = "warm"
    source_scenario: str | None = None
    #: The scenario being recommended in (``cross-scenario``); ``None`` otherwise.
    target_scenario: str | None = None
    #: Progress bars while a model trains (``kgrec evaluate --no-progress`` turns them off).
    progress: bool = True
    #: The main model's settings (``kgrec evaluate --config``); its ablations switch parts
    #: off from them. ``None``: the defaults.
    config: RecommenderConfig | None = None


ScorerFactory = Callable[[EvalContext], Scorer]


class UnknownScorerError(KeyError):
    """A model name that is not registered."""

    def __str__(self) -> str:
        return str(self.args[0])


def _kg_recsys(ctx: EvalContext) -> Scorer:
    from kg_recsys.evaluation.kgrec_scorer import KGRecScorer

    return KGRecScorer(ctx.config, progress=ctx.progress)


def _ablation(name: str, **model_changes: bool) -> ScorerFactory:
    def factory(ctx: EvalContext) -> Scorer:
        from kg_recsys.evaluation.kgrec_scorer import ablation

        return ablation(name, progress=ctx.progress, config=ctx.config, **model_changes)

    return factory


def _popularity(ctx: EvalContext) -> Scorer:
    from kg_recsys.evaluation.baselines import PopularityScorer

    return PopularityScorer(scenario=ctx.target_scenario)


def _bpr_mf(ctx: EvalContext) -> Scorer:
    from kg_recsys.evaluation.baselines import BPRMFScorer

    return BPRMFScorer()


def _lightgcn(ctx: EvalContext) -> Scorer:
    from kg_recsys.evaluation.baselines import LightGCNScorer

    return LightGCNScorer()


def _text_knn(ctx: EvalContext) -> Scorer:
    from kg_recsys.evaluation.baselines import TextKNNScorer

    return TextKNNScorer()


def _kg_only(ctx: EvalContext) -> Scorer:
    from kg_recsys.evaluation.baselines import KGOnlyScorer

    return KGOnlyScorer()


def _user_knn(ctx: EvalContext) -> Scorer:
    from kg_recsys.evaluation.baselines import UserKNNScorer

    return UserKNNScorer()


def _ease(ctx: EvalContext) -> Scorer:
    from kg_recsys.evaluation.baselines import EASEScorer

    return EASEScorer()


def _item_knn(ctx: EvalContext) -> Scorer:
    from kg_recsys.evaluation.baselines import ItemKNNScorer

    return ItemKNNScorer()


def _inductive_content(ctx: EvalContext) -> Scorer:
    from kg_recsys.evaluation.baselines import InductiveContentScorer

    return InductiveContentScorer()


#: name -> factory, in report order. Extend with :func:`register_scorer`.
SCORERS: dict[str, ScorerFactory] = {
    "kg_recsys": _kg_recsys,
    "popularity": _popularity,
    "bpr_mf": _bpr_mf,
    "lightgcn": _lightgcn,
    "text_knn": _text_knn,
    "kg_only": _kg_only,
    "user_knn": _user_knn,
    "ease": _ease,
    "item_knn": _item_knn,
    "inductive_content": _inductive_content,
    # Ablations of the main model (ModelConfig switches), reported beside it.
    "kg_recsys_no_kg": _ablation("kg_recsys_no_kg", use_kg=False),
    "kg_recsys_no_text": _ablation("kg_recsys_no_text", use_text=False),
    "kg_recsys_no_gnn": _ablation("kg_recsys_no_gnn", use_gnn=False),
}

#: What ``kgrec evaluate`` runs when ``--models`` is not given.
DEFAULT_MODELS = ("kg_recsys", "popularity", "bpr_mf", "lightgcn", "text_knn", "kg_only", "user_knn", "ease",
                  "item_knn", "inductive_content")


def register_scorer(name: str, factory: ScorerFactory, *, replace: bool = False) -> None:
    """Add a model name (e.g. an ablation); an existing name needs ``replace=True``."""
    if name in SCORERS and not replace:
        raise ValueError(f"scorer {name!r} is already registered")
    SCORERS[name] = factory


def create_scorer(name: str, ctx: EvalContext | None = None) -> Scorer:
    """A fresh scorer for ``name``; its ``name`` attribute is set to the registered name."""
    if name not in SCORERS:
        raise UnknownScorerError(f"unknown model {name!r}; registered: {', '.join(SCORERS)}")
    scorer = SCORERS[name](ctx or EvalContext())
    if getattr(scorer, "name", None) != name:
        try:
            scorer.name = name  # an ablation reuses a class whose default name differs
        except AttributeError:
            pass
    return scorer
