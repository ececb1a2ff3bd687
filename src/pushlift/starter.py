"""`pushlift init DIR`: a commented starter config and a small example stream.

The config describes a few shops around a square; the stream is ~50 events of a dozen
subscribers walking past them, dated in the hours before `init` runs (never `future`), so
`pushlift run DIR/events.ndjson --config DIR/engine.yaml --db DIR/pushlift.duckdb` decides
them at once: some notifications delivered, some held out by the experiment's holdout arm.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from pushlift.assignment import assign_arms
from pushlift.engine.stream import SCHEMA_PATH
from pushlift.errors import PushliftError

CONFIG_NAME, EVENTS_NAME, SCHEMA_NAME = "engine.yaml", "events.ndjson", "event.schema.json"
EXPERIMENT = "starter-holdout"
ARMS, WEIGHTS = ("holdout", "treatment"), (0.3, 0.7)
SQUARE = (40.4155, -3.7074)  # the centre of the `plaza` zone
MARKET = (40.4138, -3.7090)  # inside the `market` polygon
ELSEWHERE = (40.4250, -3.6900)  # in no zone
DEG_PER_M = 1 / 111_195

CONFIG = """\
# pushlift engine config: what the decision engine decides with.
# Written by `pushlift init` on {today}. Check it with a run:
#   pushlift run {events} --config {config} --db {db}
# Every section is optional except that an offer needs a vendor and a trigger (a zone,
# or a segment). A mistake stops the run with one message naming the field, e.g.
# offers[1].max_bid_cents. Times are ISO 8601 with a UTC offset; durations are 90s, 30m,
# 4h or 7d; money is integer cents.

# Local time zone (IANA name) for quiet hours, daily budgets and "trips".
timezone: Europe/Madrid

# At most `max` notifications per subscriber in any `per` window (delivered and held
# out both count, so the holdout arm is capped exactly like the treatment arm).
frequency_cap: {{max: 2, per: 4h}}

# No notifications between these local times. Off here so that the example stream
# is decided whatever the hour; remove the '#' to switch it on.
# quiet_hours: {{start: "22:00", end: "08:00"}}

# Competing offers for the same event: the highest bid wins (ties go to the smaller
# offer id). first_price pays the bid; second_price pays the larger of the reserve and
# the next eligible bid.
auction: {{type: second_price, reserve_cents: 10}}

# Who sends offers. `domain` ties site visits (events of kind site_visit) to a vendor.
vendors:
  - {{id: cafe, name: Cafe Sol, domain: cafe.example.com}}
  - {{id: books, name: Libros Plaza, domain: books.example.com}}
  - {{id: fruit, name: Mercado Fresco, domain: fruit.example.com}}

# Where location pings trigger offers: a circle (centre and radius in metres) or a
# polygon of [lat, lon] points in order around the area.
zones:
  - {{id: plaza, circle: {{lat: 40.4155, lon: -3.7074, radius_m: 120}}}}
  - id: market
    polygon: [[40.4133, -3.7097], [40.4143, -3.7097], [40.4143, -3.7083], [40.4133, -3.7083]]

# Groups of subscribers an offer may require, computed from the events as they arrive:
#   in_zone (was in a zone within a time), purchased_at (bought at a vendor),
#   visited_site (visited a vendor's domain), traits (age band, gender, loyalty: needs
#   a consumer table in the store), first_purchase_of_trip (the first purchase of a day).
segments:
  - {{id: browsed-books, kind: visited_site, vendor: books, within: 3d}}
  - {{id: cafe-regular, kind: purchased_at, vendor: cafe, within: 30d}}

# What is sent. A location ping inside `zone` by a subscriber in every listed segment
# makes the offer a candidate; bids, budgets and caps decide among candidates.
offers:
  - id: coffee-2x1
    vendor: cafe
    content: "2x1 on coffee until noon"
    zone: plaza
    max_bid_cents: 40             # the most paid for one notification
    daily_budget_cents: 2000      # per local day; budget_cents caps the total
    cap_per_subscriber: 1         # lifetime notifications of this offer per person
  - id: books-10
    vendor: books
    content: "10% off the book you looked at"
    zone: plaza
    segments: [browsed-books]     # only for people who visited books.example.com
    max_bid_cents: 60
    budget_cents: 10000
  - id: fruit-basket
    vendor: fruit
    content: "A free orange with any basket"
    zone: market
    max_bid_cents: 25
    enabled: true                 # false pauses an offer without deleting it

