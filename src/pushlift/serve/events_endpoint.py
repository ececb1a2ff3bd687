"""POST /v1/events and /v1/events/batch: the hot path, kept lean.

Measured (`benchmarks/http_stack.py`), a framework's per-request work (dependency solving,
response encoding through `jsonable_encoder`) cost several times what deciding and
journaling an event costs. So the event endpoints answer straight from ASGI: the body is
validated by the same pydantic models the OpenAPI description is generated from (strict:
a bool is not an integer), the engine's rules follow, and the answer is encoded once with
orjson. The FastAPI routes of the same paths call the same `respond`, so the description
and the behaviour cannot drift apart; the ASGI shortcut only skips the routing.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from pushlift.engine.config import timestamp_pattern
from pushlift.engine.events import EventBatch
from pushlift.engine.stream import MAX_TEXT, events_from_records
from pushlift.errors import InputError
from pushlift.serve.fast_events import read_events
from pushlift.serve.service import DecisionService, FutureEvent

MAX_BATCH = 10_000
_log = logging.getLogger("pushlift.serve")
SINGLE, BATCH = "/v1/events", "/v1/events/batch"


def _whole(value: object) -> object:
    """JSON Schema's integer: 7.0 is 7 (JSON has one kind of number). Strict otherwise:
    true is not 1, "7" is not 7."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


ID = Annotated[int, Field(strict=True, ge=0, le=2**63 - 1), BeforeValidator(_whole)]
Cents = Annotated[int, Field(strict=True, ge=0, le=10**12), BeforeValidator(_whole)]
Coordinate = Annotated[float | None, Field(strict=True, allow_inf_nan=False)]
Text = Annotated[str | None, Field(max_length=MAX_TEXT)]
# As in event.schema.json, but whole years 1971 to 2199: inside the engine's range (1970 to
# 2200 in UTC) whatever the offset, so the pattern says all there is to say.
TIME_PATTERN = timestamp_pattern("(?:197[1-9]|19[89][0-9]|2[01][0-9]{2})", "{1,6}")
_GIVEN = {"type": "string", "minLength": 1}  # "" counts as not given

