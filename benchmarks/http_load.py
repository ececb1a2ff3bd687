"""HTTP load test of `pushlift serve`: the new service against the old one, over their
floors and the in-process paths, in one run.

Bounded and loopback-only: fresh stores in a temporary folder, real `pushlift serve`
subprocesses on 127.0.0.1 (free ports), a fixed number of requests, then SIGTERM.

Two services, the same config, subscribers and events, each on its own fresh store:
- new: the pushlift this script imports: the working tree, or a snapshot put first on
  PYTHONPATH (`git worktree add /tmp/pushlift-new HEAD`, PYTHONPATH=/tmp/pushlift-new/src);
  its commit and uncommitted changes are recorded. A writer thread decides every ready
  request, appends events and decisions to a SQLite WAL journal, one sync per group, then
  answers; a loader moves the journal into DuckDB in bulk; granian's embedded server on
  uvloop, event posts answered from plain ASGI;
- old: commit 19a6fe7 (group commit straight into DuckDB, ~5 statements and a commit per
  group; uvicorn + FastAPI), run from a git worktree (`--old-tree`, created with
  `git worktree add` if missing and then removed at the end) with PYTHONPATH set to its
  `src` and the same venv python (`python -m pushlift.cli serve`). Which code each runs is
  checked (`pushlift.__file__` under that PYTHONPATH) and recorded, with the `server`
  header it answers with.

Setup: the city simulator's config (1,000 vendors, each with an offer, a circular zone,
bid, daily and total budgets, a third with a segment; a frequency cap and a holdout
experiment), 100,000 subscribers with traits in the store's `consumer` table (so trait
segments apply, as in production), and a stream of location pings of those subscribers
over ten daytime minutes, in event-time order, over the 10 km square the zones cover (the
"dense" city of `engine_throughput.py`: most pings are inside some zone, so most requests
write a notification). Ten minutes, so that a batch of 500 spans a few seconds: batches
posted concurrently overtake each other by less than the allowed lateness (10 s).

Measured, in this order:
1. floors, in the run's temporary folder (same disk as the stores): `write` + `fdatasync`
   of a 100-byte record appended to a file (one record per sync, and 100 per sync), SQLite
   in WAL mode with synchronous=FULL (one 100-byte row per commit, 100 per commit, and
   500, a batch's worth), and a DuckDB single-row commit: records/s and syncs (commits)/s,
   latency per sync p50/p99;
2. single posts: `POST /v1/events` from `--clients` (32) concurrent keep-alive
   connections: events/s (events over the summed wall time of the rounds), client-side
   latency p50/p99/p99.9, errors (non-200, disconnects, timeouts: must be zero);
3. batched posts: `POST /v1/events/batch` of `--batch-size` (500) events from
   `--batch-clients` (4) connections: events/s, per-request latency p50/p99/p99.9, errors;
4. in-process, same config, traits and stream, on a fresh store, one thread: the new
   `DecisionService.submit` (its writer thread and journal; no HTTP) with single events and
   with batches, and the raw engine `Engine.decide_batch` on the same events (no store).
Each kind is split into `--rounds` rounds; in each, old and new take turns (in alternating
order), then the in-process service, then the raw engine, so all paths share the machine's
load. Before every phase the run waits (at most `--settle` s) until the machine is idle,
so work a service does after answering (the new loader moving the journal into DuckDB)
is done before another path is measured; that work is counted as the server's CPU
"tail". Per round and path are recorded: events/s, p99, os.getloadavg() before and after,
the server process's CPU seconds during the phase and its tail, the client's CPU seconds.
The old service is slower, so it posts fewer requests per round (`--old-single`,
`--old-batches`), as do the in-process paths (`--local-single`, `--local-batches`); every
path posts, per round, the first requests of that round's slice of the stream, so each
decides its events in event-time order on its own store.

Load generator: one separate process (its own interpreter, so it does not share the
benchmark's GIL), asyncio on uvloop with raw sockets (asyncio.Protocol, after
`benchmarks/http_stack.py`): pre-built HTTP/1.1 request bytes; each keep-alive connection
writes one request and reads the answer by Content-Length, closed loop; all connections
take their next request from one cursor, so the events reach the server in order up to
the requests in flight (`late` in the outcome counts says how many crossed beyond the
allowed lateness). Connections are made and requests built before the clock starts;
answers are parsed after it stops.

Recorded besides: cpu count, thread settings (NUMBA/OMP environment and numba's thread
count, granian's runtime threads, each server's thread count), load averages before and
after the run and each phase, how long the run waited for `benchmarks/http_stack.py` to
finish (it must not share the CPUs) and then for the machine to be nearly idle
(`--wait-idle`, at most; whether it was is recorded), and per phase the CPU seconds the
rest of the machine used meanwhile (`other_cpu_s`: on a shared machine, other work).

Targets (issue 11), reported met or not: single posts from 32 clients >= 5,000 events/s
with p99 <= 10 ms; batches of 500 over HTTP >= 200,000 events/s. The run exits non-zero on
any error, an unclean shutdown, a store missing an acknowledged event, or the in-process
service and raw engine deciding differently (not on a missed target).

After SIGTERM each server must exit with code 0 (it finishes in-flight requests) and its
store must hold every acknowledged event.

Run: .venv/bin/python benchmarks/http_load.py [--rounds 6] [--clients 32]
     [--single 4000] [--old-single 500] [--local-single 300]
     [--batches 60] [--old-batches 16] [--local-batches 30] [--batch-size 500]
     [--batch-clients 4] [--old-tree /tmp/pushlift-old] [--out results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import pickle
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx
import numpy as np

import pushlift
from pushlift import schema
from pushlift.engine.config import EngineConfig, parse_config
from pushlift.engine.engine import Engine
from pushlift.engine.events import EventBatch, from_us
from pushlift.engine.outcomes import OUTCOMES
from pushlift.engine.plan import Plan
from pushlift.engine.state import Traits
from pushlift.ops import ops_path
from pushlift.serve.api import MAX_BODY_BYTES
from pushlift.serve.service import DecisionService
from pushlift.sim.city import CENTRE, DEG_PER_M, HALF_SIZE_M, CityModel, build_config
from pushlift.store import Store

ROOT = Path(__file__).resolve().parent.parent
# The new code: the pushlift this process imports (the working tree, or a snapshot of it
# put first on PYTHONPATH); its servers run the same.
NEW_SRC = Path(pushlift.__file__).resolve().parent.parent
OLD_COMMIT = "19a6fe7"
SUBSCRIBERS, VENDORS = 100_000, 1_000
T0 = 1_772_442_000_000_000  # 2026-03-02 09:00 UTC (10:00 in Madrid: not quiet hours)
HOUR_US = 3_600_000_000
SPAN_US = 600_000_000  # the stream's ten minutes
WARM_SINGLE, WARM_BATCH = 20, 100  # warm-up events, an hour before the stream
TARGETS = {"single_events_per_s": 5_000, "single_p99_ms": 10.0, "batch_events_per_s": 200_000}
RECORD = b"r" * 99 + b"\n"  # the floors' 100-byte record
TICK = os.sysconf("SC_CLK_TCK")


# --- the data -------------------------------------------------------------------------


def city_config(seed: int) -> dict:
    return build_config(np.random.default_rng(seed), VENDORS, 7, CityModel())


def traits_columns(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed + 1)
    return {
        "consumer_id": np.arange(1, SUBSCRIBERS + 1, dtype=np.int64),
        "age": rng.integers(18, 80, SUBSCRIBERS),
        "gender": rng.choice(np.array(["F", "M"]), SUBSCRIBERS),
        "loyalty_status": rng.integers(1, 3, SUBSCRIBERS),
    }


def stream(n: int, seed: int) -> EventBatch:
    """Warm-up events (ids n+1.., an hour early), then n pings (ids 1..n) over ten minutes."""
    rng = np.random.default_rng(seed + 2)
    x, y = rng.uniform(-HALF_SIZE_M, HALF_SIZE_M, (2, n))
    lat = CENTRE[0] + y * DEG_PER_M
    lon = CENTRE[1] + x * DEG_PER_M / np.cos(np.radians(CENTRE[0]))
    t = T0 + np.sort(rng.integers(0, SPAN_US, n))
    main = EventBatch.locations(
        np.arange(1, n + 1), rng.integers(1, SUBSCRIBERS + 1, n), t, lat, lon
    )
    w = WARM_SINGLE + WARM_BATCH
    warm = EventBatch.locations(
        np.arange(n + 1, n + w + 1),
        SUBSCRIBERS + 1 + np.arange(w),  # people without traits, seen only here
        T0 - HOUR_US + 1_000_000 * np.arange(w),
        np.full(w, CENTRE[0]),
        np.full(w, CENTRE[1]),
    )
    return EventBatch.concat([warm, main])


def as_json(batch: EventBatch) -> list[dict]:
    return [
        {
            "event_id": int(batch.event_id[i]),
            "kind": "location",
            "subscriber_id": int(batch.subscriber_id[i]),
            "time": from_us(int(batch.time_us[i])).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "lat": float(batch.lat[i]),
            "lon": float(batch.lon[i]),
        }
        for i in range(len(batch))
    ]


class Phases:
    """Which slices of the stream each path posts: warm-up, then `rounds` slices of
    `single` single events, then `rounds` slices of `batches` batches. A path posting
    `count` requests a round posts the first `count` of each round's slice."""

    def __init__(self, rounds: int, single: int, batches: int, batch_size: int) -> None:
        self.rounds, self.single, self.batches = rounds, single, batches
        self.batch_size = batch_size
        w = WARM_SINGLE + WARM_BATCH
        self.warm_single = [slice(i, i + 1) for i in range(WARM_SINGLE)]
        self.warm_batch = [slice(WARM_SINGLE, w)]
        self.single_lo, self.batch_lo = w, w + rounds * single

    def numbers(self, kind: str, round_: int, count: int) -> range:
        """Request numbers (in `kind`'s bodies) a path posting `count` a round posts."""
        per = self.single if kind == "single" else self.batches
        return range(round_ * per, round_ * per + min(count, per))

    def slices(self, kind: str, numbers: range) -> list[slice]:
        """The stream's slices of those requests."""
        if kind == "single":
            return [slice(self.single_lo + i, self.single_lo + i + 1) for i in numbers]
        b = self.batch_size
        return [slice(self.batch_lo + k * b, self.batch_lo + (k + 1) * b) for k in numbers]

    @property
    def events(self) -> int:
        return self.rounds * (self.single + self.batches * self.batch_size)