# Randomized holdout: subscribers are split by a hash of (experiment, subscriber). A
# holdout arm receives nothing, but the notification it would have got is stored with
# delivered = false, so `pushlift analyze kpis` measures the lift against it.
experiments:
  - id: {experiment}
    arms:
      - {{name: holdout, weight: 0.3, holdout: true}}
      - {{name: treatment, weight: 0.7}}
"""


@dataclass(frozen=True)
class Written:
    config: Path
    events: Path
    schema: Path
    n_events: int
    db: Path


def _subscribers(counts: tuple[int, ...] = (4, 8)) -> list[int]:
    """Subscriber ids, `counts[i]` of them in arm `ARMS[i]` of the starter experiment (so
    the example has both delivered and held-out notifications whatever the hash)."""
    ids = np.arange(101, 401, dtype=np.int64)
    arms = assign_arms(EXPERIMENT, ids, ARMS, WEIGHTS)
    chosen = [int(i) for arm, n in zip(ARMS, counts, strict=True) for i in ids[arms == arm][:n]]
    return sorted(chosen)


def _near(rng: np.random.Generator, point: tuple[float, float], metres: float) -> list[float]:
    dlat, dlon = rng.uniform(-metres, metres, 2) * DEG_PER_M
    return [round(point[0] + dlat, 6), round(point[1] + dlon / 0.76, 6)]


def example_events(now: datetime, seed: int = 12) -> list[dict[str, object]]:
    """About 50 events of 12 subscribers in the two hours before `now` (UTC), in time
    order: pings in the plaza, at the market and elsewhere, visits to the bookshop's site
    and purchases at the cafe."""
    rng = np.random.default_rng(seed)
    start = now.astimezone(UTC).replace(microsecond=0) - timedelta(hours=2)
    events: list[tuple[float, dict[str, object]]] = []
    for k, subscriber in enumerate(_subscribers()):
        walk = sorted(rng.uniform(0, 100, 4))  # minutes after `start`
        if k % 3 == 0:  # a third looked at the bookshop's site before coming
            events.append((walk[0] - 5, {"kind": "site_visit", "domain": "books.example.com"}))
        places = [ELSEWHERE, SQUARE, MARKET if k % 2 else SQUARE, ELSEWHERE]
        for minute, place in zip(walk, places, strict=True):
            lat, lon = _near(rng, place, 40 if place != ELSEWHERE else 300)
            events.append((minute, {"kind": "location", "lat": lat, "lon": lon}))
        if k % 4 == 1:  # some buy a coffee after passing the square
            amount = int(rng.integers(2, 9)) * 50
            events.append(
                (walk[1] + 3, {"kind": "purchase", "vendor_id": "cafe", "amount_cents": amount})
            )
        for _, event in events:
            event.setdefault("subscriber_id", subscriber)
    events.sort(key=lambda e: (e[0], e[1]["subscriber_id"]))
    out = []
    for n, (minute, event) in enumerate(events, start=1):
        t = start + timedelta(seconds=round(max(minute, 0.0) * 60))
        out.append(
            {
                "event_id": 1000 + n,
                "kind": event.pop("kind"),
                "subscriber_id": event.pop("subscriber_id"),
                "time": t.isoformat().replace("+00:00", "Z"),
                **event,
            }
        )
    return out


def write_starter(directory: Path, *, force: bool = False, now: datetime | None = None) -> Written:
    """Write engine.yaml, events.ndjson and event.schema.json into `directory` (created if
    needed). Existing files are kept unless `force`."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise PushliftError(f"{directory} exists and is not a directory")
    config, events, schema = (directory / n for n in (CONFIG_NAME, EVENTS_NAME, SCHEMA_NAME))
    taken = [p for p in (config, events, schema) if p.exists()]
    if taken and not force:
        raise PushliftError(
            f"{', '.join(str(p) for p in taken)} already exist{'s' if len(taken) == 1 else ''}; "
            "pass --force to overwrite, or choose another directory"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        now = now or datetime.now(UTC)
        db = directory / "pushlift.duckdb"
        config.write_text(
            CONFIG.format(
                today=now.date().isoformat(),
                events=events,
                config=config,
                db=db,
                experiment=EXPERIMENT,
            ),
            encoding="utf-8",
        )
        stream = example_events(now)
        events.write_text("".join(json.dumps(e) + "\n" for e in stream), encoding="utf-8")
        shutil.copyfile(SCHEMA_PATH, schema)
    except OSError as e:
        raise PushliftError(f"cannot write into {directory}: {e.strerror or e}") from None
    return Written(config, events, schema, len(stream), db)
