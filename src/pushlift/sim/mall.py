"""The mall experiment simulator: a week of shopping trips with a randomized message.

Every consumer belongs to one cell (gender x loyalty x age band). The response model is
simple enough that every expected outcome has a closed form, so the truth the analysis
should recover is exact, not itself an estimate:

* trips in the week: K = 1 + Poisson(extra_trip_rate x the shopper's multiple), capped at
  7 (one per day);
* each trip starts with a first purchase (the trigger), which the real-time engine
  decides on (`mall_engine`): consumers in the message arm get the message, the control
  arm is held out; with probability p = p0(cell) + uplift(cell) (uplift only if the
  engine delivered the message) the consumer buys at 1 + Poisson(extra_store_rate)
  further stores;
* each further purchase is log-normal with median depending on the cell, so spend is
  heavy-tailed with many zeros (consumer mean about $35, standard deviation about $90);
* consumers are light, regular or heavy shoppers: a persistent type multiplies the cell's
  probability of buying again, the rate of extra trips and the amounts. The same model runs
  for `history_days` before the week with no message: that history (`mall_history`) is
  pre-period behaviour that predicts the week's, the covariate CUPED uses (`analyze
  experiment --pre-period 7d`). Expected outcomes stay exact: a finite mixture of types.

Treated and control consumers share the same random draws (common random numbers), so
the only difference between arms is the message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pushlift import schema
from pushlift.assignment import assign_arms
from pushlift.sim.effect_terms import parse_effect_terms
from pushlift.sim.mall_engine import (
    ARMS,
    EXPERIMENT_ID,
    MESSAGE,
    WEEK_START,
    TripDecisions,
    clear_week,
    decide_trips,
    micros,
    record_week,
)
from pushlift.store import Store

AGE_BAND_SHARES = (0.20, 0.27, 0.24, 0.17, 0.12)
AGE_BAND_KEYS = tuple(
    f"age_{label.replace('-', '_').replace('+', '_plus')}" for label, _, _ in schema.AGE_BANDS
)
EFFECT_KEYS = ("base", "female", "male", "loyalty_low", "loyalty_high", *AGE_BAND_KEYS)


@dataclass(frozen=True)
class EffectSpec:
    """Additive uplift of the per-trip probability of buying at a second store."""

    terms: dict[str, float] = field(
        default_factory=lambda: {"base": 0.02, "loyalty_high": 0.04, "age_60_plus": -0.01}
    )

    def uplift(self, female: bool, high_loyalty: bool, band: int) -> float:
        t = self.terms
        band_key = AGE_BAND_KEYS[band]
        return (
            t.get("base", 0.0)
            + t.get("female" if female else "male", 0.0)
            + t.get("loyalty_high" if high_loyalty else "loyalty_low", 0.0)
            + t.get(band_key, 0.0)
        )

    def describe(self) -> str:
        return ",".join(f"{k}={v:g}" for k, v in self.terms.items())


def parse_effect(spec: str) -> EffectSpec:
    """Parse '0.03' (flat uplift) or 'base=0.02,loyalty_high=0.04,...' into an EffectSpec."""
    return EffectSpec(parse_effect_terms(spec, EFFECT_KEYS))


@dataclass(frozen=True)
class ShopperType:
    """A persistent kind of shopper: its share of consumers, and multipliers of the cell's
    probability of buying again on a trip, of its rate of extra trips, and of its amounts."""

    share: float
    buy: float
    trips: float
    spend: float


@dataclass(frozen=True)
class MallModel:
    """Parameters of the consumer population and the response model."""

    female_share: float = 0.76
    high_loyalty_share: float = 0.64
    extra_trip_rate: float = 0.35
    extra_store_rate: float = 0.25
    base_second_store_prob: float = 0.20
    high_loyalty_prob_shift: float = 0.08
    male_prob_shift: float = -0.03
    median_spend: float = 44.0
    spend_sigma: float = 0.85  # with the shopper types: consumers' sd about $95, as observed
    n_stores: int = 60
    effect: EffectSpec = field(default_factory=EffectSpec)
    shopper_types: tuple[ShopperType, ...] = (
        ShopperType(0.6, buy=0.5, trips=0.5, spend=0.7),  # light
        ShopperType(0.3, buy=1.0, trips=1.0, spend=1.0),  # regular
        ShopperType(0.1, buy=2.4, trips=3.0, spend=1.5),  # heavy
    )
    history_days: int = 28

    def p0(self, female: bool, high_loyalty: bool) -> float:
        return (
            self.base_second_store_prob
            + self.high_loyalty_prob_shift * high_loyalty
            + self.male_prob_shift * (not female)
        )

    def log_median(self, female: bool, high_loyalty: bool) -> float:
        return math.log(self.median_spend) + 0.15 * high_loyalty + 0.10 * female

    def cells(self) -> list[Cell]:
        """Every (gender, loyalty, age band) cell with its share and expected outcomes."""
        out = []
        for female in (True, False):
            for high in (True, False):
                for band, band_share in enumerate(AGE_BAND_SHARES):
                    share = (
                        (self.female_share if female else 1 - self.female_share)
                        * (self.high_loyalty_share if high else 1 - self.high_loyalty_share)
                        * band_share
                    )
                    p0 = self.p0(female, high)
                    p1 = p0 + self.effect.uplift(female, high, band)
                    by_type = [t.buy * p0 + p1 - p0 for t in self.shopper_types]
                    bad = [q for q in by_type if not 0 <= q <= 1]
                    if bad:
                        raise ValueError(
                            f"--effect gives a purchase probability of {bad[0]:.3f} for "
                            f"{'female' if female else 'male'}, "
                            f"{'high' if high else 'low'} loyalty, age "
                            f"{schema.AGE_BANDS[band][0]}; it must stay within [0, 1]"
                        )
                    out.append(Cell(female, high, band, share, p0, p1, self))
        return out


@dataclass(frozen=True)
class Cell:
    female: bool
    high_loyalty: bool
    band: int
    share: float
    p0: float
    p1: float
    model: MallModel

    def expected_sales(self, p: float) -> float:
        """Expected sales from the second store onwards for the cell's average per-trip
        probability p (p0, or p1 with the message), mixed over shopper types: a type buys
        again with its multiple of p0 plus the message's uplift p - p0."""
        m = self.model
        mean_spend = math.exp(m.log_median(self.female, self.high_loyalty) + m.spend_sigma**2 / 2)
        return sum(
            t.share
            * _expected_power(m.extra_trip_rate * t.trips, None)
            * (t.buy * self.p0 + p - self.p0)
            * (1 + m.extra_store_rate)
            * mean_spend
            * t.spend
            for t in m.shopper_types
        )

    def prob_any_second_purchase(self, p: float) -> float:
        """P(some trip of the week buys again), mixed over shopper types as above."""
        m = self.model
        total = 0.0
        for t in m.shopper_types:
            q = t.buy * self.p0 + (p - self.p0)
            # P(no trip buys again) = E[(1-q)^K].
            total += t.share * (1 - _expected_power(m.extra_trip_rate * t.trips, 1 - q))
        return total


