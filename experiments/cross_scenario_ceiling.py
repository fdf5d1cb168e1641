"""How far above popularity can simple collaborative signals get on a cross-scenario split?

    python experiments/cross_scenario_ceiling.py --data-dir ../shared/data [--dataset douban-cdr]
        [--directions music:book,book:music] [--seeds 0,1,2]

An upper bound, not a model: four signals are blended, and the blend weights are chosen
on the TEST set of each split, which no real model may do. If even that stays close to
popularity, the split holds little that interactions alone can find.

The signals, all computed from the split's training and context interactions:

- ``popularity``: training users per target item (the ``popularity`` baseline);
- ``light_popularity``: the same count with each user weighted by
  ``1 / log2(2 + their target interactions)``, so heavy users count less;
- ``co_occurrence``: the user's history (any scenario) times the item-item
  co-occurrence of the training histories (cosine, shrunk by 10);
- ``neighbours``: the target items of the users whose histories are most like the
  user's (cosine), weighted by that similarity.

Each is min-max scaled per user; the blend is ``popularity + a * light_popularity
+ b * co_occurrence + c * neighbours`` over a grid of ``a, b, c``.

A blend is linear. The second bound is a learner that may combine the signals any way it
likes: gradient-boosted trees over the four signals and the user's activity, trained on
the test users' own target items and cross-fitted (the test users fall in two halves; each
half is scored by trees trained on the other half). Its supervision comes from the very
users it is scored on, so it too is an upper bound of what these signals hold, not a model.

Metrics come from the evaluation harness, as for every model in the accuracy tables.
Writes ``experiments/results/cross_scenario_ceiling.json`` and ``.md``.
"""
from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.ensemble import HistGradientBoostingClassifier

from ingest import load_snapshot
from kg_recsys.content import history_matrix
from kg_recsys.evaluation import evaluate, make_split
from kg_recsys.evaluation.baselines import PopularityScorer
from kg_recsys.store.base import GraphSnapshot

GRID = (0.0, 0.1, 0.2, 0.4, 0.7, 1.0)
SIGNALS = ("light_popularity", "co_occurrence", "neighbours")
#: Items drawn at random per test user as the trees' negatives. Uniform draws keep the
#: trees' odds proportional to the odds over all candidates, which is what ranking needs
#: (negatives drawn among popular items teach that popularity is bad, and rank worse).
NEGATIVES_PER_USER = 400


def _scaled(scores: np.ndarray) -> np.ndarray:
    low = scores.min(axis=1, keepdims=True)
    span = scores.max(axis=1, keepdims=True) - low
    return (scores - low) / np.where(span > 0, span, 1.0)


def signals(train: GraphSnapshot, context: GraphSnapshot, target: str, users: np.ndarray,
            items: np.ndarray) -> dict[str, np.ndarray]:
    """The four ``[len(users), len(items)]`` signals described in the module docstring."""
    n_users, n_items = len(train.users), len(train.items)
    inter = train.interactions
    in_target = inter.select(inter.scenario == target)
    target_history = history_matrix(in_target, n_users, n_items)
    counts = np.asarray(target_history.sum(axis=0)).ravel()
    activity = np.asarray(target_history.sum(axis=1)).ravel()
    light = np.asarray((sp.diags(1.0 / np.log2(2.0 + activity)) @ target_history).sum(axis=0)).ravel()

    history = history_matrix(inter, n_users, n_items)
    item_users = np.asarray(history.sum(axis=0)).ravel()
    together = sp.csr_matrix(history.T @ history)
    together.setdiag(0)
    shrink = sp.diags(1.0 / np.sqrt(item_users + 10.0))
    item_item = sp.csr_matrix(shrink @ together @ shrink)

    known = history_matrix(context.interactions, n_users, n_items)
    norm = np.sqrt(np.asarray(known.sum(axis=1)).ravel())
    unit = sp.csr_matrix(sp.diags(1.0 / np.where(norm > 0, norm, 1.0)) @ known)
    similarity = (unit[users] @ unit.T).toarray()
    similarity[np.arange(len(users)), users] = 0.0  # not one's own neighbour
    def same_for_everyone(values: np.ndarray) -> np.ndarray:
        return np.broadcast_to(values[items], (len(users), len(items)))

    return {
        "popularity": _scaled(same_for_everyone(np.log1p(counts))),
        "light_popularity": _scaled(same_for_everyone(np.log1p(light))),
        "co_occurrence": _scaled((known[users] @ item_item[:, items]).toarray()),
        "neighbours": _scaled(similarity @ target_history[:, items].toarray()),
    }


