"""Move journal rows into the analytic store in bulk, at least every `interval_s`.

Each load appends events, notifications and the hourly decision counts (as Arrow columns)
and moves the journal's high-water mark in `journal_load`, all in one store transaction:
after a crash the next load starts exactly after the last row the store holds.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from pushlift import ops, schema
from pushlift.analysis.sql import text
from pushlift.engine.outcomes import OUTCOMES
from pushlift.engine.recorder import outcome_counts, write_decided
from pushlift.serve import journal
from pushlift.store import Store

CHUNK = 200_000  # rows per store transaction when catching up
_CODE = {name: code for code, name in enumerate(OUTCOMES)}
_TS = pa.timestamp("us", tz="UTC")


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
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._loop, daemon=True, name="pushlift-loader")

    def start(self) -> None:
        self._thread.start()

    def load_pending(self) -> int:
        """Load everything the journal holds past the mark; returns the rows loaded."""
        total = 0
        with self._lock:
            while True:
                rows = journal.read_after(self._reader, self.mark, CHUNK)
                if len(rows):
                    self._write(rows)
                    self.mark = rows.seq[-1]
                    total += len(rows)
                # Rows appended meanwhile wait for the next load: chasing the writer would
                # make many small store transactions, each costing milliseconds.
                if len(rows) < CHUNK:
                    return total

    def _write(self, rows: journal.JournalRows) -> None:
        c = rows.columns
        events = {name: c[name] for name in journal.EVENT_COLUMNS}
        events["event_time"] = pa.array(c["event_time"], type=_TS)
        events["ingest_time"] = pa.array(c["ingest_time"], type=_TS)
        noted = [i for i, offer in enumerate(c["n_offer_id"]) if offer is not None]
        notes = None
        if noted:
            pick = [c["event_id"][i] for i in noted]
            notes = {"notification_id": pick, "event_id": pick}
            notes |= {name: [c[name][i] for i in noted]
                      for name in ("consumer_id", "event_time", "ingest_time")}  # fmt: skip
            notes |= {name: [c[f"n_{name}"][i] for i in noted] for name in journal.NOTE_COLUMNS}
            notes["delivered"] = [bool(d) for d in notes["delivered"]]
            for name in ("event_time", "ingest_time"):
                notes[name] = pa.array(notes[name], type=_TS)
        codes = np.array([_CODE[o] for o in c["outcome"]], dtype=np.int64)
        hour, outcome, n = outcome_counts(np.array(c["event_time"], dtype=np.int64), codes)
        mark = {
            "journal_id": [self.journal_id],
            "seq": [rows.seq[-1]],
            "loaded_at": [datetime.now(UTC)],
        }
        with self.store.transaction():
            write_decided(
                self.store, events, notes, (hour, np.array(OUTCOMES, dtype=object)[outcome], n)
            )
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
