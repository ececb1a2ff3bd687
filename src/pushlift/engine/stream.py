"""Read event streams from files (NDJSON, CSV, Parquet) or stdin (NDJSON), validated.

Fields: `event_id` (integer, unique), `kind` (location | purchase | site_visit),
`subscriber_id` (integer), `time` (ISO 8601 with a UTC offset, e.g. `...Z`), and by kind:
`lat`, `lon` (location); `vendor_id`, `amount_cents` (purchase); `domain` or `vendor_id`
(site_visit). The same rules, stated as a JSON Schema, ship as `event.schema.json` beside
this module. A bad value stops the read with one message naming the file, the row (the line;
a CSV header is row 1) and the field; nothing is decided or stored.

Paths are literal: files are opened here and read by Python's csv module or pyarrow, never
handed to a reader that expands globs. CSV and Parquet columns may carry other names, given
as a mapping from the canonical name to the file's column (`--map subscriber_id=user`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import select
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from pushlift.engine.events import (
    EARLIEST,
    END,
    KIND_CODES,
    KIND_NAMES,
    MAX_AMOUNT_CENTS,
    MAX_ID,
    EventBatch,
    from_us,
    to_us,
)
from pushlift.errors import InputError, PushliftError

COLUMNS = (
    "event_id",
    "kind",
    "subscriber_id",
    "time",
    "lat",
    "lon",
    "vendor_id",
    "amount_cents",
    "domain",
)
REQUIRED = ("event_id", "kind", "subscriber_id", "time")
IDLE_SECONDS = 0.2  # a pause this long on a pipe ends a micro-batch
MAX_EVENTS = 50_000
_FORMATS = {
    ".csv": "csv",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "ndjson",
    ".parquet": "parquet",
}
SCHEMA_PATH = Path(__file__).with_name("event.schema.json")
_OTHER_ENCODINGS = (  # byte order marks; UTF-32's first, as they begin like UTF-16's
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
_DELIMITERS = (",", ";", "\t", "|")


def parse_mapping(items: Iterable[str]) -> dict[str, str]:
    """`--map canonical=column` options as {canonical: column}; one error for a malformed
    item, an unknown canonical name or a canonical name given twice."""
    mapping: dict[str, str] = {}
    for item in items:
        name, sep, column = item.partition("=")
        name, column = name.strip(), column.strip()  # CSV header names are read stripped
        if not sep or not name or not column:
            raise PushliftError(f"--map {item!r}: expected CANONICAL=COLUMN, e.g. time=ts")
        if name not in COLUMNS:
            raise PushliftError(
                f"--map {item!r}: {name!r} is not an event field; the fields are "
                + ", ".join(COLUMNS)
            )
        if name in mapping:
            raise PushliftError(f"--map: {name!r} is mapped twice")
        mapping[name] = column
    return mapping


def event_format(path: str | Path) -> str | None:
    """'ndjson', 'csv' or 'parquet' by the file's suffix (None if unknown)."""
    return _FORMATS.get(Path(path).suffix.lower())


def read_events(path: str | Path, mapping: dict[str, str] | None = None) -> EventBatch:
    """All events of one file, sorted by event time (ties keep file order). `mapping` names
    the file's column for canonical fields (CSV and Parquet only)."""
    path = Path(path)
    source = str(path)
    fmt = event_format(path)
    if fmt is None:
        raise InputError("unknown format: use .csv, .ndjson/.jsonl or .parquet", file=source)
    if mapping and fmt == "ndjson":
        raise InputError(
            "--map renames CSV and Parquet columns; NDJSON fields use the canonical names",
            file=source,
        )
    data = _read_file(path)
    if fmt != "parquet":
        for bom, name in _OTHER_ENCODINGS:
            if data.startswith(bom):
                raise InputError(f"the file is {name} text: save it as UTF-8", file=source, row=1)
    if fmt == "ndjson":
        return _from_lines(data.splitlines(), source, first_row=1)
    if fmt == "csv":
        columns, line_of = _csv_columns(data, source)
    else:
        columns, line_of = _parquet_columns(data, source), (lambda i: i + 1)
    columns = _mapped(columns, mapping or {}, source)
    n = len(next(iter(columns.values()))) if columns else 0
    return _validate(columns, n, source, first_row=1, row_of=line_of)


