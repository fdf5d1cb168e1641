"""The MLP ranker that re-orders recall candidates from fused representations."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MLPRanker(nn.Module):
    r"""Scores (user, item) pairs from the fused representation

    .. math::
        (a_{ui}, b_{ui}) = \mathrm{MLP}\big([z_u;\; z_i;\; z_u \odot z_i;\; s_{\sigma};\; r_{ui};\; x_{ui}]\big),
        \qquad f(u, i) = (1 + a_{ui})\, \hat r_{ui} + b_{ui}

    where :math:`s_\sigma` is a learned scenario embedding, :math:`r_{ui}` the recall score
    and :math:`x_{ui}` simple statistics (item popularity, user activity, the text and
    KG-profile similarities of the user and the item, the user's activity in the item's
    scenario, the share of the user's nearest neighbours who have the item, and how near
    the item is to the user's history by shared users). The MLP learns how far to trust
    the recall score (:math:`a`, e.g. little for a user new to the item's scenario, whose
    vector comes from another scenario) and a correction (:math:`b`, e.g. popularity
    there). Both start at zero, so a ranker trained on little data stays near the recall
    order instead of scrambling it.

    The statistics are standardised with a mean and scale fixed from the training pairs
    (:meth:`fit_scaler`, saved with the weights): a recall score of size 10 and a share
    in ``[0, 1]`` then weigh alike at the start, and :math:`b` works on the scale of the
    standardised recall score :math:`\hat r` (a positive affine map of :math:`r`, so the
    zero-initialised ranker still keeps the recall order).

    ``members`` such MLPs, each from its own initial weights, score side by side and
    :meth:`forward` averages them. With everything else fixed, a single ranker's Recall@20
    on warm ml-100k was 0.340, 0.366 or 0.375 depending on its initial weights alone: it is
    trained on few pairs and stopped early, so where it stops depends on where it started.
    Three members (at lr 5e-4) gave 0.379, 0.380 and 0.379.

    Args:
        dim: size of the user and item vectors.
        num_scenarios: scenarios with an embedding (unknown scenarios use index 0).
        num_stats: extra scalar features per pair, the recall score included. (default: ``4``)
        hidden_dim: hidden layer size. (default: ``64``)
        members: MLPs whose scores are averaged. (default: ``1``)

    Shapes:
        - **input:** ``user [B, dim]``, ``item [B, dim]``, ``scenario [B]`` (long),
          ``stats [B, num_stats]`` whose first column is the recall score.
        - **output:** ``[B]`` scores (higher is better); :meth:`member_scores`:
          ``[members, B]``.
    """

    def __init__(self, dim: int, num_scenarios: int, num_stats: int = 4, hidden_dim: int = 64,
                 members: int = 1) -> None:
        super().__init__()
        self.dim, self.num_scenarios, self.num_stats = dim, num_scenarios, num_stats
        self.scenario_emb = nn.Embedding(max(1, num_scenarios), 8)
        self.register_buffer("stats_mean", torch.zeros(num_stats))
        self.register_buffer("stats_scale", torch.ones(num_stats))
        self.members = nn.ModuleList(
            nn.Sequential(
                nn.Linear(3 * dim + 8 + num_stats, hidden_dim), nn.ReLU(),
                nn.Linear(hidden_dim, hidden_dim), nn.ReLU(),
                nn.Linear(hidden_dim, 2),
            ) for _ in range(members))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.scenario_emb.reset_parameters()
        for mlp in self.members:
            for layer in mlp:
                if isinstance(layer, nn.Linear):
                    layer.reset_parameters()
            nn.init.zeros_(mlp[-1].weight)
            nn.init.zeros_(mlp[-1].bias)

    @torch.no_grad()
    def fit_scaler(self, stats: Tensor) -> None:
        """Fix the standardisation from training pairs' statistics ``[N, num_stats]``."""
        self.stats_mean.copy_(stats.mean(0))
        self.stats_scale.copy_(stats.std(0).clamp(min=1e-6))

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(dim={self.dim}, scenarios={self.num_scenarios}, stats={self.num_stats}, "
                f"members={len(self.members)})")

    def member_scores(self, user: Tensor, item: Tensor, scenario: Tensor, stats: Tensor) -> Tensor:
        """Each member's scores, ``[members, B]``: the trainer gives each its own loss so
        that they stay apart."""
        stats = (stats - self.stats_mean) / self.stats_scale
        # The first layer on [user; item; user * item; scenario embedding; stats], split in
        # two: the inputs without gradient through one product, and the scenario embedding
        # as a lookup in its own projection. The same arithmetic, but autograd no longer
        # computes the gradient of the whole 200-wide input for the embedding's 8 columns
        # (a quarter of a ranker step's backward pass).
        plain = torch.cat([user, item, user * item, stats], dim=-1)
        split = 3 * self.dim
        scores = []
        for mlp in self.members:
            first = mlp[0].weight
            weight = torch.cat([first[:, :split], first[:, split + self.scenario_emb.embedding_dim:]], dim=1)
            projected = self.scenario_emb.weight @ first[:, split:split + self.scenario_emb.embedding_dim].T
            hidden = F.linear(plain, weight, mlp[0].bias) + F.embedding(scenario, projected)
            scores.append(mlp[1:](hidden))
        scale, offset = torch.stack(scores).unbind(-1)
        return (1.0 + scale) * stats[:, 0] + offset

    def forward(self, user: Tensor, item: Tensor, scenario: Tensor, stats: Tensor) -> Tensor:
        return self.member_scores(user, item, scenario, stats).mean(0)


class RankerEnsemble(nn.Module):
    """Rankers trained apart, each on its own random draws, scoring side by side;
    :meth:`forward` averages them.

    The members of one :class:`MLPRanker` share their training draws (the training views
    and the held-back users that stop training); only their initial weights differ. Most
    of a ranker's run-to-run spread comes from those draws: on warm ml-100k (seed 0), with
    one fitted GNN, three-member rankers on new draws scored 0.3692 to 0.3842, and eight
    members did not narrow that.

    Args:
        rankers: the trained rankers, all on the same inputs.

    Shapes: as :class:`MLPRanker`'s :meth:`~MLPRanker.forward`.
    """

    def __init__(self, rankers: list[MLPRanker]) -> None:
        super().__init__()
        if not rankers:
            raise ValueError("RankerEnsemble needs at least one ranker")
        self.rankers = nn.ModuleList(rankers)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({len(self.rankers)} x {self.rankers[0]!r})"

    def forward(self, user: Tensor, item: Tensor, scenario: Tensor, stats: Tensor) -> Tensor:
        return torch.stack([ranker(user, item, scenario, stats) for ranker in self.rankers]).mean(0)


def average_of(rankers: list[MLPRanker]) -> MLPRanker | RankerEnsemble:
    """One ranker as it is (its checkpoint keys stay those of an :class:`MLPRanker`),
    several as a :class:`RankerEnsemble`."""
    return rankers[0] if len(rankers) == 1 else RankerEnsemble(rankers)
