"""Event bodies read fast: the common, valid shape, without pydantic.

The pydantic models in `events_endpoint` are the contract and name every problem, but
checking them and then the engine's rules cost about 60 µs for one event and 10 µs per
event of a batch (`benchmarks/http_load.py`), more than deciding and journaling it. So a
body is read here first: orjson, then plain checks over whole columns. Anything not
recognised as certainly valid (an unknown field, a type pydantic would have to coerce or
refuse, a value out of bounds, an id repeated within the batch) gives None, and the body
goes the full way, which accepts it or names its problem. This path accepts nothing the
full one refuses and builds the same events (tests/serve/test_fast_events.py checks both
on generated bodies).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from pushlift.engine.events import KIND_CODES, MAX_AMOUNT_CENTS, MAX_ID, EventBatch, to_us
from pushlift.engine.stream import MAX_TEXT

FIELDS = frozenset(
    ("event_id", "kind", "subscriber_id", "time", "lat", "lon", "vendor_id", "amount_cents",
     "domain")
)  # fmt: skip
REQUIRED = ("event_id", "kind", "subscriber_id", "time")
_US = pa.timestamp("us", tz="UTC")


def read_events(
    body: bytes, batch: bool, time_pattern: str, max_batch: int
) -> tuple[EventBatch, list[int]] | None:
    """The events of a valid body (in event-time order) and their ids in the body's order;
    None when the body needs the full check. `time_pattern` is EventIn's for `time`."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if batch:
        if type(data) is not dict or data.keys() != {"events"}:
            return None
        records = data["events"]
        if type(records) is not list or not 1 <= len(records) <= max_batch:
            return None
    else:
        return _one(data, _time_re(time_pattern))
    return _columns(records, _time_re(time_pattern))


_compiled: dict[str, re.Pattern[str]] = {}


def _time_re(pattern: str) -> re.Pattern[str]:
    if pattern not in _compiled:
        _compiled[pattern] = re.compile(pattern)
    return _compiled[pattern]


_KINDS_NEED = {0: ("lat", "lon"), 1: ("vendor_id", "amount_cents"), 2: ()}
_COORDINATE_BOUND = {"lat": 90, "lon": 180}


def _one(r: Any, time_re: re.Pattern[str]) -> tuple[EventBatch, list[int]] | None:
    """One event, checked value by value: for a single event, numpy's cost per call
    is what a column check would cost."""
    if type(r) is not dict or not FIELDS.issuperset(r):
        return None
    event_id, kind, sub, when = (r.get(k) for k in REQUIRED)
    if type(event_id) is not int or type(sub) is not int or type(when) is not str:
        return None
    code = KIND_CODES.get(kind) if type(kind) is str else None
    if code is None or not (0 <= event_id <= MAX_ID and 0 <= sub <= MAX_ID):
        return None
    if len(when) > 64 or not time_re.fullmatch(when):
        return None
    lat, lon, amount = r.get("lat"), r.get("lon"), r.get("amount_cents")
    vendor, domain = r.get("vendor_id"), r.get("domain")
    for name, v in (("lat", lat), ("lon", lon)):
        if v is not None and (type(v) is not float or abs(v) > _COORDINATE_BOUND[name]):
            return None
    if amount is not None and (type(amount) is not int or not 0 <= amount <= MAX_AMOUNT_CENTS):
        return None
    for text in (vendor, domain):
        if text is not None and (type(text) is not str or len(text) > MAX_TEXT):
            return None
    vendor, domain = vendor or None, domain or None  # "" is not given
    if any(r.get(name) is None for name in _KINDS_NEED[code]) or vendor is None and code == 1:
        return None
    if code == 2 and vendor is None and domain is None:
        return None
    try:
        time_us = to_us(datetime.fromisoformat(when))
    except ValueError:  # the pattern still lets through days like 11-31
        return None
    nan = float("nan")
    events = EventBatch(
        np.array([event_id], dtype=np.int64), np.array([code], dtype=np.int8),
        np.array([sub], dtype=np.int64), np.array([time_us], dtype=np.int64),
        np.array([nan if lat is None else lat]), np.array([nan if lon is None else lon]),
        np.array([vendor], dtype=object), np.array([amount or 0], dtype=np.int64),
        np.array([domain], dtype=object),
    )  # fmt: skip
    return events, [event_id]


