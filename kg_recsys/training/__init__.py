"""Trainers (apart from the models, the fitted model and evaluation): the one early-stopping
rule, the GNN trainer, the ranker trainer and ``fit_model``, which runs them in order; and
``distributed``, for data-parallel GNN training over ``torch.distributed``."""
from kg_recsys.training import distributed
from kg_recsys.training.early_stopping import EarlyStopping
from kg_recsys.training.fit import fit_model
from kg_recsys.training.gnn_trainer import GNNTrainer
from kg_recsys.training.ranker_trainer import train_ranker

__all__ = ["EarlyStopping", "GNNTrainer", "fit_model", "train_ranker"]
