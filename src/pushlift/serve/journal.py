"""The service's append-only journal: accepted events and their decisions, durable before
anyone is answered. It lives in the store's operational file (`ops.ops_path`).

SQLite in WAL mode with `synchronous=FULL`: one commit (one WAL sync) per group of
concurrent requests. It was chosen over a hand-rolled segment file with `fdatasync`
because, at the group sizes the service sees, both are far below the HTTP cost per event
(see `benchmarks/http_load.py`, which measures both floors), while SQLite gives, for free,
torn-write recovery, atomic appends and pruning, and readers in other processes.

One row per group, its body the engine's own columns as JSON (orjson writes numpy arrays
natively): the events (`EventBatch`'s fields), their ingest times and outcome codes, and
the notifications they made (`NOTE_COLUMNS`, with `at`, the event each belongs to). A row
per event cost more than the engine's decision (23 bound values each, then the loader
turning rows back into columns), and Arrow's fixed cost per array was as much again for
the small groups single posts make; this costs a few microseconds per group, and the
loader rebuilds the store's rows with the recorder `pushlift run` uses, so the data model
stays in one place. Groups are numbered by `seq`, never reused (AUTOINCREMENT); the loader
moves them into the analytic store and records the last `seq` loaded there, in the same
transaction, so a crash at any point neither loses nor doubles an event. Each journal file
has an id of its own, so a fresh journal never inherits another's high-water mark.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from pushlift import schema
from pushlift.engine.events import KIND_CODES, EventBatch
from pushlift.engine.outcomes import OUTCOMES
from pushlift.engine.runner import Processed

# Notification columns the event already holds (same values) are not repeated.
_SHARED = {"notification_id", "event_id", "consumer_id", "event_time", "ingest_time"}
NOTE_COLUMNS = tuple(c for c in schema.NOTIFICATION.column_names if c not in _SHARED)
_EVENT_FIELDS = tuple(f.name for f in fields(EventBatch))
_NUMERIC = {"event_id": np.int64, "kind": np.int8, "subscriber_id": np.int64,
            "time_us": np.int64, "lat": float, "lon": float, "amount_cents": np.int64}  # fmt: skip
_DDL = (
    "CREATE TABLE IF NOT EXISTS journal_group (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
    "events INTEGER NOT NULL, last_ingest_us INTEGER NOT NULL, body BLOB NOT NULL)"
)


@dataclass(frozen=True)
class Group:
    """Journaled events: `batch` in decision order, with each one's ingest time and
    outcome code; `notes[name][j]` is a column of notification `j`, made by event `at[j]`."""

    batch: EventBatch
    ingest_us: np.ndarray
    outcome: np.ndarray
    at: np.ndarray
    notes: dict[str, list[Any]]

    def __len__(self) -> int:
        return len(self.batch)

    @staticmethod
    def of(done: Processed) -> Group:
        d, cols = done.decisions, done.notifications
        notes = {name: _plain(cols[name]) for name in NOTE_COLUMNS}
        return Group(done.kept, done.ingest_us, d.outcome, d.position, notes)

    @staticmethod
    def concat(groups: list[Group]) -> Group:
        starts = np.cumsum([0, *(len(g) for g in groups)])[:-1]
        return Group(
            EventBatch.concat([g.batch for g in groups]),
            np.concatenate([g.ingest_us for g in groups]),
            np.concatenate([g.outcome for g in groups]),
            np.concatenate([g.at + s for g, s in zip(groups, starts, strict=True)]),
            {name: [v for g in groups for v in g.notes[name]] for name in NOTE_COLUMNS},
        )

    def notifications(self) -> Iterator[dict[str, Any]]:
        """Each notification as its `notification` row (times in µs)."""
        b = self.batch
        for j, i in enumerate(self.at.tolist()):
            event_id = int(b.event_id[i])
            yield {
                "notification_id": event_id,
                "event_id": event_id,
                "consumer_id": int(b.subscriber_id[i]),
                "event_time": int(b.time_us[i]),
                "ingest_time": int(self.ingest_us[i]),
                **{name: self.notes[name][j] for name in NOTE_COLUMNS},
            }

    def note_columns(self) -> dict[str, pa.Array]:
        """The notification columns (`NOTE_COLUMNS`) typed as the store's table."""
        types = {c.name: c.sql_type for c in schema.NOTIFICATION.columns}
        return {name: pa.array(self.notes[name], _ARROW[types[name]]) for name in NOTE_COLUMNS}


