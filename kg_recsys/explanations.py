"""Explanations: the graph paths that tie a user to an item, their weights, a sentence over
them, and a user's interests. Pure functions over a :class:`~kg_recsys.store.base.GraphSnapshot`,
so :meth:`Recommender.explain <kg_recsys.recommender.Recommender.explain>` and
``graphs/queries/why_recommended.cypher`` can be held to one definition.

Path weights (the same in Python and in the Cypher query)::

    content:       u -INTERACTED-> h -R-> e <-R- t      weight = w(u, h) / k(e)
    collaborative: u -INTERACTED-> h <-INTERACTED- o -INTERACTED-> t
                                                        weight = w(u, h) / k(o)
    profile:       u -R1-> e <-R2- t                    weight = 1 / k(e)

with ``h != t``, ``o != u``, ``w(u, h)`` the sum of the weights of u's interactions with h,
``k(e)`` the number of Item -> e relationships and ``k(o)`` the number of distinct items o
interacted with. A shared neighbour says more the fewer nodes it links (the
resource-allocation index of link prediction, Zhou et al. 2009, weighted by how much the
user engaged with the item the path starts from). Paths are ordered by weight (highest
first), then kind, then their nodes as ``Label:id`` strings, then their relation types.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kg_recsys.schema import ENTITY, INTERACTED, ITEM, SAME_AS, USER
from kg_recsys.store.base import GraphSnapshot

CONTENT, COLLABORATIVE, PROFILE = "content", "collaborative", "profile"


@dataclass(frozen=True)
class PathStep:
    """One node of a path, as the store holds it."""

    #: ``User``, ``Item`` or ``Entity``.
    label: str
    #: The node's id.
    id: str
    #: The node's text in the store (``""`` where it has none).
    text: str


@dataclass(frozen=True)
class ExplanationPath:
    """A path in the graph from a user to an item: ``nodes[i]`` and ``nodes[i + 1]`` are
    joined by ``relations[i]``, a relationship that exists in the store."""

    #: The nodes from the user to the item.
    nodes: tuple[PathStep, ...]
    #: The relationship type of each hop (``len(nodes) - 1`` of them).
    relations: tuple[str, ...]
    #: Per hop, whether its relationship points from ``nodes[i]`` to ``nodes[i + 1]``.
    forward: tuple[bool, ...]
    #: The path's weight, as the module docstring defines it (the Cypher query's ``weight``).
    weight: float
    #: ``content``, ``collaborative`` or ``profile`` (see the module docstring).
    kind: str = ""
    #: Per hop, the kinds of its interactions (``("rating",)``) for INTERACTED, else ``()``.
    interaction_kinds: tuple[tuple[str, ...], ...] = ()

    def __str__(self) -> str:
        parts = [f"{self.nodes[0].label}:{self.nodes[0].id}"]
        for step, relation, forward in zip(self.nodes[1:], self.relations, self.forward):
            arrow = f"-[{relation}]->" if forward else f"<-[{relation}]-"
            name = f" ({step.text[:40]})" if step.text else ""
            parts.append(f"{arrow} {step.label}:{step.id}{name}")
        return " ".join(parts)

    def sentence(self) -> str:
        """This path as a clause (``you rated "A", which shares the genre "B" with "C"``), from
        the template of its kind; each claim is one of its hops.

        Returns:
            The clause, without a capital or a full stop.
        """
        return _clause(self)


@dataclass(frozen=True)
class Explanation:
    """Why an item scores as it does for a user: the two stages' scores and the graph paths
    that tie them (:meth:`Recommender.explain <kg_recsys.recommender.Recommender.explain>`)."""

    #: The user.
    user_id: str
    #: The item.
    item_id: str
    #: Dot product of the user and item vectors (the recall stage).
    recall_score: float
    #: The ranker's score for the pair (``None`` without a ranker).
    rank_score: float | None
    #: The strongest paths, strongest first.
    paths: tuple[ExplanationPath, ...] = field(default_factory=tuple)
    #: The item's name (the first sentence of its text, else its id), for :meth:`text`.
    item_name: str = ""

    def text(self, max_paths: int = 2) -> str:
        """The strongest paths as one sentence, every claim a hop of a path:
        ``Because you rated "A", which shares the genre "B" with "C".``

        Args:
            max_paths: how many paths the sentence names. (default: ``2``)

        Returns:
            The sentence; without paths, one saying that nothing in the graph ties the user
            to the item.
        """
        if not self.paths:
            name = self.item_name or self.item_id
            return (f'No path in the graph ties user {self.user_id} to "{name}": the score comes from the '
                    "vectors alone (text and learned features).")
        clauses = [path.sentence() for path in self.paths[:max(1, max_paths)]]
        return "Because " + "; and because ".join(clauses) + "."


@dataclass(frozen=True)
class Interest:
    """An entity a user's history points at (see :func:`user_interests`)."""

    #: The entity's id (``genre=Adventure``).
    entity_id: str
    #: Its name: the entity's text, else the value in its id.
    name: str
    #: Its share of the user's interaction weight; all of a user's interests sum to 1.
    weight: float


