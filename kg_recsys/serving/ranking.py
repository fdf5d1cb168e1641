"""Recall, candidate choice, the ranker's features and the final order, over a
:class:`~kg_recsys.serving.index.ServingIndex`; and the one top-k of the project.

The way of a request: recall scores (dot products, seen items masked) -> candidates (the
best items of each recall channel of ``[recall] channels``: the GNN's dot products, EASE's
item-item scores, the text profile's cosine, popularity among the requested items) -> the
ranker's features for those pairs only (each channel's score and rank among them) -> the
ranker's scores -> :func:`top_k`.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from kg_recsys.config import RECALL_CHANNELS
from kg_recsys.content import ease_scores
from kg_recsys.serving.index import ServingIndex


def top_k(scores: Tensor | np.ndarray, k: int, tie_keys: Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The columns of the ``k`` best scores per row, best first, and their scores.

    Ties are broken by the larger ``tie_keys`` (the evaluation draws them at random per
    user), else by the lower column. ``-1`` marks a slot with no finite score.

    Shapes:
        scores, tie_keys: ``[U, C]`` -> ``([U, min(k, C)], [U, min(k, C)])``.
    """
    scores = torch.as_tensor(scores)
    k = min(k, scores.size(1))
    if k == 0:
        return np.zeros((scores.size(0), 0), np.int64), np.zeros((scores.size(0), 0), np.float32)
    if tie_keys is None:
        tie_keys = -torch.arange(scores.size(1), dtype=torch.float64).expand(scores.shape)
    kth = torch.topk(scores, k, dim=1).values[:, -1:]
    # Everything above the k-th score is in; the tied items fill the rest by key.
    low = tie_keys.min() - 1.0
    pick = torch.where(scores > kth, tie_keys.max() + 1.0, torch.where(scores == kth, tie_keys, low))
    top = torch.topk(pick, k, dim=1).indices
    chosen_scores = torch.gather(scores, 1, top).numpy()
    chosen_keys = torch.gather(tie_keys, 1, top).numpy()
    order = np.lexsort((-chosen_keys, -chosen_scores), axis=-1)
    top = np.take_along_axis(top.numpy(), order, axis=1)
    chosen_scores = np.take_along_axis(chosen_scores, order, axis=1)
    return np.where(np.isneginf(chosen_scores), -1, top), chosen_scores


def is_whole(items: np.ndarray, num_items: int) -> bool:
    """Whether ``items`` (sorted, distinct rows) is the whole catalogue: then requests use
    the index's arrays as they are instead of gathering or mapping every column."""
    return len(items) == num_items and (num_items == 0 or (items[0] == 0 and items[-1] == num_items - 1))


def recall_scores(index: ServingIndex, users: np.ndarray, items: np.ndarray, *, exclude_seen: bool = True,
                  user_vectors: Tensor | None = None) -> np.ndarray:
    """Dot products ``[U, len(items)]``; ``-inf`` where the user has the item (``exclude_seen``).

    Args:
        user_vectors: vectors to score instead of the index's rows ``users`` (a text-only user).
    """
    vectors = index.user_vectors[torch.from_numpy(users)] if user_vectors is None else user_vectors
    # The whole catalogue as it is: gathering its rows cost 9 ms of a request at 100,000 items.
    whole = is_whole(items, index.num_items)
    item_vectors = index.item_vectors if whole else index.item_vectors[torch.from_numpy(items)]
    with torch.no_grad():
        scores = (vectors @ item_vectors.T).numpy()
    if exclude_seen and user_vectors is None:
        mask_seen(scores, index.seen, users, items)
    return scores