_ARROW = {"BIGINT": pa.int64(), "INTEGER": pa.int32(), "BOOLEAN": pa.bool_(),
          "VARCHAR": pa.string()}  # fmt: skip


def _values(column: Any) -> Any:
    """A column as orjson writes it: numeric numpy as is (orjson needs it contiguous),
    the rest as Python lists."""
    if isinstance(column, np.ndarray) and column.dtype != object:
        return np.ascontiguousarray(column)
    return column.to_pylist() if isinstance(column, pa.Array) else list(column)


def _plain(column: Any) -> list[Any]:
    """A column as a list of Python values."""
    if isinstance(column, np.ndarray):
        return column.tolist()
    return column.to_pylist() if isinstance(column, pa.Array) else list(column)


def encode(group: Group) -> bytes:
    b = group.batch
    body = {name: _values(getattr(b, name)) for name in _EVENT_FIELDS}
    body |= {name: _values(getattr(group, name)) for name in ("ingest_us", "outcome", "at")}
    return orjson.dumps(body | {"notes": group.notes}, option=orjson.OPT_SERIALIZE_NUMPY)


def decode(raw: bytes) -> Group:
    body = orjson.loads(raw)
    columns = {
        name: np.array(body[name], dtype=_NUMERIC.get(name, object)) for name in _EVENT_FIELDS
    }  # NaN was written as null: numpy reads null back as NaN in a float array
    return Group(
        EventBatch(**columns),
        np.array(body["ingest_us"], dtype=np.int64),
        np.array(body["outcome"], dtype=np.int8),
        np.array(body["at"], dtype=np.int64),
        body["notes"],
    )


class Journal:
    """One process appends (the service's writer); any process may read."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.con = connect(self.path, writer=True)
        self.con.execute("CREATE TABLE IF NOT EXISTS journal_meta (key TEXT PRIMARY KEY, value)")
        self.con.execute(
            "INSERT OR IGNORE INTO journal_meta VALUES ('journal_id', ?)", [uuid.uuid4().hex]
        )
        row = self.con.execute("SELECT value FROM journal_meta WHERE key = 'journal_id'")
        self.id = str(row.fetchone()[0])

    def append(self, group: Group) -> None:
        """Append a decided group durably: one transaction, one sync."""
        if not len(group):  # all duplicates: nothing new to keep
            return
        self.con.execute(
            "INSERT INTO journal_group (events, last_ingest_us, body) VALUES (?, ?, ?)",
            [len(group), int(group.ingest_us.max()), encode(group)],
        )

    def prune(self, through_seq: int) -> None:
        """Drop groups already loaded into the store (up to and including `through_seq`)."""
        self.con.execute("DELETE FROM journal_group WHERE seq <= ?", [through_seq])
        self.con.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        self.con.close()


def connect(path: Path, writer: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (each statement its own transaction), WAL, full
    sync."""
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    if writer:
        # Checkpoints run when the writer prunes, not inside a request's commit.
        con.execute("PRAGMA wal_autocheckpoint=0")
    con.execute(_DDL)  # a reader may come first
    return con


def read_after(con: sqlite3.Connection, seq: int, limit: int) -> tuple[int, list[Group]]:
    """Groups with a `seq` above `seq`, in order, until they hold at least `limit` events;
    and the last `seq` read (`seq` itself when none)."""
    groups, last, total = [], seq, 0
    for s, n, body in con.execute(
        "SELECT seq, events, body FROM journal_group WHERE seq > ? ORDER BY seq", [seq]
    ):
        groups.append(decode(body))
        last, total = s, total + n
        if total >= limit:
            break
    return last, groups


