"""pandas DataFrames as a canonical source: the canonical folder's tables, in memory.

Each frame has the columns of its canonical file (see :mod:`ingest.canonical`):
``interactions`` (required), ``items``, ``users``, ``triples``, ``links`` and ``entities``.
They are read by :class:`~ingest.canonical.CanonicalSource` itself, which is given the
frames' cells as text instead of a file's: the same header checks, the same row parsers and
the same rejects. A missing value (``None``, ``NaN``, ``NaT``) is an empty field; a list or
tuple in an attribute column is several values; a datetime ``timestamp`` column becomes
seconds since the epoch. A reject names the frame (``interactions frame``) and, as its
line, the row's position (``frame.iloc[line]``).

pandas is an optional dependency: ``pip install 'kg-recsys[pandas]'``.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterator

from ingest.base import CsvRecord, IngestError
from ingest.canonical import COLUMNS, ENTITIES, INTERACTIONS, ITEMS, LINKS, MULTI_VALUE_SEPARATOR, TRIPLES, USERS, \
    CanonicalSource
from ingest.runner import IngestSummary, ingest_source
from kg_recsys.store.base import GraphStore

#: Keyword argument -> the canonical file whose columns the frame has.
FRAME_FILES = {"interactions": INTERACTIONS, "items": ITEMS, "users": USERS, "triples": TRIPLES, "links": LINKS,
               "entities": ENTITIES}


def import_pandas():
    """``pandas``, or an ImportError that says how to install it."""
    try:
        import pandas
    except ImportError:
        raise ImportError("DataFrame input and output need pandas: pip install 'kg-recsys[pandas]'") from None
    return pandas


class FrameSource(CanonicalSource):
    """Reads canonical tables from pandas DataFrames (see the module docstring).

    Args:
        interactions: ``user_id, item_id [, scenario, kind, weight, timestamp]``.
        items: ``item_id [, text, scenario]`` + attribute columns. (default: ``None``)
        users: ``user_id [, text]`` + attribute columns. (default: ``None``)
        triples: ``head, relation, tail``. (default: ``None``)
        links: ``item_id, entity_id``. (default: ``None``)
        entities: ``entity_id [, text]``. (default: ``None``)
        name: the name shown in the summary and the rejects file. (default: ``"frames"``)

    Raises:
        IngestError: an argument is not a DataFrame, or a required column is missing or
            named twice; nothing has been read into a store yet.
    """

    def __init__(self, interactions, items=None, users=None, triples=None, links=None, entities=None,
                 name: str = "frames") -> None:
        pandas = import_pandas()
        given = {"interactions": interactions, "items": items, "users": users, "triples": triples, "links": links,
                 "entities": entities}
        self._frames: dict[str, Any] = {}
        for argument, frame in given.items():
            if frame is None:
                continue
            if not isinstance(frame, pandas.DataFrame):
                raise IngestError(f"{argument} must be a pandas DataFrame, got {type(frame).__name__}")
            self._frames[FRAME_FILES[argument]] = frame
        if interactions is None:
            raise IngestError(f"interactions is required: a DataFrame with the columns "
                              f"{', '.join(COLUMNS[INTERACTIONS][0] + COLUMNS[INTERACTIONS][1])}")
        self.folder = Path(".")
        self.name = name
        self.encoding = None
        self._pending = []
        self.validate()

    def __repr__(self) -> str:
        shapes = ", ".join(f"{_stem(name)}={len(frame)}" for name, frame in self._frames.items())
        return f"FrameSource({shapes})"

    def files(self) -> list[Path]:
        return []

    def _has(self, name: str) -> bool:
        return name in self._frames

    def _where(self, name: str) -> str:
        return f"{_stem(name)} frame"

    def _span(self, name: str) -> tuple[int, int]:
        return -1, len(self._frames[name]) - 1

    def _plain(self, name: str) -> None:
        return None  # a frame's cells go through the row path (their text is made per cell)

    def _read(self, name: str) -> Iterator[CsvRecord]:
        pandas = import_pandas()
        frame = self._frames[name]
        header = [str(column) for column in frame.columns]
        yield CsvRecord(-1, header, ",".join(header))  # rows are numbered by position, from 0
        columns = []
        for column, values in frame.items():
            if str(column) == "timestamp" and pandas.api.types.is_datetime64_any_dtype(values):
                values = values.map(lambda stamp: None if pandas.isna(stamp) else stamp.timestamp())
            columns.append(values.tolist())
        for position, row in enumerate(zip(*columns)):
            fields = [_text(value) for value in row]
            yield CsvRecord(position, fields, ",".join(fields))


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0]


def _text(value) -> str:
    """A cell as the text a CSV file would hold (missing values empty)."""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (list, tuple)):
        return MULTI_VALUE_SEPARATOR.join(_text(v) for v in value)
    if type(value).__name__ in ("NAType", "NaTType"):
        return ""
    return str(value)


def ingest_frames(store: GraphStore, interactions, items=None, users=None, triples=None, links=None, entities=None,
                  *, name: str = "frames", rejects_path: str | os.PathLike | None = None, batch_size: int = 5000,
                  progress: bool = False) -> IngestSummary:
    """Ingest DataFrames into ``store``, exactly as the same tables in a canonical folder.

    Args:
        store: any :class:`~kg_recsys.store.base.GraphStore`.
        interactions: ``user_id, item_id [, scenario, kind, weight, timestamp]``.
        items: ``item_id [, text, scenario]`` + attribute columns. (default: ``None``)
        users: ``user_id [, text]`` + attribute columns. (default: ``None``)
        triples: ``head, relation, tail``. (default: ``None``)
        links: ``item_id, entity_id``. (default: ``None``)
        entities: ``entity_id [, text]``. (default: ``None``)
        name: the source's name in the summary. (default: ``"frames"``)
        rejects_path: CSV file for rejected rows (see :func:`~ingest.runner.ingest_source`).
            (default: ``None``)
        batch_size: rows per store write. (default: ``5000``)
        progress: show a progress bar. (default: ``False``)

    Returns:
        An :class:`~ingest.runner.IngestSummary`.
    """
    source = FrameSource(interactions, items, users, triples, links, entities, name=name)
    return ingest_source(source, store, rejects_path=rejects_path, batch_size=batch_size, progress=progress)