def new_store(path: Path, traits: dict[str, np.ndarray]) -> Store:
    store = Store.open(path)
    store.append(schema.CONSUMER, traits)
    return store


def percentiles(seconds: list[float] | np.ndarray) -> dict[str, float]:
    ms = 1e3 * np.asarray(seconds)
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "p999_ms": float(np.percentile(ms, 99.9)),
        "max_ms": float(ms.max()),
    }


# --- the floors -------------------------------------------------------------------------


def _floor(syncs: int, per_sync: int, one: Callable[[int], None], close: Callable) -> dict:
    """`syncs` calls of `one(k)` (each writes `per_sync` records and syncs once)."""
    latency, clock = [], time.perf_counter
    try:
        for k in range(syncs):
            t = clock()
            one(k)
            latency.append(clock() - t)
    finally:
        close()
    seconds = float(np.sum(latency))
    p = percentiles(latency)
    return {
        "records_per_sync": per_sync,
        "syncs": syncs,
        "records_per_s": syncs * per_sync / seconds,
        "syncs_per_s": syncs / seconds,
        "p50_ms": p["p50_ms"],
        "p99_ms": p["p99_ms"],
        "max_ms": p["max_ms"],
    }


def file_floor(path: Path, syncs: int, per_sync: int) -> dict:
    """`write` of 100-byte records appended to a file, then one `fdatasync`."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def one(_k: int) -> None:
        for _ in range(per_sync):
            os.write(fd, RECORD)
        os.fdatasync(fd)

    return _floor(syncs, per_sync, one, lambda: os.close(fd))


def sqlite_floor(path: Path, syncs: int, per_sync: int) -> dict:
    """SQLite, WAL, synchronous=FULL (as the journal): `per_sync` 100-byte rows a commit."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("PRAGMA wal_autocheckpoint=0")  # as the journal's writer
    con.execute("CREATE TABLE r (seq INTEGER PRIMARY KEY, payload BLOB)")
    rows = [(RECORD,)] * per_sync

    def one(_k: int) -> None:
        con.execute("BEGIN IMMEDIATE")
        con.executemany("INSERT INTO r (payload) VALUES (?)", rows)
        con.execute("COMMIT")

    return _floor(syncs, per_sync, one, con.close)