def groups_since(con: sqlite3.Connection, ingest_us: int) -> list[Group]:
    """The groups holding an event ingested at or after `ingest_us`, in order."""
    rows = con.execute(
        "SELECT body FROM journal_group WHERE last_ingest_us >= ? ORDER BY seq", [ingest_us]
    )
    return [decode(r[0]) for r in rows]


def notifications_for(con: sqlite3.Connection, event_ids: list[int]) -> list[dict[str, Any]]:
    """Journaled notifications made by `event_ids`, as `notification` rows."""
    wanted = set(event_ids)
    return [
        note
        for group in groups_since(con, -1)
        if wanted.intersection(group.batch.event_id[group.at].tolist())
        for note in group.notifications()
        if note["event_id"] in wanted
    ]


# -- the earlier layout -------------------------------------------------------------------
# Before 2026-12-02 the journal held one row per event, in a table `journal_event`: `seq`,
# the `event` table's columns, `outcome`, and the notification columns prefixed `n_`. A
# journal left in that layout is loaded first (`Loader`), then its table dropped, and new
# groups are numbered after its last row.


def legacy_rows(con: sqlite3.Connection, after_seq: int) -> tuple[int, Group] | None:
    """The earlier layout's rows past `after_seq` as one group, with its last `seq` (None
    when there is no such table)."""
    exists = con.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'journal_event'"
    ).fetchone()
    if exists is None:
        return None
    names = ("event_id", "kind", "consumer_id", "lat", "lon", "vendor_id", "amount_cents",
             "domain", "event_time", "ingest_time", "outcome", "n_offer_id",
             *(f"n_{c}" for c in NOTE_COLUMNS))  # fmt: skip
    rows = con.execute(
        f"SELECT {', '.join(dict.fromkeys(names))} FROM journal_event WHERE seq > ? "
        "ORDER BY seq",
        [after_seq],
    ).fetchall()
    last = con.execute("SELECT coalesce(max(seq), ?) FROM journal_event", [after_seq])
    c = {name: [r[k] for r in rows] for k, name in enumerate(dict.fromkeys(names))}
    batch = EventBatch(
        np.array(c["event_id"], dtype=np.int64),
        np.array([KIND_CODES[k] for k in c["kind"]], dtype=np.int8),
        np.array(c["consumer_id"], dtype=np.int64),
        np.array(c["event_time"], dtype=np.int64),
        np.array(c["lat"], dtype=float),
        np.array(c["lon"], dtype=float),
        np.array(c["vendor_id"], dtype=object),
        np.array([a or 0 for a in c["amount_cents"]], dtype=np.int64),
        np.array(c["domain"], dtype=object),
    )
    at = [i for i, offer in enumerate(c["n_offer_id"]) if offer is not None]
    notes = {name: [c[f"n_{name}"][i] for i in at] for name in NOTE_COLUMNS}
    notes["delivered"] = [bool(v) for v in notes["delivered"]]  # SQLite kept 0 and 1
    code = {name: k for k, name in enumerate(OUTCOMES)}
    group = Group(
        batch,
        np.array(c["ingest_time"], dtype=np.int64),
        np.array([code[o] for o in c["outcome"]], dtype=np.int8),
        np.array(at, dtype=np.int64),
        notes,
    )
    return max(after_seq, last.fetchone()[0]), group


def drop_legacy(con: sqlite3.Connection, loaded_seq: int) -> None:
    """Drop the earlier layout's table once the store holds its rows; groups appended from
    now on are numbered after `loaded_seq`."""
    con.execute("BEGIN IMMEDIATE")
    try:
        con.execute("DELETE FROM sqlite_sequence WHERE name = 'journal_group'")
        top = con.execute("SELECT coalesce(max(seq), 0) FROM journal_group").fetchone()[0]
        con.execute(
            "INSERT INTO sqlite_sequence (name, seq) VALUES ('journal_group', ?)",
            [max(top, loaded_seq)],
        )
        con.execute("DROP TABLE journal_event")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
