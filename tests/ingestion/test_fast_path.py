"""The fast ingest path (ingest/fast.py: pyarrow columns, the memory store's column writes) gives
what the row path gives: the same store, the same summary and the same rejects, file, line,
field, message and text each."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingest import Rejects, fast, ingest_source
from ingest.datasets import Ml1mSource
from ingest_helpers import write_csv
from kg_recsys.datasets import write_demo_dataset
from kg_recsys.store.memory import MemoryStore
from kg_recsys.store.rdf import snapshot_rows

# A plain file (no quote, no blank line, every line 6 fields: one that is not makes the whole
# file take the row path, see the next test) with a bad row of every kind the parsers know, and
# rows the fast path must read as the row path does (blanks around ids, repeats, -0.0).
BAD_INTERACTIONS = """\
user_id,item_id,scenario,kind,weight,timestamp
u1,i1,books,rating,5,100
,i1,books,rating,5,101
u2,,books,rating,5,102
u3,i2,books,rating,five,103
u4,i2,books,rating,5,inf
u5,i3,{long},rating,4,104
 u6 ,i3 ,,,,
u7,i4,books,click,1e3,-0.0
u7,i4,books,click,2,0.0
u1,i1,books,rating,3,100
u8,{long_id},books,rating,1,105
u9,ï-ü,books,rating,1,106
u10,i5,books,rating,nan,107
u12,i6,movies,view,2.5,108
"""


def bad_folder(root: Path) -> Path:
    folder = root / "bad"
    write_csv(folder, "interactions.csv", BAD_INTERACTIONS.format(long="s" * 300, long_id="x" * 600))
    write_csv(folder, "items.csv", "item_id,text\ni1,One\ni2,Two\n")
    return folder


def ordered(snapshot) -> list:
    """The snapshot's arrays in their order (node rows are embedding rows: order matters)."""
    inter = snapshot.interactions
    return [table.ids.tolist() for table in (snapshot.users, snapshot.items, snapshot.entities)] + \
        [inter.user.tolist(), inter.item.tolist(), inter.weight.tolist(), inter.timestamp.astype(str).tolist()]


def ingest_both(source, monkeypatch, tmp_path, **kwargs):
    """(summary, snapshot rows, rejects file text) through the fast path, then the row path."""
    results = []
    for path in ("fast", "rows"):
        if path == "rows":
            monkeypatch.setattr(fast, "read_plain", lambda *args, **kw: None)
        store = MemoryStore(None)
        rejects = tmp_path / f"rejects-{path}.csv"
        summary = ingest_source(source, store, rejects_path=rejects, progress=False, **kwargs)
        snapshot = store.snapshot()
        results.append((dict(summary.to_json(), seconds=0, rejects_file=None),
                        (snapshot_rows(snapshot), ordered(snapshot)), rejects.read_text(encoding="utf-8")))
    monkeypatch.undo()
    return results


def test_plain_files_take_the_fast_path_and_others_do_not(tmp_path):
    folder = bad_folder(tmp_path)
    assert fast.read_plain(folder / "interactions.csv", ",", 6, header=True) is not None
    for name, text in (("quoted", 'user_id,item_id\n"u1",i1\n'), ("blank", "user_id,item_id\nu1,i1\n\nu2,i2\n"),
                       ("short", "user_id,item_id\nu1\n"), ("bom", "\ufeffuser_id,item_id\nu1,i1\n"),
                       ("cr", "user_id,item_id\nu1,i1\ru2,i2\n")):
        path = write_csv(tmp_path / name, "interactions.csv", text)
        assert fast.read_plain(path, ",", 2, header=True) is None, name
    latin = tmp_path / "latin" / "interactions.csv"
    latin.parent.mkdir()
    latin.write_bytes(b"user_id,item_id\nu1,caf\xe9\n")
    assert fast.read_plain(latin, ",", 2, header=True) is None
    ratings = write_csv(tmp_path / "ml", "ratings.dat", "1::2::5::10\n1::3:x::4::11\n")
    assert fast.read_plain(ratings, "::", 4, header=False) is None  # a ':' inside a field


