"""kill -9 mid-stream, restart, retry: nothing accepted is lost, nothing is duplicated,
and the store ends up exactly as an uninterrupted offline run of the same stream."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import duckdb
import httpx
import pytest

from pushlift.ops import ops_path
from pushlift.serve import journal

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
    con = journal.connect(ops_path(db))
    stored |= {i for g in journal.groups_since(con, -1) for i in g.batch.event_id.tolist()}
    con.close()
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


@pytest.mark.parametrize("clients", [1, 8])
def test_kill_during_single_posts_loses_and_duplicates_nothing(
    tmp_path: Path, clients: int
) -> None:
    """Clients post one event at a time (with several, the journal's group commit at work);
    kill -9 lands mid-stream. Every acknowledged event survives and a retry of everything
    decides only what was lost. With one client, posting in event-time order, the
    notifications equal one uninterrupted offline run."""
    events = stream(480)
    db, config, key, _ = new_store(tmp_path)
    log = tmp_path / "serve.log"
    service = Service(db, "--config", config, "--allowed-lateness", "1h", key=key, log=log)
    acknowledged: list[int] = []
    lock = threading.Lock()
    enough = threading.Event()

    def client(share: list[dict]) -> None:
        with httpx.Client(base_url=service.url, timeout=60,
                          headers={"authorization": f"Bearer {key}"}) as http:  # fmt: skip
            for event in share:
                try:
                    answer = http.post("/v1/events", json=event)
                except httpx.HTTPError:
                    return
                if answer.status_code != 200:
                    return
                with lock:
                    acknowledged.append(event["event_id"])
                    if len(acknowledged) >= 150:
                        enough.set()

    # Each client takes every n-th event of one time-ordered stream.
    shares = [events[k::clients] for k in range(clients)]
    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    for t in threads:
        t.start()
    enough.wait(timeout=300)
    service.kill()
    for t in threads:
        t.join(timeout=300)
    assert 150 <= len(acknowledged) < len(events), "the kill should land mid-stream"
    stored = durable_event_ids(db)
    assert set(acknowledged) <= stored

    service = Service(db, key=key, log=log)
    try:
        answer = service.post("/v1/events/batch", {"events": events})
        assert answer.status_code == 200, answer.text
        duplicates = {
            r["event_id"] for r in answer.json()["results"] if r["outcome"] == "duplicate"
        }
        assert duplicates == stored
    finally:
        assert service.stop() == 0
    con = duckdb.connect(str(db))
    try:
        count = "SELECT count(*), count(DISTINCT event_id) FROM event"
        assert con.execute(count).fetchall() == [(len(events), len(events))]
        served = con.execute(NOTES).fetchall()
    finally:
        con.close()
    assert len(served) > 0
    if clients == 1:
        assert served == offline_notifications(tmp_path, events, config)


def offline_notifications(folder: Path, events: list[dict], config: Path) -> list[tuple]:
    offline_db, source = folder / "offline.duckdb", folder / "events.ndjson"
    source.write_text("".join(json.dumps(e) + "\n" for e in events))
    pushlift("run", source, "--config", config, "--db", offline_db)
    con = duckdb.connect(str(offline_db))
    try:
        return con.execute(NOTES).fetchall()
    finally:
        con.close()
