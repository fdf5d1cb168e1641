"""The synthetic demo dataset: deterministic, clean, two scenarios, learnable structure."""
from __future__ import annotations

import csv
import filecmp

import numpy as np

from ingest import ingest_source
from kg_recsys.datasets import write_demo_dataset
from kg_recsys.datasets.demo import TOPICS
from kg_recsys.store.memory import MemoryStore

FILES = ("interactions.csv", "items.csv", "users.csv", "triples.csv", "links.csv", "entities.csv")


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    a, b, c = (write_demo_dataset(tmp_path / name, seed=seed) for name, seed in (("a", 0), ("b", 0), ("c", 1)))
    for name in FILES:
        assert filecmp.cmp(a / name, b / name, shallow=False), name
    assert not filecmp.cmp(a / "interactions.csv", c / "interactions.csv", shallow=False)


def test_demo_ingests_cleanly_with_every_kind_of_signal(tmp_path):
    folder = write_demo_dataset(tmp_path / "demo")
    store = MemoryStore(None)
    summary = ingest_source(folder, store, progress=False)
    assert summary.rejected == 0 and summary.duplicates == 0
    assert summary.nodes["User"] == 300 and summary.nodes["Item"] == 400
    for relation in ("SAME_AS", "genre", "author", "director", "subgenre_of", "adapted_from", "born_in", "country"):
        assert summary.relationships[relation] > 0, relation
    snapshot = store.snapshot()
    assert snapshot.scenarios() == ["books", "movies"]
    assert (snapshot.users.text != "").all() and (snapshot.items.text != "").all()
    inter = snapshot.interactions
    books = set(inter.user[inter.scenario == "books"].tolist())
    movies = set(inter.user[inter.scenario == "movies"].tolist())
    assert 30 <= len(books & movies) <= 150  # some users in both scenarios


def test_interactions_follow_the_topics_named_in_the_user_text(tmp_path):
    """Collaborative, text and attribute signal agree: a user's items mostly carry a
    subgenre of the parent genre their profile says they love (chance is 1/8)."""
    folder = write_demo_dataset(tmp_path / "demo")
    parent_of = {sub: t.parent for t in TOPICS for sub in t.subgenres}
    with open(folder / "items.csv", encoding="utf-8") as handle:
        genres = {row["item_id"]: {parent_of[g] for g in row["genre"].split("|")} for row in csv.DictReader(handle)}
    with open(folder / "users.csv", encoding="utf-8") as handle:
        loves = {row["user_id"]: row["text"].split("loves ")[1].split(" (")[0] for row in csv.DictReader(handle)}
    hits: dict[str, list[bool]] = {}
    with open(folder / "interactions.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            hits.setdefault(row["user_id"], []).append(loves[row["user_id"]] in genres[row["item_id"]])
    share = np.mean([np.mean(v) for v in hits.values()])
    assert share > 0.4


def _item_counts_and_ratings(folder) -> tuple[dict[str, int], float, float]:
    with open(folder / "interactions.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["item_id"]] = counts.get(row["item_id"], 0) + 1
    users = {row["user_id"] for row in rows}
    return counts, float(np.mean([float(row["weight"]) for row in rows])), len(rows) / len(users)


def test_large_catalogue_draws_follow_the_exact_draws_distribution(tmp_path, monkeypatch):
    """Above EXACT_DRAW_ITEMS, users draw by topic mix in linear time; the same catalogue
    gets the same item popularity, ratings and history lengths as the exact draw (within
    sampling noise), and a catalogue of another seed does not."""
    from kg_recsys.datasets import demo

    exact = write_demo_dataset(tmp_path / "exact", n_users=1500)
    other = write_demo_dataset(tmp_path / "other", seed=5, n_users=1500)
    monkeypatch.setattr(demo, "EXACT_DRAW_ITEMS", 0)
    by_mix = write_demo_dataset(tmp_path / "mix", n_users=1500)
    assert filecmp.cmp(exact / "items.csv", by_mix / "items.csv", shallow=False)  # drawn before the users
    (exact_counts, exact_rating, exact_length), (mix_counts, mix_rating, mix_length), (other_counts, _, _) = (
        _item_counts_and_ratings(f) for f in (exact, by_mix, other))
    items = sorted(set(exact_counts) | set(mix_counts) | set(other_counts))

    def correlation(a: dict, b: dict) -> float:
        return float(np.corrcoef([a.get(i, 0) for i in items], [b.get(i, 0) for i in items])[0, 1])

    assert correlation(exact_counts, mix_counts) > 0.9
    assert correlation(exact_counts, other_counts) < 0.5
    assert abs(exact_rating - mix_rating) < 0.05 and abs(exact_length - mix_length) < 1.0
