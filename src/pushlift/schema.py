"""The data model: every table pushlift stores, defined once.

Each table is a tuple of typed columns with a one-line meaning. The store creates the
tables from these definitions, importers and simulators build rows for them, and the
analysis reads them through the views at the end of this module. Money is integer cents;
timestamps are UTC with microseconds, with event time and ingest time kept apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


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

    def ddl(self, types: dict[str, str] | None = None) -> str:
        """CREATE TABLE for DuckDB, or with `types` mapping each type for another engine."""
        cols = [
            f"{c.name} {types[c.sql_type] if types else c.sql_type}"
            f"{'' if c.nullable else ' NOT NULL'}"
            for c in self.columns
        ]
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
    "A subscriber the engine knows and its traits (for trait segments and KPI breakdowns).",
    (
        _c("consumer_id", "BIGINT", "stable identifier"),
        _c("age", "SMALLINT", "age in years (18-100)"),
        _c("gender", "VARCHAR", "'F' or 'M'"),
        _c("loyalty_status", "TINYINT", "1 = low, 2 = high"),
    ),
    ("consumer_id",),
)

# An experiment's units are its own: two experiments may use the same consumer ids for
# different people (another export, another mall), and an experiment's pre-treatment
# covariates are those recorded when it ran. So the mall's units, trips and purchases are
# keyed by experiment; `consumer` stays the engine's view of its subscribers.
MALL_CONSUMER = Table(
    "mall_consumer",
    "A consumer of one mall experiment and the traits recorded for it before any message.",
    (
        _c("experiment_id", "VARCHAR", "the experiment whose unit this is"),
        _c("consumer_id", "BIGINT", "identifier within the experiment"),
        _c("age", "SMALLINT", "age in years (18-100)"),
        _c("gender", "VARCHAR", "'F' or 'M'"),
        _c("loyalty_status", "TINYINT", "1 = low, 2 = high"),
    ),
    ("experiment_id", "consumer_id"),
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
        _c("experiment_id", "VARCHAR", "the mall experiment it belongs to"),
        _c("trip_id", "BIGINT", "identifier within the experiment"),
        _c("consumer_id", "BIGINT", "who visited"),
        _c("trip_date", "DATE", "the day of the visit"),
    ),
    ("experiment_id", "trip_id"),
)

PURCHASE = Table(
    "purchase",
    "A purchase at a store during a trip; store_seq 1 is the trip's first store (the trigger).",
    (
        _c("experiment_id", "VARCHAR", "the mall experiment it belongs to"),
        _c("purchase_id", "BIGINT", "identifier within the experiment"),
        _c("consumer_id", "BIGINT", "who bought"),
        _c("trip_id", "BIGINT", "the visit it belongs to"),
        _c("store_id", "INTEGER", "where"),
        _c("store_seq", "SMALLINT", "1 for the first store of the trip, 2 for the second, ..."),
        _c("amount_cents", "BIGINT", "amount paid, integer cents"),
        _c("event_time", "TIMESTAMPTZ", "when the purchase happened"),
        _c("ingest_time", "TIMESTAMPTZ", "when pushlift stored it"),
    ),
    ("experiment_id", "purchase_id"),
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
    "An engine decision to notify: delivered, or recorded as held out ('would have sent').",
    (
        _c("notification_id", "BIGINT", "stable identifier: the id of the event that triggered it"),
        _c("event_id", "BIGINT", "the triggering event (a location ping or a purchase)"),
        _c("consumer_id", "BIGINT", "recipient (a mall consumer, a city subscriber)"),
        _c("offer_id", "VARCHAR", "the offer that won the auction"),
        _c("vendor_id", "VARCHAR", "the offer's vendor"),
        _c("zone_id", "VARCHAR", "the offer's notification zone; null for trip triggers", True),
        _c("experiment_id", "VARCHAR", "the experiment covering the offer, if any", True),
        _c("arm", "VARCHAR", "the recipient's arm in that experiment", True),
        _c("delivered", "BOOLEAN", "false for a held-out (holdout arm) 'would have sent' record"),
        _c("bid_cents", "BIGINT", "the winning offer's maximum bid"),
        _c("price_cents", "BIGINT", "price paid if delivered (would have paid if held out)"),
        _c("runner_up_bid_cents", "BIGINT", "the next eligible bid, if any", True),
        _c("eligible_offers", "INTEGER", "offers left for the auction"),
        _c("reason", "VARCHAR", "why this offer won, in words"),
        _c("content", "VARCHAR", "the message text"),
        _c("event_time", "TIMESTAMPTZ", "when the decision was made (the trigger's event time)"),
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

MALL_HISTORY = Table(
    "mall_history",
    "Purchases by an experiment's consumers before it started (pre-period behaviour: the "
    "covariates of `analyze experiment --pre-period`). No message was sent then.",
    (
        _c("experiment_id", "VARCHAR", "the mall experiment whose units bought"),
        _c("purchase_id", "BIGINT", "identifier within the experiment's history"),
        _c("consumer_id", "BIGINT", "who bought"),
        _c("store_seq", "SMALLINT", "1 for the first store of the trip, 2 for the second, ..."),
        _c("amount_cents", "BIGINT", "amount paid, integer cents"),
        _c("event_time", "TIMESTAMPTZ", "when the purchase happened (before the experiment)"),
    ),
    ("experiment_id", "purchase_id"),
)

MALL_IMPORT = Table(
    "mall_import",
    "One imported mall export: what the files could support and the import's report.",
    (
        _c("experiment_id", "VARCHAR", "the experiment it was imported as"),
        _c("consumer_file", "VARCHAR", "path of consumer.csv as given"),
        _c("purchase_file", "VARCHAR", "path of purchase.csv as given"),
        _c(
            "mode",
            "VARCHAR",
            "'complete' (a purchase row per consumer), 'buyers-only' (the arm of non-buyers "
            "unknown) or 'buyers-only-assigned' (arm sizes given with --assigned)",
        ),
        _c("assigned_treated", "BIGINT", "--assigned: planned consumers messaged", True),
        _c("assigned_control", "BIGINT", "--assigned: planned consumers in control", True),
        _c("report_json", "VARCHAR", "the import report as JSON (problems, damage, set aside)"),
        _c("imported_at", "TIMESTAMPTZ", "when the import was written (ingest time)"),
    ),
    ("experiment_id",),
)

MALL_REJECTED_ROW = Table(
    "mall_rejected_row",
    "A row of a mall export set aside by `import mall --quarantine`, with why.",
    (
        _c("experiment_id", "VARCHAR", "the experiment being imported"),
        _c("file", "VARCHAR", "'consumer' or 'purchase'"),
        _c("line_no", "INTEGER", "line of that file (header = 1)"),
        _c("consumer_id", "VARCHAR", "the row's consumer_id as written; null if unreadable", True),
        _c("kinds", "VARCHAR[]", "the kinds of problem found (e.g. 'age_below_18')"),
        _c("reason", "VARCHAR", "why the row was set aside, in words"),
        _c("row_json", "VARCHAR", "the row's values as written (JSON object)"),
    ),
    ("experiment_id", "file", "line_no"),
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

# ---------------------------------------------------------------------------
# Real-time engine (city and mall scenarios)
#
# The engine's input log (`event`), the config it decided with (`vendor`, `zone`, `offer`)
# and why events were not notified (`decision_count`). Notifications are in `notification`.
# ---------------------------------------------------------------------------

EVENT = Table(
    "event",
    "Every event the engine received: location pings, purchases and site visits.",
    (
        _c("event_id", "BIGINT", "stable identifier, unique across kinds (replays are skipped)"),
        _c("kind", "VARCHAR", "'location', 'purchase' or 'site_visit'"),
        _c("consumer_id", "BIGINT", "the subscriber"),
        _c("lat", "DOUBLE", "location pings: latitude", True),
        _c("lon", "DOUBLE", "location pings: longitude", True),
        _c("vendor_id", "VARCHAR", "purchases: where; site visits: whose site", True),
        _c("amount_cents", "BIGINT", "purchases: amount paid, integer cents", True),
        _c("domain", "VARCHAR", "site visits: the domain visited", True),
        _c("event_time", "TIMESTAMPTZ", "when it happened"),
        _c("ingest_time", "TIMESTAMPTZ", "when pushlift stored it"),
    ),
    ("event_id",),
)

VENDOR = Table(
    "vendor",
    "A vendor that runs offers.",
    (
        _c("vendor_id", "VARCHAR", "stable identifier from the config"),
        _c("name", "VARCHAR", "display name"),
        _c("category", "VARCHAR", "food, fashion, ..."),
        _c("domain", "VARCHAR", "its web site", True),
        _c("lat", "DOUBLE", "location", True),
        _c("lon", "DOUBLE", "location", True),
    ),
    ("vendor_id",),
)

ZONE = Table(
    "zone",
    "A notification zone: a circle or a polygon.",
    (
        _c("zone_id", "VARCHAR", "stable identifier from the config"),
        _c("shape", "VARCHAR", "'circle' or 'polygon'"),
        _c("geometry", "VARCHAR", "JSON: {lat, lon, radius_m} or [[lat, lon], ...]"),
    ),
    ("zone_id",),
)

OFFER = Table(
    "offer",
    "An offer as last configured.",
    (
        _c("offer_id", "VARCHAR", "stable identifier from the config"),
        _c("vendor_id", "VARCHAR", "whose offer"),
        _c("content", "VARCHAR", "the message text"),
        _c("zone_id", "VARCHAR", "notification zone; null for trip triggers", True),
        _c("segments", "VARCHAR[]", "required segments (all must hold)"),
        _c("max_bid_cents", "BIGINT", "maximum bid per notification"),
        _c("budget_cents", "BIGINT", "total budget; null = unlimited", True),
        _c("daily_budget_cents", "BIGINT", "daily budget; null = unlimited", True),
        _c("experiment_id", "VARCHAR", "the experiment covering it, if any", True),
        _c("enabled", "BOOLEAN", "whether it can be shown"),
    ),
    ("offer_id",),
)

DECISION_COUNT = Table(
    "decision_count",
    "Events per hour and outcome (no_match, segment, budget, delivered, ...): the fill rate.",
    (
        _c("hour", "TIMESTAMPTZ", "the UTC hour of the events' event time"),
        _c("outcome", "VARCHAR", "the stage that decided (see the engine's docs)"),
        _c("events", "BIGINT", "number of events"),
    ),
    ("hour", "outcome"),
)

# ---------------------------------------------------------------------------
# CRM exports (engagement scenario)
#
# A retailer's two exports as imported by `pushlift import crm`: the sales ledger (one row
# per line item, returns as negative lines) and outbound conversations. Several datasets
# can live side by side, keyed by dataset_id. The vendor's encoded keys are kept as text
# exactly as exported; line_no (the file's line, header = 1) is the stable row id.
# Exports carry dates, not instants: an order date is stored as midnight UTC of that day.
# ---------------------------------------------------------------------------

CRM_IMPORT = Table(
    "crm_import",
    "One imported pair of CRM exports and its data-quality report.",
    (
        _c("dataset_id", "VARCHAR", "name of the dataset, e.g. 'crm'"),
        _c("sales_file", "VARCHAR", "path of the sales ledger as given"),
        _c("messages_file", "VARCHAR", "path of the outbound conversations as given"),
        _c("column_map", "VARCHAR", "JSON object canonical column -> file column"),
        _c("iso_day_month", "VARCHAR", "how ISO order dates were read: 'as-written' or 'swapped'"),
        _c("quality_json", "VARCHAR", "the data-quality report as JSON"),
        _c("imported_at", "TIMESTAMPTZ", "when the import was written (ingest time)"),
    ),
    ("dataset_id",),
)

CRM_SALE_LINE = Table(
    "crm_sale_line",
    "A kept line of the sales ledger: a sale (amount >= 0) or a return (amount < 0).",
    (
        _c("dataset_id", "VARCHAR", "the dataset"),
        _c("line_no", "INTEGER", "line of the sales file (header = 1): the stable id"),
        _c("phone_key", "VARCHAR", "encoded phone as exported (not a reliable person key)"),
        _c("customer_key", "VARCHAR", "encoded customer id as exported"),
        _c("transaction_key", "VARCHAR", "encoded transaction id; line items share it"),
        _c("location_key", "VARCHAR", "encoded store, or e.g. 'Online_Sales'"),
        _c("amount_cents", "BIGINT", "amount including VAT, integer cents; negative = return"),
        _c("is_return", "BOOLEAN", "amount < 0"),
        _c("order_time", "TIMESTAMPTZ", "order date (midnight UTC): event time of the sale"),
        _c("return_time", "TIMESTAMPTZ", "return date (midnight UTC); NULL = no return", True),
        _c("order_date_format", "VARCHAR", "'iso', 'iso-swapped' (day/month swapped back), 'dmy'"),
        _c("matched_line_no", "INTEGER", "return: the sale line it nets against, if any", True),
        _c("return_match", "VARCHAR", "return: 'line', 'transaction' or 'none'", True),
        _c("ingest_time", "TIMESTAMPTZ", "when pushlift stored it"),
    ),
    ("dataset_id", "line_no"),
)

CRM_CONVERSATION = Table(
    "crm_conversation",
    "An outbound conversation with a customer (the contact).",
    (
        _c("dataset_id", "VARCHAR", "the dataset"),
        _c("conversation_key", "VARCHAR", "conversation id as exported"),
        _c("line_no", "INTEGER", "line of the messages file (header = 1)"),
        _c("phone_key", "VARCHAR", "encoded phone: the only customer key of this file"),
        _c("location_key", "VARCHAR", "encoded store of the conversation"),
        _c("n_messages", "INTEGER", "number of messages in the conversation (>= 1)"),
        _c("has_response", "BOOLEAN", "did the customer reply"),
        _c("contact_time", "TIMESTAMPTZ", "when the conversation started (UTC): event time"),
        _c("ingest_time", "TIMESTAMPTZ", "when pushlift stored it"),
    ),
    ("dataset_id", "conversation_key"),
)

CRM_DROPPED_LINE = Table(
    "crm_dropped_line",
    "A line of a CRM export that was not kept, and why (for audit).",
    (
        _c("dataset_id", "VARCHAR", "the dataset"),
        _c("file", "VARCHAR", "'sales' or 'messages'"),
        _c("line_no", "INTEGER", "line of that file (header = 1)"),
        _c("reason", "VARCHAR", "'exact_duplicate' or 'missing_amount'"),
        _c("duplicate_of", "INTEGER", "exact_duplicate: the first identical line kept", True),
    ),
    ("dataset_id", "file", "line_no"),
)

# ---------------------------------------------------------------------------
# The HTTP service (`pushlift serve`)
# ---------------------------------------------------------------------------

CONFIG_VERSION = Table(
    "config_version",
    "Every engine config the service decided with, in order; the highest version is live.",
    (
        _c("version", "INTEGER", "1, 2, ... in the order applied"),
        _c("config_json", "VARCHAR", "the validated config as JSON"),
        _c("change", "VARCHAR", "what changed, e.g. 'PUT /v1/offers/o1'"),
        _c("created_at", "TIMESTAMPTZ", "when it was applied"),
    ),
    ("version",),
)

WEBHOOK_DELIVERY = Table(
    "webhook_delivery",
    "Delivered notifications the webhook sink has acknowledged (HTTP 2xx).",
    (
        _c("notification_id", "BIGINT", "the notification sent"),
        _c("url", "VARCHAR", "the sink"),
        _c("attempts", "INTEGER", "tries until acknowledged"),
        _c("acknowledged_at", "TIMESTAMPTZ", "when the sink answered 2xx"),
    ),
    ("notification_id", "url"),
)

JOURNAL_LOAD = Table(
    "journal_load",
    "How far each service journal has been loaded into this store (its high-water mark).",
    (
        _c("journal_id", "VARCHAR", "the journal file's own id"),
        _c("seq", "BIGINT", "the last journal row loaded (rows are numbered 1, 2, ...)"),
        _c("loaded_at", "TIMESTAMPTZ", "when that row was loaded"),
    ),
    ("journal_id",),
)

TABLES: tuple[Table, ...] = (
    EXPERIMENT,
    CONSUMER,
    MALL_CONSUMER,
    STORE,
    TRIP,
    PURCHASE,
    ASSIGNMENT,
    NOTIFICATION,
    MALL_OUTCOME,
    MALL_HISTORY,
    MALL_IMPORT,
    MALL_REJECTED_ROW,
    TRUE_EFFECT,
    EVENT,
    VENDOR,
    ZONE,
    OFFER,
    DECISION_COUNT,
    CRM_IMPORT,
    CRM_SALE_LINE,
    CRM_CONVERSATION,
    CRM_DROPPED_LINE,
    CONFIG_VERSION,
    WEBHOOK_DELIVERY,
    JOURNAL_LOAD,
)


def upgrade_legacy(con: duckdb.DuckDBPyConnection) -> None:
    """Bring a store written before the mall's units were keyed by experiment up to date.

    Its trips and purchases were the simulated mall week's, and each mall experiment read
    its covariates from the shared `consumer` table: the trips and purchases get that
    experiment's id, and each mall experiment gets a copy of its units' covariates as they
    are now. Does nothing on a new or current store.
    """
    columns = {
        (t, c)
        for t, c in con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema()"
        ).fetchall()
    }
    tables = {t for t, _ in columns}
    legacy = [
        t for t in (TRIP, PURCHASE) if t.name in tables and (t.name, "experiment_id") not in columns
    ]
    copy_units = MALL_CONSUMER.name not in tables and {"consumer", "assignment"} <= tables
    if not legacy and not copy_units:
        return
    con.execute("BEGIN TRANSACTION")
    try:
        for table in legacy:
            old = [c for c in table.column_names if c != "experiment_id"]
            con.execute(f"ALTER TABLE {table.name} RENAME TO {table.name}_legacy")
            con.execute(table.ddl())
            con.execute(
                f"""INSERT INTO {table.name} SELECT coalesce((SELECT min(experiment_id)
                      FROM experiment WHERE source = 'simulated' AND experiment_id IN
                      (SELECT experiment_id FROM mall_outcome)), 'mall-2019-10'), {", ".join(old)}
                    FROM {table.name}_legacy"""
            )
            con.execute(f"DROP TABLE {table.name}_legacy")
        if copy_units and "mall_outcome" in tables:
            con.execute(MALL_CONSUMER.ddl())
            con.execute(
                """INSERT INTO mall_consumer
                   SELECT a.experiment_id, c.consumer_id, c.age, c.gender, c.loyalty_status
                   FROM assignment a JOIN consumer c ON c.consumer_id = a.unit_id
                   WHERE a.experiment_id IN (SELECT DISTINCT experiment_id FROM mall_outcome)"""
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


# ---------------------------------------------------------------------------
# Operational state (`ops.py`): a SQLite file beside the store, which several processes
# may open at once while the store has one owner. Times are integer µs since the epoch.
# ---------------------------------------------------------------------------

API_KEY = Table(
    "api_key",
    "A key for the HTTP service; only a hash of the secret is stored.",
    (
        _c("key_id", "VARCHAR", "public identifier: the key's first characters"),
        _c("name", "VARCHAR", "who or what the key is for"),
        _c("scope", "VARCHAR", "'write' (post events, change config, read) or 'read'"),
        _c("secret_sha256", "VARCHAR", "SHA-256 of the whole key, hex"),
        _c("created_at", "TIMESTAMPTZ", "when it was created"),
        _c("revoked_at", "TIMESTAMPTZ", "when it was revoked; null while valid", True),
    ),
    ("key_id",),
)

OWNER = Table(
    "store_owner",
    "The process that owns the store for writing now, so others can name it or ask it.",
    (
        _c("slot", "INTEGER", "always 1: one owner at a time"),
        _c("pid", "BIGINT", "its process id"),
        _c("command", "VARCHAR", "what it is, e.g. 'pushlift serve'"),
        _c("url", "VARCHAR", "where it serves the dashboard and API, if it does", True),
        _c("snapshots", "BOOLEAN", "whether it answers snapshot requests"),
        _c("started_at", "TIMESTAMPTZ", "when it took the store"),
    ),
    ("slot",),
)

SNAPSHOT_REQUEST = Table(
    "snapshot_request",
    "A reader's request for a consistent copy of the store, made by its owner.",
    (
        _c("request_id", "VARCHAR", "random id"),
        _c("path", "VARCHAR", "where the owner writes the copy"),
        _c("requested_at", "TIMESTAMPTZ", "when it was asked for"),
        _c("done_at", "TIMESTAMPTZ", "when the copy was complete", True),
        _c("error", "VARCHAR", "why it could not be made", True),
    ),
    ("request_id",),
)

OPS_TABLES: tuple[Table, ...] = (API_KEY, OWNER, SNAPSHOT_REQUEST)
SQLITE_TYPES = {"BIGINT": "INTEGER", "INTEGER": "INTEGER", "BOOLEAN": "INTEGER",
                "DOUBLE": "REAL", "VARCHAR": "TEXT", "TIMESTAMPTZ": "INTEGER"}  # fmt: skip

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
JOIN mall_consumer c ON c.experiment_id = a.experiment_id AND c.consumer_id = a.unit_id
JOIN mall_outcome o ON o.experiment_id = a.experiment_id AND o.consumer_id = a.unit_id
"""

