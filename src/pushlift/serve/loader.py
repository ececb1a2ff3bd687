"""Move journaled groups into the analytic store in bulk, at least every `interval_s`.

Each load appends events, notifications and the hourly decision counts (as Arrow columns)
and moves the journal's high-water mark in `journal_load`, all in one store transaction:
after a crash the next load starts exactly after the last group the store holds.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from pushlift import ops, schema
from pushlift.analysis.sql import text
from pushlift.engine.recorder import notification_keys, record_decided
from pushlift.serve import journal
from pushlift.store import Store

CHUNK = 200_000  # rows per store transaction when catching up


def loaded_through(store: Store, journal_id: str) -> int:
    """The last journal row the store holds (0 when none)."""
    rows = store.con.execute(
        "SELECT seq FROM journal_load WHERE journal_id = ?", [journal_id]
    ).fetchall()
    return int(rows[0][0]) if rows else 0


class Loader:
    """Loads on its own thread every `interval_s`, or when asked (`load_pending`)."""

    def __init__(
        self,
        store: Store,
        journal_path: Path,
        journal_id: str,
        interval_s: float = 0.5,
    ) -> None:
        self.store = store  # a connection of its own
        self.journal_id, self.interval_s = journal_id, interval_s
        self._reader = journal.connect(journal_path)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.mark = loaded_through(store, journal_id)
        self._load_legacy()
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._loop, daemon=True, name="pushlift-loader")

    def start(self) -> None:
        self._thread.start()

    def load_pending(self) -> int:
        """Load everything the journal holds past the mark; returns the events loaded."""
        total = 0
        with self._lock:
            while True:
                last, groups = journal.read_after(self._reader, self.mark, CHUNK)
                loaded = sum(len(g) for g in groups)
                if groups:
                    self._write(last, journal.Group.concat(groups))
                    total += loaded
                self.mark = last
                # Groups appended meanwhile wait for the next load: chasing the writer would
                # make many small store transactions, each costing milliseconds.
                if loaded < CHUNK:
                    return total

    def _load_legacy(self) -> None:
        """A journal in the earlier row-per-event layout: its rows first, then the new."""
        legacy = journal.legacy_rows(self._reader, self.mark)
        if legacy is None:
            return
        last, group = legacy
        if len(group):
            self._write(last, group)
        self.mark = last
        journal.drop_legacy(self._reader, self.mark)

    def _write(self, last_seq: int, group: journal.Group) -> None:
        """The group's events, notifications and counts, with the mark, in one transaction."""
        b = group.batch
        notes = notification_keys(b, group.at, group.ingest_us) | group.note_columns()
        mark = {"journal_id": [self.journal_id], "seq": [last_seq],
                "loaded_at": [datetime.now(UTC)]}  # fmt: skip
        with self.store.transaction():
            record_decided(self.store, b, group.outcome, notes, group.ingest_us)
            self.store.con.execute(
                "DELETE FROM journal_load WHERE journal_id = ?", [self.journal_id]
            )
            self.store.append(schema.JOURNAL_LOAD, mark)

    def serve_snapshots(self) -> None:
        """Make the copies readers asked for (`ops.request_snapshot`), each consistent:
        taken between loads, after loading everything journaled so far."""
        for request_id, path in ops.pending_snapshots(self._reader):
            try:
                with self._lock:
                    self._copy_to(path)
            except Exception as e:  # noqa: BLE001 - the reader reports it in one line
                ops.snapshot_done(self._reader, request_id, str(e).splitlines()[0])
            else:
                ops.snapshot_done(self._reader, request_id)

    def _copy_to(self, path: Path) -> None:
        con = self.store.con
        name = con.execute("SELECT current_database()").fetchall()[0][0]
        con.execute(f"ATTACH {text(str(path))} AS pushlift_snapshot")
        try:
            con.execute(f'COPY FROM DATABASE "{name}" TO pushlift_snapshot')
        finally:
            con.execute("DETACH pushlift_snapshot")

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.load_pending()
                self.serve_snapshots()
                self.error = None
            except Exception as e:  # noqa: BLE001 - kept for /v1/health; the journal holds the rows
                self.error = e

    def close(self) -> None:
        """Stop the thread, then load what is left."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.load_pending()
        self._reader.close()
