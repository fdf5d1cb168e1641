"""The fast path for large interaction files: columns instead of rows, the same rows and rejects.

:func:`read_plain` reads a file with ``pyarrow.csv`` when it is *plain*: UTF-8 without a BOM,
no quote character, no line break other than ``\\n`` or ``\\r\\n``, no blank line, every line
with the same number of fields. Then row ``n`` is line ``n + 1`` (after a header, ``n + 2``)
and a line's text is its fields joined by the separator, so a reject keeps its exact file,
line and text. Any other file returns ``None`` and its reader goes through the row path
(:func:`ingest.base.read_csv` or :func:`ingest.base.read_lines`), whose quoting, encoding and
blank-line rules then apply unchanged.

:func:`parse_columns` validates with the row path's own field parsers, run once per distinct
value of a column (ml-1m's 2M ids hold 9,746 distinct values), never with rules of its own:
a row whose fields all parse takes their values; a row with a field that does not is handed
whole to the reader's row function, which rejects it exactly as the row path does (the
first bad field in the row path's order, its message, the line's text).

pyarrow is a dependency of the package; without it every file takes the row path.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

import numpy as np

from kg_recsys.schema import InteractionRow
from kg_recsys.store.base import Coded, InteractionColumns
from ingest.base import Rejects, RowError

#: Rows per batch when a row path's rows are gathered into columns.
COLUMN_BATCH = 100_000
_UTF8_BOM = b"\xef\xbb\xbf"


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.compute
        import pyarrow.csv
    except ImportError:  # the row path reads everything; slower, the same result
        return None
    return pyarrow


def read_plain(path: Path, separator: str, width: int, header: bool) -> dict[int, list[str]] | None:
    """The fields of a plain file (see the module docstring) as ``{column: strings}``, the
    header line left out; ``None`` when the file is not plain or pyarrow is missing.

    Args:
        path: the file.
        separator: one character, or one repeated twice (MovieLens' ``::``).
        width: the fields a line has.
        header: whether the first line is a header (its fields are returned as column -1).
    """
    pa = _pyarrow()
    if pa is None or not 1 <= len(separator) <= 2 or len(set(separator)) != 1:
        return None
    data = Path(path).read_bytes()
    if (not data or data.startswith(_UTF8_BOM) or b'"' in data or data.count(b"\r") != data.count(b"\r\n")
            or data.startswith((b"\n", b"\r\n")) or b"\n\n" in data or b"\n\r\n" in data):
        return None
    try:  # pyarrow would hand an invalid row's text to the handler undecodable, and print that
        data.decode("utf-8")
    except UnicodeDecodeError:  # the row path names the line
        return None
    # "::" is read as ':' with an empty column between fields; a ':' inside a field shows up
    # as a line with too many columns (or a non-empty in-between column) and the file is not plain.
    step = len(separator)
    columns = width * step - (step - 1)
    invalid = []
    try:
        table = pa.csv.read_csv(
            pa.BufferReader(data),
            read_options=pa.csv.ReadOptions(column_names=[f"c{n}" for n in range(columns)]),
            parse_options=pa.csv.ParseOptions(delimiter=separator[0], quote_char=False, ignore_empty_lines=False,
                                              newlines_in_values=False,
                                              invalid_row_handler=lambda row: invalid.append(row) or "skip"),
            convert_options=pa.csv.ConvertOptions(column_types={f"c{n}": pa.string() for n in range(columns)},
                                                  strings_can_be_null=False, quoted_strings_can_be_null=False))
    except pa.ArrowInvalid:  # a line pyarrow cannot split
        return None
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if invalid or table.num_rows != lines:
        return None
    fields = {}
    for n in range(columns):
        column = table.column(n).combine_chunks() if table.num_columns else None
        if n % step:
            if pa.compute.any(pa.compute.not_equal(column, "")).as_py():
                return None
            continue
        fields[n // step] = column
    if header:
        heading = {n: column[0].as_py() for n, column in fields.items()}
        fields = {n: column.slice(1) for n, column in fields.items()}
        fields[-1] = [heading[n] for n in range(width)]
    return fields


def parse_distinct(column, parse: Callable[[str | None], object]) -> tuple[list, np.ndarray, np.ndarray]:
    """``parse`` run once per distinct value of ``column`` (a pyarrow string array, or ``None``
    for a column the file lacks: every row then has ``None``).

    Returns:
        ``(values, codes, ok)``: the parsed distinct values (``None`` where ``parse`` raised
        :class:`~ingest.base.RowError`), each row's code into them, and whether each row parsed.
    """
    if column is None:
        distinct, codes = [None], None
    else:
        encoded = column.dictionary_encode()
        distinct, codes = encoded.dictionary.to_pylist(), encoded.indices.to_numpy(zero_copy_only=False)
    values, good = [], []
    for value in distinct:
        try:
            values.append(parse(value))
            good.append(True)
        except RowError:
            values.append(None)
            good.append(False)
    good = np.asarray(good, bool)
    if codes is None:
        return values, np.zeros(0, np.int64), good
    return values, codes.astype(np.int64), good[codes]


def parse_columns(fields: Mapping[int, object], rows: int, names: Mapping[str, int | None],
                  parsers: Mapping[str, Callable[[str | None], object]],
                  row: Callable[[dict[str, str | None]], InteractionRow], path: Path, first_line: int,
                  separator: str, rejects: Rejects) -> InteractionColumns:
    """Interactions from a plain file's columns.

    Args:
        fields: :func:`read_plain`'s columns.
        rows: the number of rows.
        names: each interaction field's column in ``fields`` (``None``: the file lacks it).
        parsers: per interaction field (``user_id``, ``item_id``, ``scenario``, ``kind``,
            ``weight``, ``timestamp``), the row path's parser of one value.
        row: the row path's function from ``{field: text}`` to a row; raises
            :class:`~ingest.base.RowError` for a bad one.
        path: the file, as rejects name it.
        first_line: the line of row 0.
        separator: joins a row's fields back into its line, for the rejects file.
        rejects: where bad rows go.
    """
    parsed, ok = {}, np.ones(rows, bool)
    for name, parse in parsers.items():
        column = names.get(name)
        values, codes, good = parse_distinct(None if column is None else fields[column], parse)
        if column is None:  # one value for every row
            if not good[0]:
                ok[:] = False
            parsed[name] = (values, np.zeros(rows, np.int64))
        else:
            ok &= good
            parsed[name] = (values, codes)
    bad = np.flatnonzero(~ok)
    if len(bad):
        width = max(n for n in fields if n >= 0) + 1
        for n in bad.tolist():
            text = {n_: fields[n_][n].as_py() for n_ in range(width)}
            line = separator.join(text[n_] for n_ in range(width))
            try:
                row({name: None if column is None else text[column] for name, column in names.items()})
            except RowError as error:
                rejects.add(path, first_line + n, error.field, error.message, line)
                continue
            # every field's parser is the row's own, so a row with a failing field fails
            raise AssertionError(f"{path}:{first_line + n}: a field failed alone but its row parsed")
    keep = np.flatnonzero(ok)

    def number(name: str) -> np.ndarray:  # None: a failed value (no kept row has it) or no timestamp
        values, codes = parsed[name]
        return np.asarray([np.nan if v is None else v for v in values], np.float64)[codes[keep]]

    return InteractionColumns(*(Coded(parsed[name][0], parsed[name][1][keep])
                                for name in ("user_id", "item_id", "scenario", "kind")),
                              number("weight"), number("timestamp"))


def columns_of(rows: Iterable[InteractionRow], size: int = COLUMN_BATCH) -> Iterator[InteractionColumns]:
    """A row path's rows in column batches of ``size``."""
    batch: list[InteractionRow] = []
    for item in rows:
        batch.append(item)
        if len(batch) >= size:
            yield _from_rows(batch)
            batch = []
    if batch:
        yield _from_rows(batch)


def _from_rows(rows: list[InteractionRow]) -> InteractionColumns:
    return InteractionColumns(
        Coded.of([r["user_id"] for r in rows]), Coded.of([r["item_id"] for r in rows]),
        Coded.of([r["scenario"] for r in rows]), Coded.of([r["kind"] for r in rows]),
        np.asarray([r["weight"] for r in rows], np.float64),
        np.asarray([np.nan if r["timestamp"] is None else r["timestamp"] for r in rows], np.float64))