def _expected_power(rate: float, x: float | None) -> float:
    """E[x^K] for the week's trips K = min(1 + Poisson(rate), 7); E[K] when x is None."""
    total, pmf = 0.0, math.exp(-rate)  # P(Poisson = 0)
    for extra in range(6):
        k = 1 + extra
        total += pmf * (k if x is None else x**k)
        pmf *= rate / (extra + 1)
    tail = 1 - sum(math.exp(-rate) * rate**j / math.factorial(j) for j in range(6))
    return total + tail * (7 if x is None else x**7)


def true_effects(model: MallModel) -> list[dict[str, object]]:
    """Expected control and treatment means per outcome, overall and per segment.

    Exact, the cap of 7 trips a week included.
    """
    cells = model.cells()
    segments: dict[tuple[str, str], list[Cell]] = {("all", "all"): cells}
    for c in cells:
        segments.setdefault(("loyalty", "high" if c.high_loyalty else "low"), []).append(c)
        segments.setdefault(("gender", "F" if c.female else "M"), []).append(c)
        segments.setdefault(("age_band", schema.AGE_BANDS[c.band][0]), []).append(c)
    rows = []
    for (segment, value), members in segments.items():
        w = sum(c.share for c in members)
        sales = [
            sum(c.share * c.expected_sales(getattr(c, p)) for c in members) / w
            for p in ("p0", "p1")
        ]
        buy = [
            sum(c.share * c.prob_any_second_purchase(getattr(c, p)) for c in members) / w
            for p in ("p0", "p1")
        ]
        for outcome, (m0, m1) in (
            ("from_second_store_sales", sales),
            ("made_second_purchase", buy),
            ("sales_per_returning_buyer", (sales[0] / buy[0], sales[1] / buy[1])),
        ):
            rows.append(
                {
                    "outcome": outcome,
                    "segment": segment,
                    "segment_value": value,
                    "control_mean": m0,
                    "treatment_mean": m1,
                }
            )
    return rows


