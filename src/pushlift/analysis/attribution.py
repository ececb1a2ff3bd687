"""Attribute purchases to notifications, in SQL over the store.

Rules (the defaults are stated in the README):

- purchases are the `event` rows of kind 'purchase'; duplicate records (same subscriber,
  vendor, event time and amount under different event ids) are removed first, keeping the
  smallest event id (ROW_NUMBER over the natural key);
- a purchase can be credited to a notification only if it was made by the notification's
  recipient, at the offer's vendor, strictly after the notification and at most
  `window_hours` later (default 24 h);
- each purchase is credited to at most one notification: the latest one before it (last
  touch, the default) or the earliest one in the window (first touch);
- held-out "would have sent" records are attributed by exactly the same rules, so their
  conversion rate is what the notified would have converted at without the message.

The result is two temporary tables on the connection: `attribution` (one row per credited
purchase) and `attributed_notification` (every notification with its credited purchases,
revenue and whether it converted). KPIs aggregate those in SQL.
"""

from __future__ import annotations

from typing import Literal

import duckdb

Touch = Literal["last", "first"]
DEFAULT_WINDOW_HOURS = 24.0

_ORDER = {
    "last": "n.event_time DESC, n.notification_id DESC",
    "first": "n.event_time ASC, n.notification_id ASC",
}

_ATTRIBUTION = """
CREATE OR REPLACE TEMP TABLE attribution AS
WITH numbered AS (
    SELECT event_id, consumer_id, vendor_id, amount_cents, event_time,
           ROW_NUMBER() OVER (
               PARTITION BY consumer_id, vendor_id, event_time, amount_cents
               ORDER BY event_id) AS copy_no
    FROM event
    WHERE kind = 'purchase'
),
purchase AS (
    SELECT event_id, consumer_id, vendor_id, amount_cents, event_time
    FROM numbered WHERE copy_no = 1
),
candidate AS (
    SELECT p.event_id AS purchase_id, p.amount_cents, p.event_time AS purchase_time,
           n.notification_id,
           ROW_NUMBER() OVER (PARTITION BY p.event_id ORDER BY {order}) AS touch_no
    FROM purchase p
    JOIN notification n
      ON n.consumer_id = p.consumer_id
     AND n.vendor_id = p.vendor_id
     AND p.event_time > n.event_time
     AND p.event_time <= n.event_time + ? * INTERVAL '1' SECOND
)
SELECT purchase_id, notification_id, amount_cents, purchase_time
FROM candidate
WHERE touch_no = 1
"""

_PER_NOTIFICATION = """
CREATE OR REPLACE TEMP TABLE attributed_notification AS
WITH credited AS (
    SELECT notification_id, count(*) AS purchases, sum(amount_cents) AS revenue_cents
    FROM attribution
    GROUP BY notification_id
)
SELECT n.notification_id, n.consumer_id, n.offer_id, n.vendor_id, n.zone_id,
       coalesce(n.experiment_id, '') AS experiment_id, n.arm, n.delivered,
       n.price_cents, n.event_time,
       coalesce(c.purchases, 0) AS purchases,
       coalesce(c.revenue_cents, 0) AS revenue_cents,
       CASE WHEN c.purchases > 0 THEN 1 ELSE 0 END AS converted
FROM notification n
LEFT JOIN credited c ON c.notification_id = n.notification_id
"""


def attribute(
    con: duckdb.DuckDBPyConnection,
    window_hours: float = DEFAULT_WINDOW_HOURS,
    touch: Touch = "last",
) -> None:
    """(Re)build the `attribution` and `attributed_notification` temp tables on `con`."""
    if not window_hours > 0:
        raise ValueError(f"the attribution window must be positive, not {window_hours} hours")
    if touch not in _ORDER:
        raise ValueError(f"touch must be 'last' or 'first', not {touch!r}")
    con.execute(_ATTRIBUTION.format(order=_ORDER[touch]), [round(window_hours * 3600)])
    con.execute(_PER_NOTIFICATION)


def credited_purchases(con: duckdb.DuckDBPyConnection) -> dict[int, int]:
    """purchase event id -> notification id, from the last `attribute` call on `con`."""
    rows = con.execute("SELECT purchase_id, notification_id FROM attribution").fetchall()
    return {int(p): int(n) for p, n in rows}
