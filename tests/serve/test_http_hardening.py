"""The HTTP boundary of `pushlift serve`, tried as an attacker or a careless client would:
the key before the body, strict types, agreeing limits, a Host allow-list, slow clients
timed out, and a future date refused with the field named."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from .service_process import Service, new_store


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("hardening")
    db, config, write, _ = new_store(folder)
    service = Service(
        db, "--config", config, "--read-timeout", "2s", key=write, log=folder / "serve.log"
    )
    yield service
    service.stop()


def ping(event_id: int, subscriber: int = 1, **change: object) -> dict:
    return {"event_id": event_id, "kind": "location", "subscriber_id": subscriber,
            "time": "2026-03-04T10:00:00Z", "lat": 40.0, "lon": -3.7, **change}  # fmt: skip


def test_a_bool_is_not_an_id(service: Service) -> None:
    assert service.post("/v1/events", ping(1, 1)).status_code == 200
    for field in ("event_id", "subscriber_id"):
        answer = service.post("/v1/events", {**ping(2, 2), field: True})
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"]["field"] == field
    # `true` never reads as event 1 and returns subscriber 1's notification.
    assert "notification" not in service.post("/v1/events", ping(True, 2)).json()


def test_the_key_is_checked_before_the_body_is_read(service: Service) -> None:
    anonymous = httpx.post(
        f"{service.url}/v1/events", content=b"{not json", headers={"content-type": "x"}
    )
    assert anonymous.status_code == 401
    # A huge declared body is refused before it is sent.
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as s:
        s.sendall(
            b"POST /v1/events/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n"
        )
        assert s.recv(200).startswith(b"HTTP/1.1 401")


def test_the_documented_batch_fits_the_body_limit(service: Service) -> None:
    spec = httpx.get(f"{service.url}/openapi.json").json()
    batch = spec["components"]["schemas"]["EventsIn"]["properties"]["events"]
    assert batch["maxItems"] == 10_000
    events = [
        ping(100_000 + i, 1 + i % 500, vendor_id="vendor-with-a-long-name", domain="shop.example")
        for i in range(10_000)
    ]
    answer = service.post("/v1/events/batch", {"events": events})
    assert answer.status_code == 200, answer.text[:300]
    assert len(answer.json()["results"]) == 10_000
    too_many = service.post("/v1/events/batch", {"events": events + [ping(1, 1)]})
    assert too_many.status_code == 422 and too_many.json()["detail"]["field"] == "events"


def test_a_future_date_is_refused_with_its_place(service: Service) -> None:
    events = [ping(200_000, 3), ping(200_001, 4, time="2030-01-01T00:00:00Z")]
    answer = service.post("/v1/events/batch", {"events": events})
    assert answer.status_code == 422
    assert answer.json()["detail"] == {
        "error": answer.json()["detail"]["error"], "index": 1, "field": "time"
    }  # fmt: skip
    assert "ahead of the service's clock" in answer.json()["detail"]["error"]
    # Nothing of the refused request was decided: the first event is still new.
    again = service.post("/v1/events", events[0]).json()
    assert again["outcome"] != "duplicate"


def test_text_that_cannot_be_stored_is_refused(service: Service) -> None:
    body = json.dumps(ping(300_000, 5, kind="purchase", vendor_id="\ud800", amount_cents=5))
    answer = service.client.post(
        "/v1/events", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"]["field"] == "vendor_id"


def test_only_known_hosts_reach_the_loopback_dashboard(service: Service) -> None:
    assert httpx.get(f"{service.url}/overview").status_code == 200
    rebound = httpx.get(f"{service.url}/overview", headers={"host": "evil.example"})
    assert rebound.status_code == 400
    api = httpx.get(f"{service.url}/v1/health", headers={"host": "evil.example:8060"})
    assert api.status_code == 400


def test_a_slow_drip_client_is_cut_off(service: Service) -> None:
    with socket.create_connection(("127.0.0.1", service.port), timeout=30) as s:
        s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 20:
            try:
                s.sendall(b"X")  # one byte a second, never finishing the headers
                data = s.recv(1024) if _readable(s) else None
            except OSError:
                closed = True
                break
            if data == b"" or (data and data.startswith(b"HTTP/1.1 408")):
                closed = True
                break
            time.sleep(1)
        assert closed, "the server kept a dripping connection open"
        assert time.monotonic() - started < 15


def _readable(s: socket.socket) -> bool:
    import select

    return bool(select.select([s], [], [], 0)[0])
