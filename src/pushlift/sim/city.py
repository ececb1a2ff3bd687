"""The closed-loop city: subscribers move and shop; the engine decides; people respond.

Model (all draws from one seed, so the same seed gives the same store):

- A 10 x 10 km city. Vendors have a location, a category, a popularity and an offer with
  a circular notification zone around the shop, a bid, budgets and sometimes a segment.
- Subscribers have traits (age, gender, loyalty), a home and a workplace. While awake
  (08:00-22:00 local) their phones ping about every 70 minutes from home, work or near a
  popular vendor. They visit vendors' sites now and then.
- Base purchases: each subscriber buys `daily_rate` times a day on average (loyal ones
  more), at a vendor chosen by popularity and distance from home, at a uniform waking
  time. These happen whatever the engine does: notifications never suppress them.
- Response: a subscriber who *receives* an offer from vendor v buys once more at v with
  probability `uplift` (by loyalty), 15 minutes to 24 hours later. Holdout subscribers
  receive nothing, so they only ever buy at the base rate. Responses are purchases like any
  other: they feed segments and trip triggers of later decisions (the loop is closed).

Truth. For a notification at time t (delivered or held out), the chance of at least one
purchase at the offer's vendor in (t, t + 24h] is 1 - exp(-L) without the message and
1 - (1 - uplift) exp(-L) with it, where L is the subscriber's expected base purchases at
that vendor in 24 hours (a 24-hour window always holds exactly one waking day). Expected
extra revenue is uplift x the vendor's mean ticket. These per-notification expectations,
averaged over all notifications, are stored in `true_effect` for the holdout experiment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from pushlift import schema
from pushlift.assignment import assign_arms
from pushlift.engine.config import EngineConfig, parse_config
from pushlift.engine.engine import Engine
from pushlift.engine.events import LOCATION, PURCHASE, SITE_VISIT, EventBatch, to_us
from pushlift.engine.plan import Plan
from pushlift.engine.recorder import record, save_config
from pushlift.engine.state import Traits
from pushlift.store import Store

EXPERIMENT_ID = "city-holdout"
# Subscriber and event ids start here, clear of the mall scenario's ids in a shared store.
CITY_ID_BASE = 100_000_000
CENTRE = (40.4168, -3.7038)
HALF_SIZE_M = 5_000.0
DEG_PER_M = 1 / 111_195.0
START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
STEP_US = 15 * 60 * 1_000_000  # decision batches; also the shortest response delay
WINDOW_US = 24 * 3_600 * 1_000_000
WAKE_H, SLEEP_H = 8, 22
CATEGORIES = ("food", "coffee", "fashion", "electronics", "beauty", "books")
MEAN_TICKET_CENTS = {
    "food": 1800,
    "coffee": 450,
    "fashion": 5200,
    "electronics": 9000,
    "beauty": 2600,
    "books": 1500,
}


@dataclass(frozen=True)
class CityModel:
    daily_rate_low: float = 0.25  # base purchases per waking day, low loyalty
    daily_rate_high: float = 0.45
    uplift_low: float = 0.06  # chance a delivered offer makes a low-loyalty subscriber buy
    uplift_high: float = 0.12
    pings_per_day: float = 12.0
    site_visits_per_day: float = 0.3
    holdout_share: float = 0.2


@dataclass(frozen=True)
class CitySummary:
    subscribers: int
    vendors: int
    events: int
    notifications: int
    delivered: int
    induced_purchases: int


def _xy_to_latlon(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lat = CENTRE[0] + y * DEG_PER_M
    lon = CENTRE[1] + x * DEG_PER_M / np.cos(np.radians(CENTRE[0]))
    return lat, lon


def build_config(rng: np.random.Generator, n_vendors: int, days: int, model: CityModel) -> dict:
    """Vendors, zones, offers and the holdout experiment, as a config document."""
    vx, vy = rng.uniform(-HALF_SIZE_M, HALF_SIZE_M, (2, n_vendors))
    lat, lon = _xy_to_latlon(vx, vy)
    vendors, zones, offers = [], [], []
    segments = [
        {"id": "loyal", "kind": "traits", "loyalty": "high"},
        {"id": "women", "kind": "traits", "gender": "F"},
        {"id": "young", "kind": "traits", "age_bands": ["18-29", "30-39"]},
    ]
    for i in range(n_vendors):
        vid = f"v{i:04d}"
        vendors.append(
            {
                "id": vid,
                "name": f"Vendor {i}",
                "lat": float(lat[i]),
                "lon": float(lon[i]),
                "category": CATEGORIES[i % len(CATEGORIES)],
                "domain": f"{vid}.example.com",
            }
        )
        zones.append(
            {
                "id": f"z-{vid}",
                "circle": {
                    "lat": float(lat[i]),
                    "lon": float(lon[i]),
                    "radius_m": float(rng.uniform(150, 400)),
                },
            }
        )
        bid = int(rng.integers(2, 21)) * 10
        offer = {
            "id": f"o-{vid}",
            "vendor": vid,
            "zone": f"z-{vid}",
            "max_bid_cents": bid,
            "content": f"{CATEGORIES[i % len(CATEGORIES)]} offer from Vendor {i}",
            "daily_budget_cents": bid * int(rng.integers(15, 60)),
        }
        offer["budget_cents"] = int(offer["daily_budget_cents"] * days * 0.7)
        kind = rng.random()
        if kind < 0.3:
            offer["segments"] = [segments[int(rng.integers(3))]["id"]]
        elif kind < 0.45:
            segments.append(
                {"id": f"bought-{vid}", "kind": "purchased_at", "vendor": vid, "within": "7d"}
            )
            offer["segments"] = [f"bought-{vid}"]
        elif kind < 0.55:
            segments.append(
                {"id": f"site-{vid}", "kind": "visited_site", "vendor": vid, "within": "3d"}
            )
            offer["segments"] = [f"site-{vid}"]
        # One notification per subscriber and offer keeps each 24-hour window free of
        # responses to an earlier message from the same vendor (exact truth).
        offer["cap_per_subscriber"] = 1
        offers.append(offer)
    return {
        "timezone": "Europe/Madrid",
        "frequency_cap": {"max": 1, "per": "4h"},
        "quiet_hours": {"start": f"{SLEEP_H}:00", "end": f"0{WAKE_H}:00"},
        "vendors": vendors,
        "zones": zones,
        "segments": segments,
        "offers": offers,
        "experiments": [
            {
                "id": EXPERIMENT_ID,
                "arms": [
                    {"name": "holdout", "weight": model.holdout_share, "holdout": True},
                    {"name": "treatment", "weight": 1 - model.holdout_share},
                ],
            }
        ],
    }


class City:
    """The world outside the engine: people, their movements and their purchases."""

    def __init__(self, n: int, days: int, seed: int, model: CityModel) -> None:
        self.rng = rng = np.random.default_rng(seed)
        self.n, self.days, self.model = n, days, model
        n_vendors = int(np.clip(n // 50, 20, 2_000))
        self.config: EngineConfig = parse_config(
            build_config(rng, n_vendors, days, model), "city simulation"
        )
        self.subscriber_id = CITY_ID_BASE + np.arange(1, n + 1, dtype=np.int64)
        self.age = np.clip(rng.normal(40, 13, n), 18, 90).astype(np.int16)
        self.gender = np.where(rng.random(n) < 0.55, "F", "M")
        self.loyalty = np.where(rng.random(n) < 0.35, 2, 1).astype(np.int8)
        self.home = rng.uniform(-HALF_SIZE_M, HALF_SIZE_M, (n, 2))
        self.work = rng.uniform(-HALF_SIZE_M, HALF_SIZE_M, (n, 2))
        vendors = self.config.vendors
        self.vendor_ids = np.array([v.id for v in vendors], dtype=object)
        vx = (np.array([v.lon for v in vendors]) - CENTRE[1]) * np.cos(np.radians(CENTRE[0]))
        self.vendor_xy = np.stack(
            [vx / DEG_PER_M, (np.array([v.lat for v in vendors]) - CENTRE[0]) / DEG_PER_M], axis=1
        )
        self.popularity = rng.lognormal(0, 0.8, len(vendors))
        self.ticket = np.array([MEAN_TICKET_CENTS[v.category] for v in vendors], dtype=float)
        self.rate = np.where(self.loyalty == 2, model.daily_rate_high, model.daily_rate_low)
        self.uplift = np.where(self.loyalty == 2, model.uplift_high, model.uplift_low)
        # The arm the engine will hash each subscriber into (same function, same inputs).
        exp = self.config.experiments[0]
        self.arm = assign_arms(
            exp.id,
            self.subscriber_id,
            [a.name for a in exp.arms],
            [a.weight for a in exp.arms],
            exp.seed,
        )
        self._next_id = CITY_ID_BASE * 10_000 + 1

    def traits(self) -> Traits:
        return Traits(self.subscriber_id, self.age, self.gender.astype(object), self.loyalty)

    def vendor_share(self, subs: np.ndarray, vendors: np.ndarray) -> np.ndarray:
        """P(a base purchase of subscriber s is at vendor v): popularity x nearness to home."""
        return self._weights(subs)[np.arange(len(subs)), vendors]

    def _weights(self, subs: np.ndarray) -> np.ndarray:
        d = np.linalg.norm(self.home[subs, None, :] - self.vendor_xy[None, :, :], axis=2)
        w = self.popularity[None, :] * np.exp(-d / 2_000.0)
        return w / w.sum(axis=1, keepdims=True)

    def _ids(self, k: int) -> np.ndarray:
        ids = np.arange(self._next_id, self._next_id + k, dtype=np.int64)
        self._next_id += k
        return ids

    def _waking_times(self, k: int, day: np.ndarray) -> np.ndarray:
        hours = self.rng.uniform(WAKE_H, SLEEP_H, k) - 1.0  # Madrid is UTC+1 in March
        return to_us(START) + (day * 86_400 + hours * 3_600).astype(np.int64) * 1_000_000

    def background(self) -> EventBatch:
        """Pings, site visits and base purchases for the whole run, independent of offers."""
        rng, n, m = self.rng, self.n, self.model
        parts = []
        # Pings: near home, work or a popular vendor, with 120 m of jitter.
        k = rng.poisson(m.pings_per_day, (n, self.days))
        subs = np.repeat(np.tile(np.arange(n), self.days), k.T.reshape(-1))
        day = np.repeat(np.repeat(np.arange(self.days), n), k.T.reshape(-1))
        where = rng.random(len(subs))
        fav = rng.choice(len(self.vendor_ids), len(subs), p=self.popularity / self.popularity.sum())
        xy = np.where(
            (where < 0.4)[:, None],
            self.home[subs],
            np.where((where < 0.7)[:, None], self.work[subs], self.vendor_xy[fav]),
        )
        xy = xy + rng.normal(0, 120, xy.shape)
        lat, lon = _xy_to_latlon(xy[:, 0], xy[:, 1])
        parts.append(
            self._batch(LOCATION, subs, self._waking_times(len(subs), day), lat=lat, lon=lon)
        )
        # Site visits.
        k = rng.poisson(m.site_visits_per_day * self.days, n)
        subs = np.repeat(np.arange(n), k)
        vend = rng.choice(
            len(self.vendor_ids), len(subs), p=self.popularity / self.popularity.sum()
        )
        day = rng.integers(0, self.days, len(subs))
        domains = np.array([f"{v}.example.com" for v in self.vendor_ids], dtype=object)[vend]
        parts.append(
            self._batch(SITE_VISIT, subs, self._waking_times(len(subs), day), domain=domains)
        )
        # Base purchases, one day past the end so every 24-hour window is complete.
        k = rng.poisson(self.rate * (self.days + 1))
        subs = np.repeat(np.arange(n), k)
        vend = np.empty(len(subs), dtype=np.int64)
        for lo in range(0, len(subs), 20_000):  # vendor choice in chunks: bounded memory
            w = self._weights(subs[lo : lo + 20_000])
            u = rng.random(len(w))[:, None]
            vend[lo : lo + 20_000] = (np.cumsum(w, axis=1) < u).sum(axis=1)
        vend = np.minimum(vend, len(self.vendor_ids) - 1)
        day = rng.integers(0, self.days + 1, len(subs))
        parts.append(self._purchases(subs, vend, self._waking_times(len(subs), day)))
        batch = EventBatch.concat(parts)
        order = np.lexsort((batch.event_id, batch.time_us))
        return batch.take(order)

    def _purchases(self, subs: np.ndarray, vend: np.ndarray, t: np.ndarray) -> EventBatch:
        amount = self.rng.lognormal(np.log(self.ticket[vend]) - 0.125, 0.5).astype(np.int64) + 1
        return self._batch(PURCHASE, subs, t, vendor=self.vendor_ids[vend], amount=amount)

    def _batch(
        self,
        kind: int,
        subs: np.ndarray,
        t: np.ndarray,
        lat: np.ndarray | None = None,
        lon: np.ndarray | None = None,
        vendor: np.ndarray | None = None,
        amount: np.ndarray | None = None,
        domain: np.ndarray | None = None,
    ) -> EventBatch:
        k = len(subs)
        nan = np.full(k, np.nan)
        none = np.full(k, None, dtype=object)
        return EventBatch(
            self._ids(k),
            np.full(k, kind, np.int8),
            self.subscriber_id[subs],
            t.astype(np.int64),
            nan if lat is None else lat,
            nan if lon is None else lon,
            none if vendor is None else vendor,
            np.zeros(k, np.int64) if amount is None else amount,
            none if domain is None else domain,
        )

    def respond(self, subs: np.ndarray, vend: np.ndarray, t: np.ndarray) -> EventBatch:
        """Purchases caused by delivered offers (each with probability `uplift`)."""
        buys = self.rng.random(len(subs)) < self.uplift[subs]
        delay = np.minimum(
            STEP_US + self.rng.exponential(2 * 3_600e6, len(subs)), WINDOW_US
        ).astype(np.int64)
        return self._purchases(subs[buys], vend[buys], t[buys] + delay[buys])


def simulate_city(
    store: Store,
    subscribers: int,
    days: int,
    seed: int,
    model: CityModel | None = None,
    progress: Callable[[float], None] | None = None,
) -> CitySummary:
    """Run the closed loop and write everything to the store."""
    model = model or CityModel()
    city = City(subscribers, days, seed, model)
    plan = Plan(city.config)
    engine = Engine(plan)
    engine.state.set_traits(city.traits())
    _write_world(store, city, plan)
    background = city.background()
    induced: list[EventBatch] = []
    start, end = to_us(START), to_us(START) + (days + 1) * 86_400_000_000
    vendor_index = {v: i for i, v in enumerate(city.vendor_ids)}
    offer_vendor = np.array([vendor_index[v] for v in plan.vendor_ids])[plan.offer_vendor]
    note_sub, note_vend, note_sent = [], [], []
    n_events = n_notes = n_delivered = n_induced = 0
    lo = 0
    for step_start in range(start, end, STEP_US):
        # Background events of this step, plus responses that fall in it (always later
        # steps: the shortest response delay is one step).
        hi = int(np.searchsorted(background.time_us, step_start + STEP_US))
        parts = [background.take(slice(lo, hi))]
        lo = hi
        waiting = EventBatch.concat(induced) if induced else None
        if waiting is not None:
            due = waiting.time_us < step_start + STEP_US
            parts.append(waiting.take(due))
            induced = [waiting.take(~due)]
        batch = EventBatch.concat(parts)
        if not len(batch):
            continue
        batch = batch.take(np.lexsort((batch.event_id, batch.time_us)))
        decisions = engine.decide_batch(batch)
        record(store, plan, batch, decisions, batch.time_us)
        n_events += len(batch)
        pos = decisions.position
        subs = batch.subscriber_id[pos] - CITY_ID_BASE - 1
        vend = offer_vendor[decisions.offer]
        note_sub.append(subs)
        note_vend.append(vend)
        sent = decisions.delivered
        note_sent.append(sent)
        n_notes += len(pos)
        n_delivered += int(sent.sum())
        response = city.respond(subs[sent], vend[sent], batch.time_us[pos][sent])
        n_induced += len(response)
        induced.append(response)
        if progress is not None:
            progress((step_start - start) / (end - start))
    _write_truth(
        store,
        city,
        np.concatenate([np.empty(0, np.int64), *note_sub]),
        np.concatenate([np.empty(0, np.int64), *note_vend]),
        np.concatenate([np.empty(0, bool), *note_sent]),
    )
    return CitySummary(subscribers, len(city.vendor_ids), n_events, n_notes, n_delivered, n_induced)


def clear_city(store: Store) -> None:
    """Remove a previous city simulation (its subscribers, events, notifications and the
    engine's counts for the hours it covered; other scenarios' counts stay)."""
    with store.transaction():
        store.con.execute(
            "DELETE FROM decision_count WHERE hour >= ? AND hour <= "
            "(SELECT max(event_time) FROM event WHERE consumer_id > ?)",
            [START, CITY_ID_BASE],
        )
        for table in ("event", "notification", "consumer"):
            store.con.execute(f"DELETE FROM {table} WHERE consumer_id > ?", [CITY_ID_BASE])
        for table in ("experiment", "assignment", "true_effect"):
            store.con.execute(f"DELETE FROM {table} WHERE experiment_id = ?", [EXPERIMENT_ID])


def _write_world(store: Store, city: City, plan: Plan) -> None:
    clear_city(store)
    with store.transaction():
        store.append(
            schema.CONSUMER,
            {
                "consumer_id": city.subscriber_id,
                "age": city.age,
                "gender": city.gender,
                "loyalty_status": city.loyalty,
            },
        )
        exp = city.config.experiments[0]
        store.append(
            schema.EXPERIMENT,
            {
                "experiment_id": [exp.id],
                "description": ["city offers: holdout subscribers receive nothing"],
                "control_arm": ["holdout"],
                "arms": [[a.name for a in exp.arms]],
                "weights": [[a.weight for a in exp.arms]],
                "source": ["simulated"],
                "created_at": pa.array([to_us(START)], type=pa.timestamp("us", tz="UTC")),
            },
        )
        store.append(
            schema.ASSIGNMENT,
            {
                "experiment_id": np.full(city.n, exp.id, dtype=object),
                "unit_id": city.subscriber_id,
                "arm": city.arm,
            },
        )
    save_config(store, plan)


def _write_truth(
    store: Store, city: City, subs: np.ndarray, vend: np.ndarray, delivered: np.ndarray
) -> None:
    """Ground truth for the holdout experiment.

    - `purchases_per_subscriber` (segment all and loyalty): expected purchases over the run
      per subscriber of the treatment arm, without and with the messages it received; the
      difference is the expected number of purchases the messages caused. Holdout versus
      treatment estimates it without bias (arms are randomized; base purchases are the same).
    - `conversion_24h` and `revenue_24h_cents` for the delivered notifications: expected
      conversion at the vendor within 24 hours (and revenue), without and with the message.
      Only delivered ones: which notifications a subscriber gets depends on earlier
      responses (retargeting), so delivered and held-out notifications differ in mix.
    """
    rows: dict[str, list] = {c: [] for c in schema.TRUE_EFFECT.column_names}

    def add(outcome: str, segment: str, value: str, control: float, treated: float) -> None:
        for col, x in zip(
            rows, (EXPERIMENT_ID, outcome, segment, value, control, treated), strict=True
        ):
            rows[col].append(x)

    in_treatment = city.arm == "treatment"
    caused = np.zeros(city.n)
    np.add.at(caused, subs[delivered], city.uplift[subs[delivered]])
    base = city.rate * (city.days + 1)
    loyalty = np.where(city.loyalty == 2, "high", "low")
    for segment, value, mask in [("all", "all", np.ones(city.n, bool))] + [
        ("loyalty", v, loyalty == v) for v in ("low", "high")
    ]:
        m = mask & in_treatment
        add(
            "purchases_per_subscriber",
            segment,
            value,
            float(base[m].mean()),
            float((base[m] + caused[m]).mean()),
        )
    s, v = subs[delivered], vend[delivered]
    if len(s):
        at_vendor = city.rate[s] * city.vendor_share(s, v)
        p0 = 1 - np.exp(-at_vendor)
        p1 = 1 - (1 - city.uplift[s]) * np.exp(-at_vendor)
        r0 = at_vendor * city.ticket[v]
        add("conversion_24h", "all", "all", float(p0.mean()), float(p1.mean()))
        add(
            "revenue_24h_cents",
            "all",
            "all",
            float(r0.mean()),
            float((r0 + city.uplift[s] * city.ticket[v]).mean()),
        )
    store.append(schema.TRUE_EFFECT, rows)
