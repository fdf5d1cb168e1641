"""The canonical folder reader: mapping, validation, rejects, idempotence, incremental adds."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ingest import IngestError, ingest_source
from kg_recsys.schema import SAME_AS
from kg_recsys.store.memory import MemoryStore
from ingest_helpers import write_csv


def good_folder(folder: Path) -> Path:
    write_csv(folder, "interactions.csv", """
user_id,item_id,scenario,kind,weight,timestamp,comment
u1,i1,books,rating,5,100,extra columns are fine
u1,i2,books,rating,3,,
u2,i1,movies,click,,200,
u2,i3,,,,,
""")
    write_csv(folder, "items.csv", """
item_id,text,scenario,genre,author
i1,A war novel,books,Drama|War,Tolstoy
i2,,books,Drama,
i3,A film,movies,,
""")
    write_csv(folder, "users.csv", """
user_id,text,country
u1,likes war novels,France
u3,a new user with no interactions,
""")
    write_csv(folder, "entities.csv", "entity_id,text\nQ1,Leo Tolstoy\nQ2,Russia\n")
    write_csv(folder, "triples.csv", "head,relation,tail\nQ1,citizen_of,Q2\nauthor=Tolstoy,same_person,Q1\n")
    write_csv(folder, "links.csv", "item_id,entity_id\ni1,W1\n")
    return folder


def test_canonical_mapping(tmp_path):
    store = MemoryStore(None)
    summary = ingest_source(good_folder(tmp_path / "d"), store, progress=False)
    assert summary.rejected == 0 and summary.duplicates == 0 and summary.rejects_file is None
    # genre=Drama, genre=War, author=Tolstoy, country=France, Q1, Q2, W1
    assert summary.nodes == {"User": 3, "Item": 3, "Entity": 7}
    assert summary.relationships == {"INTERACTED": 4, SAME_AS: 1, "author": 1, "citizen_of": 1, "country": 1,
                                     "genre": 3, "same_person": 1}
    assert store.has_relationship("Item", "i1", "genre", "Entity", "genre=War")
    assert store.node("Entity", "genre=War")["text"] == "War"
    assert store.node("Entity", "Q1")["text"] == "Leo Tolstoy"
    assert store.node("Item", "i1") == {"id": "i1", "text": "A war novel", "scenario": "books"}
    assert store.node("User", "u3")["text"] == "a new user with no interactions"
    assert store.has_relationship("Item", "i1", SAME_AS, "Entity", "W1")
    snapshot = store.snapshot()
    rows = {(snapshot.users.ids[u], snapshot.items.ids[i], s, k, float(w), t)
            for u, i, s, k, w, t in zip(snapshot.interactions.user, snapshot.interactions.item,
                                        snapshot.interactions.scenario, snapshot.interactions.kind,
                                        snapshot.interactions.weight, snapshot.interactions.timestamp.tolist())}
    assert ("u2", "i1", "movies", "click", 1.0, 200.0) in rows  # weight defaults to 1
    assert any(r[:4] == ("u2", "i3", "default", "interaction") for r in rows)  # scenario and kind default


BAD_INTERACTIONS = """
user_id,item_id,scenario,kind,weight,timestamp
u1,i1,books,rating,5,100
,i2,books,rating,5,100
u1,i3,books,rating,five,100
u1,i4,books,rating,4,yesterday
u1,i5,books,rating,4
u1,i1,books,rating,5,100
u1,i6,books,rating,nan,1
"""


def test_bad_rows_are_rejected_with_file_line_and_field(tmp_path, caplog):
    folder = tmp_path / "bad"
    write_csv(folder, "interactions.csv", BAD_INTERACTIONS)
    write_csv(folder, "triples.csv", "head,relation,tail\nQ1,ok_rel,Q2\nQ1,bad relation!,Q2\nQ1,INTERACTED,Q2\n,r,Q2\n")
    write_csv(folder, "items.csv", 'item_id,text\ni1,fine\n"bad\x01id",text\n')
    rejects_file = tmp_path / "rejects.csv"
    store = MemoryStore(None)
    summary = ingest_source(folder, store, rejects_path=rejects_file, progress=False)
    assert summary.rejected == 9
    assert summary.duplicates == 1  # the repeated (u1, i1, books, rating, 100) row
    assert summary.rejects_file == str(rejects_file)
    assert summary.relationships["INTERACTED"] == 1 and summary.relationships["ok_rel"] == 1
    with open(rejects_file, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 9
    found = {(Path(r["file"]).name, int(r["line"]), r["field"]) for r in rows}
    assert found == {
        ("interactions.csv", 3, "user_id"), ("interactions.csv", 4, "weight"), ("interactions.csv", 5, "timestamp"),
        ("interactions.csv", 6, "(row)"), ("interactions.csv", 8, "weight"),
        ("triples.csv", 3, "relation"), ("triples.csv", 4, "relation"), ("triples.csv", 5, "head"),
        ("items.csv", 3, "item_id"),
    }
    by_line = {(Path(r["file"]).name, int(r["line"])): r for r in rows}
    assert "'five' is not a number" in by_line[("interactions.csv", 4)]["error"]
    assert "expected 6 columns" in by_line[("interactions.csv", 6)]["error"]
    assert "reserved" in by_line[("triples.csv", 4)]["error"]
    assert by_line[("interactions.csv", 4)]["raw"] == "u1,i3,books,rating,five,100"
    # the first messages are logged too, naming file, line and field
    assert any("interactions.csv:3: field 'user_id'" in message for message in caplog.messages)


def test_default_rejects_file_is_written_when_there_are_rejects(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path / "d", "interactions.csv", "user_id,item_id,weight\nu1,i1,x\n")
    summary = ingest_source(tmp_path / "d", MemoryStore(None), progress=False)
    assert summary.rejected == 1
    assert Path(summary.rejects_file).is_file() and "u1,i1,x" in Path(summary.rejects_file).read_text()


@pytest.mark.parametrize("files, needle", [
    ({}, "interactions.csv: required file is missing"),
    ({"interactions.csv": "user,item_id\nu1,i1\n"}, "required column 'user_id' is missing"),
    ({"interactions.csv": ""}, "interactions.csv: the file is empty"),
    ({"interactions.csv": "user_id,item_id\n", "items.csv": "item_id,bad column\ni1,x\n"},
     "attribute column 'bad column'"),
    ({"interactions.csv": "user_id,item_id\n", "links.csv": "item_id\ni1\n"}, "links.csv: required column 'entity_id'"),
])
def test_missing_file_or_column_is_a_hard_error(tmp_path, files, needle):
    folder = tmp_path / "d"
    folder.mkdir()
    for name, text in files.items():
        write_csv(folder, name, text)
    with pytest.raises(IngestError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        ingest_source(folder, MemoryStore(None), progress=False)


def test_reingest_changes_no_count_and_new_rows_extend_the_graph(tmp_path):
    store = MemoryStore(tmp_path / "graph")
    first = ingest_source(good_folder(tmp_path / "d"), store, progress=False, batch_size=2)
    again = ingest_source(tmp_path / "d", store, progress=False, batch_size=3)
    assert (again.nodes, again.relationships) == (first.nodes, first.relationships)
    # later: a new user and item arrive, no rebuild
    write_csv(tmp_path / "more", "interactions.csv", "user_id,item_id,weight\nu9,i9,2\nu1,i9,1\n")
    write_csv(tmp_path / "more", "items.csv", "item_id,text,genre\ni9,New,Drama\n")
    more = ingest_source(tmp_path / "more", store, progress=False)
    assert more.nodes["User"] == first.nodes["User"] + 1 and more.nodes["Item"] == first.nodes["Item"] + 1
    assert more.relationships["INTERACTED"] == first.relationships["INTERACTED"] + 2
    assert more.relationships["genre"] == first.relationships["genre"] + 1
    assert more.nodes["Entity"] == first.nodes["Entity"]  # genre=Drama already existed
    store.close()
    reopened = MemoryStore(tmp_path / "graph")
    assert reopened.counts() == {"nodes": more.nodes, "relationships": more.relationships}


def test_scenario_and_kind_with_the_key_separator_are_two_events(tmp_path):
    # Issue 20, defect 2: (a|b, c) and (a, b|c) went in as two rows and came out as one INTERACTED.
    folder = tmp_path / "d"
    write_csv(folder, "interactions.csv", 'user_id,item_id,scenario,kind,timestamp\nu1,i1,a|b,c,5\nu1,i1,a,b|c,5\n')
    summary = ingest_source(folder, MemoryStore(None), progress=False)
    assert summary.relationships == {"INTERACTED": 2}
    assert (summary.rows_read, summary.rejected, summary.duplicates) == (2, 0, 0)
