"""A journal left by an earlier version (one row per event, table `journal_event`) is
loaded into the store when the service starts, and new groups are numbered after it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from pushlift.engine.config import parse_config
from pushlift.engine.stream import events_from_records
from pushlift.ops import ops_path
from pushlift.serve import journal
from pushlift.serve.loader import loaded_through
from pushlift.serve.service import DecisionService
from pushlift.store import Store

from .service_process import CONFIG, stream

T = 1_772_445_600_000_000  # 2026-03-02T10:00:00Z
# The earlier layout's columns: the `event` table's, the outcome, the notification's own.
COLUMNS = ("event_id", "kind", "consumer_id", "lat", "lon", "vendor_id", "amount_cents",
           "domain", "event_time", "ingest_time", "outcome",
           *(f"n_{c}" for c in journal.NOTE_COLUMNS))  # fmt: skip


def legacy_journal(path: Path) -> str:
    """An earlier-layout journal holding three events, the second with a notification."""
    con = sqlite3.connect(path)
    columns = ", ".join(COLUMNS)
    con.execute(f"CREATE TABLE journal_event (seq INTEGER PRIMARY KEY AUTOINCREMENT, {columns})")
    con.execute("CREATE TABLE journal_meta (key TEXT PRIMARY KEY, value)")
    con.execute("INSERT INTO journal_meta VALUES ('journal_id', 'old-journal')")
    rows = []
    for k, event_id in enumerate((101, 102, 103)):
        row = dict.fromkeys(COLUMNS)
        row |= {"event_id": event_id, "kind": "location", "consumer_id": 5, "lat": 40.0,
                "lon": -3.0, "event_time": T + k, "ingest_time": T + 10 + k,
                "outcome": "no_match"}  # fmt: skip
        if event_id == 102:
            row |= {"outcome": "delivered", "n_offer_id": "coffee", "n_vendor_id": "cafe",
                    "n_zone_id": "plaza", "n_delivered": 1, "n_bid_cents": 50,
                    "n_price_cents": 40, "n_eligible_offers": 1, "n_reason": "only offer",
                    "n_content": "2x1"}  # fmt: skip
        rows.append(tuple(row[c] for c in COLUMNS))
    marks = ", ".join("?" * len(COLUMNS))
    con.executemany(f"INSERT INTO journal_event ({columns}) VALUES ({marks})", rows)
    con.commit()
    con.close()
    return "old-journal"


def test_an_earlier_journal_is_loaded_then_continued(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    store = Store.open(db)
    journal_id = legacy_journal(ops_path(db))
    config = parse_config(json.loads(json.dumps(CONFIG)), "t")
    service = DecisionService(store, config, "t", ops_path(db))
    try:
        con = store.con
        assert con.execute("SELECT event_id FROM event ORDER BY 1").fetchall() == [
            (101,), (102,), (103,)
        ]  # fmt: skip
        note = con.execute(
            "SELECT notification_id, offer_id, delivered, price_cents, epoch_us(event_time) "
            "FROM notification"
        ).fetchall()
        assert note == [(102, "coffee", True, 40, T + 1)]
        assert loaded_through(store, journal_id) == 3
        # The old events are duplicates now; new ones are decided and numbered after them.
        again = service.submit(events_from_records([{
            "event_id": 102, "kind": "location", "subscriber_id": 5,
            "time": "2026-03-02T10:00:00Z", "lat": 40.0, "lon": -3.0}], "t"))  # fmt: skip
        assert again[0]["outcome"] == "duplicate"
        assert again[0]["notification"]["offer_id"] == "coffee"
        service.submit(events_from_records(stream(5), "t"))
        service.loader.load_pending()
        assert loaded_through(store, journal_id) == 4
    finally:
        service.close()
    tables = sqlite3.connect(ops_path(db)).execute("SELECT name FROM sqlite_master").fetchall()
    assert ("journal_event",) not in tables
    reopened = Store.open(db)
    assert reopened.con.execute("SELECT count(*) FROM event").fetchall() == [(8,)]
    reopened.close()
    store.close()
