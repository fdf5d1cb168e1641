"""The evaluation harness: every model is fitted on the same split and ranked the same way.

Ranking rules (the same for every scorer):

- each test user ranks *all* candidate items of the split (no sampled negatives);
- items the user has in ``split.context`` (training history, valid, revealed cold-user
  interactions) are excluded from the ranking, and so are items scored ``NaN`` (a scorer
  says "cannot score" with ``NaN``); the relevant set is the user's test items among the
  candidates;
- ties are broken by a random order drawn per user from ``(seed, user)``, so a scorer
  that gives every item the same score (an id model facing cold items) gets a random
  ranking for each user rather than one lucky list, and the result does not depend on
  the chunk size or the order of the candidates;
- ``fit`` sees ``split.train`` only (and ``split.valid`` if it takes a ``valid`` argument);
- users are scored in chunks, so memory is bounded by ``chunk_size x len(candidates)``.
"""
from __future__ import annotations

import inspect
import time
from typing import Callable, Iterable, Iterator, Protocol, Sequence, runtime_checkable

import numpy as np
import torch

from kg_recsys.evaluation.metrics import (METRICS, coverage, metric_names, per_user_metrics, recall_at_k,
                                          self_information)
from kg_recsys.evaluation.splits import Split
from kg_recsys.serving.ranking import top_k
from kg_recsys.store.base import GraphSnapshot, InteractionTable


