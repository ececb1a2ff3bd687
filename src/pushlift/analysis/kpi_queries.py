"""The KPI aggregates, in SQL over the attribution tables (see attribution.py).

Every query returns small tables of sufficient statistics; kpis.py does the statistics.
Incremental effects compare delivered notifications with held-out ones inside the same
experiment, so sums are per (group, experiment, delivered) with the subscriber as the unit
(the randomized unit): notifications, conversions and revenue per subscriber, their
squares and cross-products.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import duckdb

from pushlift.schema import age_band_sql

# Group expressions over `attributed_notification a LEFT JOIN consumer c`.
DIMENSIONS: dict[str, list[str]] = {
    "experiment": ["CASE WHEN a.experiment_id = '' THEN '(none)' ELSE a.experiment_id END"],
    "vendor": ["a.vendor_id"],
    "offer": ["a.offer_id"],
    "zone": ["coalesce(a.zone_id, '(trip trigger)')"],
    "hour": ["lpad(CAST(extract(hour FROM a.event_time AT TIME ZONE 'UTC') AS VARCHAR), 2, '0')"],
    "segment": [
        "'loyalty: ' || CASE c.loyalty_status WHEN 2 THEN 'high' WHEN 1 THEN 'low' END",
        "'gender: ' || c.gender",
        f"'age: ' || {age_band_sql('c.age')}",
    ],
}
OVERALL = ["'all'"]


@dataclass(frozen=True)
class ArmSums:
    """Per-subscriber sums for one (group, experiment, delivered) cell."""

    key: str
    experiment_id: str
    delivered: bool
    subscribers: int
    notifications: int
    notifications_sq: float
    conversions: int
    conversions_sq: float
    conversions_x_notes: float
    revenue_cents: int
    revenue_sq: float
    revenue_x_notes: float
    spend_cents: int

    def labels(self) -> tuple[str, str, bool]:
        return self.key, self.experiment_id, self.delivered

    def sums(self) -> tuple[float, ...]:
        return tuple(getattr(self, f.name) for f in fields(self)[3:])


_UNIT = """
SELECT {key} AS key, a.experiment_id, a.delivered, a.consumer_id,
       count(*) AS notes,
       sum(a.converted) AS conv,
       sum(a.revenue_cents) AS rev,
       sum(CASE WHEN a.delivered THEN a.price_cents ELSE 0 END) AS spend
FROM attributed_notification a
{join}
GROUP BY 1, 2, 3, 4
"""
_ARM_SUMS = """
WITH unit AS ({unit})
SELECT key, experiment_id, delivered, count(*),
       sum(notes), sum(CAST(notes AS DOUBLE) * notes),
       sum(conv), sum(CAST(conv AS DOUBLE) * conv), sum(CAST(conv AS DOUBLE) * notes),
       sum(rev), sum(CAST(rev AS DOUBLE) * rev), sum(CAST(rev AS DOUBLE) * notes),
       sum(spend)
