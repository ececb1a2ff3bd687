"""The engine's configuration: vendors, zones, segments, offers, experiments and caps.

One file (YAML or JSON) describes everything the engine decides with. Field names are the
interface; pydantic validates types, and the checks below validate what types cannot
(references between sections, non-overlapping experiments, a trigger for every offer). Any
problem becomes one InputError naming the field, e.g. `offers[2].max_bid_cents`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pushlift.errors import InputError
from pushlift.schema import AGE_BANDS

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
AGE_BAND_LABELS = tuple(label for label, _, _ in AGE_BANDS)


def parse_duration(text: str | int) -> int:
    """'90s', '30m', '1h', '7d' (or whole seconds) -> microseconds."""
    if isinstance(text, int) and not isinstance(text, bool) and text > 0:
        return text * 1_000_000
    match = _DURATION.match(str(text))
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration like '90s', '30m', '1h' or '7d'")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)] * 1_000_000


Duration = Annotated[str | int, Field(description="e.g. '30m', '1h', '7d'")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Circle(_Model):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_m: float = Field(gt=0)


class Zone(_Model):
    """A notification zone: a circle, or a polygon given as [lat, lon] points."""

    id: str = Field(min_length=1)
    circle: Circle | None = None
    polygon: list[tuple[float, float]] | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> Zone:
        if (self.circle is None) == (self.polygon is None):
            raise ValueError("give exactly one of 'circle' or 'polygon'")
        if self.polygon is not None:
            if len(self.polygon) < 3:
                raise ValueError("a polygon needs at least 3 [lat, lon] points")
            for lat, lon in self.polygon:
                if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                    raise ValueError(f"polygon point [{lat}, {lon}] is not a [lat, lon] pair")
        return self


class Vendor(_Model):
    id: str = Field(min_length=1)
    name: str = ""
    category: str = ""
    domain: str | None = Field(None, description="the vendor's web site, for site-visit segments")
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)


class InZoneSegment(_Model):
    """Was in `zone` at some time within the last `within` (the current event included)."""

    id: str = Field(min_length=1)
    kind: Literal["in_zone"]
    zone: str
    within: Duration


class PurchasedAtSegment(_Model):
    """Bought at `vendor` within the last `within` (the current event included)."""

    id: str = Field(min_length=1)
    kind: Literal["purchased_at"]
    vendor: str
    within: Duration


class VisitedSiteSegment(_Model):
    """Visited `vendor`'s site (its domain) within the last `within`."""

    id: str = Field(min_length=1)
    kind: Literal["visited_site"]
    vendor: str
    within: Duration


class TraitsSegment(_Model):
    """Customer traits known in advance; every trait given must hold."""

    id: str = Field(min_length=1)
    kind: Literal["traits"]
    age_bands: list[str] | None = None
    gender: Literal["F", "M"] | None = None
    loyalty: Literal["low", "high"] | None = None

    @field_validator("age_bands")
    @classmethod
    def _known_bands(cls, bands: list[str] | None) -> list[str] | None:
        for band in bands or []:
            if band not in AGE_BAND_LABELS:
                raise ValueError(f"unknown age band {band!r}; known: {', '.join(AGE_BAND_LABELS)}")
        return bands


class FirstPurchaseOfTripSegment(_Model):
    """Holds at a subscriber's first purchase of the (local) day: the mall's trigger."""

    id: str = Field(min_length=1)
    kind: Literal["first_purchase_of_trip"]


Segment = Annotated[
    InZoneSegment
    | PurchasedAtSegment
    | VisitedSiteSegment
    | TraitsSegment
    | FirstPurchaseOfTripSegment,
    Field(discriminator="kind"),
]


class Offer(_Model):
    id: str = Field(min_length=1)
    vendor: str
    content: str = Field(min_length=1)
    zone: str | None = Field(None, description="location events inside it trigger the offer")
    segments: list[str] = Field(default_factory=list, description="all must hold")
    max_bid_cents: int = Field(gt=0)
    budget_cents: int | None = Field(None, gt=0, description="total budget; none = unlimited")
    daily_budget_cents: int | None = Field(None, gt=0)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    cap_per_subscriber: int | None = Field(None, gt=0, description="lifetime notifications")
    enabled: bool = True

    @field_validator("valid_from", "valid_until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone, e.g. '2026-01-01T00:00:00Z'")
        return value


class Arm(_Model):
    name: str = Field(min_length=1)
    weight: float = Field(gt=0)
    holdout: bool = Field(False, description="receives nothing; would-have-sent is recorded")


class Experiment(_Model):
    id: str = Field(min_length=1)
    arms: list[Arm] = Field(min_length=2)
    offers: list[str] | None = Field(None, description="offers it covers; none = all offers")
    seed: int = 0

    @model_validator(mode="after")
    def _arms_ok(self) -> Experiment:
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ValueError("arm names must be unique")
        return self


class FrequencyCap(_Model):
    max: int = Field(gt=0)
    per: Duration

    @property
    def per_us(self) -> int:
        return parse_duration(self.per)


