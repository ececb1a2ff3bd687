"""The config compiled into arrays the engine indexes by integer (its decision plan).

Offers are ranked once: higher bid first, then offer id. That rank is the auction's
deterministic tie-break, and sorting candidates by it gives every event its bids in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo

import numpy as np

from pushlift.engine import config as cfg
from pushlift.engine.events import to_us
from pushlift.engine.geo import Projection, ZoneIndex

NEVER = np.iinfo(np.int64).min // 4  # "no such time yet", far enough from overflow
FOREVER = np.iinfo(np.int64).max // 4
DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000

# Segment kinds as small integers.
IN_ZONE, PURCHASED_AT, VISITED_SITE, TRAITS, FIRST_PURCHASE_OF_TRIP = range(5)


@dataclass(frozen=True)
class CompiledSegment:
    id: str
    kind: int
    slot: int  # which row of the matching state array (zone, vendor or site slot)
    within_us: int = 0


def _us_of_day(t: time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


class LocalClock:
    """Local day numbers and times of day in the config's time zone (DST-aware)."""

    def __init__(self, timezone: str) -> None:
        self.zone = ZoneInfo(timezone)
        self._offset = lru_cache(maxsize=65_536)(self._offset_of_hour)

    def _offset_of_hour(self, hour: int) -> int:
        # Offsets change only on whole hours in every zone we care about.
        moment = datetime.fromtimestamp(hour * 3600, UTC).astimezone(self.zone)
        offset = moment.utcoffset()
        return 0 if offset is None else int(offset.total_seconds()) * 1_000_000

    def local_us(self, t: int) -> int:
        return t + self._offset(t // HOUR_US)

    def local_us_many(self, t: np.ndarray) -> np.ndarray:
        hours = t // HOUR_US
        unique, inverse = np.unique(hours, return_inverse=True)
        offsets = np.array([self._offset(int(h)) for h in unique], dtype=np.int64)
        return t + offsets[inverse]


@dataclass(frozen=True)
class PlanLabels:
    offer_id: np.ndarray
    offer_vendor_id: np.ndarray
    offer_zone_id: np.ndarray
    offer_content: np.ndarray
    experiment_id: np.ndarray  # by experiment number; the last entry (None) for no experiment


class Plan:
    """Everything the engine needs from the config, indexed by integers."""

    def __init__(self, config: cfg.EngineConfig) -> None:
        self.config = config
        self.clock = LocalClock(config.timezone)
        self.vendor_ids = [v.id for v in config.vendors]
        self.vendor_index = {v: i for i, v in enumerate(self.vendor_ids)}
        self.domain_vendor = {v.domain.lower(): i for i, v in enumerate(config.vendors) if v.domain}
        zone_ids = [z.id for z in config.zones]
        self.zone_ids = zone_ids
        zone_index = {z: i for i, z in enumerate(zone_ids)}
        centre = _centre(config)
        self.zones = ZoneIndex(config.zones, Projection.around(*centre))

        # Segments: each dynamic kind gets state slots (one per distinct zone / vendor),
        # numbered in order of first use (a dict per kind: its keys keep that order).
        slots: dict[int, dict[int, int]] = {IN_ZONE: {}, PURCHASED_AT: {}, VISITED_SITE: {}}
        self.trait_segments: list[cfg.TraitsSegment] = []
        self.segments: list[CompiledSegment] = []
        for seg in config.segments:
            self.segments.append(self._compile_segment(seg, zone_index, slots))
        self.zone_slots = list(slots[IN_ZONE])  # zone index of each in-zone slot
        self.vendor_slots = list(slots[PURCHASED_AT])  # vendor index of each purchased-at slot
        self.site_slots = list(slots[VISITED_SITE])  # vendor index of each visited-site slot
        self.segment_index = {s.id: i for i, s in enumerate(self.segments)}
        self.zone_slot_of_zone = np.full(len(zone_ids), -1, dtype=np.int64)
        for slot, zone in enumerate(self.zone_slots):
            self.zone_slot_of_zone[zone] = slot
        self.vendor_slot_of_vendor = {v: s for s, v in enumerate(self.vendor_slots)}
        self.site_slot_of_vendor = {v: s for s, v in enumerate(self.site_slots)}

        # Offers in auction rank: higher bid first, then offer id.
        offers = sorted(config.offers, key=lambda o: (-o.max_bid_cents, o.id))
        self.offers = offers
        self.offer_ids = [o.id for o in offers]
        self.offer_rank = {o: i for i, o in enumerate(self.offer_ids)}
        n = len(offers)
        self.bid = np.array([o.max_bid_cents for o in offers], dtype=np.int64)
        self.budget = np.array([o.budget_cents or FOREVER for o in offers], dtype=np.int64)
        self.daily_budget = np.array(
            [o.daily_budget_cents or FOREVER for o in offers], dtype=np.int64
        )
        self.cap = np.array([o.cap_per_subscriber or 0 for o in offers], dtype=np.int64)
        self.valid_from = np.array(
            [to_us(o.valid_from) if o.valid_from else NEVER for o in offers], dtype=np.int64
        )
        self.valid_until = np.array(
            [to_us(o.valid_until) if o.valid_until else FOREVER for o in offers], dtype=np.int64
        )
        reserve = config.auction.reserve_cents if config.auction.type == "second_price" else 0
        self.reserve = reserve
        self.second_price = config.auction.type == "second_price"
        # Offers that can never be shown: disabled, or bidding below the reserve.
        self.active = np.array([o.enabled for o in offers], dtype=bool) & (self.bid >= reserve)
        self.offer_vendor = np.array([self.vendor_index[o.vendor] for o in offers], np.int64)
        self.offer_zone = np.array(
            [zone_index[o.zone] if o.zone else -1 for o in offers], dtype=np.int64
        )
        self.required = [
            [self.segment_index[s] for s in o.segments] for o in offers
        ]  # per offer, segment indices
        # Offers the trip trigger starts (no segments x offers matrix: it grows as the product).
        trip = {i for i, s in enumerate(self.segments) if s.kind == FIRST_PURCHASE_OF_TRIP}
        self.trip_offers = np.array(
            [o for o, segs in enumerate(self.required) if trip.intersection(segs)], dtype=np.int64
        )
        # Zone -> offers triggered by it, as CSR arrays (offers in rank order).
        by_zone: list[list[int]] = [[] for _ in zone_ids]
        for o in range(n):
            if self.offer_zone[o] >= 0:
                by_zone[self.offer_zone[o]].append(o)
        counts = np.array([len(z) for z in by_zone], dtype=np.int64)
        self.zone_offer_count = counts
        self.zone_offer_start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        self.zone_offers = np.array([o for z in by_zone for o in z], dtype=np.int64)

        # Experiments: which one covers each offer, and which arms are holdouts.
        self.experiments = config.experiments
        self.offer_experiment = np.full(n, -1, dtype=np.int64)
        for e, exp in enumerate(config.experiments):
            for name in exp.offers or self.offer_ids:
                self.offer_experiment[self.offer_rank[name]] = e
        self.arm_holdout = [np.array([a.holdout for a in exp.arms]) for exp in config.experiments]

        cap = config.frequency_cap
        self.frequency_max = cap.max if cap else 0
        self.frequency_per_us = cap.per_us if cap else 0
        quiet = config.quiet_hours
        self.quiet = (_us_of_day(quiet.start), _us_of_day(quiet.end)) if quiet else None

    def _compile_segment(
        self, seg: object, zone_index: dict[str, int], slots: dict[int, dict[int, int]]
    ) -> CompiledSegment:
        if isinstance(seg, cfg.InZoneSegment):
            slot = _slot(slots[IN_ZONE], zone_index[seg.zone])
            return CompiledSegment(seg.id, IN_ZONE, slot, cfg.parse_duration(seg.within))
        if isinstance(seg, cfg.PurchasedAtSegment | cfg.VisitedSiteSegment):
            kind = PURCHASED_AT if isinstance(seg, cfg.PurchasedAtSegment) else VISITED_SITE
            slot = _slot(slots[kind], self.vendor_index[seg.vendor])
            return CompiledSegment(seg.id, kind, slot, cfg.parse_duration(seg.within))
        if isinstance(seg, cfg.TraitsSegment):
            self.trait_segments.append(seg)
            return CompiledSegment(seg.id, TRAITS, len(self.trait_segments) - 1)
        assert isinstance(seg, cfg.FirstPurchaseOfTripSegment)
        return CompiledSegment(seg.id, FIRST_PURCHASE_OF_TRIP, 0)

    def quiet_at(self, local_us: int) -> bool:
        if self.quiet is None:
            return False
        start, end = self.quiet
        tod = local_us % DAY_US
        return start <= tod < end if start <= end else (tod >= start or tod < end)

    def quiet_many(self, local_us: np.ndarray) -> np.ndarray:
        if self.quiet is None:
            return np.zeros(len(local_us), dtype=bool)
        start, end = self.quiet
        tod = local_us % DAY_US
        return (start <= tod) & (tod < end) if start <= end else (tod >= start) | (tod < end)

    @cached_property
    def labels(self) -> PlanLabels:
        """The ids and texts notifications carry, as arrays to index by number: built once
        (building them per decided group cost more than deciding it)."""
        return PlanLabels(
            offer_id=np.array(self.offer_ids, dtype=object),
            offer_vendor_id=np.array(self.vendor_ids, dtype=object)[self.offer_vendor],
            offer_zone_id=np.array(self.zone_ids + [None], dtype=object)[self.offer_zone],
            offer_content=np.array([o.content for o in self.offers], dtype=object),
            experiment_id=np.array([e.id for e in self.experiments] + [None], dtype=object),
        )


def _slot(slots: dict[int, int], item: int) -> int:
    """The slot of `item` (a zone or vendor index), the next free one on first use."""
    return slots.setdefault(item, len(slots))


def _centre(config: cfg.EngineConfig) -> tuple[float, float]:
    points = [(z.circle.lat, z.circle.lon) for z in config.zones if z.circle]
    points += [p for z in config.zones if z.polygon for p in z.polygon]
    if not points:
        return 0.0, 0.0
    return sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)