def duckdb_floor(path: Path, syncs: int) -> dict:
    """DuckDB: one row inserted and committed (autocommit) per call."""
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE r (seq BIGINT, payload VARCHAR)")
    text = RECORD.decode()

    def one(k: int) -> None:
        con.execute("INSERT INTO r VALUES (?, ?)", [k, text])

    return _floor(syncs, 1, one, con.close)


def measure_floors(folder: Path, syncs: int) -> dict:
    few = max(1, syncs // 5)
    out = {
        "fdatasync_1": file_floor(folder / "floor_1.log", syncs, 1),
        "fdatasync_100": file_floor(folder / "floor_100.log", few, 100),
        "sqlite_wal_full_1": sqlite_floor(folder / "floor_1.sqlite", syncs, 1),
        "sqlite_wal_full_100": sqlite_floor(folder / "floor_100.sqlite", few, 100),
        "sqlite_wal_full_500": sqlite_floor(folder / "floor_500.sqlite", few // 4, 500),
        "duckdb_commit_1": duckdb_floor(folder / "floor.duckdb", few),
    }
    for name, r in out.items():
        print(
            f"  floor {name}: {r['records_per_s']:,.0f} records/s, {r['syncs_per_s']:,.0f} "
            f"syncs/s, p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms",
            flush=True,
        )
    return out


# --- in-process baselines ---------------------------------------------------------------


@dataclass
class Tally:
    """One path's requests over all rounds: latencies, busy time, errors, outcomes."""

    latency: list[float] = field(default_factory=list)
    seconds: float = 0.0  # wall time of the rounds (the gaps between rounds excluded)
    events: int = 0
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    rounds: list[dict] = field(default_factory=list)

    def result(self, **extra: object) -> dict:
        return {
            "events": self.events,
            "requests": len(self.latency),
            "events_per_s": self.events / self.seconds,
            "seconds": self.seconds,
            **percentiles(self.latency),
            "errors": self.error_count,
            "first_errors": self.errors[:5],
            "outcomes": dict(sorted(self.outcomes.items())),
            "load_average_1min_first_last": [
                self.rounds[0]["load_average_before"][0],
                self.rounds[-1]["load_average_after"][0],
            ],
            **extra,
            "rounds": self.rounds,
        }


def timed(
    parts: list[EventBatch],
    call: Callable[[EventBatch], object],
    outcomes: Callable[[Any], list[str]],
    tally: Tally,
) -> None:
    """Call on each part in turn; outcomes are counted after the clock stops."""
    answers = []
    clock = time.perf_counter
    load, cpu0 = os.getloadavg(), resource.getrusage(resource.RUSAGE_SELF)
    wall = 0.0
    for part in parts:
        t = clock()
        answers.append(call(part))
        took = clock() - t
        tally.latency.append(took)
        wall += took
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    events = sum(len(p) for p in parts)
    tally.seconds += wall
    tally.events += events
    for answer in answers:
        tally.outcomes.update(outcomes(answer))
    tally.rounds.append(
        {
            "events": events,
            "seconds": wall,
            "events_per_s": events / wall,
            "p99_ms": percentiles(tally.latency[-len(parts) :])["p99_ms"],
            "load_average_before": load,
            "load_average_after": os.getloadavg(),
            "process_cpu_s": cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime,
        }
    )


class InProcess:
    """The new `DecisionService.submit` on its own fresh store (its writer thread, its
    journal), and the raw engine (no store)."""

    def __init__(
        self, folder: Path, config: EngineConfig, traits: dict, events: EventBatch
    ) -> None:
        db = folder / "in_process.duckdb"
        self.store = new_store(db, traits)
        self.service = DecisionService(self.store, config, "benchmark", ops_path(db))
        self.engine = Engine(Plan(config))
        self.engine.state.set_traits(as_traits(traits))
        self.events = events

    def warm_up(self, phases: Phases) -> None:
        for s in phases.warm_single + phases.warm_batch:
            self.service.submit(self.events.take(s))
            self.engine.decide_batch(self.events.take(s))

    def service_phase(self, parts: list[slice], tally: Tally) -> None:
        events = [self.events.take(s) for s in parts]
        timed(events, self.service.submit, lambda rs: [r["outcome"] for r in rs], tally)

    def engine_phase(self, parts: list[slice], tally: Tally) -> None:
        events = [self.events.take(s) for s in parts]
        timed(events, self.engine.decide_batch, lambda d: [OUTCOMES[o] for o in d.outcome], tally)

    def close(self) -> dict:
        self.service.close()  # the journal loaded into the store
        stored = {
            "stored_events": _count(self.store.con, "event"),
            "stored_notifications": _count(self.store.con, "notification"),
        }
        self.store.close()
        return stored


def as_traits(columns: dict[str, np.ndarray]) -> Traits:
    return Traits(
        columns["consumer_id"], columns["age"], columns["gender"], columns["loyalty_status"]
    )


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])


