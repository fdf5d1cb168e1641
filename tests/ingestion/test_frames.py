"""DataFrames in and out: the frame path fills the store exactly as the CSV folder does, rejects
the same rows for the same reasons, and recommends the same items."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ingest import IngestError, ingest_source
from ingest.frames import FrameSource, ingest_frames
from kg_recsys import MemoryStore, Recommender, RecommenderConfig
from kg_recsys.datasets.demo import write_demo_dataset
from ingest_helpers import write_csv

FILES = ("interactions", "items", "users", "triples", "links", "entities")
#: Small and fast (no text model): the two paths only need to meet on the same fixed seed.
CONFIG = {"train": {"epochs": 2, "progress": False}, "model": {"use_text": False}, "rank": {"epochs": 1, "members": 1}}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo folder and its files read by pandas as a user would (default dtypes)."""
    folder = tmp_path_factory.mktemp("demo")
    write_demo_dataset(folder, seed=0)
    return folder, {name: pd.read_csv(folder / f"{name}.csv") for name in FILES}


def _same_snapshots(a, b) -> None:
    for label in ("users", "items", "entities"):
        for column in ("ids", "text", "scenario"):
            np.testing.assert_array_equal(getattr(getattr(a, label), column), getattr(getattr(b, label), column))
    for column in ("user", "item", "scenario", "kind", "weight", "timestamp"):
        np.testing.assert_array_equal(getattr(a.interactions, column), getattr(b.interactions, column))
    assert a.relations.keys() == b.relations.keys()
    for key in a.relations:
        for x, y in zip(a.relations[key], b.relations[key]):
            np.testing.assert_array_equal(x, y)


def test_frames_fill_the_store_as_the_csv_folder_does(demo):
    folder, frames = demo
    from_csv, from_frames = MemoryStore(), MemoryStore()
    csv_summary = ingest_source(folder, from_csv, progress=False)
    frame_summary = ingest_frames(from_frames, **frames)
    assert frame_summary.nodes == csv_summary.nodes
    assert frame_summary.relationships == csv_summary.relationships
    assert (frame_summary.rows_read, frame_summary.rejected, frame_summary.duplicates) == \
        (csv_summary.rows_read, csv_summary.rejected, csv_summary.duplicates)
    _same_snapshots(from_csv.snapshot(), from_frames.snapshot())


def test_from_frames_recommends_as_the_csv_path(demo):
    folder, frames = demo
    config = RecommenderConfig.from_dict(CONFIG)
    store = MemoryStore()
    ingest_source(folder, store, progress=False)
    by_csv = Recommender(config).fit(store)
    by_frames = Recommender.from_frames(**frames, config=config)
    users = ["u001", "u002", "u150", "nobody"]
    for a, b in zip(by_csv.recommend(users, k=5), by_frames.recommend(users, k=5)):
        np.testing.assert_array_equal(a, b)

    table = by_frames.recommend_frame(users, k=5)
    assert list(table.columns) == ["user_id", "rank", "item_id", "score", "scenario"]
    assert len(table) == 20
    ids, scores = by_frames.recommend("u001", k=5)
    first = table[table.user_id == "u001"]
    assert first["rank"].tolist() == [1, 2, 3, 4, 5]
    assert first.item_id.tolist() == ids.tolist()
    np.testing.assert_allclose(first.score.to_numpy(), scores, rtol=1e-5)  # one user vs a batch: float32 sums
    items = frames["items"].set_index("item_id").scenario
    assert first.scenario.tolist() == items[ids].tolist()
    assert table[table.user_id == "nobody"].score.isna().all()  # the popularity fallback has no score
    books = by_frames.recommend_frame("u001", k=3, scenario="books")
    assert set(books.scenario) == {"books"} and len(books) == 3


def test_frames_are_rejected_as_csv_rows_are(tmp_path):
    """Same rows, same rejects (field and message); a frame's line is the row's position."""
    text = "user_id,item_id,weight,timestamp\nu1,i1,1,10\n,i2,1,\nu2,i3,heavy,\nu3,i1,2,inf\nu4,i2,,\n"
    write_csv(tmp_path, "interactions.csv", text)
    csv_summary = ingest_source(tmp_path, MemoryStore(), progress=False, rejects_path=tmp_path / "csv.csv")
    frame = pd.DataFrame({"user_id": ["u1", None, "u2", "u3", "u4"], "item_id": ["i1", "i2", "i3", "i1", "i2"],
                          "weight": ["1", "1", "heavy", "2", None], "timestamp": [10, None, None, np.inf, None]})
    source = FrameSource(frame)
    store = MemoryStore()
    summary = ingest_source(source, store, progress=False, rejects_path=tmp_path / "frames.csv")
    by_csv = pd.read_csv(csv_summary.rejects_file)
    by_frame = pd.read_csv(summary.rejects_file)
    assert by_frame.field.tolist() == by_csv.field.tolist() == ["user_id", "weight", "timestamp"]
    assert by_frame.error.tolist() == by_csv.error.tolist()
    assert by_frame.line.tolist() == [line - 2 for line in by_csv.line]  # the header is line 1, row 0 line 2
    assert set(by_frame.file) == {"interactions frame"}
    assert summary.nodes == csv_summary.nodes and summary.relationships == csv_summary.relationships


def test_frame_cells_become_canonical_fields():
    """Lists are several attribute values, datetimes seconds since the epoch, NaN empty."""
    interactions = pd.DataFrame({"user_id": [1, 2], "item_id": ["i1", "i2"],
                                 "timestamp": pd.to_datetime(["1970-01-01 00:01:40", None])})
    items = pd.DataFrame({"item_id": ["i1", "i2"], "text": ["A war novel", np.nan], "genre": [["Drama", "War"], None]})
    store = MemoryStore()
    ingest_frames(store, interactions, items)
    snapshot = store.snapshot()
    assert sorted(snapshot.users.ids.tolist()) == ["1", "2"]
    assert sorted(snapshot.interactions.timestamp.tolist(), key=np.isnan)[0] == 100.0
    assert np.isnan(snapshot.interactions.timestamp).sum() == 1
    assert sorted(snapshot.entities.ids.tolist()) == ["genre=Drama", "genre=War"]
    assert snapshot.items.text.tolist() == ["A war novel", ""]


def test_frame_errors_say_what_to_do():
    with pytest.raises(IngestError, match="required column 'item_id' is missing"):
        FrameSource(pd.DataFrame({"user_id": ["u1"]}))
    with pytest.raises(IngestError, match="items must be a pandas DataFrame, got dict"):
        FrameSource(pd.DataFrame({"user_id": ["u1"], "item_id": ["i1"]}), items={"item_id": ["i1"]})


def test_the_progress_bar_has_a_total_that_the_reading_reaches(tmp_path, demo):
    """A canonical folder (a text over two lines, a blank line, a bad row) and DataFrames count
    the lines they read, and end exactly at the total the bar is given."""
    from ingest.base import Rejects
    from ingest.canonical import CanonicalSource

    write_csv(tmp_path, "interactions.csv", "user_id,item_id\nu1,i1\n\n,i2\nu2,i1")
    write_csv(tmp_path, "items.csv", 'item_id,text\ni1,"two\nlines"\ni2,one line\n')
    _, frames = demo
    for source, total in ((CanonicalSource(tmp_path), 7), (FrameSource(**frames), sum(map(len, frames.values())))):
        read: list[int] = []
        source.on_lines = read.append
        rejects = Rejects()
        for stream in (source.nodes, source.interactions, source.relations):
            list(stream(rejects))
        assert source.total_lines() == total and sum(read) == total and min(read) >= 0
