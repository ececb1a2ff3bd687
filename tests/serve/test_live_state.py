"""The service's promises about engine state, in process: state changes only for decisions
that were made durable, a failed request leaves no trace and fails no other request, and
no event can move the engine's clock into the future."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pushlift.engine.config import parse_config
from pushlift.engine.stream import events_from_records
from pushlift.errors import InputError
from pushlift.ops import ops_path
from pushlift.serve import journal
from pushlift.serve.service import DecisionService, FutureEvent
from pushlift.store import Store

from .service_process import CONFIG, stream

BUDGET = {**CONFIG, "offers": [{**CONFIG["offers"][0], "budget_cents": 1000}]}  # 25 sends


class InjectedFailure(Exception):
    pass


class FailingJournal(journal.Journal):
    """A journal whose append fails whenever the group holds an event id in `poisoned`:
    before writing, or (`written_first`) after writing the group but before its commit."""

    poisoned: set[int]
    written_first: bool = False

    def append(self, group: journal.Group) -> None:
        if not self.poisoned & set(group.batch.event_id.tolist()):
            super().append(group)
            return
        con = self.con
        con.execute("BEGIN IMMEDIATE")
        try:
            if self.written_first:
                super().append(group)
            raise InjectedFailure("disk gone")
        finally:
            con.execute("ROLLBACK")


@contextmanager
def service_on(folder: Path, config: dict = CONFIG, **kw: Any) -> Iterator[DecisionService]:
    folder.mkdir(parents=True, exist_ok=True)
    store = Store.open(folder / "s.duckdb")
    service = DecisionService(
        store, parse_config(json.loads(json.dumps(config)), "t"), "t",
        ops_path(folder / "s.duckdb"), **kw,
    )  # fmt: skip
    try:
        yield service
    finally:
        service.close()
        store.close()


def poison(service: DecisionService, ids: set[int], written_first: bool = False) -> None:
    service.journal.__class__ = FailingJournal
    service.journal.poisoned, service.journal.written_first = ids, written_first  # type: ignore[attr-defined]


def decide(service: DecisionService, events: list[dict]) -> list[dict]:
    return service.submit(events_from_records(events, "test"))


def comparable(results: list[dict]) -> list[tuple]:
    """Outcome and notification, without the ingest-time cursor."""
    out = []
    for r in results:
        note = r["notification"]
        if note is not None:
            note = {k: v for k, v in note.items() if k != "cursor"}
        out.append((r["event_id"], r["outcome"], json.dumps(note, sort_keys=True)))
    return out


def test_a_future_dated_event_is_refused_and_never_stops_the_engine(tmp_path: Path) -> None:
    events = stream(30)
    with service_on(tmp_path / "a") as service:
        future = {**events[0], "event_id": 1, "time": "2030-01-01T00:00:00Z"}
        with pytest.raises(FutureEvent) as refused:
            decide(service, [future])
        assert refused.value.column == "time" and refused.value.event_id == 1
        assert "ahead of the service's clock" in refused.value.detail
        after = decide(service, events)
    with service_on(tmp_path / "b") as fresh:
        assert comparable(after) == comparable(decide(fresh, events))
    assert not any(r["outcome"] == "late" for r in after)


def test_a_failed_write_leaves_no_trace(tmp_path: Path) -> None:
    """A 12-event batch whose journal write fails does not spend the offer's budget or cap
    its subscribers: everything after it is decided as if it had never been posted."""
    events = stream(240)
    first, failing, rest = events[:60], events[60:72], events[72:]
    with service_on(tmp_path / "a", BUDGET) as service:
        decide(service, first)
        poison(service, {failing[0]["event_id"]}, written_first=True)
        with pytest.raises(InjectedFailure):
            decide(service, failing)
        spent_after_failure = service.budget_burn()
        later = decide(service, rest)
    with service_on(tmp_path / "b", BUDGET) as clean:
        decide(clean, first)
        assert spent_after_failure == clean.budget_burn()
        assert comparable(later) == comparable(decide(clean, rest))
    # The failed events were never stored: posting them again decides them.
    with service_on(tmp_path / "a", BUDGET) as restarted:
        assert {r["outcome"] for r in decide(restarted, failing)} != {"duplicate"}


def test_one_bad_request_fails_alone_in_its_group(tmp_path: Path) -> None:
    """Requests queued together share one journal write; when it fails, each is decided
    again on its own, so only the request that fails by itself fails."""
    events = stream(60)
    with service_on(tmp_path / "a") as service:
        poison(service, {events[5]["event_id"]})
        with service.lock:  # hold the writer so that all requests form one group
            futures = [service.enqueue(events_from_records([e], "test")) for e in events[:12]]
        answers = []
        for i, future in enumerate(futures):
            if i == 5:
                with pytest.raises(InjectedFailure):
                    future.result(timeout=60)
            else:
                answers += future.result(timeout=60)
    with service_on(tmp_path / "b") as clean:
        expected = [r for e in events[:12] if e is not events[5] for r in decide(clean, [e])]
    assert comparable(answers) == comparable(expected)


def test_a_string_that_cannot_be_stored_is_refused_before_deciding(tmp_path: Path) -> None:
    bad = {"event_id": 9, "kind": "purchase", "subscriber_id": 3,
           "time": "2026-03-02T10:00:00Z", "vendor_id": "\ud800", "amount_cents": 100}  # fmt: skip
    with pytest.raises(InputError) as refused:
        events_from_records([bad], "request")
    assert refused.value.column == "vendor_id"


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(
    cuts=st.lists(st.integers(1, 199), min_size=1, max_size=8, unique=True),
    failing=st.sets(st.integers(0, 8), max_size=3),
    written_first=st.booleans(),
)
def test_writes_failing_at_random_points_never_change_later_decisions(
    tmp_path_factory: pytest.TempPathFactory,
    cuts: list[int],
    failing: set[int],
    written_first: bool,
) -> None:
    events = stream(200, subscribers=12)
    bounds = [0, *sorted(cuts), len(events)]
    requests = [events[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    folder = tmp_path_factory.mktemp("prop")
    kept: list[list[dict]] = []
    answers: list[dict] = []
    with service_on(folder / "a", BUDGET) as service:
        poison(service, {requests[i][0]["event_id"] for i in failing if i < len(requests)},
               written_first)  # fmt: skip
        for i, request in enumerate(requests):
            if i in failing:
                with pytest.raises(InjectedFailure):
                    decide(service, request)
            else:
                kept.append(request)
                answers += decide(service, request)
    with service_on(folder / "b", BUDGET) as clean:
        expected = [r for request in kept for r in decide(clean, request)]
    assert comparable(answers) == comparable(expected)


def test_concurrent_clients_each_get_their_own_answers(tmp_path: Path) -> None:
    events = stream(400, subscribers=50)
    shares = [events[k::8] for k in range(8)]
    got: dict[int, list[dict]] = {}
    with service_on(tmp_path / "a", allowed_lateness_us=3_600_000_000) as service:

        def client(k: int) -> None:
            got[k] = [r for e in shares[k] for r in decide(service, [e])]

        threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        service.loader.load_pending()
        stored = service.store.con.execute("SELECT count(*) FROM event").fetchall()[0][0]
    assert sorted(r["event_id"] for k in got for r in got[k]) == sorted(
        e["event_id"] for e in events
    )
    assert all([r["event_id"] for r in got[k]] == [e["event_id"] for e in shares[k]] for k in got)
    assert stored == len(events)
