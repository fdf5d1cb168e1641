"""The CSV boundary (issue 20, defects 3 and 4): bytes that do not decode, oversize fields and
stray quotes cost the row they are on, with its file, line and field; never the whole file,
and never silently. Every file of a folder is checked before the first write."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ingest import IngestError, ingest_source
from ingest import base
from kg_recsys.cli import main
from kg_recsys.schema import INTERACTED, ITEM
from kg_recsys.store.memory import MemoryStore


def write_bytes(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return folder / name


def interactions(store: MemoryStore) -> set[tuple[str, str]]:
    snapshot = store.snapshot()
    return {(snapshot.users.ids[u], snapshot.items.ids[i])
            for u, i in zip(snapshot.interactions.user.tolist(), snapshot.interactions.item.tolist())}


# ------------------------------------------------------------------ encodings (defect 3)
def test_one_latin1_byte_rejects_its_row_and_leaves_the_utf8_ids_alone(tmp_path):
    folder = tmp_path / "d"
    write_bytes(folder, "interactions.csv", "user_id,item_id\nu1,café\nu2,café\n".encode() + b"u3,caf\xe9\nu4,i2\n")
    write_bytes(folder, "items.csv", "\ufeffitem_id,text\ncafé,a café\n".encode())  # with a BOM
    store = MemoryStore(None)
    summary = ingest_source(folder, store, progress=False, rejects_path=tmp_path / "rejects.csv")
    assert interactions(store) == {("u1", "café"), ("u2", "café"), ("u4", "i2")}  # not cafÃ©
    assert store.node(ITEM, "café")["text"] == "a café"
    assert (summary.rows_read, summary.rejected) == (4 + 1, 1)  # 4 interactions read, 1 item node
    rejects = list(csv.DictReader(open(tmp_path / "rejects.csv", encoding="utf-8")))
    assert [(Path(r["file"]).name, r["line"], r["field"]) for r in rejects] == [("interactions.csv", "4", "item_id")]
    assert "0xe9" in rejects[0]["error"] and "--encoding" in rejects[0]["error"]
    assert rejects[0]["raw"] == "u3,caf\\xe9"


def test_a_file_in_another_encoding_is_one_clear_error_and_encoding_reads_it(tmp_path):
    folder = tmp_path / "d"
    rows = "".join(f"u{n},{name}\n" for n, name in enumerate(["café", "naïve", "crème", "señor"]))
    write_bytes(folder, "interactions.csv", ("user_id,item_id\n" + rows).encode("latin-1"))
    with pytest.raises(IngestError, match="interactions.csv: 4 of the 4 lines .* not UTF-8.*--encoding") as error:
        ingest_source(folder, MemoryStore(None), progress=False)
    assert "\n" not in str(error.value)
    store = MemoryStore(None)
    summary = ingest_source(folder, store, progress=False, encoding="latin-1")
    assert summary.rejected == 0 and ("u3", "señor") in interactions(store)
    with pytest.raises(IngestError, match="unknown encoding 'latin-9000'"):
        ingest_source(folder, MemoryStore(None), progress=False, encoding="latin-9000")
    with pytest.raises(IngestError, match="canonical dataset folders only"):
        ingest_source("demo", MemoryStore(None), progress=False, encoding="latin-1")


def test_cli_encoding_flag(tmp_path, capsys):
    folder = tmp_path / "d"
    write_bytes(folder, "interactions.csv", "user_id,item_id\nu1,café\nu2,crème\n".encode("latin-1"))
    store = f"memory:{tmp_path / 'graph'}"
    assert main(["ingest", str(folder), "--store", store, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--encoding" in err and "interactions.csv" in err
    assert main(["ingest", str(folder), "--store", store, "--no-progress", "--encoding", "latin-1"]) == 0
    assert '"INTERACTED": 2' in capsys.readouterr().out
    with MemoryStore(tmp_path / "graph") as reopened:
        assert reopened.node(ITEM, "crème") is not None


# ------------------------------------------------------------------ structure (defect 4)
def test_an_oversize_field_is_rejected_as_its_row_and_a_large_one_is_read(tmp_path):
    folder = tmp_path / "d"
    large, oversize = "x" * 200_000, "y" * (base.MAX_RECORD_CHARS + 1)  # csv's default limit is 131,072
    write_bytes(folder, "interactions.csv", b"user_id,item_id\nu1,i1\nu2,i2\n")
    write_bytes(folder, "items.csv", f"item_id,text\ni1,{large}\ni2,{oversize}\ni3,after\n".encode())
    store = MemoryStore(None)
    summary = ingest_source(folder, store, progress=False, rejects_path=tmp_path / "rejects.csv")
    assert store.node(ITEM, "i1")["text"] == large
    assert store.node(ITEM, "i3")["text"] == "after"  # the rows after the oversize one are read
    assert store.node(ITEM, "i2")["text"] is None  # known from interactions.csv, its text refused
    rejects = list(csv.DictReader(open(tmp_path / "rejects.csv", encoding="utf-8")))
    assert [(Path(r["file"]).name, r["line"], r["field"]) for r in rejects] == [("items.csv", "3", "(row)")]
    assert f"longer than {base.MAX_RECORD_CHARS} characters" in rejects[0]["error"]
    assert summary.rejected == 1


def test_an_unclosed_quote_costs_one_row(tmp_path):
    folder = tmp_path / "d"
    rows = "".join(f"u{n},i{n}\n" for n in range(100))
    write_bytes(folder, "interactions.csv", ('user_id,item_id\nu_bad,"i_bad\n' + rows).encode())
    store = MemoryStore(None)
    summary = ingest_source(folder, store, progress=False, rejects_path=tmp_path / "rejects.csv")
    assert store.counts()["relationships"] == {INTERACTED: 100}
    assert (summary.rows_read, summary.rejected) == (101, 1)
    rejects = list(csv.DictReader(open(tmp_path / "rejects.csv", encoding="utf-8")))
    assert [(r["line"], r["field"], r["raw"]) for r in rejects] == [("2", "(row)", 'u_bad,"i_bad')]


def test_a_stray_quote_closed_lines_later_costs_one_row(tmp_path, monkeypatch):
    folder = tmp_path / "d"
    write_bytes(folder, "interactions.csv",
                b'user_id,item_id\nu1,"i1\nu2,i2\nu3,i3"\nu4,i4\n')  # closed on line 4: an id cannot span lines
    write_bytes(folder, "items.csv", b'item_id,text\ni1,"two\nlines"\ni5,"x\n' + b"i6,y\n" * 8)
    monkeypatch.setattr(base, "MAX_RECORD_LINES", 5)
    store = MemoryStore(None)
    summary = ingest_source(folder, store, progress=False, rejects_path=tmp_path / "rejects.csv")
    assert interactions(store) == {("u2", "i2"), ("u3", 'i3"'), ("u4", "i4")}
    assert store.node(ITEM, "i1")["text"] == "two\nlines"  # a text may hold a line break
    rejects = list(csv.DictReader(open(tmp_path / "rejects.csv", encoding="utf-8")))
    assert sorted((Path(r["file"]).name, r["line"]) for r in rejects) == [("interactions.csv", "2"),
                                                                         ("items.csv", "4")]
    assert summary.rejected == 2


@pytest.mark.parametrize("bad_file, text, needle", [
    ("triples.csv", "", "triples.csv: the file is empty"),
    ("links.csv", "item_id\ni1\n", "links.csv: required column 'entity_id'"),
    ("users.csv", "user_id,bad column\nu1,x\n", "attribute column 'bad column'"),
    ("entities.csv", b"entity\xe9_id\nx\n", "entities.csv"),
])
def test_every_file_is_checked_before_the_first_batch_is_written(tmp_path, bad_file, text, needle):
    folder = tmp_path / "d"
    rows = "".join(f"u{n % 500},i{n % 700},,,,{n}\n" for n in range(12_000))
    write_bytes(folder, "interactions.csv", ("user_id,item_id,scenario,kind,weight,timestamp\n" + rows).encode())
    write_bytes(folder, bad_file, text if isinstance(text, bytes) else text.encode())
    with MemoryStore(tmp_path / "graph") as store:
        with pytest.raises(IngestError, match=needle):
            ingest_source(folder, store, progress=False, batch_size=1000)
        assert store.counts()["relationships"] == {}
    assert not (tmp_path / "graph").exists()  # not one batch was written


def test_an_overlong_scenario_or_kind_is_rejected_as_its_row(tmp_path):
    # Issue 20, defect 5: one such row aborted a Neo4j batch of valid rows; now the reader rejects it.
    folder = tmp_path / "d"
    long = "s" * 20_000
    write_bytes(folder, "interactions.csv", f"user_id,item_id,scenario,kind\nu1,i1,,\nu2,i2,{long},\nu3,i3,,{long}\n"
                .encode())
    write_bytes(folder, "items.csv", f"item_id,scenario\ni1,books\ni4,{long}\n".encode())
    store = MemoryStore(None)
    summary = ingest_source(folder, store, progress=False, rejects_path=tmp_path / "rejects.csv")
    assert interactions(store) == {("u1", "i1")}
    assert store.node(ITEM, "i1")["scenario"] == "books" and store.node(ITEM, "i4") is None
    rejects = list(csv.DictReader(open(tmp_path / "rejects.csv", encoding="utf-8")))
    assert sorted((Path(r["file"]).name, r["line"], r["field"]) for r in rejects) == [
        ("interactions.csv", "3", "scenario"), ("interactions.csv", "4", "kind"), ("items.csv", "3", "scenario")]
    assert summary.rejected == 3


def test_an_explicit_utf8_encoding_still_skips_a_bom(tmp_path):
    folder = tmp_path / "d"
    write_bytes(folder, "interactions.csv", "\ufeffuser_id,item_id\nu1,café\n".encode())
    store = MemoryStore(None)
    assert ingest_source(folder, store, progress=False, encoding="utf-8").rejected == 0
    assert interactions(store) == {("u1", "café")}