# ---------------------------------------------------------------------- names and templates
_VERBS = {
    "rating": "rated", "rate": "rated", "rated": "rated", "click": "clicked", "clicked": "clicked",
    "view": "viewed", "viewed": "viewed", "purchase": "bought", "buy": "bought", "bought": "bought",
    "play": "played", "listen": "listened to", "watch": "watched", "read": "read", "like": "liked",
    "review": "reviewed", "interaction": "interacted with", "cart": "added to a cart",
}
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "no", "vol"}


def display_name(step: PathStep) -> str:
    """A node's name from the store: an item's title (its text up to the first full stop), an
    entity's text, else its id (an attribute entity's value, ``genre=Adventure`` -> ``Adventure``)."""
    if step.label == USER:
        return f"user {step.id}"
    text = step.text.strip()
    if step.label == ITEM and text:
        start = 0
        while (stop := text.find(". ", start)) >= 0:
            word = text[:stop].rsplit(" ", 1)[-1]
            if word.lower() not in _ABBREVIATIONS and len(word) > 1:
                text = text[:stop]
                break
            start = stop + 2
    if not text:
        text = step.id.split("=", 1)[1] if step.label == ENTITY and "=" in step.id else step.id
    return text if len(text) <= 80 else text[:79] + "…"


def _verb(kinds: tuple[str, ...]) -> str:
    verbs = list(dict.fromkeys(_VERBS.get(k.lower(), f'had a "{k}" interaction with') for k in kinds))
    return " and ".join(verbs) or "interacted with"


def _relation(relation: str) -> str:
    """``film.film.genre`` -> ``genre``, ``age_group`` -> ``age group``."""
    return relation.rsplit(".", 1)[-1].rsplit(":", 1)[-1].replace("_", " ")


def _q(step: PathStep) -> str:
    return f'"{display_name(step)}"'


def _clause(path: ExplanationPath) -> str:
    n, r, kinds = path.nodes, path.relations, path.interaction_kinds or ((),) * len(path.relations)
    if path.kind == CONTENT:
        if r[1] == SAME_AS:
            return f"you {_verb(kinds[0])} {_q(n[1])}, which, like {_q(n[3])}, is {_q(n[2])} in the knowledge graph"
        return f"you {_verb(kinds[0])} {_q(n[1])}, which shares the {_relation(r[1])} {_q(n[2])} with {_q(n[3])}"
    if path.kind == COLLABORATIVE:
        return (f"you {_verb(kinds[0])} {_q(n[1])}, and {display_name(n[2])}, who also {_verb(kinds[1])} it, "
                f"{_verb(kinds[2])} {_q(n[3])}")
    if path.kind == PROFILE:
        return f"your {_relation(r[0])} is {_q(n[1])}, and {_q(n[2])} has the {_relation(r[1])} {_q(n[1])}"
    # Any other shape: every hop in turn, in its own direction.
    hops = []
    for a, relation, b, forward, kind in zip(n, r, n[1:], path.forward, kinds):
        src, dst = (a, b) if forward else (b, a)
        word = _verb(kind) if relation == INTERACTED else f"-{_relation(relation)}->"
        hops.append(f"{_name(src)} {word} {_name(dst)}")
    return ", ".join(hops)


def _name(step: PathStep) -> str:
    return display_name(step) if step.label == USER else _q(step)


# ---------------------------------------------------------------------- path weights
def _item_entity_links(snapshot: GraphSnapshot) -> list[tuple[str, np.ndarray, np.ndarray]]:
    return [(relation, a, b) for (src, relation, dst), (a, b) in sorted(snapshot.relations.items())
            if src == ITEM and dst == ENTITY]


def entity_item_degree(snapshot: GraphSnapshot) -> np.ndarray:
    """``k(e)``: the number of Item -> e relationships of each entity, ``[entities]``."""
    links = _item_entity_links(snapshot)
    return np.bincount(np.concatenate([b for _, _, b in links] or [np.zeros(0, np.int64)]),
                       minlength=len(snapshot.entities))


