"""The dashboard as a FastAPI app: `create_app(store)`; the HTTP service extends it.

Every page is rendered from the same dict its JSON twin returns. `/api/version` changes
whenever the data behind the pages change; pages poll it and refresh their numbers.

`allowed_hosts` answers 400 to requests whose Host header is not listed: a page on another
site cannot read the dashboard by pointing its own name at 127.0.0.1 (DNS rebinding).
"""

from __future__ import annotations

import contextlib
import ipaddress
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from pushlift.errors import PushliftError
from pushlift.store import Store
from pushlift.web.csv_tables import to_csv
from pushlift.web.db import Database
from pushlift.web.follow import Follower
from pushlift.web.pages import PAGES, Page, public
from pushlift.web.render import render_page

STATIC = Path(__file__).parent / "static"
ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    '<circle cx="8" cy="8" r="7" fill="#3b7dd8"/></svg>'
)
# Host names that always reach a dashboard on this machine (any port).
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def host_name(host: str) -> str:
    """A host as the Host header names it, without its port: lower case, an IPv6 address
    in brackets."""
    host = host.strip().lower()
    if "*" in host[1:] or (host.startswith("*") and host != "*" and not host.startswith("*.")):
        raise ValueError(f"allowed host {host!r}: a wildcard is '*' or like '*.example.com'")
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(bare).version == 6:
            return f"[{bare}]"
    if ":" in host:
        raise ValueError(f"allowed host {host!r}: give the name without a port (any port works)")
    return host


def local_hosts(bound: str | None = None, extra: Iterable[str] = ()) -> list[str]:
    """The Host names a dashboard bound to `bound` answers by default: localhost,
    127.0.0.1 and [::1], the bound address itself, and `extra` ('*' for any host,
    '*.example.com' for its subdomains)."""
    names = [*LOCAL_HOSTS, *([bound] if bound else []), *extra]
    return list(dict.fromkeys(host_name(h) for h in names if h.strip()))


def create_app(
    store: Store,
    *,
    follower: Follower | None = None,
    warm: bool = True,
    allowed_hosts: Sequence[str] | None = None,
) -> FastAPI:
    """The dashboard on `store`. With a `follower`, the engine writes while pages are served.

    `warm` computes the slow analyses (mall experiment, engagement) in the background at
    start, so the first visit to those pages does not wait for them. `allowed_hosts`: the
    Host header names answered (any port; see `local_hosts`); others get 400. None checks
    no Host: pass `local_hosts(bound_address)` for a server on a loopback address."""
    app = FastAPI(title="pushlift dashboard", docs_url="/api/docs", redoc_url=None)
    if allowed_hosts is not None:
        app.add_middleware(
            TrustedHostMiddleware,
            allowed_hosts=[host_name(h) for h in allowed_hosts],
            www_redirect=False,
        )
    db = Database(store)
    app.state.db = db
    app.state.follower = follower
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def version() -> dict[str, Any]:
        # One read of the counts for both: read twice, a commit in between gave a version
        # older than its counts, which a client waiting for those counts never saw again.
        counts = db.counts()
        return {
            "version": db.version(counts=counts),
            "counts": counts,
            "follow": follower.status.to_dict() if follower else None,
        }

    @app.get("/api/health")
    def health() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/api/version")
    def api_version() -> dict[str, Any]:
        """The data version: pages refresh when it changes."""
        return version()

    @app.get("/api")
    def api_index() -> dict[str, Any]:
        return {"pages": {f"/api/{p.name}": p.about for p in PAGES}, "version": "/api/version"}

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(ICON, media_type="image/svg+xml")

    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("/overview")

    for page in PAGES:
        _add_page(app, db, page, version)

    # Kept on the app so the process can wait for it before closing the store.
    app.state.warm = threading.Thread(target=_warm, args=(db,), daemon=True, name="pushlift-warm")
    if warm:
        app.state.warm.start()
    return app


class CsvResponse(Response):
    media_type = "text/csv"


NO_TABLE = {
    "description": "the page has no table of that name (or none at all)",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error": {"type": "string"}},
                "required": ["error"],
            }
        }
    },
}


def _add_page(app: FastAPI, db: Database, page: Page, version: Any) -> None:
    def data(request: Request) -> dict[str, Any]:
        return page.build(db, dict(request.query_params))

    def html(request: Request) -> HTMLResponse:
        live = version()  # taken before the data: a newer page only triggers one more refresh
        try:
            body = render_page(
                page.template,
                r={"title": page.label},
                p=data(request),
                page=page,
                pages=PAGES,
                live=live,
                query=request.url.query,
            )
        except PushliftError as e:
            body = render_page(
                "message.html",
                r={"title": page.label},
                message=str(e),
                page=page,
                pages=PAGES,
                live=live,
                query="",
            )
            return HTMLResponse(body, status_code=404)
        return HTMLResponse(body)

    def twin(request: Request) -> JSONResponse:
        try:
            return JSONResponse(public(data(request)))
        except PushliftError as e:
            return JSONResponse({"error": str(e)}, status_code=404)

    def table(request: Request, table: str | None = None) -> Response:
        try:
            text, name = to_csv(public(data(request)), table)
        except PushliftError as e:
            return JSONResponse({"error": str(e)}, status_code=404)
        filename = f"{page.name}-{name}.csv".replace('"', "")
        return CsvResponse(
            text, headers={"content-disposition": f'attachment; filename="{filename}"'}
        )

    html.__doc__ = twin.__doc__ = page.about
    table.__doc__ = f"{page.about}: one table as CSV (?table=KEY, the JSON twin's list)"
    app.add_api_route(f"/{page.name}", html, methods=["GET"], include_in_schema=False)
    app.add_api_route(f"/api/{page.name}", twin, methods=["GET"], name=f"api_{page.name}")
    app.add_api_route(
        f"/api/{page.name}.csv",
        table,
        methods=["GET"],
        name=f"api_{page.name}_csv",
        response_class=CsvResponse,
        responses={404: NO_TABLE},
    )


def _warm(db: Database) -> None:
    """Compute the cached analyses once, so first visits are fast (errors show later)."""
    for page in PAGES:
        with contextlib.suppress(Exception):  # the page itself reports any problem
            page.build(db, {})
