"""Engine throughput and decision latency, against the reference design, in one run.

Setup: 100,000 subscribers with traits, 1,000 vendors each with an offer (circular zone,
bid, budgets, a third with a segment), frequency cap and a holdout experiment: the city
simulator's config. The stream is location pings of those subscribers over one daytime
hour, in event-time order. Two cities: "dense" (pings over the 10 km square the zones
cover: most pings are inside some zone) and "sparse" (the same pings spread over a square
ten times wider, 100 times the area: few pings are inside any zone).

Measured:
- micro-batch: `Engine.decide_batch` on batches of 50,000 events: events per second, and
  p50/p99 of the time to decide one batch;
- single event: `Engine.decide` on each of the first 50,000 events: p50/p99 latency;
  (the engine's compiled code is built or loaded from its disk cache once, before timing:
  `compile_or_load_s`)
- events per CPU second as well (process time: what one core would sustain, less sensitive
  to other load on a shared machine than wall time);
- reference design: the corrected matching query (zone containment, trait segment, enabled,
  highest bid per event with ROW_NUMBER and a deterministic tie-break) run on DuckDB once
  per second of event time over the same stream, as the reference implementation does on
  its distributed database. It decides less than the engine (no caps, budgets or
  holdout) and is still the baseline to beat.

Each city's engine and reference run in the same process one after the other, so their
ratio is the figure to compare across runs on a shared machine (load averages are recorded).

Run: .venv/bin/python benchmarks/engine_throughput.py [--events N] [--city dense|sparse]
     [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from pushlift.engine.config import parse_config
from pushlift.engine.engine import Engine
from pushlift.engine.events import EventBatch
from pushlift.engine.plan import Plan
from pushlift.engine.state import Traits
from pushlift.sim.city import CENTRE, DEG_PER_M, HALF_SIZE_M, CityModel, build_config

SUBSCRIBERS, VENDORS = 100_000, 1_000
T0 = 1_772_442_000_000_000  # 2026-03-02 09:00 UTC (10:00 in Madrid: not quiet hours)


def setup(n_events: int, seed: int = 1, spread: float = 1.0) -> tuple[Plan, Traits, EventBatch]:
    """The plan, the subscribers' traits and the stream; pings cover a square `spread`
    times as wide as the city's zones."""
    rng = np.random.default_rng(seed)
    plan = Plan(parse_config(build_config(rng, VENDORS, 7, CityModel()), "benchmark"))
    ids = np.arange(1, SUBSCRIBERS + 1, dtype=np.int64)
    traits = Traits(
        ids,
        rng.integers(18, 80, SUBSCRIBERS),
        rng.choice(np.array(["F", "M"], dtype=object), SUBSCRIBERS),
        rng.integers(1, 3, SUBSCRIBERS),
    )
    x, y = spread * rng.uniform(-HALF_SIZE_M, HALF_SIZE_M, (2, n_events))
    lat = CENTRE[0] + y * DEG_PER_M
    lon = CENTRE[1] + x * DEG_PER_M / np.cos(np.radians(CENTRE[0]))
    t = T0 + np.sort(rng.integers(0, 3_600_000_000, n_events))
    stream = EventBatch.locations(
        np.arange(1, n_events + 1), rng.integers(1, SUBSCRIBERS + 1, n_events), t, lat, lon
    )
    return plan, traits, stream


def fresh_engine(plan: Plan, traits: Traits) -> Engine:
    engine = Engine(plan.__class__(plan.config))
    engine.state.set_traits(traits)
    engine.state.subscribers(traits.subscriber_id)  # everyone known, as in production
    return engine


def warm_up(plan: Plan, traits: Traits, stream: EventBatch) -> float:
    """Compile (or load from the disk cache) the engine's kernel; seconds taken."""
    start = time.perf_counter()
    engine = fresh_engine(plan, traits)
    engine.decide_batch(stream.take(slice(0, 100)))
    engine.decide(stream.event(100))
    return time.perf_counter() - start


def micro_batch(plan: Plan, traits: Traits, stream: EventBatch, size: int = 50_000) -> dict:
    engine = fresh_engine(plan, traits)
    times, cpu, notified = [], 0.0, 0
    for lo in range(0, len(stream), size):
        part = stream.take(slice(lo, lo + size))
        start, start_cpu = time.perf_counter(), time.process_time()
        d = engine.decide_batch(part)
        times.append(time.perf_counter() - start)
        cpu += time.process_time() - start_cpu
        notified += len(d.position)
    total = sum(times)
    return {
        "events_per_s": len(stream) / total,
        "events_per_cpu_s": len(stream) / cpu,
        "batch_size": size,
        "batch_p50_ms": 1e3 * float(np.percentile(times, 50)),
        "batch_p99_ms": 1e3 * float(np.percentile(times, 99)),
        "notified": notified,
    }


def single_event(plan: Plan, traits: Traits, stream: EventBatch, n: int = 50_000) -> dict:
    engine = fresh_engine(plan, traits)
    events = stream.take(slice(0, n)).events()
    lat = np.empty(len(events))
    clock = time.perf_counter_ns
    for i, e in enumerate(events):
        start = clock()
        engine.decide(e)
        lat[i] = clock() - start
    return {
        "events_per_s": float(len(events) / (lat.sum() / 1e9)),
        "p50_us": float(np.percentile(lat, 50)) / 1e3,
        "p99_us": float(np.percentile(lat, 99)) / 1e3,
        "events": len(events),
    }