def _read_file(path: Path) -> bytes:
    """The bytes of the file at exactly this path (a regular file or a pipe)."""
    source = str(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise InputError("no such file", file=source) from None
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}", file=source) from None
    if stat.S_ISDIR(mode):
        raise InputError("is a directory, not an event file", file=source)
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        raise InputError("not a regular file (use '-' to read a stream on stdin)", file=source)
    try:
        with path.open("rb") as f:
            return f.read()
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}", file=source) from None
    except MemoryError:
        raise InputError("too large to read into memory", file=source) from None


def _mapped(
    columns: dict[str, list[object]], mapping: dict[str, str], source: str
) -> dict[str, list[object]]:
    """The file's columns under their canonical names."""
    if not mapping:
        return columns
    out = dict(columns)
    for name, column in mapping.items():
        if column not in columns:
            raise InputError(
                f"--map {name}={column}: the file has no column {column!r}; it has "
                + ", ".join(repr(c) for c in columns),
                file=source,
                column=column,
            )
        if name in columns and name not in mapping.values() and name != column:
            raise InputError(
                f"--map {name}={column}, but the file also has a column {name!r}: rename or "
                "drop one of them",
                file=source,
                column=name,
            )
    for name, column in mapping.items():
        out[name] = columns[column]
    return out


def _csv_columns(data: bytes, source: str) -> tuple[dict[str, list[object]], Callable]:
    """A CSV file as text columns ('' is missing), and a function giving a record's line
    number (the header is line 1). Line ends may be LF, CRLF or CR; the delimiter (comma,
    semicolon, tab or pipe) is the one the header uses. pyarrow parses; whatever it cannot
    parse is parsed again by Python's csv module, which names the line of the problem."""
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    first = re.split(rb"\r\n|\r|\n", data[start : start + (1 << 20)], maxsplit=1)[0]
    head = first.decode("utf-8", errors="replace")
    delimiter = max(_DELIMITERS, key=head.count) if head else ","
    try:
        first.decode("utf-8")
        names = next(csv.reader([head], delimiter=delimiter), [])
    except (UnicodeDecodeError, csv.Error):
        names = []  # the header is not plain UTF-8 CSV: Python's reader says where
    fast = _csv_by_arrow(data, delimiter, names) if len(set(names)) == len(names) else None
    if fast is None:
        columns, rows = _csv_by_python(data, source, delimiter)
        return columns, rows.__getitem__
    lines: list[int] = []

    def line_of(i: int) -> int:
        if not lines:
            lines.extend(_csv_by_python(data, source, delimiter)[1])
        return lines[i]

    return fast, line_of


def _csv_by_arrow(data: bytes, delimiter: str, names: list[str]) -> dict[str, list[object]] | None:
    """The columns as text, or None when pyarrow refuses the file (it does not say where)."""
    import pyarrow.csv as pacsv

    if not names or not all(n.strip() for n in names):
        return None
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        if table.column_names != names:
            return None
    except (pa.ArrowException, ValueError, OSError):
        return None
    return {n.strip(): table.column(i) for i, n in enumerate(names)}


def _csv_by_python(
    data: bytes, source: str, delimiter: str
) -> tuple[dict[str, list[object]], list[int]]:
    """The columns and each record's first line, or the InputError naming the line."""
    try:
        text_ = data.decode("utf-8-sig")
        bad_utf8 = False
    except UnicodeDecodeError:
        text_, bad_utf8 = data.decode("utf-8-sig", errors="surrogateescape"), True
    reader = csv.reader(io.StringIO(text_, newline=""), delimiter=delimiter, strict=True)
    line = 1
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise InputError("empty file: expected a header row naming the columns", file=source)
        names = [h.strip() for h in header]
        for name in names:
            if bad_utf8 and _has_surrogate(name):
                raise InputError("not UTF-8 text in the header", file=source, row=1)
            if not name:
                raise InputError("a column without a name in the header", file=source, row=1)
            if names.count(name) > 1:
                raise InputError(
                    "column named twice in the header", file=source, row=1, column=name
                )
        values: list[list[object]] = [[] for _ in names]
        rows: list[int] = []
        line = reader.line_num + 1
        for record in reader:
            if not record or record == [""]:  # a blank line
                line = reader.line_num + 1
                continue
            if len(record) != len(names):
                raise InputError(
                    f"{len(record)} fields where the header has {len(names)}",
                    file=source,
                    row=line,
                )
            if bad_utf8:
                for name, v in zip(names, record, strict=True):
                    if _has_surrogate(v):
                        raise InputError("not UTF-8 text", file=source, row=line, column=name)
            for column, v in zip(values, record, strict=True):
                column.append(v)
            rows.append(line)
            line = reader.line_num + 1
    except csv.Error as e:
        raise InputError(f"not valid CSV ({e})", file=source, row=line) from None
    return dict(zip(names, values, strict=True)), rows


