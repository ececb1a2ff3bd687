"""The customer table of the engagement analysis, built in SQL from an imported CRM dataset.

Definitions (see README, "Engagement analysis"):
- customer: a phone key of the messages file (its only key). Phones shared by more than
  `max_ids_per_phone` customer ids in the sales file are placeholders or shared numbers
  whose purchases cannot be attributed to the person contacted: left out and counted.
- contact: the customer's first conversation in the export. Response and number of
  messages are those of that conversation; later conversations are counted, not used.
- day 0 is the contact's (UTC) date. Sales carry dates only, so a purchase on day 0 may
  precede the message (it may even have prompted it): day 0 belongs to neither period.
  Pre-contact: the `pre_days` days before day 0. Window W: days 1..W after it.
- linkable: the phone has at least one sale before day 0, so the sales system records
  purchases under it; others (never seen buying, or buying under the placeholder) cannot
  be told apart from non-buyers and are left out (a pre-contact condition, so no outcome
  selection).
- complete windows only: contacts less than max(W) days before the last sale date of the
  file are left out, so every customer has the same follow-up.
- spend: a transaction's sales minus its returns (`crm_transaction.net_cents`), dated at
  the order; returns beyond the sales recorded undo purchases missing from the file and
  are not subtracted.

Everything is one portable SQL statement (CTEs, window functions, FILTER).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import numpy as np

from pushlift.errors import PushliftError

TABLE = "engagement_customer"


@dataclass(frozen=True)
class Flow:
    """How the contacted phones became the analysis customers."""

    contacted_phones: int
    conversations: int
    excluded_shared_phone: int
    excluded_not_linkable: int
    excluded_incomplete_window: int
    customers: int
    responders: int
    later_conversation_within_window: int  # customers contacted again within max window
    purchases_on_contact_day: int  # customers with a purchase on day 0 (excluded from both)
    sales_first: str
    sales_last: str


def _window_columns(windows: Sequence[int]) -> str:
    cols = []
    for w in windows:
        within = f"t.d > c.contact_date AND t.d <= c.contact_date + INTERVAL '{w}' DAY"
        cols.append(f"COUNT(t.d) FILTER (WHERE {within}) AS purchases_{w}d")
        cols.append(f"COALESCE(SUM(t.net_cents) FILTER (WHERE {within}), 0) AS net_cents_{w}d")
    return ",\n      ".join(cols)


def build_customer_table(
    con: duckdb.DuckDBPyConnection,
    dataset_id: str,
    windows: Sequence[int],
    *,
    max_ids_per_phone: int,
    pre_days: int,
) -> Flow:
    """Create TEMP TABLE engagement_customer (one row per contacted phone, flags included)."""
    if not con.execute(
        "SELECT count(*) FROM crm_import WHERE dataset_id = ?", [dataset_id]
    ).fetchall()[0][0]:
        raise PushliftError(
            f"no CRM dataset {dataset_id!r} in the store; run `pushlift import crm` first"
        )
    longest = max(windows)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {TABLE} AS
    WITH conv AS (
      SELECT phone_key, location_key, n_messages,
        CASE WHEN has_response THEN 1 ELSE 0 END AS responded,
        CAST(contact_time AT TIME ZONE 'UTC' AS DATE) AS contact_date,
        ROW_NUMBER() OVER (PARTITION BY phone_key ORDER BY contact_time, conversation_key) AS k
      FROM crm_conversation WHERE dataset_id = $1
    ),
    contact AS (
      SELECT f.phone_key, f.location_key, f.n_messages, f.responded, f.contact_date,
        (SELECT COUNT(*) FROM conv o WHERE o.phone_key = f.phone_key AND o.k > 1
           AND o.contact_date <= f.contact_date + INTERVAL '{longest}' DAY) AS later_contacts
      FROM conv f WHERE f.k = 1
    ),
    phone AS (
      SELECT phone_key, COUNT(DISTINCT customer_key) AS n_ids
      FROM crm_sale_line WHERE dataset_id = $1 GROUP BY phone_key
    ),
    t AS (
      SELECT phone_key, CAST(order_time AT TIME ZONE 'UTC' AS DATE) AS d, net_cents
      FROM crm_transaction WHERE dataset_id = $1 AND n_sale_lines > 0
    ),
    bounds AS (SELECT MIN(d) AS first_day, MAX(d) AS last_day FROM t)
    SELECT c.phone_key, c.location_key, c.n_messages, c.responded, c.contact_date,
      c.later_contacts, COALESCE(p.n_ids, 0) AS n_ids,
      CAST(b.last_day - c.contact_date AS INTEGER) AS follow_up_days,
      COUNT(t.d) FILTER (WHERE t.d < c.contact_date) AS purchases_before_ever,
      COUNT(t.d) FILTER (WHERE t.d < c.contact_date
                         AND t.d >= c.contact_date - INTERVAL '{pre_days}' DAY) AS pre_purchases,
      COALESCE(SUM(t.net_cents) FILTER (WHERE t.d < c.contact_date
                         AND t.d >= c.contact_date - INTERVAL '{pre_days}' DAY), 0)
        AS pre_net_cents,
      COUNT(t.d) FILTER (WHERE t.d = c.contact_date) AS purchases_day0,
      CAST(MIN(t.d) FILTER (WHERE t.d > c.contact_date) - c.contact_date AS INTEGER)
        AS days_to_first_purchase,
      {_window_columns(windows)}
    FROM contact c
    CROSS JOIN bounds b
    LEFT JOIN phone p ON p.phone_key = c.phone_key
    LEFT JOIN t ON t.phone_key = c.phone_key
    GROUP BY c.phone_key, c.location_key, c.n_messages, c.responded, c.contact_date,
      c.later_contacts, p.n_ids, b.last_day""",
        [dataset_id],
    )
    con.execute(
        f"""ALTER TABLE {TABLE} ADD COLUMN excluded VARCHAR;
            UPDATE {TABLE} SET excluded = CASE
              WHEN n_ids > {int(max_ids_per_phone)} THEN 'shared_phone'
              WHEN purchases_before_ever = 0 THEN 'not_linkable'
              WHEN follow_up_days < {longest} THEN 'incomplete_window' END"""
    )
    row = con.execute(
        f"""SELECT COUNT(*),
              COUNT(*) FILTER (WHERE excluded = 'shared_phone'),
              COUNT(*) FILTER (WHERE excluded = 'not_linkable'),
              COUNT(*) FILTER (WHERE excluded = 'incomplete_window'),
              COUNT(*) FILTER (WHERE excluded IS NULL),
              COUNT(*) FILTER (WHERE excluded IS NULL AND responded = 1),
              COUNT(*) FILTER (WHERE excluded IS NULL AND later_contacts > 0),
              COUNT(*) FILTER (WHERE excluded IS NULL AND purchases_day0 > 0)
            FROM {TABLE}"""
    ).fetchall()[0]
    conversations, first, last = con.execute(
        """SELECT (SELECT COUNT(*) FROM crm_conversation WHERE dataset_id = $1),
             CAST(CAST(MIN(order_time AT TIME ZONE 'UTC') AS DATE) AS VARCHAR),
             CAST(CAST(MAX(order_time AT TIME ZONE 'UTC') AS DATE) AS VARCHAR)
           FROM crm_transaction WHERE dataset_id = $1 AND n_sale_lines > 0""",
        [dataset_id],
    ).fetchall()[0]
    return Flow(
        contacted_phones=int(row[0]),
        conversations=int(conversations),
        excluded_shared_phone=int(row[1]),
        excluded_not_linkable=int(row[2]),
        excluded_incomplete_window=int(row[3]),
        customers=int(row[4]),
        responders=int(row[5]),
        later_conversation_within_window=int(row[6]),
        purchases_on_contact_day=int(row[7]),
        sales_first=str(first),
        sales_last=str(last),
    )


def fetch_customers(con: duckdb.DuckDBPyConnection) -> dict[str, np.ndarray]:
    """The analysis customers (not excluded) as numpy columns, ordered by phone key."""
    cols = con.execute(
        f"SELECT * FROM {TABLE} WHERE excluded IS NULL ORDER BY phone_key"
    ).fetchnumpy()
    out = {}
    for k, v in cols.items():
        if k == "excluded":
            continue
        # NULLs arrive masked (days_to_first_purchase of non-buyers): make them NaN.
        out[k] = v.astype(float).filled(np.nan) if np.ma.is_masked(v) else np.asarray(v)
    return out
