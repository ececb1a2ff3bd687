"""HTTP server stacks for the event API, measured side by side (not the real service).

Each stack serves the same endpoints from a minimal app in its own subprocess on
127.0.0.1 (a free port):
  POST /v1/events        one ~160-byte event  -> ~155-byte JSON answer
  POST /v1/events/batch  {"events": [500 events]} (~84 KB) -> {"results": [500 answers]}
  GET  /v1/health        the server's own view: GC pauses, journal groups (not timed)
Per request the handler does what the real one will: check the API key header and the
declared body size, read the body, parse and validate the JSON, hand the events to ONE
journal thread through a queue and await its answer, then serialize the answer. The
journal thread stands for the group-commit journal the real service will have: it takes
every request that is ready at once, "decides" each event (parses its time, builds the
answer), sleeps ~0.1 ms (one fsync per group) and resolves the group's futures with one
`loop.call_soon_threadsafe` per event loop. Every server process first imports the real
service's modules (`pushlift.serve.server`: engine, store, dashboard), so that its garbage
collector has the real heap to walk, and calls gc.freeze() once the app is built, unless
the stack says "no gc.freeze" / "(today)".

Stacks (see STACKS): FastAPI + pydantic (today's models, key dependency and BodyLimit
middleware) on uvicorn h11 + asyncio (today), with gc.freeze, on httptools + uvloop and on
granian; Starlette routing with orjson responses; a raw ASGI app (orjson, hand-written
validation, bytes out) on uvicorn + uvloop + httptools and on granian (ASGI; the
multi-process supervisor and the embedded in-process server); the raw app on granian's
RSGI interface; the raw app with msgspec typed decoding; 1 vs 2 granian runtime threads;
1 vs 2 worker processes (a real service has ONE engine, so 1 worker process: the 2-worker
rows, each worker with its own journal, only show what the cores could do).

Load generator: asyncio on uvloop, raw sockets (asyncio.Protocol): each keep-alive
connection writes a pre-built HTTP/1.1 request and reads the answer by Content-Length,
closed loop, a fixed number of requests (FastAPI stacks: 30% of it, they are ~5x slower).
Clients are separate processes (`--client-procs`, default 1) started beside the server;
they connect and warm up, then start on a common signal. Reported per stack and phase:
requests/s, events/s, client-side latency p50/p99/p99.9, errors (non-200, missing
Content-Length, disconnects, timeouts), CPU seconds of the server process tree (all its
threads and worker processes) and per event, of the client processes, machine-wide busy
CPU (/proc/stat) and what of it other processes used ("other": this machine may be
shared), load averages, thread counts, GC collections and pauses and journal group sizes
inside the server. Stacks run in `--rounds` interleaved rounds; the table shows each
stack's best round by events/s (all rounds are in the JSON). After each stack the server
gets SIGTERM: exit code and time to exit are recorded.

Probes (`--probes`, a few stacks): an idle connection, headers dripped a line per 0.5 s,
a body dripped a byte per 0.5 s, a declared 2 MB body, a chunked body of 64 KB pieces,
headers growing 64 KB per 10 ms (when does the server answer or close?), and SIGTERM while
32 clients post (what happens to requests in flight; the apps count what they took in
and answered).

Bounded and loopback-only: fixed request counts, a per-phase timeout, 6 s probes, every
subprocess ended. About 4-5 minutes with the defaults on 2 cores.

Run: .venv/bin/python benchmarks/http_stack.py [--single 15000] [--conns 32]
     [--batches 300] [--batch-size 500] [--batch-conns 4] [--client-procs 1]
     [--rounds 2] [--stacks a,b,...] [--probes "name;name"] [--out PATH]
"""

import argparse
import asyncio
import gc
import json
import os
import queue
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
API_KEY = "bench-write-key"
AUTH = f"Bearer {API_KEY}"
AUTH_B = AUTH.encode()
MAX_BODY = 1 << 20
MAX_BATCH = 10_000
BODY_TIMEOUT_S = 5.0  # a body not all there in this time is refused with 408 (slow drip)
HEADER_TIMEOUT_MS = 3000  # granian: headers not all there in this time -> connection closed
FSYNC_S = 0.0001
KINDS = frozenset({"location", "purchase", "site_visit"})
FIELDS = frozenset(
    {
        "event_id",
        "kind",
        "subscriber_id",
        "time",
        "lat",
        "lon",
        "vendor_id",
        "amount_cents",
        "domain",
    }
)

# name -> server kind, app kind, options. Every server process imports the real service's
# modules first (heap="pushlift": its garbage collector walks what the real one would) and
# calls gc.freeze() once the app is built, unless the stack says otherwise.
UV = {"server": "uvicorn", "loop": "uvloop", "http": "httptools"}
GR = {"server": "granian", "interface": "asgi"}
FA = {"app": "fastapi", "scale": 0.3}  # ~5x slower: fewer requests keep the run short
STACKS: dict[str, dict[str, Any]] = {
    "fastapi/uvicorn h11+asyncio (today)": {
        **FA,
        "server": "uvicorn",
        "loop": "asyncio",
        "http": "h11",
        "gc_freeze": False,
    },
    "fastapi/uvicorn h11+asyncio gc.freeze": {
        **FA,
        "server": "uvicorn",
        "loop": "asyncio",
        "http": "h11",
    },
    "fastapi/uvicorn httptools+uvloop": {**FA, **UV},
    "fastapi/granian asgi": {**FA, **GR},
    "starlette+orjson/uvicorn httptools+uvloop": {**UV, "app": "starlette"},
    "raw-asgi/uvicorn httptools+uvloop": {**UV, "app": "raw"},
    "raw-asgi/uvicorn httptools+uvloop no gc.freeze": {**UV, "app": "raw", "gc_freeze": False},
    "raw-asgi/uvicorn httptools+uvloop 2 workers": {**UV, "app": "raw", "workers": 2},
    "msgspec-asgi/uvicorn httptools+uvloop": {**UV, "app": "msgspec"},
    "raw-asgi/granian asgi": {**GR, "app": "raw"},
    "raw-asgi/granian asgi 2 rt threads": {**GR, "app": "raw", "runtime_threads": 2},
    "raw-asgi/granian asgi 2 workers": {**GR, "app": "raw", "workers": 2},
    "raw-asgi/granian embedded (in-process)": {**GR, "server": "granian-embed", "app": "raw"},
    "raw-rsgi/granian rsgi": {"server": "granian", "interface": "rsgi", "app": "rsgi"},
}