def test_bad_rows_give_the_same_rejects_and_store_on_both_paths(tmp_path, monkeypatch):
    folder = bad_folder(tmp_path)
    (fast_summary, fast_rows, fast_rejects), (row_summary, row_rows, row_rejects) = \
        ingest_both(folder, monkeypatch, tmp_path)
    assert fast_rejects == row_rejects
    assert fast_summary == row_summary and fast_rows == row_rows
    # the contract itself, not only the agreement: each bad line is named once, with its field
    fields = [line.split(",")[1:3] for line in fast_rejects.splitlines()[1:]]
    assert fields == [["3", "user_id"], ["4", "item_id"], ["5", "weight"], ["6", "timestamp"], ["7", "scenario"],
                      ["12", "item_id"], ["14", "weight"]]
    assert fast_summary["rejected"] == 7 and fast_summary["duplicates"] == 2  # u1,i1@100 again; -0.0 and 0.0
    assert ("u6", "i3", "default", "interaction", 1.0, None) in fast_rows[0]["INTERACTED"]


def test_demo_gives_the_same_store_on_both_paths(tmp_path, monkeypatch):
    demo = write_demo_dataset(tmp_path / "demo", seed=4)
    assert fast.read_plain(demo / "interactions.csv", ",", 6, header=True) is not None  # the fast path is taken
    (fast_summary, fast_rows, fast_rejects), (row_summary, row_rows, row_rejects) = \
        ingest_both(demo, monkeypatch, tmp_path)
    assert fast_summary == row_summary and fast_rows == row_rows and fast_rejects == row_rejects
    assert fast_summary["relationships"]["INTERACTED"] > 1000 and not fast_summary["rejected"]


def test_rerun_of_the_fast_path_changes_nothing(tmp_path):
    folder = bad_folder(tmp_path)
    store = MemoryStore(tmp_path / "graph")
    first = ingest_source(folder, store, progress=False, rejects_path=tmp_path / "r.csv")
    rows = snapshot_rows(store.snapshot())
    again = ingest_source(folder, store, progress=False, rejects_path=tmp_path / "r.csv")
    assert (again.nodes, again.relationships, again.rejected) == (first.nodes, first.relationships, first.rejected)
    assert snapshot_rows(store.snapshot()) == rows
    store.close()
    assert snapshot_rows(MemoryStore(tmp_path / "graph").snapshot()) == rows  # the log replays to the same


@pytest.fixture
def small_ml1m(tmp_path, data_dir) -> Path:
    """ml-1m's real node and KG files with a ratings file of good and bad lines."""
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    for name in ("movies.dat", "users.dat", "kg_mkr.txt", "item_index2entity_id_mkr.txt"):
        shutil.copy(Path(data_dir) / "ml-1m" / name, folder / name)
    (folder / "ratings.dat").write_text("1::1193::5::978300760\n1::661::3::978302109\n2::::4::978300000\n"
                                        "2::1193::::978300001\n2::1193::4::soon\n3::661::4.5::978300002\n"
                                        "1::1193::2::978300760\n4::9999::1::978300003\n", encoding="utf-8")
    return folder


def test_ml1m_ratings_give_the_same_rejects_on_both_paths(small_ml1m, tmp_path, monkeypatch):
    assert fast.read_plain(small_ml1m / "ratings.dat", "::", 4, header=False) is not None
    (fast_summary, fast_rows, fast_rejects), (row_summary, row_rows, row_rejects) = \
        ingest_both(Ml1mSource(small_ml1m), monkeypatch, tmp_path)
    assert fast_rejects == row_rejects and fast_summary == row_summary and fast_rows == row_rows
    assert [line.split(",")[1:3] for line in fast_rejects.splitlines()[1:]] == \
        [["3", "item_id"], ["4", "rating"], ["5", "timestamp"]]
    assert fast_summary["duplicates"] == 1 and fast_summary["relationships"]["INTERACTED"] == 4


def test_columns_and_rows_read_alike(small_ml1m):
    source = Ml1mSource(small_ml1m)
    by_rows, by_columns = Rejects(), Rejects()
    rows = list(source.interactions(by_rows))
    columns = [part for batch in source.interaction_columns(by_columns) for part in batch.rows()]
    assert [sorted(r.items()) for r in rows] == [sorted(r.items()) for r in columns]
    assert [vars(r) for r in by_rows.items] == [vars(r) for r in by_columns.items]
