"""What every reader shares: the canonical row stream, reject bookkeeping and text helpers.

A *source* turns some input (a canonical folder, a named data set, an RDF file) into the
three streams of canonical rows that :func:`ingest.runner.ingest_source` writes, in order:

1. ``nodes()``: ``(label, NodeRow, declared)``; ``declared`` is true for rows that come
   from a node file (``items.csv``...), false for nodes implied by a value (an attribute
   entity such as ``genre=Comedy``), which are expected to repeat;
2. ``interactions()``: :class:`~kg_recsys.schema.InteractionRow`;
3. ``relations()``: :class:`~kg_recsys.schema.RelationRow`.

A row that cannot be read is handed to :class:`Rejects` with its file, line and field,
never dropped silently.
"""
from __future__ import annotations

import csv
import io
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Protocol

from kg_recsys.schema import (INTERACTED, RECOMMENDED, InteractionRow, NodeRow, RelationRow, SchemaError,
                              check_id, check_relation_name)

_CONTROL = re.compile(r"[\x00-\x1f]")
_MAX_ID = 512


class IngestError(ValueError):
    """Input that cannot be ingested at all (missing file or column): the message says
    which file and column, and what to do."""


class RowError(ValueError):
    """One bad field in one row; the reader turns it into a reject."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass
class Reject:
    file: str
    line: int
    field: str
    message: str
    raw: str

    def describe(self) -> str:
        return f"{self.file}:{self.line}: field {self.field!r}: {self.message}"


@dataclass
class Rejects:
    """Collects bad rows. Keeps every reject (they are rare by construction; a source
    where most rows are bad should be fixed, not ingested)."""

    items: list[Reject] = field(default_factory=list)

    def add(self, file: str | os.PathLike, line: int, field_name: str, message: str, raw: str = "") -> None:
        self.items.append(Reject(str(file), int(line), field_name, message, raw))

    def __len__(self) -> int:
        return len(self.items)

    def write(self, path: str | os.PathLike) -> Path:
        """Write all rejects as CSV (``file,line,field,error,raw``); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file", "line", "field", "error", "raw"])
            for r in self.items:
                writer.writerow([r.file, r.line, r.field, r.message, r.raw])
        return path


NodeRecord = tuple[str, NodeRow, bool]


class Source(Protocol):
    """A reader of one input; see the module docstring for the three streams."""

    name: str

    def files(self) -> list[Path]:
        """The files this source reads (for cache keys)."""

    def nodes(self, rejects: Rejects) -> Iterator[NodeRecord]: ...

    def interactions(self, rejects: Rejects) -> Iterator[InteractionRow]: ...

    def relations(self, rejects: Rejects) -> Iterator[RelationRow]: ...


# ------------------------------------------------------------------ field parsers
def parse_id(value: str | None, field_name: str) -> str:
    """A node id, stripped; raises :class:`RowError` naming the field."""
    text = value.strip() if value else ""
    # Fast path for the common case; check_id gives the precise message otherwise.
    if text and len(text) <= _MAX_ID and not _CONTROL.search(text):
        return text
    try:
        return check_id(text)
    except SchemaError as error:
        raise RowError(field_name, str(error) if text else "required value is missing") from None


def parse_float(value: str | None, field_name: str, default: float | None) -> float | None:
    """A finite number, ``default`` when empty; raises :class:`RowError` naming the field."""
    if not value:
        return default
    try:
        number = float(value)  # float() itself ignores surrounding blanks
    except ValueError:
        text = value.strip()
        if not text:
            return default
        raise RowError(field_name, f"{text!r} is not a number") from None
    if not math.isfinite(number):
        raise RowError(field_name, f"{value.strip()!r} is not a finite number")
    return number


#: The store gives these relation types properties of their own; data may not use them.
PROTECTED_RELATIONS = frozenset({INTERACTED, RECOMMENDED})


def check_data_relation(name: str) -> str:
    """:func:`~kg_recsys.schema.check_relation_name` plus: not a type the project reserves
    for user-item edges. Raises :class:`~kg_recsys.schema.SchemaError`."""
    check_relation_name(name)
    if name in PROTECTED_RELATIONS:
        raise SchemaError(f"relation name {name!r} is reserved for the project's own user-item relations")
    return name


def parse_relation(value: str | None, field_name: str) -> str:
    text = value.strip() if value else ""
    if not text:
        raise RowError(field_name, "required value is missing")
    try:
        return check_data_relation(text)
    except SchemaError as error:
        raise RowError(field_name, str(error)) from None


def optional_text(value: str | None) -> str | None:
    text = value.strip() if value else ""
    return text or None


# ------------------------------------------------------------------ text files
def fix_mojibake(text: str) -> str:
    """Undo UTF-8 bytes that were decoded as latin-1 once (``BallakÃ©`` -> ``Ballaké``)."""
    if "Ã" in text or "Â" in text:
        try:
            return text.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return text
    return text


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line_number, line)`` without the line ending; UTF-8, with a per-line latin-1
    fallback (the MovieLens and HetRec files mix both); a BOM is skipped."""
    with open(path, "rb") as handle:
        data = handle.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:  # the common case, decoded in one go
        lines = data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        lines = [_decode(raw) for raw in data.split(b"\n")]
    if lines and not lines[-1]:
        lines.pop()  # the file ended with a newline
    for number, line in enumerate(lines, 1):
        yield number, line[:-1] if line.endswith("\r") else line


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def read_csv(path: Path) -> Iterator[tuple[int, list[str]]]:
    """CSV records with the line number where each starts (quoted newlines allowed)."""
    with open(path, "rb") as binary:
        data = binary.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    reader = csv.reader(io.StringIO(text, newline=""))
    line = 1
    for record in reader:
        yield line, record
        line = reader.line_num + 1


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise IngestError(f"{path}: required file is missing ({what}); check the path or --data-dir")
    return path


def batched(rows: Iterable, size: int) -> Iterator[list]:
    batch: list = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
