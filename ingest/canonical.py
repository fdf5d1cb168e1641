"""The canonical dataset folder: the project's general import format.

=================  ==========================================================  ========
file               columns                                                     required
=================  ==========================================================  ========
interactions.csv   user_id, item_id [, scenario, kind, weight, timestamp]      yes
items.csv          item_id [, text, scenario] + attribute columns               no
users.csv          user_id [, text] + attribute columns                         no
triples.csv        head, relation, tail (entity ids)                            no
links.csv          item_id, entity_id (Item -[SAME_AS]-> Entity)                no
entities.csv       entity_id [, text]                                          no
=================  ==========================================================  ========

An attribute column ``genre`` with value ``Drama|War`` becomes
``Item -[genre]-> Entity(id="genre=Drama", text="Drama")`` and the same for ``War``
(see :func:`kg_recsys.schema.attribute_entity_id`). Other files in the folder are ignored.

Files are UTF-8 (with or without a BOM) unless an ``encoding`` is given. A row with bytes
that do not decode, a record over :data:`ingest.base.MAX_RECORD_CHARS` characters, or a
quote left open is rejected with its file, line and field, and reading goes on (see
:func:`ingest.base.read_csv`). Every file's header is checked when the source is opened, before
anything is written.
"""
from __future__ import annotations

import codecs
import functools
import os
from pathlib import Path
from typing import Callable, Iterator, Mapping

from kg_recsys.schema import (DEFAULT_KIND, DEFAULT_SCENARIO, ENTITY, ITEM, SAME_AS, USER, InteractionRow,
                              RelationRow, SchemaError, attribute_entity_id)
from ingest import fast
from ingest.base import (CsvRecord, IngestError, NodeRecord, Rejects, RowError, check_data_relation, optional_text,
                         parse_float, parse_id, parse_relation, parse_scenario, read_csv,
                         require_file)
from kg_recsys.store.base import InteractionColumns

INTERACTIONS, ITEMS, USERS, TRIPLES, LINKS, ENTITIES = (
    "interactions.csv", "items.csv", "users.csv", "triples.csv", "links.csv", "entities.csv")

#: file -> (required columns, optional known columns); other columns of items/users are attributes.
COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    INTERACTIONS: (("user_id", "item_id"), ("scenario", "kind", "weight", "timestamp")),
    ITEMS: (("item_id",), ("text", "scenario")),
    USERS: (("user_id",), ("text",)),
    TRIPLES: (("head", "relation", "tail"), ()),
    LINKS: (("item_id", "entity_id"), ()),
    ENTITIES: (("entity_id",), ("text",)),
}
MULTI_VALUE_SEPARATOR = "|"
#: The only columns whose quoted values may hold line breaks; one elsewhere means a stray quote.
TEXT_COLUMNS = ("text",)
#: interactions.csv's field parsers, in the order a row applies them (its first bad field is
#: the one its reject names); the row path and the fast path (:mod:`ingest.fast`) both run these.
INTERACTION_PARSERS: dict[str, Callable[[str | None], object]] = {
    "user_id": functools.partial(parse_id, field_name="user_id"),
    "item_id": functools.partial(parse_id, field_name="item_id"),
    "scenario": functools.partial(parse_scenario, field_name="scenario", default=DEFAULT_SCENARIO),
    "kind": functools.partial(parse_scenario, field_name="kind", default=DEFAULT_KIND),
    "weight": functools.partial(parse_float, field_name="weight", default=1.0),
    "timestamp": functools.partial(parse_float, field_name="timestamp", default=None),
}


def interaction_row(row: Mapping[str, str | None]) -> InteractionRow:
    """One interactions.csv row (a missing column is ``None``); raises :class:`~ingest.base.RowError`."""
    return {name: parse(row.get(name)) for name, parse in INTERACTION_PARSERS.items()}  # type: ignore[return-value]


