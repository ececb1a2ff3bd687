"""SIGTERM while a request is being decided: the request completes, then the server exits."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from .service_process import Service, new_store, stream


def test_sigterm_finishes_the_request_in_flight(tmp_path: Path) -> None:
    db, config, key, _ = new_store(tmp_path)
    log = tmp_path / "serve.log"
    service = Service(db, "--config", config, key=key, log=log)
    events = stream(7000, subscribers=3000)
    answer: list[httpx.Response] = []
    poster = threading.Thread(
        target=lambda: answer.append(service.post("/v1/events/batch", {"events": events}))
    )
    poster.start()
    watcher = httpx.Client(base_url=service.url, headers=service.client.headers, timeout=30)
    deadline = time.monotonic() + 120
    while watcher.get("/v1/metrics").json()["requests_in_flight"] == 0:
        assert poster.is_alive(), "the batch finished before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    watcher.close()
    service.proc.terminate()  # SIGTERM while the batch is being decided
    poster.join(timeout=120)
    assert service.proc.wait(timeout=60) == 0
    assert answer and answer[0].status_code == 200
    assert len(answer[0].json()["results"]) == len(events)

    # Everything acknowledged is in the store: a restart sees only duplicates.
    service = Service(db, key=key, log=log)
    try:
        again = service.post("/v1/events/batch", {"events": events[:500]}).json()["results"]
        assert {r["outcome"] for r in again} == {"duplicate"}
    finally:
        service.stop()
