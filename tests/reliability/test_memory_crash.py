"""kill -9 of an ingest into the embedded store at five random points (issue 20, fault
injection): the writer lock dies with the process, the next writer cuts any torn tail, and a
re-run completes the graph with every count exact."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

from ingest import ingest_source
from kg_recsys.store.memory import MemoryStore
from test_memory_concurrency import SLOW_APPENDS, flat, synthetic_folder

# Pieces of 1 KiB: the column log records are a few KiB per batch (coded ids), and a
# kill should land mid-line often enough to test the repair.
# Imports once, then forks one ingest per line on stdin and reports how it ended: five crashes
# cost five forks, not five interpreter start-ups.
LAUNCHER = SLOW_APPENDS.replace("PIECE = 65536", "PIECE = 1024") + textwrap.dedent("""
    import os, sys
    from ingest import ingest_source
    from kg_recsys.store.memory import MemoryStore
    for _ in sys.stdin:
        pid = os.fork()
        if pid == 0:
            with MemoryStore(sys.argv[1], lock_timeout=30) as store:
                ingest_source(sys.argv[2], store, batch_size=1000, progress=False)
            os._exit(0)
        print(pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print("killed" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}", flush=True)
""")


def test_kill_9_at_five_random_points_then_a_rerun_is_exact(tmp_path):
    data = synthetic_folder(tmp_path / "data", users=1500, items=1000, interactions=20000)
    expected = ingest_source(data, MemoryStore(None), progress=False)
    expected = flat({"nodes": expected.nodes, "relationships": expected.relationships})
    folder, rng, killed, torn = tmp_path / "graph", random.Random(20), 0, 0
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(folder), str(data)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())

    def ingest(kill_after: float | None) -> str:
        launcher.stdin.write("go\n")
        launcher.stdin.flush()
        line = launcher.stdout.readline()
        assert line.strip().isdigit(), launcher.stderr.read()
        if kill_after is not None:
            time.sleep(kill_after)
            try:
                os.kill(int(line), signal.SIGKILL)  # no close(), no flush: the kernel drops the lock
            except ProcessLookupError:
                pass  # it had finished
        return launcher.stdout.readline().strip()

    try:
        for _ in range(5):
            killed += ingest(rng.uniform(0.05, 0.8)) == "killed"
            log = folder / "log.jsonl"
            torn += log.is_file() and not log.read_bytes().endswith(b"\n")  # killed mid-line
            with MemoryStore(folder) as reader:  # a reader after each crash: a prefix, never an error
                seen = flat(reader.counts())
            assert set(seen) <= set(expected) and all(n <= expected[key] for key, n in seen.items())
        started = time.monotonic()
        assert ingest(None) == "exit 0", launcher.stderr.read()
        recovery = time.monotonic() - started
    finally:
        launcher.stdin.close()
        launcher.wait(timeout=60)
    with MemoryStore(folder) as reopened:
        assert flat(reopened.counts()) == expected  # exact: nothing lost, nothing doubled
    assert killed >= 3, f"only {killed} of 5 kills hit a running ingest"
    assert torn >= 1, "no kill left a torn line for the next writer to repair"
    print(f"kills: {killed} ({torn} mid-line), recovery (re-run) seconds: {recovery:.1f}")