_KINDS = (COLLABORATIVE, CONTENT, PROFILE)  # in sort order
#: Per kind: the labels of its nodes and the directions of its hops.
_SHAPES = {COLLABORATIVE: ((USER, ITEM, USER, ITEM), (True, False, True)),
           CONTENT: ((USER, ITEM, ENTITY, ITEM), (True, True, False)),
           PROFILE: ((USER, ENTITY, ITEM), (True, False))}


@dataclass(frozen=True)
class _Candidates:
    """Every path from one user to one item, as parallel arrays: ``kind`` indexes ``_KINDS``,
    ``first`` and ``second`` are the rows of the nodes between the user and the item (h, e;
    h, o; e and -1), ``relations`` indexes ``names`` for the two hops that are not fixed."""

    weight: np.ndarray
    kind: np.ndarray
    first: np.ndarray
    second: np.ndarray
    relation_a: np.ndarray
    relation_b: np.ndarray
    names: list[str]


def _candidates(snapshot: GraphSnapshot, user: int, item: int) -> _Candidates:
    inter = snapshot.interactions
    mine = inter.user == user
    w = np.bincount(inter.item[mine], weights=inter.weight[mine].astype(np.float64), minlength=len(snapshot.items))
    in_history = np.zeros(len(snapshot.items), bool)
    in_history[inter.item[mine]] = True
    in_history[item] = False
    k_entity = entity_item_degree(snapshot)
    names = [INTERACTED]
    parts = []  # (weight, kind, first, second, relation_a, relation_b)

    def add(weight, kind, first, second, relation_a, relation_b):
        n = len(weight)
        parts.append((weight, np.full(n, kind), first, second, np.full(n, relation_a), np.full(n, relation_b)))

    target_entities: list[tuple[int, np.ndarray]] = []
    for relation, a, b in _item_entity_links(snapshot):
        wanted = b[a == item]
        if not len(wanted):
            continue
        names.append(relation)
        r = len(names) - 1
        target_entities.append((r, wanted))
        hit = in_history[a] & np.isin(b, wanted)
        h, e = a[hit], b[hit]
        add(w[h] / k_entity[e], 1, h, e, r, r)
    # Collaborative: the (h, o) pairs with o != u interacting with both h and the target.
    takers = np.unique(inter.user[inter.item == item])
    takers = takers[takers != user]
    if len(takers) and in_history.any():
        theirs = np.isin(inter.user, takers)
        n_items = len(snapshot.items)
        pairs = np.unique(inter.user[theirs] * n_items + inter.item[theirs])  # distinct (o, item)
        o_all, h_all = pairs // n_items, pairs % n_items
        k_user = np.bincount(o_all, minlength=len(snapshot.users))
        shared = in_history[h_all]
        o, h = o_all[shared], h_all[shared]
        add(w[h] / k_user[o], 0, h, o, 0, 0)
    # Profile: an entity that both the user and the target link to.
    for (src, relation, dst), (a, b) in sorted(snapshot.relations.items()):
        if src == USER and dst == ENTITY:
            mine_entities = b[a == user]
            if not len(mine_entities):
                continue
            names.append(relation)
            r_user = len(names) - 1
            for r_item, wanted in target_entities:
                e = np.intersect1d(mine_entities, wanted)
                add(1.0 / k_entity[e], 2, e, np.full(len(e), -1), r_user, r_item)
    if not parts:
        empty = np.zeros(0, np.int64)
        return _Candidates(np.zeros(0), empty, empty, empty, empty, empty, names)
    columns = [np.concatenate(c) for c in zip(*parts)]
    return _Candidates(columns[0].astype(np.float64), *(c.astype(np.int64) for c in columns[1:]), names=names)


