"""Serve the dashboard with uvicorn: `pushlift dashboard`."""

from __future__ import annotations

import threading
import time
import webbrowser
from collections.abc import Callable, Sequence
from pathlib import Path

import uvicorn

from pushlift import ops
from pushlift.errors import PushliftError
from pushlift.store import Store, StoreBusy
from pushlift.web.app import create_app, local_hosts
from pushlift.web.follow import Follower


def serve(
    db: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8050,
    open_browser: bool = True,
    config: Path | None = None,
    follow: str | None = None,
    allow_hosts: Sequence[str] = (),
    announce: Callable[[str], None] = print,
) -> None:
    """Serve the dashboard on the store at `db` until interrupted.

    With `config` and `follow` ('-' for NDJSON on stdin, or an event file), the engine
    decides on that stream in this process while the pages update live. Requests must
    name localhost, 127.0.0.1, [::1], `host` or one of `allow_hosts` in their Host header
    (400 otherwise: no DNS rebinding)."""
    follower = None
    plan = None
    if follow is not None:
        from pushlift.engine.config import load_config
        from pushlift.engine.plan import Plan

        if config is None:
            raise ValueError("--follow needs --config (the engine config to decide with)")
        plan = Plan(load_config(config))
    try:
        store = Store.open(db)
    except StoreBusy as busy:  # another process owns the file (one writer per file)
        owner = ops.owner(db)
        if owner is not None and owner.url:
            raise PushliftError(
                f"{db} is served live by {owner.describe()}: its dashboard is at "
                f"{owner.url}overview"
            ) from None
        raise PushliftError(
            f"{busy}; or run the engine inside the dashboard with --config and --follow"
        ) from None
    try:
        if plan is not None and follow is not None:
            # The engine gets its own cursor: DuckDB connections are not shared by threads.
            follower = Follower(store.cursor(), plan, follow)
        hosts = local_hosts(host, allow_hosts)
        app = create_app(store, follower=follower, allowed_hosts=hosts)
        server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
        )
        url = f"http://{host}:{port}/"
        if follower is not None:
            follower.start()
        threading.Thread(
            target=_when_started, args=(server, url, open_browser, announce), daemon=True
        ).start()
        server.run()
        # No thread may still be querying when the store closes (DuckDB aborts otherwise).
        if app.state.warm.is_alive():
            app.state.warm.join(timeout=60)
    finally:
        # An engine still deciding (stdin left open) is mid-write: leave its transaction to
        # DuckDB's recovery rather than closing the connection under it.
        if follower is None or not follower.status.running:
            store.close()


def _when_started(
    server: uvicorn.Server, url: str, open_browser: bool, announce: Callable[[str], None]
) -> None:
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.05)
    announce(f"dashboard: {url}  (JSON: {url}api; Ctrl+C to stop)")
    if open_browser:
        webbrowser.open(url)
