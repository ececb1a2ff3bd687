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
import json
import time
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pushlift.engine.stream import MAX_TEXT, events_from_records
from pushlift.errors import InputError
from pushlift.serve.service import DecisionService, FutureEvent

MAX_BATCH = 10_000
SINGLE, BATCH = "/v1/events", "/v1/events/batch"
ID = Annotated[int, Field(strict=True, ge=0, le=2**63 - 1)]
Coordinate = Annotated[float | None, Field(strict=True, allow_inf_nan=False)]
Text = Annotated[str | None, Field(max_length=MAX_TEXT)]


class EventIn(BaseModel):
    """One event, as in event files (see `pushlift run --help`)."""

    model_config = ConfigDict(extra="forbid")
    event_id: ID = Field(description="unique; a retry with the same id is not decided again")
    kind: Literal["location", "purchase", "site_visit"]
    subscriber_id: ID
    time: str = Field(
        max_length=64,
        description="ISO 8601 with a UTC offset, e.g. 2026-03-02T10:00:00Z; at most the "
        "service's --max-skew ahead of its clock",
    )
    lat: Coordinate = Field(None, ge=-90, le=90, description="location: latitude")
    lon: Coordinate = Field(None, ge=-180, le=180, description="location: longitude")
    vendor_id: Text = Field(None, description="purchase: where; site_visit: whose site")
    amount_cents: Annotated[int | None, Field(strict=True, ge=0, le=10**12)] = None
    domain: Text = Field(None, description="site_visit: the domain visited")


class EventsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


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
        events = _parse(body, path)
    except ValidationError as e:
        return 422, orjson.dumps({"detail": problem_of(e).model_dump()})
    try:
        batch = events_from_records([e.model_dump() for e in events], "request")
        with service.metrics.request():
            results = await asyncio.wrap_future(service.enqueue(batch))
    except InputError as e:
        index = e.row
        if isinstance(e, FutureEvent):
            index = next(i for i, x in enumerate(events) if x.event_id == e.event_id)
        if path == SINGLE:
            index = None
        detail = {"error": e.detail, "field": e.column, "index": index}
        return 422, orjson.dumps({"detail": detail})
    service.observe(results, time.perf_counter() - started)
    by_id = {r["event_id"]: r for r in results}
    ordered = [by_id[e.event_id] for e in events]
    return 200, orjson.dumps(ordered[0] if path == SINGLE else {"results": ordered})


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
        status, answer = await respond(self.service, b"".join(chunks), path)
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})
