"""The HTTP API of `pushlift serve`, added to the dashboard app (one process, one store).

Write endpoints (events, config changes) need a key with scope 'write'; read endpoints
(feed, metrics, config) need 'read' or 'write'; the gate (`gate.py`) checks the key and the
body's size before the body is read. Bodies are validated strictly (a bool is not an
integer; numbers are finite), then by the engine's event rules; request text never becomes
SQL (all queries are parameterized). Every error answers `{"detail": ...}`: a message, or
for 422 `{"error", "field", "index"}` naming the first problem.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from pushlift.engine.config import EngineConfig
from pushlift.errors import InputError
from pushlift.serve import config_versions
from pushlift.serve.events_endpoint import (
    BATCH,
    MAX_BATCH,
    SINGLE,
    BatchDecided,
    Decided,
    EventIn,
    EventsIn,
    EventsShortcut,
    Problem,
    problem_of,
    respond,
)
from pushlift.serve.gate import COOKIE, Gate
from pushlift.serve.keys import KeyRing
from pushlift.serve.outbox import Feed, WebhookSender, parse_cursor
from pushlift.serve.service import DecisionService
from pushlift.store import Store
from pushlift.web.app import create_app

# A full event is at most about 800 bytes of JSON, so the largest batch fits.
MAX_BODY_BYTES = 8 << 20
MAX_WAIT_S = 30.0


class Invalid(BaseModel):
    """422: what is wrong and where."""

    detail: Problem


class Refused(BaseModel):
    """401, 403, 404, 408, 413: why."""

    detail: str


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: {"model": Invalid if c == 422 else Refused} for c in codes}


READ = _responses(401, 403, 408, 413, 422)
WRITE = READ
ITEM = _responses(401, 403, 404, 408, 413, 422)


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": problem_of(exc).model_dump()}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def refused(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)


def create_service_app(
    store: Store,
    service: DecisionService,
    feed: Feed,
    keys: KeyRing,
    *,
    dashboard_needs_key: bool,
    webhook: WebhookSender | None = None,
    max_body: int = MAX_BODY_BYTES,
    read_timeout_s: float = 10.0,
    allowed_hosts: list[str] | None = None,
) -> FastAPI:
    app = create_app(store, allowed_hosts=allowed_hosts)
    app.title = "pushlift"
    app.description = (
        "Real-time decisions over HTTP, with the dashboard on the same store. Every "
        "endpoint under /v1/ except /v1/health needs an API key (Authorization: Bearer "
        f"<key>). Bodies are at most {max_body} bytes; a batch holds at most {MAX_BATCH} "
        "events."
    )
    service.listeners.append(feed.publish)
    # Outermost first: the gate, then the event posts' shortcut, then the routes.
    app.add_middleware(EventsShortcut, service=service)
    app.add_middleware(
        Gate,
        keys=keys,
        max_body=max_body,
        dashboard_needs_key=dashboard_needs_key,
        read_timeout_s=read_timeout_s,
    )
    _error_handlers(app)
    if dashboard_needs_key:
        _login_route(app, keys)

    def post_route(path: str, model: type[BaseModel], answer: type[BaseModel], doc: str) -> None:
        async def post(request: Request) -> Response:
            status, body = await respond(service, await request.body(), path)
            return Response(body, status_code=status, media_type="application/json")

        post.__doc__ = doc
        body_schema = {"$ref": f"#/components/schemas/{model.__name__}"}
        app.add_api_route(
            path, post, methods=["POST"], response_model=answer, responses=WRITE,
            tags=["events"], name=f"post {path}",
            openapi_extra={"requestBody": {"required": True, "content": {
                "application/json": {"schema": body_schema}}}},
        )  # fmt: skip

    post_route(SINGLE, EventIn, Decided, "Decide one event; answered once it is durable.")
    post_route(BATCH, EventsIn, BatchDecided, "Decide up to 10,000 events; results in order.")
    _describe_models(app, [EventIn, EventsIn])

    @app.get("/v1/notifications", responses=READ, tags=["notifications"])
    async def notifications(
        after: str | None = None,
        wait: Annotated[float, Query(ge=0, le=MAX_WAIT_S, allow_inf_nan=False)] = 0.0,
    ) -> dict[str, Any]:
        """Delivered notifications after a cursor (long-poll for up to `wait` seconds)."""
        _check_cursor(after)
        notes, cursor = await run_in_threadpool(feed.wait, after, wait)
        return {"notifications": notes, "cursor": cursor}

    @app.get(
        "/v1/notifications/stream",
        responses={**READ, 200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                                 "description": "one `notification` event per delivery"}},
        response_class=StreamingResponse,
        tags=["notifications"],
    )  # fmt: skip
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

    @app.get("/v1/metrics", responses=READ, tags=["service"])
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
            "loader_error": None if service.loader.error is None else str(service.loader.error),
            "budget_burn": service.budget_burn(),
        }

    @app.get("/v1/health", tags=["service"])
    def health() -> dict[str, Any]:
        return {"ok": True, "config_version": service.version}

    _config_routes(app, store, service)
    return app


def _describe_models(app: FastAPI, models: list[type[BaseModel]]) -> None:
    """Put request models that routes read themselves into the OpenAPI components."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = generate()
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        for model in models:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas |= schema.pop("$defs", {})
            schemas[model.__name__] = schema
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def _check_cursor(cursor: str | None) -> None:
    try:
        parse_cursor(cursor)
    except ValueError as e:
        raise HTTPException(422, {"error": str(e), "field": "after"}) from None


