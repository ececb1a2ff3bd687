"""The events the engine decides on: location pings, purchases and site visits.

`Event` is one event (the per-event entry point); `EventBatch` is the same fields as
columns (the micro-batch entry point). Times are integer microseconds since the Unix epoch,
UTC. Event ids are unique across all kinds: they are what makes replays idempotent.

The bounds below are what every way in (files, stdin, HTTP) accepts: ids and subscriber ids
are non-negative 64-bit integers, amounts at most 10^12 cents, and event times between
1970-01-01 and the end of 2200 (UTC), so that every stored time is a plain epoch count that
DuckDB, numpy and Python all represent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

LOCATION, PURCHASE, SITE_VISIT = 0, 1, 2
KIND_NAMES = ("location", "purchase", "site_visit")
KIND_CODES = {name: code for code, name in enumerate(KIND_NAMES)}

MAX_ID = 2**63 - 1  # event and subscriber ids: 0 to MAX_ID
MAX_AMOUNT_CENTS = 10**12  # a purchase: 0 to $10 billion
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)  # event times from here ...
END = datetime(2201, 1, 1, tzinfo=UTC)  # ... to before here (the end of year 2200)


def to_us(moment: datetime) -> int:
    """An aware datetime as integer microseconds since the epoch."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)


@dataclass(frozen=True)
class Event:
    event_id: int
    kind: int
    subscriber_id: int
    time_us: int
    lat: float = float("nan")
    lon: float = float("nan")
    vendor_id: str | None = None  # purchases: where; site visits: whose site (if known)
    amount_cents: int = 0
    domain: str | None = None  # site visits: the domain visited


@dataclass
class EventBatch:
    """Events as columns, in event-time order."""

    event_id: np.ndarray  # int64
    kind: np.ndarray  # int8
    subscriber_id: np.ndarray  # int64
    time_us: np.ndarray  # int64
    lat: np.ndarray  # float64, NaN unless location
    lon: np.ndarray  # float64
    vendor_id: np.ndarray  # object (str or None)
    amount_cents: np.ndarray  # int64
    domain: np.ndarray  # object (str or None)

    def __len__(self) -> int:
        return len(self.event_id)

    @classmethod
    def of(cls, events: list[Event]) -> EventBatch:
        return cls(
            event_id=np.array([e.event_id for e in events], dtype=np.int64),
            kind=np.array([e.kind for e in events], dtype=np.int8),
            subscriber_id=np.array([e.subscriber_id for e in events], dtype=np.int64),
            time_us=np.array([e.time_us for e in events], dtype=np.int64),
            lat=np.array([e.lat for e in events], dtype=float),
            lon=np.array([e.lon for e in events], dtype=float),
            vendor_id=np.array([e.vendor_id for e in events], dtype=object),
            amount_cents=np.array([e.amount_cents for e in events], dtype=np.int64),
            domain=np.array([e.domain for e in events], dtype=object),
        )

    @classmethod
    def locations(
        cls,
        event_id: np.ndarray,
        subscriber_id: np.ndarray,
        time_us: np.ndarray,
        lat: np.ndarray,
        lon: np.ndarray,
    ) -> EventBatch:
        """A batch of location pings only (the common, high-volume case)."""
        n = len(event_id)
        none = np.full(n, None, dtype=object)
        return cls(
            np.asarray(event_id, np.int64),
            np.zeros(n, np.int8),
            np.asarray(subscriber_id, np.int64),
            np.asarray(time_us, np.int64),
            np.asarray(lat, float),
            np.asarray(lon, float),
            none,
            np.zeros(n, np.int64),
            none,
        )

    def take(self, index: np.ndarray | slice) -> EventBatch:
        return EventBatch(*(getattr(self, f)[index] for f in _FIELDS))

    def event(self, i: int) -> Event:
        return Event(
            int(self.event_id[i]),
            int(self.kind[i]),
            int(self.subscriber_id[i]),
            int(self.time_us[i]),
            float(self.lat[i]),
            float(self.lon[i]),
            self.vendor_id[i],
            int(self.amount_cents[i]),
            self.domain[i],
        )

    def events(self) -> list[Event]:
        return [self.event(i) for i in range(len(self))]

    @staticmethod
    def concat(batches: list[EventBatch]) -> EventBatch:
        return EventBatch(*(np.concatenate([getattr(b, f) for b in batches]) for f in _FIELDS))


_FIELDS = (
    "event_id",
    "kind",
    "subscriber_id",
    "time_us",
    "lat",
    "lon",
    "vendor_id",
    "amount_cents",
    "domain",
)