# ---------------------------------------------------------------------------------------
# The journal: one writer thread, group commit
# ---------------------------------------------------------------------------------------


def decide(ev: dict[str, Any]) -> dict[str, Any]:
    """The per-event 'engine' work, the same for every stack: parse the time, answer."""
    eid = ev["event_id"]
    at = datetime.fromisoformat(ev["time"])
    n = eid % 1000
    return {
        "event_id": eid,
        "outcome": "notified",
        "notification": {
            "vendor_id": f"v{n:04d}",
            "offer_id": f"o{n:04d}",
            "title": "10% off nearby",
            "at_us": int(at.timestamp() * 1_000_000),
        },
    }


def _resolve(pairs: list[tuple[asyncio.Future, list[dict[str, Any]]]]) -> None:
    for fut, answers in pairs:
        if not fut.done():  # the request may have been cancelled (client gone)
            fut.set_result(answers)


class Journal:
    """One writer thread: takes all ready requests, decides, one 'fsync', answers all."""

    def __init__(self, fsync_s: float = FSYNC_S) -> None:
        self.q: queue.SimpleQueue = queue.SimpleQueue()
        self.fsync_s = fsync_s
        self.groups = self.requests = 0
        self.thread = threading.Thread(target=self._run, name="journal", daemon=True)
        self.thread.start()

    def submit(self, events: list[dict[str, Any]]) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self.q.put((loop, fut, events))
        return fut

    def close(self) -> None:
        self.q.put(None)
        self.thread.join(5)

    def _run(self) -> None:
        q = self.q
        while True:
            item = q.get()
            group = [item]
            while True:
                try:
                    group.append(q.get_nowait())
                except queue.Empty:
                    break
            stop = any(g is None for g in group)
            group = [g for g in group if g is not None]
            by_loop: dict[Any, list] = {}
            for loop, fut, events in group:
                by_loop.setdefault(loop, []).append((fut, [decide(e) for e in events]))
            time.sleep(self.fsync_s)  # one fsync for the group
            for loop, pairs in by_loop.items():
                try:  # noqa: SIM105
                    loop.call_soon_threadsafe(_resolve, pairs)
                except RuntimeError:  # loop closed during shutdown
                    pass
            self.groups += 1
            self.requests += len(group)
            if stop:
                return


_JOURNAL: Journal | None = None
# requests handed to the journal / answered; written to stderr at shutdown, so the SIGTERM
# probe can tell whether a request the app had taken in was left unanswered
COUNTS = {"submitted": 0, "answered": 0}


def report_counts() -> None:
    sys.stderr.write(f"counts {json.dumps({**COUNTS, 'pid': os.getpid()})}\n")
    sys.stderr.flush()


_JOURNAL_LOCK = threading.Lock()


def journal() -> Journal:
    """One journal per process, started on first use (works whether a server forks
    workers or not, and whatever lifespan support it has)."""
    global _JOURNAL
    j = _JOURNAL
    if j is None:
        with _JOURNAL_LOCK:
            if _JOURNAL is None:
                _JOURNAL = Journal()
            j = _JOURNAL
    return j


# ---------------------------------------------------------------------------------------
# Validation without a framework
# ---------------------------------------------------------------------------------------


def check_event(d: Any, where: str = "") -> str | None:
    """The rules of pushlift's EventIn, by hand: None when valid, else the message."""
    if type(d) is not dict:
        return f"{where}an event must be an object"
    if not d.keys() <= FIELDS:
        return f"{where}unknown field(s) {sorted(d.keys() - FIELDS)}"
    eid = d.get("event_id")
    if type(eid) is not int or eid < 0:
        return f"{where}event_id: a non-negative integer is needed"
    if d.get("kind") not in KINDS:
        return f"{where}kind: one of {sorted(KINDS)}"
    if type(d.get("subscriber_id")) is not int:
        return f"{where}subscriber_id: an integer is needed"
    if type(d.get("time")) is not str:
        return f"{where}time: an ISO 8601 string is needed"
    for f in ("lat", "lon"):
        v = d.get(f)
        if v is not None and type(v) is not float and type(v) is not int:
            return f"{where}{f}: a number is needed"
    v = d.get("amount_cents")
    if v is not None and type(v) is not int:
        return f"{where}amount_cents: an integer is needed"
    for f in ("vendor_id", "domain"):
        v = d.get(f)
        if v is not None and type(v) is not str:
            return f"{where}{f}: a string is needed"
    return None


def check_batch(d: Any) -> str | None:
    if type(d) is not dict or d.keys() != {"events"} or type(d["events"]) is not list:
        return 'a batch is {"events": [...]}'
    events = d["events"]
    if not 1 <= len(events) <= MAX_BATCH:
        return f"events: 1 to {MAX_BATCH} events"
    for i, e in enumerate(events):
        err = check_event(e, f"events[{i}].")
        if err:
            return err
    return None


# ---------------------------------------------------------------------------------------
# Apps
# ---------------------------------------------------------------------------------------

JSON_CT = (b"content-type", b"application/json")


# Garbage-collector pauses, measured in the server (reported by /v1/health).
GC_STATS: dict[str, list] = {
    "collections": [0, 0, 0],
    "pause_ms_total": [0.0] * 3,
    "pause_ms_max": [0.0] * 3,
}
_gc_t0 = 0.0


def _gc_callback(phase: str, info: dict) -> None:
    global _gc_t0
    if phase == "start":
        _gc_t0 = time.perf_counter()
        return
    g, ms = info["generation"], (time.perf_counter() - _gc_t0) * 1000
    GC_STATS["collections"][g] += 1
    GC_STATS["pause_ms_total"][g] += ms
    if ms > GC_STATS["pause_ms_max"][g]:
        GC_STATS["pause_ms_max"][g] = ms


def health_body() -> bytes:
    j = _JOURNAL
    return json.dumps(
        {
            "status": "ok",
            "pid": os.getpid(),
            "gc": GC_STATS,
            "gc_objects_tracked": len(gc.get_objects())
            if os.environ.get("HTTP_STACK_COUNT")
            else None,
            "gc_frozen": gc.get_freeze_count(),
            "journal": {"groups": j.groups, "requests": j.requests} if j else None,
            "switchinterval_s": sys.getswitchinterval(),
            "modules_loaded": len(sys.modules),
        }
    ).encode()


def _err_body(msg: str) -> bytes:
    import orjson

    return orjson.dumps({"detail": msg})