class QuietHours(_Model):
    start: time
    end: time


class Auction(_Model):
    type: Literal["first_price", "second_price"] = "first_price"
    reserve_cents: int = Field(0, ge=0, description="second price: minimum price and bid")


class EngineConfig(_Model):
    timezone: str = "UTC"
    frequency_cap: FrequencyCap | None = None
    quiet_hours: QuietHours | None = None
    auction: Auction = Auction()
    vendors: list[Vendor] = Field(default_factory=list)
    zones: list[Zone] = Field(default_factory=list)
    segments: list[Segment] = Field(default_factory=list)
    offers: list[Offer] = Field(default_factory=list)
    experiments: list[Experiment] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r} (use an IANA name)") from None
        return name

    def problems(self) -> list[tuple[str, str]]:
        """Cross-reference problems as (field path, message); empty when consistent."""
        found: list[tuple[str, str]] = []
        for section in ("vendors", "zones", "segments", "offers", "experiments"):
            seen: set[str] = set()
            for i, item in enumerate(getattr(self, section)):
                if item.id in seen:
                    found.append((f"{section}[{i}].id", f"duplicate id {item.id!r}"))
                seen.add(item.id)
        vendors = {v.id: v for v in self.vendors}
        zones = {z.id for z in self.zones}
        segments = {s.id: s for s in self.segments}
        for i, seg in enumerate(self.segments):
            if isinstance(seg, InZoneSegment) and seg.zone not in zones:
                found.append((f"segments[{i}].zone", f"unknown zone {seg.zone!r}"))
            if isinstance(seg, PurchasedAtSegment | VisitedSiteSegment):
                if seg.vendor not in vendors:
                    found.append((f"segments[{i}].vendor", f"unknown vendor {seg.vendor!r}"))
                elif isinstance(seg, VisitedSiteSegment) and not vendors[seg.vendor].domain:
                    found.append((f"segments[{i}].vendor", f"vendor {seg.vendor!r} has no domain"))
            if isinstance(seg, InZoneSegment | PurchasedAtSegment | VisitedSiteSegment):
                try:
                    parse_duration(seg.within)
                except ValueError as e:
                    found.append((f"segments[{i}].within", str(e)))
        for i, offer in enumerate(self.offers):
            at = f"offers[{i}]"
            if offer.vendor not in vendors:
                found.append((f"{at}.vendor", f"unknown vendor {offer.vendor!r}"))
            if offer.zone is not None and offer.zone not in zones:
                found.append((f"{at}.zone", f"unknown zone {offer.zone!r}"))
            for j, name in enumerate(offer.segments):
                if name not in segments:
                    found.append((f"{at}.segments[{j}]", f"unknown segment {name!r}"))
            trip = [
                n for n in offer.segments if isinstance(segments.get(n), FirstPurchaseOfTripSegment)
            ]
            if offer.zone is None and not trip:
                found.append((at, "needs a trigger: a 'zone', or a first_purchase_of_trip segment"))
            if offer.zone is not None and trip:
                found.append(
                    (at, "give either a 'zone' or a first_purchase_of_trip segment, not both")
                )
            if offer.valid_from and offer.valid_until and offer.valid_until <= offer.valid_from:
                found.append((f"{at}.valid_until", "must be after valid_from"))
        offer_ids = {o.id for o in self.offers}
        covered: dict[str, str] = {}
        for i, exp in enumerate(self.experiments):
            for j, name in enumerate(exp.offers or sorted(offer_ids)):
                if name not in offer_ids:
                    found.append((f"experiments[{i}].offers[{j}]", f"unknown offer {name!r}"))
                elif name in covered:
                    found.append(
                        (
                            f"experiments[{i}]",
                            f"offer {name!r} is already in experiment {covered[name]!r}",
                        )
                    )
                else:
                    covered[name] = exp.id
        if self.frequency_cap is not None:
            try:
                parse_duration(self.frequency_cap.per)
            except ValueError as e:
                found.append(("frequency_cap.per", str(e)))
        return found


def _field_path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in {
            "in_zone",
            "purchased_at",
            "visited_site",
            "traits",
            "first_purchase_of_trip",
        }:
            continue  # pydantic names the union member; the user knows it as `kind`
        else:
            path += f".{part}" if path else str(part)
    return path


def parse_config(data: object, source: str) -> EngineConfig:
    """Validate already-parsed config data; `source` names it in error messages."""
    if not isinstance(data, dict):
        raise InputError(
            "the config must be a mapping of sections (vendors, offers, ...)", file=source
        )
    try:
        config = EngineConfig.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        raise InputError(first["msg"], file=source, field=_field_path(first["loc"])) from None
    problems = config.problems()
    if problems:
        field, message = problems[0]
        raise InputError(message, file=source, field=field)
    return config


def load_config(path: str | Path) -> EngineConfig:
    """Read a YAML (.yaml/.yml) or JSON config file and validate it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("no such file", file=str(path)) from None
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text (byte {e.start})", file=str(path)) from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise InputError(
            f"not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {e}", file=str(path)
        ) from None
    return parse_config(data, str(path))