def _has_surrogate(text_: str) -> bool:
    return any("\udc80" <= c <= "\udcff" for c in text_)


class _Naive:
    """A Parquet timestamp without a time zone (refused: times need a UTC offset)."""

    def __repr__(self) -> str:
        return "a timestamp without a time zone"


class _Instant:
    """A Parquet timestamp with a time zone, as microseconds since the epoch."""

    def __init__(self, us: int) -> None:
        self.us = us

    def __repr__(self) -> str:
        return f"a timestamp {self.us} us from 1970"


_UNIT_US = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}


def _parquet_columns(data: bytes, source: str) -> dict[str, list[object]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data), use_threads=False)
    except (pa.ArrowException, OSError, ValueError, TypeError, IndexError) as e:
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"cannot read as Parquet: {message[:200]}", file=source) from None
    columns: dict[str, list[object]] = {}
    for name in table.column_names:
        if name in columns:
            raise InputError("column named twice", file=source, column=name)
        chunked = table.column(name)
        try:
            columns[name] = _parquet_values(chunked)
        except pa.ArrowException:
            raise InputError(
                f"its values ({chunked.type}) cannot be read", file=source, column=name
            ) from None
    return columns


def _parquet_values(chunked: pa.ChunkedArray) -> pa.ChunkedArray | list[object]:
    kind = chunked.type
    if pa.types.is_dictionary(kind):
        chunked = chunked.cast(kind.value_type)
        kind = chunked.type
    if not pa.types.is_timestamp(kind):
        return chunked
    raw = chunked.cast(pa.int64()).to_pylist()
    if kind.tz is None:
        return [None if v is None else _Naive() for v in raw]
    per = _UNIT_US[kind.unit]
    return [None if v is None else _Instant(v * per if per else v // 1000) for v in raw]


def read_stdin_batches() -> Iterator[EventBatch]:
    """NDJSON events from stdin, in micro-batches (see `ndjson_batches`)."""
    return ndjson_batches(sys.stdin.buffer)


def ndjson_batches(
    stream: BinaryIO, idle_seconds: float = IDLE_SECONDS, max_events: int = MAX_EVENTS
) -> Iterator[EventBatch]:
    """Micro-batches of NDJSON events from a pipe, which must be in event-time order: a
    batch ends at a pause (so a live writer's events are decided without waiting for
    more), at `max_events` lines, or at the end of the stream."""
    fd = stream.fileno()
    pending, lines, row = b"", [], 1
    while True:
        ready, _, _ = select.select([fd], [], [], idle_seconds)
        if not ready:  # the writer paused: decide what arrived
            if lines:
                yield _from_lines(lines, "<stdin>", first_row=row, keep_order=True)
                row, lines = row + len(lines), []
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        *complete, pending = (pending + chunk).split(b"\n")
        lines += complete
        if len(lines) >= max_events:
            yield _from_lines(lines, "<stdin>", first_row=row, keep_order=True)
            row, lines = row + len(lines), []
    if pending.strip():
        lines.append(pending)
    if lines:
        yield _from_lines(lines, "<stdin>", first_row=row, keep_order=True)


def _from_lines(
    lines: list[bytes], source: str, first_row: int, keep_order: bool = False
) -> EventBatch:
    columns: dict[str, list[object]] = {name: [] for name in COLUMNS}
    rows: list[int] = []
    for i, raw in enumerate(lines):
        if not raw.strip():
            continue
        row = first_row + i
        record = _json_line(raw, source, row)
        if not isinstance(record, dict):
            raise InputError("each line must be a JSON object", file=source, row=row)
        unknown = set(record) - set(COLUMNS)
        if unknown:
            name = sorted(unknown)[0]
            raise InputError(
                f"unknown field {_show(name)}; the fields are {', '.join(COLUMNS)}",
                file=source,
                row=row,
                column=name if len(name) <= 64 else None,
            )
        for name in COLUMNS:
            columns[name].append(record.get(name))
        rows.append(row)
    return _validate(columns, len(rows), source, first_row, rows.__getitem__, sort=not keep_order)


def _json_line(raw: bytes, source: str, row: int) -> object:
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", file=source, row=row, column=_non_utf8(raw)) from None
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON ({e.msg})", file=source, row=row) from None
    except RecursionError:
        raise InputError("not an event: JSON nested too deeply", file=source, row=row) from None
    except ValueError as e:  # e.g. an integer of thousands of digits
        raise InputError(f"not valid JSON ({str(e)[:100]})", file=source, row=row) from None


def _non_utf8(raw: bytes) -> str | None:
    """The field whose value holds the bytes that are not UTF-8, when the line is JSON."""
    try:
        record = json.loads(raw.decode("utf-8", errors="surrogateescape"))
    except (ValueError, RecursionError):
        return None
    if isinstance(record, dict):
        for name, value in record.items():
            if isinstance(value, str) and _has_surrogate(value) and name in COLUMNS:
                return name
    return None


def events_from_records(records: list[dict[str, object]], source: str) -> EventBatch:
    """Events given as already-parsed objects (an HTTP request), validated by the same rules
    as file rows and sorted by event time; `row` in an error is the 0-based position."""
    columns = {name: [r.get(name) for r in records] for name in COLUMNS}
    return _validate(columns, len(records), source, first_row=0)


_PLAIN_INTEGER = r"^[+-]?[0-9]{1,19}$"
_PLAIN_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?$"


class _Column:
    """A column's values as given (a list, or an Arrow array from a file), with the Python
    values made once when a check needs them."""

    def __init__(self, given: list[object] | pa.ChunkedArray, name: str, source: str) -> None:
        self.given, self.name, self.source = given, name, source
        self._list: list[object] | None = given if isinstance(given, list) else None

    def values(self) -> list[object]:
        if self._list is None:
            try:
                self._list = self.given.to_pylist()  # type: ignore[union-attr]
            except (pa.ArrowException, ValueError, OverflowError, TypeError):
                raise InputError(
                    f"its values ({self.given.type}) cannot be read",  # type: ignore[union-attr]
                    file=self.source,
                    column=self.name,
                ) from None
        return self._list

    def arrow(self, to: pa.DataType) -> tuple[np.ndarray, np.ndarray] | None:
        """Values and missing mask when Arrow converts the whole column ('' is missing)."""
        col = self.given
        if not isinstance(col, pa.ChunkedArray | pa.Array):
            return None
        kind = col.type
        ok = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_string(kind)
        if not ok or pa.types.is_floating(kind) and pa.types.is_integer(to):
            return None  # floats as integers: the loop checks each is whole
        import pyarrow.compute as pc

        try:
            if pa.types.is_string(kind):
                col = pc.if_else(pc.equal(col, ""), pa.scalar(None, kind), col)
                # Arrow also reads '0x10' and the like: only plain decimals go this way.
                plain = _PLAIN_INTEGER if pa.types.is_integer(to) else _PLAIN_NUMBER
                if pc.all(pc.match_substring_regex(col, plain)).as_py() not in (True, None):
                    return None
            cast = pc.cast(col, to)
        except pa.ArrowException:
            return None
        missing = cast.is_null().to_numpy(zero_copy_only=False)
        zero = pa.scalar(0, to)
        return cast.fill_null(zero).to_numpy(), missing


def _validate(
    columns: dict[str, list[object] | pa.ChunkedArray],
    n: int,
    source: str,
    first_row: int,
    row_of: Callable[[int], int] | None = None,
    sort: bool = True,
) -> EventBatch:
    """Checked columns as a batch; `row_of(i)` is the line or row that value `i` came from
    (by default `first_row + i`)."""
    if row_of is None:
        row_of = first_row.__add__
    for name in REQUIRED:
        if name not in columns:
            raise InputError(
                "required column is missing; the file has "
                + (", ".join(_show(c) for c in list(columns)[:30]) or "no columns"),
                file=source,
                column=name,
            )

    def bad(i: int, column: str, message: str) -> InputError:
        return InputError(message, file=source, row=row_of(i), column=column)

    get = {name: _Column(columns.get(name, [None] * n), name, source) for name in COLUMNS}

    event_id = _integers(get["event_id"], "event_id", bad, MAX_ID, required=True)
    subscriber = _integers(get["subscriber_id"], "subscriber_id", bad, MAX_ID, required=True)
    kinds = np.empty(n, dtype=np.int8)
    for i, k in enumerate(get["kind"].values()):
        code = KIND_CODES.get(k.strip()) if isinstance(k, str) else None
        if code is None:
            what = "missing value" if k is None or k == "" else _show(k)
            raise bad(i, "kind", f"{what} is not one of {', '.join(KIND_CODES)}")
        kinds[i] = code
    times = _times(get["time"], bad)
    lat = _floats(get["lat"], "lat", bad, kinds == 0, (-90, 90))
    lon = _floats(get["lon"], "lon", bad, kinds == 0, (-180, 180))
    amount = _integers(get["amount_cents"], "amount_cents", bad, MAX_AMOUNT_CENTS, required=False)
    vendor = _texts(get["vendor_id"], "vendor_id", bad)
    domain = _texts(get["domain"], "domain", bad)
    for i in np.flatnonzero(kinds == 1).tolist():
        if vendor[i] is None:
            raise bad(i, "vendor_id", "a purchase needs a vendor_id")
        if amount[i] == _MISSING:
            raise bad(i, "amount_cents", "a purchase needs an amount in integer cents")
    for i in np.flatnonzero(kinds == 2).tolist():
        if vendor[i] is None and domain[i] is None:
            raise bad(i, "domain", "a site visit needs a domain (or a vendor_id)")
    amount[amount == _MISSING] = 0
    order = np.argsort(times, kind="stable") if sort else np.arange(n)
    if not sort and n > 1 and (np.diff(times) < 0).any():
        i = int(np.flatnonzero(np.diff(times) < 0)[0]) + 1
        raise bad(i, "time", "events must arrive in event-time order")
    _, first = np.unique(event_id, return_index=True)
    if len(first) < n:
        dup = sorted(set(range(n)) - set(first.tolist()))[0]
        raise bad(dup, "event_id", f"duplicate event id {event_id[dup]}")
    batch = EventBatch(event_id, kinds, subscriber, times, lat, lon, vendor, amount, domain)
    return batch.take(order)


_MISSING = np.iinfo(np.int64).min
_Bad = Callable[[int, str, str], InputError]


def _show(v: object) -> str:
    """A value for a message: its repr, cut short."""
    try:
        text_ = repr(v)
    except Exception:  # noqa: BLE001 - a value that cannot even be shown
        text_ = f"a {type(v).__name__}"
    return text_ if len(text_) <= 60 else text_[:50] + "…" + text_[-5:]


def _integer(v: object) -> int | None:
    """An integer value, or None when `v` is not one (bools, fractions and text that is not
    plain ASCII decimal digits are not)."""
    kind = type(v)
    if kind is int:
        return v  # type: ignore[return-value]
    if kind is str:
        text_ = v.strip()  # type: ignore[union-attr]
        digits = text_[1:] if text_[:1] in ("+", "-") else text_
        if digits.isdigit() and digits.isascii() and len(digits) <= 25:
            return int(text_)
        return None
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return int(v) if v.is_integer() else None
    if isinstance(v, Decimal):
        return int(v) if v.is_finite() and v == v.to_integral_value() else None
    return None


def _integers(col: _Column, column: str, bad: _Bad, most: int, required: bool) -> np.ndarray:
    fast = col.arrow(pa.int64())
    if fast is not None:
        out, missing = fast
        if not (required and missing.any()) and not (
            len(out) and (out.min() < 0 or out.max() > most)
        ):
            out = out.astype(np.int64)
            out[missing] = _MISSING
            return out
    values = col.values()
    out = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        if v is None or v == "":
            if required:
                raise bad(i, column, "missing value")
            out[i] = _MISSING
            continue
        x = _integer(v)
        if x is None:
            raise bad(i, column, f"{_show(v)} is not an integer")
        if not 0 <= x <= most:
            raise bad(i, column, f"{_show(v)} is outside [0, {most}]")
        out[i] = x
    return out


MAX_TEXT = 256  # characters in an id or domain


def _texts(col: _Column, column: str, bad: _Bad) -> np.ndarray:
    """Ids and domains: text that can be stored (UTF-8, no lone surrogates), bounded."""
    values = col.values()
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        if v is None or v == "":
            out[i] = None
            continue
        if isinstance(v, bool) or not isinstance(v, str | int):
            raise bad(i, column, f"{_show(v)} is not text")
        text_ = str(v) if not isinstance(v, int) or abs(v) < 10**MAX_TEXT else "x" * (MAX_TEXT + 1)
        if len(text_) > MAX_TEXT:
            raise bad(i, column, f"longer than {MAX_TEXT} characters")
        try:
            text_.encode("utf-8")
        except UnicodeEncodeError:
            raise bad(i, column, "not valid Unicode text (a lone surrogate)") from None
        out[i] = text_
    return out


def _floats(
    col: _Column, column: str, bad: _Bad, needed: np.ndarray, bounds: tuple[int, int]
) -> np.ndarray:
    fast = col.arrow(pa.float64())
    if fast is not None:
        out, missing = fast
        given = out[~missing]
        if not (needed & missing).any() and ((given >= bounds[0]) & (given <= bounds[1])).all():
            out = out.astype(float)
            out[missing] = np.nan
            return out
    values = col.values()
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if v is None or v == "":
            if needed[i]:
                raise bad(i, column, "a location event needs lat and lon")
            continue
        x = _float(v)
        if x is None:
            raise bad(i, column, f"{_show(v)} is not a number")
        if not bounds[0] <= x <= bounds[1]:
            raise bad(i, column, f"{_show(v)} is outside [{bounds[0]}, {bounds[1]}]")
        out[i] = x
    return out


def _float(v: object) -> float | None:
    """A number as a float (inf beyond the float range), or None when `v` is not one."""
    kind = type(v)
    if kind is float:
        return v  # type: ignore[return-value]
    if kind is str:
        text_ = v.strip()  # type: ignore[union-attr]
        if not text_.isascii() or "_" in text_ or not text_[-1:].isdigit() and text_[-1:] != ".":
            return None  # also refuses 'nan', 'inf' and 'infinity' spelled out
        try:
            return float(text_)
        except ValueError:
            return None
    if isinstance(v, bool) or not isinstance(v, int | float | Decimal):
        return None
    try:
        return float(v)
    except OverflowError:
        return float("inf")


_EARLIEST_US, _END_US = to_us(EARLIEST), to_us(END)
_TIME_RANGE = "times must be from 1970-01-01T00:00:00Z to 2200-12-31T23:59:59Z"


def _times(col: _Column, bad: _Bad) -> np.ndarray:
    values = col.values()
    out = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        if isinstance(v, _Naive):
            raise bad(i, "time", "a timestamp without a time zone: store it with one (UTC)")
        us = v.us if isinstance(v, _Instant) else _time_us(v, i, bad)
        if not _EARLIEST_US <= us < _END_US:
            raise bad(i, "time", f"{_show(v)} is out of range: {_TIME_RANGE}")
        out[i] = us
    return out


def _time_us(v: object, i: int, bad: _Bad) -> int:
    if isinstance(v, datetime):
        moment = v
    elif isinstance(v, date):
        raise bad(i, "time", f"{_show(v)} is a date; a time with a UTC offset is needed")
    elif isinstance(v, str):
        if v == "" or not v.strip():
            raise bad(i, "time", "missing value")
        if len(v) > 64:
            raise bad(i, "time", f"{_show(v)} is not an ISO 8601 time (too long)")
        try:
            moment = datetime.fromisoformat(v.strip())
        except ValueError:
            raise bad(
                i, "time", f"{_show(v)} is not an ISO 8601 time like 2026-03-02T10:00:00Z"
            ) from None
    elif v is None:
        raise bad(i, "time", "missing value")
    else:
        raise bad(i, "time", f"{_show(v)} is not text: write an ISO 8601 time in quotes")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise bad(i, "time", f"{_show(v)} has no UTC offset (add 'Z' or '+02:00')")
    try:
        return to_us(moment)
    except (OverflowError, ValueError):
        raise bad(i, "time", f"{_show(v)} is out of range: {_TIME_RANGE}") from None


def write_ndjson(batch: EventBatch, path: Path) -> None:
    """Write events as NDJSON in the format `read_events` reads (used by simulators)."""
    with path.open("w", encoding="utf-8") as f:
        for e in batch.events():
            record: dict[str, object] = {
                "event_id": e.event_id,
                "kind": KIND_NAMES[e.kind],
                "subscriber_id": e.subscriber_id,
                "time": from_us(e.time_us).isoformat().replace("+00:00", "Z"),
            }
            if e.kind == 0:
                record |= {"lat": e.lat, "lon": e.lon}
            elif e.kind == 1:
                record |= {"vendor_id": e.vendor_id, "amount_cents": e.amount_cents}
            else:
                record |= {"domain": e.domain, "vendor_id": e.vendor_id}
            f.write(json.dumps({k: v for k, v in record.items() if v is not None}) + "\n")