# --- the load generator (a separate process) ------------------------------------------


class _Load:
    """One phase: the request bytes, one cursor all connections share, what came back."""

    def __init__(self, requests: list[bytes], connections: int) -> None:
        self.requests, self.next = requests, 0
        self.latency_us: list[int] = []
        self.answers: list[bytes] = []
        self.errors: list[str] = []
        self.open = connections
        self.done = asyncio.get_running_loop().create_future()

    def take(self) -> bytes | None:
        if self.next >= len(self.requests):
            return None
        self.next += 1
        return self.requests[self.next - 1]

    def finished(self) -> None:
        self.open -= 1
        if not self.open and not self.done.done():
            self.done.set_result(None)


class _Conn(asyncio.Protocol):
    """One keep-alive connection: write a request, read its answer by Content-Length,
    then the next request from the shared cursor."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.buf = bytearray()
        self.need, self.body_at, self.status, self.t0 = -1, 0, 0, 0
        self.load: _Load | None = None
        self.in_flight = False
        self.ready = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.ready.set_result(None)

    def start(self, load: _Load) -> None:
        self.load = load
        self._send()

    def _send(self) -> None:
        assert self.load is not None
        request = self.load.take()
        if request is None:
            self.load.finished()
            return
        if self.transport.is_closing():
            self.load.errors.append("connection closed by the server")
            self.load.finished()
            return
        self.in_flight, self.t0 = True, time.perf_counter_ns()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while self.load is not None:
            if self.need < 0:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(buf[:end]).lower()
                self.status = int(head[9:12])
                at = head.find(b"\ncontent-length:")
                if at < 0:
                    self.load.errors.append(f"HTTP {self.status} without Content-Length")
                    self.transport.close()
                    return
                eol = head.find(b"\r", at + 16)
                self.body_at = end + 4
                self.need = self.body_at + int(head[at + 16 : eol if eol > 0 else None])
            if len(buf) < self.need:
                return
            load = self.load
            load.latency_us.append((time.perf_counter_ns() - self.t0) // 1000)
            body = bytes(buf[self.body_at : self.need])
            del buf[: self.need]
            self.need, self.in_flight = -1, False
            if self.status == 200:
                load.answers.append(body)
            else:
                load.errors.append(f"HTTP {self.status}: {body[:200]!r}")
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.load is not None and self.in_flight:
            # sent and not answered: the client cannot know whether it was stored
            self.load.errors.append(f"connection lost in flight: {exc}")
            self.in_flight = False
            self.load.finished()


async def _client_phase(bodies: dict[str, list[bytes]], cmd: dict) -> dict:
    loop = asyncio.get_running_loop()
    head = (
        f"POST {cmd['path']} HTTP/1.1\r\nHost: 127.0.0.1:{cmd['port']}\r\n"
        f"Authorization: Bearer {cmd['key']}\r\nContent-Type: application/json\r\n"
    )
    chosen = bodies[cmd["kind"]][cmd["lo"] : cmd["hi"]]
    requests = [f"{head}Content-Length: {len(b)}\r\n\r\n".encode() + b for b in chosen]
    connections = max(1, min(cmd["connections"], len(requests)))
    conns = []
    for _ in range(connections):
        _, conn = await loop.create_connection(_Conn, "127.0.0.1", cmd["port"])
        await conn.ready
        conns.append(conn)
    load = _Load(requests, connections)
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for conn in conns:
        conn.start(load)
    try:
        await asyncio.wait_for(asyncio.shield(load.done), cmd["timeout"])
    except TimeoutError:
        load.errors.append(f"timed out: {len(requests) - len(load.latency_us)} unanswered")
    seconds = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    for conn in conns:
        conn.load = None
        conn.transport.close()
    outcomes: Counter[str] = Counter()
    events = 0
    for answer in load.answers:
        data = json.loads(answer)
        results = data.get("results", [data])
        events += len(results)
        outcomes.update(r["outcome"] for r in results)
    return {
        "seconds": seconds,
        "latency_us": load.latency_us,
        "errors": load.errors[:20],
        "error_count": len(load.errors),
        "events": events,
        "outcomes": dict(outcomes),
        "client_cpu_s": r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime,
    }


async def _client_loop(bodies_file: str) -> None:
    loop = asyncio.get_running_loop()
    with open(bodies_file, "rb") as f:
        bodies = pickle.load(f)
    print(json.dumps({"ready": True}), flush=True)
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        result = await _client_phase(bodies, json.loads(line))
        print(json.dumps(result), flush=True)


def client_main(bodies_file: str) -> None:
    import uvloop

    uvloop.run(_client_loop(bodies_file))


class LoadClient:
    """The load generator's process; `post` runs one phase in it and returns its result."""

    def __init__(self, bodies_file: Path, timeout: float) -> None:
        self.timeout = timeout
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--client", str(bodies_file)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the load client exited ({self.proc.poll()})")
        return json.loads(line)

    def post(self, port: int, key: str, kind: str, numbers: range, connections: int) -> dict:
        path = "/v1/events" if kind in ("single", "warm_single") else "/v1/events/batch"
        cmd = {
            "port": port, "key": key, "path": path, "kind": kind, "lo": numbers.start,
            "hi": numbers.stop, "connections": connections, "timeout": self.timeout,
        }  # fmt: skip
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def request_bodies(events: EventBatch, phases: Phases) -> dict[str, list[bytes]]:
    records = as_json(events)
    n = phases.rounds * phases.single
    b = phases.batch_size

    def batch(lo: int) -> bytes:
        return json.dumps({"events": records[lo : lo + b]}).encode()

    return {
        "warm_single": [json.dumps(records[s][0]).encode() for s in phases.warm_single],
        "warm_batch": [json.dumps({"events": records[s]}).encode() for s in phases.warm_batch],
        "single": [
            json.dumps(r).encode() for r in records[phases.single_lo : phases.single_lo + n]
        ],
        "batch": [batch(phases.batch_lo + k * b) for k in range(phases.rounds * phases.batches)],
    }