# What each kind needs, checked by the engine's event rules (`engine/stream.py`).
NEEDS: dict[str, dict[str, Any]] = {
    "location": {
        "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
        "required": ["lat", "lon"],
    },
    "purchase": {
        "properties": {"vendor_id": _GIVEN, "amount_cents": {"type": "integer"}},
        "required": ["vendor_id", "amount_cents"],
    },
    "site_visit": {
        "anyOf": [
            {"properties": {"domain": _GIVEN}, "required": ["domain"]},
            {"properties": {"vendor_id": _GIVEN}, "required": ["vendor_id"]},
        ]
    },
}
# As event.schema.json states them.
BY_KIND = [
    {"if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]}, "then": needs}
    for kind, needs in NEEDS.items()
]


def by_kind(schema: dict[str, Any]) -> dict[str, Any]:
    """EventIn's JSON Schema as one whole object schema per kind (`oneOf`): the same
    events, in the shape schema-driven tools explore field by field (the OpenAPI
    description's)."""
    branches = []
    for kind, needs in NEEDS.items():
        branch = copy.deepcopy({k: v for k, v in schema.items() if k != "allOf"})
        branch["title"] = f"{schema['title']} ({kind})"
        props = branch["properties"]
        props["kind"] = {"const": kind, "type": "string"}
        for name, narrower in needs.get("properties", {}).items():
            given = [o for o in props[name].get("anyOf", [props[name]]) if o != {"type": "null"}]
            kept = {k: v for k, v in props[name].items() if k not in ("anyOf", "default")}
            props[name] = {**kept, **given[0]}
            props[name] |= narrower
        branch["required"] = [*branch["required"], *needs.get("required", [])]
        if "anyOf" in needs:
            branch["anyOf"] = needs["anyOf"]
        branches.append(branch)
    return {"title": schema["title"], "description": schema["description"], "oneOf": branches}


class EventIn(BaseModel):
    """One event, as in event files (see `pushlift run --help`): a location needs `lat`
    and `lon`, a purchase `vendor_id` and `amount_cents`, a site visit `domain` or
    `vendor_id` ("" counts as not given). Text is valid Unicode (no lone surrogate)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"allOf": BY_KIND})
    event_id: ID = Field(description="unique; a retry with the same id is not decided again")
    kind: Literal["location", "purchase", "site_visit"]
    subscriber_id: ID
    time: str = Field(
        max_length=64,
        pattern=TIME_PATTERN,
        json_schema_extra={"format": "date-time"},
        description="RFC 3339 with a UTC offset, e.g. 2026-03-02T10:00:00Z, in the years 1971 "
        "to 2199, to the microsecond. Refused (422, field `time`) when more than the "
        "service's --max-skew (5 minutes unless set) ahead of its clock: a rule of the "
        "clock, not of the schema.",
    )
    lat: Coordinate = Field(None, ge=-90, le=90, description="location: latitude")
    lon: Coordinate = Field(None, ge=-180, le=180, description="location: longitude")
    vendor_id: Text = Field(None, description="purchase: where; site_visit: whose site")
    amount_cents: Cents | None = None
    domain: Text = Field(None, description="site_visit: the domain visited")


class EventsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[EventIn] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description="event ids unique within the batch (a repeated id is refused with 422 "
        "naming its index; an id decided before answers 'duplicate'); each event's time as "
        "in EventIn",
    )


class Decided(BaseModel):
    event_id: int
    outcome: str = Field(description="the engine stage that decided, or 'duplicate'")
    notification: dict[str, Any] | None


class BatchDecided(BaseModel):
    results: list[Decided]


class Problem(BaseModel):
    error: str
    field: str | None = None
    index: int | None = Field(None, description="the event's position in a batch")


def problem_of(error: ValidationError) -> Problem:
    """The first validation error as one problem, its field named like the engine's."""
    first = error.errors()[0]
    loc = [p for p in first["loc"] if p not in ("body", "query", "path", "header")]
    index = None
    if len(loc) >= 2 and loc[0] == "events" and isinstance(loc[1], int):
        index, loc = loc[1], loc[2:] or ["events"]
    message = first["msg"]
    if first["type"] == "json_invalid":
        message = f"JSON decode error: {first.get('ctx', {}).get('error', message)}"
    return Problem(error=message, field=".".join(str(p) for p in loc) or None, index=index)


def _parse(body: bytes, path: str) -> list[EventIn]:
    model = EventIn if path == SINGLE else EventsIn
    try:
        parsed = model.model_validate_json(body)
    except ValidationError as e:
        if e.errors()[0]["type"] != "json_invalid":
            raise
        # Python's JSON reader accepts what pydantic's refuses as text (a lone surrogate),
        # so the engine's rules can name the field; truly broken JSON fails both.
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise e from None
        parsed = model.model_validate(data)
    return [parsed] if isinstance(parsed, EventIn) else parsed.events


async def respond(service: DecisionService, body: bytes, path: str) -> tuple[int, bytes]:
    """Status and JSON body for a POST of `body` to `path` (SINGLE or BATCH)."""
    started = time.perf_counter()
    try:
        batch, ids = read_body(body, path)
    except ValidationError as e:
        return 422, orjson.dumps({"detail": problem_of(e).model_dump()})
    except InputError as e:
        return 422, _refusal(e, None if path == SINGLE else e.row)
    try:
        with service.metrics.request():
            results = await asyncio.wrap_future(service.enqueue(batch))
    except InputError as e:
        index = ids.index(e.event_id) if isinstance(e, FutureEvent) else e.row
        return 422, _refusal(e, None if path == SINGLE else index)
    service.observe(results, time.perf_counter() - started)
    if path == SINGLE:
        return 200, orjson.dumps(results[0])
    by_id = {r["event_id"]: r for r in results}
    return 200, orjson.dumps({"results": [by_id[i] for i in ids]})


def read_body(body: bytes, path: str) -> tuple[EventBatch, list[int]]:
    """The events of a POST body (in event-time order) and their ids in the body's order.
    ValidationError for a body the models refuse, InputError for the engine's rules."""
    fast = read_events(body, path == BATCH, TIME_PATTERN, MAX_BATCH)
    if fast is not None:
        return fast
    events = _parse(body, path)
    batch = events_from_records([e.model_dump() for e in events], "request")
    return batch, [e.event_id for e in events]


def _refusal(e: InputError, index: int | None) -> bytes:
    return orjson.dumps({"detail": {"error": e.detail, "field": e.column, "index": index}})


class EventsShortcut:
    """ASGI middleware: the event posts go to `respond` directly, the rest to `app`."""

    def __init__(self, app: Any, service: DecisionService) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        path = scope.get("path")
        if scope["type"] != "http" or scope["method"] != "POST" or path not in (SINGLE, BATCH):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        try:
            status, answer = await respond(self.service, b"".join(chunks), path)
        except Exception:  # noqa: BLE001 - the store failed; the server log has the why
            _log.exception("POST %s failed", path)
            status, answer = 500, orjson.dumps({"detail": "internal error: see the server log"})
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})
