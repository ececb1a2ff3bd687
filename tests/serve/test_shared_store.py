"""Other commands on a store while `pushlift serve` writes it: readers work on a fresh copy,
keys change without a restart, and a writer that must wait says who holds the store."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .service_process import PUSHLIFT, Service, new_store, pushlift, stream


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, Path]]:
    folder = tmp_path_factory.mktemp("shared")
    db, config, write, _ = new_store(folder)
    service = Service(db, "--config", config, key=write, log=folder / "serve.log")
    yield service, db
    assert service.stop() == 0


def test_analyze_kpis_runs_while_serve_ingests(running: tuple[Service, Path]) -> None:
    service, db = running
    events = stream(600)
    first = service.post("/v1/events/batch", {"events": events[:300]})
    assert first.status_code == 200, first.text
    delivered = sum(r["outcome"] == "delivered" for r in first.json()["results"])
    assert delivered > 0
    posting = threading.Thread(
        target=lambda: [
            service.post("/v1/events", e) for e in events[300:420]
        ]  # keeps ingesting while the analysis runs
    )
    posting.start()
    try:
        report = json.loads(pushlift("analyze", "kpis", "--db", db, "--json"))
    finally:
        posting.join(timeout=300)
    # The copy holds at least everything acknowledged before the command started.
    assert report["overall"]["notifications"]["value"] >= delivered
    assert not list(db.parent.glob(".*snapshot*")), "the reader's copy was not cleaned up"


def test_keys_change_on_the_running_service(running: tuple[Service, Path]) -> None:
    service, db = running
    key = pushlift("keys", "create", "late-comer", "--db", db).strip()
    ping = {**stream(1)[0], "event_id": 99_001}
    url = f"{service.url}/v1/events"

    def status_within(seconds: float, want: int) -> int:
        """The key ring rechecks the keys every 0.2 s: the change counts within that."""
        deadline = time.monotonic() + seconds
        while True:
            got = httpx.post(url, json=ping, headers={"x-api-key": key}).status_code
            if got == want or time.monotonic() > deadline:
                return got
            time.sleep(0.05)

    assert status_within(1.0, 200) == 200
    pushlift("keys", "revoke", key.split("_")[1], "--db", db)
    assert status_within(1.0, 403) == 403


def test_a_writer_names_the_process_that_holds_the_store(running: tuple[Service, Path]) -> None:
    service, db = running
    done = subprocess.run(
        [str(PUSHLIFT), "simulate", "mall", "--consumers", "50", "--db", str(db)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    said = " ".join(done.stderr.split())  # the terminal may wrap the line
    assert "Traceback" not in said and said.count("error:") == 1
    assert f"in use by `pushlift serve` (PID {service.proc.pid}) at {service.url}/" in said


def test_a_second_dashboard_points_to_the_live_one(running: tuple[Service, Path]) -> None:
    service, db = running
    done = subprocess.run(
        [str(PUSHLIFT), "dashboard", "--db", str(db), "--no-open"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    said = " ".join(done.stderr.split())
    assert done.returncode == 2 and "Traceback" not in said, said
    assert f"served live by `pushlift serve` (PID {service.proc.pid})" in said
    assert f"{service.url}/overview" in said
