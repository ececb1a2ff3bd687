"""The HTTP API of `pushlift serve`, added to the dashboard app (one process, one store).

Write endpoints (events, config changes) need a key with scope 'write'; read endpoints
(feed, metrics, config) need 'read' or 'write'; the gate (`gate.py`) checks the key and the
body's size before the body is read. Bodies are validated strictly (a bool is not an
integer; numbers are finite), then by the engine's event rules; request text never becomes
SQL (all queries are parameterized). Every error answers `{"detail": ...}`: a message, or
for 422 `{"error", "field", "index"}` naming the first problem.

The OpenAPI description is the contract (tests/serve/test_contract.py runs Schemathesis
against it): every status an operation can answer is declared, request bodies carry the
engine's own JSON Schemas, and the rules no schema can state (an event's time against the
clock, ids unique in a batch, references between config sections) are in the descriptions.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel, TypeAdapter
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.routing import Match

from pushlift.engine.config import EngineConfig, Segment, parse_config
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
    by_kind,
    problem_of,
    respond,
)
from pushlift.serve.gate import COOKIE, OPEN_PATHS, Gate
from pushlift.serve.keys import KeyRing
from pushlift.serve.outbox import Feed, WebhookSender, parse_cursor
from pushlift.serve.service import DecisionService
from pushlift.store import Store
from pushlift.web.app import create_app, host_name

# A full event is at most about 800 bytes of JSON, so the largest batch fits.
MAX_BODY_BYTES = 8 << 20
MAX_WAIT_S = 30.0
# '<microseconds>:<id>' as the feed hands them out; 18 digits keep both inside int64.
CURSOR_PATTERN = "^(?:-?[0-9]{1,18}:-?[0-9]{1,18})?$"
SECURITY = [{"bearer": []}, {"apiKey": []}]
# The config sections' item bodies (segments are a union of kinds: SegmentItem).
ITEM_MODELS = {"vendors": "Vendor", "zones": "Zone", "offers": "Offer", "experiments": "Experiment"}
CONFIG_RULES = (
    "Beyond its schema, a config is checked as a whole (422 naming the field): ids unique "
    "within each section; references that exist (an offer's vendor, zone and segments, a "
    "segment's zone or vendor, with a domain for visited_site, an experiment's offers); "
    "each offer has one trigger (a zone, or a first_purchase_of_trip segment); valid_until "
    "after valid_from; an offer in at most one experiment; unique arm names; polygons "
    "simple, of 3 distinct points or more, city-sized, with area."
)


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
    async def refused(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = exc.headers
        if exc.status_code == 405:  # Starlette's Allow names only the first route's methods
            headers = {**(headers or {}), "Allow": ", ".join(_allowed(app, request.scope))}
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


def _allowed(app: FastAPI, scope: dict[str, Any]) -> list[str]:
    """Every method some route of the request's path answers."""
    methods: set[str] = set()
    for route in app.router.routes:
        if route.matches(scope)[0] != Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


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
) -> ServiceApp:
    app = create_app(store)
    app.title = "pushlift"
    app.description = (
        "Real-time decisions over HTTP, with the dashboard on the same store. Every "
        "endpoint under /v1/ except /v1/health needs an API key (Authorization: Bearer "
        f"<key>). Bodies are at most {max_body} bytes; a batch holds at most {MAX_BATCH} "
        "events."
    )
    service.listeners.append(feed.publish)
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
    _complete_openapi(app, [EventIn, EventsIn, EngineConfig])

    @app.get("/v1/notifications", responses=READ, tags=["notifications"])
    async def notifications(
        after: Annotated[str | None, Query(pattern=CURSOR_PATTERN)] = None,
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
    async def stream(
        request: Request,
        after: Annotated[str | None, Query(pattern=CURSOR_PATTERN)] = None,
        last_event_id: Annotated[str | None, Header(pattern=CURSOR_PATTERN)] = None,
    ) -> StreamingResponse:
        """Server-sent events, one per delivered notification; resumes from Last-Event-ID."""
        cursor = last_event_id or after
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
    # Outermost first: the Host allow-list, the gate, the event posts' shortcut, then the
    # FastAPI app. All plain ASGI, so an event post passes through no framework layer.
    front: Any = EventsShortcut(app, service)
    front = Gate(front, keys, max_body, dashboard_needs_key, read_timeout_s)
    if allowed_hosts is not None:
        hosts = [host_name(h) for h in allowed_hosts]
        front = TrustedHostMiddleware(front, allowed_hosts=hosts, www_redirect=False)
    return ServiceApp(app, front)


class ServiceApp:
    """What `pushlift serve` runs: `front` (plain ASGI) in front of the FastAPI `app`,
    whose `state` it shows."""

    def __init__(self, app: FastAPI, front: Any) -> None:
        self.app, self.front, self.state = app, front, app.state

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        await self.front(scope, receive, send)


REF = "#/components/schemas/{model}"


def _complete_openapi(app: FastAPI, models: list[type[BaseModel]]) -> None:
    """Put request models that routes read themselves into the OpenAPI components, the
    config items' bodies (ids optional: the path gives them), and the API keys."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = generate()
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        for model in models:
            schema = model.model_json_schema(ref_template=REF)
            schemas |= schema.pop("$defs", {})
            schemas[model.__name__] = schema
        schemas["EventIn"] = by_kind(schemas["EventIn"])
        segment = TypeAdapter(Segment).json_schema(ref_template=REF)
        for name in [
            *ITEM_MODELS.values(),
            *(r["$ref"].rsplit("/", 1)[1] for r in segment["oneOf"]),
        ]:
            item = copy.deepcopy(schemas[name])
            item["required"] = [f for f in item["required"] if f != "id"]
            item["properties"]["id"]["description"] = "if given, the path's item_id"
            schemas[f"{name}Item"] = item
        schemas["SegmentItem"] = {
            "oneOf": [{"$ref": r["$ref"] + "Item"} for r in segment["oneOf"]],
            "discriminator": {
                "propertyName": "kind",
                "mapping": {k: v + "Item" for k, v in segment["discriminator"]["mapping"].items()},
            },
        }
        spec["components"]["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "Authorization: Bearer <key>",
            },
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }
        for path, operations in spec["paths"].items():
            if path.startswith("/v1/") and path not in OPEN_PATHS:
                for operation in operations.values():
                    operation["security"] = SECURITY
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def _json_body(body: bytes, what: str) -> dict[str, Any]:
    """A request's JSON object, or the 422 every body problem answers."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as e:
        raise HTTPException(422, {"error": f"JSON decode error: {e}", "field": None}) from None
    if not isinstance(data, dict):
        raise HTTPException(422, {"error": f"{what} must be a JSON object", "field": None})
    return data


def _body(schema: str, description: str) -> dict[str, Any]:
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    return {"requestBody": {"required": True, "description": description, "content": content}}


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

    @app.put(
        "/v1/config", responses=WRITE, tags=["config"],
        openapi_extra=_body("EngineConfig", CONFIG_RULES),
    )  # fmt: skip
    async def put_config(request: Request) -> dict[str, Any]:
        """Replace the whole config (validated as a whole; becomes the next version)."""
        body = _json_body(await request.body(), "the config")
        return await run_in_threadpool(
            change, lambda: parse_config(body, "config"), "PUT /v1/config"
        )

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

    async def put_item(item_id: str, request: Request) -> dict[str, Any]:
        body = _json_body(await request.body(), f"a {noun}")
        if body.get("id", item_id) != item_id:
            raise HTTPException(
                422, {"error": "the body's id differs from the path's", "field": "id"}
            )
        item = {**body, "id": item_id}
        return await run_in_threadpool(
            change,
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
    app.add_api_route(
        path, put_item, methods=["PUT"], responses=ITEM, tags=tags,
        summary=f"Add or replace a {noun}",
        openapi_extra=_body(
            f"{ITEM_MODELS.get(section, 'Segment')}Item",
            f"The {noun}; its id, if given, must be the path's (422 otherwise). The config "
            f"with it must validate as a whole. {CONFIG_RULES}",
        ),
    )  # fmt: skip
    app.add_api_route(
        path, delete_item, methods=["DELETE"], responses=ITEM, tags=tags,
        summary=f"Remove a {noun}",
        description=f"404 if there is none; 422 if the config without it does not validate "
        f"(something still refers to it). {CONFIG_RULES}",
    )  # fmt: skip


def _login_route(app: FastAPI, keys: KeyRing) -> None:
    """Off loopback, `/login?key=...` sets the cookie that opens the dashboard pages."""

    @app.get("/login", include_in_schema=False)
    def login(key: str) -> RedirectResponse:
        if keys.scope(key) is None:
            raise HTTPException(403, "unknown or revoked API key")
        answer = RedirectResponse("/overview", status_code=303)
        answer.set_cookie(COOKIE, key, httponly=True, samesite="strict")
        return answer