def seen_pairs(seen: sp.csr_matrix, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(position in users, column)`` of every stored entry of the rows ``seen[users]``,
    read off the CSR arrays: scipy's row indexing cost more than the rest of a request."""
    seen = seen.tocsr()
    starts = seen.indptr[users].astype(np.int64)
    lengths = seen.indptr[users + 1] - starts
    ends = np.cumsum(lengths)
    row = np.repeat(np.arange(len(users)), lengths)
    return row, seen.indices[np.arange(ends[-1] if len(ends) else 0) - np.repeat(ends - lengths - starts, lengths)]


def mask_seen(scores: np.ndarray, seen, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Set ``scores [U, len(items)]`` to ``-inf`` (in place) where ``seen [users, items]`` is set
    (``items``: sorted, distinct columns of ``seen``)."""
    row, col = seen_pairs(seen, users)
    if not is_whole(items, seen.shape[1]):
        column = np.full(seen.shape[1], -1, np.int64)
        column[items] = np.arange(len(items))
        col = column[col]
        keep = col >= 0
        row, col = row[keep], col[keep]
    scores[row, col] = -np.inf
    return scores


def item_item_raw(index: ServingIndex, users: np.ndarray, items: np.ndarray) -> np.ndarray | None:
    """The item-item channel's scores ``[U, len(items)]`` as they are (EASE over each user's
    ``seen`` row of the index, nothing masked): the ranker's feature; ``None`` when the index
    has no channel."""
    if index.item_item is None:
        return None
    return ease_scores(index.seen[users], index.item_item, None if is_whole(items, index.num_items) else items)


def item_item_scores(index: ServingIndex, users: np.ndarray, items: np.ndarray, seen=None, *,
                     exclude_seen: bool = True, raw: np.ndarray | None = None) -> np.ndarray | None:
    """The item-item channel's scores ``[U, len(items)]`` as a candidate source
    (:func:`item_item_raw`), ``-inf`` where ``seen`` (default: the index's) has the item
    (``exclude_seen``) and for items without interactions, which co-occurrence cannot place
    (their score is 0 for everyone: as candidates they would be an arbitrary draw);
    ``None`` when the index has no channel.

    Args:
        raw: :func:`item_item_raw` of these users and items, if already computed (it is
            copied, not changed), so a request computes EASE once for candidates and features.
    """
    if index.item_item is None:
        return None
    scores = item_item_raw(index, users, items) if raw is None else raw.copy()
    scores[:, index.item_count[items] == 0] = -np.inf
    return mask_seen(scores, index.seen if seen is None else seen, users, items) if exclude_seen else scores


def text_scores(index: ServingIndex, users: np.ndarray, items: np.ndarray) -> np.ndarray | None:
    """The text channel's scores ``[U, len(items)]``: the cosine of each user's text profile
    (own text + mean text of the history) and the items' text vectors, ``-inf`` for items
    without text (a zero vector scores 0 for everyone: as candidates they would be an
    arbitrary draw); ``None`` when the index has no text vectors. Seen items are not masked
    here (see :func:`channel_scores`)."""
    if index.user_text_vectors is None or index.item_text_vectors is None:
        return None
    scores = index.user_text_vectors[users] @ index.item_text_vectors[items].T
    scores[:, ~index.has_text()[items]] = -np.inf
    return np.asarray(scores, np.float32)


def served_channels(index: ServingIndex) -> tuple[str, ...]:
    """The index's channels that have what they score by (a loaded or hand-built index may
    list ``item_item`` without its matrix, or ``text`` without text vectors)."""
    have = {"item_item": index.item_item is not None,
            "text": index.user_text_vectors is not None and index.item_text_vectors is not None}
    return tuple(c for c in index.channels if have.get(c, True))


def channel_scores(index: ServingIndex, users: np.ndarray, items: np.ndarray,
                   recall: np.ndarray, item_item: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The scores ``[U, len(items)]`` of the index's channels that score by a matrix
    (``gnn``: ``recall`` itself; ``item_item``, ``text``), ``-inf`` wherever ``recall`` is
    (seen items, when the caller masked them): every channel leaves out the same items.

    Args:
        item_item: :func:`item_item_raw` of these users and items, if already computed.
    """
    masked = ~np.isfinite(recall)
    scores = {}
    for name in served_channels(index):
        if name == "gnn":
            scores[name] = recall
            continue
        if name == "item_item":
            values = item_item_scores(index, users, items, exclude_seen=False, raw=item_item)
        elif name == "text":
            values = text_scores(index, users, items)
        else:
            continue
        if values is not None:
            values[masked] = -np.inf
            scores[name] = values
    return scores


def popularity_order(index: ServingIndex, items: np.ndarray) -> np.ndarray:
    """The positions in ``items`` (sorted, distinct) by falling popularity, ties to the lower
    position, as :func:`channel_lists` orders them, from the index's one sort of the
    whole catalogue (a sort per request cost 2.4 ms at 100,000 items)."""
    if is_whole(items, index.num_items):
        return index.popularity_order()
    position = np.full(index.num_items, -1, np.int64)
    position[items] = np.arange(len(items))
    order = position[index.popularity_order()]
    return order[order >= 0]


def _best_columns(scores: np.ndarray, n: int) -> np.ndarray:
    """Each row's ``n`` best columns with a finite score, best first (ties to the lower
    column; ``-1`` where fewer). torch's top-k, not numpy's argpartition (0.2 ms against
    1.6 ms for a row of 100,000); only the ``n`` chosen are sorted."""
    best = torch.topk(torch.from_numpy(scores), n, dim=1, sorted=False)
    best, chosen = best.indices.numpy(), best.values.numpy()
    order = np.lexsort((best, -chosen), axis=-1)
    best, chosen = np.take_along_axis(best, order, axis=1), np.take_along_axis(chosen, order, axis=1)
    return np.where(np.isfinite(chosen), best, -1)


def _most_popular(recall: np.ndarray, popularity: np.ndarray, n: int, order: np.ndarray | None) -> np.ndarray:
    """Each row's ``n`` most popular columns (popularity above zero, ties to the lower
    column) among those with a finite ``recall`` score, most popular first (``-1`` pads)."""
    # The same for every row but for the row's own masked (seen) columns: walk the global
    # popularity order just far enough for every row, looking at those columns only (a
    # pass over every column cost more than the rest of a request).
    if order is None:
        order = np.argsort(-popularity, kind="stable")
    depth = n + 32
    while True:
        head = order[:depth]
        # Items nobody has interacted with are not "popular"; falling popularity puts them last.
        head = head[popularity[head] > 0]
        usable = np.isfinite(recall[:, head])
        if depth >= len(order) or len(head) < depth or (usable.sum(axis=1) >= n).all():
            break
        depth *= 2
    rank = np.cumsum(usable, axis=1)
    take = usable & (rank <= n)
    by_popularity = np.full((len(recall), n), -1, np.int64)
    rows, slots = np.nonzero(take)
    by_popularity[rows, rank[rows, slots] - 1] = head[slots]
    return by_popularity


def channel_lists(recall: np.ndarray, popularity: np.ndarray, n: int, order: np.ndarray | None = None, *,
                  scores: dict[str, np.ndarray] | None = None,
                  channels: tuple[str, ...] = ("gnn", "popularity")) -> dict[str, np.ndarray]:
    """Each channel's ``n`` best columns per row, best first (``-1`` pads): ``gnn`` by the
    recall scores, ``popularity`` by ``popularity`` (above zero, ties to the lower column)
    among the columns with a finite recall score, the others by their ``scores``
    (:func:`channel_scores`; a channel without scores is left out).

    Popular items are a channel so that the ranker can fall back on popularity where
    recall knows little, e.g. for a user new to a scenario, whose vector comes from another
    scenario's history. (The nearest users' items were tried as a channel: +0.3 points on
    warm ml-100k, -10% on Douban book -> music, where they are mostly noise.)

    Args:
        order: the columns by falling popularity, ties to the lower column, if known
            (:func:`popularity_order`).
        scores: ``{channel: [U, I]}``, ``-inf`` where masked.
        channels: the channels to list.

    Shapes:
        recall: ``[U, I]``, popularity: ``[I]`` -> ``{channel: [U, min(n, I)]}``.
    """
    n = min(n, recall.shape[1])
    scores = {"gnn": recall, **(scores or {})}
    lists = {}
    for name in channels:
        if name == "popularity":
            lists[name] = _most_popular(recall, popularity, n, order)
        elif name in scores and n > 0:
            lists[name] = _best_columns(scores[name], n)
    return lists


def fuse_lists(lists: dict[str, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ranker's candidates, the union of the channels' ``lists`` (sorted, ``-1`` for
    pads and repeats), and each candidate's rank features: per channel of
    :data:`~kg_recsys.config.RECALL_CHANNELS`, ``log1p(rank) / log1p(n)`` for the
    candidate's 0-based place in that channel's list, ``1`` where the channel did not
    list it (or is off), so a rank feature spans ``[0, 1]`` whatever ``n`` is.

    Shapes:
        lists: ``{channel: [U, n]}`` -> ``([U, W], [U, W, len(RECALL_CHANNELS)])`` with
        ``W`` the lists' total width.
    """
    parts = list(lists.values())
    rows = len(parts[0]) if parts else 0
    if not parts:
        return np.zeros((rows, 0), np.int64), np.zeros((rows, 0, len(RECALL_CHANNELS)), np.float32)
    columns = np.sort(np.concatenate(parts, axis=1), axis=1)
    repeat = np.zeros(columns.shape, bool)
    repeat[:, 1:] = columns[:, 1:] == columns[:, :-1]
    columns = np.where(repeat, -1, columns)
    ranks = np.ones(columns.shape + (len(RECALL_CHANNELS),), np.float32)
    width = int(max(columns.max(initial=-1), 0)) + 2
    # A (row, column) key per listed item, found by one search per channel: no [U, I] scratch.
    wanted = np.arange(rows)[:, None] * width + columns
    for name, listed in lists.items():
        keys = np.arange(rows)[:, None] * width + listed
        valid = listed >= 0
        place = np.broadcast_to(np.arange(listed.shape[1]), listed.shape)[valid]
        keys = keys[valid]
        order = np.argsort(keys, kind="stable")
        keys, place = keys[order], place[order]
        at = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
        found = (columns >= 0) & (len(keys) > 0) & (keys[at] == wanted) if len(keys) else np.zeros(columns.shape, bool)
        feature = ranks[:, :, RECALL_CHANNELS.index(name)]
        feature[found] = np.log1p(place[at[found]]) / np.log1p(max(n, 1))
    return columns, ranks


def candidate_columns(recall: np.ndarray, popularity: np.ndarray, n: int,
                      order: np.ndarray | None = None, item_item: np.ndarray | None = None,
                      text: np.ndarray | None = None) -> np.ndarray:
    """The columns the ranker orders, per row: the ``n`` best recall scores, the ``n`` most
    popular columns with a finite recall score, and the ``n`` best scores of the item-item
    and text channels where given (``-inf`` where masked), without repeats (``-1`` pads):
    :func:`fuse_lists` of :func:`channel_lists`.

    Shapes:
        recall, item_item, text: ``[U, I]``, popularity: ``[I]`` -> ``[U, 2n]`` (``n`` more
        per channel given).
    """
    scores = {name: value for name, value in (("item_item", item_item), ("text", text)) if value is not None}
    lists = channel_lists(recall, popularity, n, order, scores=scores, channels=("gnn", *scores, "popularity"))
    return fuse_lists(lists, n)[0]


def index_lists(index: ServingIndex, users: np.ndarray, items: np.ndarray, recall: np.ndarray, n: int,
                order: np.ndarray | None = None, *, item_item: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """:func:`channel_lists` of the index's channels for ``users`` over ``items``, whose
    recall scores (masked where the user has the item, if wanted) are ``recall``
    (``item_item``: :func:`item_item_raw` of them, if already computed)."""
    if order is None:
        order = popularity_order(index, items)
    popularity = index.item_popularity if is_whole(items, index.num_items) else index.item_popularity[items]
    return channel_lists(recall, popularity, n, order, scores=channel_scores(index, users, items, recall, item_item),
                         channels=served_channels(index))


def pair_ranks(index: ServingIndex, user: int, item: int, num_candidates: int) -> np.ndarray:
    """The rank features ``[1, 1, len(RECALL_CHANNELS)]`` of one (user, item) pair over the
    whole catalogue, as a request without a scenario sees it (all ones: the item is in
    no channel's list, e.g. an item the user has)."""
    items = np.arange(index.num_items)
    users = np.array([user])
    columns, ranks = fuse_lists(index_lists(index, users, items, recall_scores(index, users, items), num_candidates),
                                num_candidates)
    hit = np.flatnonzero(columns[0] == item)
    return ranks[:, hit[:1]] if len(hit) else np.ones((1, 1, len(RECALL_CHANNELS)), np.float32)


def users_per_block(num_items: int, max_scores: int) -> int:
    """How many users to score at once so that their recall scores over ``num_items``
    items number at most ``max_scores`` (at least one user): memory then follows the
    block, not ``[users, items]``."""
    return max(1, max_scores // max(num_items, 1))


def recall_candidates(index: ServingIndex, users: np.ndarray, items: np.ndarray, num_candidates: int, *,
                      seen=None, max_scores: int = 1 << 22) \
        -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Each user's ranker candidates among ``items`` (:func:`fuse_lists` of the index's
    channels), scored a block of ``max_scores`` recall scores at a time, so memory follows
    ``[U, W]``, not ``[U, len(items)]``.

    Args:
        seen: the ``[users, items]`` matrix whose items are left out (default: the index's).

    Returns:
        ``(candidates, recall, ranks, item_item)``: ``[U, W]`` item rows (``-1`` pads) and
        their recall scores, ``[U, W, len(RECALL_CHANNELS)]`` rank features, and the
        candidates' :func:`item_item_raw` scores ``[U, W]`` (``None`` without the channel),
        for :func:`pair_stats`, as a request computes EASE once for candidates and features
        (the ranker's trainer computed it four times a view: 4 s of 13 per ml-1m view);
        ``W`` is ``num_candidates`` per channel.
    """
    seen = index.seen if seen is None else seen
    order = popularity_order(index, items)
    width = min(num_candidates, len(items)) * len(served_channels(index))
    with_item_item = "item_item" in served_channels(index)
    candidates = np.full((len(users), width), -1, np.int64)
    recall = np.full((len(users), width), -np.inf, np.float32)
    ranks = np.ones((len(users), width, len(RECALL_CHANNELS)), np.float32)
    item_item = np.zeros((len(users), width), np.float32) if with_item_item else None
    block = users_per_block(len(items), max_scores)
    for start in range(0, len(users), block):
        rows = slice(start, start + block)
        scores = mask_seen(recall_scores(index, users[rows], items, exclude_seen=False), seen, users[rows], items)
        raw = item_item_raw(index, users[rows], items) if with_item_item else None
        columns, block_ranks = fuse_lists(index_lists(index, users[rows], items, scores, num_candidates, order,
                                                      item_item=raw), num_candidates)
        safe = np.maximum(columns, 0)
        candidates[rows] = np.where(columns >= 0, items[safe], -1)
        recall[rows] = np.take_along_axis(scores, safe, axis=1)
        ranks[rows] = block_ranks
        if raw is not None:
            item_item[rows] = np.take_along_axis(raw, safe, axis=1)
    return candidates, recall, ranks, item_item


def _through(left, right, users: np.ndarray, items: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """``(left @ right)[users, items]`` for pairs, computed for the distinct users only
    (``chunk`` at a time), so the cost follows the users' rows, not the items' columns."""
    distinct, inverse = np.unique(users, return_inverse=True)
    result = np.zeros(len(users), np.float32)
    for start in range(0, len(distinct), chunk):
        product = sp.csr_matrix(left[distinct[start:start + chunk]] @ right)
        product.sum_duplicates()  # sorted columns within each row, so (row, column) keys sort
        pick = np.flatnonzero((inverse >= start) & (inverse < start + chunk))
        # Looked up by binary search over the product's (row, column) keys: scipy's element
        # indexing validated and converted its arguments for longer than the product took.
        width = np.int64(product.shape[1])
        keys = np.repeat(np.arange(product.shape[0], dtype=np.int64), np.diff(product.indptr)) * width \
            + product.indices
        wanted = (inverse[pick] - start).astype(np.int64) * width + items[pick]
        at = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
        found = keys[at] == wanted if len(keys) else np.zeros(len(pick), bool)
        result[pick[found]] = product.data[at[found]]
    return result


def _item_item_pairs(index: ServingIndex, users: np.ndarray, items: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """The item-item channel's score of each (user, item) pair, from the distinct users'
    rows (``chunk`` at a time)."""
    distinct, inverse = np.unique(users, return_inverse=True)
    result = np.zeros(len(users), np.float32)
    for start in range(0, len(distinct), chunk):
        scores = ease_scores(index.seen[distinct[start:start + chunk]], index.item_item)
        pick = (inverse >= start) & (inverse < start + chunk)
        result[pick] = scores[inverse[pick] - start, items[pick]]
    return result


#: Pairs whose text vectors are gathered at once by :func:`pair_stats`: a ranker view's
#: check pairs on ml-1m (about 480,000) gathered whole took 1.4 GiB of 384-d rows.
PAIR_CHUNK = 65_536


def _text_similarity(index: ServingIndex, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """The dot product of each pair's user and item text vectors, ``PAIR_CHUNK`` pairs at a time."""
    result = np.empty(len(users), np.float32)
    for start in range(0, len(users), PAIR_CHUNK):
        part = slice(start, start + PAIR_CHUNK)
        result[part] = np.einsum("ij,ij->i", index.user_text_vectors[users[part]],
                                 index.item_text_vectors[items[part]])
    return result


def pair_stats(index: ServingIndex, users: np.ndarray, items: np.ndarray, recall: np.ndarray,
               ranks: np.ndarray | None = None, item_item: np.ndarray | None = None) -> Tensor:
    """Scalar ranker features of (user, item) pairs: recall score, item popularity, user
    activity, the text and KG-profile similarities of the user and the item (so the ranker
    can lean on content where the graph knows little, e.g. a cold item), the user's
    activity in the item's scenario (none: the user is new to it, and popularity there
    matters more), the share of the user's nearest neighbours who have the item (the
    user -> user -> item paths), the item's mean weight among the nearest items of the
    user's history (user -> item -> item paths), the item-item channel's score, the
    item's popularity within its scenario, and the pair's rank in each recall channel
    (:func:`fuse_lists`; ``None``: listed by none). The channels' scores are thus the
    recall score (gnn), the item-item score, the text similarity and the popularities.

    Args:
        item_item: the pairs' item-item scores (:func:`item_item_raw`), if already computed.

    Shapes:
        users, items, recall, item_item: ``[P]``, ranks: ``[P, len(RECALL_CHANNELS)]`` ->
        ``[P, NUM_RANK_STATS]``.
    """
    text = np.zeros(len(users), np.float32) if index.user_text_vectors is None else \
        _text_similarity(index, users, items)
    # Through the distinct users' rows too: a user's KG profile spans thousands of entities,
    # and multiplying it out per pair made a 2,000-user batch on ml-100k-kg take 60 s.
    kg = np.zeros(len(users), np.float32) if index.user_entities is None else \
        _through(index.user_entities, index.entity_items(), users, items)
    neighbours = np.zeros(len(users), np.float32) if index.user_neighbours is None else \
        _through(index.user_neighbours, index.seen, users, items)
    near = np.zeros(len(users), np.float32) if index.item_neighbours is None else \
        _through(index.user_history, index.item_neighbours, users, items)
    if index.item_item is None:
        item_item = np.zeros(len(users), np.float32)
    elif item_item is None:
        item_item = _item_item_pairs(index, users, items)
    if ranks is None:
        ranks = np.ones((len(users), len(RECALL_CHANNELS)), np.float32)
    stats = np.concatenate([np.stack(
        [recall, index.item_popularity[items], index.user_activity[users], text, kg,
         index.user_scenario_activity[users, index.item_scenario[items]], neighbours, near, item_item,
         index.scenario_popularity()[items]], axis=1), ranks], axis=1)
    return torch.from_numpy(np.nan_to_num(stats.astype(np.float32), neginf=-10.0))


def ranker_inputs(index: ServingIndex, users: np.ndarray, items: np.ndarray, stats: Tensor):
    """The ranker's arguments for pairs whose :func:`pair_stats` are ``stats``."""
    return (index.user_vectors[torch.from_numpy(users)], index.item_vectors[torch.from_numpy(items)],
            torch.from_numpy(index.item_scenario[items]), stats)


def rank_candidates(ranker: torch.nn.Module, index: ServingIndex, users: np.ndarray, candidates: np.ndarray,
                    recall: np.ndarray, ranks: np.ndarray | None = None,
                    item_item: np.ndarray | None = None) -> np.ndarray:
    """Ranker scores for each user's recall candidates ``[U, N]`` (``-inf`` where padded),
    whose recall scores are ``recall [U, N]`` and rank features ``ranks [U, N, C]``
    (:func:`fuse_lists`; ``None``: listed by no channel).

    Args:
        item_item: the candidates' item-item scores ``[U, N]`` (:func:`item_item_raw`), if
            already computed for choosing them.
    """
    rows, cols = np.nonzero(candidates >= 0)
    if ranker.training:  # eval() walks every submodule: 0.8 ms of a request
        ranker.eval()
    with torch.no_grad():
        pair_users, pair_items = users[rows], candidates[rows, cols]
        stats = pair_stats(index, pair_users, pair_items, recall[rows, cols],
                           None if ranks is None else ranks[rows, cols],
                           None if item_item is None else item_item[rows, cols])
        out = ranker(*ranker_inputs(index, pair_users, pair_items, stats))
    result = np.full(candidates.shape, -np.inf, np.float32)
    result[rows, cols] = out.numpy()
    return result


def rank_recall(ranker: torch.nn.Module, index: ServingIndex, users: np.ndarray, items: np.ndarray,
                recall: np.ndarray, num_candidates: int) -> tuple[np.ndarray, np.ndarray]:
    """The ranker over each user's candidates (:func:`fuse_lists` of the index's channels)
    given the recall scores ``recall [U, I]`` of ``items``: ``(scores, is_candidate)``, both
    ``[U, I]``, with the ranker's score on candidates and the recall score elsewhere."""
    columns, ranks = fuse_lists(index_lists(index, users, items, recall, num_candidates), num_candidates)
    safe = np.maximum(columns, 0)
    ranked = rank_candidates(ranker, index, users, np.where(columns >= 0, items[safe], -1),
                             np.take_along_axis(recall, safe, axis=1), ranks)
    scores, is_candidate = recall.copy(), np.zeros(recall.shape, bool)
    rows, cols = np.nonzero(columns >= 0)
    scores[rows, columns[rows, cols]] = ranked[rows, cols]
    is_candidate[rows, columns[rows, cols]] = True
    return scores, is_candidate


def final_order(scores: np.ndarray, is_candidate: np.ndarray) -> np.ndarray:
    """Sort keys ``[U, I]`` that put every candidate above every non-candidate, the
    candidates by their ranker score and the rest by their recall score."""
    finite = scores[np.isfinite(scores)]
    final = scores - (np.abs(finite).max(initial=0.0) + 1.0) * 2 - 1e3
    if is_candidate.any():
        final[is_candidate] = scores[is_candidate] - scores[is_candidate].min()
    return final


def score_items(ranker: torch.nn.Module | None, index: ServingIndex, users: np.ndarray, items: np.ndarray,
                num_candidates: int) -> np.ndarray:
    """Scores ``[U, I]`` for the given items, in the final order: the ranker's over each
    user's candidates, then the rest by recall score; ``-inf`` for seen items.

    Seen items are left out before candidates are chosen, as the ranker's trainer does:
    kept, they take candidate slots (the GNN scores a user's own training items high) that
    unseen items should have, and evaluation would rank other candidates than serving."""
    recall = recall_scores(index, users, items)
    if ranker is None:
        return recall
    return final_order(*rank_recall(ranker, index, users, items, recall, num_candidates))


def serve_top_k(ranker: torch.nn.Module | None, index: ServingIndex, users: np.ndarray, items: np.ndarray, k: int,
                num_candidates: int, *, exclude_seen: bool = True, user_vectors: Tensor | None = None,
                max_scores: int = 1 << 22) -> tuple[np.ndarray, np.ndarray]:
    """The final top-``k`` of ``items`` per user: the candidates by the ranker's score,
    then (where fewer than ``k`` candidates) the other items by recall score. The order is
    :func:`score_items`'s, but only the candidates are ranked and users are scored a
    chunk at a time (``max_scores`` recall scores at once), so memory and time follow the
    request, not the catalogue squared.

    Args:
        user_vectors: vectors to serve instead of the index's rows ``users`` (then the
            ranker is skipped: a text-only user has no statistics).

    Returns:
        ``(columns, scores)``, both ``[U, k]``, the positions in ``items`` (``-1`` pads) and
        the ranker's score (candidates) or recall score (the rest).
    """
    count = len(users) if user_vectors is None else len(user_vectors)
    columns = np.full((count, k), -1, np.int64)
    scores = np.full((count, k), -np.inf, np.float32)
    chunk = users_per_block(len(items), max_scores)
    order = None
    for start in range(0, count, chunk):
        rows = slice(start, start + chunk)
        chunk_users = users[rows] if user_vectors is None else np.zeros(0, np.int64)
        recall = recall_scores(index, chunk_users, items, exclude_seen=exclude_seen,
                               user_vectors=None if user_vectors is None else user_vectors[rows])
        if ranker is None or user_vectors is not None:
            top, found = top_k(recall, k)
            columns[rows, :top.shape[1]], scores[rows, :top.shape[1]] = top, found
            continue
        if order is None:
            order = popularity_order(index, items)
        # EASE once per request: its masked scores are a channel, its raw ones a feature.
        raw = item_item_raw(index, chunk_users, items) if "item_item" in served_channels(index) else None
        candidates, ranks = fuse_lists(index_lists(index, chunk_users, items, recall, num_candidates, order,
                                                   item_item=raw), num_candidates)
        safe = np.maximum(candidates, 0)
        ranked = rank_candidates(ranker, index, chunk_users, np.where(candidates >= 0, items[safe], -1),
                                 np.take_along_axis(recall, safe, axis=1), ranks,
                                 None if raw is None else np.take_along_axis(raw, safe, axis=1))
        slot, best = top_k(ranked, k)
        top = np.full((len(chunk_users), k), -1, np.int64)
        found = np.full((len(chunk_users), k), -np.inf, np.float32)
        top[:, :slot.shape[1]] = np.where(slot >= 0, np.take_along_axis(candidates, np.maximum(slot, 0), axis=1), -1)
        found[:, :slot.shape[1]] = best
        short = np.flatnonzero((top < 0).any(axis=1))
        short = short[np.isfinite(recall[short]).any(axis=1)]
        if len(short):  # fewer than k candidates: the rest follow by recall score
            rest = recall[short].copy()
            r, c = np.nonzero(candidates[short] >= 0)
            rest[r, candidates[short][r, c]] = -np.inf
            fill, fill_scores = top_k(rest, k)
            for row, fill_row, fill_row_scores in zip(short, fill, fill_scores):
                have = int((top[row] >= 0).sum())
                extra = min(k - have, len(fill_row))
                top[row, have:have + extra] = fill_row[:extra]
                found[row, have:have + extra] = fill_row_scores[:extra]
        columns[rows], scores[rows] = top, found
    return columns, np.where(columns >= 0, scores, -np.inf).astype(np.float32)

