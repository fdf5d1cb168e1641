"""Trainers and the fitted-model bundle (apart from the models and from evaluation)."""
from kg_recsys.training.pipeline import FittedModel, GNNTrainer, embed, fit_model, score_items

__all__ = ["FittedModel", "GNNTrainer", "embed", "fit_model", "score_items"]
