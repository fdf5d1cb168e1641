"""Trainers and the fitted-model bundle (apart from the models and from evaluation)."""
from kg_recsys.training.pipeline import FittedModel, GNNTrainer, ScoringView, embed, fit_model, score_items, scoring_view

__all__ = ["FittedModel", "GNNTrainer", "ScoringView", "embed", "fit_model", "score_items", "scoring_view"]
