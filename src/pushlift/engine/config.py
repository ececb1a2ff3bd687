"""The engine's configuration: vendors, zones, segments, offers, experiments and caps.

One file (YAML or JSON) describes everything the engine decides with. Field names are the
interface; pydantic validates types, and the checks below validate what types cannot
(references between sections, non-overlapping experiments, a trigger for every offer). Any
problem becomes one InputError naming the field, e.g. `offers[2].max_bid_cents`.

Every number has finite bounds (the MAX_* constants, stated in each field's description),
true/false is never read as a number, and polygons must be simple and city-sized, so a
config that validates cannot overflow the engine's int64 arithmetic or exhaust its memory.

The JSON Schema of `EngineConfig` (the body of `PUT /v1/config` in the service's OpenAPI
description) states every rule a schema can: bounds, patterns for durations and times (the
validators apply the same patterns), the time zone names, a zone's one shape. What it
cannot state is checked by `problems()` and the polygon check: ids unique per section,
references between sections, one trigger per offer, simple polygons, unique arm names.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, time
from functools import cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import available_timezones

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from pushlift.engine.geo import MAX_POLYGON_SPAN_M, MIN_POLYGON_AREA_M2, polygon_problem
from pushlift.errors import InputError
from pushlift.schema import AGE_BANDS

_DURATION = re.compile(r" *([0-9]+) *([smhd]) *")  # fullmatch; bounds: DURATION_PATTERN
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
AGE_BAND_LABELS = tuple(label for label, _, _ in AGE_BANDS)

# Bounds. Money and counts stay far inside int64 even summed over millions of
# notifications; sizes bound the arrays the engine allocates per subscriber.
MAX_BID_CENTS = 10**9  # $10M a notification; spend of 10^9 such still fits in int64
MAX_BUDGET_CENTS = 10**12  # $10B
MAX_CAP = 10**6  # notifications per subscriber
MAX_FREQUENCY = 100  # the frequency cap keeps this many recent times per subscriber
MAX_DURATION_S = 3650 * 86_400  # 10 years
MAX_RADIUS_M = 50_000.0
MAX_POLYGON_POINTS = 10_000
MAX_TOTAL_POLYGON_POINTS = 1_000_000  # over all zones: the engine keeps them as one table
MAX_WEIGHT = 1e6  # arm weights are relative; this keeps their sum finite
MAX_SEED = 2**63 - 1
MAX_ITEMS = 10_000  # vendors, zones, segments, offers per config
MAX_EXPERIMENTS = 100  # each keeps an arm per subscriber
MAX_ARMS = 100
MAX_OFFER_SEGMENTS = 100


def at_most_pattern(n: int) -> str:
    """A regular expression (no anchors) for the decimal numbers 1 to `n`, no leading zero."""
    digits = str(n)
    options = [f"[1-9][0-9]{{0,{len(digits) - 2}}}"] if len(digits) > 1 else []
    for i, ch in enumerate(digits):
        low, rest = (1 if i == 0 else 0), len(digits) - i - 1
        if int(ch) > low:
            lower = f"[{low}-{int(ch) - 1}]" if int(ch) - 1 > low else str(low)
            tail = f"[0-9]{{{rest}}}" if rest > 1 else "[0-9]" * rest
            options.append(digits[:i] + lower + tail)
    options.append(digits)
    return "(?:" + "|".join(options) + ")"


# Whole-string patterns in the dialect JSON Schema, Python's `re` and pydantic share.
DURATION_PATTERN = (
    "^ *0*(?:"
    + "|".join(f"{at_most_pattern(MAX_DURATION_S // s)} *{u}" for u, s in _UNIT_SECONDS.items())
    + ") *$"
)
_CLOCK = "(?:[01][0-9]|2[0-3]):[0-5][0-9]"


def timestamp_pattern(years: str, fraction: str = "+") -> str:
    """RFC 3339 with its UTC offset, in the years `years` matches; no leap second; the
    fraction of a second's digits as `fraction` says."""
    return (
        f"^{years}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T{_CLOCK}:[0-5][0-9]"
        f"(?:\\.[0-9]{fraction})?(?:Z|[+-]{_CLOCK})$"
    )


# Years 0002 to 9998: the instant stays within the years 1 to 9999 whatever the offset.
TIMESTAMP_PATTERN = timestamp_pattern(
    "(?:000[2-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
)
LOCAL_TIME_PATTERN = f"^{_CLOCK}(?::[0-5][0-9](?:\\.[0-9]{{1,6}})?)?$"


def parse_duration(text: str | int) -> int:
    """'90s', '30m', '1h', '7d' (or whole seconds) -> microseconds; at most 10 years."""
    seconds = _duration_seconds(text)
    if seconds > MAX_DURATION_S:
        raise ValueError(f"a duration can be at most {MAX_DURATION_S // 86_400}d (10 years)")
    return seconds * 1_000_000