@dataclass(frozen=True)
class MallWeek:
    """Column arrays for the simulation's own tables, and what the engine decided."""

    consumer: dict[str, np.ndarray]
    store: dict[str, np.ndarray]
    trip: dict[str, np.ndarray]
    purchase: dict[str, np.ndarray]
    assignment: dict[str, np.ndarray]
    decided: TripDecisions
    history: dict[str, np.ndarray]  # mall_history rows: purchases before the week


def simulate_week(n_consumers: int, seed: int, model: MallModel) -> MallWeek:
    """Draw consumers and trips, let the engine decide on each trip's first purchase, then
    draw the purchases that follow (vectorized)."""
    if n_consumers < 2:
        raise ValueError("--consumers must be at least 2")
    cells = model.cells()  # validates the effect spec before any work
    rng = np.random.default_rng(seed)
    n = n_consumers
    consumer_id = np.arange(1, n + 1, dtype=np.int64)
    female = rng.random(n) < model.female_share
    high = rng.random(n) < model.high_loyalty_share
    band = rng.choice(len(AGE_BAND_SHARES), size=n, p=AGE_BAND_SHARES)
    lo = np.array([b[1] for b in schema.AGE_BANDS])
    hi = np.array([b[2] for b in schema.AGE_BANDS])
    hi = np.minimum(hi, 79)  # the oldest band's shoppers are 60-79
    age = rng.integers(lo[band], hi[band] + 1)
    types = model.shopper_types
    shares = np.array([t.share for t in types])
    kind = rng.choice(len(types), size=n, p=shares / shares.sum())
    buy_x, trips_x, spend_x = (np.array([getattr(t, f) for t in types])[kind]
                               for f in ("buy", "trips", "spend"))  # fmt: skip

    # The arms the engine hashes consumers into (same function, experiment and seed).
    arm = assign_arms(EXPERIMENT_ID, consumer_id, ARMS, (0.5, 0.5), seed=seed)

    # Per-consumer probabilities from the cell table (cell index = female, high, band).
    p0_table = np.zeros((2, 2, len(AGE_BAND_SHARES)))
    p1_table = np.zeros_like(p0_table)
    for c in cells:
        p0_table[int(c.female), int(c.high_loyalty), c.band] = c.p0
        p1_table[int(c.female), int(c.high_loyalty), c.band] = c.p1
    fi, hi_i = female.astype(int), high.astype(int)
    p0, p1 = p0_table[fi, hi_i, band], p1_table[fi, hi_i, band]
    p0, p1 = buy_x * p0, buy_x * p0 + (p1 - p0)  # the shopper's own probabilities
    log_median = np.log(model.median_spend) + 0.15 * high + 0.10 * female + np.log(spend_x)
    trip_rate = model.extra_trip_rate * trips_x

    # Trips: one per day, starting on a random day of the week.
    trips_per = np.minimum(1 + rng.poisson(trip_rate), 7)
    t_consumer = np.repeat(np.arange(n), trips_per)
    n_trips = t_consumer.size
    trip_id = np.arange(1, n_trips + 1, dtype=np.int64)
    first_trip = np.repeat(np.cumsum(trips_per) - trips_per, trips_per)
    trip_index = np.arange(n_trips) - first_trip
    day0 = rng.integers(0, 7, n)
    day = (day0[t_consumer] + trip_index) % 7
    start_s = rng.uniform(10 * 3600, 20 * 3600, n_trips)
    trip_start = day * 86400 + start_s

    # The engine decides on each trip's first purchase (the trigger)...
    decided = decide_trips(seed, trip_id, consumer_id[t_consumer], micros(trip_start))
    # ...and the consumer responds to what it delivered: further stores bought at, per
    # trip (0 when the consumer does not buy again).
    p_buy = np.where(decided.delivered(), p1[t_consumer], p0[t_consumer])
    buys = rng.random(n_trips) < p_buy
    extra = np.where(buys, 1 + rng.poisson(model.extra_store_rate, n_trips), 0)
    stores_in_trip = 1 + extra
    p_trip = np.repeat(np.arange(n_trips), stores_in_trip)
    n_purchases = p_trip.size
    seq = (
        np.arange(n_purchases)
        - np.repeat(np.cumsum(stores_in_trip) - stores_in_trip, stores_in_trip)
        + 1
    )
    popularity = 1.0 / np.arange(1, model.n_stores + 1) ** 0.8
    first_store = rng.choice(model.n_stores, n_trips, p=popularity / popularity.sum())
    offset = rng.integers(1, model.n_stores, n_trips)
    # Consecutive offsets keep the stores of one trip distinct.
    store_idx = (first_store[p_trip] + np.where(seq > 1, offset[p_trip] + seq - 2, 0)) % (
        model.n_stores
    )
    p_consumer = t_consumer[p_trip]
    first_amount = rng.lognormal(np.log(30.0), 0.8, n_purchases)
    further_amount = rng.lognormal(log_median[p_consumer], model.spend_sigma)
    amount = np.where(seq == 1, first_amount, further_amount)
    amount_cents = np.maximum(np.round(amount * 100), 1).astype(np.int64)
    gaps = np.where(seq == 1, 0.0, rng.exponential(25 * 60, n_purchases))
    csum = np.cumsum(gaps)
    trip_base = np.repeat(csum[np.cumsum(stores_in_trip) - stores_in_trip], stores_in_trip)
    seconds = trip_start[p_trip] + (csum - trip_base)
    purchase_id = np.arange(1, n_purchases + 1, dtype=np.int64)

    return MallWeek(
        consumer={
            "consumer_id": consumer_id,
            "age": age.astype(np.int16),
            "gender": np.where(female, "F", "M"),
            "loyalty_status": np.where(high, 2, 1).astype(np.int8),
        },
        store={
            "store_id": np.arange(1, model.n_stores + 1, dtype=np.int32),
            "name": [f"Store {i:02d}" for i in range(1, model.n_stores + 1)],
            "category": [
                ("fashion", "food", "beauty", "home", "sports")[i % 5]
                for i in range(model.n_stores)
            ],
        },
        trip={
            "trip_id": trip_id,
            "consumer_id": consumer_id[t_consumer],
            "trip_date": np.datetime64(WEEK_START.date(), "D") + day.astype("timedelta64[D]"),
        },
        purchase={
            "purchase_id": purchase_id,
            "consumer_id": consumer_id[p_consumer],
            "trip_id": trip_id[p_trip],
            "store_id": (store_idx + 1).astype(np.int32),
            "store_seq": seq.astype(np.int16),
            "amount_cents": amount_cents,
            "event_time": _timestamps(seconds),
            "ingest_time": _timestamps(seconds + 1.0),
        },
        assignment={
            "experiment_id": np.full(n, EXPERIMENT_ID, dtype=object),
            "unit_id": consumer_id,
            "arm": arm,
        },
        decided=decided,
        history=_history(rng, model, consumer_id, p0, trip_rate, log_median),
    )


