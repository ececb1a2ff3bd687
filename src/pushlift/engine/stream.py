"""Read event streams from files (NDJSON, CSV, Parquet) or stdin (NDJSON), validated.

Columns: `event_id` (integer, unique), `kind` (location | purchase | site_visit),
`subscriber_id` (integer), `time` (ISO 8601 with a UTC offset, e.g. `...Z`), and by kind:
`lat`, `lon` (location); `vendor_id`, `amount_cents` (purchase); `domain` or `vendor_id`
(site_visit). A bad value stops the read with one message naming the file, the row (the
line, counting a CSV header as row 1) and the column; nothing is decided or stored.
"""

from __future__ import annotations

import json
import os
import select
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import duckdb
import numpy as np
import pyarrow as pa

from pushlift.analysis.sql import text
from pushlift.engine.events import KIND_CODES, KIND_NAMES, EventBatch, from_us, to_us
from pushlift.errors import InputError

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


def read_events(path: str | Path) -> EventBatch:
    """All events of one file, sorted by event time (ties keep file order)."""
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError("unknown format: use .csv, .ndjson/.jsonl or .parquet", file=str(path))
    if not path.exists():
        raise InputError("no such file", file=str(path))
    if fmt == "ndjson":
        return _from_lines(path.read_bytes().splitlines(), str(path), first_row=1)
    if fmt == "csv":
        table = _read(path, "read_csv({}, all_varchar = true, header = true)")
    else:
        table = _read(path, "read_parquet({})")
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    return _validate(columns, len(table), str(path), first_row=2 if fmt == "csv" else 1)


def _read(path: Path, source: str) -> pa.Table:
    """A CSV or Parquet file as an Arrow table, read by DuckDB."""
    con = duckdb.connect()
    try:
        return con.sql("SELECT * FROM " + source.format(text(str(path)))).to_arrow_table()
    except duckdb.Error as e:
        raise InputError(f"cannot read: {str(e).splitlines()[0]}", file=str(path)) from None
    finally:
        con.close()


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


def events_from_records(records: list[dict[str, object]], source: str) -> EventBatch:
    """Events given as already-parsed objects (an HTTP request), validated by the same rules
    as file rows and sorted by event time; `row` in an error is the 0-based position."""
    columns = {name: [r.get(name) for r in records] for name in COLUMNS}
    return _validate(columns, len(records), source, first_row=0)


def _from_lines(
    lines: list[bytes], source: str, first_row: int, keep_order: bool = False
) -> EventBatch:
    columns: dict[str, list[object]] = {name: [] for name in COLUMNS}
    rows: list[int] = []
    for i, raw in enumerate(lines):
        if not raw.strip():
            continue
        row = first_row + i
        try:
            record = json.loads(raw)
        except UnicodeDecodeError:
            raise InputError("not UTF-8 text", file=source, row=row) from None
        except json.JSONDecodeError as e:
            raise InputError(f"not valid JSON ({e.msg})", file=source, row=row) from None
        if not isinstance(record, dict):
            raise InputError("each line must be a JSON object", file=source, row=row)
        unknown = set(record) - set(COLUMNS)
        if unknown:
            raise InputError(f"unknown field {sorted(unknown)[0]!r}", file=source, row=row)
        for name in COLUMNS:
            columns[name].append(record.get(name))
        rows.append(row)
    return _validate(columns, len(rows), source, first_row, rows, sort=not keep_order)


def _validate(
    columns: dict[str, list[object]],
    n: int,
    source: str,
    first_row: int,
    rows: list[int] | None = None,
    sort: bool = True,
) -> EventBatch:
    row_of = rows if rows is not None else list(range(first_row, first_row + n))
    for name in REQUIRED:
        if name not in columns:
            raise InputError("required column is missing", file=source, column=name)
    get = {name: columns.get(name, [None] * n) for name in COLUMNS}

    def bad(i: int, column: str, message: str) -> InputError:
        return InputError(message, file=source, row=row_of[i], column=column)

    event_id = _integers(get["event_id"], "event_id", bad, required=True)
    subscriber = _integers(get["subscriber_id"], "subscriber_id", bad, required=True)
    kinds = np.empty(n, dtype=np.int8)
    for i, k in enumerate(get["kind"]):
        code = KIND_CODES.get(k) if isinstance(k, str) else None
        if code is None:
            raise bad(i, "kind", f"{k!r} is not one of {', '.join(KIND_CODES)}")
        kinds[i] = code
    times = _times(get["time"], bad)
    lat = _floats(get["lat"], "lat", bad, kinds == 0, (-90, 90))
    lon = _floats(get["lon"], "lon", bad, kinds == 0, (-180, 180))
    amount = _integers(get["amount_cents"], "amount_cents", bad, required=False)
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


def _integers(values: list[object], column: str, bad: _Bad, required: bool) -> np.ndarray:
    out = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        if v is None or v == "":
            if required:
                raise bad(i, column, "missing value")
            out[i] = _MISSING
            continue
        if isinstance(v, bool) or isinstance(v, float) and not v.is_integer():
            raise bad(i, column, f"{v!r} is not an integer")
        try:
            out[i] = int(v) if not isinstance(v, str) else int(v.strip())
        except (TypeError, ValueError, OverflowError):
            raise bad(i, column, f"{v!r} is not an integer") from None
    return out


MAX_TEXT = 256  # characters in an id or domain


def _texts(values: list[object], column: str, bad: _Bad) -> np.ndarray:
    """Ids and domains: text that can be stored (UTF-8, no lone surrogates), bounded."""
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        if v is None or v == "":
            out[i] = None
            continue
        if isinstance(v, bool) or not isinstance(v, str | int):
            raise bad(i, column, f"{v!r} is not text")
        text = str(v)
        if len(text) > MAX_TEXT:
            raise bad(i, column, f"longer than {MAX_TEXT} characters")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise bad(i, column, "not valid Unicode text (a lone surrogate)") from None
        out[i] = text
    return out


def _floats(
    values: list[object], column: str, bad: _Bad, needed: np.ndarray, bounds: tuple[int, int]
) -> np.ndarray:
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if v is None or v == "":
            if needed[i]:
                raise bad(i, column, "a location event needs lat and lon")
            continue
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise bad(i, column, f"{v!r} is not a number") from None
        if not bounds[0] <= x <= bounds[1]:
            raise bad(i, column, f"{x} is outside [{bounds[0]}, {bounds[1]}]")
        out[i] = x
    return out


def _times(values: list[object], bad: _Bad) -> np.ndarray:
    out = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        if isinstance(v, datetime):
            moment = v
        else:
            try:
                moment = datetime.fromisoformat(str(v))
            except ValueError:
                raise bad(i, "time", f"{v!r} is not an ISO 8601 time") from None
        if moment.tzinfo is None:
            raise bad(i, "time", f"{v!r} has no UTC offset (add 'Z' or '+02:00')")
        out[i] = to_us(moment)
    return out


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
