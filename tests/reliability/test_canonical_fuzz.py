"""The canonical reader fuzzed with hypothesis (issue 20): generated interactions files full of
quotes, separators, stray bytes and blank lines. Whatever the bytes, every data line comes out
either stored or rejected with its file, line and field, and the summary adds up:
``rows_read == stored + rejected + duplicates``.

Derandomized (the same files every run, as CI needs) with ``FILES`` examples; a failure is shrunk
to a minimal file and printed.
"""
from __future__ import annotations

import csv
import itertools
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest import IngestError, ingest_source
from kg_recsys.schema import INTERACTED
from kg_recsys.store.memory import MemoryStore

FILES = 2000
HEADER = ["user_id", "item_id", "weight"]
PIECES = ["u1", "u2", "i1", "i2", "5", "2.5", "", " ", '"', '""', ",", "|", "\\", "x" * 40, "nan", "-1",
          "café".encode().decode("latin-1"), "\x01"]  # the latin-1 reading of UTF-8 bytes, written as latin-1
RAW_BYTES = [b"\xe9", b"\xff\xfe", "é".encode()]

# A field is one to three pieces: all of them listed once, so that drawing a field is one choice
# (hypothesis's draws, not the ingest, were most of the time when fields were drawn piece by piece).
FIELDS = ["".join(parts) for n in (1, 2, 3) for parts in itertools.product(PIECES, repeat=n)]


def _line(fields: list[str], choice: int, at: int) -> bytes:
    # About one line in twenty is blank (skipped, not a row) and one in twenty gets a stray byte.
    text = ",".join(fields).encode("latin-1")
    if choice == 19:
        return b""
    if choice == 18:
        cut = at % (len(text) + 1)
        return text[:cut] + RAW_BYTES[at % len(RAW_BYTES)] + text[cut:]
    return text


LINES = st.lists(st.builds(_line, st.lists(st.sampled_from(FIELDS), min_size=2, max_size=4), st.integers(0, 19),
                           st.integers(0, 200)), min_size=1, max_size=12)


def test_every_line_is_stored_or_rejected(tmp_path):
    files: list[int] = []
    outcomes = {"checked": 0, "failed_whole": 0}
    errors: list[str] = []

    @settings(max_examples=FILES, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(lines=LINES, final_newline=st.booleans())
    def check(lines: list[bytes], final_newline: bool) -> None:
        n = len(files)
        files.append(n)
        folder = tmp_path / f"f{n}"
        folder.mkdir()
        data = ",".join(HEADER).encode() + b"\n" + b"\n".join(lines) + (b"\n" if final_newline else b"")
        (folder / "interactions.csv").write_bytes(data)
        store = MemoryStore(None)
        rejects_file = tmp_path / f"rejects{n}.csv"
        try:
            summary = ingest_source(folder, store, progress=False, rejects_path=rejects_file)
        except IngestError as error:  # only a file that is mostly another encoding may fail whole
            assert "--encoding" in str(error) and "\n" not in str(error), data
            outcomes["failed_whole"] += 1
            return
        data_lines = sum(1 for line in lines if line)
        assert summary.rows_read == data_lines, data
        stored = store.counts()["relationships"].get(INTERACTED, 0)
        assert summary.rows_read == stored + summary.rejected + summary.duplicates, data
        with open(rejects_file, encoding="utf-8") as handle:
            for reject in csv.DictReader(handle):
                errors.append(reject["error"])
                assert Path(reject["file"]).name == "interactions.csv"
                assert 2 <= int(reject["line"]) <= len(lines) + 1, (data, reject)
                # a header column, the row as a whole, or an extra column by position ("column 4")
                assert reject["field"] in HEADER + ["(row)"] or re.fullmatch(r"column \d+", reject["field"]), reject
        outcomes["checked"] += 1

    check()
    assert len(files) >= FILES, f"hypothesis generated only {len(files)} files"
    assert outcomes["checked"] + outcomes["failed_whole"] == len(files) and outcomes["checked"] > len(files) * 0.9
    for kind in ("quote is not closed", "not valid UTF-8", "expected 3 columns", "is not a number"):
        assert any(kind in error for error in errors), f"the fuzz never produced a {kind!r} reject"
    print(f"files: {len(files)}, checked: {outcomes['checked']}, failed whole: {outcomes['failed_whole']}, "
          f"rejects: {len(errors)}")