# --- the HTTP services --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a live process, all its threads."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return -1


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far."""
    with open("/proc/stat") as f:
        values = [int(x) for x in f.readline().split()[1:]]
    total = sum(values[:8])
    return (total - values[3] - values[4]) / TICK, total / TICK


def settle(
    pids: list[int], most_s: float, quiet_cpus: float = 0.05, window_s: float = 0.2
) -> float:
    """Wait until the processes `pids` together use less than `quiet_cpus` CPUs (at most
    `most_s`): the work they do after answering is done. Other processes on the machine
    are not waited for (their share is recorded per phase as `other_cpu_s`)."""
    started = time.monotonic()
    while time.monotonic() - started < most_s:
        c0 = sum(proc_cpu_s(p) for p in pids)
        time.sleep(window_s)
        if sum(proc_cpu_s(p) for p in pids) - c0 < quiet_cpus * window_s:
            break
    return time.monotonic() - started


SETUP = """
import sys
import numpy as np
import pushlift
from pushlift import schema
from pushlift.store import Store
traits = np.load(sys.argv[2])
store = Store.open(sys.argv[1])
store.append(schema.CONSUMER, {k: traits[k] for k in traits.files})
store.close()
print(pushlift.__file__)
"""


@dataclass(frozen=True)
class Code:
    """A version of pushlift: its name and the `src` folder put on PYTHONPATH."""

    name: str
    src: Path

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(self.src)}

    def run(self, *args: str | Path) -> str:
        done = subprocess.run(
            [sys.executable, *map(str, args)],
            capture_output=True, text=True, timeout=300, env=self.env(),
        )  # fmt: skip
        if done.returncode:
            raise SystemExit(f"{self.name}: {' '.join(map(str, args))} failed: {done.stderr}")
        return done.stdout

    def cli(self, *args: str | Path) -> str:
        return self.run("-m", "pushlift.cli", *args)


class Served:
    """A fresh store (traits, a key), the config file, `pushlift serve` of `code` on it."""

    def __init__(
        self, folder: Path, code: Code, config_doc: dict, traits_file: Path, max_body: int
    ) -> None:
        folder.mkdir()
        self.code, self.db, config = code, folder / "serve.duckdb", folder / "engine.json"
        config.write_text(json.dumps(config_doc))
        imported = Path(code.run("-c", SETUP, self.db, traits_file).strip()).resolve()
        if not imported.is_relative_to(code.src.resolve()):
            raise SystemExit(f"{code.name}: pushlift imported from {imported}, not {code.src}")
        self.key = code.cli("keys", "create", "load-test", "--db", self.db).strip()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "serve.log"
        cmd = [sys.executable, "-m", "pushlift.cli", "serve", "--db", self.db,
               "--config", config, "--port", self.port]  # fmt: skip
        if max_body > MAX_BODY_BYTES:
            cmd += ["--max-body-bytes", max_body]
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(c) for c in cmd], stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
            env=code.env(), cwd=folder,
        )  # fmt: skip
        header = self._wait_healthy()
        self.info = {
            "pushlift_file": str(imported),
            "server_header": header,
            "server_start_s": time.perf_counter() - started,
            "pid": self.proc.pid,
        }

    def _wait_healthy(self) -> str | None:
        deadline = time.monotonic() + 300
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while True:
                if self.proc.poll() is not None:
                    raise SystemExit(f"{self.code.name}: the server exited: {self.log.read_text()}")
                try:
                    answer = client.get("/v1/health")
                    if answer.status_code == 200:
                        return answer.headers.get("server")
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    self.proc.kill()
                    raise SystemExit(f"{self.code.name}: no start: {self.log.read_text()}")
                time.sleep(0.1)

    def metrics(self) -> dict:
        """The server's own view (`/v1/metrics`): totals and `submit` latency percentiles."""
        answer = httpx.get(
            f"{self.url}/v1/metrics", headers={"authorization": f"Bearer {self.key}"}
        )
        data = answer.json()
        keep = ("requests_total", "events_total", "request_latency_ms", "loader_error")
        return {k: data[k] for k in keep if k in data}

    def stop(self) -> dict:
        """SIGTERM; the exit code, how long the server took, and what its store holds."""
        started = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=30)
            return {"shutdown": {"exit_code": code, "seconds": None, "clean": False}}
        shutdown = {
            "exit_code": code,
            "seconds": time.perf_counter() - started,
            "clean": code == 0 and "Traceback" not in self.log.read_text(),
        }
        con = duckdb.connect(str(self.db), read_only=True)
        try:
            return {
                "shutdown": shutdown,
                "stored_events": _count(con, "event"),
                "stored_notifications": _count(con, "notification"),
            }
        finally:
            con.close()


def http_phase(
    client: LoadClient, web: Served, kind: str, numbers: range, connections: int, tally: Tally
) -> None:
    load, cpu0, (busy0, _) = os.getloadavg(), proc_cpu_s(web.proc.pid), machine_busy()
    r = client.post(web.port, web.key, kind, numbers, connections)
    cpu1, (busy1, _) = proc_cpu_s(web.proc.pid), machine_busy()
    load_after = os.getloadavg()
    tally.latency.extend(x / 1e6 for x in r["latency_us"])
    tally.seconds += r["seconds"]
    tally.events += r["events"]
    tally.error_count += r["error_count"]
    tally.errors.extend(r["errors"])
    tally.outcomes.update(r["outcomes"])
    tally.rounds.append(
        {
            "events": r["events"],
            "seconds": r["seconds"],
            "events_per_s": r["events"] / r["seconds"],
            "p99_ms": float(np.percentile(r["latency_us"], 99)) / 1e3 if r["latency_us"] else None,
            "errors": r["error_count"],
            "load_average_before": load,
            "load_average_after": load_after,
            "server_cpu_s": cpu1 - cpu0,
            "client_cpu_s": r["client_cpu_s"],
            # the rest of the machine meanwhile (the load client's set-up, this process,
            # other processes): busy CPU seconds minus the server's and the timed client's
            "other_cpu_s": busy1 - busy0 - (cpu1 - cpu0) - r["client_cpu_s"],
        }
    )