def _id_rank(ids: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The sort rank of ``ids[rows]`` among themselves (string order, as Cypher's ORDER BY)."""
    if not len(rows):
        return rows
    return np.unique(ids[np.maximum(rows, 0)], return_inverse=True)[1].reshape(-1)


def explanation_paths(snapshot: GraphSnapshot, user: int, item: int, max_paths: int) -> list[ExplanationPath]:
    """The strongest paths from a user to an item, in the module docstring's order (weight,
    then kind, node ids and relation types), with their node texts and interaction kinds.

    Args:
        snapshot: the graph.
        user: the user's row in ``snapshot.users``.
        item: the item's row in ``snapshot.items``.
        max_paths: how many paths to keep.

    Returns:
        Up to ``max_paths`` :class:`ExplanationPath`, strongest first.
    """
    c = _candidates(snapshot, user, item)
    if not len(c.weight):
        return []
    # Within one kind every position holds one label, so comparing the 'Label:id' lists is
    # comparing the ids position by position; the first position differs in label between kinds.
    first_rank = np.zeros(len(c.weight), np.int64)
    second_rank = np.zeros(len(c.weight), np.int64)
    for k, kind in enumerate(_KINDS):
        at = c.kind == k
        labels = _SHAPES[kind][0]
        first_rank[at] = _id_rank(snapshot.nodes(labels[1]).ids, c.first[at])
        if kind != PROFILE:
            second_rank[at] = _id_rank(snapshot.nodes(labels[2]).ids, c.second[at])
    name_rank = np.unique(np.asarray(c.names, dtype=str), return_inverse=True)[1].reshape(-1)  # equal names tie
    order = np.lexsort((name_rank[c.relation_b], name_rank[c.relation_a], second_rank, first_rank, c.kind,
                        -c.weight))[:max_paths]
    inter = snapshot.interactions
    paths = []
    for n in order.tolist():
        kind = _KINDS[c.kind[n]]
        labels, forward = _SHAPES[kind]
        rows = (user, int(c.first[n]), int(c.second[n]), item) if kind != PROFILE else (user, int(c.first[n]), item)
        steps = tuple(PathStep(label, str(snapshot.nodes(label).ids[row]), str(snapshot.nodes(label).text[row]))
                      for label, row in zip(labels, rows))
        a, b = c.names[c.relation_a[n]], c.names[c.relation_b[n]]
        relations = (INTERACTED, INTERACTED, INTERACTED) if kind == COLLABORATIVE else \
            (INTERACTED, a, b) if kind == CONTENT else (a, b)
        kinds = []
        for (la, ra), (lb, rb), relation in zip(zip(labels, rows), zip(labels[1:], rows[1:]), relations):
            if relation == INTERACTED:
                u, i = (ra, rb) if la == USER else (rb, ra)
                kinds.append(tuple(sorted(set(inter.kind[(inter.user == u) & (inter.item == i)].tolist()))))
            else:
                kinds.append(())
        paths.append(ExplanationPath(steps, relations, forward, float(c.weight[n]), kind, tuple(kinds)))
    return paths


# ---------------------------------------------------------------------- interests
def user_interests(snapshot: GraphSnapshot, user: int, k: int) -> list[Interest]:
    """The ``k`` entities a user's history points at most, by

    ``interest(u, e) = sum_h w(u, h) * n(h, e) / n(h)  /  sum_h w(u, h)``

    over the items h the user interacted with that link to at least one entity: ``w(u, h)``
    is the sum of the weights of u's interactions with h, ``n(h, e)`` the number of h -> e
    relationships and ``n(h)`` all of h's Item -> Entity relationships. Each item spreads the
    user's engagement evenly over its links, so the weights sum to 1 and an entity shared by
    much of the history scores high.

    Args:
        snapshot: the graph.
        user: the user's row in ``snapshot.users``.
        k: how many entities to keep.

    Returns:
        Up to ``k`` :class:`Interest`, highest weight first (ties by entity id); none when no
        item of the history links to an entity.
    """
    inter = snapshot.interactions
    mine = inter.user == user
    w = np.bincount(inter.item[mine], weights=inter.weight[mine].astype(np.float64), minlength=len(snapshot.items))
    links = _item_entity_links(snapshot)
    a = np.concatenate([x for _, x, _ in links] or [np.zeros(0, np.int64)])
    b = np.concatenate([y for _, _, y in links] or [np.zeros(0, np.int64)])
    n_links = np.bincount(a, minlength=len(snapshot.items))
    touched = np.zeros(len(snapshot.items), bool)
    touched[np.unique(inter.item[mine])] = True
    linked = touched & (n_links > 0)
    total = w[linked].sum()
    use = linked[a]
    if not use.any() or total <= 0:
        return []
    scores = np.bincount(b[use], weights=w[a[use]] / n_links[a[use]], minlength=len(snapshot.entities)) / total
    ids = snapshot.entities.ids
    best = sorted(np.flatnonzero(scores > 0).tolist(), key=lambda e: (-scores[e], ids[e]))[:k]
    return [Interest(str(ids[e]), display_name(PathStep(ENTITY, str(ids[e]), str(snapshot.entities.text[e]))),
                     float(scores[e])) for e in best]