def _history(
    rng: np.random.Generator,
    model: MallModel,
    consumer_id: np.ndarray,
    p0: np.ndarray,
    trip_rate: np.ndarray,
    log_median: np.ndarray,
) -> dict[str, np.ndarray]:
    """Purchases in the `history_days` before the week: the same shoppers, no message
    (each week of it like the experiment's: 1 + Poisson(rate) trips)."""
    days = model.history_days
    n = len(consumer_id)
    weeks = days / 7
    trips_per = np.minimum(rng.poisson(weeks * (1 + trip_rate)), days)
    t_consumer = np.repeat(np.arange(n), trips_per)
    first_trip = np.repeat(np.cumsum(trips_per) - trips_per, trips_per)
    day = (rng.integers(0, days, n)[t_consumer] + np.arange(t_consumer.size) - first_trip) % days
    start = (day - days) * 86400 + rng.uniform(10 * 3600, 20 * 3600, t_consumer.size)
    buys = rng.random(t_consumer.size) < p0[t_consumer]
    stores = 1 + np.where(buys, 1 + rng.poisson(model.extra_store_rate, t_consumer.size), 0)
    trip = np.repeat(np.arange(t_consumer.size), stores)
    seq = np.arange(trip.size) - np.repeat(np.cumsum(stores) - stores, stores) + 1
    who = t_consumer[trip]
    amount = np.where(
        seq == 1,
        rng.lognormal(np.log(30.0), 0.8, trip.size),
        rng.lognormal(log_median[who], model.spend_sigma),
    )
    seconds = start[trip] + (seq - 1) * 25 * 60.0  # later stores of a trip, 25 min apart
    return {
        "purchase_id": np.arange(1, trip.size + 1, dtype=np.int64),
        "consumer_id": consumer_id[who],
        "store_seq": seq.astype(np.int16),
        "amount_cents": np.maximum(np.round(amount * 100), 1).astype(np.int64),
        "event_time": _timestamps(seconds),
    }


