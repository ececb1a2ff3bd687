"""The service's front door, as plain ASGI: who may call what, and how much they may send,
decided from the request line and headers before a byte of the body is read.

- `/v1/health` is open; other `GET /v1/...` need a read or write key; anything else under
  `/v1/` needs a write key (401 without a key, 403 with a wrong or too weak one).
- Off loopback, the dashboard pages and their JSON twins need a read key too (a header,
  or the cookie `/login?key=...` sets).
- A body over `max_body` bytes is refused with 413, whether declared or streamed, and a
  body that takes longer than `read_timeout_s` to arrive with 408 (a slow-drip client
  must not hold a connection; the server times out dripped headers).
"""

from __future__ import annotations

import asyncio
import json
from http.cookies import SimpleCookie
from typing import Any

from pushlift.serve.keys import KeyRing

COOKIE = "pushlift_key"
OPEN_PATHS = ("/v1/health",)
DASHBOARD_OPEN = ("/login", "/static/", "/favicon.ico", "/openapi.json")
NO_KEY = (
    "an API key is needed (Authorization: Bearer <key>); create one with `pushlift keys create`"
)


def needed_scope(method: str, path: str) -> str | None:
    """'read', 'write' or None (open) for an API request."""
    if not path.startswith("/v1/") or path in OPEN_PATHS:
        return None
    return "read" if method in ("GET", "HEAD") else "write"


def key_of(headers: dict[bytes, bytes]) -> str | None:
    auth = headers.get(b"authorization", b"").decode("latin-1")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    if b"x-api-key" in headers:
        return headers[b"x-api-key"].decode("latin-1")
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get(b"cookie", b"").decode("latin-1"))
    except Exception:  # noqa: BLE001 - a malformed cookie header is just no key
        return None
    return cookie[COOKIE].value if COOKIE in cookie else None


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass


class Gate:
    """ASGI middleware in front of the service app."""

    def __init__(
        self,
        app: Any,
        keys: KeyRing,
        max_body: int,
        dashboard_needs_key: bool,
        read_timeout_s: float = 10.0,
    ) -> None:
        self.app, self.keys, self.max_body = app, keys, max_body
        self.dashboard_needs_key, self.read_timeout_s = dashboard_needs_key, read_timeout_s

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        refusal = self._refusal(scope["method"], scope["path"], headers)
        if refusal is not None:
            await _answer(send, *refusal)
            return
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body:
            await _answer(send, 413, f"request body over {self.max_body} bytes")
            return
        seen, complete = 0, False
        deadline = asyncio.get_running_loop().time() + self.read_timeout_s

        async def counted() -> dict:
            nonlocal seen, complete
            if complete:  # after the body: disconnect notices, never timed out
                return await receive()
            try:  # a timeout, not wait_for: no task made per message
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise _TooSlow from None
            seen += len(message.get("body", b""))
            if seen > self.max_body:
                raise _TooLarge
            complete = message["type"] != "http.request" or not message.get("more_body")
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _answer(send, 413, f"request body over {self.max_body} bytes")
        except _TooSlow:
            await _answer(send, 408, f"request body not received within {self.read_timeout_s} s")

    def _refusal(
        self, method: str, path: str, headers: dict[bytes, bytes]
    ) -> tuple[int, str] | None:
        need = needed_scope(method, path)
        if need is None and not path.startswith("/v1/") and self.dashboard_needs_key:
            if not path.startswith(DASHBOARD_OPEN) and self.keys.scope(key_of(headers)) is None:
                return 401, "the dashboard needs a read key: visit /login?key=<key>"
            return None
        if need is None:
            return None
        key = key_of(headers)
        granted = self.keys.scope(key)
        if granted is None:
            return (401, NO_KEY) if key is None else (403, "unknown or revoked API key")
        if need == "write" and granted != "write":
            return 403, "this key is read-only; writing needs a 'write' key"
        return None


async def _answer(send: Any, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
        (b"connection", b"close"),  # the unread body, if any, is not ours to drain
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
