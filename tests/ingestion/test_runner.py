"""The runner: crash and resume, snapshot cache, progress bar, the CLI."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ingest import IngestSummary, ingest_source, load_snapshot
from kg_recsys.cli import main
from kg_recsys.datasets import write_demo_dataset
from kg_recsys.store.memory import MemoryStore
from kg_recsys.store.rdf import snapshot_rows

# Writes through a store that reports each acknowledged batch, then sleeps so that the
# parent can kill it in the middle of the interactions.
CHILD = textwrap.dedent("""
    import sys, time
    from ingest import ingest_source
    from kg_recsys.store.memory import MemoryStore

    class Reporting(MemoryStore):
        def upsert_interaction_columns(self, columns):  # the write ingestion makes (the bulk path)
            super().upsert_interaction_columns(columns)
            last = columns.rows()[-1]
            print("ACK", last["user_id"], last["item_id"], flush=True)
            time.sleep(0.05)

    ingest_source(sys.argv[1], Reporting(sys.argv[2]), batch_size=100, progress=False)
    print("DONE", flush=True)
""")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    return write_demo_dataset(tmp_path_factory.mktemp("demo"), seed=3)


def test_crash_mid_ingest_loses_nothing_acknowledged_and_rerun_completes(demo, tmp_path):
    graph = tmp_path / "graph"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(demo), str(graph)], stdout=subprocess.PIPE,
                             text=True, cwd=tmp_path)
    acknowledged = []
    for line in child.stdout:
        if line.startswith("ACK"):
            acknowledged.append(line.split()[1:])
        if len(acknowledged) == 5:
            child.kill()
            break
    child.wait(timeout=30)
    assert child.returncode != 0 and len(acknowledged) == 5, "the child finished before it was killed"

    partial = MemoryStore(graph)
    counts = partial.counts()
    assert 500 <= counts["relationships"]["INTERACTED"] < 7000  # killed mid-way
    for user, item in acknowledged:
        assert partial.has_relationship("User", user, "INTERACTED", "Item", item)
    summary = ingest_source(demo, partial, progress=False)

    clean = MemoryStore(None)
    expected = ingest_source(demo, clean, progress=False)
    assert (summary.nodes, summary.relationships) == (expected.nodes, expected.relationships)
    assert snapshot_rows(partial.snapshot()) == snapshot_rows(clean.snapshot())
    partial.close()
    assert MemoryStore(graph).counts() == clean.counts()


def test_load_snapshot_caches_and_rebuilds_when_an_input_changes(demo, tmp_path, monkeypatch):
    demo = Path(shutil.copytree(demo, tmp_path / "demo"))  # this test edits its input
    cache = tmp_path / "cache"
    first = load_snapshot(demo, cache_dir=cache)
    files = sorted(cache.glob("*.npz"))
    assert len(files) == 1
    assert len(first.users) == 300 and len(first.interactions) > 3000

    import ingest.runner

    def fail(*args, **kwargs):
        raise AssertionError("the cached snapshot should have been used")

    monkeypatch.setattr(ingest.runner, "ingest_source", fail)
    second = load_snapshot(demo, cache_dir=cache)
    assert snapshot_rows(second) == snapshot_rows(first)
    monkeypatch.undo()

    with open(demo / "interactions.csv", "a", encoding="utf-8") as handle:
        handle.write("new_user,b001,books,rating,5,1\n")
    third = load_snapshot(demo, cache_dir=cache)
    assert len(third.users) == 301 and len(third.interactions) == len(first.interactions) + 1
    assert len(sorted(cache.glob("*.npz"))) == 2


def test_load_snapshot_of_demo_by_name(tmp_path):
    snapshot = load_snapshot("demo", cache_dir=tmp_path)
    assert set(snapshot.scenarios()) == {"books", "movies"}
    assert (tmp_path / "demo-v1-seed0" / "interactions.csv").is_file()


def test_progress_bar_goes_to_stderr(demo, capsys):
    ingest_source(demo, MemoryStore(None), progress=True, batch_size=1000)
    captured = capsys.readouterr()
    assert "ingest" in captured.err and "rows" in captured.err
    assert captured.out == ""


def test_summary_json_has_the_documented_keys(demo):
    summary = ingest_source(demo, MemoryStore(None), progress=False)
    assert isinstance(summary, IngestSummary)
    assert set(summary.to_json()) == {"source", "nodes", "relationships", "rows_read", "rejected", "duplicates",
                                      "rejects_file", "seconds"}
    assert summary.rows_read > summary.relationships["INTERACTED"]


def test_cli_ingest_prints_one_json_line_and_rerun_is_stable(demo, tmp_path, capsys):
    argv = ["ingest", str(demo), "--store", f"memory:{tmp_path / 'g'}", "--no-progress", "--batch-size", "700"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    first = json.loads(lines[0])
    assert first["rejected"] == 0 and first["nodes"]["User"] == 300
    assert main(argv) == 0
    second = json.loads(capsys.readouterr().out)
    assert (second["nodes"], second["relationships"]) == (first["nodes"], first["relationships"])


def test_cli_rejects_and_user_errors(tmp_path, capsys):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "interactions.csv").write_text("user_id,item_id,timestamp\nu1,i1,soon\nu2,i2,3\n")
    rejects = tmp_path / "r.csv"
    assert main(["ingest", str(folder), "--store", f"memory:{tmp_path / 'g'}", "--rejects", str(rejects),
                 "--no-progress"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rejected"] == 1 and out["rejects_file"] == str(rejects)
    assert "timestamp" in rejects.read_text()

    assert main(["ingest", str(tmp_path / "nowhere"), "--store", f"memory:{tmp_path / 'g'}"]) == 2
    assert "unknown source" in capsys.readouterr().err
    assert main(["ingest", "ml-1m", "--data-dir", str(tmp_path), "--store", f"memory:{tmp_path / 'g'}"]) == 2
    assert "--data-dir" in capsys.readouterr().err
    (folder / "interactions.csv").write_text("user,item\n")
    assert main(["ingest", str(folder), "--store", f"memory:{tmp_path / 'g'}"]) == 2
    assert "required column 'user_id'" in capsys.readouterr().err
    assert main(["ingest", str(folder), "--store", "nosuchstore"]) == 2
    assert "unknown store" in capsys.readouterr().err


def test_cli_export_then_ingest_the_rdf(demo, tmp_path, capsys):
    store = f"memory:{tmp_path / 'g'}"
    assert main(["ingest", str(demo), "--store", store, "--no-progress"]) == 0
    before = json.loads(capsys.readouterr().out)
    out = tmp_path / "graph.nt"
    assert main(["export", "--store", store, "--format", "nt", "--out", str(out)]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["triples"] == sum(1 for _ in open(out, encoding="utf-8"))
    assert main(["ingest", str(out), "--store", f"memory:{tmp_path / 'g2'}", "--no-progress"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert (after["nodes"], after["relationships"]) == (before["nodes"], before["relationships"])


@pytest.mark.parametrize("typed, meant", [("ml100k-kg", "ml-100k-kg"), ("lastfm", "lastfm-kg"), ("demmo", "demo"),
                                          ("amazon-cdr/sport_cloth", "amazon-cdr-ids/sport_cloth")])
def test_a_mistyped_dataset_name_gets_a_did_you_mean(typed, meant, tmp_path, monkeypatch):
    from ingest import IngestError, resolve_source

    monkeypatch.chdir(tmp_path)  # no folder of that name
    with pytest.raises(IngestError, match=f"unknown source '{typed}' \\(did you mean '{meant}'\\?\\)"):
        resolve_source(typed)


def test_a_mistyped_amazon_pair_gets_a_did_you_mean(tmp_path):
    from ingest import IngestError

    for pair in ("sport_cloth", "cloth_sport"):
        (tmp_path / "amazon-cdr-ids" / pair).mkdir(parents=True)
    with pytest.raises(IngestError, match="did you mean 'sport_cloth'"):
        ingest_source("amazon-cdr-ids/sport_clth", MemoryStore(None), data_dir=tmp_path, progress=False)
    with pytest.raises(IngestError, match="my-data': give"):  # no guess when nothing is close
        ingest_source(str(tmp_path / "my-data"), MemoryStore(None), progress=False)