@runtime_checkable
class Scorer(Protocol):
    """A recommender as the harness sees it: fitted once, then asked for score matrices."""

    name: str

    def fit(self, train: GraphSnapshot, seed: int) -> None:
        """Learn from ``train`` (and nothing else); ``seed`` makes the result reproducible."""

    def score(self, context: GraphSnapshot, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Scores of ``items`` for ``users``, higher is better; ``NaN`` where it cannot score.

        ``context`` is the graph the model may look at now (training data plus the
        interactions revealed at test time); ``users``/``items`` index its node tables.

        Shapes:
            users: ``[U]`` int64, items: ``[I]`` int64 -> ``[U, I]`` float.
        """


class UserItems:
    """Items per user of an interaction table, as CSR arrays (duplicates removed)."""

    def __init__(self, table: InteractionTable, n_users: int) -> None:
        pairs = np.unique(np.stack([table.user.astype(np.int64), table.item.astype(np.int64)], axis=1), axis=0) \
            if len(table) else np.zeros((0, 2), dtype=np.int64)
        self.items = pairs[:, 1]
        self.indptr = np.zeros(n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(pairs[:, 0], minlength=n_users), out=self.indptr[1:])

    def of(self, user: int) -> np.ndarray:
        return self.items[self.indptr[user]:self.indptr[user + 1]]

    def rows(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(row, item)``: for each listed item, its user's position in ``users``."""
        starts, ends = self.indptr[users], self.indptr[users + 1]
        lengths = ends - starts
        row = np.repeat(np.arange(len(users)), lengths)
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return row, self.items[np.repeat(starts, lengths) + offsets]

    def counts(self, users: np.ndarray) -> np.ndarray:
        return self.indptr[users + 1] - self.indptr[users]


def ranked_chunks(
    score_fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
    users: np.ndarray,
    candidates: np.ndarray,
    exclude: UserItems,
    k: int,
    *,
    seed: int = 0,
    chunk_size: int = 256,
    progress: Callable[[Iterable], Iterable] | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Score ``users`` a chunk at a time and yield ``(start, top)``: the column indices in
    ``candidates`` of the ``k`` best items of ``users[start:start + chunk_size]``, best
    first (``-1`` where fewer can be ranked).

    The one place where scores are checked, ``NaN`` becomes unrankable, ``exclude``'s
    items are removed and ties are broken by :func:`_tie_keys`: the metrics and the
    per-bucket analysis both rank through it, so their lists agree.
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    column = np.full(int(max(candidates.max(initial=-1), exclude.items.max(initial=-1))) + 1, -1, dtype=np.int64)
    column[candidates] = np.arange(len(candidates))
    width = min(k, len(candidates))
    starts = range(0, len(users), chunk_size)
    for start in (progress(starts) if progress else starts):
        chunk = users[start:start + chunk_size]
        scores = torch.as_tensor(np.asarray(score_fn(chunk, candidates), dtype=np.float32))
        if scores.shape != (len(chunk), len(candidates)):
            raise ValueError(f"score() returned shape {tuple(scores.shape)}, expected "
                             f"{(len(chunk), len(candidates))}")
        scores = torch.nan_to_num(scores, nan=-torch.inf, posinf=torch.finfo(torch.float32).max)
        rows, items = exclude.rows(chunk)
        cols = column[items]
        scores[torch.as_tensor(rows[cols >= 0]), torch.as_tensor(cols[cols >= 0])] = -torch.inf
        yield start, top_k(scores, width, _tie_keys(seed, chunk, candidates))[0]


def _relevant(users: np.ndarray, candidates: np.ndarray, exclude: UserItems,
              truth: UserItems) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The users with a relevant candidate, their relevant counts, and each relevant
    (row in those users, column in ``candidates``) pair. A relevant item that is also
    excluded cannot be ranked, so it does not count."""
    n_items = int(max(candidates.max(initial=-1), exclude.items.max(initial=-1), truth.items.max(initial=-1)) + 1)
    column = np.full(n_items, -1, dtype=np.int64)
    column[candidates] = np.arange(len(candidates))
    users = np.asarray(users, dtype=np.int64)
    t_row, t_item = truth.rows(users)
    t_col = column[t_item]
    e_row, e_item = exclude.rows(users)
    e_col = column[e_item]
    relevant = np.zeros(len(users), dtype=np.int64)
    n_cols = len(candidates)
    keep = (t_col >= 0) & ~np.isin(t_row * n_cols + t_col, e_row[e_col >= 0] * n_cols + e_col[e_col >= 0])
    np.add.at(relevant, t_row[keep], 1)
    active = np.flatnonzero(relevant > 0)
    remap = np.full(len(relevant), -1, dtype=np.int64)
    remap[active] = np.arange(len(active))
    return users[active], relevant[active], remap[t_row[keep]], t_col[keep]


def candidate_recall(lists_fn: Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]], users: np.ndarray,
                     candidates: np.ndarray, exclude: UserItems, truth: UserItems, *,
                     chunk_size: int = 256) -> dict[str, float]:
    """Each candidate list's mean Recall@N (:func:`~kg_recsys.evaluation.metrics.recall_at_k`,
    ``N`` the list's width) over the users with a relevant candidate, as :func:`rank_metrics`
    counts them: how much of the test set each recall channel, and their union, hands the
    ranker.

    Args:
        lists_fn: ``(users, items) -> {name: [U, N]}`` positions in ``items`` (``-1`` pads),
            e.g. :meth:`~kg_recsys.evaluation.kgrec_scorer.KGRecScorer.candidate_lists`.

    Returns:
        ``{"<name>@<N>": recall}``.
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    users, relevant_count, t_row, t_col = _relevant(users, candidates, exclude, truth)
    totals: dict[str, float] = {}
    for start in range(0, len(users), chunk_size):
        chunk = users[start:start + chunk_size]
        in_chunk = (t_row >= start) & (t_row < start + len(chunk))
        rel = np.zeros((len(chunk), len(candidates) + 1), dtype=bool)  # last column: padding
        rel[t_row[in_chunk] - start, t_col[in_chunk]] = True
        for name, listed in lists_fn(chunk, candidates).items():
            hits = np.take_along_axis(rel, np.where(listed >= 0, listed, len(candidates)), axis=1)
            key = f"{name}@{listed.shape[1]}"
            recall = recall_at_k(hits, relevant_count[start:start + len(chunk)], listed.shape[1])
            totals[key] = totals.get(key, 0.0) + float(recall.sum())
    return {key: value / max(len(users), 1) for key, value in totals.items()}


def rank_metrics(
    score_fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
    users: np.ndarray,
    candidates: np.ndarray,
    exclude: UserItems,
    truth: UserItems,
    k: int,
    *,
    seed: int = 0,
    chunk_size: int = 256,
    progress: Callable[[Iterable], Iterable] | None = None,
    item_counts: np.ndarray | None = None,
    cold_items: np.ndarray | None = None,
    item_vectors: np.ndarray | None = None,
) -> tuple[dict[str, float], int]:
    """Rank ``candidates`` for ``users`` with ``score_fn`` and average the metrics.

    This is the one ranking loop of the project: :func:`evaluate` uses it for the test set
    and baselines use it on the valid set for early stopping.

    Args:
        score_fn: ``(users, items) -> scores [U, I]``.
        users: users to evaluate; those without a relevant candidate are skipped.
        candidates: item indices that are ranked.
        exclude: items removed from each user's ranking.
        truth: relevant items of each user.
        k: the cut-off.
        seed: seed of the random tie-breaking keys. (default: ``0``)
        chunk_size: users scored at once. (default: ``256``)
        progress: wraps the chunk iterator (e.g. ``tqdm``). (default: ``None``)
        item_counts: training users per item, indexed by item; adds ``novelty@K`` (see
            :func:`~kg_recsys.evaluation.metrics.self_information`). (default: ``None``)
        cold_items: item indices held out as cold; adds ``cold_share@K``, the mean share of
            each user's top-K list that is cold (the hybrid protocol). (default: ``None``)
        item_vectors: ``[n_items, d]`` vectors of a space shared by every model (e.g. item
            text); adds ``ild@K``, intra-list diversity: the mean cosine distance
            :math:`1 - \\cos` over the pairs of each top-K list. (default: ``None``)

    Returns:
        ``({"recall@K", ..., "coverage@K"}, number of users evaluated)``, plus
        ``novelty@K``, ``cold_share@K`` and ``ild@K`` when their inputs are given.
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    users, relevant_count, t_row, t_col = _relevant(users, candidates, exclude, truth)
    if len(users) == 0:
        return {name: 0.0 for name in metric_names(k)}, 0

    totals = {name: 0.0 for name in METRICS}
    extra = {}
    if item_counts is not None:
        information = np.append(self_information(np.asarray(item_counts)[candidates], len(exclude.indptr) - 1), 0.0)
        extra["novelty"] = 0.0
    if cold_items is not None:
        is_cold = np.append(np.isin(candidates, cold_items), False)
        extra["cold_share"] = 0.0
    if item_vectors is not None:
        vectors = np.asarray(item_vectors, dtype=np.float32)[candidates]
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit = np.vstack([vectors / np.where(norms > 0, norms, 1.0), np.zeros((1, vectors.shape[1]), np.float32)])
        extra["ild"] = 0.0
    seen = np.zeros(len(candidates), dtype=bool)
    for start, top in ranked_chunks(score_fn, users, candidates, exclude, k, seed=seed, chunk_size=chunk_size,
                                    progress=progress):
        chunk = users[start:start + chunk_size]
        in_chunk = (t_row >= start) & (t_row < start + len(chunk))
        rel = np.zeros((len(chunk), len(candidates) + 1), dtype=bool)  # last column: padding
        rel[t_row[in_chunk] - start, t_col[in_chunk]] = True
        hits = np.take_along_axis(rel, np.where(top >= 0, top, len(candidates)), axis=1)
        values_by_user = per_user_metrics(hits, relevant_count[start:start + len(chunk)], k)
        for name in METRICS:
            totals[name] += float(values_by_user[name].sum())
        seen[top[top >= 0]] = True
        listed = np.maximum((top >= 0).sum(axis=1), 1)  # -1 pads index the appended 0
        if "novelty" in extra:
            extra["novelty"] += float((information[top].sum(axis=1) / listed).sum())
        if "cold_share" in extra:
            extra["cold_share"] += float((is_cold[top].sum(axis=1) / listed).sum())
        if "ild" in extra:
            listed_unit = unit[top]  # [U, K, d]; pads are zero vectors, left out below
            similarity = np.einsum("ukd,umd->ukm", listed_unit, listed_unit)
            valid = top >= 0
            pair = valid[:, :, None] & valid[:, None, :] & ~np.eye(top.shape[1], dtype=bool)[None]
            n_pairs = pair.sum(axis=(1, 2))
            distance = np.where(pair, 1.0 - similarity, 0.0).sum(axis=(1, 2)) / np.maximum(n_pairs, 1)
            extra["ild"] += float(distance[n_pairs > 0].sum())

    result = {f"{name}@{k}": totals[name] / len(users) for name in METRICS}
    result[f"coverage@{k}"] = coverage(np.flatnonzero(seen), len(candidates))
    result.update({f"{name}@{k}": value / len(users) for name, value in extra.items()})
    return result, len(users)


def fit_scorer(scorer: Scorer, split: Split, seed: int) -> None:
    """``scorer.fit(split.train, seed)``, plus ``valid=split.valid`` when ``fit`` takes a
    ``valid`` argument (for early stopping; valid is never test data)."""
    if "valid" in inspect.signature(scorer.fit).parameters:
        scorer.fit(split.train, seed, valid=split.valid)
    else:
        scorer.fit(split.train, seed)


def _tie_keys(seed: int, users: np.ndarray, items: np.ndarray) -> torch.Tensor:
    """A uniform key per (user, item) from ``(seed, user, item)``, independent of how the
    users are chunked and how the candidates are ordered."""
    keys = np.empty((len(users), len(items)), dtype=np.float64)
    n_items = int(items.max(initial=0)) + 1
    for row, user in enumerate(users.tolist()):
        keys[row] = np.random.default_rng((seed, user)).random(n_items)[items]
    return torch.from_numpy(keys)


def evaluate(
    split: Split,
    scorers: Sequence[Scorer],
    k: int = 20,
    seed: int = 0,
    progress: bool = True,
    chunk_size: int = 256,
    model_seed: int | None = None,
    item_vectors: np.ndarray | None = None,
) -> dict:
    """Fit each scorer on ``split.train`` and rank ``split.candidates`` for the test users.

    Args:
        split: from :func:`kg_recsys.evaluation.make_split`.
        scorers: the models to compare.
        k: the cut-off of every metric. (default: ``20``)
        seed: passed to ``fit`` (unless ``model_seed`` is given) and used for tie-breaking.
            (default: ``0``)
        progress: show a progress bar per model. (default: ``True``)
        chunk_size: test users scored at once. (default: ``256``)
        model_seed: passed to ``fit`` instead of ``seed``, so that fits with several model
            seeds on one split (ties broken alike) show how much training alone moves a
            result. (default: ``None``: ``seed``)
        item_vectors: ``[I, d]`` item vectors for ``ild@K`` (see :func:`rank_metrics`).
            (default: ``None``: no ``ild@K``)

    Returns:
        A result file's content, a dict with ``"protocol"``, ``"k"``, ``"users"``,
        ``"candidates"``, ``"split"``, ``"models"`` (``{name: {"recall@K", "ndcg@K", "hit@K",
        "mrr@K", "precision@K", "coverage@K", "novelty@K"[, "cold_share@K"]}}``, with
        ``cold_share@K`` under ``hybrid``) and ``"seconds"`` (``{name: {"fit", "score"}}``),
        plus ``"training": {name: ...}`` for the scorers with a ``training_summary()`` method
        and ``"candidate_recall": {name: {"<channel>@<N>": recall}}`` (:func:`candidate_recall`)
        for those with a ``candidate_lists()`` method.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    names = [scorer.name for scorer in scorers]
    if len(set(names)) != len(names):
        raise ValueError(f"scorer names must be unique, got {names}")
    n_users = len(split.context.users)
    exclude = UserItems(split.context.interactions, n_users)
    truth = UserItems(split.test, n_users)
    users = split.test_users()
    train_items = UserItems(split.train.interactions, n_users).items
    item_counts = np.bincount(train_items, minlength=len(split.context.items))  # users per item
    result: dict = {"protocol": split.protocol, "k": k, "users": 0, "candidates": int(len(split.candidates)),
                    "split": split.summary(), "models": {}, "seconds": {}}
    fit_seed = seed if model_seed is None else model_seed
    for scorer in scorers:
        torch.manual_seed(fit_seed)
        start = time.perf_counter()
        fit_scorer(scorer, split, fit_seed)
        fitted = time.perf_counter()
        wrap = None
        if progress:
            from tqdm.auto import tqdm

            total = -(-len(users) // chunk_size)
            wrap = lambda it, name=scorer.name, total=total: tqdm(it, desc=f"rank {name}", total=total,  # noqa: E731
                                                                   leave=False)
        with torch.no_grad():
            metrics, evaluated = rank_metrics(
                lambda u, i, s=scorer: s.score(split.context, u, i), users, split.candidates, exclude, truth, k,
                seed=seed, chunk_size=chunk_size, progress=wrap, item_counts=item_counts,
                cold_items=split.cold_items, item_vectors=item_vectors)
        result["models"][scorer.name] = metrics
        result["seconds"][scorer.name] = {"fit": round(fitted - start, 3),
                                          "score": round(time.perf_counter() - fitted, 3)}
        if hasattr(scorer, "training_summary"):  # e.g. where early stopping stopped
            result.setdefault("training", {})[scorer.name] = scorer.training_summary()
        if hasattr(scorer, "candidate_lists"):  # a recall + ranker model: what each channel finds
            with torch.no_grad():
                result.setdefault("candidate_recall", {})[scorer.name] = candidate_recall(
                    lambda u, i, s=scorer: s.candidate_lists(split.context, u, i), users, split.candidates,
                    exclude, truth, chunk_size=chunk_size)
        result["users"] = evaluated
    return result


def format_table(result: dict) -> str:
    """The models of an :func:`evaluate` result as an aligned text table."""
    k = result["k"]
    columns = metric_names(k)
    columns += [name for name in (f"novelty@{k}", f"cold_share@{k}", f"ild@{k}")
                if all(name in values for values in result["models"].values()) and result["models"]]
    header = ["model", *columns, "fit s", "score s"]
    rows = []
    for name, values in result["models"].items():
        seconds = result.get("seconds", {}).get(name, {})
        rows.append([name, *(f"{values[c]:.4f}" for c in columns),
                     f"{seconds.get('fit', float('nan')):.1f}", f"{seconds.get('score', float('nan')):.1f}"])
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [f"{result.get('dataset', '')} protocol={result['protocol']} k={k} "
             f"test users={result['users']} candidates={result.get('candidates', '?')}".strip()]
    lines.append("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))))
    for row in rows:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    for name, values in result.get("candidate_recall", {}).items():
        lines.append(f"candidate recall ({name}): " + "  ".join(f"{key} {value:.4f}" for key, value in values.items()))
    return "\n".join(lines)
