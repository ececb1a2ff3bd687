"""A brute-force reference for the engine's decisions, written from the rules alone.

It keeps no incremental state: for every event it rescans the whole history (segments
from past events, caps and budgets from its own past notifications), and it checks zones
with matplotlib's polygon test and plain distance instead of the engine's grid. It is
slow (quadratic) and only for small streams, which is what makes it a fair referee.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from matplotlib.path import Path as MplPath

from pushlift.assignment import assign_arms
from pushlift.engine import config as cfg
from pushlift.engine.events import LOCATION, PURCHASE, SITE_VISIT, Event, to_us
from pushlift.engine.geo import EARTH_RADIUS_M
from pushlift.engine.state import Traits
from pushlift.schema import AGE_BANDS


@dataclass(frozen=True)
class OracleNote:
    position: int
    offer_id: str
    price_cents: int
    delivered: bool
    arm: str | None


def _local(config: cfg.EngineConfig, us: int) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime.fromtimestamp(us / 1e6, UTC).astimezone(ZoneInfo(config.timezone))


def _band(age: int) -> str:
    return next(label for label, lo, hi in AGE_BANDS if lo <= age <= hi)


def decide_all(
    config: cfg.EngineConfig, events: list[Event], traits: Traits
) -> tuple[list[str], list[OracleNote]]:
    """Outcome name per event and the notifications, by the written rules."""
    zones = {z.id: z for z in config.zones}
    lat0, lon0 = _centre(config)
    k = np.pi * EARTH_RADIUS_M / 180

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return (lon - lon0) * k * np.cos(np.radians(lat0)), (lat - lat0) * k

    def inside(zone_id: str, e: Event) -> bool:
        zone = zones[zone_id]
        x, y = xy(e.lat, e.lon)
        if zone.circle is not None:
            cx, cy = xy(zone.circle.lat, zone.circle.lon)
            return bool(np.hypot(x - cx, y - cy) <= zone.circle.radius_m)
        poly = MplPath([xy(lat, lon) for lat, lon in zone.polygon or ()])
        return bool(poly.contains_point((x, y)))

    vendors = {v.id: v for v in config.vendors}
    domains = {v.domain.lower(): v.id for v in config.vendors if v.domain}
    segments = {s.id: s for s in config.segments}
    trait_of = {
        int(s): (int(a), str(g), int(loyal))
        for s, a, g, loyal in zip(
            traits.subscriber_id, traits.age, traits.gender, traits.loyalty_status, strict=True
        )
    }
    arms: dict[tuple[str, int], cfg.Arm] = {}
    for exp in config.experiments:
        subs = sorted({e.subscriber_id for e in events})
        names = assign_arms(
            exp.id,
            np.array(subs),
            [a.name for a in exp.arms],
            [a.weight for a in exp.arms],
            exp.seed,
        )
        by_name = {a.name: a for a in exp.arms}
        for s, name in zip(subs, names, strict=True):
            arms[(exp.id, s)] = by_name[name]
    experiment_of = {}
    for exp in config.experiments:
        for name in exp.offers or [o.id for o in config.offers]:
            experiment_of[name] = exp
    reserve = config.auction.reserve_cents if config.auction.type == "second_price" else 0
    per_us = config.frequency_cap.per_us if config.frequency_cap else 0

    def site_vendor(e: Event) -> str | None:
        if e.domain and e.domain.lower() in domains:
            return domains[e.domain.lower()]
        return e.vendor_id if e.vendor_id in vendors else None

    def holds(seg_id: str, i: int, e: Event) -> bool:
        seg = segments[seg_id]
        past = [p for p in events[: i + 1] if p.subscriber_id == e.subscriber_id]
        if isinstance(seg, cfg.TraitsSegment):
            known = trait_of.get(e.subscriber_id)
            if known is None:
                return False
            age, gender, loyalty = known
            return (
                (seg.age_bands is None or _band(age) in seg.age_bands)
                and (seg.gender is None or gender == seg.gender)
                and (seg.loyalty is None or loyalty == (2 if seg.loyalty == "high" else 1))
            )
        if isinstance(seg, cfg.FirstPurchaseOfTripSegment):
            return first_of_day(i, e)
        since = e.time_us - cfg.parse_duration(seg.within)
        recent = [p for p in past if p.time_us >= since]
        if isinstance(seg, cfg.InZoneSegment):
            return any(p.kind == LOCATION and inside(seg.zone, p) for p in recent)
        if isinstance(seg, cfg.PurchasedAtSegment):
            return any(p.kind == PURCHASE and p.vendor_id == seg.vendor for p in recent)
        return any(p.kind == SITE_VISIT and site_vendor(p) == seg.vendor for p in recent)

    def first_of_day(i: int, e: Event) -> bool:
        day = _local(config, e.time_us).date()
        return not any(
            p.kind == PURCHASE
            and p.subscriber_id == e.subscriber_id
            and _local(config, p.time_us).date() == day
            for p in events[:i]
        )

    def quiet(e: Event) -> bool:
        q = config.quiet_hours
        if q is None:
            return False
        tod = _local(config, e.time_us).time()
        return q.start <= tod < q.end if q.start <= q.end else (tod >= q.start or tod < q.end)

    outcomes: list[str] = []
    notes: list[OracleNote] = []
    for i, e in enumerate(events):
        if e.kind == LOCATION:
            cands = [o for o in config.offers if o.zone and inside(o.zone, e)]
        elif e.kind == PURCHASE and first_of_day(i, e):
            cands = [
                o
                for o in config.offers
                if any(isinstance(segments[s], cfg.FirstPurchaseOfTripSegment) for s in o.segments)
            ]
        else:
            cands = []
        if not cands:
            outcomes.append("no_match")
            continue
        cands = [
            o
            for o in cands
            if o.enabled
            and o.max_bid_cents >= reserve
            and (o.valid_from is None or to_us(o.valid_from) <= e.time_us)
            and (o.valid_until is None or e.time_us < to_us(o.valid_until))
        ]
        if not cands:
            outcomes.append("inactive")
            continue
        if quiet(e):
            outcomes.append("quiet_hours")
            continue
        cands = [o for o in cands if all(holds(s, i, e) for s in o.segments)]
        if not cands:
            outcomes.append("segment")
            continue
        mine = [n for n in notes if events[n.position].subscriber_id == e.subscriber_id]
        if (
            config.frequency_cap
            and sum(events[n.position].time_us > e.time_us - per_us for n in mine)
            >= config.frequency_cap.max
        ):
            outcomes.append("frequency_cap")
            continue
        uncapped = [
            o
            for o in cands
            if o.cap_per_subscriber is None
            or sum(n.offer_id == o.id for n in mine) < o.cap_per_subscriber
        ]
        day = _local(config, e.time_us).date()

        def spent(o: cfg.Offer, same_day: bool, day=day) -> int:
            return sum(
                n.price_cents
                for n in notes
                if n.offer_id == o.id
                and n.delivered
                and (not same_day or _local(config, events[n.position].time_us).date() == day)
            )

        eligible = [
            o
            for o in uncapped
            if (o.budget_cents is None or spent(o, False) + o.max_bid_cents <= o.budget_cents)
            and (
                o.daily_budget_cents is None
                or spent(o, True) + o.max_bid_cents <= o.daily_budget_cents
            )
        ]
        if not eligible:
            outcomes.append("budget" if uncapped else "subscriber_cap")
            continue
        eligible.sort(key=lambda o: (-o.max_bid_cents, o.id))
        winner = eligible[0]
        if config.auction.type == "second_price":
            price = max(reserve, eligible[1].max_bid_cents if len(eligible) > 1 else 0)
        else:
            price = winner.max_bid_cents
        exp = experiment_of.get(winner.id)
        arm = arms[(exp.id, e.subscriber_id)] if exp else None
        delivered = not (arm is not None and arm.holdout)
        notes.append(OracleNote(i, winner.id, price, delivered, arm.name if arm else None))
        outcomes.append("delivered" if delivered else "held_out")
    return outcomes, notes


def _centre(config: cfg.EngineConfig) -> tuple[float, float]:
    points = [(z.circle.lat, z.circle.lon) for z in config.zones if z.circle]
    points += [p for z in config.zones if z.polygon for p in z.polygon]
    return sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)