class CanonicalSource:
    """Reads a canonical dataset folder (see the module docstring).

    Args:
        folder: the dataset folder.
        name: name shown in the summary (default: the folder path).
        encoding: the files' character encoding, a Python codec name such as ``latin-1``.
            (default: ``None``, UTF-8 with or without a BOM)

    Raises:
        IngestError: a file or column is missing, a header is bad, or a file is in another
            encoding than the one given; nothing has been read into a store yet.
    """

    #: Called with the number of lines read, as the streams read them; they add up to
    #: :meth:`total_lines` (the ingest progress bar's total).
    on_lines: Callable[[int], None] | None = None

    def __init__(self, folder: str | os.PathLike, name: str | None = None, encoding: str | None = None) -> None:
        self.folder = Path(folder)
        self.name = name or str(self.folder)
        if encoding is not None:
            try:
                codecs.lookup(encoding)
            except LookupError:
                raise IngestError(f"unknown encoding {encoding!r}: give a Python codec name such as utf-8, latin-1 "
                                  "or cp1252") from None
        self.encoding = encoding
        if not self.folder.is_dir():
            raise IngestError(f"{self.folder}: not a folder; give a canonical dataset folder, an .ttl/.nt file "
                              "or a dataset name")
        require_file(self.folder / INTERACTIONS, "user_id,item_id[,scenario,kind,weight,timestamp]")
        self._pending: list[RelationRow] = []
        self.validate()

    def validate(self) -> None:
        """Check every file's header (a file without one, even an empty one, is an error; a
        header with no rows is not), so that a bad file found late cannot leave the files
        before it written. Raises
        :class:`~ingest.base.IngestError`."""
        self._attributes: dict[str, list[str]] = {}
        for name in COLUMNS:
            if self._has(name):
                header, _ = self._header(name)
                if name in (ITEMS, USERS):
                    self._attributes[name] = self._attribute_columns(name, header)

    def __repr__(self) -> str:
        return f"CanonicalSource({str(self.folder)!r})"

    def files(self) -> list[Path]:
        return [self.folder / name for name in COLUMNS if self._has(name)]

    # ------------------------------------------------------------------ the one reading layer
    # A subclass that reads tables from elsewhere (ingest.frames.FrameSource: DataFrames)
    # overrides these three; every check and row parser below is shared.
    def _has(self, name: str) -> bool:
        """Whether the folder has the file ``name``."""
        return (self.folder / name).is_file()

    def _where(self, name: str) -> str | Path:
        """Where ``name`` is, as errors and rejects name it."""
        return self.folder / name

    def _read(self, name: str) -> Iterator[CsvRecord]:
        """The records of ``name``, its header first (see :func:`~ingest.base.read_csv`)."""
        return read_csv(self.folder / name, self.encoding, multiline=TEXT_COLUMNS)

    def _plain(self, name: str) -> dict | None:
        """``name``'s columns if the file is plain (see :func:`ingest.fast.read_plain`), else ``None``."""
        if self.encoding is not None and codecs.lookup(self.encoding).name != "utf-8":
            return None
        path = self.folder / name
        with open(path, "rb") as handle:
            first = handle.readline()
        return fast.read_plain(path, ",", first.count(b",") + 1, header=True)

    def _span(self, name: str) -> tuple[int, int]:
        """The lines of ``name``'s header and of its end (its line count)."""
        data = (self.folder / name).read_bytes()
        return 1, data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)

    def total_lines(self) -> int:
        """The lines after the headers, in all the tables."""
        return sum(end - header for header, end in map(self._span, filter(self._has, COLUMNS)))

    # ------------------------------------------------------------------ reading helpers
    def _header(self, name: str) -> tuple[list[str], Iterator[CsvRecord]]:
        """Open one file and check its header; returns it and the records after it."""
        path = self._where(name)
        required, _ = COLUMNS[name]
        records = self._read(name)
        first = next(records, None)
        if first is None:
            raise IngestError(f"{path}: the file is empty; it needs a header line with the columns "
                              f"{', '.join(required)}")
        if first.error is not None:
            raise IngestError(f"{path}:{first.line}: the header cannot be read ({first.error.message})")
        header = [column.strip() for column in first.fields]
        missing = [column for column in required if column not in header]
        if missing:
            raise IngestError(f"{path}: required column {missing[0]!r} is missing (header: {','.join(header)}); "
                              f"add a header line naming the columns {', '.join(required)}")
        duplicated = sorted({c for c in header if header.count(c) > 1})
        if duplicated:
            raise IngestError(f"{path}: column {duplicated[0]!r} appears twice in the header; rename one")
        return header, records

    def _records(self, name: str, rejects: Rejects) -> Iterator[tuple[int, dict[str, str], str]]:
        """Rows of one file as dicts, checking the header; yields ``(line, row, raw)``.
        Records that cannot be rows (see :func:`~ingest.base.read_csv`) and rows with the
        wrong number of columns are rejected here."""
        path = self._where(name)
        header, records = self._header(name)
        width = len(header)
        last, end = self._span(name) if self.on_lines is not None else (0, 0)
        for record in records:
            if self.on_lines is not None:
                self.on_lines(record.line - last)
                last = record.line
            if record.error is not None:
                rejects.add(path, record.line, record.error.field, record.error.message, record.raw)
                continue
            if not record.fields or (len(record.fields) == 1 and not record.fields[0].strip()):
                continue  # blank line
            if len(record.fields) != width:
                rejects.add(path, record.line, "(row)",
                            f"expected {width} columns ({','.join(header)}), got {len(record.fields)}", record.raw)
                continue
            yield record.line, dict(zip(header, record.fields)), record.raw
        if self.on_lines is not None:
            self.on_lines(end - last)

    def _attribute_columns(self, name: str, header: list[str]) -> list[str]:
        path = self._where(name)
        required, optional = COLUMNS[name]
        columns = [c for c in header if c not in required + optional]
        for column in columns:
            try:
                check_data_relation(column)
            except SchemaError as error:
                raise IngestError(f"{path}: attribute column {column!r} cannot be a relation name ({error}); "
                                  "rename the column") from None
        return columns

    # ------------------------------------------------------------------ the three streams
    def nodes(self, rejects: Rejects) -> Iterator[NodeRecord]:
        self._pending = []
        for name, label, id_column in ((ITEMS, ITEM, "item_id"), (USERS, USER, "user_id")):
            if not self._has(name):
                continue
            path = self._where(name)
            attributes = self._attributes[name]
            for line, row, raw in self._records(name, rejects):
                try:
                    node_id = parse_id(row[id_column], id_column)
                    scenario = parse_scenario(row.get("scenario"), "scenario", None)
                    values = []
                    for column in attributes:
                        for value in (row[column] or "").split(MULTI_VALUE_SEPARATOR):
                            value = value.strip()
                            if value:
                                values.append((column, parse_id(attribute_entity_id(column, value), column), value))
                except RowError as error:
                    rejects.add(path, line, error.field, error.message, raw)
                    continue
                yield label, {"id": node_id, "text": optional_text(row.get("text")), "scenario": scenario}, True
                for column, entity_id, value in values:
                    yield ENTITY, {"id": entity_id, "text": value, "scenario": None}, False
                    self._pending.append({"src_label": label, "src_id": node_id, "relation": column,
                                          "dst_label": ENTITY, "dst_id": entity_id})
        if self._has(ENTITIES):
            path = self._where(ENTITIES)
            for line, row, raw in self._records(ENTITIES, rejects):
                try:
                    entity_id = parse_id(row["entity_id"], "entity_id")
                except RowError as error:
                    rejects.add(path, line, error.field, error.message, raw)
                    continue
                yield ENTITY, {"id": entity_id, "text": optional_text(row.get("text")), "scenario": None}, True

    def interactions(self, rejects: Rejects) -> Iterator[InteractionRow]:
        path = self._where(INTERACTIONS)
        for line, row, raw in self._records(INTERACTIONS, rejects):
            try:
                yield interaction_row(row)
            except RowError as error:
                rejects.add(path, line, error.field, error.message, raw)

    def interaction_columns(self, rejects: Rejects) -> Iterator[InteractionColumns]:
        """:meth:`interactions` as columns (the fast path, :mod:`ingest.fast`): the same rows and rejects."""
        fields = self._plain(INTERACTIONS)
        if fields is None:
            yield from fast.columns_of(self.interactions(rejects))
            return
        header = [column.strip() for column in fields.pop(-1)]
        names = {name: header.index(name) if name in header else None for name in INTERACTION_PARSERS}
        yield fast.parse_columns(fields, len(fields[0]), names, INTERACTION_PARSERS, interaction_row,
                                 self._where(INTERACTIONS), 2, ",", rejects)
        if self.on_lines is not None:
            self.on_lines(len(fields[0]))

    def relations(self, rejects: Rejects) -> Iterator[RelationRow]:
        yield from self._pending
        self._pending = []
        if self._has(TRIPLES):
            path = self._where(TRIPLES)
            for line, row, raw in self._records(TRIPLES, rejects):
                try:
                    yield {"src_label": ENTITY, "src_id": parse_id(row["head"], "head"),
                           "relation": parse_relation(row["relation"], "relation"),
                           "dst_label": ENTITY, "dst_id": parse_id(row["tail"], "tail")}
                except RowError as error:
                    rejects.add(path, line, error.field, error.message, raw)
        if self._has(LINKS):
            path = self._where(LINKS)
            for line, row, raw in self._records(LINKS, rejects):
                try:
                    yield {"src_label": ITEM, "src_id": parse_id(row["item_id"], "item_id"), "relation": SAME_AS,
                           "dst_label": ENTITY, "dst_id": parse_id(row["entity_id"], "entity_id")}
                except RowError as error:
                    rejects.add(path, line, error.field, error.message, raw)