class _Precomputed:
    """Scores precomputed for ``users`` x ``items`` (rows, columns), as a harness scorer."""

    def __init__(self, name: str, scores: np.ndarray | None, users: np.ndarray, items: np.ndarray) -> None:
        self.name, self.scores = name, scores
        self.row = {int(u): r for r, u in enumerate(users.tolist())}
        self.column = {int(i): c for c, i in enumerate(items.tolist())}

    def fit(self, train: GraphSnapshot, seed: int) -> None:
        pass

    def cells(self, users: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.ix_([self.row[int(u)] for u in users], [self.column[int(i)] for i in items])

    def score(self, context: GraphSnapshot, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.scores[self.cells(users, items)]


class _Blend(_Precomputed):
    """A fixed blend of the precomputed signals ``parts`` (rows ``users``, columns
    ``items``), computed per call: a matrix per blend of the grid would not fit."""

    def __init__(self, weights: tuple[float, ...], parts: dict[str, np.ndarray], users: np.ndarray,
                 items: np.ndarray) -> None:
        super().__init__("blend " + ", ".join(map(str, weights)), None, users, items)
        self.weights, self.parts = weights, parts

    def score(self, context: GraphSnapshot, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        cells = self.cells(users, items)
        return self.parts["popularity"][cells] + sum(w * self.parts[name][cells]
                                                     for w, name in zip(self.weights, SIGNALS))


def halves(count: int, seed: int) -> np.ndarray:
    """The half (0 or 1) of each of ``count`` users in :func:`cross_fitted_trees`."""
    return np.random.default_rng(seed).permutation(count) % 2


def cross_fitted_trees(parts: dict[str, np.ndarray], activity: np.ndarray, relevant: np.ndarray,
                       seed: int) -> np.ndarray:
    """Scores of gradient-boosted trees cross-fitted over the users (see the module docstring).

    Args:
        parts: the signals, each ``[U, I]``.
        activity: each user's number of known interactions, ``[U]``.
        relevant: 1 where the user's test items are, ``[U, I]``.
        seed: draws the halves and the negatives, and seeds the trees.

    Returns:
        ``[U, I]`` scores; a user's row comes from trees that never saw that user.
    """
    features = np.stack([*parts.values(), np.broadcast_to(np.log1p(activity)[:, None], relevant.shape)],
                        axis=2).astype(np.float32)
    half = halves(len(relevant), seed)
    rng = np.random.default_rng(seed + 1)
    scores = np.zeros(relevant.shape, np.float32)
    for held in (0, 1):
        rows, labels, weights = [], [], []
        for user in np.flatnonzero(half != held):
            positive = np.flatnonzero(relevant[user])
            negative = np.flatnonzero(relevant[user] == 0)
            negative = rng.choice(negative, min(NEGATIVES_PER_USER, len(negative)), replace=False)
            if len(positive) == 0 or len(negative) == 0:
                continue
            rows += [features[user, positive], features[user, negative]]
            labels += [np.ones(len(positive)), np.zeros(len(negative))]
            # Recall averages users, whatever their number of items: each user's positives
            # weigh 1 in all, and so do its negatives.
            weights += [np.full(len(positive), 1.0 / len(positive)), np.full(len(negative), 1.0 / len(negative))]
        weight = np.concatenate(weights)
        trees = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15, random_state=seed)
        # Scaled to a mean of 1: the trees' minimum hessian per split is absolute.
        trees.fit(np.concatenate(rows), np.concatenate(labels), sample_weight=weight / weight.mean())
        scored = np.flatnonzero(half == held)
        scores[scored] = trees.predict_proba(features[scored].reshape(-1, features.shape[2]))[:, 1].reshape(
            len(scored), relevant.shape[1])
    return scores


def ceiling(snapshot: GraphSnapshot, source: str, target: str, seed: int, k: int = 20) -> dict:
    split = make_split(snapshot, "cross-scenario", seed, source_scenario=source, target_scenario=target)
    users, items = split.test_users(), split.candidates
    parts = signals(split.train, split.context, target, users, items)
    blends = [_Blend(weights, parts, users, items) for weights in itertools.product(GRID, repeat=len(SIGNALS))]
    test_items = history_matrix(split.test, len(split.context.users), len(split.context.items))
    relevant = test_items[users][:, items].toarray()
    activity = np.bincount(split.context.interactions.user, minlength=len(split.context.users))[users]
    trees = _Precomputed("cross-fitted trees", cross_fitted_trees(parts, activity, relevant, seed), users, items)
    # One harness call for all: the split's truth and exclusions are built once, and ties
    # are broken by the seed alone, so each model ranks as it would on its own.
    result = evaluate(split, [PopularityScorer(target), *blends, trees], k=k, seed=seed, progress=False)["models"]
    recall = f"recall@{k}"
    best = max(blends, key=lambda blend: result[blend.name][recall])  # the first of equals, in grid order
    popularity = result["popularity"][recall]
    return {"source": source, "target": target, "seed": seed, "test_users": int(len(users)),
            f"popularity_recall@{k}": popularity, f"best_blend_recall@{k}": result[best.name][recall],
            "best_weights": dict(zip(SIGNALS, best.weights)),
            "relative": result[best.name][recall] / popularity - 1.0,
            f"trees_recall@{k}": result[trees.name][recall],
            "trees_relative": result[trees.name][recall] / popularity - 1.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None, help="folder holding the named data set")
    parser.add_argument("--dataset", default="douban-cdr")
    parser.add_argument("--directions", default="music:book,book:music",
                        help="comma-separated SOURCE:TARGET scenario pairs (default: %(default)s)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated split seeds (default: %(default)s)")
    args = parser.parse_args()
    snapshot = load_snapshot(args.dataset, data_dir=args.data_dir, progress=False)
    rows = []
    for direction in args.directions.split(","):
        source, target = direction.split(":")
        for seed in (int(s) for s in args.seeds.split(",")):
            rows.append(ceiling(snapshot, source, target, seed))
            print(json.dumps(rows[-1]), flush=True)
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "cross_scenario_ceiling.json").write_text(json.dumps(rows, indent=2))
    lines = [f"# Cross-scenario ceiling of simple signals ({args.dataset})", "",
             "Blend weights chosen on each TEST set, and trees trained on the test users' own items "
             "(cross-fitted): upper bounds, not models (see `experiments/cross_scenario_ceiling.py`).", "",
             "| direction | seed | popularity recall@20 | best blend recall@20 | relative | weights "
             "(light popularity, co-occurrence, neighbours) | cross-fitted trees recall@20 | relative |",
             "|---|---:|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        w = r["best_weights"]
        lines.append(f"| {r['source']} -> {r['target']} | {r['seed']} | {r['popularity_recall@20']:.4f} | "
                     f"{r['best_blend_recall@20']:.4f} | {100 * r['relative']:+.2f}% | "
                     f"{w['light_popularity']}, {w['co_occurrence']}, {w['neighbours']} | "
                     f"{r['trees_recall@20']:.4f} | {100 * r['trees_relative']:+.2f}% |")
    (out / "cross_scenario_ceiling.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
