"""The dashboard served by `pushlift serve`: open on loopback, behind a read key otherwise."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from pushlift.engine.config import parse_config
from pushlift.ops import ops_path
from pushlift.serve.api import create_service_app
from pushlift.serve.keys import KeyRing, create_key
from pushlift.serve.outbox import Feed
from pushlift.serve.server import is_loopback
from pushlift.serve.service import DecisionService
from pushlift.store import Store

from .service_process import CONFIG


@contextmanager
def app_for(tmp_path: Path, needs_key: bool) -> Iterator[tuple[TestClient, str, str]]:
    store = Store.open(tmp_path / "s.duckdb")
    db = tmp_path / "s.duckdb"
    write, read = create_key(db, "w", "write"), create_key(db, "r", "read")
    config = parse_config(json.loads(json.dumps(CONFIG)), "t")
    service = DecisionService(store, config, "t", ops_path(tmp_path / "s.duckdb"))
    app = create_service_app(
        store, service, Feed(store), KeyRing(db), dashboard_needs_key=needs_key
    )
    try:
        with TestClient(app) as client:
            yield client, write, read
    finally:
        service.close()
        app.state.warm.join(timeout=60)  # the dashboard's warm-up reads the store
        store.close()


def test_dashboard_needs_a_read_key_off_loopback(tmp_path: Path) -> None:
    with app_for(tmp_path, needs_key=True) as (client, write, read):
        _needs_a_key(client, read)


def _needs_a_key(client: TestClient, read: str) -> None:
    assert client.get("/api/overview").status_code == 401
    assert client.get("/overview").status_code == 401
    assert client.get("/login", params={"key": "pl_x_y"}).status_code == 403
    # Visiting /login with a read key sets a cookie that opens the pages.
    assert client.get("/login", params={"key": read}, follow_redirects=False).status_code == 303
    assert client.get("/api/overview").status_code == 200
    # The read key still cannot write.
    denied = client.post("/v1/events", json={}, headers={"authorization": f"Bearer {read}"})
    assert denied.status_code == 403


def test_dashboard_is_open_on_loopback_and_shows_served_decisions(tmp_path: Path) -> None:
    with app_for(tmp_path, needs_key=False) as (client, write, _):
        assert client.get("/api/overview").json()["empty"]  # nothing decided yet
        event = {"event_id": 1, "kind": "location", "subscriber_id": 3,
                 "time": "2026-03-02T10:00:00Z", "lat": 40.0, "lon": -3.7}  # fmt: skip
        answer = client.post("/v1/events", json=event, headers={"x-api-key": write})
        assert answer.status_code == 200, answer.text
        outcome = answer.json()["outcome"]
        # The loader moves the journal into the store within a second.
        deadline = time.monotonic() + 10
        while (overview := client.get("/api/overview").json())["empty"]:
            assert time.monotonic() < deadline, "the dashboard never saw the decision"
            time.sleep(0.1)
    tiles = {t["name"]: t for t in overview["kpis"]}
    assert tiles["notifications"]["value"] == (outcome == "delivered")
    assert tiles["held_out"]["value"] == (outcome == "held_out")


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
