"""The data model: every table pushlift stores, defined once.

Each table is a tuple of typed columns with a one-line meaning. The store creates the
tables from these definitions, importers and simulators build rows for them, and the
analysis reads them through the views at the end of this module. Money is integer cents;
timestamps are UTC with microseconds, with event time and ingest time kept apart.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    doc: str
    nullable: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def ddl(self) -> str:
        cols = [f"{c.name} {c.sql_type}{'' if c.nullable else ' NOT NULL'}" for c in self.columns]
        cols.append(f"PRIMARY KEY ({', '.join(self.primary_key)})")
        return f"CREATE TABLE IF NOT EXISTS {self.name} (\n  " + ",\n  ".join(cols) + "\n)"


def _c(name: str, sql_type: str, doc: str, nullable: bool = False) -> Column:
    return Column(name, sql_type, doc, nullable)


EXPERIMENT = Table(
    "experiment",
    "One randomized experiment: its arms, the control arm and where its data came from.",
    (
        _c("experiment_id", "VARCHAR", "stable identifier, e.g. 'mall-2019-10'"),
        _c("description", "VARCHAR", "what was tested"),
        _c("control_arm", "VARCHAR", "the arm every other arm is compared with"),
        _c("arms", "VARCHAR[]", "all arm names, control first"),
        _c("weights", "DOUBLE[]", "planned share of units per arm, same order as arms"),
        _c("source", "VARCHAR", "'simulated' or 'imported:<files>'"),
        _c("created_at", "TIMESTAMPTZ", "when the experiment was written to the store"),
    ),
    ("experiment_id",),
)

CONSUMER = Table(
    "consumer",
    "A shopper and the traits known before any message (pre-treatment covariates).",
    (
        _c("consumer_id", "BIGINT", "stable identifier"),
        _c("age", "SMALLINT", "age in years (18-100)"),
        _c("gender", "VARCHAR", "'F' or 'M'"),
        _c("loyalty_status", "TINYINT", "1 = low, 2 = high"),
    ),
    ("consumer_id",),
)

STORE = Table(
    "store",
    "A store in the mall.",
    (
        _c("store_id", "INTEGER", "stable identifier"),
        _c("name", "VARCHAR", "display name"),
        _c("category", "VARCHAR", "fashion, food, ..."),
    ),
    ("store_id",),
)

TRIP = Table(
    "trip",
    "One visit of a consumer to the mall (one day).",
    (
        _c("trip_id", "BIGINT", "stable identifier"),
        _c("consumer_id", "BIGINT", "who visited"),
        _c("trip_date", "DATE", "the day of the visit"),
    ),
    ("trip_id",),
)

PURCHASE = Table(
    "purchase",
    "A purchase at a store during a trip; store_seq 1 is the trip's first store (the trigger).",
    (
        _c("purchase_id", "BIGINT", "stable identifier"),
        _c("consumer_id", "BIGINT", "who bought"),
        _c("trip_id", "BIGINT", "the visit it belongs to"),
        _c("store_id", "INTEGER", "where"),
        _c("store_seq", "SMALLINT", "1 for the first store of the trip, 2 for the second, ..."),
        _c("amount_cents", "BIGINT", "amount paid, integer cents"),
        _c("event_time", "TIMESTAMPTZ", "when the purchase happened"),
        _c("ingest_time", "TIMESTAMPTZ", "when pushlift stored it"),
    ),
    ("purchase_id",),
)

ASSIGNMENT = Table(
    "assignment",
    "The randomized arm of each unit in an experiment.",
    (
        _c("experiment_id", "VARCHAR", "the experiment"),
        _c("unit_id", "BIGINT", "the randomized unit (a consumer)"),
        _c("arm", "VARCHAR", "the arm the unit was assigned to"),
    ),
    ("experiment_id", "unit_id"),
)

NOTIFICATION = Table(
    "notification",
    "A message decision: delivered to a treated unit, or recorded as held out for control.",
    (
        _c("notification_id", "BIGINT", "stable identifier"),
        _c("experiment_id", "VARCHAR", "the experiment that decided delivery"),
        _c("consumer_id", "BIGINT", "recipient"),
        _c("trigger_purchase_id", "BIGINT", "the purchase that triggered the decision"),
        _c("arm", "VARCHAR", "the recipient's arm"),
        _c("delivered", "BOOLEAN", "false for a held-out (control) 'would have sent' record"),
        _c("content", "VARCHAR", "the message text"),
        _c("event_time", "TIMESTAMPTZ", "when the decision was made"),
        _c("ingest_time", "TIMESTAMPTZ", "when pushlift stored it"),
    ),
    ("notification_id",),
)

MALL_OUTCOME = Table(
    "mall_outcome",
    "Per consumer outcome of the mall week: sales from the second store onwards of each trip.",
    (
        _c("experiment_id", "VARCHAR", "the experiment"),
        _c("consumer_id", "BIGINT", "the consumer"),
        _c("from_second_store_sales_cents", "BIGINT", "sum over trips of purchases at store 2+"),
    ),
    ("experiment_id", "consumer_id"),
)

TRUE_EFFECT = Table(
    "true_effect",
    "Simulation ground truth: the expected effect of treatment per outcome and segment.",
    (
        _c("experiment_id", "VARCHAR", "the experiment"),
        _c("outcome", "VARCHAR", "outcome name as in the analysis"),
        _c("segment", "VARCHAR", "'all' or the segment variable (loyalty, gender, age_band)"),
        _c("segment_value", "VARCHAR", "'all' or the segment's value"),
        _c("control_mean", "DOUBLE", "expected outcome without the message"),
        _c("treatment_mean", "DOUBLE", "expected outcome with the message"),
    ),
    ("experiment_id", "outcome", "segment", "segment_value"),
)

TABLES: tuple[Table, ...] = (
    EXPERIMENT,
    CONSUMER,
    STORE,
    TRIP,
    PURCHASE,
    ASSIGNMENT,
    NOTIFICATION,
    MALL_OUTCOME,
    TRUE_EFFECT,
)

# Age bands used for heterogeneous effects and the simulator's response model.
AGE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("18-29", 18, 29),
    ("30-39", 30, 39),
    ("40-49", 40, 49),
    ("50-59", 50, 59),
    ("60+", 60, 100),
)
MIN_AGE, MAX_AGE = 18, 100


def age_band_sql(column: str) -> str:
    """A SQL CASE expression mapping an age column to its band label."""
    whens = " ".join(f"WHEN {column} <= {hi} THEN '{label}'" for label, _, hi in AGE_BANDS)
    return f"CASE {whens} END"


# One row per randomized consumer of the mall experiment: the unit-level view every
# mall analysis reads. Outcomes in dollars; binary covariates as 0/1 for regression.
MALL_UNITS_VIEW = f"""
CREATE OR REPLACE VIEW mall_units AS
SELECT
  a.experiment_id,
  c.consumer_id,
  a.arm,
  c.age,
  c.gender,
  CASE c.loyalty_status WHEN 2 THEN 'high' ELSE 'low' END AS loyalty,
  {age_band_sql("c.age")} AS age_band,
  CAST(c.gender = 'F' AS INTEGER) AS female,
  CAST(c.loyalty_status = 2 AS INTEGER) AS high_loyalty,
  o.from_second_store_sales_cents / 100.0 AS from_second_store_sales,
  CAST(o.from_second_store_sales_cents > 0 AS INTEGER) AS made_second_purchase
FROM assignment a
JOIN consumer c ON c.consumer_id = a.unit_id
JOIN mall_outcome o ON o.experiment_id = a.experiment_id AND o.consumer_id = a.unit_id
"""

VIEWS: tuple[str, ...] = (MALL_UNITS_VIEW,)
