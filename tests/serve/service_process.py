"""A real `pushlift serve` process for tests: its own store, a key, a free port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from web.process import PUSHLIFT, free_port, pushlift  # tests/ is on sys.path

CONFIG = {
    "frequency_cap": {"max": 1, "per": "30m"},
    "vendors": [{"id": "cafe", "name": "Cafe", "category": "coffee"}],
    "zones": [{"id": "plaza", "circle": {"lat": 40.0, "lon": -3.7, "radius_m": 300}}],
    "offers": [
        {
            "id": "coffee",
            "vendor": "cafe",
            "content": "2x1 coffee",
            "zone": "plaza",
            "max_bid_cents": 40,
            "budget_cents": 2000,
        }
    ],
    "experiments": [
        {
            "id": "holdout",
            "arms": [
                {"name": "holdout", "weight": 1, "holdout": True},
                {"name": "treatment", "weight": 3},
            ],
        }
    ],
}
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def stream(n: int = 600, subscribers: int = 80) -> list[dict]:
    """Location pings (a third inside the zone) and some purchases, in event-time order."""
    events = []
    for i in range(n):
        sub = 1 + (i * 37) % subscribers
        when = (T0 + timedelta(seconds=20 * i)).isoformat().replace("+00:00", "Z")
        if i % 7 == 3:
            events.append(
                {"event_id": 1000 + i, "kind": "purchase", "subscriber_id": sub, "time": when,
                 "vendor_id": "cafe", "amount_cents": 450}
            )  # fmt: skip
        else:
            inside = i % 3 == 0
            events.append(
                {"event_id": 1000 + i, "kind": "location", "subscriber_id": sub, "time": when,
                 "lat": 40.0 if inside else 40.05, "lon": -3.7}
            )  # fmt: skip
    return events


def new_store(folder: Path) -> tuple[Path, Path, str, str]:
    """A store with a write key and a read key, and the config file: (db, config, w, r)."""
    db, config = folder / "serve.duckdb", folder / "engine.json"
    config.write_text(json.dumps(CONFIG))
    write = pushlift("keys", "create", "tests", "--db", db).strip()
    read = pushlift("keys", "create", "reader", "--scope", "read", "--db", db).strip()
    return db, config, write, read


class Service:
    """`pushlift serve --db DB --port FREE [extra]` in a subprocess."""

    def __init__(self, db: Path, *extra: str | Path, key: str, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        cmd = [PUSHLIFT, "serve", "--db", db, "--port", str(self.port), *extra]
        self.proc = subprocess.Popen(
            [str(c) for c in cmd], stdout=log.open("ab"), stderr=subprocess.STDOUT
        )
        self.client = httpx.Client(
            base_url=self.url, timeout=120, headers={"authorization": f"Bearer {key}"}
        )
        deadline = time.monotonic() + 120
        while not self._healthy():
            if time.monotonic() > deadline:
                raise AssertionError(f"the service did not start: {log.read_text()}")
            time.sleep(0.1)

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the service exited: {self.log.read_text()}")
        try:
            return self.client.get("/v1/health").status_code == 200
        except httpx.HTTPError:
            return False

    def post(self, path: str, body: object, **kw: object) -> httpx.Response:
        return self.client.post(path, json=body, **kw)  # type: ignore[arg-type]

    def kill(self) -> None:
        """kill -9: no shutdown, no flush."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.client.close()

    def stop(self) -> int:
        """SIGTERM (graceful: in-flight requests finish); returns the exit code."""
        self.client.close()
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=30)
