"""Each real data set reader on its real files (../shared/data or $KGREC_DATA_DIR).

Expected numbers come from the data sets' READMEs; where a file disagrees with its README
the test counts the file itself and says so.
"""
from __future__ import annotations

import numpy as np
import pytest

from ingest import ingest_source
from kg_recsys.store.memory import MemoryStore


def lines(path) -> int:
    """Non-empty lines, a last line without a newline included."""
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def interacted(store: MemoryStore) -> tuple[int, int]:
    snapshot = store.snapshot()
    return len(np.unique(snapshot.interactions.user)), len(np.unique(snapshot.interactions.item))


def test_ml_100k_counts_match_readme_and_rerun_changes_nothing(data_dir, tmp_path):
    store = MemoryStore(None)
    summary = ingest_source("ml-100k-kg", store, data_dir=data_dir, progress=False)
    assert summary.rejected == 0 and summary.duplicates == 0
    assert summary.relationships["INTERACTED"] == 100_000
    assert summary.nodes["User"] == 943 and summary.nodes["Item"] == 1682
    assert interacted(store) == (943, 1682)
    assert summary.relationships["SAME_AS"] == lines(data_dir / "ml-100k-kg" / "ml-100k.link") - 1
    kg = sum(n for r, n in summary.relationships.items() if r.startswith("film."))
    assert kg == lines(data_dir / "ml-100k-kg" / "ml-100k.kg") - 1  # 91,631 Freebase triples, none repeated
    assert store.node("User", "1")["text"] == "a 24 year old male technician"
    assert store.node("Item", "1")["text"] == "Toy Story (1995). Genres: Animation, Children's, Comedy"
    assert store.has_relationship("Item", "1", "genre", "Entity", "genre=Comedy")
    assert store.has_relationship("User", "1", "occupation", "Entity", "occupation=technician")
    again = ingest_source("ml-100k-kg", store, data_dir=data_dir, progress=False)
    assert (again.nodes, again.relationships) == (summary.nodes, summary.relationships)