def _brief(r: dict) -> str:
    return (
        f"{r['events_per_s']:,.0f} events/s, p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms,"
        f" p999 {r['p999_ms']:.2f} ms, errors {r['errors']}, late {r['outcomes'].get('late', 0)}"
    )


# --- the run ------------------------------------------------------------------------------


def wait_for_other_benchmark(most_s: float) -> dict:
    """Wait while `benchmarks/http_stack.py` runs (it would share the CPUs)."""
    started, load = time.monotonic(), os.getloadavg()
    while time.monotonic() - started < most_s:
        found = subprocess.run(["pgrep", "-f", "http_stack.py"], capture_output=True, text=True)
        if not found.stdout.strip():
            break
        print("  waiting for benchmarks/http_stack.py to finish ...", flush=True)
        time.sleep(10)
    still = bool(
        subprocess.run(["pgrep", "-f", "http_stack.py"], capture_output=True).stdout.strip()
    )
    return {
        "waited_s": time.monotonic() - started,
        "still_running": still,
        "load_average_at_start": load,
        "load_average_after_wait": os.getloadavg(),
    }


def wait_for_idle(most_s: float, busy_cpus: float = 0.3, window_s: float = 5.0) -> dict:
    """Wait (at most `most_s`) until the machine is nearly idle for `window_s`: other work
    on it (tests, other sessions) would share the CPUs and the disk."""
    started = time.monotonic()
    busy = float("nan")
    while True:
        b0, t0 = machine_busy()
        time.sleep(window_s)
        b1, t1 = machine_busy()
        busy = (b1 - b0) * (os.cpu_count() or 1) / max(t1 - t0, 1e-9)
        if busy < busy_cpus or time.monotonic() - started > most_s:
            break
    return {
        "waited_s": time.monotonic() - started,
        "busy_cpus_at_start": busy,
        "idle": busy < busy_cpus,
        "load_average": os.getloadavg(),
    }


def thread_settings() -> dict:
    import numba
    from granian.server.embed import Server as Embedded

    server_py = (NEW_SRC / "pushlift" / "serve" / "server.py").read_text()
    default = inspect.signature(Embedded.__init__).parameters["runtime_threads"].default
    names = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    con = duckdb.connect()
    try:
        duck = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
    finally:
        con.close()
    return {
        "environment": {k: os.environ.get(k) for k in names},
        "numba_num_threads": numba.config.NUMBA_NUM_THREADS,
        "numba_threading_layer": numba.config.THREADING_LAYER,
        "granian_runtime_threads": default if "runtime_threads" not in server_py else "set",
        "granian_blocking_threads": "default" if "blocking_threads" not in server_py else "set",
        "duckdb_threads": duck,
    }


