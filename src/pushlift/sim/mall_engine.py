"""The mall's message, sent by the real-time engine: its config, decisions and records.

The mall operator runs one offer: a loyalty message right after a consumer's first purchase
of a trip, with a randomized half of the consumers held out. The simulation feeds each
trip's first purchase to the same engine the city uses (`Engine.decide_batch`), and the
consumer responds to what the engine delivered, so the mall and city scenarios share one
decision path and one way into the store (`record`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from pushlift.engine.config import EngineConfig, parse_config
from pushlift.engine.engine import BatchDecisions, Engine
from pushlift.engine.events import PURCHASE, EventBatch, to_us
from pushlift.engine.plan import Plan
from pushlift.engine.recorder import record, record_events, save_config
from pushlift.store import Store

EXPERIMENT_ID = "mall-2019-10"
ARMS = ("control", "message")  # control is the holdout: nothing sent, would-have-sent kept
WEEK_START = datetime(2019, 10, 1, tzinfo=UTC)
MESSAGE = "1,000 loyalty points if you buy once more today"
OFFER_ID = "mall-loyalty-points"
VENDOR_ID = "mall"  # the mall operator runs the loyalty offer
TRIGGER_SEGMENT = "first-purchase-of-trip"


def mall_config(seed: int) -> EngineConfig:
    """The engine config of the mall scenario; `seed` salts the arm assignment."""
    return parse_config(
        {
            # The simulation's clock is UTC and shopping runs 10:00-20:00, so every trip
            # (at most one a day) falls within one engine day: one trip, one trigger.
            "timezone": "UTC",
            # The operator's own offer never meets a rival bid: under a second-price
            # auction it pays the reserve, 0, whatever its bid.
            "auction": {"type": "second_price"},
            "vendors": [{"id": VENDOR_ID, "name": "Mall operator", "category": "loyalty"}],
            "segments": [{"id": TRIGGER_SEGMENT, "kind": "first_purchase_of_trip"}],
            "offers": [
                {
                    "id": OFFER_ID,
                    "vendor": VENDOR_ID,
                    "content": MESSAGE,
                    "segments": [TRIGGER_SEGMENT],
                    "max_bid_cents": 1,  # nominal: a bid must be positive
                }
            ],
            "experiments": [
                {
                    "id": EXPERIMENT_ID,
                    "offers": [OFFER_ID],
                    "arms": [
                        {"name": ARMS[0], "weight": 0.5, "holdout": True},
                        {"name": ARMS[1], "weight": 0.5},
                    ],
                    "seed": seed,
                }
            ],
        },
        "mall simulation",
    )


def micros(seconds_since_week_start: np.ndarray) -> np.ndarray:
    """Seconds into the simulated week as integer microseconds since the epoch (UTC)."""
    return to_us(WEEK_START) + np.round(seconds_since_week_start * 1e6).astype(np.int64)


def purchase_events(
    event_id: np.ndarray, consumer_id: np.ndarray, time_us: np.ndarray, amount_cents: np.ndarray
) -> EventBatch:
    """Purchases at the mall as engine events."""
    k = len(event_id)
    nan, none = np.full(k, np.nan), np.full(k, None, dtype=object)
    return EventBatch(
        np.asarray(event_id, np.int64),
        np.full(k, PURCHASE, np.int8),
        np.asarray(consumer_id, np.int64),
        np.asarray(time_us, np.int64),
        nan,
        nan,
        np.full(k, VENDOR_ID, dtype=object),
        np.asarray(amount_cents, np.int64),
        none,
    )


@dataclass(frozen=True)
class TripDecisions:
    """The engine's decisions on the trips' first purchases.

    `triggers` are the events decided, in event-time order; `order[i]` is the trip (its
    position in the trip table) of `triggers` row i; `decisions.position` indexes rows.
    """

    plan: Plan
    order: np.ndarray
    triggers: EventBatch
    decisions: BatchDecisions

    def delivered(self) -> np.ndarray:
        """Per trip, in trip-table order: whether the engine delivered the message."""
        out = np.zeros(len(self.order), dtype=bool)
        out[self.order[self.decisions.position]] = self.decisions.delivered
        return out


def decide_trips(
    seed: int, trip_id: np.ndarray, consumer_id: np.ndarray, start_us: np.ndarray
) -> TripDecisions:
    """Feed each trip's first purchase to a fresh engine, in event-time order.

    The engine reads who bought, where and when; a purchase's id and amount are not
    known yet (the simulation draws them after the responses, to keep its random stream),
    and the engine reads neither, so the events carry the trip id and no amount until
    `record_week` stores them with their purchase ids and amounts.
    """
    plan = Plan(mall_config(seed))
    order = np.lexsort((trip_id, start_us))
    triggers = purchase_events(
        trip_id[order], consumer_id[order], start_us[order], np.zeros(len(order), np.int64)
    )
    return TripDecisions(plan, order, triggers, Engine(plan).decide_batch(triggers))


def _rows(purchase: Mapping[str, np.ndarray], rows: np.ndarray) -> tuple[EventBatch, np.ndarray]:
    """Purchase-table rows as events (event id = purchase id), and their ingest times."""
    batch = purchase_events(
        purchase["purchase_id"][rows],
        purchase["consumer_id"][rows],
        purchase["event_time"][rows].astype("datetime64[us]").astype(np.int64),
        purchase["amount_cents"][rows],
    )
    return batch, purchase["ingest_time"][rows].astype("datetime64[us]").astype(np.int64)


def clear_week(store: Store, consumer_ids: np.ndarray) -> None:
    """Remove an earlier mall week's events, notifications and decision counts.

    The mall's rows are its vendor's, for the earlier experiment's consumers or this
    week's (city subscribers have ids of their own, so they are never touched). The
    decision counts have no owner column: the counts of the mall's week are its own.
    """
    consumers = (
        "SELECT unit_id FROM assignment WHERE experiment_id = ? UNION SELECT unnest(?::BIGINT[])"
    )
    for table in ("event", "notification"):
        store.con.execute(
            f"DELETE FROM {table} WHERE vendor_id = ? AND consumer_id IN ({consumers})",
            [VENDOR_ID, EXPERIMENT_ID, consumer_ids.tolist()],
        )
    store.con.execute(
        "DELETE FROM decision_count WHERE hour >= ? AND hour < ?",
        [WEEK_START, WEEK_START + timedelta(days=7)],
    )


def record_week(store: Store, decided: TripDecisions, purchase: Mapping[str, np.ndarray]) -> None:
    """Store the engine's config, its decisions (with the trigger events) and every other
    purchase as an event: all or nothing, or as part of an open transaction."""
    first = np.flatnonzero(purchase["store_seq"] == 1)  # purchase rows are in trip order
    triggers, trigger_ingest = _rows(purchase, first[decided.order])
    # The stored triggers are the decided ones, with their ids and amounts filled in.
    assert np.array_equal(triggers.subscriber_id, decided.triggers.subscriber_id)
    assert np.array_equal(triggers.time_us, decided.triggers.time_us)
    further, further_ingest = _rows(purchase, np.flatnonzero(purchase["store_seq"] >= 2))
    with store.transaction():
        save_config(store, decided.plan)
        record(store, decided.plan, triggers, decided.decisions, trigger_ingest)
        record_events(store, further, further_ingest)
