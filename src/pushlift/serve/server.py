"""Start `pushlift serve`: one process owning the store, the engine, the API and dashboard."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvloop
from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.server.embed import Server

from pushlift import ops
from pushlift.engine.config import duration_option, load_config
from pushlift.errors import PushliftError
from pushlift.ops import ops_path
from pushlift.serve import config_versions
from pushlift.serve.api import MAX_BODY_BYTES, create_service_app
from pushlift.serve.keys import KeyRing
from pushlift.serve.outbox import Feed, WebhookSender
from pushlift.serve.service import DecisionService
from pushlift.store import Store
from pushlift.web.app import local_hosts

DRAIN_S = 10.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_service(
    db: Path,
    *,
    config: Path | None,
    host: str = "127.0.0.1",
    port: int = 8060,
    webhook: str | None = None,
    max_body: int = MAX_BODY_BYTES,
    allowed_lateness: str = "10s",
    max_skew: str = "5m",
    read_timeout: str = "10s",
    announce: Callable[[str], None] = print,
) -> None:
    """Serve until SIGINT/SIGTERM; then finish in-flight requests and drain the webhook."""
    # Every option is checked before anything is created or opened.
    given = load_config(config) if config is not None else None
    lateness_us = duration_option("--allowed-lateness", allowed_lateness)
    skew_us = duration_option("--max-skew", max_skew)
    read_timeout_s = duration_option("--read-timeout", read_timeout) / 1e6
    if given is None and not Path(db).exists():
        raise PushliftError(f"no store at {db}: start with --config engine.yaml")
    store = Store.open(db)  # names the other process if one holds the store
    owner = ops.connect(db)
    ops.claim(owner, "pushlift serve", f"http://{host}:{port}/", snapshots=True)
    try:
        if given is not None:
            engine_config, change = given, f"--config {config}"
        else:
            current = config_versions.live(store)
            if current is None:
                raise PushliftError(
                    f"{db} has no engine config yet: start with --config engine.yaml"
                )
            engine_config, change = current[1], "restart"
        keys = KeyRing(db)
        if not len(keys):
            announce(
                "warning: no API keys yet, so every write is refused until you run "
                "`pushlift keys create NAME` (it works while the service runs)"
            )
        service = DecisionService(
            store,
            engine_config,
            change,
            ops_path(db),
            allowed_lateness_us=lateness_us,
            max_skew_us=skew_us,
        )
        feed = Feed(store, ops_path(db))
        sender = WebhookSender(store, feed, webhook) if webhook else None
        app = create_service_app(
            store,
            service,
            feed,
            keys,
            dashboard_needs_key=not is_loopback(host),
            webhook=sender,
            max_body=max_body,
            read_timeout_s=read_timeout_s,
            allowed_hosts=local_hosts(host) if is_loopback(host) else None,
        )
        if sender is not None:
            sender.start()
        announce(
            f"pushlift serve: http://{host}:{port}/ (API /v1, OpenAPI /openapi.json, "
            f"dashboard /overview); config version {service.version}"
        )
        try:
            _serve_http(app, host, port, read_timeout_s)
        finally:
            if sender is not None:
                sender.close(DRAIN_S)
            # No thread may still be querying when the store closes (DuckDB aborts otherwise).
            service.close()
            if app.state.warm.is_alive():
                app.state.warm.join(timeout=60)
    finally:
        ops.release(owner)
        owner.close()
        store.close()


def _serve_http(app: Any, host: str, port: int, read_timeout_s: float) -> None:
    """Serve `app` in this process (the engine is here) until SIGINT/SIGTERM, then let the
    requests in flight finish.

    granian's embedded server (Rust HTTP/1.1 on this thread's event loop) is as fast as
    uvicorn in `benchmarks/http_stack.py` and, unlike it, times out clients that drip their
    headers and caps header size; the gate times out dripped bodies."""
    settings = HTTP1Settings(header_read_timeout=int(read_timeout_s * 1000))
    server = Server(
        app, address=host, port=port, interface=Interfaces.ASGI, http=HTTPModes.http1,
        http1_settings=settings, websockets=False, log_enabled=False, backlog=1024,
    )  # fmt: skip

    async def main() -> None:
        # Everything loaded at start (modules, the engine's state) is permanent: keeping it out
        # of the collector's reach removed 80-150 ms full collections from the p99
        # (benchmarks/http_stack.py).
        gc.collect()
        gc.freeze()
        loop = asyncio.get_running_loop()
        in_main = threading.current_thread() is threading.main_thread()
        if in_main:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, server.stop)
        try:
            await server.serve()
        finally:
            if in_main:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)

    try:
        uvloop.run(main())
    except OSError as e:
        raise PushliftError(f"cannot serve on {host}:{port}: {e.strerror or e}") from None
