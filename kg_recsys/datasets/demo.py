"""A small synthetic canonical dataset with a structure worth learning (no licensed data).

Eight latent topics drive everything: each item has a main topic (and sometimes a second
one); its text uses the topic's words, its genre attribute is one of the topic's
subgenres, its author or director mostly writes in that topic, and the KG ties subgenres
to parent genres, creators to countries, films to the books they adapt and works to their
themes. Each user has a Dirichlet preference over topics; their profile text names their
favourite topics and their interactions are drawn from items whose topics they like, in
the ``books`` scenario, the ``movies`` scenario or both. So text, KG and collaborative
signal all carry information, and cross-scenario users link the two halves.

Everything is drawn from ``numpy.random.default_rng(seed)``: same seed, same bytes.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Bump when the generator changes, so cached copies are regenerated.
DEMO_VERSION = 1
SCENARIOS = ("books", "movies")


@dataclass(frozen=True)
class Topic:
    name: str
    parent: str
    subgenres: tuple[str, str]
    words: tuple[str, ...]
    adjectives: tuple[str, ...]


TOPICS: tuple[Topic, ...] = (
    Topic("space", "science fiction", ("space opera", "cyberpunk"),
          ("starship", "galaxy", "robot", "android", "orbit", "colony", "alien", "hyperdrive"),
          ("Silent", "Distant", "Electric", "Last")),
    Topic("magic", "fantasy", ("epic fantasy", "fairy tale"),
          ("dragon", "wizard", "kingdom", "spell", "quest", "sword", "elf", "prophecy"),
          ("Enchanted", "Hidden", "Ancient", "Golden")),
    Topic("crime", "mystery", ("detective story", "heist"),
          ("detective", "murder", "clue", "alibi", "vault", "suspect", "inspector", "secret"),
          ("Missing", "Deadly", "Quiet", "Stolen")),
    Topic("love", "romance", ("romantic comedy", "period romance"),
          ("love", "wedding", "heart", "letter", "summer", "kiss", "ballroom", "promise"),
          ("Sweet", "Lost", "Second", "Paper")),
    Topic("war", "history", ("war story", "biography"),
          ("battle", "empire", "general", "revolution", "soldier", "treaty", "siege", "dynasty"),
          ("Iron", "Fallen", "Long", "Red")),
    Topic("fear", "horror", ("ghost story", "slasher"),
          ("ghost", "haunted", "curse", "shadow", "nightmare", "cellar", "blood", "whisper"),
          ("Dark", "Cursed", "Hollow", "Cold")),
    Topic("laugh", "comedy", ("satire", "slapstick"),
          ("prank", "party", "blunder", "roommate", "chaos", "road trip", "family", "holiday"),
          ("Crazy", "Big", "Awkward", "Happy")),
    Topic("wild", "adventure", ("survival", "exploration"),
          ("jungle", "mountain", "ocean", "island", "expedition", "treasure", "storm", "map"),
          ("Wild", "Endless", "Burning", "Frozen")),
)
COUNTRIES = {"France": "Europe", "Japan": "Asia", "Brazil": "South America", "Nigeria": "Africa",
             "Canada": "North America", "India": "Asia", "Italy": "Europe", "Mexico": "North America",
             "Australia": "Oceania", "Sweden": "Europe"}
FIRST = ("Ada", "Kenji", "Lucia", "Omar", "Greta", "Tomas", "Ines", "Ravi", "Nora", "Felix", "Mei", "Diego",
         "Amara", "Lars", "Chloe", "Hugo", "Yara", "Pavel", "Zoe", "Arjun")
LAST = ("Moreau", "Tanaka", "Silva", "Okafor", "Larsen", "Rossi", "Patel", "Novak", "Dubois", "Reyes",
        "Kim", "Berg", "Costa", "Mendes", "Ito", "Sharma")
AGE_GROUPS = ("18-24", "25-34", "35-44", "45-54", "55+")
SENTENCES = ("A tale of {0}, {1} and {2}.", "When a {0} meets a {1}, nothing is the same.",
             "The {0} hides a {1}; only the {2} can reveal it.", "Between {0} and {1}, one {2} changes everything.")


#: Catalogues larger than this draw interactions by topic mix (see :class:`_MixSampler`).
EXACT_DRAW_ITEMS = 100_000


class _MixSampler:
    """Draws a user's items as the exact path does, without touching every item per user.

    An item's chance is ``exp(6 * affinity) * popularity`` and its affinity depends only on
    its topic mix (a main topic, or a main and a second one), so a draw picks a mix by its
    summed popularity times ``exp(6 * affinity)``, then an item within the mix by popularity.
    Draws without replacement are draws with replacement with repeats skipped: the same
    distribution.
    """

    def __init__(self, item_scenarios: list[str], item_topics: np.ndarray, popularity: np.ndarray) -> None:
        self.item_topics = item_topics
        self.mixes, self.order, self.cumulative, self.start = {}, {}, {}, {}
        for scenario in SCENARIOS:
            rows = np.array([i for i, s in enumerate(item_scenarios) if s == scenario])
            mixes, mix_of_row = np.unique(item_topics[rows], axis=0, return_inverse=True)
            mix_of_row = mix_of_row.reshape(-1)
            order = np.argsort(mix_of_row, kind="stable")
            self.order[scenario] = rows[order]  # the scenario's items, grouped by mix
            self.cumulative[scenario] = np.concatenate([[0.0], np.cumsum(popularity[rows[order]])])
            self.start[scenario] = np.searchsorted(mix_of_row[order], np.arange(len(mixes) + 1))
            self.mixes[scenario] = mixes

    def draw(self, scenario: str, preference: np.ndarray, count: int, rng: np.random.Generator
             ) -> tuple[np.ndarray, np.ndarray]:
        """``count`` distinct items of ``scenario`` and their ratings (1-5)."""
        mixes, start, cumulative = self.mixes[scenario], self.start[scenario], self.cumulative[scenario]
        affinity = mixes @ preference
        weight = (cumulative[start[1:]] - cumulative[start[:-1]]) * np.exp(6.0 * (affinity - affinity.max()))
        count = min(count, len(self.order[scenario]))
        chosen: list[int] = []
        while len(chosen) < count:
            mix = rng.choice(len(mixes), size=2 * count, p=weight / weight.sum())
            low, high = cumulative[start[mix]], cumulative[start[mix + 1]]
            place = np.searchsorted(cumulative, low + rng.random(len(mix)) * (high - low), side="right") - 1
            place = np.clip(place, start[mix], start[mix + 1] - 1)  # float rounding at a mix's edge
            for item in self.order[scenario][place]:
                if len(chosen) < count and item not in chosen:
                    chosen.append(int(item))
        rows = np.asarray(chosen)
        rating = np.clip(np.rint(1.5 + 4.0 * (self.item_topics[rows] @ preference) / max(preference.max(), 1e-9)
                                 + rng.normal(0, 0.6, size=count)), 1, 5)
        return rows, rating


def write_demo_dataset(folder: str | os.PathLike, seed: int = 0, n_users: int = 300, n_items: int = 400
                       ) -> Path:
    """Write the demo dataset as a canonical folder (``interactions.csv``, ``items.csv``,
    ``users.csv``, ``triples.csv``, ``links.csv``, ``entities.csv``).

    Args:
        folder: where to write; created if missing.
        seed: random seed; the same seed writes the same bytes. (default: ``0``)
        n_users: number of users. (default: ``300``)
        n_items: number of items, half books and half movies. (default: ``400``)

    Returns:
        The folder.
    """
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n_topics = len(TOPICS)
    countries = list(COUNTRIES)

    # Creators: authors for books, directors for films, each mostly in one topic.
    creators: dict[str, list[tuple[str, int, str]]] = {}
    used_names: set[str] = set()
    for role in ("author", "director"):
        creators[role] = []
        for c in range(4 * n_topics):
            while True:
                name = f"{FIRST[rng.integers(len(FIRST))]} {LAST[rng.integers(len(LAST))]}"
                if name not in used_names:
                    used_names.add(name)
                    break
            creators[role].append((name, c % n_topics, countries[int(rng.integers(len(countries)))]))

    # Items.
    items = []  # (id, scenario, title, text, topic vector, subgenres, creator, year)
    for i in range(n_items):
        scenario = SCENARIOS[i % 2]
        item_id = f"{'b' if scenario == 'books' else 'm'}{i // 2 + 1:03d}"
        main = int(rng.integers(n_topics))
        vector = np.zeros(n_topics)
        vector[main] = 1.0
        second = None
        if rng.random() < 0.3:
            second = int((main + rng.integers(1, n_topics)) % n_topics)
            vector[main], vector[second] = 0.7, 0.3
        topic = TOPICS[main]
        role = "author" if scenario == "books" else "director"
        pool = [c for c in creators[role] if c[1] == main] if rng.random() < 0.85 else creators[role]
        creator = pool[int(rng.integers(len(pool)))][0]
        noun = topic.words[int(rng.integers(len(topic.words)))]
        title = f"The {topic.adjectives[int(rng.integers(len(topic.adjectives)))]} {noun.title()}"
        subgenres = [topic.subgenres[int(rng.integers(2))]]
        words = list(rng.choice(topic.words, size=3, replace=False))
        if second is not None:
            subgenres.append(TOPICS[second].subgenres[int(rng.integers(2))])
            words[2] = str(rng.choice(TOPICS[second].words))
        sentence = SENTENCES[int(rng.integers(len(SENTENCES)))].format(*words)
        medium = "novel" if scenario == "books" else "film"
        text = f"{title}. A {subgenres[0]} {medium} by {creator}. {sentence}"
        year = int(1960 + rng.integers(64))
        items.append((item_id, scenario, title, text, vector, subgenres, creator, year, main))
    item_topics = np.stack([it[4] for it in items])
    popularity = rng.lognormal(0.0, 0.8, size=n_items)

    # Users and interactions.
    users, interactions = [], []
    base_time = 1_600_000_000
    in_scenario = {s: np.array([i for i, it in enumerate(items) if it[1] == s]) for s in SCENARIOS}
    # Above EXACT_DRAW_ITEMS, each user's draw over the whole catalogue (quadratic in scale)
    # gives way to one over topic mixes: the same distribution in time linear in users.
    by_mix = _MixSampler([it[1] for it in items], item_topics, popularity) if n_items > EXACT_DRAW_ITEMS else None
    for u in range(n_users):
        user_id = f"u{u + 1:03d}"
        preference = rng.dirichlet(np.full(n_topics, 0.35))
        draw = rng.random()
        active = ("books", "movies") if draw < 0.25 else ("books",) if draw < 0.65 else ("movies",)
        top = np.argsort(-preference)[:2]
        favourite = TOPICS[top[0]]
        likes = f"loves {favourite.parent} ({', '.join(favourite.words[:3])})"
        if preference[top[1]] > 0.15:
            likes += f", and also enjoys {TOPICS[top[1]].parent}"
        medium = {("books",): "a reader", ("movies",): "a film fan"}.get(active, "a reader and film fan")
        age = AGE_GROUPS[int(rng.integers(len(AGE_GROUPS)))]
        users.append((user_id, f"{medium} who {likes}", age, countries[int(rng.integers(len(countries)))]))
        stamp = base_time + int(rng.integers(0, 30_000_000))
        if by_mix is not None:
            for scenario in active:
                chosen, rating = by_mix.draw(scenario, preference, int(np.clip(rng.poisson(18), 5, 45)), rng)
                stamps = stamp + np.cumsum(rng.integers(3_600, 400_000, size=len(chosen)))
                stamp = int(stamps[-1])
                interactions.extend((user_id, items[i][0], scenario, "rating", int(r), int(t))
                                    for i, r, t in zip(chosen, rating, stamps))
            continue
        affinity = item_topics @ preference
        for scenario in active:
            candidates = in_scenario[scenario]
            logits = 6.0 * affinity[candidates] + np.log(popularity[candidates])
            p = np.exp(logits - logits.max())
            p /= p.sum()
            count = int(np.clip(rng.poisson(18), 5, 45))
            chosen = rng.choice(candidates, size=count, replace=False, p=p)
            for i in chosen:
                rating = int(np.clip(np.rint(1.5 + 4.0 * affinity[i] / max(preference.max(), 1e-9)
                                             + rng.normal(0, 0.6)), 1, 5))
                stamp += int(rng.integers(3_600, 400_000))
                interactions.append((user_id, items[i][0], scenario, "rating", rating, stamp))

    # KG: subgenre -> parent genre, creators -> country -> continent, works -> themes, adaptations.
    triples, entities, links = [], [], []
    for topic in TOPICS:
        for sub in topic.subgenres:
            triples.append((f"genre={sub}", "subgenre_of", f"genre={topic.parent}"))
        entities.append((f"genre={topic.parent}", topic.parent))
    for role, relation in (("author", "born_in"), ("director", "nationality")):
        for name, _, country in creators[role]:
            triples.append((f"{role}={name}", relation, f"country:{country}"))
    for country, continent in COUNTRIES.items():
        triples.append((f"country:{country}", "located_in", f"continent:{continent}"))
        entities.append((f"country:{country}", country))
    for continent in sorted(set(COUNTRIES.values())):
        entities.append((f"continent:{continent}", continent))
    themes = set()
    books_by_topic: dict[int, list[str]] = {}
    for item_id, scenario, title, _, _, _, _, _, main in items:
        if scenario == "books":
            books_by_topic.setdefault(main, []).append(item_id)
    for item_id, scenario, title, _, vector, _, _, year, main in items:
        work = f"work:{item_id}"
        links.append((item_id, work))
        entities.append((work, title))
        for t in np.flatnonzero(vector):
            word = TOPICS[t].words[int(rng.integers(len(TOPICS[t].words)))]
            triples.append((work, "has_theme", f"theme:{word}"))
            themes.add(word)
        if scenario == "movies" and books_by_topic.get(main) and rng.random() < 0.3:
            source = books_by_topic[main][int(rng.integers(len(books_by_topic[main])))]
            triples.append((work, "adapted_from", f"work:{source}"))
        triples.append((work, "released_in", f"decade:{year // 10 * 10}s"))
    entities.extend((f"theme:{word}", word) for word in sorted(themes))
    entities.extend((f"decade:{d}s", f"the {d}s") for d in range(1960, 2030, 10))

    def write(name: str, header: list[str], rows) -> None:
        with open(folder / name, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)

    write("items.csv", ["item_id", "text", "scenario", "genre", "author", "director", "year"],
          [(it[0], it[3], it[1], "|".join(it[5]), it[6] if it[1] == "books" else "",
            it[6] if it[1] == "movies" else "", it[7]) for it in items])
    write("users.csv", ["user_id", "text", "age_group", "country"], users)
    write("interactions.csv", ["user_id", "item_id", "scenario", "kind", "weight", "timestamp"], interactions)
    write("triples.csv", ["head", "relation", "tail"], triples)
    write("links.csv", ["item_id", "entity_id"], links)
    write("entities.csv", ["entity_id", "text"], entities)
    (folder / "README.md").write_text(
        f"Synthetic demo dataset written by kg_recsys.datasets.demo (version {DEMO_VERSION}, seed {seed}).\n"
        "No real data: topics, names and interactions are generated.\n", encoding="utf-8")
    return folder