MATCH_SQL = """
WITH candidates AS (
  SELECT e.event_id, o.offer_id, o.bid
  FROM batch e
  JOIN offers o
    ON e.x BETWEEN o.cx - o.r AND o.cx + o.r AND e.y BETWEEN o.cy - o.r AND o.cy + o.r
   AND (e.x - o.cx) * (e.x - o.cx) + (e.y - o.cy) * (e.y - o.cy) <= o.r * o.r
  LEFT JOIN subscriber_traits s ON s.subscriber_id = e.subscriber_id
  WHERE o.enabled
    AND (o.segment IS NULL
         OR (o.segment = 'loyal' AND s.loyalty = 2)
         OR (o.segment = 'women' AND s.gender = 'F')
         OR (o.segment = 'young' AND s.age < 40))
), ranked AS (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY bid DESC, offer_id) AS rank
  FROM candidates
)
SELECT event_id, offer_id, bid FROM ranked WHERE rank = 1
"""


def reference_sql(plan: Plan, traits: Traits, stream: EventBatch) -> dict:
    con = duckdb.connect()
    shapes = plan.zones.shapes
    trait_segments = {"loyal", "women", "young"}
    offers = pa.table(
        {
            "offer_id": plan.offer_ids,
            "bid": plan.bid,
            "cx": [shapes[z].circle[0] for z in plan.offer_zone],
            "cy": [shapes[z].circle[1] for z in plan.offer_zone],
            "r": [shapes[z].circle[2] for z in plan.offer_zone],
            "enabled": plan.active,
            "segment": [
                next((s for s in o.segments if s in trait_segments), None) for o in plan.offers
            ],
        }
    )
    con.register("offer_rows", offers)
    con.execute("CREATE TABLE offers AS SELECT * FROM offer_rows")
    people = pa.table(
        {
            "subscriber_id": traits.subscriber_id,
            "age": traits.age,
            "gender": traits.gender.astype(str),
            "loyalty": traits.loyalty_status,
        }
    )
    con.register("people", people)
    con.execute("CREATE TABLE subscriber_traits AS SELECT * FROM people")
    x, y = plan.zones.projection.points(stream.lat, stream.lon)
    second = (stream.time_us - stream.time_us[0]) // 1_000_000
    bounds = np.flatnonzero(np.diff(second)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(stream)]])
    times, cpu, matched = [], 0.0, 0
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        start, start_cpu = time.perf_counter(), time.process_time()
        con.register(
            "batch",
            pa.table(
                {
                    "event_id": stream.event_id[lo:hi],
                    "subscriber_id": stream.subscriber_id[lo:hi],
                    "x": x[lo:hi],
                    "y": y[lo:hi],
                }
            ),
        )
        matched += len(con.execute(MATCH_SQL).fetchall())
        con.unregister("batch")
        times.append(time.perf_counter() - start)
        cpu += time.process_time() - start_cpu
    return {
        "events_per_s": len(stream) / sum(times),
        "events_per_cpu_s": len(stream) / cpu,  # CPU time of all of DuckDB's threads
        "threads": con.execute("SELECT current_setting('threads')").fetchone()[0],
        "queries": len(times),
        "query_p50_ms": 1e3 * float(np.percentile(times, 50)),
        "query_p99_ms": 1e3 * float(np.percentile(times, 99)),
        "matched": matched,
    }


def run_city(name: str, spread: float, n_events: int) -> dict:
    plan, traits, stream = setup(n_events, spread=spread)
    offers = len(plan.offer_ids)
    print(f"{name} city: {len(stream):,} pings, {SUBSCRIBERS:,} subscribers, {offers:,} offers")
    result: dict = {"spread": spread, "load_average_before": os.getloadavg()}
    result["compile_or_load_s"] = warm_up(plan, traits, stream)
    result["micro_batch"] = micro_batch(plan, traits, stream)
    print("  micro-batch", result["micro_batch"], flush=True)
    result["single_event"] = single_event(plan, traits, stream)
    print("  single event", result["single_event"], flush=True)
    result["reference_sql_per_second"] = reference_sql(plan, traits, stream)
    print("  reference (DuckDB query per second)", result["reference_sql_per_second"])
    result["load_average_after"] = os.getloadavg()
    mb, ref = result["micro_batch"], result["reference_sql_per_second"]
    result["speedup_micro_batch_vs_reference"] = mb["events_per_s"] / ref["events_per_s"]
    result["speedup_micro_batch_vs_reference_cpu"] = (
        mb["events_per_cpu_s"] / ref["events_per_cpu_s"]
    )
    print(f"  micro-batch engine / reference: {result['speedup_micro_batch_vs_reference']:.1f}x")
    return result


CITIES = {"dense": 1.0, "sparse": 10.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument(
        "--city", choices=sorted(CITIES), action="append", help="default: dense and sparse"
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "engine_throughput.json"
    )
    args = parser.parse_args()
    results: dict = {"events": args.events, "subscribers": SUBSCRIBERS, "cpus": os.cpu_count()}
    for name in args.city or ["dense", "sparse"]:
        results[name] = run_city(name, CITIES[name], args.events)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
