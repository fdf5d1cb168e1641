"""The embedded store's inter-process protocol (issue 20, defects 1 and 8): one writer at a
time under a lock, readers that never write, torn tails cut only by a writer, and a log
that compacts itself."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from kg_recsys.schema import INTERACTED, ITEM, USER
from kg_recsys.store.memory import MemoryStore, StoreLockedError
from test_contract import EXPECTED_COUNTS, load

# Writes one item, says so, and holds the writer lock until its stdin closes.
HOLDER = textwrap.dedent("""
    import sys
    from kg_recsys.store.memory import MemoryStore
    store = MemoryStore(sys.argv[1])
    store.upsert_nodes("Item", [{"id": "held", "text": "written by the other process"}])
    print("locked", flush=True)
    sys.stdin.read()
    store.close()
""")


def hold_lock(folder):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    assert holder.stdout.readline().strip() == "locked", holder.stderr.read()
    return holder


def snapshot_of_files(folder):
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.iterdir())}


def test_a_reader_leaves_a_write_in_progress_alone(tmp_path):
    folder = tmp_path / "graph"
    with MemoryStore(folder) as store:
        load(store)
    record = json.dumps({"op": "interactions", "rows": [["u9", "i9", "default", "interaction", 1.0, None]]}) + "\n"
    log = folder / "log.jsonl"
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(record[:20])  # a writer is half way through this line
    before = snapshot_of_files(folder)
    with MemoryStore(folder) as reader:
        assert reader.counts() == EXPECTED_COUNTS  # the half line is not read...
    assert snapshot_of_files(folder) == before  # ...nor cut: a reader writes nothing at all
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(record[20:])  # the writer finishes its line
    with MemoryStore(folder) as reader:
        assert reader.counts()["relationships"][INTERACTED] == EXPECTED_COUNTS["relationships"][INTERACTED] + 1


def test_opening_a_missing_folder_creates_nothing(tmp_path):
    with MemoryStore(tmp_path / "nowhere") as store:
        assert store.counts()["nodes"] == {USER: 0, ITEM: 0, "Entity": 0}
    assert not (tmp_path / "nowhere").exists()


def test_a_second_writer_waits_then_names_the_folder(tmp_path):
    folder = tmp_path / "graph"
    holder = hold_lock(folder)
    try:
        with MemoryStore(folder, lock_timeout=0.5) as other:
            assert other.node(ITEM, "held") is not None  # reading never waits
            started = time.monotonic()
            with pytest.raises(StoreLockedError, match=str(folder)) as error:
                other.upsert_nodes(ITEM, [{"id": "mine"}])
            assert time.monotonic() - started >= 0.5
            assert "\n" not in str(error.value)
            assert other.node(ITEM, "mine") is None  # the refused write changed nothing
    finally:
        holder.communicate("", timeout=60)
    assert holder.returncode == 0, holder.stderr


def test_a_waiting_writer_takes_in_what_the_other_wrote(tmp_path):
    folder = tmp_path / "graph"
    with MemoryStore(folder) as store:
        load(store)
    late = MemoryStore(folder)  # opened (and read) before the other process writes
    holder = hold_lock(folder)
    try:
        threading.Timer(0.5, holder.stdin.close).start()  # the holder closes its store then
        started = time.monotonic()
        late.upsert_interactions([{"user_id": "u1", "item_id": "held", "timestamp": 7.0}])  # waits, then catches up
        assert time.monotonic() - started >= 0.4
        holder.wait(timeout=60)
        expected = EXPECTED_COUNTS["nodes"] | {ITEM: EXPECTED_COUNTS["nodes"][ITEM] + 1}
        assert late.counts()["nodes"] == expected  # the other process's item is known...
        assert late.node(ITEM, "held")["text"] == "written by the other process"  # ...with its text
    finally:
        late.close()
    with MemoryStore(folder) as reopened:
        assert reopened.counts() == late.counts()
        assert reopened.has_relationship(USER, "u1", INTERACTED, ITEM, "held")


def test_log_is_compacted_once_it_holds_twice_the_live_records(tmp_path):
    folder = tmp_path / "graph"
    with MemoryStore(folder) as store:
        load(store)
    once = (folder / "log.jsonl").stat().st_size
    with MemoryStore(folder) as store:
        for _ in range(20):  # re-ingesting the same rows: every count stays, the log would grow 21x
            load(store)
    on_disk = sum((folder / name).stat().st_size for name in ("base.jsonl", "log.jsonl"))
    assert on_disk < 4 * once
    with MemoryStore(folder) as reopened:
        assert reopened.counts() == EXPECTED_COUNTS
