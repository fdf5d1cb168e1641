"""The one early-stopping rule of the project's trainers (the GNN, the ranker and the
BPR-MF / LightGCN baselines): keep the state with the best validation score, stop after
``patience`` checks without gain."""
from __future__ import annotations

import math

import torch


class EarlyStopping:
    """Tracks the best score of a module and a copy of its state.

    Args:
        patience: checks without gain before :attr:`should_stop` is true.
    """

    def __init__(self, patience: int) -> None:
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        self.patience = patience
        self.best = -math.inf
        self.best_state: dict[str, torch.Tensor] | None = None
        self.waited = 0

    def update(self, score: float, module: torch.nn.Module, *, count: bool = True) -> bool:
        """Record a check; returns whether ``score`` is the best so far (its state is kept).

        Args:
            count: whether a check without gain counts against the patience (a warm-up
                check does not).
        """
        if self.best_state is None or score > self.best:
            self.best, self.waited = score, 0
            self.best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            return True
        if count:
            self.waited += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.waited >= self.patience

    def restore(self, module: torch.nn.Module) -> None:
        """Load the best state into ``module`` (nothing if no check was recorded)."""
        if self.best_state is not None:
            module.load_state_dict(self.best_state)
