"""Attribution on hand-built stores where the right answer is obvious."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from pushlift import schema
from pushlift.analysis.attribution import attribute, credited_purchases
from pushlift.store import Store

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def add_notifications(store: Store, rows: list[tuple[int, int, str, float, bool]]) -> None:
    """rows: (notification id, consumer, vendor, hours after T0, delivered)."""
    n = len(rows)
    store.append(
        schema.NOTIFICATION,
        {
            "notification_id": [r[0] for r in rows],
            "event_id": [r[0] for r in rows],
            "consumer_id": [r[1] for r in rows],
            "offer_id": [f"offer-{r[2]}" for r in rows],
            "vendor_id": [r[2] for r in rows],
            "zone_id": [None] * n,
            "experiment_id": ["exp"] * n,
            "arm": ["treatment" if r[4] else "holdout" for r in rows],
            "delivered": [r[4] for r in rows],
            "bid_cents": [50] * n,
            "price_cents": [50] * n,
            "runner_up_bid_cents": pa.array([None] * n, type=pa.int64()),
            "eligible_offers": [1] * n,
            "reason": ["only eligible offer"] * n,
            "content": ["hello"] * n,
            "event_time": pa.array([at(r[3]) for r in rows], type=TS),
            "ingest_time": pa.array([at(r[3]) for r in rows], type=TS),
        },
    )


def add_purchases(store: Store, rows: list[tuple[int, int, str, float, int]]) -> None:
    """rows: (event id, consumer, vendor, hours after T0, amount in cents)."""
    n = len(rows)
    store.append(
        schema.EVENT,
        {
            "event_id": [r[0] for r in rows],
            "kind": ["purchase"] * n,
            "consumer_id": [r[1] for r in rows],
            "lat": pa.array([None] * n, type=pa.float64()),
            "lon": pa.array([None] * n, type=pa.float64()),
            "vendor_id": [r[2] for r in rows],
            "amount_cents": [r[4] for r in rows],
            "domain": pa.array([None] * n, type=pa.string()),
            "event_time": pa.array([at(r[3]) for r in rows], type=TS),
            "ingest_time": pa.array([at(r[3]) for r in rows], type=TS),
        },
    )


@pytest.fixture
def store() -> Store:
    s = Store.open(":memory:")
    add_notifications(
        s,
        [
            (1, 10, "a", 0.0, True),  # consumer 10: one notification from vendor a
            (2, 20, "a", 0.0, True),  # consumer 20: two notifications before one purchase
            (3, 20, "a", 5.0, True),
            (4, 30, "a", 0.0, False),  # consumer 30: holdout, would have sent
            (5, 40, "b", 0.0, True),  # consumer 40: buys only outside the window
        ],
    )
    add_purchases(
        s,
        [
            (100, 10, "a", -1.0, 900),  # before the notification: never credited
            (101, 10, "a", 0.0, 800),  # at the same instant (the trigger): not after it
            (102, 10, "a", 2.0, 1000),  # credited to 1
            (103, 10, "a", 2.0, 1000),  # exact duplicate of 102 under another id: dropped
            (104, 10, "b", 3.0, 700),  # another vendor: not the offer's
            (105, 99, "a", 1.0, 600),  # another subscriber
            (200, 20, "a", 6.0, 500),  # after both 2 and 3
            (300, 30, "a", 24.0, 400),  # holdout, at the window's end: credited to 4
            (400, 40, "b", 25.0, 300),  # one hour past the 24-hour window
        ],
    )
    return s


def test_last_touch_credits_each_purchase_once_after_and_within_the_window(store: Store) -> None:
    attribute(store.con)
    assert credited_purchases(store.con) == {102: 1, 200: 3, 300: 4}


def test_first_touch_credits_the_earliest_notification_in_the_window(store: Store) -> None:
    attribute(store.con, touch="first")
    assert credited_purchases(store.con) == {102: 1, 200: 2, 300: 4}


def test_a_longer_window_reaches_later_purchases(store: Store) -> None:
    attribute(store.con, window_hours=26)
    assert credited_purchases(store.con)[400] == 5
    attribute(store.con, window_hours=0.5)
    assert credited_purchases(store.con) == {}


def test_per_notification_outcomes_count_revenue_once(store: Store) -> None:
    attribute(store.con)
    rows = store.con.execute(
        "SELECT notification_id, delivered, purchases, revenue_cents, converted "
        "FROM attributed_notification ORDER BY notification_id"
    ).fetchall()
    assert rows == [
        (1, True, 1, 1000, 1),
        (2, True, 0, 0, 0),
        (3, True, 1, 500, 1),
        (4, False, 1, 400, 1),  # held out, attributed by the same rules
        (5, True, 0, 0, 0),
    ]


def test_bad_window_or_touch_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="window must be positive"):
        attribute(store.con, window_hours=0)
    with pytest.raises(ValueError, match="touch must be"):
        attribute(store.con, touch="middle")  # type: ignore[arg-type]
