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

import codecs
import csv
import io
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Protocol

from kg_recsys.schema import (INTERACTED, RECOMMENDED, InteractionRow, NodeRow, RelationRow, SchemaError,
                              check_id, check_relation_name, check_scenario)

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


def parse_scenario(value: str | None, field_name: str, default: str | None) -> str | None:
    """A scenario or kind value, stripped (``default`` when empty); raises :class:`RowError`
    naming the field if :func:`~kg_recsys.schema.check_scenario` refuses it, so that the row is
    rejected here instead of failing a whole store batch."""
    text = value.strip() if value else ""
    if not text:
        return default
    try:
        return check_scenario(text, "kind" if field_name == "kind" else "scenario")
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


#: The longest CSV record (all its fields and line breaks) a reader accepts, in characters;
#: a longer one is rejected as a row. csv's own limit (131,072 by default, a raw ``_csv.Error``
#: that aborted the file) is raised to this, so the reader's check is the one that applies.
MAX_RECORD_CHARS = 1_048_576
#: A quoted field may hold line breaks (a text), but a record spanning more lines than this is
#: taken as an unclosed quote: its first line is rejected and reading resumes at the next one.
MAX_RECORD_LINES = 1000
_UTF8_BOM = b"\xef\xbb\xbf"
_UNDECODED = re.compile("[\udc80-\udcff]")  # bytes kept by surrogateescape


@dataclass
class CsvRecord:
    """One CSV record: the line it starts on, its fields, its text (for the rejects file), and
    why it cannot be used as a row (``None`` if it can)."""

    line: int
    fields: list[str]
    raw: str
    error: RowError | None = None


class _RunawayRecord(Exception):
    pass


class _Lines:
    """The lines ``csv.reader`` pulls, stopping a record that grows past the limits."""

    def __init__(self, lines: list[str]) -> None:
        self.lines, self.pos, self.start, self.chars = lines, 0, 0, 0

    def __iter__(self) -> "_Lines":
        return self

    def __next__(self) -> str:
        if self.pos >= len(self.lines):
            raise StopIteration
        line = self.lines[self.pos]
        self.chars += len(line)
        if self.pos - self.start >= MAX_RECORD_LINES or self.chars > MAX_RECORD_CHARS:
            raise _RunawayRecord
        self.pos += 1
        return line


def decode_file(path: Path, data: bytes, encoding: str | None = None) -> str:
    """The text of a file: UTF-8 (a BOM skipped) unless ``encoding`` is given. Bytes that do
    not decode are kept as lone surrogates (``surrogateescape``), so the row holding them is
    rejected by name instead of the whole file being decoded some other way. A file where
    most lines with non-ASCII bytes fail to decode is in another encoding: that raises
    :class:`IngestError` naming ``--encoding``."""
    if encoding is not None and codecs.lookup(encoding).name != "utf-8":
        return data.decode(encoding, errors="surrogateescape")
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM):]
    try:
        return data.decode("utf-8")  # the common case, in one go
    except UnicodeDecodeError:
        pass
    lines = data.split(b"\n")
    wide = [number for number, raw in enumerate(lines, 1) if not raw.isascii()]
    bad = [number for number in wide if not _decodes(lines[number - 1])]
    if len(bad) >= 2 and 2 * len(bad) > len(wide):
        raise IngestError(f"{path}: {len(bad)} of the {len(wide)} lines with non-ASCII bytes are not UTF-8 (the first "
                          f"is line {bad[0]}), so the file is in another encoding; give it with --encoding "
                          "(for example --encoding latin-1)")
    return data.decode("utf-8", errors="surrogateescape")


def _decodes(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def printable(text: str) -> str:
    """``text`` with undecoded bytes shown as ``\\xNN``, safe to write as UTF-8."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def read_csv(path: Path, encoding: str | None = None,
             multiline: Iterable[str] | None = None, delimiter: str = ",") -> Iterator[CsvRecord]:
    """The records of a CSV file whose first record is its header, with the line each starts on.

    What cannot be a row comes back with ``error`` set and reading goes on: a field with
    bytes that do not decode (named by its header column), a record longer than
    :data:`MAX_RECORD_CHARS`, malformed quoting, and a quote left open. A quote is taken as
    left open when its record runs over :data:`MAX_RECORD_LINES` lines or to the end of the
    file, or spans lines but has the wrong number of columns or a line break in a column
    not named in ``multiline``; then only the first line is rejected and reading resumes at
    the next one, so one stray quote costs one row.

    Args:
        path: the file.
        encoding: a Python codec name. (default: ``None``, UTF-8 with or without a BOM)
        multiline: header columns whose quoted values may hold line breaks.
            (default: ``None``, any column)
        delimiter: the one character between fields; ``"\\t"`` reads a TSV file written by
            Python's ``csv`` module (fields holding a tab, quote or line break quoted).
            (default: ``","``)
    """
    if csv.field_size_limit() < MAX_RECORD_CHARS:
        csv.field_size_limit(MAX_RECORD_CHARS)
    text = decode_file(path, Path(path).read_bytes(), encoding)
    undecoded = _UNDECODED.search(text) is not None
    lines = list(io.StringIO(text, newline=""))  # splits at \n, \r\n and \r, as csv does
    feed = _Lines(lines)
    reader = csv.reader(feed, delimiter=delimiter, strict=True)
    header: list[str] | None = None
    single_line: list[int] = []  # columns where a line break means a quote was left open
    while True:
        feed.start, feed.chars = feed.pos, 0
        try:
            record = next(reader)
            problem = None
            spanned = feed.pos - feed.start
            if header is not None and spanned > 1 and (
                    len(record) != len(header) or any("\n" in record[i] or "\r" in record[i]
                                                      for i in single_line if i < len(record))):
                problem = (f"a quoted field runs over {spanned} lines, which this column cannot hold: a quote is "
                           "not closed on this line")
        except StopIteration:
            return
        except _RunawayRecord:
            problem = (f"the record is longer than {MAX_RECORD_CHARS} characters" if feed.chars > MAX_RECORD_CHARS
                       else f"a quoted field runs over {MAX_RECORD_LINES} lines: a quote is not closed on this line")
        except csv.Error as error:
            problem = f"malformed CSV ({error}): a quote is not closed or is misplaced on this line"
        line = feed.start + 1
        if problem is not None:
            raw = lines[feed.start].rstrip("\r\n")
            yield CsvRecord(line, [], printable(raw[:1000]), RowError("(row)", problem))
            feed.pos = feed.start + 1  # resume at the next line, with a fresh reader
            reader = csv.reader(feed, delimiter=delimiter, strict=True)
            continue
        raw = "".join(lines[feed.start:feed.pos]).rstrip("\r\n")
        error = None
        if undecoded:
            for index, value in enumerate(record):
                found = _UNDECODED.search(value)
                if found:
                    name = header[index] if header is not None and index < len(header) else f"column {index + 1}"
                    error = RowError(printable(name), f"byte 0x{ord(found.group()) - 0xDC00:02x} is not valid "
                                     f"{encoding or 'UTF-8'}: fix it, or give the file's encoding with --encoding")
                    break
        if header is None:
            header = [value.strip() for value in record]
            allowed = None if multiline is None else set(multiline)
            single_line = [] if allowed is None else [i for i, name in enumerate(header) if name not in allowed]
        yield CsvRecord(line, record, printable(raw) if error else raw, error)


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