def new_code() -> dict:
    """Which commit the new code is, and its files that differ from that commit."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(NEW_SRC), *args], capture_output=True, text=True)
        return done.stdout.strip()

    return {
        "src": str(NEW_SRC),
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": git("status", "--porcelain", "--", ".").splitlines(),
    }


def old_worktree(tree: Path) -> tuple[Code, bool]:
    """The old code's `src`; the worktree is made if missing (True: made here)."""
    made = False
    if not tree.exists():
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), OLD_COMMIT],
            check=True, capture_output=True,
        )  # fmt: skip
        made = True
    head = subprocess.run(
        ["git", "-C", str(tree), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    want = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", OLD_COMMIT], check=True, capture_output=True,
        text=True,
    ).stdout.strip()  # fmt: skip
    if head != want:
        raise SystemExit(f"{tree} is at {head}, not {OLD_COMMIT}")
    return Code("old", tree / "src"), made


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--client":
        client_main(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arg = parser.add_argument
    arg("--rounds", type=int, default=6, help="old, new and in-process take turns")
    arg("--clients", type=int, default=32, help="connections, single posts")
    arg("--single", type=int, default=4_000, help="single posts a round, new service")
    arg("--old-single", type=int, default=500, help="single posts a round, old service")
    arg("--local-single", type=int, default=300, help="single submits a round, in-process")
    arg("--batch-size", type=int, default=500, help="events per batch")
    arg("--batch-clients", type=int, default=4, help="connections, batches")
    arg("--batches", type=int, default=60, help="batches a round, new service")
    arg("--old-batches", type=int, default=16, help="batches a round, old service")
    arg("--local-batches", type=int, default=30, help="batches a round, in-process")
    arg("--floor-syncs", type=int, default=1_000, help="syncs per floor (1/5 for 100-row)")
    arg("--settle", type=float, default=8.0, help="most seconds to wait for an idle machine")
    arg("--wait-idle", type=float, default=120.0, help="most seconds to wait for an idle machine")
    arg("--phase-timeout", type=float, default=120.0, help="most seconds one phase may take")
    arg("--old-tree", type=Path, default=Path("/tmp/pushlift-old"), help="old code worktree")
    arg("--seed", type=int, default=1)
    arg("--out", type=Path, default=Path(__file__).parent / "results" / "http_load.json")
    args = parser.parse_args()
    if not 1 <= args.batch_size <= 10_000:
        parser.error("--batch-size must be 1..10000 (the API's limit)")
    for name in ("old_single", "local_single", "old_batches", "local_batches"):
        most = args.single if "single" in name else args.batches
        if not 0 < getattr(args, name) <= most:
            parser.error(f"--{name.replace('_', '-')} must be 1..{most}")
    phases = Phases(args.rounds, args.single, args.batches, args.batch_size)
    config_doc = city_config(args.seed)
    config = parse_config(config_doc, "benchmark")
    events = stream(phases.events, args.seed)
    print(
        f"{phases.events:,} pings in the stream, {args.rounds} rounds; a round: new "
        f"{args.single:,} single posts and {args.batches} x {args.batch_size}, old "
        f"{args.old_single:,} and {args.old_batches}, in-process {args.local_single:,} and "
        f"{args.local_batches}; {SUBSCRIBERS:,} subscribers, {len(config.offers):,} offers",
        flush=True,
    )
    results: dict = {
        "sizes": {
            "rounds": args.rounds,
            "clients_single": args.clients,
            "clients_batch": args.batch_clients,
            "batch_size": args.batch_size,
            "per_round": {
                "new": {"single": args.single, "batches": args.batches},
                "old": {"single": args.old_single, "batches": args.old_batches},
                "in_process": {"single": args.local_single, "batches": args.local_batches},
            },
            "warm_up_events": WARM_SINGLE + WARM_BATCH,
            "subscribers": SUBSCRIBERS,
            "offers": len(config.offers),
        },
        "cpus": os.cpu_count(),
        "threads": thread_settings(),
        "targets": TARGETS,
        "old_commit": OLD_COMMIT,
        "new_code": new_code(),
    }
    results["other_benchmark"] = wait_for_other_benchmark(1800)
    results["machine_idle_wait"] = wait_for_idle(args.wait_idle)
    print(f"  machine: {results['machine_idle_wait']}", flush=True)
    results["load_average_before"] = os.getloadavg()
    old, made = old_worktree(args.old_tree)
    try:
        with tempfile.TemporaryDirectory(prefix="pushlift-http-load-") as tmp:
            measured = measure(Path(tmp), args, phases, config_doc, config, events, old)
    finally:
        if made:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(args.old_tree)],
                check=False,
            )
    results |= measured
    results["load_average_after"] = os.getloadavg()
    results["ratios"] = ratios(results)
    results["targets_met"] = targets_met(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    table(results)
    problems = check(results, phases, args)
    for p in problems:
        print("FAILED:", p)
    if problems:
        raise SystemExit(1)


def measure(
    folder: Path,
    args: argparse.Namespace,
    phases: Phases,
    config_doc: dict,
    config: EngineConfig,
    events: EventBatch,
    old: Code,
) -> dict:
    """Floors; then single posts, then batched posts, each split in rounds, and each round
    posted to the old and the new service (alternating which goes first), then
    in-process, then to the raw engine, so the paths share the machine's load."""
    floors = measure_floors(folder, args.floor_syncs)
    traits = traits_columns(args.seed)
    traits_file = folder / "traits.npz"
    np.savez(traits_file, **traits)
    bodies = request_bodies(events, phases)
    bodies_file = folder / "bodies.pickle"
    bodies_file.write_bytes(pickle.dumps(bodies))
    largest = max(len(b) for b in bodies["batch"] + bodies["warm_batch"])
    codes = {"old": old, "new": Code("new", NEW_SRC)}
    count = {
        "old": {"single": args.old_single, "batch": args.old_batches},
        "new": {"single": args.single, "batch": args.batches},
        "local": {"single": args.local_single, "batch": args.local_batches},
    }
    connections = {"single": args.clients, "batch": args.batch_clients}
    servers: dict[str, Served] = {}
    http: dict = {name: {} for name in codes}
    ip: dict = {}
    client = local = None
    try:
        for name, code in codes.items():
            servers[name] = Served(folder / name, code, config_doc, traits_file, largest + 1024)
            http[name].update(servers[name].info)
            print(f"  {name}: {servers[name].info}", flush=True)
        local = InProcess(folder, config, traits, events)
        local.warm_up(phases)
        client = LoadClient(bodies_file, args.phase_timeout)
        for name, web in servers.items():
            for kind in ("warm_single", "warm_batch"):
                r = client.post(web.port, web.key, kind, range(len(bodies[kind])), 1)
                if r["error_count"]:
                    raise SystemExit(f"{name}: warm-up failed: {r['errors'][:5]}")
            http[name]["server_threads_after_warm_up"] = proc_threads(web.proc.pid)
        ours = [os.getpid(), *(web.proc.pid for web in servers.values())]
        for kind in ("single", "batch"):
            tallies = {name: Tally() for name in (*codes, "service", "engine")}
            tails = {name: 0.0 for name in codes}
            for r in range(args.rounds):
                order = ("old", "new") if r % 2 == 0 else ("new", "old")
                for name in order:
                    web = servers[name]
                    settle(ours, args.settle)
                    numbers = phases.numbers(kind, r, count[name][kind])
                    http_phase(client, web, kind, numbers, connections[kind], tallies[name])
                    cpu = proc_cpu_s(web.proc.pid)
                    waited = settle(ours, args.settle)
                    tail = proc_cpu_s(web.proc.pid) - cpu
                    tallies[name].rounds[-1] |= {"settle_s": waited, "server_tail_cpu_s": tail}
                    tails[name] += tail
                parts = phases.slices(kind, phases.numbers(kind, r, count["local"][kind]))
                local.service_phase(parts, tallies["service"])
                settle(ours, args.settle)  # the in-process loader's work done
                local.engine_phase(parts, tallies["engine"])
                print(
                    f"  round {r + 1}/{args.rounds} {kind}: "
                    + ", ".join(
                        f"{n} {t.rounds[-1]['events_per_s']:,.0f}/s" for n, t in tallies.items()
                    ),
                    flush=True,
                )
            for name in codes:
                t = tallies[name]
                cpu = sum(x["server_cpu_s"] for x in t.rounds)
                http[name][kind] = t.result(
                    connections=connections[kind],
                    server_cpu_s=cpu,
                    server_tail_cpu_s=tails[name],
                    server_cpu_us_per_event=1e6 * (cpu + tails[name]) / max(t.events, 1),
                    client_cpu_s=sum(x["client_cpu_s"] for x in t.rounds),
                )
                if kind == "single":
                    http[name]["server_metrics_after_single"] = servers[name].metrics()
                print(f"  HTTP {name} {kind}:", _brief(http[name][kind]), flush=True)
            for name in ("service", "engine"):
                ip[f"{name}_{kind}"] = tallies[name].result()
                print(f"  in-process {name} {kind}:", _brief(ip[f"{name}_{kind}"]), flush=True)
    finally:
        if client is not None:
            client.close()
        for name, web in servers.items():
            http[name].update(web.stop())
            print(f"  {name} shutdown", http[name]["shutdown"], flush=True)
        if local is not None:
            ip.update(local.close())
    return {"floors": floors, "http": http, "in_process": ip}


def ratios(r: dict) -> dict:
    ip, old, new = r["in_process"], r["http"]["old"], r["http"]["new"]
    out = {}
    for kind in ("single", "batch"):
        out[f"{kind}_new_over_old_events_per_s"] = (
            new[kind]["events_per_s"] / old[kind]["events_per_s"]
        )
        out[f"{kind}_new_over_old_p99"] = new[kind]["p99_ms"] / old[kind]["p99_ms"]
        service, engine = ip[f"service_{kind}"], ip[f"engine_{kind}"]
        out[f"{kind}_in_process_service_over_new_http"] = (
            service["events_per_s"] / new[kind]["events_per_s"]
        )
        out[f"{kind}_engine_over_in_process_service"] = (
            engine["events_per_s"] / service["events_per_s"]
        )
    out["new_http_batch_over_single"] = new["batch"]["events_per_s"] / new["single"]["events_per_s"]
    return out


def targets_met(r: dict) -> dict:
    new = r["http"]["new"]
    return {
        "single_events_per_s": new["single"]["events_per_s"] >= TARGETS["single_events_per_s"],
        "single_p99_ms": new["single"]["p99_ms"] <= TARGETS["single_p99_ms"],
        "batch_events_per_s": new["batch"]["events_per_s"] >= TARGETS["batch_events_per_s"],
    }


def table(r: dict) -> None:
    ip, s = r["in_process"], r["sizes"]
    print(f"\n{'floor':<44} {'records/s':>10} {'syncs/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for name, x in r["floors"].items():
        print(
            f"{name:<44} {x['records_per_s']:>10,.0f} {x['syncs_per_s']:>9,.0f}"
            f" {x['p50_ms']:>8.3f} {x['p99_ms']:>8.3f}"
        )
    rows = []
    for kind, label in (
        ("single", f"single, {s['clients_single']} conns"),
        ("batch", f"batch of {s['batch_size']}, {s['clients_batch']} conns"),
    ):
        for name in ("old", "new"):
            rows.append((f"HTTP {name} {label}", r["http"][name][kind]))
        rows.append((f"in-process submit, {kind}", ip[f"service_{kind}"]))
        rows.append((f"raw engine decide_batch, {kind}", ip[f"engine_{kind}"]))
    print(
        f"\n{'path':<44} {'events/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'p999 ms':>8}"
        f" {'errors':>6} {'late':>5}  load 1m"
    )
    for name, x in rows:
        la = x["load_average_1min_first_last"]
        print(
            f"{name:<44} {x['events_per_s']:>10,.0f} {x['p50_ms']:>8.3f} {x['p99_ms']:>8.3f}"
            f" {x['p999_ms']:>8.3f} {x['errors']:>6} {x['outcomes'].get('late', 0):>5}"
            f"  {la[0]:.2f}->{la[1]:.2f}"
        )
    for name in ("old", "new"):
        h = r["http"][name]
        print(
            f"{name}: server CPU per event: single {h['single']['server_cpu_us_per_event']:.0f} "
            f"us, batch {h['batch']['server_cpu_us_per_event']:.1f} us; "
            f"shutdown {h['shutdown']}"
        )
    for name, value in r["ratios"].items():
        print(f"{name}: {value:.2f}x")
    new = r["http"]["new"]
    t, met = r["targets"], r["targets_met"]
    print(
        f"target single >= {t['single_events_per_s']:,} events/s: "
        f"{new['single']['events_per_s']:,.0f} {'met' if met['single_events_per_s'] else 'MISSED'}"
        f"; p99 <= {t['single_p99_ms']} ms: {new['single']['p99_ms']:.2f} ms "
        f"{'met' if met['single_p99_ms'] else 'MISSED'}; batch >= "
        f"{t['batch_events_per_s']:,} events/s: {new['batch']['events_per_s']:,.0f} "
        f"{'met' if met['batch_events_per_s'] else 'MISSED'}"
    )
    print(
        f"load average {r['load_average_before']} -> {r['load_average_after']}; cpus "
        f"{r['cpus']}; threads {r['threads']}"
    )


def check(r: dict, phases: Phases, args: argparse.Namespace) -> list[str]:
    ip, problems = r["in_process"], []
    warm = WARM_SINGLE + WARM_BATCH
    per = {
        "old": (args.old_single, args.old_batches),
        "new": (args.single, args.batches),
        "in-process": (args.local_single, args.local_batches),
    }
    for name in ("old", "new"):
        http = r["http"][name]
        for kind in ("single", "batch"):
            if http[kind]["errors"]:
                problems.append(f"{http[kind]['errors']} errors in HTTP {name} {kind}")
        if not http["shutdown"]["clean"]:
            problems.append(f"{name}: the server did not stop cleanly: {http['shutdown']}")
    for kind in ("single", "batch"):
        if ip[f"service_{kind}"]["outcomes"] != ip[f"engine_{kind}"]["outcomes"]:
            problems.append(f"{kind}: the service and the raw engine decided differently")
    for name, part in (("old", r["http"]["old"]), ("new", r["http"]["new"]), ("in-process", ip)):
        single, batches = per[name]
        posted = warm + args.rounds * (single + batches * phases.batch_size)
        if (stored := part.get("stored_events")) != posted:
            problems.append(f"{name} stored {stored} events of the {posted} acknowledged")
    return problems


if __name__ == "__main__":
    main()