def _duration_seconds(text: str | int) -> int:
    if isinstance(text, int) and not isinstance(text, bool):
        if text <= 0:  # no repr: a huge int cannot even be printed
            raise ValueError("a duration in whole seconds must be positive")
        return text
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if not match or not match.group(1).strip("0"):
        shown = repr(text)[:40] if isinstance(text, str) else type(text).__name__
        raise ValueError(f"{shown} is not a duration like '90s', '30m', '1h' or '7d'")
    digits = match.group(1).lstrip("0")
    if len(digits) > 12:  # certainly over the bound; int() of thousands of digits fails
        return MAX_DURATION_S + 1
    return int(digits) * _UNIT_SECONDS[match.group(2)]


def _check_duration(value: object) -> str | int:
    # Whole validation here: pydantic's str | int union would read true as 1 and name
    # the union member (`within.str`) in its errors.
    if isinstance(value, float) and value.is_integer() and 0 < value <= MAX_DURATION_S:
        value = int(value)  # JSON Schema's integer: 3600.0 is 3600
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("give a duration like '90s', '30m', '1h' or '7d', or whole seconds")
    parse_duration(value)
    return value



def duration_option(option: str, value: str) -> int:
    """A command-line duration in microseconds, or an InputError naming the option."""
    try:
        return parse_duration(value)
    except ValueError as e:
        raise InputError(str(e), file=option) from None

Duration = Annotated[
    str | int,
    PlainValidator(
        _check_duration,
        json_schema_input_type=Annotated[str, Field(pattern=DURATION_PATTERN)]
        | Annotated[int, Field(ge=1, le=MAX_DURATION_S)],
    ),
    Field(description="e.g. '30m', '1h', '7d', or whole seconds; at most 3650d (10 years)"),
]


def _pattern_checker(pattern: str, example: str, what: str) -> BeforeValidator:
    """Text must match `pattern` whole (the schema's pattern); parsed objects (YAML reads
    some times itself) pass on to pydantic."""
    compiled = re.compile(pattern)

    def check(value: object) -> object:
        if isinstance(value, datetime | time):
            return value
        if isinstance(value, str) and compiled.fullmatch(value):
            return value
        raise ValueError(f"give {what} like {example!r}")

    return BeforeValidator(check)


Timestamp = Annotated[
    datetime,
    _pattern_checker(TIMESTAMP_PATTERN, "2026-01-01T00:00:00Z", "a time with a UTC offset"),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": TIMESTAMP_PATTERN}),
]
LocalTime = Annotated[
    time,
    _pattern_checker(LOCAL_TIME_PATTERN, "22:00", "a time of day (no UTC offset)"),
    WithJsonSchema({"type": "string", "pattern": LOCAL_TIME_PATTERN}),
]


@cache
def time_zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def _refuse_bool(value: object) -> object:
    # Lax mode would read true as 1: a flag where a number belongs is a mistake.
    if isinstance(value, bool):
        raise ValueError("give a number, not true/false")
    return value


def _whole_number(value: object) -> object:
    """Refuse true/false; a whole float such as 1e30 becomes an int, so the bound check
    names the bound (pydantic says only "exceeded maximum size" beyond int64)."""
    value = _refuse_bool(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("give a finite number")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Int = Annotated[int, BeforeValidator(_whole_number)]
Float = Annotated[float, BeforeValidator(_refuse_bool)]  # finite: see _Model
# Bounds inside a nested or optional type go before the validator, or the JSON schema
# shows them as raw `ge`/`le`.
Lat = Annotated[float, Field(ge=-90, le=90), BeforeValidator(_refuse_bool)]
Lon = Annotated[float, Field(ge=-180, le=180), BeforeValidator(_refuse_bool)]
Budget = Annotated[int, Field(gt=0, le=MAX_BUDGET_CENTS), BeforeValidator(_whole_number)]
SubscriberCap = Annotated[int, Field(gt=0, le=MAX_CAP), BeforeValidator(_whole_number)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Circle(_Model):
    lat: Lat
    lon: Lon
    radius_m: Float = Field(gt=0, le=MAX_RADIUS_M, description="metres, at most 50,000")


class Zone(_Model):
    """A notification zone: a circle, or a polygon given as [lat, lon] points."""

    # Exactly one of the two shapes, the other absent or null.
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {
                    "required": ["circle"],
                    "properties": {"circle": {"type": "object"}, "polygon": {"type": "null"}},
                },
                {
                    "required": ["polygon"],
                    "properties": {"polygon": {"type": "array"}, "circle": {"type": "null"}},
                },
            ]
        }
    )
    id: str = Field(min_length=1)
    circle: Circle | None = None
    polygon: (
        Annotated[
            list[tuple[Lat, Lon]],
            Field(max_length=MAX_POLYGON_POINTS, json_schema_extra={"minItems": 3}),
        ]
        | None
    ) = Field(
        None,
        description=(
            f"[lat, lon] points in order around the zone: at least 3 distinct, at most "
            f"{MAX_POLYGON_POINTS:,}, edges not crossing, at most "
            f"{MAX_POLYGON_SPAN_M / 1000:.0f} km across, at least {MIN_POLYGON_AREA_M2:g} "
            "square metre of area"
        ),
    )

    @model_validator(mode="after")
    def _one_shape(self) -> Zone:
        if (self.circle is None) == (self.polygon is None):
            raise ValueError("give exactly one of 'circle' or 'polygon'")
        if self.polygon is not None:
            problem = polygon_problem(self.polygon)
            if problem:
                raise ValueError(problem)
        return self


