"""The canonical reader fuzzed (issue 20): seeded random interactions files full of quotes,
separators, stray bytes and blank lines. Whatever the bytes, every data line comes out either
stored or rejected with its file, line and field, and the summary adds up:
``rows_read == stored + rejected + duplicates``."""
from __future__ import annotations

import csv
import random
import re
from pathlib import Path

from ingest import IngestError, ingest_source
from kg_recsys.schema import INTERACTED
from kg_recsys.store.memory import MemoryStore

FILES = 2000
HEADER = ["user_id", "item_id", "weight"]
PIECES = ["u1", "u2", "i1", "i2", "5", "2.5", "", " ", '"', '""', ",", "|", "\\", "x" * 40, "nan", "-1",
          "café".encode().decode("latin-1"), "\x01"]  # the latin-1 reading of UTF-8 bytes, written as latin-1
RAW_BYTES = [b"\xe9", b"\xff\xfe", "é".encode()]


def random_line(rng: random.Random) -> bytes:
    if rng.random() < 0.05:
        return b""  # a blank line: skipped, not a row
    fields = [("".join(rng.choice(PIECES) for _ in range(rng.randint(1, 3)))) for _ in range(rng.choice([2, 3, 3, 4]))]
    line = ",".join(fields).encode("latin-1")
    if rng.random() < 0.05:
        at = rng.randint(0, len(line))
        line = line[:at] + rng.choice(RAW_BYTES) + line[at:]
    return line


def test_every_line_is_stored_or_rejected(tmp_path):
    rng = random.Random(20)
    checked = failed_whole = 0
    errors: list[str] = []
    for n in range(FILES):
        folder = tmp_path / f"f{n}"
        folder.mkdir()
        lines = [random_line(rng) for _ in range(rng.randint(1, 12))]
        data = ",".join(HEADER).encode() + b"\n" + b"\n".join(lines) + (b"\n" if rng.random() < 0.8 else b"")
        (folder / "interactions.csv").write_bytes(data)
        store = MemoryStore(None)
        rejects_file = tmp_path / f"rejects{n}.csv"
        try:
            summary = ingest_source(folder, store, progress=False, rejects_path=rejects_file)
        except IngestError as error:  # only a file that is mostly another encoding may fail whole
            assert "--encoding" in str(error) and "\n" not in str(error), (n, data)
            failed_whole += 1
            continue
        data_lines = sum(1 for line in lines if line)
        assert summary.rows_read == data_lines, (n, data)
        stored = store.counts()["relationships"].get(INTERACTED, 0)
        assert summary.rows_read == stored + summary.rejected + summary.duplicates, (n, data)
        for reject in csv.DictReader(open(rejects_file, encoding="utf-8")):
            errors.append(reject["error"])
            assert Path(reject["file"]).name == "interactions.csv"
            assert 2 <= int(reject["line"]) <= len(lines) + 1, (n, data, reject)
            # a header column, the row as a whole, or an extra column by position ("column 4")
            assert reject["field"] in HEADER + ["(row)"] or re.fullmatch(r"column \d+", reject["field"]), (n, reject)
        checked += 1
    assert checked + failed_whole == FILES and checked > FILES * 0.9
    for kind in ("quote is not closed", "not valid UTF-8", "expected 3 columns", "is not a number"):
        assert any(kind in error for error in errors), f"the fuzz never produced a {kind!r} reject"
