"""Re-keying ml-100k.link through MovieLens-1M titles, on small files."""
from __future__ import annotations

import pytest

from ingest import IngestError, ingest_source
from ingest.datasets import Ml100kSource, movie_key, open_dataset
from kg_recsys.store.memory import MemoryStore


def write_ml100k(folder, items: list[str], links: list[str]) -> None:
    folder.mkdir(parents=True)
    stem = folder / "ml-100k"
    (stem.with_suffix(".item")).write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n" + "\n".join(items) + "\n")
    (stem.with_suffix(".inter")).write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t1\t5\t1\n1\t2\t4\t2\n")
    (stem.with_suffix(".user")).write_text(
        "user_id:token\tage:token\tgender:token\toccupation:token\n1\t24\tM\tother\n")
    (stem.with_suffix(".kg")).write_text("head_id:token\trelation_id:token\ttail_id:token\nm.a\tfilm.film.genre\tm.g\n")
    (stem.with_suffix(".link")).write_text("item_id:token\tentity_id:token\n" + "\n".join(links) + "\n")


def test_movie_key_drops_alternative_titles_accents_and_punctuation():
    assert movie_key("Wings of Desire (Der Himmel über Berlin) ", "1987") == movie_key("Wings of Desire", "1987")
    assert movie_key("Misérables, Les", "1995") == ("miserables les", "1995")
    assert movie_key("Postino, Il", "1994") != movie_key("Postino, Il", "1995")
    assert movie_key("(Untitled)", "2000") == ("untitled", "2000")  # nothing left: the parentheses stay


def test_links_follow_ml1m_titles_and_unmatched_ones_are_rejected(tmp_path):
    write_ml100k(tmp_path / "ml-100k-kg",
                 ["1\tTitanic\t1997\tDrama", "2\tSwan Princess, The\t1994\tAnimation",
                  "3\tChasing Amy\t1997\tDrama", "4\tChasing Amy\t1997\tDrama"],
                 ["1\tm.swan", "2\tm.titanic", "3\tm.amy", "9\tm.ghost", "oops"])
    movies = tmp_path / "movies.dat"
    movies.write_text("1::Swan Princess, The (1994)::Animation\n2::Titanic (1997)::Drama\n"
                      "3::Chasing Amy (1997)::Drama\n9::Not In ml-100k (1990)::Drama\n10::No Year::Drama\n")
    store = MemoryStore(None)
    summary = ingest_source(Ml100kSource(tmp_path / "ml-100k-kg", relink_through=movies), store,
                            rejects_path=tmp_path / "r.csv", progress=False)
    assert store.has_relationship("Item", "2", "SAME_AS", "Entity", "m.swan")
    assert store.has_relationship("Item", "1", "SAME_AS", "Entity", "m.titanic")
    # ml-100k lists some films twice: both ids get the link.
    assert store.has_relationship("Item", "3", "SAME_AS", "Entity", "m.amy")
    assert store.has_relationship("Item", "4", "SAME_AS", "Entity", "m.amy")
    assert summary.relationships["SAME_AS"] == 4
    rejects = (tmp_path / "r.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert summary.rejected == 3 and len(rejects) == 3
    assert any("movies.dat,5,Title," in r and "(year)" in r for r in rejects)
    assert any("ml-100k.link,5,item_id," in r and "'not in ml 100k', '1990'" in r for r in rejects)
    assert any("ml-100k.link,6,(row)," in r for r in rejects)  # "oops": one field, not two


def test_links_as_shipped_without_ml1m_titles(tmp_path):
    write_ml100k(tmp_path / "ml-100k-kg", ["1\tTitanic\t1997\tDrama", "2\tSwan Princess, The\t1994\tAnimation"],
                 ["1\tm.swan"])
    store = MemoryStore(None)
    ingest_source(Ml100kSource(tmp_path / "ml-100k-kg"), store, progress=False)
    assert store.has_relationship("Item", "1", "SAME_AS", "Entity", "m.swan")


def test_relinked_name_needs_ml1m_movies_and_says_so(tmp_path):
    write_ml100k(tmp_path / "ml-100k-kg", ["1\tTitanic\t1997\tDrama"], ["1\tm.swan"])
    with pytest.raises(IngestError, match=r"ml-1m/movies\.dat beside ml-100k-kg/"):
        open_dataset("ml-100k-kg-relinked", tmp_path)
    (tmp_path / "ml-1m").mkdir()
    (tmp_path / "ml-1m" / "movies.dat").write_text("1::Titanic (1997)::Drama\n")
    source = open_dataset("ml-100k-kg-relinked", tmp_path)
    assert source.name == "ml-100k-kg-relinked" and source.files()[-1].name == "movies.dat"