def test_ml_1m_counts_match_readme_and_rerun_changes_nothing(data_dir):
    store = MemoryStore(None)
    summary = ingest_source("ml-1m", store, data_dir=data_dir, progress=False)
    assert summary.rejected == 0 and summary.duplicates == 0
    assert summary.relationships["INTERACTED"] == 1_000_209
    assert summary.nodes["User"] == 6040 and summary.nodes["Item"] == 3883  # every movie of movies.dat
    assert interacted(store) == (6040, 3706)  # 3,706 of them rated
    assert summary.relationships["SAME_AS"] == 2347
    assert store.node("User", "1")["text"] == "a female K-12 student under 18"
    assert store.node("Item", "73")["text"].startswith("Misérables, Les (1995)")
    snapshot = store.snapshot()
    assert set(np.unique(snapshot.interactions.weight).tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert not np.isnan(snapshot.interactions.timestamp).any()
    again = ingest_source("ml-1m", store, data_dir=data_dir, progress=False)
    assert (again.nodes, again.relationships) == (summary.nodes, summary.relationships)


def test_lastfm(data_dir, tmp_path):
    store = MemoryStore(None)
    summary = ingest_source("lastfm-kg", store, data_dir=data_dir, rejects_path=tmp_path / "r.csv", progress=False)
    assert summary.nodes["User"] == 1892 and summary.nodes["Item"] == 17632
    assert summary.relationships["INTERACTED"] == 92_834
    assert summary.relationships["friend"] == 25_434
    assert summary.relationships["SAME_AS"] == 3846
    # artist_tags.tsv names tag ids that tags.dat lacks: those rows, and only those, are rejected
    rejects = (tmp_path / "r.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert summary.rejected == len(rejects) > 0
    assert all("artist_tags.tsv" in r and ",tagID," in r and "not in tags.dat" in r for r in rejects)
    tag_rows = lines(data_dir / "lastfm-kg" / "artist_tags.tsv") - 1
    assert summary.relationships["tag"] < tag_rows - summary.rejected  # repeated (artist, tag) pairs merge
    assert summary.duplicates >= tag_rows - summary.rejected - summary.relationships["tag"]
    assert store.has_relationship("User", "2", "friend", "User", "275")
    assert store.node("Item", "11681")["text"].startswith("Ballaké Sissoko")  # mojibake repaired
    metallica = store.node("Item", "707")
    assert metallica["text"].startswith("Metallica. Tags: ") and metallica["scenario"] == "listening"
    assert store.has_relationship("Item", "2", "SAME_AS", "Entity", "kg:0")


def test_douban_scenarios_and_namespaced_items(data_dir):
    store = MemoryStore(None)
    summary = ingest_source("douban-cdr", store, data_dir=data_dir, progress=False)
    book = lines(data_dir / "douban-cdr" / "douban_book" / "ratings.dat")
    music = lines(data_dir / "douban-cdr" / "douban_music" / "ratings.dat")
    # The README says 96,040 and 69,708: `wc -l`, which misses each file's unterminated last line.
    assert (book, music) == (96_041, 69_709)
    assert summary.rejected == 0 and summary.relationships == {"INTERACTED": book + music}
    snapshot = store.snapshot()
    assert snapshot.scenarios() == ["book", "music"]
    assert store.node("Item", "book:1630")["scenario"] == "book"
    assert all(i.split(":")[0] == s for i, s in zip(snapshot.items.ids.tolist(), snapshot.items.scenario.tolist()))
    inter = snapshot.interactions
    both = set(inter.user[inter.scenario == "book"].tolist()) & set(inter.user[inter.scenario == "music"].tolist())
    assert len(both) > 1000  # shared users link the two scenarios


def test_amazon_pair_reads_both_domains(data_dir):
    store = MemoryStore(None)
    summary = ingest_source("amazon-cdr-ids/sport_cloth", store, data_dir=data_dir, progress=False)
    root = data_dir / "amazon-cdr-ids"
    expected = sum(lines(root / d / f) for d in ("sport_cloth", "cloth_sport")
                   for f in ("train.txt", "test_original.txt"))
    assert summary.rejected == 0 and summary.relationships == {"INTERACTED": expected}
    assert summary.nodes["User"] == 9928  # the README's shared users
    snapshot = store.snapshot()
    assert snapshot.scenarios() == ["cloth", "sport"]
    inter = snapshot.interactions
    sport = set(inter.user[inter.scenario == "sport"].tolist())
    cloth = set(inter.user[inter.scenario == "cloth"].tolist())
    assert len(sport & cloth) == 9928
    assert store.has_relationship("User", "0", "INTERACTED", "Item", "sport:23761")
    assert store.has_relationship("User", "0", "INTERACTED", "Item", "cloth:15588")


def test_amazon_unknown_pair_is_a_clear_error(data_dir):
    from ingest import IngestError

    with pytest.raises(IngestError, match="sport_moon"):
        ingest_source("amazon-cdr-ids/sport_moon", MemoryStore(None), data_dir=data_dir, progress=False)


def test_ml_100k_relinked_moves_links_to_the_film_they_name(data_dir, tmp_path):
    # RecBole's ml-100k.link is keyed by MovieLens-1M ids: its row "313 m.0b8l01" names
    # ML-1M's 313, The Swan Princess, not ml-100k's 313, Titanic.
    store = MemoryStore(None)
    summary = ingest_source("ml-100k-kg-relinked", store, data_dir=data_dir, rejects_path=tmp_path / "r.csv",
                            progress=False)
    assert store.node("Item", "1409")["text"].startswith("Swan Princess, The (1994)")
    assert store.has_relationship("Item", "1409", "SAME_AS", "Entity", "m.0b8l01")
    assert not store.has_relationship("Item", "313", "SAME_AS", "Entity", "m.0b8l01")
    # Every link row either moved or was rejected with its line and reason.
    rejects = (tmp_path / "r.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert summary.rejected == len(rejects) > 0
    assert all("ml-100k.link" in r and ",item_id," in r and "title and year" in r for r in rejects)
    link_rows = lines(data_dir / "ml-100k-kg" / "ml-100k.link") - 1
    assert summary.relationships["SAME_AS"] >= link_rows - summary.rejected
    assert summary.relationships["SAME_AS"] > 0.9 * link_rows
    # The interactions, items and KG triples are those of ml-100k-kg.
    assert summary.relationships["INTERACTED"] == 100_000 and summary.nodes["Item"] == 1682
    kg = sum(n for r, n in summary.relationships.items() if r.startswith("film."))
    assert kg == lines(data_dir / "ml-100k-kg" / "ml-100k.kg") - 1
    again = ingest_source("ml-100k-kg-relinked", store, data_dir=data_dir, rejects_path=tmp_path / "r2.csv",
                          progress=False)
    assert (again.nodes, again.relationships) == (summary.nodes, summary.relationships)


def test_amazon_food_kitchen_counts_match_readme(data_dir):
    # The data folder is checked by the data_dir fixture (CI fails without it, as for the others).
    # One ingest of the real files, about 30 s: not load_snapshot's cache, whose key is the
    # input files, not the reader, so it would hide a change to the reader.
    store = MemoryStore(None)
    summary = ingest_source("amazon-food-kitchen", store, data_dir=data_dir, progress=False)
    assert summary.rejected == 0 and summary.duplicates == 0
    assert summary.relationships == {"INTERACTED": 436_127}
    assert summary.nodes["User"] == 53_061 and summary.nodes["Item"] == 8_661 + 27_637
    snapshot = store.snapshot()
    items = snapshot.items
    assert (items.scenario == "food").sum() == 8_661 and (items.scenario == "kitchen").sum() == 27_637
    assert (items.text != "").all()  # 100% titled
    assert not any("&amp;" in text or "&quot;" in text for text in items.text.tolist())
    assert store.node("Item", "B001KZM4Y4")["text"] == 'Automatic Yogurt Maker (White) (6"H x 9.5"W x 9.5"D)'
    inter = snapshot.interactions
    users = snapshot.users.ids[inter.user]
    prefix = np.array([u.split(":")[0] for u in users.tolist()])
    # Per file: the README's interactions and instance_num.txt's users (valid/test: their lines).
    for name, n_inter, n_users in (("A", 37_281, 5_472), ("B", 265_817, 38_191), ("overlap", 99_170, 7_501),
                                   ("valid", 18_133, 960), ("test", 15_726, 937)):
        assert (prefix == name).sum() == n_inter, name
        assert len(np.unique(users[prefix == name])) == n_users, name
    food = set(users[inter.scenario == "food"].tolist())
    kitchen = set(users[inter.scenario == "kitchen"].tolist())
    both = food & kitchen
    assert len(both) == 9_398
    assert {u.split(":")[0] for u in both} == {"overlap", "valid", "test"}
    assert {u.split(":")[0] for u in food - kitchen} == {"A"} and {u.split(":")[0] for u in kitchen - food} == {"B"}
    # test.txt line 1 starts 150,10198: food item 150, then kitchen item 10198 - 8661 = 1537.
    first = (users == "test:1") & (inter.timestamp < 2)
    assert items.ids[inter.item[first]][np.argsort(inter.timestamp[first])].tolist() == ["B007FK3CVM", "B0083UN4P2"]