def _timestamps(seconds_since_week_start: np.ndarray) -> np.ndarray:
    return micros(seconds_since_week_start).astype("datetime64[us]")


def write_week(store: Store, week: MallWeek, model: MallModel, *, replace: bool) -> None:
    """Write the simulated week, the engine's config, events and notifications, the derived
    outcomes and the ground truth, all or nothing."""
    if store.has_experiment(EXPERIMENT_ID) and not replace:
        raise FileExistsError(
            f"the store already holds experiment {EXPERIMENT_ID!r}; pass --replace to overwrite it"
        )
    truth = true_effects(model)
    n_trips, n_purchases = len(week.trip["trip_id"]), len(week.purchase["purchase_id"])
    with store.transaction():
        clear_week(store, week.consumer["consumer_id"])
        store.delete_experiment(EXPERIMENT_ID)  # only this experiment's rows
        store.con.execute("DELETE FROM store")
        # The engine's subscribers: the simulated consumers are the ones it messages.
        store.con.execute(
            "DELETE FROM consumer WHERE consumer_id IN (SELECT unnest(?))",
            [week.consumer["consumer_id"].tolist()],
        )
        store.con.execute(
            "INSERT INTO experiment VALUES (?, ?, ?, ?, ?, ?, now())",
            [
                EXPERIMENT_ID,
                f"simulated mall week: {MESSAGE} (effect {model.effect.describe()})",
                ARMS[0],
                list(ARMS),
                [0.5, 0.5],
                "simulated",
            ],
        )
        store.append(schema.CONSUMER, week.consumer)
        store.append(
            schema.MALL_CONSUMER,
            {
                "experiment_id": np.full(
                    len(week.consumer["consumer_id"]), EXPERIMENT_ID, dtype=object
                ),
                **week.consumer,
            },
        )
        store.append(schema.STORE, week.store)
        store.append(
            schema.TRIP,
            {"experiment_id": np.full(n_trips, EXPERIMENT_ID, dtype=object), **week.trip},
        )
        store.append(
            schema.PURCHASE,
            {"experiment_id": np.full(n_purchases, EXPERIMENT_ID, dtype=object), **week.purchase},
        )
        store.append(schema.ASSIGNMENT, week.assignment)
        n_history = len(week.history["purchase_id"])
        store.append(
            schema.MALL_HISTORY,
            {"experiment_id": np.full(n_history, EXPERIMENT_ID, dtype=object), **week.history},
        )
        record_week(store, week.decided, week.purchase)
        store.con.execute(
            """
            INSERT INTO mall_outcome
            SELECT a.experiment_id, a.unit_id,
                   coalesce(sum(p.amount_cents) FILTER (WHERE p.store_seq >= 2), 0)
            FROM assignment a
            LEFT JOIN purchase p
              ON p.experiment_id = a.experiment_id AND p.consumer_id = a.unit_id
            WHERE a.experiment_id = ?
            GROUP BY a.experiment_id, a.unit_id
            """,
            [EXPERIMENT_ID],
        )
        store.append(
            schema.TRUE_EFFECT,
            {
                "experiment_id": [EXPERIMENT_ID] * len(truth),
                **{k: [row[k] for row in truth] for k in truth[0]},
            },
        )


def _sql_text(path: Path) -> str:
    """A path as a SQL string literal: quotes doubled, so any path is taken literally."""
    return "'" + str(path).replace("'", "''") + "'"


def export_tables(
    store: Store, directory: str, experiment_id: str = EXPERIMENT_ID
) -> tuple[str, str]:
    """Write the operator's two-table export (consumer.csv, purchase.csv); returns their paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    consumer_path, purchase_path = out / "consumer.csv", out / "purchase.csv"
    # COPY takes its path as a literal, never a parameter: quoted, so any path is literal.
    store.con.execute(
        f"""COPY (SELECT consumer_id, age, gender, loyalty_status FROM mall_consumer
                  WHERE experiment_id = ? ORDER BY consumer_id)
             TO {_sql_text(consumer_path)} (HEADER, DELIMITER ',')""",
        [experiment_id],
    )
    store.con.execute(
        f"""COPY (SELECT consumer_id,
                         printf('%.2f', from_second_store_sales) AS from_second_store_sales,
                         CAST(arm <> 'control' AS INTEGER) AS realtime_message
                  FROM mall_units WHERE experiment_id = ? ORDER BY consumer_id)
             TO {_sql_text(purchase_path)} (HEADER, DELIMITER ',', QUOTE '')""",
        [experiment_id],
    )
    return str(consumer_path), str(purchase_path)
