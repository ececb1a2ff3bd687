"""The HTTP API of `pushlift serve`, added to the dashboard app (one process, one store).

Write endpoints (events, config changes) need a key with scope 'write'; read endpoints
(feed, metrics, config) need 'read' or 'write'. The dashboard pages and their JSON twins
are open on a loopback address and need a read key otherwise (header, or a cookie set by
visiting `/login?key=...`). Bodies are validated (pydantic, then the engine's event rules)
and limited in size; request text never becomes SQL (all queries are parameterized).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from pushlift.engine.config import EngineConfig
from pushlift.engine.stream import events_from_records
from pushlift.errors import InputError
from pushlift.serve import config_versions
from pushlift.serve.keys import KeyRing
from pushlift.serve.outbox import Feed, WebhookSender, parse_cursor
from pushlift.serve.service import DecisionService, FutureEvent
from pushlift.store import Store
from pushlift.web.app import create_app

MAX_BODY_BYTES = 1 << 20
MAX_BATCH = 10_000
COOKIE = "pushlift_key"


class EventIn(BaseModel):
    """One event, as in event files (see `pushlift run`)."""

    model_config = ConfigDict(extra="forbid")
    event_id: int = Field(ge=0, description="unique; a retry with the same id is not decided again")
    kind: Literal["location", "purchase", "site_visit"]
    subscriber_id: int
    time: str = Field(description="ISO 8601 with a UTC offset, e.g. 2026-03-02T10:00:00Z")
    lat: float | None = None
    lon: float | None = None
    vendor_id: str | None = None
    amount_cents: int | None = None
    domain: str | None = None


class EventsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


class Decided(BaseModel):
    event_id: int
    outcome: str = Field(description="the engine stage that decided, or 'duplicate'")
    notification: dict[str, Any] | None


class BatchDecided(BaseModel):
    results: list[Decided]


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: refuse bodies over `limit` bytes with 413, declared or streamed."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        body = json.dumps({"detail": f"request body over {self.limit} bytes"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _key_of(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key") or request.cookies.get(COOKIE)


def _auth(keys: KeyRing, need: Literal["read", "write"]) -> Callable[[Request], None]:
    def check(request: Request) -> None:
        key = _key_of(request)
        scope = keys.scope(key)
        if scope is None:
            raise HTTPException(
                401 if key is None else 403,
                "an API key is needed (Authorization: Bearer <key>); create one with "
                "`pushlift keys create`"
                if key is None
                else "unknown or revoked API key",
            )
        if need == "write" and scope != "write":
            raise HTTPException(403, "this key is read-only; writing needs a 'write' key")

    return check


def create_service_app(
    store: Store,
    service: DecisionService,
    feed: Feed,
    keys: KeyRing,
    *,
    dashboard_needs_key: bool,
    webhook: WebhookSender | None = None,
    max_body: int = MAX_BODY_BYTES,
) -> FastAPI:
    app = create_app(store)
    app.title = "pushlift"
    app.description = "Real-time decisions over HTTP, with the dashboard on the same store."
    service.listeners.append(feed.publish)
    writer, reader = Depends(_auth(keys, "write")), Depends(_auth(keys, "read"))
    app.add_middleware(BodyLimit, limit=max_body)
    if dashboard_needs_key:
        _guard_dashboard(app, keys)

    @app.post("/v1/events", response_model=Decided, dependencies=[writer], tags=["events"])
    async def post_event(event: EventIn) -> dict[str, Any]:
        """Decide one event; the answer comes after the event is stored."""
        return (await _decide(service, [event]))[0]

    @app.post(
        "/v1/events/batch", response_model=BatchDecided, dependencies=[writer], tags=["events"]
    )
    async def post_events(body: EventsIn) -> dict[str, Any]:
        """Decide up to 10,000 events in one transaction; results in the order posted."""
        return {"results": await _decide(service, body.events)}

    @app.get("/v1/notifications", dependencies=[reader], tags=["notifications"])
    async def notifications(after: str | None = None, wait: float = 0.0) -> dict[str, Any]:
        """Delivered notifications after a cursor (long-poll with `wait` seconds, max 30)."""
        _check_cursor(after)
        notes, cursor = await run_in_threadpool(feed.wait, after, min(max(wait, 0.0), 30.0))
        return {"notifications": notes, "cursor": cursor}

    @app.get("/v1/notifications/stream", dependencies=[reader], tags=["notifications"])
    async def stream(request: Request, after: str | None = None) -> StreamingResponse:
        """Server-sent events, one per delivered notification; resumes from Last-Event-ID."""
        cursor = request.headers.get("last-event-id") or after
        _check_cursor(cursor)

        async def events() -> Any:
            nonlocal cursor
            while not await request.is_disconnected():
                notes, cursor = await run_in_threadpool(feed.wait, cursor, 10.0)
                if not notes:
                    yield ": keep-alive\n\n"
                for note in notes:
                    yield f"id: {note['cursor']}\nevent: notification\ndata: {json.dumps(note)}\n\n"
                await asyncio.sleep(0)

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/v1/metrics", dependencies=[reader], tags=["service"])
    def metrics() -> dict[str, Any]:
        """Events/s, decision latency percentiles, feed queue depth and budget burn."""
        return {
            **service.metrics.snapshot(),
            "config_version": service.version,
            "webhook": None
            if webhook is None
            else {
                "url": webhook.url,
                "queue_depth": webhook.pending,
                "failed_attempts": webhook.attempts_failed,
            },
            "budget_burn": service.budget_burn(),
        }

    @app.get("/v1/health", tags=["service"])
    def health() -> dict[str, Any]:
        return {"ok": True, "config_version": service.version}

    _config_routes(app, store, service, writer, reader)
    return app


async def _decide(service: DecisionService, events: list[EventIn]) -> list[dict[str, Any]]:
    records = [e.model_dump() for e in events]
    started = time.perf_counter()
    try:
        batch = events_from_records(records, "request")
        with service.metrics.request():
            results = await asyncio.wrap_future(service.enqueue(batch))
    except InputError as e:
        index = e.row
        if isinstance(e, FutureEvent):
            index = next(i for i, x in enumerate(events) if x.event_id == e.event_id)
        raise HTTPException(422, {"error": e.detail, "index": index, "field": e.column}) from None
    service.observe(results, time.perf_counter() - started)
    by_id = {r["event_id"]: r for r in results}
    return [by_id[e.event_id] for e in events]


def _check_cursor(cursor: str | None) -> None:
    try:
        parse_cursor(cursor)
    except ValueError as e:
        raise HTTPException(422, str(e)) from None


def _config_routes(
    app: FastAPI, store: Store, service: DecisionService, writer: Any, reader: Any
) -> None:
    def change(new: Callable[[], EngineConfig], what: str) -> dict[str, Any]:
        try:
            config = new()
        except InputError as e:
            raise HTTPException(422, {"error": e.detail, "field": e.field}) from None
        return {"config_version": service.reconfigure(config, what)}

    @app.get("/v1/config", dependencies=[reader], tags=["config"])
    def get_config() -> dict[str, Any]:
        """The live config and its version."""
        return {"version": service.version, "config": config_versions.as_data(service.config)}

    @app.put("/v1/config", dependencies=[writer], tags=["config"])
    def put_config(body: dict[str, Any]) -> dict[str, Any]:
        """Replace the whole config (validated as a whole; becomes the next version)."""
        from pushlift.engine.config import parse_config

        return change(lambda: parse_config(body, "config"), "PUT /v1/config")

    @app.get("/v1/config/history", dependencies=[reader], tags=["config"])
    def history() -> list[dict[str, object]]:
        return config_versions.history(store)

    for section in config_versions.SECTIONS:
        _section_routes(app, service, section, change, writer, reader)


def _section_routes(
    app: FastAPI, service: DecisionService, section: str, change: Any, writer: Any, reader: Any
) -> None:
    noun = section[:-1]

    def find(item_id: str) -> dict[str, Any]:
        for item in config_versions.as_data(service.config).get(section, []):  # type: ignore[union-attr]
            if item["id"] == item_id:
                return item
        raise HTTPException(404, f"unknown {noun} {item_id!r}")

    def list_items() -> list[dict[str, Any]]:
        return config_versions.as_data(service.config).get(section, [])  # type: ignore[return-value]

    def get_item(item_id: str) -> dict[str, Any]:
        return find(item_id)

    def put_item(item_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("id", item_id) != item_id:
            raise HTTPException(
                422, {"error": "the body's id differs from the path's", "field": "id"}
            )
        item = {**body, "id": item_id}
        return change(
            lambda: config_versions.with_item(service.config, section, item),
            f"PUT /v1/{section}/{item_id}",
        )

    def delete_item(item_id: str) -> dict[str, Any]:
        find(item_id)
        return change(
            lambda: config_versions.without_item(service.config, section, item_id),
            f"DELETE /v1/{section}/{item_id}",
        )

    tags = [section]
    app.add_api_route(
        f"/v1/{section}", list_items, methods=["GET"], dependencies=[reader], tags=tags
    )
    app.add_api_route(
        f"/v1/{section}/{{item_id}}", get_item, methods=["GET"], dependencies=[reader], tags=tags
    )
    app.add_api_route(
        f"/v1/{section}/{{item_id}}", put_item, methods=["PUT"], dependencies=[writer], tags=tags
    )
    app.add_api_route(
        f"/v1/{section}/{{item_id}}",
        delete_item,
        methods=["DELETE"],
        dependencies=[writer],
        tags=tags,
    )


def _guard_dashboard(app: FastAPI, keys: KeyRing) -> None:
    """Dashboard pages and /api need a read key when the server is reachable from outside."""

    @app.get("/login", include_in_schema=False)
    def login(key: str) -> RedirectResponse:
        if keys.scope(key) is None:
            raise HTTPException(403, "unknown or revoked API key")
        answer = RedirectResponse("/overview", status_code=303)
        answer.set_cookie(COOKIE, key, httponly=True, samesite="strict")
        return answer

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Any]]) -> Any:
        path = request.url.path
        open_paths = ("/login", "/v1/", "/static/", "/favicon.ico")
        if not path.startswith(open_paths) and keys.scope(_key_of(request)) is None:
            return JSONResponse(
                {"detail": "the dashboard needs a read key: visit /login?key=<key>"},
                status_code=401,
            )
        return await call_next(request)