# CRM: line items grouped into transactions. The owner (phone, customer id, location) is the
# transaction's first sale line (returns are often booked under another customer id). Returns
# net against their transaction's sales up to the sales recorded; any excess undoes a sale
# that is not in the file and is kept apart (unmatched_return_cents), never netted.
CRM_TRANSACTION_VIEW = """
CREATE OR REPLACE VIEW crm_transaction AS
WITH ranked AS (
  SELECT *, ROW_NUMBER() OVER (
    PARTITION BY dataset_id, transaction_key
    ORDER BY CASE WHEN is_return THEN 1 ELSE 0 END, line_no) AS owner_rank
  FROM crm_sale_line
),
totals AS (
  SELECT dataset_id, transaction_key,
    MIN(order_time) AS order_time,
    COUNT(*) FILTER (WHERE NOT is_return) AS n_sale_lines,
    COUNT(*) FILTER (WHERE is_return) AS n_return_lines,
    COALESCE(SUM(amount_cents) FILTER (WHERE NOT is_return), 0) AS gross_cents,
    COALESCE(-SUM(amount_cents) FILTER (WHERE is_return), 0) AS returned_cents
  FROM crm_sale_line
  GROUP BY dataset_id, transaction_key
)
SELECT t.dataset_id, t.transaction_key, r.phone_key, r.customer_key, r.location_key,
  t.order_time, t.n_sale_lines, t.n_return_lines, t.gross_cents, t.returned_cents,
  CASE WHEN t.returned_cents < t.gross_cents THEN t.gross_cents - t.returned_cents ELSE 0 END
    AS net_cents,
  CASE WHEN t.returned_cents > t.gross_cents THEN t.returned_cents - t.gross_cents ELSE 0 END
    AS unmatched_return_cents
FROM totals t
JOIN ranked r ON r.dataset_id = t.dataset_id AND r.transaction_key = t.transaction_key
  AND r.owner_rank = 1
"""

VIEWS: tuple[str, ...] = (MALL_UNITS_VIEW, CRM_TRANSACTION_VIEW)