def _columns(records: list, time_re: re.Pattern[str]) -> tuple[EventBatch, list[int]] | None:
    for r in records:
        if type(r) is not dict or not FIELDS.issuperset(r) or len(r) < 4:
            return None
    try:
        ids, kinds, subs, times = ([r[k] for r in records] for k in REQUIRED)
    except KeyError:
        return None
    n = len(records)
    event_id, subscriber = _ids(ids), _ids(subs)
    if event_id is None or subscriber is None or len(set(ids)) < n:
        return None
    try:
        kind = np.array([KIND_CODES[k] for k in kinds], dtype=np.int8)
    except (KeyError, TypeError):  # not a kind, or not even hashable
        return None
    time_us = _times(times, time_re)
    if time_us is None:
        return None
    get = [r.get for r in records]
    lat, lon = _coordinate(get, "lat", 90), _coordinate(get, "lon", 180)
    amounts = [g("amount_cents") for g in get]
    amount = _amounts(amounts)
    vendor, domain = _texts([g("vendor_id") for g in get]), _texts([g("domain") for g in get])
    if lat is None or lon is None or amount is None or vendor is None or domain is None:
        return None
    priced = np.array([a is not None for a in amounts], dtype=bool)
    if not _needs_met(kind, lat, lon, vendor, domain, priced):
        return None
    events = EventBatch(event_id, kind, subscriber, time_us, lat, lon, vendor, amount, domain)
    if n > 1:
        events = events.take(np.argsort(time_us, kind="stable"))
    return events, ids


def _ids(values: list) -> np.ndarray | None:
    if not set(map(type, values)) <= {int}:
        return None  # bools, floats (7.0 is 7 to pydantic), text: the full check decides
    try:
        out = np.array(values, dtype=np.int64)
    except OverflowError:
        return None
    return out if (out >= 0).all() and out.max() <= MAX_ID else None


def _times(values: list, time_re: re.Pattern[str]) -> np.ndarray | None:
    if not set(map(type, values)) <= {str}:
        return None
    if not all(len(v) <= 64 and time_re.fullmatch(v) for v in values):
        return None
    try:  # the pattern still lets through days like 11-31, which both refuse
        if len(values) == 1:
            return np.array([to_us(datetime.fromisoformat(values[0]))], dtype=np.int64)
        # The pattern is RFC 3339 with an offset: Arrow reads exactly that.
        return pc.cast(pa.array(values, pa.string()), _US).to_numpy().astype(np.int64)
    except (ValueError, pa.ArrowInvalid):
        return None


def _coordinate(get: list, name: str, bound: int) -> np.ndarray | None:
    values = [g(name) for g in get]
    types = set(map(type, values))
    if not types <= {float, type(None)}:
        return None  # an integer coordinate is a float to pydantic: the full check says so
    if types == {float}:
        out = np.array(values, dtype=float)
    else:
        out = np.array([np.nan if v is None else v for v in values], dtype=float)
    given = out[~np.isnan(out)]
    return out if (np.abs(given) <= bound).all() else None


def _amounts(values: list) -> np.ndarray | None:
    types = set(map(type, values))
    if not types <= {int, type(None)}:
        return None
    out = np.array([0 if v is None else v for v in values], dtype=object)
    try:
        out = out.astype(np.int64)
    except OverflowError:
        return None
    return out if (out >= 0).all() and out.max() <= MAX_AMOUNT_CENTS else None


def _texts(values: list) -> np.ndarray | None:
    """Ids and domains: "" is not given; orjson has already refused lone surrogates."""
    if not set(map(type, values)) <= {str, type(None)}:
        return None
    if any(v is not None and len(v) > MAX_TEXT for v in values):
        return None
    return np.array([v or None for v in values], dtype=object)


def _needs_met(
    kind: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    vendor: np.ndarray,
    domain: np.ndarray,
    priced: np.ndarray,
) -> bool:
    """What each kind needs (`events_endpoint.NEEDS`): else the full check names it."""
    location = kind == 0
    if np.isnan(lat[location]).any() or np.isnan(lon[location]).any():
        return False
    has_vendor = vendor != None  # noqa: E711 - elementwise over an object array
    has_domain = domain != None  # noqa: E711
    purchases_ok = (has_vendor & priced)[kind == 1].all()
    return bool(purchases_ok and (has_vendor | has_domain)[kind == 2].all())
