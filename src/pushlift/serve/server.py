"""Start `pushlift serve`: one process owning the store, the engine, the API and dashboard."""

from __future__ import annotations

import ipaddress
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from pushlift import ops
from pushlift.engine.config import load_config, parse_duration
from pushlift.errors import PushliftError
from pushlift.ops import ops_path
from pushlift.serve import config_versions
from pushlift.serve.api import MAX_BODY_BYTES, create_service_app
from pushlift.serve.keys import KeyRing
from pushlift.serve.outbox import Feed, WebhookSender
from pushlift.serve.service import DecisionService
from pushlift.store import Store

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
    announce: Callable[[str], None] = print,
) -> None:
    """Serve until SIGINT/SIGTERM; then finish in-flight requests and drain the webhook."""
    store = Store.open(db)  # names the other process if one holds the store
    owner = ops.connect(db)
    ops.claim(owner, "pushlift serve", f"http://{host}:{port}/", snapshots=True)
    try:
        if config is not None:
            engine_config, change = load_config(config), f"--config {config}"
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
        lateness_us = _duration("--allowed-lateness", allowed_lateness)
        skew_us = _duration("--max-skew", max_skew)
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
        )
        if sender is not None:
            sender.start()
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=int(DRAIN_S),
            )
        )
        announce(
            f"pushlift serve: http://{host}:{port}/ (API /v1, OpenAPI /openapi.json, "
            f"dashboard /overview); config version {service.version}"
        )
        with _exit_quietly_after_shutdown():
            server.run()
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


def _duration(option: str, value: str) -> int:
    try:
        return parse_duration(value)
    except ValueError as e:
        raise PushliftError(f"{option}: {e}") from None


@contextmanager
def _exit_quietly_after_shutdown() -> Iterator[None]:
    """uvicorn finishes in-flight requests on SIGINT/SIGTERM, then re-raises the signal to
    the previous handler; ours ends `server.run()` normally so the store is closed cleanly
    (checkpointed) instead of the process dying with the signal."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(_signum: int, _frame: object) -> None:
        raise _Stopped

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    except _Stopped:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Stopped(Exception):
    pass