class Vendor(_Model):
    id: str = Field(min_length=1)
    name: str = ""
    category: str = ""
    domain: str | None = Field(None, description="the vendor's web site, for site-visit segments")
    lat: Lat | None = None
    lon: Lon | None = None


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
    age_bands: (
        list[Annotated[str, WithJsonSchema({"type": "string", "enum": list(AGE_BAND_LABELS)})]]
        | None
    ) = None
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
    segments: list[str] = Field(
        default_factory=list,
        max_length=MAX_OFFER_SEGMENTS,
        description=f"all must hold; at most {MAX_OFFER_SEGMENTS}",
    )
    max_bid_cents: Int = Field(
        gt=0, le=MAX_BID_CENTS, description=f"1 to {MAX_BID_CENTS:,} cents ($10M)"
    )
    budget_cents: Budget | None = Field(
        None, description=f"total budget, 1 to {MAX_BUDGET_CENTS:,} cents; none = unlimited"
    )
    daily_budget_cents: Budget | None = Field(
        None, description=f"1 to {MAX_BUDGET_CENTS:,} cents; none = unlimited"
    )
    valid_from: Timestamp | None = None
    valid_until: Timestamp | None = None
    cap_per_subscriber: SubscriberCap | None = Field(
        None, description=f"lifetime notifications, 1 to {MAX_CAP:,}; none = no cap"
    )
    enabled: bool = True

    @field_validator("valid_from", "valid_until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone, e.g. '2026-01-01T00:00:00Z'")
        return value


class Arm(_Model):
    name: str = Field(min_length=1)
    weight: Float = Field(
        gt=0, le=MAX_WEIGHT, description=f"relative share, above 0 and at most {MAX_WEIGHT:g}"
    )
    holdout: bool = Field(False, description="receives nothing; would-have-sent is recorded")


class Experiment(_Model):
    id: str = Field(min_length=1)
    arms: list[Arm] = Field(min_length=2, max_length=MAX_ARMS)
    offers: list[str] | None = Field(
        None, max_length=MAX_ITEMS, description="offers it covers; none = all offers"
    )
    seed: Int = Field(0, ge=-MAX_SEED - 1, le=MAX_SEED, description="a signed 64-bit integer")

    @model_validator(mode="after")
    def _arms_ok(self) -> Experiment:
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ValueError("arm names must be unique")
        return self


class FrequencyCap(_Model):
    max: Int = Field(
        gt=0,
        le=MAX_FREQUENCY,
        description=f"notifications per period, 1 to {MAX_FREQUENCY} (each is remembered)",
    )
    per: Duration

    @property
    def per_us(self) -> int:
        return parse_duration(self.per)


class QuietHours(_Model):
    """Local times (in the config's `timezone`), e.g. '22:00' to '08:00'."""

    start: LocalTime
    end: LocalTime


class Auction(_Model):
    type: Literal["first_price", "second_price"] = "first_price"
    reserve_cents: Int = Field(
        0,
        ge=0,
        le=MAX_BID_CENTS,
        description=f"second price: minimum price and bid, 0 to {MAX_BID_CENTS:,} cents",
    )


class EngineConfig(_Model):
    timezone: str = Field(
        "UTC",
        description="an IANA time zone name",
        json_schema_extra={"enum": sorted(time_zone_names())},
    )
    frequency_cap: FrequencyCap | None = None
    quiet_hours: QuietHours | None = None
    auction: Auction = Auction()
    vendors: list[Vendor] = Field(
        default_factory=list, max_length=MAX_ITEMS, description=f"at most {MAX_ITEMS:,}"
    )
    zones: list[Zone] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        description=(
            f"at most {MAX_ITEMS:,}, with at most {MAX_TOTAL_POLYGON_POINTS:,} polygon points "
            "in all"
        ),
    )
    segments: list[Segment] = Field(
        default_factory=list, max_length=MAX_ITEMS, description=f"at most {MAX_ITEMS:,}"
    )
    offers: list[Offer] = Field(
        default_factory=list, max_length=MAX_ITEMS, description=f"at most {MAX_ITEMS:,}"
    )
    experiments: list[Experiment] = Field(
        default_factory=list,
        max_length=MAX_EXPERIMENTS,
        description=f"at most {MAX_EXPERIMENTS}",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        if name not in time_zone_names():  # the schema's enum
            shown = repr(name)[:60]
            raise ValueError(f"unknown time zone {shown} (use an IANA name)")
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
        points = sum(len(z.polygon or ()) for z in self.zones)
        if points > MAX_TOTAL_POLYGON_POINTS:
            found.append(
                ("zones", f"{points:,} polygon points; at most {MAX_TOTAL_POLYGON_POINTS:,} in all")
            )
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
        message = first["msg"].removeprefix("Value error, ")  # our own checks' messages
        raise InputError(message, file=source, field=_field_path(first["loc"])) from None
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