async def _asgi_send(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [JSON_CT, (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _asgi_lifespan(receive: Any, send: Any) -> None:
    while True:
        msg = await receive()
        if msg["type"] == "lifespan.startup":
            journal()
            await send({"type": "lifespan.startup.complete"})
        elif msg["type"] == "lifespan.shutdown":
            if _JOURNAL is not None:
                _JOURNAL.close()
            report_counts()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _asgi_body(receive: Any) -> bytes | None:
    """The whole body, or None when it is over MAX_BODY; TimeoutError when it is not all
    there within BODY_TIMEOUT_S (the servers' own timeouts do not cover the body)."""
    parts, size = [], 0
    async with asyncio.timeout(BODY_TIMEOUT_S):
        while True:
            msg = await receive()
            if msg["type"] != "http.request":
                raise ConnectionError("client gone")
            chunk = msg.get("body", b"")
            if not parts and not msg.get("more_body"):
                return chunk  # the common case: all of it in one message
            size += len(chunk)
            if size > MAX_BODY:
                return None
            parts.append(chunk)
            if not msg.get("more_body"):
                return b"".join(parts)


def make_raw_asgi(codec: str = "orjson") -> Any:
    """ASGI app with no framework on the hot path."""
    import orjson

    if codec == "msgspec":
        from typing import Annotated, Literal

        import msgspec

        class EventS(msgspec.Struct, forbid_unknown_fields=True):
            event_id: Annotated[int, msgspec.Meta(ge=0)]
            kind: Literal["location", "purchase", "site_visit"]
            subscriber_id: int
            time: str
            lat: float | None = None
            lon: float | None = None
            vendor_id: str | None = None
            amount_cents: int | None = None
            domain: str | None = None

        class BatchS(msgspec.Struct, forbid_unknown_fields=True):
            events: Annotated[list[EventS], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]

        dec_one, dec_batch = msgspec.json.Decoder(EventS), msgspec.json.Decoder(BatchS)
        asdict, encode = msgspec.structs.asdict, msgspec.json.Encoder().encode

        def parse_one(body: bytes) -> list[dict[str, Any]]:
            return [asdict(dec_one.decode(body))]

        def parse_batch(body: bytes) -> list[dict[str, Any]]:
            return [asdict(e) for e in dec_batch.decode(body).events]

        bad = (msgspec.ValidationError, msgspec.DecodeError)
    else:
        encode = orjson.dumps

        def parse_one(body: bytes) -> list[dict[str, Any]]:
            d = orjson.loads(body)
            err = check_event(d)
            if err:
                raise ValueError(err)
            return [d]

        def parse_batch(body: bytes) -> list[dict[str, Any]]:
            d = orjson.loads(body)
            err = check_batch(d)
            if err:
                raise ValueError(err)
            return d["events"]

        bad = (ValueError,)  # orjson.JSONDecodeError is a ValueError

    async def app(scope: dict, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "lifespan":
                await _asgi_lifespan(receive, send)
            return
        path = scope["path"]
        if path == "/v1/health":
            await _asgi_send(send, 200, health_body())
            return
        if scope["method"] != "POST" or path not in ("/v1/events", "/v1/events/batch"):
            await _asgi_send(send, 404, b'{"detail":"not found"}')
            return
        auth = clen = None
        for k, v in scope["headers"]:
            if k == b"authorization":
                auth = v
            elif k == b"content-length":
                clen = v
        if auth != AUTH_B:
            await _asgi_send(send, 401, b'{"detail":"an API key is needed"}')
            return
        if clen is not None and (not clen.isdigit() or int(clen) > MAX_BODY):
            await _asgi_send(send, 413, b'{"detail":"request body too large"}')
            return
        try:
            body = await _asgi_body(receive)
        except TimeoutError:
            await _asgi_send(send, 408, b'{"detail":"request body too slow"}')
            return
        except ConnectionError:
            return
        if body is None:
            await _asgi_send(send, 413, b'{"detail":"request body too large"}')
            return
        single = path == "/v1/events"
        try:
            events = parse_one(body) if single else parse_batch(body)
        except bad as e:
            await _asgi_send(send, 422, _err_body(str(e)))
            return
        COUNTS["submitted"] += 1
        answers = await journal().submit(events)
        await _asgi_send(send, 200, encode(answers[0] if single else {"results": answers}))
        COUNTS["answered"] += 1

    return app


class RawRSGI:
    """The raw app on granian's RSGI interface."""

    def __init__(self) -> None:
        import orjson

        self.loads, self.dumps = orjson.loads, orjson.dumps
        self.hdrs = [("content-type", "application/json")]

    def __rsgi_init__(self, loop: Any) -> None:
        journal()

    def __rsgi_del__(self, loop: Any) -> None:
        if _JOURNAL is not None:
            _JOURNAL.close()
        report_counts()

    async def _body(self, proto: Any, declared: bool) -> bytes | None:
        # `await proto()` reads the whole body with no limit of its own: only after the
        # declared Content-Length was checked; a chunked body is read piece by piece.
        async with asyncio.timeout(BODY_TIMEOUT_S):
            if declared:
                return await proto()
            parts, size = [], 0
            async for chunk in proto:
                size += len(chunk)
                if size > MAX_BODY:
                    return None
                parts.append(chunk)
            return b"".join(parts)

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        path, hdrs = scope.path, self.hdrs
        if path == "/v1/health":
            proto.response_bytes(200, hdrs, health_body())
            return
        if scope.method != "POST" or path not in ("/v1/events", "/v1/events/batch"):
            proto.response_bytes(404, hdrs, b'{"detail":"not found"}')
            return
        h = scope.headers
        if h.get("authorization") != AUTH:
            proto.response_bytes(401, hdrs, b'{"detail":"an API key is needed"}')
            return
        clen = h.get("content-length")
        if clen is not None and (not clen.isdigit() or int(clen) > MAX_BODY):
            proto.response_bytes(413, hdrs, b'{"detail":"request body too large"}')
            return
        try:
            body = await self._body(proto, clen is not None)
        except TimeoutError:
            proto.response_bytes(408, hdrs, b'{"detail":"request body too slow"}')
            return
        if body is None:
            proto.response_bytes(413, hdrs, b'{"detail":"request body too large"}')
            return
        single = path == "/v1/events"
        try:
            d = self.loads(body)
            err = check_event(d) if single else check_batch(d)
        except ValueError as e:
            err = str(e)
        if err:
            proto.response_bytes(422, hdrs, _err_body(err))
            return
        COUNTS["submitted"] += 1
        answers = await journal().submit([d] if single else d["events"])
        proto.response_bytes(200, hdrs, self.dumps(answers[0] if single else {"results": answers}))
        COUNTS["answered"] += 1


def make_starlette() -> Any:
    import orjson
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    def answer(status: int, body: bytes) -> Response:
        return Response(body, status_code=status, media_type="application/json")

    async def handle(request: Request, single: bool) -> Response:
        if request.headers.get("authorization") != AUTH:
            return answer(401, b'{"detail":"an API key is needed"}')
        clen = request.headers.get("content-length")
        if clen is not None and (not clen.isdigit() or int(clen) > MAX_BODY):
            return answer(413, b'{"detail":"request body too large"}')
        body = await request.body()
        try:
            d = orjson.loads(body)
            err = check_event(d) if single else check_batch(d)
        except ValueError as e:
            err = str(e)
        if err:
            return answer(422, _err_body(err))
        answers = await journal().submit([d] if single else d["events"])
        return answer(200, orjson.dumps(answers[0] if single else {"results": answers}))

    async def one(request: Request) -> Response:
        return await handle(request, True)

    async def batch(request: Request) -> Response:
        return await handle(request, False)

    async def health(request: Request) -> Response:
        return answer(200, health_body())

    return Starlette(
        routes=[
            Route("/v1/events", one, methods=["POST"]),
            Route("/v1/events/batch", batch, methods=["POST"]),
            Route("/v1/health", health, methods=["GET"]),
        ]
    )


class _TooLarge(Exception):
    pass


class BodyLimit:
    """pushlift's ASGI middleware as of 19a6fe7 (copied so that this script does not depend
    on the service's code): refuse bodies over `limit` bytes with 413, declared or streamed."""

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


def make_fastapi() -> Any:
    """The FastAPI way (pushlift serve as of 19a6fe7): pydantic models in and out, the key
    as a (sync) dependency, the BodyLimit middleware."""
    from typing import Literal

    from fastapi import Depends, FastAPI, HTTPException, Request, Response
    from pydantic import BaseModel, ConfigDict, Field

    class EventIn(BaseModel):
        model_config = ConfigDict(extra="forbid")
        event_id: int = Field(ge=0)
        kind: Literal["location", "purchase", "site_visit"]
        subscriber_id: int
        time: str
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
        outcome: str
        notification: dict[str, Any] | None

    class BatchDecided(BaseModel):
        results: list[Decided]

    def need_key(request: Request) -> None:
        if request.headers.get("authorization") != AUTH:
            raise HTTPException(401, "an API key is needed")

    app = FastAPI()
    app.add_middleware(BodyLimit, limit=MAX_BODY)
    writer = Depends(need_key)

    @app.post("/v1/events", response_model=Decided, dependencies=[writer])
    async def post_event(event: EventIn) -> dict[str, Any]:
        return (await journal().submit([event.model_dump()]))[0]

    @app.post("/v1/events/batch", response_model=BatchDecided, dependencies=[writer])
    async def post_events(body: EventsIn) -> dict[str, Any]:
        return {"results": await journal().submit([e.model_dump() for e in body.events])}

    @app.get("/v1/health")
    async def health() -> Response:
        return Response(health_body(), media_type="application/json")

    return app


def make_app() -> Any:
    """Factory used by every server (also in forked/spawned workers): the app named in
    HTTP_STACK_APP."""
    kind = os.environ.get("HTTP_STACK_APP", "raw")
    if os.environ.get("HTTP_STACK_HEAP") == "pushlift":
        # the real service's process holds all of this (engine, store, dashboard): its
        # objects are what a full garbage collection walks
        import pushlift.serve.api  # noqa: F401
        import pushlift.serve.server  # noqa: F401
    si = float(os.environ.get("HTTP_STACK_SWITCH_INTERVAL", "0") or 0)
    if si:
        sys.setswitchinterval(si)
    if _gc_callback not in gc.callbacks:
        gc.callbacks.append(_gc_callback)
    if kind == "fastapi":
        app = make_fastapi()
    elif kind == "starlette":
        app = make_starlette()
    elif kind == "rsgi":
        app = RawRSGI()
    elif kind == "msgspec":
        app = make_raw_asgi("msgspec")
    else:
        app = make_raw_asgi("orjson")
    if os.environ.get("HTTP_STACK_GC_FREEZE") == "1":
        # everything imported so far (pushlift pulls in duckdb, numpy, ...) leaves the
        # collector's generations: full collections no longer walk it
        gc.collect()
        gc.freeze()
    return app


# ---------------------------------------------------------------------------------------
# Server subprocess
# ---------------------------------------------------------------------------------------


def serve(spec: dict[str, Any], port: int) -> None:
    os.environ["HTTP_STACK_APP"] = spec["app"]
    os.environ["HTTP_STACK_GC_FREEZE"] = "1" if spec.get("gc_freeze", True) else "0"
    os.environ["HTTP_STACK_HEAP"] = spec.get("heap", "pushlift")
    os.environ["HTTP_STACK_SWITCH_INTERVAL"] = str(spec.get("switch_interval", ""))
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    server, workers = spec["server"], spec.get("workers", 1)
    if server == "uvicorn":
        import uvicorn

        kw = dict(
            host="127.0.0.1",
            port=port,
            loop=spec["loop"],
            http=spec["http"],
            log_level="warning",
            access_log=False,
            lifespan="on" if spec["app"] != "fastapi" else "auto",
            timeout_graceful_shutdown=10,
            timeout_keep_alive=5,
        )
        if workers > 1:  # needs an import string; uvicorn supervises worker processes
            uvicorn.run(
                "http_stack:make_app", factory=True, workers=workers, app_dir=str(HERE), **kw
            )
        else:  # in-process API: the app object, one process
            uvicorn.Server(uvicorn.Config(make_app(), **kw)).run()
    elif server == "granian":
        from granian.constants import HTTPModes, Interfaces, Loops
        from granian.http import HTTP1Settings
        from granian.server import Server

        Server(
            "http_stack:make_app",
            factory=True,
            address="127.0.0.1",
            port=port,
            interface=Interfaces(spec["interface"]),
            workers=workers,
            runtime_threads=spec.get("runtime_threads", 1),
            loop=Loops.uvloop,
            log_level="warning",
            working_dir=HERE,
            workers_kill_timeout=10,
            http1_settings=HTTP1Settings(header_read_timeout=HEADER_TIMEOUT_MS),
            http=HTTPModes.http1,
            websockets=False,
        ).serve()
    elif server == "granian-embed":
        import uvloop
        from granian.constants import HTTPModes, Interfaces
        from granian.http import HTTP1Settings
        from granian.server.embed import Server as EmbeddedServer

        async def main() -> None:
            srv = EmbeddedServer(
                make_app(),
                address="127.0.0.1",
                port=port,
                interface=Interfaces(spec["interface"]),
                runtime_threads=spec.get("runtime_threads", 1),
                log_level="warning",
                http1_settings=HTTP1Settings(header_read_timeout=HEADER_TIMEOUT_MS),
                http=HTTPModes.http1,
                websockets=False,
            )
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):  # the embedded server sets none
                loop.add_signal_handler(sig, srv.stop)
            await srv.serve()

        uvloop.run(main())
    else:
        raise SystemExit(f"unknown server {server}")


# ---------------------------------------------------------------------------------------
# Load generator (client subprocess)
# ---------------------------------------------------------------------------------------


def _event(eid: int) -> dict[str, Any]:
    """~190 bytes of JSON, as json.dumps writes it."""
    return {
        "event_id": 7_300_000_000_000_000_000 + eid,
        "kind": "location",
        "subscriber_id": 410_000_000_000 + eid % 100_000,
        "time": "2026-03-02T10:00:00Z",
        "lat": 40.41 + (eid % 97) * 1.234567e-5,
        "lon": -3.70 - (eid % 89) * 1.234567e-5,
    }


def build_requests(mode: str, count: int, batch_size: int, seed: int) -> list[bytes]:
    out = []
    for i in range(count):
        base = seed * 10_000_000 + i * batch_size
        if mode == "single":
            path, body = "/v1/events", json.dumps(_event(base))
        else:
            events = [_event(base + j) for j in range(batch_size)]
            path, body = "/v1/events/batch", json.dumps({"events": events})
        raw = body.encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {AUTH}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n\r\n"
        )
        out.append(head.encode() + raw)
    return out


class _Conn(asyncio.Protocol):
    """One keep-alive connection: send a request, read the answer by Content-Length."""

    def __init__(self, reqs: list[bytes], offset: int) -> None:
        self.reqs, self.i0 = reqs, offset
        self.transport: Any = None
        self.buf = bytearray()
        self.need = -1
        self.status = 0
        self.todo = 0
        self.sent = 0
        self.lat_us: list[int] = []
        self.errors: dict[str, int] = {}
        self.ready = asyncio.get_running_loop().create_future()
        self.done: asyncio.Future | None = None
        self.t0 = 0
        self.bytes_in = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.ready.set_result(None)

    def run(self, n: int) -> asyncio.Future:
        self.todo, self.sent = n, 0
        self.lat_us = []
        self.done = asyncio.get_running_loop().create_future()
        if n:
            self._send()
        else:
            self.done.set_result(None)
        return self.done

    def _send(self) -> None:
        if self.transport.is_closing():  # the server closed this keep-alive connection
            self._error("closed by server")
            if self.done is not None and not self.done.done():
                self.done.set_result(None)
            return
        req = self.reqs[(self.i0 + self.sent) % len(self.reqs)]
        self.sent += 1
        self.t0 = time.perf_counter_ns()
        self.transport.write(req)

    def _error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while True:
            if self.need < 0:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(buf[:end]).lower()
                self.status = int(head[9:12])
                at = head.find(b"\ncontent-length:")
                if at < 0:
                    self._error("no content-length")
                    self.transport.close()
                    return
                eol = head.find(b"\r", at + 16)
                self.need = end + 4 + int(head[at + 16 : eol if eol > 0 else None])
            if len(buf) < self.need:
                return
            self.lat_us.append((time.perf_counter_ns() - self.t0) // 1000)
            self.bytes_in += self.need
            del buf[: self.need]
            self.need = -1
            if self.status != 200:
                self._error(f"status {self.status}")
            if self.sent < self.todo:
                self._send()
            elif self.done is not None and not self.done.done():
                self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done is not None and not self.done.done():
            # a request was sent and not answered: the client cannot know whether it was
            # stored (a real client retries it; the event id makes that safe)
            self._error("lost in flight" if self.sent > len(self.lat_us) else "disconnected")
            self.done.set_result(None)


async def _client(args: argparse.Namespace) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    reqs = build_requests(args.mode, args.variants, args.batch_size, args.seed)
    print("started", flush=True)  # imports done, requests built: started beside the server
    await loop.run_in_executor(None, sys.stdin.readline)  # wait for "connect"
    conns = []
    for c in range(args.conns):
        _, proto = await loop.create_connection(
            lambda c=c: _Conn(reqs, c * 7), "127.0.0.1", args.port
        )
        await proto.ready
        conns.append(proto)
    # warm-up: a few requests on every connection
    await asyncio.wait_for(asyncio.gather(*(p.run(args.warmup) for p in conns)), 60)
    warm_errors = sum(sum(p.errors.values()) for p in conns)
    for p in conns:
        p.errors = {}
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # wait for "go"
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    per, extra = divmod(args.requests, args.conns)
    futs = [p.run(per + (1 if i < extra else 0)) for i, p in enumerate(conns)]
    timed_out = False
    try:
        await asyncio.wait_for(asyncio.shield(asyncio.gather(*futs)), args.timeout)
    except TimeoutError:
        timed_out = True
    t1 = time.monotonic()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    errors: dict[str, int] = {}
    for p in conns:
        for k, v in p.errors.items():
            errors[k] = errors.get(k, 0) + v
        if timed_out and p.done is not None and not p.done.done():
            errors["timeout"] = errors.get("timeout", 0) + (p.todo - len(p.lat_us))
        p.transport.close()
    return {
        "t_start": t0,
        "t_end": t1,
        "cpu_s": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime),
        "lat_us": [x for p in conns for x in p.lat_us],
        "errors": errors,
        "warmup_errors": warm_errors,
        "bytes_in": sum(p.bytes_in for p in conns),
        "request_bytes": len(reqs[0]),
        "requests": args.requests,
    }


def client_main(args: argparse.Namespace) -> None:
    import uvloop

    result = uvloop.run(_client(args))
    sys.stdout.write("result " + json.dumps(result) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------------------
# Orchestrator
# ---------------------------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def _proc_tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def tree_cpu_s(pid: int) -> float:
    """utime+stime of a live process and its live descendants, all threads."""
    total = 0
    for p in _proc_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError):
            pass
    return total / TICK


def tree_threads(pid: int) -> dict[str, Any]:
    procs, threads = 0, 0
    for p in _proc_tree(pid):
        try:
            threads += len(os.listdir(f"/proc/{p}/task"))
            procs += 1
        except OSError:
            pass
    return {"processes": procs, "threads": threads}


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far."""
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    idle = vals[3] + vals[4]
    total = sum(vals[:8])
    return (total - idle) / TICK, total / TICK


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_health(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    req = b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(req)
                if s.recv(4096).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not answer /v1/health in time")


def get_health(port: int) -> dict[str, Any]:
    """The server's own view (one worker's, with several): GC pauses, journal groups."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return json.loads(data.split(b"\r\n\r\n", 1)[1])
    except (OSError, ValueError, IndexError):
        return {}


def health_delta(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    if not a or not b or a.get("pid") != b.get("pid"):
        return {}
    ga, gb = a["gc"], b["gc"]
    out: dict[str, Any] = {
        "gc_collections": [
            y - x for x, y in zip(ga["collections"], gb["collections"], strict=True)
        ],
        "gc_pause_ms_total": [
            round(y - x, 1) for x, y in zip(ga["pause_ms_total"], gb["pause_ms_total"], strict=True)
        ],
        "gc_pause_ms_max_so_far": [round(x, 2) for x in gb["pause_ms_max"]],
        "gc_frozen_objects": b["gc_frozen"],
        "modules_loaded": b.get("modules_loaded"),
    }
    ja, jb = a.get("journal"), b.get("journal")
    if ja and jb and jb["groups"] > ja["groups"]:
        groups, reqs = jb["groups"] - ja["groups"], jb["requests"] - ja["requests"]
        out["journal_groups"] = groups
        out["journal_requests_per_group"] = round(reqs / groups, 2)
    return out


def pct(sorted_vals: list[int], q: float) -> float:
    if not sorted_vals:
        return float("nan")
    i = min(len(sorted_vals) - 1, max(0, round(q * (len(sorted_vals) - 1))))
    return sorted_vals[i] / 1000.0  # ms


def start_clients(
    mode: str, requests: int, conns: int, procs: int, args: argparse.Namespace
) -> list[subprocess.Popen]:
    """Client processes that import and build their requests, then wait to connect (they are
    started while the server starts, so that their start-up costs no time)."""
    procs = max(1, min(procs, conns))
    clients = []
    for k in range(procs):
        n_conns = conns // procs + (1 if k < conns % procs else 0)
        n_req = requests // procs + (1 if k < requests % procs else 0)
        cmd = [
            sys.executable, __file__, "--client", "--port", str(args.port), "--mode", mode,
            "--requests", str(n_req), "--conns", str(n_conns), "--seed", str(k + 1),
            "--batch-size", str(args.batch_size), "--variants", str(64 if mode == "single" else 8),
            "--warmup", str(20 if mode == "single" else 2), "--timeout", str(args.phase_timeout),
        ]  # fmt: skip
        clients.append(
            subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
            )
        )
    return clients


def _tell(clients: list[subprocess.Popen], word: str, expect: str) -> None:
    for c in clients:
        c.stdin.write(word + "\n")
        c.stdin.flush()
    for c in clients:
        line = c.stdout.readline()
        if line.strip() != expect:
            raise RuntimeError(f"client not {expect}: {line!r}")


def run_phase(
    port: int, server_pid: int, mode: str, clients: list[subprocess.Popen], conns: int, per_req: int
) -> dict[str, Any]:
    for c in clients:
        line = c.stdout.readline()
        if line.strip() != "started":
            raise RuntimeError(f"client not started: {line!r}")
    _tell(clients, "connect", "ready")
    requests = 0
    h0 = get_health(port)
    load_before = os.getloadavg()
    cpu0, (busy0, tot0) = tree_cpu_s(server_pid), machine_cpu()
    for c in clients:
        c.stdin.write("go\n")
        c.stdin.flush()
    results: list[dict[str, Any]] = []
    for c in clients:
        line = c.stdout.readline()
        if not line.startswith("result "):
            raise RuntimeError(f"client failed: {line!r}")
        results.append(json.loads(line[7:]))
        c.wait(30)
    cpu1, (busy1, tot1) = tree_cpu_s(server_pid), machine_cpu()
    server_view = health_delta(h0, get_health(port))
    wall = max(r["t_end"] for r in results) - min(r["t_start"] for r in results)
    lat = sorted(x for r in results for x in r["lat_us"])
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    ok = len(lat) - sum(v for k, v in errors.items() if k.startswith("status"))
    requests = sum(r["requests"] for r in results)
    server_cpu = cpu1 - cpu0
    client_cpu = sum(r["cpu_s"] for r in results)
    busy = busy1 - busy0
    return {
        "mode": mode,
        "requests": requests,
        "answered": len(lat),
        "conns": conns,
        "client_procs": len(clients),
        "wall_s": round(wall, 3),
        "requests_per_s": round(ok / wall, 1),
        "events_per_s": round(ok * per_req / wall, 1),
        "p50_ms": pct(lat, 0.50),
        "p99_ms": pct(lat, 0.99),
        "p999_ms": pct(lat, 0.999),
        "max_ms": lat[-1] / 1000.0 if lat else None,
        "errors": errors,
        "warmup_errors": sum(r["warmup_errors"] for r in results),
        "server_cpu_s": round(server_cpu, 2),
        "server_cpu_us_per_event": round(server_cpu * 1e6 / max(1, ok * per_req), 2),
        "client_cpu_s": round(client_cpu, 2),
        "client_cpu_us_per_request": round(client_cpu * 1e6 / max(1, len(lat)), 1),
        "machine_busy_cpu_s": round(busy, 2),
        "machine_cpus_busy": round(busy / ((tot1 - tot0) / os.cpu_count()), 2),  # of cpu_count
        "other_cpu_s": round(busy - server_cpu - client_cpu, 2),
        "request_bytes": results[0]["request_bytes"],
        "response_bytes": round(sum(r["bytes_in"] for r in results) / max(1, len(lat))),
        "server_view": server_view,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }


def run_stack(name: str, spec: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    srv = subprocess.Popen(
        [sys.executable, __file__, "--serve", name, "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    out: dict[str, Any] = {"stack": name, **spec, "port": port}
    scale = spec.get("scale", 1.0)
    procs = spec.get("client_procs", args.client_procs)
    args.port = port
    singles = start_clients("single", int(args.single * scale), args.conns, procs, args)
    batches = start_clients("batch", int(args.batches * scale), args.batch_conns, 1, args)
    try:
        wait_health(port, srv)
        time.sleep(0.3)  # granian: let every worker come up
        out["server_threads_idle"] = tree_threads(srv.pid)
        out["single"] = run_phase(port, srv.pid, "single", singles, args.conns, 1)
        out["server_threads_busy"] = tree_threads(srv.pid)
        out["batch"] = run_phase(port, srv.pid, "batch", batches, args.batch_conns, args.batch_size)
    except Exception as e:  # keep going with the other stacks
        out["failure"] = f"{type(e).__name__}: {e}"
    finally:
        for c in singles + batches:
            if c.poll() is None:
                c.kill()
                c.wait()
        t0 = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        try:
            _, err = srv.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            srv.kill()
            _, err = srv.communicate()
            out["sigterm"] = "killed after 20 s"
        out["exit_code"] = srv.returncode
        out["exit_s"] = round(time.monotonic() - t0, 2)
        tail = [ln for ln in (err or "").splitlines() if ln.strip()][-3:]
        if tail:
            out["stderr_tail"] = tail
    return out


# ---------------------------------------------------------------------------------------
# Probes: slow-drip clients, oversized requests, SIGTERM under load
# ---------------------------------------------------------------------------------------

PROBE_WINDOW_S = 6.0


def drip_probe(port: int, first: bytes, piece: bytes = b"", every: float = 0.5) -> dict[str, Any]:
    """Send `first`, then `piece` every `every` s, for PROBE_WINDOW_S at most: when does
    the server answer (status) or close the connection?"""
    t0 = time.monotonic()
    out: dict[str, Any] = {"status": None, "answered_after_s": None, "closed_after_s": None}
    sent, got = 0, b""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
    except OSError as e:
        return {**out, "error": str(e)}
    with s:
        s.settimeout(0.02)
        next_t = t0 + every
        try:
            if first:
                s.sendall(first)
                sent += len(first)
            while (now := time.monotonic()) - t0 < PROBE_WINDOW_S:
                if piece and now >= next_t:
                    s.sendall(piece)
                    sent += len(piece)
                    next_t += every
                try:
                    data = s.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    out["closed_after_s"] = round(time.monotonic() - t0, 2)
                    break
                got += data
                if out["status"] is None and got.startswith(b"HTTP/") and len(got) >= 12:
                    out["status"] = int(got[9:12])
                    out["answered_after_s"] = round(time.monotonic() - t0, 2)
        except OSError as e:  # reset, broken pipe
            out["closed_after_s"] = round(time.monotonic() - t0, 2)
            out["error"] = type(e).__name__
    out["bytes_sent"] = sent
    return out


def run_probes(name: str, spec: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    srv = subprocess.Popen(
        [sys.executable, __file__, "--serve", name, "--port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    out: dict[str, Any] = {"stack": name}
    hdr = f"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {AUTH}\r\n".encode()
    probes = {
        "idle_connection": (b"", b""),
        "header_drip_1_line_per_0.5s": (
            b"POST /v1/events HTTP/1.1\r\nHost: x\r\n",
            b"X-Drip: 1\r\n",
        ),
        "body_drip_1_byte_per_0.5s_of_200": (hdr + b"Content-Length: 200\r\n\r\n{", b" "),
        "declared_body_2MB": (hdr + b"Content-Length: 2000000\r\n\r\n", b""),
        "chunked_body_64KB_per_10ms": (
            hdr + b"Transfer-Encoding: chunked\r\n\r\n",
            b"10000\r\n" + b" " * 65536 + b"\r\n",
        ),
        "header_64KB_per_10ms": (b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ", b"a" * 65536),
    }
    try:
        wait_health(port, srv)
        time.sleep(0.3)
        results: dict[str, Any] = {}

        def one(key: str, first: bytes, piece: bytes) -> None:
            every = 0.01 if "10ms" in key else 0.5
            results[key] = drip_probe(port, first, piece, every)

        threads = [threading.Thread(target=one, args=(k, *v)) for k, v in probes.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out["drip"] = {k: results[k] for k in probes}
        # SIGTERM while 32 clients post: what happens to requests in flight?
        args.port = port
        (c,) = start_clients("single", args.single, args.conns, 1, args)
        if c.stdout.readline().strip() != "started":
            raise RuntimeError("client not started")
        _tell([c], "connect", "ready")
        c.stdin.write("go\n")
        c.stdin.flush()
        time.sleep(0.5)
        t0 = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        line = c.stdout.readline()
        c.wait(30)
        r = json.loads(line[7:]) if line.startswith("result ") else {}
        try:
            _, err = srv.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            srv.kill()
            _, err = srv.communicate()
            out["sigterm_killed"] = True
        counts = [json.loads(ln[7:]) for ln in (err or "").splitlines() if ln.startswith("counts ")]
        out["sigterm_under_load"] = {
            "answered": len(r.get("lat_us", [])),
            "server_counts": counts or "not reported (no shutdown hook ran)",
            "client_errors": r.get("errors"),
            "exit_code": srv.returncode,
            "exit_after_s": round(time.monotonic() - t0, 2),
            "stderr_tail": [
                ln for ln in (err or "").splitlines() if ln.strip() and not ln.startswith("counts ")
            ][-2:],
        }
    except Exception as e:
        out["failure"] = f"{type(e).__name__}: {e}"
        if srv.poll() is not None:
            out["stderr_tail"] = [ln for ln in srv.stderr.read().splitlines() if ln.strip()][-3:]
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()
    return out


def fmt_row(name: str, ph: dict[str, Any]) -> str:
    errs = sum(ph["errors"].values())
    return (
        f"{name:<46} {ph['requests_per_s']:>9.0f} {ph['events_per_s']:>9.0f} "
        f"{ph['p50_ms']:>7.2f} {ph['p99_ms']:>7.2f} {ph['p999_ms']:>7.2f} {errs:>5} "
        f"{ph['server_cpu_us_per_event']:>8.1f} {ph['server_cpu_s']:>6.2f} "
        f"{ph['client_cpu_s']:>6.2f} "
        f"{ph['machine_cpus_busy']:>5.2f} {ph['other_cpu_s']:>6.2f}"
    )


HEADER = (
    f"{'stack':<46} {'req/s':>9} {'events/s':>9} {'p50ms':>7} {'p99ms':>7} {'p999ms':>7} "
    f"{'errs':>5} {'srvµs/ev':>8} {'srvCPU':>6} {'cliCPU':>6} {'cores':>5} {'other':>6}"
)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    ap.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    ap.add_argument("--requests", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--variants", type=int, default=64, help=argparse.SUPPRESS)
    ap.add_argument("--warmup", type=int, default=20, help=argparse.SUPPRESS)
    ap.add_argument("--timeout", type=float, default=60, help=argparse.SUPPRESS)
    ap.add_argument("--single", type=int, default=15_000, help="single posts per stack and round")
    ap.add_argument("--conns", type=int, default=32, help="keep-alive connections for single posts")
    ap.add_argument("--batches", type=int, default=300, help="batch posts per stack and round")
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--batch-conns", type=int, default=4)
    ap.add_argument("--client-procs", type=int, default=1, help="client processes for single posts")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds over the stacks")
    ap.add_argument("--phase-timeout", type=float, default=60.0)
    ap.add_argument("--stacks", help="comma-separated substrings of stack names (default: all)")
    ap.add_argument(
        "--probes",
        default="fastapi/uvicorn h11+asyncio (today);raw-asgi/uvicorn httptools+uvloop;"
        "raw-asgi/granian asgi;raw-rsgi/granian rsgi",
        help="';'-separated exact stack names to probe for slow-drip/oversize/SIGTERM behaviour",
    )
    ap.add_argument("--out", default=str(HERE / "results" / "http_stack.json"))
    args = ap.parse_args()

    if args.serve:
        serve(STACKS[args.serve], args.port)
        return
    if args.client:
        client_main(args)
        return

    names = list(STACKS)
    if args.stacks:
        wanted = [w.strip() for w in args.stacks.split(",")]
        names = [n for n in names if any(w in n for w in wanted)]
    from importlib.metadata import version

    import granian
    import httptools
    import msgspec
    import orjson
    import uvicorn
    import uvloop

    versions = {
        p: version(p)
        for p in (
            "fastapi",
            "starlette",
            "pydantic",
            "uvicorn",
            "h11",
            "httptools",
            "uvloop",
            "granian",
            "orjson",
            "msgspec",
        )
    }
    del granian, httptools, msgspec, orjson, uvicorn, uvloop
    t_start = time.monotonic()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, loadavg {os.getloadavg()}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(
        f"single: {args.single} POST /v1/events over {args.conns} conns "
        f"({args.client_procs} client proc); "
        f"batch: {args.batches} x {args.batch_size} events over {args.batch_conns} conns; "
        f"{args.rounds} rounds"
    )
    rounds: list[list[dict[str, Any]]] = []
    for r in range(args.rounds):
        row = []
        for name in names:
            res = run_stack(name, STACKS[name], args)
            res["round"] = r + 1
            row.append(res)
            if "failure" in res:
                print(
                    f"[round {r + 1}] {name}: FAILED {res['failure']} {res.get('stderr_tail')}",
                    flush=True,
                )
            else:
                s, b = res["single"], res["batch"]
                print(
                    f"[round {r + 1}] {name}: single {s['events_per_s']:.0f} ev/s "
                    f"p99 {s['p99_ms']:.2f} ms; "
                    f"batch {b['events_per_s']:.0f} ev/s p99 {b['p99_ms']:.1f} ms; "
                    f"exit {res['exit_code']} in {res['exit_s']} s; load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
        rounds.append(row)

    best: dict[str, dict[str, Any]] = {}
    for name in names:
        ok = [
            row[i]
            for row in rounds
            for i, n in enumerate(names)
            if n == name and "failure" not in row[i]
        ]
        if ok:
            best[name] = {
                "single": max((x["single"] for x in ok), key=lambda p: p["events_per_s"]),
                "batch": max((x["batch"] for x in ok), key=lambda p: p["events_per_s"]),
                "single_events_per_s_all_rounds": [x["single"]["events_per_s"] for x in ok],
                "batch_events_per_s_all_rounds": [x["batch"]["events_per_s"] for x in ok],
                "exit_codes": [x["exit_code"] for x in ok],
            }
    for mode, title in (
        ("single", f"single POST /v1/events, {args.conns} keep-alive clients"),
        (
            "batch",
            f"POST /v1/events/batch of {args.batch_size}, {args.batch_conns} keep-alive clients",
        ),
    ):
        print(
            f"\n{title} (best of {args.rounds} rounds by events/s; cores = machine CPUs "
            "busy, other = CPU s of other processes)"
        )
        print(HEADER)
        for name, b in best.items():
            print(fmt_row(name, b[mode]))
    probes = []
    probe_names = [n for n in (args.probes or "").split(";") if n in STACKS]
    if probe_names:
        print(
            f"\nprobes (window {PROBE_WINDOW_S} s; granian header_read_timeout "
            f"{HEADER_TIMEOUT_MS} ms, "
            f"uvicorn timeout_keep_alive 5 s, app body timeout {BODY_TIMEOUT_S} s, "
            f"max body {MAX_BODY} B)"
        )
    for name in probe_names:
        pr = run_probes(name, STACKS[name], args)
        probes.append(pr)
        print(f"{name}:")
        if "failure" in pr:
            print(f"  FAILED {pr['failure']} {pr.get('stderr_tail')}")
        for k, v in pr.get("drip", {}).items():
            print(
                f"  {k:<34} status {v['status']} answered {v['answered_after_s']} s "
                f"closed {v['closed_after_s']} s sent {v['bytes_sent']} B {v.get('error', '')}"
            )
        if "sigterm_under_load" in pr:
            t = pr["sigterm_under_load"]
            print(
                f"  SIGTERM under load: answered {t['answered']}, "
                f"client errors {t['client_errors']}, "
                f"server {t['server_counts']}, exit {t['exit_code']} "
                f"after {t['exit_after_s']} s {t['stderr_tail']}"
            )
    print(
        f"\nloadavg at end {tuple(round(x, 2) for x in os.getloadavg())}; "
        f"total {time.monotonic() - t_start:.0f} s"
    )

    result = {
        "what": "HTTP server stacks for the event API (minimal apps)",
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "versions": versions,
        "settings": {
            "single_requests": args.single,
            "single_conns": args.conns,
            "single_client_procs": args.client_procs,
            "batches": args.batches,
            "batch_size": args.batch_size,
            "batch_conns": args.batch_conns,
            "rounds": args.rounds,
            "fsync_sleep_s": FSYNC_S,
            "sys_switchinterval_s": sys.getswitchinterval(),
            "granian_runtime_threads": "1 unless the stack says 2",
            "granian": "uvloop loop, HTTP/1 only, no websockets, header_read_timeout 3 s",
            "journal": "1 writer thread per process, group commit",
        },
        "best": best,
        "rounds": rounds,
        "probes": probes,
        "loadavg_end": os.getloadavg(),
        "total_s": round(time.monotonic() - t_start, 1),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
