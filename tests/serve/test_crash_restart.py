"""kill -9 mid-stream, restart, retry: nothing accepted is lost, nothing is duplicated,
and the store ends up exactly as an uninterrupted offline run of the same stream."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import duckdb
import httpx

from pushlift.ops import ops_path

from .service_process import Service, new_store, pushlift, stream

NOTES = (
    "SELECT notification_id, consumer_id, offer_id, delivered, price_cents, arm "
    "FROM notification ORDER BY notification_id"
)


def batches(events: list[dict], size: int) -> list[list[dict]]:
    return [events[i : i + size] for i in range(0, len(events), size)]


def durable_event_ids(db: Path) -> set[int]:
    """Event ids in the store and in its journal (what a restart will hold)."""
    con = duckdb.connect(str(db))
    stored = {r[0] for r in con.execute("SELECT event_id FROM event").fetchall()}
    con.close()
    journal = sqlite3.connect(ops_path(db))
    stored |= {r[0] for r in journal.execute("SELECT event_id FROM journal_event")}
    journal.close()
    return stored


def test_kill_restart_and_retry_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    events = stream(900)
    db, config, key, _ = new_store(tmp_path)
    log = tmp_path / "serve.log"

    # Post batches from a client thread; kill the server while it is still posting.
    service = Service(db, "--config", config, key=key, log=log)
    acknowledged: list[int] = []
    started_killing = threading.Event()

    def client() -> None:
        for i, part in enumerate(batches(events, 30)):
            if i == 12:
                started_killing.set()
            try:
                answer = service.post("/v1/events/batch", {"events": part})
            except httpx.HTTPError:
                return  # the server died under this request
            if answer.status_code != 200:
                return
            acknowledged.extend(e["event_id"] for e in part)

    poster = threading.Thread(target=client)
    poster.start()
    started_killing.wait(timeout=300)
    service.kill()
    poster.join(timeout=300)
    assert 0 < len(acknowledged) < len(events), "the kill should land mid-stream"

    # Every acknowledged event survived the kill: in the store, or still in the journal.
    stored = durable_event_ids(db)
    assert set(acknowledged) <= stored

    # Restart (config from the store) and retry everything, acknowledged or not.
    service = Service(db, key=key, log=log)
    try:
        outcomes = []
        for part in batches(events, 45):
            answer = service.post("/v1/events/batch", {"events": part})
            assert answer.status_code == 200, answer.text
            outcomes += answer.json()["results"]
        duplicates = {r["event_id"] for r in outcomes if r["outcome"] == "duplicate"}
        assert duplicates == stored
    finally:
        assert service.stop() == 0  # graceful shutdown

    # The same stream decided offline in one go, on a fresh store.
    offline_db = tmp_path / "offline.duckdb"
    source = tmp_path / "events.ndjson"
    source.write_text("".join(json.dumps(e) + "\n" for e in events))
    pushlift("run", source, "--config", config, "--db", offline_db)

    served, offline = duckdb.connect(str(db)), duckdb.connect(str(offline_db))
    try:
        assert served.execute(NOTES).fetchall() == offline.execute(NOTES).fetchall()
        count = "SELECT count(*), count(DISTINCT event_id) FROM event"
        assert served.execute(count).fetchall() == [(len(events), len(events))]
        assert len(served.execute(NOTES).fetchall()) > 0
    finally:
        served.close()
        offline.close()
