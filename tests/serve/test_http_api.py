"""`pushlift serve` over real HTTP on 127.0.0.1: decisions, validation, auth, config, feed."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from .service_process import Service, free_port, new_store, stream


@pytest.fixture(scope="module")
def keys_and_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, str]]:
    folder = tmp_path_factory.mktemp("serve")
    db, config, write, read = new_store(folder)
    service = Service(db, "--config", config, key=write, log=folder / "serve.log")
    yield service, read
    service.stop()


@pytest.fixture(scope="module")
def service(keys_and_service: tuple[Service, str]) -> Service:
    return keys_and_service[0]


def ping(event_id: int, subscriber: int, inside: bool = True, second: int = 0) -> dict:
    return {
        "event_id": event_id,
        "kind": "location",
        "subscriber_id": subscriber,
        "time": f"2026-03-03T10:00:{second:02d}Z",
        "lat": 40.0 if inside else 40.05,
        "lon": -3.7,
    }


def test_a_posted_event_gets_its_decision_and_a_retry_gets_the_same(service: Service) -> None:
    first = service.post("/v1/events", ping(1, 7))
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["outcome"] in ("delivered", "held_out")
    note = body["notification"]
    assert (note["offer_id"], note["subscriber_id"], note["price_cents"]) == ("coffee", 7, 40)
    again = service.post("/v1/events", ping(1, 7)).json()
    assert again["outcome"] == "duplicate"
    assert again["notification"] == note
    outside = service.post("/v1/events", ping(2, 8, inside=False, second=1)).json()
    assert outside == {"event_id": 2, "outcome": "no_match", "notification": None}


def test_a_batch_keeps_the_posted_order_and_counts_retries_once(service: Service) -> None:
    events = [ping(100 + i, 100 + i, second=10 + i) for i in range(5)]
    first = service.post("/v1/events/batch", {"events": events[::-1]})
    assert first.status_code == 200, first.text
    assert [r["event_id"] for r in first.json()["results"]] == [104, 103, 102, 101, 100]
    retry = service.post("/v1/events/batch", {"events": events}).json()["results"]
    assert {r["outcome"] for r in retry} == {"duplicate"}
    delivered = [r["event_id"] for r in first.json()["results"] if r["outcome"] == "delivered"]
    feed = service.client.get("/v1/notifications").json()["notifications"]
    ids = [n["notification_id"] for n in feed]
    assert len(ids) == len(set(ids))
    assert set(delivered) <= set(ids)


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b'{"event_id": 5, "kind": ', 422, "JSON decode error"),
        ({"event_id": "five", "kind": "location"}, 422, "event_id"),
        ({**ping(5, 5), "kind": "teleport"}, 422, "kind"),
        ({**ping(5, 5), "colour": "red"}, 422, "colour"),
        ({k: v for k, v in ping(5, 5).items() if k != "lat"}, 422, "needs lat and lon"),
        ({**ping(5, 5), "lat": 123.0}, 422, "lat"),
        ({**ping(5, 5), "time": "yesterday"}, 422, "time"),
    ],
)
def test_bad_events_get_one_clear_422(
    service: Service, body: object, status: int, says: str
) -> None:
    if isinstance(body, bytes):
        answer = service.client.post(
            "/v1/events", content=body, headers={"content-type": "application/json"}
        )
    else:
        answer = service.post("/v1/events", body)
    assert answer.status_code == status, answer.text
    assert says in answer.text


def test_oversized_and_overlong_bodies_are_refused(service: Service) -> None:
    big = {"events": [ping(10_000 + i, 1, second=i % 60) for i in range(12_000)]}
    too_many = service.post("/v1/events/batch", big)
    assert too_many.status_code == 422 and too_many.json()["detail"]["field"] == "events"
    huge = b'{"events": [' + b" " * (9 << 20) + b"]}"
    answer = service.client.post(
        "/v1/events/batch", content=huge, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413
    assert f"over {8 << 20} bytes" in answer.text


def test_keys_are_required_and_scoped(keys_and_service: tuple[Service, str]) -> None:
    service, read_key = keys_and_service
    anonymous = httpx.post(f"{service.url}/v1/events", json=ping(9, 9))
    assert anonymous.status_code == 401 and "pushlift keys create" in anonymous.text
    forged = httpx.post(
        f"{service.url}/v1/events", json=ping(9, 9), headers={"x-api-key": "pl_0000_nope"}
    )
    assert forged.status_code == 403
    reader = {"authorization": f"Bearer {read_key}"}
    assert (
        httpx.post(f"{service.url}/v1/events", json=ping(9, 9), headers=reader).status_code == 403
    )
    assert httpx.get(f"{service.url}/v1/config", headers=reader).status_code == 200
    assert httpx.get(f"{service.url}/v1/config").status_code == 401


def test_offers_are_managed_validated_and_versioned(service: Service) -> None:
    before = service.client.get("/v1/config").json()["version"]
    unknown = service.client.get("/v1/offers/nope")
    assert unknown.status_code == 404 and "unknown offer 'nope'" in unknown.text
    sneaky = service.client.get("/v1/offers/x'; DROP TABLE event; --")
    assert sneaky.status_code == 404
    bad = service.client.put(
        "/v1/offers/tea",
        json={"vendor": "nobody", "content": "tea", "zone": "plaza", "max_bid_cents": 90},
    )
    assert bad.status_code == 422
    assert bad.json()["detail"] == {"error": "unknown vendor 'nobody'", "field": "offers[1].vendor"}
    good = service.client.put(
        "/v1/offers/tea",
        json={"vendor": "cafe", "content": "tea", "zone": "plaza", "max_bid_cents": 90},
    )
    assert good.json() == {"config_version": before + 1}
    assert service.client.get("/v1/offers/tea").json()["max_bid_cents"] == 90
    # The higher bid now wins the auction for a fresh subscriber in the zone.
    decided = service.post("/v1/events", ping(500, 500, second=30)).json()
    assert decided["notification"]["offer_id"] == "tea"
    gone = service.client.delete("/v1/offers/tea")
    assert gone.json() == {"config_version": before + 2}
    history = service.client.get("/v1/config/history").json()
    assert [h["change"] for h in history[-2:]] == ["PUT /v1/offers/tea", "DELETE /v1/offers/tea"]
    assert service.client.get("/v1/metrics").json()["config_version"] == before + 2


def test_metrics_report_rates_latency_and_budget_burn(service: Service) -> None:
    # xdist may run this module's tests on several servers: post one event here.
    assert service.post("/v1/events", ping(900, 900, second=49)).status_code == 200
    metrics = service.client.get("/v1/metrics").json()
    assert metrics["events_total"] >= 1
    assert metrics["request_latency_ms"]["p50"] > 0
    burn = {b["offer_id"]: b for b in metrics["budget_burn"]}
    assert burn["coffee"]["budget_cents"] == 2000
    assert 0 <= burn["coffee"]["spent_cents"] <= 2000


def test_openapi_describes_the_api(service: Service) -> None:
    spec = httpx.get(f"{service.url}/openapi.json").json()
    assert {"/v1/events", "/v1/events/batch", "/v1/notifications/stream"} <= set(spec["paths"])


def test_server_sent_events_carry_new_deliveries(service: Service) -> None:
    cursor = service.client.get("/v1/notifications").json()["cursor"]
    received: list[dict] = []

    def listen() -> None:
        with service.client.stream(
            "GET", "/v1/notifications/stream", params={"after": cursor}
        ) as s:
            for line in s.iter_lines():
                if line.startswith("data: "):
                    received.append(json.loads(line[6:]))
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    # Fresh subscribers in the zone until one is delivered (a quarter are held out).
    delivered = None
    for sub in range(600, 640):
        answer = service.post("/v1/events", ping(sub, sub, second=40)).json()
        if answer["outcome"] == "delivered":
            delivered = sub
            break
    assert delivered is not None
    listener.join(timeout=60)
    assert received and received[0]["notification_id"] == delivered


def test_slightly_late_events_are_decided_and_older_ones_only_stored(service: Service) -> None:
    # Last of this module's tests on the shared server: it moves the engine's clock on.
    on_time = service.post("/v1/events", ping(700, 700, second=50)).json()
    assert on_time["outcome"] != "late"
    # 5 s behind the latest decided event, within the default allowed lateness of 10 s.
    slightly = service.post("/v1/events", ping(701, 701, second=45)).json()
    assert slightly["outcome"] in ("delivered", "held_out")
    assert slightly["notification"]["event_time"] == "2026-03-03T10:00:45.000000Z"
    old = {**ping(702, 702), "time": "2026-03-03T09:00:00Z"}
    assert service.post("/v1/events", old).json() == {
        "event_id": 702,
        "outcome": "late",
        "notification": None,
    }


def test_concurrent_posts_share_commits_and_agree_on_duplicates(service: Service) -> None:
    # After the lateness test: its clock is at 10:00:50, and these are within 10 s of it.
    answers: dict[int, list[dict]] = {}

    def post(client_no: int) -> None:
        with httpx.Client(base_url=service.url, headers=service.client.headers) as c:
            for k in range(8):
                event = ping(2000 + 10 * client_no + k, 2000 + 10 * client_no + k, second=51 + k)
                answers.setdefault(client_no, []).append(c.post("/v1/events", json=event).json())
            # Every client also posts the same event: one decision, the rest duplicates.
            answers[client_no].append(c.post("/v1/events", json=ping(2999, 2999, second=59)).json())

    threads = [threading.Thread(target=post, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    own = [a for n in range(6) for a in answers[n][:-1]]
    assert len(own) == 48 and {a["outcome"] for a in own} <= {"delivered", "held_out"}
    shared = [answers[n][-1] for n in range(6)]
    assert [a["outcome"] for a in shared].count("duplicate") == 5
    assert len({json.dumps(a["notification"], sort_keys=True) for a in shared}) == 1


class _FlakySink(BaseHTTPRequestHandler):
    """A webhook receiver that fails its first two requests."""

    calls: list[int] = []
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        self.calls.append(1)
        if len(self.calls) <= 2:
            self.send_response(500)
        else:
            self.received.extend(body["notifications"])
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_the_webhook_retries_until_the_sink_accepts(tmp_path: Path) -> None:
    port = free_port()
    sink = ThreadingHTTPServer(("127.0.0.1", port), _FlakySink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    db, config, write, _ = new_store(tmp_path)
    service = Service(
        db, "--config", config, "--webhook", f"http://127.0.0.1:{port}/hook", key=write,
        log=tmp_path / "serve.log",
    )  # fmt: skip
    try:
        results = service.post("/v1/events/batch", {"events": stream(120)}).json()["results"]
        delivered = {r["event_id"] for r in results if r["outcome"] == "delivered"}
        assert delivered
        start = time.monotonic()
        while {n["notification_id"] for n in _FlakySink.received} != delivered:
            assert time.monotonic() - start < 120, "the webhook did not deliver everything"
            time.sleep(0.1)
        assert len(_FlakySink.calls) >= 3
        hook = service.client.get("/v1/metrics").json()["webhook"]
        assert hook["failed_attempts"] >= 2
    finally:
        service.stop()
        sink.shutdown()


class _Sink(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).received.extend(body["notifications"])
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_the_webhook_resumes_after_a_restart_without_resending(tmp_path: Path) -> None:
    port = free_port()
    sink = ThreadingHTTPServer(("127.0.0.1", port), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    db, config, write, _ = new_store(tmp_path)
    hook = ("--webhook", f"http://127.0.0.1:{port}/hook")
    events = stream(240)
    delivered: set[int] = set()
    try:
        for part, extra in ((events[:120], ("--config", config)), (events[120:], ())):
            service = Service(db, *extra, *hook, key=write, log=tmp_path / "serve.log")
            try:
                results = service.post("/v1/events/batch", {"events": part}).json()["results"]
                delivered |= {r["event_id"] for r in results if r["outcome"] == "delivered"}
                start = time.monotonic()
                while {n["notification_id"] for n in _Sink.received} != delivered:
                    assert time.monotonic() - start < 120, "the webhook did not deliver"
                    time.sleep(0.1)
            finally:
                assert service.stop() == 0
        ids = [n["notification_id"] for n in _Sink.received]
        assert len(ids) == len(set(ids)) == len(delivered)  # each once, none resent
    finally:
        sink.shutdown()
