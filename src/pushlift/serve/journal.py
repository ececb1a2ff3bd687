"""The service's append-only journal: accepted events and their decisions, durable before
anyone is answered. It lives in the store's operational file (`ops.ops_path`).

SQLite in WAL mode with `synchronous=FULL`: one commit (one WAL sync) per group of
concurrent requests. It was chosen over a hand-rolled segment file with `fdatasync`
because, at the group sizes the service sees, both are far below the HTTP cost per event
(see `benchmarks/http_load.py`, which measures both floors), while SQLite gives, for free,
torn-write recovery, an index on event ids (for duplicates), and readers in other processes.

One row per accepted event: the event's columns, the stage that decided it, and, when it
made a notification, that notification's columns (prefixed `n_`). The column lists come
from `schema.EVENT` and `schema.NOTIFICATION`, so the data model stays in one place. Rows
are numbered by `seq`, never reused (AUTOINCREMENT); the loader moves them into the
analytic store and records the last `seq` loaded there, in the same transaction, so a
crash at any point neither loses nor doubles a row. Each journal file has an id of its own,
so a fresh journal never inherits another's high-water mark.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pushlift import schema

# Notification columns the event row already holds (same values) are not repeated.
_SHARED = {"notification_id", "event_id", "consumer_id", "event_time", "ingest_time"}
EVENT_COLUMNS = tuple(schema.EVENT.column_names)
NOTE_COLUMNS = tuple(c for c in schema.NOTIFICATION.column_names if c not in _SHARED)
COLUMNS = (*EVENT_COLUMNS, "outcome", *(f"n_{c}" for c in NOTE_COLUMNS))
_SQLITE_TYPE = {"BIGINT": "INTEGER", "INTEGER": "INTEGER", "BOOLEAN": "INTEGER",
                "DOUBLE": "REAL", "VARCHAR": "TEXT", "TIMESTAMPTZ": "INTEGER"}  # fmt: skip
_INSERT = (
    f"INSERT INTO journal_event ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
)


def _ddl() -> str:
    types = {c.name: _SQLITE_TYPE[c.sql_type] for c in schema.EVENT.columns}
    types |= {"outcome": "TEXT"}
    types |= {f"n_{c.name}": _SQLITE_TYPE[c.sql_type] for c in schema.NOTIFICATION.columns
              if c.name in NOTE_COLUMNS}  # fmt: skip
    cols = ", ".join(f"{name} {types[name]}" for name in COLUMNS)
    seq = "seq INTEGER PRIMARY KEY AUTOINCREMENT"
    return f"CREATE TABLE IF NOT EXISTS journal_event ({seq}, {cols})"


@dataclass(frozen=True)
class JournalRows:
    """Rows read back in `seq` order: `seq` and one list per column of `COLUMNS`."""

    seq: list[int]
    columns: dict[str, list[Any]]

    def __len__(self) -> int:
        return len(self.seq)


class Journal:
    """One process appends (the service's writer); any process may read."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.con = connect(self.path, writer=True)
        self.con.execute(_ddl())
        self.con.execute("CREATE INDEX IF NOT EXISTS journal_event_id ON journal_event (event_id)")
        self.con.execute("CREATE TABLE IF NOT EXISTS journal_meta (key TEXT PRIMARY KEY, value)")
        self.con.execute(
            "INSERT OR IGNORE INTO journal_meta VALUES ('journal_id', ?)", [uuid.uuid4().hex]
        )
        self.id = str(
            self.con.execute("SELECT value FROM journal_meta WHERE key = 'journal_id'").fetchone()[
                0
            ]
        )

    def append(self, rows: Sequence[Sequence[Any]]) -> None:
        """Append rows (each in `COLUMNS` order) durably: one transaction, one sync."""
        con = self.con
        con.execute("BEGIN IMMEDIATE")
        try:
            con.executemany(_INSERT, rows)
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def prune(self, through_seq: int) -> None:
        """Drop rows already loaded into the store (up to and including `through_seq`)."""
        self.con.execute("DELETE FROM journal_event WHERE seq <= ?", [through_seq])
        self.con.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        self.con.close()


def connect(path: Path, writer: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, full sync."""
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    if writer:
        # Checkpoints run when the writer prunes, not inside a request's commit.
        con.execute("PRAGMA wal_autocheckpoint=0")
    return con


def read_after(con: sqlite3.Connection, seq: int, limit: int) -> JournalRows:
    """Up to `limit` rows with a `seq` above `seq`, in order."""
    rows = con.execute(
        f"SELECT seq, {', '.join(COLUMNS)} FROM journal_event WHERE seq > ? ORDER BY seq LIMIT ?",
        [seq, limit],
    ).fetchall()
    columns = {name: [r[k + 1] for r in rows] for k, name in enumerate(COLUMNS)}
    return JournalRows([r[0] for r in rows], columns)


def notifications_for(con: sqlite3.Connection, event_ids: list[int]) -> list[tuple[Any, ...]]:
    """Journal rows of `event_ids` that made a notification, as (event_id, ..., ingest_time,
    n_ columns) in `COLUMNS` order."""
    out: list[tuple[Any, ...]] = []
    for lo in range(0, len(event_ids), 500):
        part = event_ids[lo : lo + 500]
        out += con.execute(
            f"SELECT {', '.join(COLUMNS)} FROM journal_event "
            f"WHERE n_offer_id IS NOT NULL AND event_id IN ({', '.join('?' * len(part))})",
            part,
        ).fetchall()
    return out
