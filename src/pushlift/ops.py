"""Operational state beside the analytic store: a SQLite file several processes may open.

DuckDB lets one process open a store for writing and then no other process at all, so
what other processes must reach while `pushlift serve` runs lives here instead: API keys
(`pushlift keys` works at any time, the service sees changes at once), who owns the store,
and readers' requests for a consistent copy of it, which the owner makes within a second
(`pushlift analyze ...` then reads the copy). The service's journal is in this file too.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from pushlift import schema
from pushlift.errors import PushliftError

SNAPSHOT_WAIT_S = 60.0


def ops_path(db: str | Path) -> Path:
    """The operational file of the store `db`: `pushlift.duckdb` -> `pushlift.ops.sqlite`."""
    db = Path(db)
    return db.with_name(db.stem + ".ops.sqlite")


def connect(db: str | Path, create: bool = True) -> sqlite3.Connection:
    """A connection to `db`'s operational file (autocommit; WAL; every commit synced)."""
    path = ops_path(db)
    if not create and not path.exists():
        raise FileNotFoundError(path)
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    for table in schema.OPS_TABLES:
        con.execute(table.ddl(schema.SQLITE_TYPES))
    return con


def now_us() -> int:
    return time.time_ns() // 1000


# -- the owner ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Owner:
    pid: int
    command: str
    url: str | None
    snapshots: bool

    def describe(self) -> str:
        where = f" at {self.url}" if self.url else ""
        return f"`{self.command}` (PID {self.pid}){where}"


def claim(con: sqlite3.Connection, command: str, url: str | None, snapshots: bool) -> None:
    """Record this process as the store's owner (after it has opened the store)."""
    con.execute(
        "INSERT OR REPLACE INTO store_owner VALUES (1, ?, ?, ?, ?, ?)",
        [os.getpid(), command, url, int(snapshots), now_us()],
    )


def release(con: sqlite3.Connection) -> None:
    con.execute("DELETE FROM store_owner WHERE pid = ?", [os.getpid()])


def owner(db: str | Path) -> Owner | None:
    """The live owner of `db`, if one is recorded (a dead one's record is ignored)."""
    if not ops_path(db).exists():
        return None
    con = connect(db)
    try:
        row = con.execute("SELECT pid, command, url, snapshots FROM store_owner").fetchone()
    finally:
        con.close()
    if row is None or not _alive(int(row[0])):
        return None
    return Owner(int(row[0]), str(row[1]), row[2], bool(row[3]))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- snapshots ---------------------------------------------------------------------------
def request_snapshot(db: str | Path, wait_s: float = SNAPSHOT_WAIT_S) -> Path:
    """Ask the owner of `db` for a consistent copy; its path once made. The caller deletes
    it. Raises PushliftError when no owner answers snapshot requests."""
    found = owner(db)
    if found is None or not found.snapshots:
        return _busy(db, found)
    request_id = secrets.token_hex(8)
    path = Path(db).with_name(f".{Path(db).stem}.snapshot-{request_id}.duckdb")
    con = connect(db)
    try:
        con.execute(
            "INSERT INTO snapshot_request VALUES (?, ?, ?, NULL, NULL)",
            [request_id, str(path), now_us()],
        )
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            done, error = con.execute(
                "SELECT done_at, error FROM snapshot_request WHERE request_id = ?", [request_id]
            ).fetchone()
            if error is not None:
                raise PushliftError(f"{found.describe()} could not copy {db}: {error}")
            if done is not None:
                return path
            time.sleep(0.05)
        raise PushliftError(
            f"{db} is in use by {found.describe()}, which did not provide a copy within "
            f"{wait_s:.0f} s; try again"
        )
    finally:
        con.execute("DELETE FROM snapshot_request WHERE request_id = ?", [request_id])
        con.close()


def pending_snapshots(con: sqlite3.Connection) -> list[tuple[str, Path]]:
    rows = con.execute(
        "SELECT request_id, path FROM snapshot_request WHERE done_at IS NULL AND error IS NULL"
    ).fetchall()
    return [(str(r), Path(p)) for r, p in rows]


def snapshot_done(con: sqlite3.Connection, request_id: str, error: str | None = None) -> None:
    column = "error" if error is not None else "done_at"
    con.execute(
        f"UPDATE snapshot_request SET {column} = ? WHERE request_id = ?",
        [error if error is not None else now_us(), request_id],
    )


def busy_message(db: str | Path, pid: int | None) -> str:
    """One line saying who holds `db` (from the owner record, else the lock's PID)."""
    found = owner(db)
    if found is not None:
        who = found.describe()
    elif pid is not None:
        who = f"process {pid} ({_command_of(pid)})"
    else:
        who = "another process"
    return f"{db} is in use by {who}; stop it first (one process at a time writes a store)"


def _busy(db: str | Path, found: Owner | None) -> Path:
    raise PushliftError(busy_message(db, found.pid if found else None))


def _command_of(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "unknown command"
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    words = [Path(words[0]).name, *words[1:]] if words else ["unknown command"]
    return " ".join(words)[:120]