def _config_routes(app: FastAPI, store: Store, service: DecisionService) -> None:
    def change(new: Callable[[], EngineConfig], what: str) -> dict[str, Any]:
        try:
            return {"config_version": service.reconfigure(new(), what)}
        except InputError as e:
            raise HTTPException(422, {"error": e.detail, "field": e.field}) from None

    @app.get("/v1/config", responses=READ, tags=["config"])
    def get_config() -> dict[str, Any]:
        """The live config and its version."""
        return {"version": service.version, "config": config_versions.as_data(service.config)}

    @app.put("/v1/config", responses=WRITE, tags=["config"])
    def put_config(body: dict[str, Any]) -> dict[str, Any]:
        """Replace the whole config (validated as a whole; becomes the next version)."""
        from pushlift.engine.config import parse_config

        return change(lambda: parse_config(body, "config"), "PUT /v1/config")

    @app.get("/v1/config/history", responses=READ, tags=["config"])
    def history() -> list[dict[str, object]]:
        return config_versions.history(store)

    for section in config_versions.SECTIONS:
        _section_routes(app, service, section, change)


def _section_routes(app: FastAPI, service: DecisionService, section: str, change: Any) -> None:
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

    tags: list[str | Any] = [section]
    path = f"/v1/{section}/{{item_id}}"
    app.add_api_route(f"/v1/{section}", list_items, methods=["GET"], responses=READ, tags=tags)
    app.add_api_route(path, get_item, methods=["GET"], responses=ITEM, tags=tags)
    app.add_api_route(path, put_item, methods=["PUT"], responses=ITEM, tags=tags)
    app.add_api_route(path, delete_item, methods=["DELETE"], responses=ITEM, tags=tags)


def _login_route(app: FastAPI, keys: KeyRing) -> None:
    """Off loopback, `/login?key=...` sets the cookie that opens the dashboard pages."""

    @app.get("/login", include_in_schema=False)
    def login(key: str) -> RedirectResponse:
        if keys.scope(key) is None:
            raise HTTPException(403, "unknown or revoked API key")
        answer = RedirectResponse("/overview", status_code=303)
        answer.set_cookie(COOKIE, key, httponly=True, samesite="strict")
        return answer
