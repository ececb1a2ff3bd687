"""HTTP load test of `pushlift serve`, against the same work done in-process, in one run.

Bounded and loopback-only: a fresh store in a temporary folder, a real `pushlift serve`
subprocess on 127.0.0.1 (a free port), a fixed number of requests, then SIGTERM.

Setup: the city simulator's config (1,000 vendors, each with an offer, a circular zone,
bid, daily and total budgets, a third with a segment; a frequency cap and a holdout
experiment), 100,000 subscribers with traits in the store's `consumer` table (so trait
segments apply, as in production), and a stream of location pings of those subscribers
over one daytime hour, in event-time order, over the 10 km square the zones cover (the
"dense" city of `engine_throughput.py`: most pings are inside some zone, so most requests
write a notification).

Ordering: the engine decides in event-time order (an event older than one already decided
is stored but not decided: outcome `late`). All clients take their next request from one
shared, time-ordered sequence (a cursor under a lock), so the events reach the server in
order up to the few requests in flight at once; `late` in the outcome counts says how many
crossed. Batches are posted by one client by default (one gateway forwarding an ordered
stream): with two or more, a batch that overtakes the one before makes all of that one's
events late. The in-process baselines decide the same sequence strictly in order.

Measured (each request is decided and committed to the store before its answer):
1. single posts: N `POST /v1/events` from C client threads (one keep-alive httpx.Client
   each): sustained events/s (events / wall time of the phase), client-side latency
   p50/p99/p999, errors (non-200 or exception: must be zero);
2. batched posts: M `POST /v1/events/batch` of B events each, from CB client threads:
   events/s, per-request latency p50/p99/p999, errors;
3. in-process, same config, same traits, same stream, on a fresh store, one thread:
   `DecisionService.submit` with single events and with batches of B (engine + durable
   store writes, no HTTP), and the raw engine `Engine.decide_batch` on the same single
   events and batches (no store).
Each kind (single, then batched) is split into R rounds (default 10) of consecutive
requests; each round is posted over HTTP, then in-process, then to the raw engine, so the
three paths take turns and share the machine's load (events/s is events over the summed
time of a path's rounds). The server's
own view (`/v1/metrics`: `submit` time inside the server, lock wait included) is recorded
after the single posts. Ratios: in-process service / HTTP (the HTTP overhead) and raw engine
/ in-process service (the store's cost). Request bodies are serialized before timing; the
client runs on the same machine as the server, so on a small machine they share the CPUs
(load averages are recorded). A few warm-up events, an hour before the stream, go through
every path first.

After SIGTERM the server must exit with code 0 (it finishes in-flight requests) and the
store must hold every acknowledged event.

Run: .venv/bin/python benchmarks/http_load.py [--single 2000] [--clients 4]
     [--batches 200] [--batch-size 500] [--batch-clients 1] [--rounds 10]
     [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx
import numpy as np

from pushlift import schema
from pushlift.engine.config import EngineConfig, parse_config
from pushlift.engine.engine import Engine
from pushlift.engine.events import EventBatch, from_us
from pushlift.engine.outcomes import OUTCOMES
from pushlift.engine.plan import Plan
from pushlift.engine.state import Traits
from pushlift.serve.api import MAX_BODY_BYTES
from pushlift.serve.service import DecisionService
from pushlift.sim.city import CENTRE, DEG_PER_M, HALF_SIZE_M, CityModel, build_config
from pushlift.store import Store

PUSHLIFT = Path(sys.executable).with_name("pushlift")
SUBSCRIBERS, VENDORS = 100_000, 1_000
T0 = 1_772_442_000_000_000  # 2026-03-02 09:00 UTC (10:00 in Madrid: not quiet hours)
HOUR_US = 3_600_000_000
WARM_SINGLE, WARM_BATCH = 20, 100  # warm-up events, an hour before the stream


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
    """Warm-up events (ids n+1.., an hour early), then n pings (ids 1..n) over one hour."""
    rng = np.random.default_rng(seed + 2)
    x, y = rng.uniform(-HALF_SIZE_M, HALF_SIZE_M, (2, n))
    lat = CENTRE[0] + y * DEG_PER_M
    lon = CENTRE[1] + x * DEG_PER_M / np.cos(np.radians(CENTRE[0]))
    t = T0 + np.sort(rng.integers(0, HOUR_US, n))
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
    """Which slices of the stream each phase posts: warm-up, singles, batches."""

    def __init__(self, single: int, batches: int, batch_size: int) -> None:
        self.single, self.batches, self.batch_size = single, batches, batch_size
        w = WARM_SINGLE + WARM_BATCH
        self.warm_single = [slice(i, i + 1) for i in range(WARM_SINGLE)]
        self.warm_batch = [slice(WARM_SINGLE, w)]
        self.singles = [slice(w + i, w + i + 1) for i in range(single)]
        lo = w + single
        self.batched = [
            slice(lo + k * batch_size, lo + (k + 1) * batch_size) for k in range(batches)
        ]

    @property
    def events(self) -> int:
        return self.single + self.batches * self.batch_size


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


# --- in-process baselines ---------------------------------------------------------------


@dataclass
class Tally:
    """One path's requests over all rounds: latencies, busy time, errors, outcomes."""

    latency: list[float] = field(default_factory=list)
    seconds: float = 0.0  # wall time of the rounds (the gaps between rounds excluded)
    events: int = 0
    errors: list[str] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)

    def result(self, **extra: object) -> dict:
        return {
            "events": self.events,
            "requests": len(self.latency),
            "events_per_s": self.events / self.seconds,
            "seconds": self.seconds,
            **percentiles(self.latency),
            "errors": len(self.errors),
            "first_errors": self.errors[:5],
            "outcomes": dict(sorted(self.outcomes.items())),
            **extra,
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
    for part in parts:
        t = clock()
        answers.append(call(part))
        took = clock() - t
        tally.latency.append(took)
        tally.seconds += took
        tally.events += len(part)
    for answer in answers:
        tally.outcomes.update(outcomes(answer))


class InProcess:
    """`DecisionService.submit` on its own fresh store, and the raw engine (no store)."""

    def __init__(
        self, folder: Path, config: EngineConfig, traits: dict, events: EventBatch
    ) -> None:
        self.store = new_store(folder / "in_process.duckdb", traits)
        self.service = DecisionService(self.store, config, "benchmark")
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


# --- the HTTP service -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pushlift(*args: str | Path) -> str:
    done = subprocess.run(
        [str(PUSHLIFT), *map(str, args)], capture_output=True, text=True, timeout=300
    )
    if done.returncode:
        raise SystemExit(f"pushlift {' '.join(map(str, args))} failed: {done.stderr}")
    return done.stdout


class Server:
    """`pushlift serve` on 127.0.0.1 and a free port, until `stop()`."""

    def __init__(self, db: Path, config: Path, log: Path, max_body: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        cmd = [PUSHLIFT, "serve", "--db", db, "--config", config, "--port", self.port]
        if max_body > MAX_BODY_BYTES:
            cmd += ["--max-body-bytes", max_body]
        self.proc = subprocess.Popen(
            [str(c) for c in cmd], stdout=log.open("ab"), stderr=subprocess.STDOUT
        )
        started = time.perf_counter()
        deadline = time.monotonic() + 300
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while True:
                if self.proc.poll() is not None:
                    raise SystemExit(f"the server exited: {log.read_text()}")
                try:
                    if client.get("/v1/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    self.proc.kill()
                    raise SystemExit(f"the server did not start: {log.read_text()}")
                time.sleep(0.1)
        self.start_s = time.perf_counter() - started

    def stop(self) -> dict:
        """SIGTERM; the exit code and how long the server took to stop."""
        started = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=30)
            return {"exit_code": code, "seconds": None, "clean": False}
        return {
            "exit_code": code,
            "seconds": time.perf_counter() - started,
            "clean": code == 0 and "Traceback" not in self.log.read_text(),
        }


def post_all(
    url: str, key: str, path: str, bodies: list[bytes], clients: int, tally: Tally
) -> None:
    """Post `bodies` in order from `clients` threads sharing one cursor (one keep-alive
    connection each); answers are read after the clock stops."""
    lock = threading.Lock()
    cursor: Iterator[bytes] = iter(bodies)
    answers: list[bytes] = []
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}

    def client_thread() -> None:
        latency, failed, mine = [], [], []
        clock = time.perf_counter
        with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
            while True:
                with lock:
                    body = next(cursor, None)
                if body is None:
                    break
                t = clock()
                try:
                    answer = client.post(path, content=body)
                except httpx.HTTPError as e:
                    latency.append(clock() - t)
                    failed.append(f"{type(e).__name__}: {e}")
                    continue
                latency.append(clock() - t)
                if answer.status_code != 200:
                    failed.append(f"HTTP {answer.status_code}: {answer.text[:200]}")
                else:
                    mine.append(answer.content)
        with lock:
            tally.latency.extend(latency)
            tally.errors.extend(failed)
            answers.extend(mine)

    threads = [threading.Thread(target=client_thread) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tally.seconds += time.perf_counter() - start
    for answer in answers:
        data = json.loads(answer)
        results = data.get("results", [data])
        tally.events += len(results)
        tally.outcomes.update(r["outcome"] for r in results)


class OverHttp:
    """A store with a key and the config file, `pushlift serve` on it, the request bodies."""

    def __init__(
        self, folder: Path, config_doc: dict, traits: dict, events: EventBatch, phases: Phases
    ) -> None:
        self.db, config = folder / "serve.duckdb", folder / "engine.json"
        config.write_text(json.dumps(config_doc))
        new_store(self.db, traits).close()
        self.key = pushlift("keys", "create", "load-test", "--db", self.db).strip()
        records = as_json(events)
        self.bodies = {
            "warm_single": [json.dumps(records[s][0]).encode() for s in phases.warm_single],
            "warm_batch": [json.dumps({"events": records[s]}).encode() for s in phases.warm_batch],
            "single": [json.dumps(records[s][0]).encode() for s in phases.singles],
            "batch": [json.dumps({"events": records[s]}).encode() for s in phases.batched],
        }
        largest = max(len(b) for b in self.bodies["batch"] + self.bodies["warm_batch"])
        self.server = Server(self.db, config, folder / "serve.log", max_body=largest + 1024)
        self.info = {
            "server_start_s": self.server.start_s,
            "max_body_bytes": max(MAX_BODY_BYTES, largest + 1024),
            **{
                f"body_bytes_{kind}_mean": float(np.mean([len(b) for b in self.bodies[kind]]))
                for kind in ("single", "batch")
                if self.bodies[kind]
            },
        }

    def warm_up(self) -> None:
        for path, kind in (("/v1/events", "warm_single"), ("/v1/events/batch", "warm_batch")):
            tally = Tally()
            post_all(self.server.url, self.key, path, self.bodies[kind], 1, tally)
            if tally.errors:
                raise SystemExit(f"warm-up failed: {tally.errors[:5]}")

    def phase(self, kind: str, parts: range, clients: int, tally: Tally) -> None:
        """Post the bodies of `kind` numbered `parts`."""
        path = "/v1/events" if kind == "single" else "/v1/events/batch"
        bodies = self.bodies[kind][parts.start : parts.stop]
        post_all(self.server.url, self.key, path, bodies, clients, tally)

    def metrics(self) -> dict:
        """The server's own view (`/v1/metrics`): totals and `submit` latency percentiles."""
        answer = httpx.get(
            f"{self.server.url}/v1/metrics", headers={"authorization": f"Bearer {self.key}"}
        )
        data = answer.json()
        return {k: data[k] for k in ("requests_total", "events_total", "request_latency_ms")}

    def stop(self) -> dict:
        """SIGTERM, then what the store holds (read after the server let go of it)."""
        stopped = self.server.stop()
        con = duckdb.connect(str(self.db), read_only=True)
        try:
            return {
                "shutdown": stopped,
                "stored_events": _count(con, "event"),
                "stored_notifications": _count(con, "notification"),
            }
        finally:
            con.close()


def _brief(r: dict) -> str:
    return (
        f"{r['events_per_s']:,.0f} events/s, p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms,"
        f" p999 {r['p999_ms']:.2f} ms, errors {r['errors']}, late {r['outcomes'].get('late', 0)}"
    )


# --- the run ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=2_000, help="single-event requests")
    parser.add_argument("--clients", type=int, default=4, help="client threads, single posts")
    parser.add_argument("--batches", type=int, default=200, help="batch requests")
    parser.add_argument("--batch-size", type=int, default=500, help="events per batch")
    parser.add_argument("--batch-clients", type=int, default=1, help="client threads, batches")
    parser.add_argument(
        "--rounds", type=int, default=10, help="HTTP, in-process and engine take turns"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "http_load.json"
    )
    args = parser.parse_args()
    if not 1 <= args.batch_size <= 10_000:
        parser.error("--batch-size must be 1..10000 (the API's limit)")
    phases = Phases(args.single, args.batches, args.batch_size)
    config_doc = city_config(args.seed)
    config = parse_config(config_doc, "benchmark")
    events = stream(phases.events, args.seed)
    print(
        f"{phases.events:,} pings ({args.single:,} single posts, {args.batches:,} x "
        f"{args.batch_size:,}), {SUBSCRIBERS:,} subscribers, {len(config.offers):,} offers",
        flush=True,
    )
    results: dict = {
        "sizes": {
            "single_requests": args.single,
            "clients_single": args.clients,
            "batch_requests": args.batches,
            "batch_size": args.batch_size,
            "clients_batch": args.batch_clients,
            "rounds": args.rounds,
            "warm_up_events": WARM_SINGLE + WARM_BATCH,
            "subscribers": SUBSCRIBERS,
            "offers": len(config.offers),
        },
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="pushlift-http-load-") as tmp:
        http, local = measure(Path(tmp), args, config_doc, config, events)
    results["http"], results["in_process"] = http, local
    results["load_average_after"] = os.getloadavg()
    results["ratios"] = ratios(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    table(results)
    problems = check(results)
    for p in problems:
        print("FAILED:", p)
    if problems:
        raise SystemExit(1)


def measure(
    folder: Path,
    args: argparse.Namespace,
    config_doc: dict,
    config: EngineConfig,
    events: EventBatch,
) -> tuple[dict, dict]:
    """Single posts, then batched posts; each split in rounds, and each round posted over
    HTTP, then in-process, then to the raw engine, so the paths share the machine's load."""
    phases = Phases(args.single, args.batches, args.batch_size)
    traits = traits_columns(args.seed)
    local = InProcess(folder, config, traits, events)
    local.warm_up(phases)
    web = OverHttp(folder, config_doc, traits, events, phases)
    http: dict = dict(web.info)
    ip: dict = {}
    try:
        web.warm_up()
        runs = (
            ("single", phases.singles, args.clients),
            ("batch", phases.batched, args.batch_clients),
        )
        for kind, parts, clients in runs:
            tallies = Tally(), Tally(), Tally()
            for block in np.array_split(np.arange(len(parts)), args.rounds):
                if not len(block):
                    continue
                lo, hi = int(block[0]), int(block[-1]) + 1
                web.phase(kind, range(lo, hi), clients, tallies[0])
                local.service_phase(parts[lo:hi], tallies[1])
                local.engine_phase(parts[lo:hi], tallies[2])
            http[kind] = tallies[0].result(clients=clients)
            ip[f"service_{kind}"], ip[f"engine_{kind}"] = tallies[1].result(), tallies[2].result()
            if kind == "single":
                http["server_metrics_after_single"] = web.metrics()
            for name, r in (("HTTP", http[kind]), ("service", ip[f"service_{kind}"])):
                print(f"  {name} {kind}:", _brief(r), flush=True)
            print(f"  engine {kind}:", _brief(ip[f"engine_{kind}"]), flush=True)
    finally:
        http.update(web.stop())
        ip.update(local.close())
    print("  shutdown", http["shutdown"], flush=True)
    return http, ip


def ratios(r: dict) -> dict:
    ip, http = r["in_process"], r["http"]
    out = {}
    for kind in ("single", "batch"):
        service, engine, web = ip[f"service_{kind}"], ip[f"engine_{kind}"], http[kind]
        out[f"{kind}_in_process_service_over_http"] = service["events_per_s"] / web["events_per_s"]
        out[f"{kind}_engine_over_in_process_service"] = (
            engine["events_per_s"] / service["events_per_s"]
        )
        out[f"{kind}_engine_over_http"] = engine["events_per_s"] / web["events_per_s"]
    out["http_batch_over_http_single"] = (
        http["batch"]["events_per_s"] / http["single"]["events_per_s"]
    )
    return out


def table(r: dict) -> None:
    ip, http, s = r["in_process"], r["http"], r["sizes"]
    rows = [
        (f"HTTP single, {s['clients_single']} clients", http["single"]),
        ("in-process DecisionService.submit, single", ip["service_single"]),
        ("raw engine decide_batch, single", ip["engine_single"]),
        (f"HTTP batch of {s['batch_size']}, {s['clients_batch']} clients", http["batch"]),
        (f"in-process DecisionService.submit, batch of {s['batch_size']}", ip["service_batch"]),
        (f"raw engine decide_batch, batch of {s['batch_size']}", ip["engine_batch"]),
    ]
    print(f"\n{'path':<48} {'events/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'p999 ms':>9}")
    for name, x in rows:
        print(
            f"{name:<48} {x['events_per_s']:>10,.0f} {x['p50_ms']:>9.3f} {x['p99_ms']:>9.3f}"
            f" {x['p999_ms']:>9.3f}"
        )
    for name, value in r["ratios"].items():
        print(f"{name}: {value:.2f}x")
    print(
        f"errors: single {http['single']['errors']}, batch {http['batch']['errors']}; "
        f"shutdown {http['shutdown']}; load average {r['load_average_before']} -> "
        f"{r['load_average_after']}"
    )


def check(r: dict) -> list[str]:
    http, ip, problems = r["http"], r["in_process"], []
    for kind in ("single", "batch"):
        if http[kind]["errors"]:
            problems.append(f"{http[kind]['errors']} errors in HTTP {kind}")
    if not http["shutdown"]["clean"]:
        problems.append(f"the server did not stop cleanly: {http['shutdown']}")
    for kind in ("single", "batch"):
        if ip[f"service_{kind}"]["outcomes"] != ip[f"engine_{kind}"]["outcomes"]:
            problems.append(f"{kind}: the service and the raw engine decided differently")
    s = r["sizes"]
    posted = s["single_requests"] + s["batch_requests"] * s["batch_size"] + s["warm_up_events"]
    for name, part in (("the server", http), ("in-process", ip)):
        if (stored := part["stored_events"]) != posted:
            problems.append(f"{name} stored {stored} events of the {posted} acknowledged")
    return problems


if __name__ == "__main__":
    main()