FROM unit
WHERE key IS NOT NULL
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
"""
# Cumulative looks: for each end of a UTC day (or hour) with notifications, everything
# before it. A subscriber's sums cannot be added up across days (their squares would be
# wrong), so each look aggregates its own prefix. Times are epoch microseconds: exact.
_LOOKS = """
SELECT DISTINCT (epoch_us(event_time) // {size} + 1) * {size} AS until
FROM attributed_notification WHERE experiment_id = ?
ORDER BY 1
"""
BUCKET_US = {"day": 86_400_000_000, "hour": 3_600_000_000}
_REACH = """
SELECT {key} AS key, count(DISTINCT a.consumer_id)
FROM attributed_notification a
LEFT JOIN consumer c ON c.consumer_id = a.consumer_id
WHERE a.delivered
GROUP BY 1
"""


def arm_sums(con: duckdb.DuckDBPyConnection, keys: list[str]) -> list[ArmSums]:
    """Sufficient statistics per group key, experiment and delivered flag."""
    out: list[ArmSums] = []
    for key in keys:
        unit = _UNIT.format(key=key, join="LEFT JOIN consumer c ON c.consumer_id = a.consumer_id")
        out += _arm_rows(con.execute(_ARM_SUMS.format(unit=unit)).fetchall())
    return out


def cumulative_arm_sums(
    con: duckdb.DuckDBPyConnection, experiment_id: str, bucket: str
) -> list[tuple[int, list[ArmSums]]]:
    """Per look (the end of each UTC `bucket`, 'day' or 'hour', with notifications of the
    experiment; epoch microseconds): the sufficient statistics of the experiment's
    notifications before it, held out and delivered."""
    if bucket not in BUCKET_US:
        raise ValueError(f"looks are per day or per hour, not {bucket!r}")
    looks = con.execute(_LOOKS.format(size=BUCKET_US[bucket]), [experiment_id]).fetchall()
    unit = _UNIT.format(
        key="a.experiment_id", join="WHERE a.experiment_id = ? AND epoch_us(a.event_time) < ?"
    )
    sql = _ARM_SUMS.format(unit=unit)
    return [
        (until, _arm_rows(con.execute(sql, [experiment_id, until]).fetchall()))
        for (until,) in looks
    ]


def _arm_rows(rows: list[tuple]) -> list[ArmSums]:
    return [
        ArmSums(str(r[0]), str(r[1]), bool(r[2]), int(r[3]), int(r[4]), float(r[5]), int(r[6]),
                float(r[7]), float(r[8]), int(r[9]), float(r[10]), float(r[11]), int(r[12]))
        for r in rows
    ]  # fmt: skip


def reach(con: duckdb.DuckDBPyConnection, keys: list[str]) -> dict[str, int]:
    """Distinct subscribers delivered at least one notification, per group key."""
    out: dict[str, int] = {}
    for key in keys:
        out.update({str(k): int(n) for k, n in con.execute(_REACH.format(key=key)).fetchall() if k})
    return out


_TREND = """
SELECT CAST(CAST(event_time AT TIME ZONE 'UTC' AS DATE) AS VARCHAR) AS day,
       sum(CASE WHEN delivered THEN 1 ELSE 0 END),
       sum(CASE WHEN delivered THEN 0 ELSE 1 END),
       sum(CASE WHEN delivered THEN converted ELSE 0 END),
       sum(CASE WHEN delivered THEN revenue_cents ELSE 0 END),
       sum(CASE WHEN delivered THEN price_cents ELSE 0 END)
FROM attributed_notification
GROUP BY 1
ORDER BY 1
"""


def trend(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int, int, int, int, int]]:
    """Per UTC day: delivered, held out, conversions, revenue and spend (cents)."""
    return [
        (str(d), int(a), int(b), int(c), int(r), int(s))
        for d, a, b, c, r, s in con.execute(_TREND).fetchall()
    ]


def decision_outcomes(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Events per engine outcome (no_match, segment, delivered, ...), all hours."""
    rows = con.execute(
        "SELECT outcome, sum(events) FROM decision_count GROUP BY outcome"
    ).fetchall()
    return {str(o): int(n) for o, n in rows}


def decision_outcomes_by_hour(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    """Events per engine outcome by UTC hour of day ('00'..'23', the hour breakdown's keys)."""
    rows = con.execute(
        "SELECT lpad(CAST(extract(hour FROM hour AT TIME ZONE 'UTC') AS VARCHAR), 2, '0'), "
        "outcome, sum(events) FROM decision_count GROUP BY 1, 2"
    ).fetchall()
    out: dict[str, dict[str, int]] = {}
    for hour, outcome, n in rows:
        out.setdefault(str(hour), {})[str(outcome)] = int(n)
    return out


# Retention: a subscriber's first notification (per experiment) on UTC day d; retained if
# they buy anything on days d+1 .. d+P. Only subscribers whose days d+1 .. d+P all lie
# within the data (up to the last event's day) count, so late notifications are not
# mistaken for churn.
_RETENTION = """
WITH first_note AS (
    SELECT consumer_id, experiment_id,
           max(CASE WHEN delivered THEN 1 ELSE 0 END) AS delivered,
           min(CAST(event_time AT TIME ZONE 'UTC' AS DATE)) AS day0
    FROM attributed_notification
    GROUP BY consumer_id, experiment_id
),
last_day AS (
    SELECT max(CAST(event_time AT TIME ZONE 'UTC' AS DATE)) AS day_end FROM event
),
eligible AS (
    SELECT f.* FROM first_note f, last_day l WHERE f.day0 + ? <= l.day_end
),
active AS (
    SELECT DISTINCT e.consumer_id, e.experiment_id
    FROM eligible e
    JOIN event p ON p.consumer_id = e.consumer_id AND p.kind = 'purchase'
     AND CAST(p.event_time AT TIME ZONE 'UTC' AS DATE) > e.day0
     AND CAST(p.event_time AT TIME ZONE 'UTC' AS DATE) <= e.day0 + ?
)
SELECT e.experiment_id, e.delivered, count(*),
       sum(CASE WHEN a.consumer_id IS NULL THEN 0 ELSE 1 END)
FROM eligible e
LEFT JOIN active a ON a.consumer_id = e.consumer_id AND a.experiment_id = e.experiment_id
GROUP BY 1, 2
ORDER BY 1, 2
"""


def retention(con: duckdb.DuckDBPyConnection, period_days: int) -> list[tuple[str, bool, int, int]]:
    """(experiment, delivered, subscribers counted, subscribers active again)."""
    return [
        (str(x), bool(d), int(n), int(k))
        for x, d, n, k in con.execute(_RETENTION, [period_days, period_days]).fetchall()
    ]
