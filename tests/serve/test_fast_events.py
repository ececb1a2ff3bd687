"""The fast reading of event bodies agrees with the full one (pydantic models, then the
engine's rules): on generated bodies, valid and not, it either declines or builds exactly
the events the full way builds; and the common shapes do take it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pushlift.engine.events import EventBatch, to_us
from pushlift.engine.stream import events_from_records
from pushlift.errors import InputError
from pushlift.serve.events_endpoint import BATCH, MAX_BATCH, SINGLE, TIME_PATTERN, _parse
from pushlift.serve.fast_events import read_events

FIELDS = ("event_id", "kind", "subscriber_id", "time", "lat", "lon", "vendor_id",
          "amount_cents", "domain")  # fmt: skip


def full_way(body: bytes, path: str) -> tuple[EventBatch, list[int]] | None:
    try:
        events = _parse(body, path)
        batch = events_from_records([e.model_dump() for e in events], "request")
    except (ValidationError, InputError):
        return None
    return batch, [e.event_id for e in events]


def fast_way(body: bytes, path: str) -> tuple[EventBatch, list[int]] | None:
    return read_events(body, path == BATCH, TIME_PATTERN, MAX_BATCH)


def same(a: EventBatch, b: EventBatch) -> None:
    for name in ("event_id", "kind", "subscriber_id", "time_us", "amount_cents"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name in ("lat", "lon"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name in ("vendor_id", "domain"):
        assert getattr(a, name).tolist() == getattr(b, name).tolist(), name


ids = st.integers(0, 2**63 - 1)
good_times = st.one_of(
    st.datetimes(
        min_value=datetime(1971, 1, 2), max_value=datetime(2199, 12, 30), timezones=st.just(UTC)
    ).map(lambda d: d.isoformat().replace("+00:00", "Z")),
    st.builds(
        lambda d, minutes: d.isoformat() + offset(minutes),
        st.datetimes(min_value=datetime(1971, 1, 2), max_value=datetime(2199, 12, 30)),
        st.integers(-23 * 60 - 59, 23 * 60 + 59),
    ),
)
texts = st.text(min_size=1, max_size=8)
valid = st.one_of(
    st.fixed_dictionaries(
        {"event_id": ids, "kind": st.just("location"), "subscriber_id": ids, "time": good_times,
         "lat": st.floats(-90, 90), "lon": st.floats(-180, 180)},
        optional={"vendor_id": st.none() | texts, "amount_cents": st.none()},
    ),
    st.fixed_dictionaries(
        {"event_id": ids, "kind": st.just("purchase"), "subscriber_id": ids, "time": good_times,
         "vendor_id": texts, "amount_cents": st.integers(0, 10**12)},
        optional={"lat": st.none(), "domain": st.none() | st.just("") | texts},
    ),
    st.fixed_dictionaries(
        {"event_id": ids, "kind": st.just("site_visit"), "subscriber_id": ids,
         "time": good_times},
        optional={"domain": texts, "vendor_id": texts | st.just("")},
    ),
)  # fmt: skip
# Values each field may wrongly (or awkwardly) hold.
WRONG = {
    "event_id": [True, 7.0, 7.5, "7", None, -1, 2**63, 2**64 + 1, -0.0],
    "kind": ["Location", " location", 0, None, ["location"]],
    "subscriber_id": [False, 3.0, "3", -2, 2**63],
    "time": ["2026-03-02T10:00:00.5+02:00", "2026-11-31T10:00:00Z", "2026-02-30T10:00:00Z",
             "2026-03-02T10:00:00", "2026-03-02 10:00:00Z", "2026-03-02T10:00:00Z\n",
             "2026-03-02T24:00:00Z", "2026-03-02T10:00:60Z", "2026-03-02T10:00:00.1234567Z",
             "2200-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "", 1772442000, None,
             "2026-03-02T10:00:00+24:00", "2026-03-02t10:00:00z"],
    "lat": [None, 0, 45, True, "1.5", 90.0, 90.5, -91.0, 1e308],
    "lon": [None, 0, 180.0, 180.01, "2"],
    "vendor_id": [None, "", "v" * 256, "v" * 257, 5, True, {}, [], 0.0],
    "amount_cents": [None, 10**12, 10**12 + 1, -1, 2.0, True, "5"],
    "domain": [None, "", "d" * 257, 3, {}, []],
    "extra": [1],
}  # fmt: skip


def offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def mutated(event: dict) -> st.SearchStrategy[dict]:
    def change(name: str, value: object, drop: bool) -> dict:
        out = dict(event)
        if drop:
            out.pop(name, None)
        else:
            out[name] = value
        return out

    name = st.sampled_from(sorted(WRONG))
    return name.flatmap(
        lambda n: st.builds(change, st.just(n), st.sampled_from(WRONG[n]), st.booleans())
    )


event = st.one_of(valid, valid.flatmap(mutated))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event, min_size=1, max_size=6), st.booleans())
def test_fast_way_declines_or_agrees(events: list[dict], single: bool) -> None:
    path = SINGLE if single else BATCH
    body = json.dumps(events[0] if single else {"events": events}).encode()
    fast = fast_way(body, path)
    if fast is None:
        return
    full = full_way(body, path)
    assert full is not None, f"the fast way accepted what the full way refuses: {body!r}"
    same(fast[0], full[0])
    assert fast[1] == full[1]


def location(i: int, when: str = "2026-03-02T10:00:00Z") -> dict:
    return {"event_id": i, "kind": "location", "subscriber_id": 7, "time": when,
            "lat": 40.4, "lon": -3.7}  # fmt: skip


@pytest.mark.parametrize(
    "body",
    [
        location(1),
        {"events": [location(3, "2026-03-02T10:00:02Z"), location(2, "2026-03-02T10:00:01Z")]},
        {"events": [
            location(1),
            {"event_id": 2, "kind": "purchase", "subscriber_id": 7, "time":
             "2026-03-02T10:00:00.25+01:00", "vendor_id": "v1", "amount_cents": 1250},
            {"event_id": 3, "kind": "site_visit", "subscriber_id": 7,
             "time": "2026-03-02T09:59:00Z", "domain": "shop.example", "lat": None},
        ]},
    ],
)  # fmt: skip
def test_common_bodies_take_the_fast_way(body: dict) -> None:
    path = BATCH if "events" in body else SINGLE
    raw = json.dumps(body).encode()
    fast, full = fast_way(raw, path), full_way(raw, path)
    assert fast is not None and full is not None
    same(fast[0], full[0])
    assert fast[1] == full[1]


def test_times_with_offsets_are_the_instant_they_name() -> None:
    body = {"events": [location(1, "2026-03-02T10:00:00.5+02:00"), location(2)]}
    batch, ids = fast_way(json.dumps(body).encode(), BATCH)
    assert ids == [1, 2]
    # 08:00:00.5 UTC comes before 10:00 UTC: the batch is in event-time order.
    assert batch.event_id.tolist() == [1, 2]
    assert batch.time_us[0] == to_us(datetime(2026, 3, 2, 8, 0, 0, 500_000, tzinfo=UTC))


DUPLICATE_KEY = (
    b'{"event_id": 1, "event_id": 2, "kind": "location", "subscriber_id": 7, '
    b'"time": "2026-03-02T10:00:00Z", "lat": 1.0, "lon": 2.0}'
)


def test_a_repeated_key_is_read_as_the_full_way_reads_it() -> None:
    fast, full = fast_way(DUPLICATE_KEY, SINGLE), full_way(DUPLICATE_KEY, SINGLE)
    assert full is not None
    if fast is not None:
        same(fast[0], full[0])
        assert fast[1] == full[1]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"event_id": 1, "kind": "location", "subscriber_id": 7, '
        b'"time": "2026-03-02T10:00:00Z", "lat": 1.0, "lon": 2.0, "vendor_id": "\\ud800"}',
        b'{"event_id": true, "kind": "location", "subscriber_id": 7, '
        b'"time": "2026-03-02T10:00:00Z", "lat": 1.0, "lon": 2.0}',
    ],
)
def test_refused_bodies_are_left_to_the_full_way(raw: bytes) -> None:
    """A lone surrogate and a bool id: the full way names the problem, so the fast one
    must decline rather than accept."""
    assert fast_way(raw, SINGLE) is None
    assert full_way(raw, SINGLE) is None
