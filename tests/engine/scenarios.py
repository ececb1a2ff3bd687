"""Random but small engine scenarios: a config and an event stream from one seed.

Zones are crowded onto a 2 km square so offers overlap, budgets and caps are tight so
they bind, and every segment kind is used, so the invariants below are really exercised.
"""

from __future__ import annotations

import numpy as np

from pushlift.engine.config import EngineConfig, parse_config
from pushlift.engine.events import LOCATION, PURCHASE, SITE_VISIT, EventBatch
from pushlift.engine.state import Traits

LAT0, LON0 = 40.0, -3.7
START_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
DEG_PER_M = 1 / 111_195


def random_config(rng: np.random.Generator, *, second_price: bool = False) -> EngineConfig:
    n_vendors = int(rng.integers(2, 6))
    n_zones = int(rng.integers(2, 7))
    vendors = [{"id": f"v{i}", "domain": f"v{i}.example"} for i in range(n_vendors)]
    zones = []
    for i in range(n_zones):
        lat = LAT0 + rng.uniform(-1000, 1000) * DEG_PER_M
        lon = LON0 + rng.uniform(-1000, 1000) * DEG_PER_M
        if rng.random() < 0.6:
            zones.append(
                {
                    "id": f"z{i}",
                    "circle": {"lat": lat, "lon": lon, "radius_m": float(rng.uniform(200, 900))},
                }
            )
        else:
            side = rng.uniform(300, 1200) * DEG_PER_M
            zones.append(
                {
                    "id": f"z{i}",
                    "polygon": [
                        [lat, lon],
                        [lat + side, lon],
                        [lat + side, lon + side * 1.3],
                        [lat + side * 0.2, lon + side * 0.5],
                    ],
                }
            )
    segments = [
        {"id": "recent-z0", "kind": "in_zone", "zone": "z0", "within": "2h"},
        {"id": "bought-v0", "kind": "purchased_at", "vendor": "v0", "within": "1d"},
        {"id": "visited-v1", "kind": "visited_site", "vendor": "v1", "within": "1d"},
        {"id": "women", "kind": "traits", "gender": "F"},
        {"id": "high-young", "kind": "traits", "loyalty": "high", "age_bands": ["18-29", "30-39"]},
        {"id": "trip", "kind": "first_purchase_of_trip"},
    ]
    offers = []
    for i in range(int(rng.integers(3, 12))):
        offer: dict[str, object] = {
            "id": f"o{i:02d}",
            "vendor": f"v{int(rng.integers(n_vendors))}",
            "content": f"offer {i}",
            "max_bid_cents": int(rng.choice([50, 80, 80, 120, 150])),  # ties on purpose
        }
        if rng.random() < 0.2:
            offer["segments"] = ["trip"]
        else:
            offer["zone"] = f"z{int(rng.integers(n_zones))}"
            picks = rng.choice(5, size=int(rng.integers(0, 3)), replace=False)
            offer["segments"] = [segments[int(k)]["id"] for k in picks]
        if rng.random() < 0.5:
            offer["budget_cents"] = int(rng.integers(200, 3000))
        if rng.random() < 0.4:
            offer["daily_budget_cents"] = int(rng.integers(150, 1000))
        if rng.random() < 0.5:
            offer["cap_per_subscriber"] = int(rng.integers(1, 3))
        if rng.random() < 0.1:
            offer["enabled"] = False
        if rng.random() < 0.2:
            offer["valid_from"] = "2026-01-01T06:00:00Z"
            offer["valid_until"] = "2026-01-02T12:00:00Z"
        offers.append(offer)
    names = [o["id"] for o in offers]
    half = len(names) // 2
    data = {
        "timezone": "Europe/Madrid",
        "frequency_cap": {"max": int(rng.integers(1, 3)), "per": "1h"},
        "quiet_hours": {"start": "23:00", "end": "07:00"},
        "auction": {"type": "second_price", "reserve_cents": 60} if second_price else {},
        "vendors": vendors,
        "zones": zones,
        "segments": segments,
        "offers": offers,
        "experiments": [
            {
                "id": "holdout-a",
                "offers": names[:half],
                "arms": [
                    {"name": "control", "weight": 0.3, "holdout": True},
                    {"name": "treatment", "weight": 0.7},
                ],
            },
            {
                "id": "holdout-b",
                "offers": names[half:],
                "seed": 3,
                "arms": [
                    {"name": "hold", "weight": 1, "holdout": True},
                    {"name": "a", "weight": 1},
                    {"name": "b", "weight": 2},
                ],
            },
        ],
    }
    return parse_config(data, "random scenario")


def random_stream(rng: np.random.Generator, n_events: int, n_subscribers: int) -> EventBatch:
    """Events over two days, in time order, mixing pings, purchases and site visits."""
    t = START_US + np.sort(rng.integers(0, 2 * 86_400_000_000, n_events))
    # Same-time events on purpose: order among them is the stream's order.
    t[1::7] = t[0:-1:7][: len(t[1::7])]
    t = np.maximum.accumulate(t)
    kind = rng.choice([LOCATION, PURCHASE, SITE_VISIT], size=n_events, p=[0.8, 0.12, 0.08])
    vendors = np.array([f"v{i}" for i in range(6)] + ["elsewhere"], dtype=object)
    vendor = np.where(kind == PURCHASE, vendors[rng.integers(0, 7, n_events)], None)
    domain = np.where(
        kind == SITE_VISIT,
        np.array(["v1.example", "V0.example", "x.org"], dtype=object)[rng.integers(0, 3, n_events)],
        None,
    )
    is_loc = kind == LOCATION
    return EventBatch(
        event_id=np.arange(1, n_events + 1, dtype=np.int64) * 10,
        kind=kind.astype(np.int8),
        subscriber_id=rng.integers(1, n_subscribers + 1, n_events).astype(np.int64) * 7,
        time_us=t.astype(np.int64),
        lat=np.where(is_loc, LAT0 + rng.uniform(-1300, 1300, n_events) * DEG_PER_M, np.nan),
        lon=np.where(is_loc, LON0 + rng.uniform(-1300, 1300, n_events) * DEG_PER_M, np.nan),
        vendor_id=vendor.astype(object),
        amount_cents=np.where(kind == PURCHASE, rng.integers(100, 5000, n_events), 0),
        domain=domain.astype(object),
    )


def random_traits(rng: np.random.Generator, n_subscribers: int) -> Traits:
    """Traits for most (not all) subscribers: the rest must match no trait segment."""
    ids = np.arange(1, n_subscribers + 1, dtype=np.int64) * 7
    known = ids[rng.random(n_subscribers) < 0.85]
    n = len(known)
    return Traits(
        known, rng.integers(18, 80, n), rng.choice(np.array(["F", "M"]), n), rng.integers(1, 3, n)
    )
