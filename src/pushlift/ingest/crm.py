"""Import a retailer's CRM exports (sales ledger + outbound conversations) into the store.

Files are read as text and checked with vectorized DuckDB queries (`csvtext.py`, shared
with the mall importer) that report the first offending row; any bad value stops the
import with one InputError naming file, row and column, before anything is written. What
is messy but well defined is kept and counted instead of rejected: exact duplicate lines
and missing amounts are dropped (never imputed), returns are kept as returns and matched
to the sale they undo, line items stay lines (the `crm_transaction` view groups them). The
data-quality report (`crm_quality.py`) is computed on the same validation connection and
stored with the data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from pushlift import schema
from pushlift.analysis.results import to_jsonable
from pushlift.errors import InputError, PushliftError
from pushlift.ingest import crm_checks
from pushlift.ingest.crm_columns import MESSAGES_DEFAULTS, SALES_DEFAULTS
from pushlift.ingest.crm_dates import (
    IsoDayMonth,
    ambiguous_iso_sql,
    shape_sql,
    swap_evidence,
    timestamp_sql,
)
from pushlift.ingest.crm_quality import CrmQualityReport, quality_report
from pushlift.ingest.csvtext import ROW, read_csv_text, table_columns, unix_lines
from pushlift.store import Store

LINE = "_line"  # the raw text of each data line, for exact-duplicate detection
OWNED_TABLES = ("crm_sale_line", "crm_conversation", "crm_dropped_line", "crm_import")


@dataclass(frozen=True)
class CrmImportResult:
    """What an import wrote and the data-quality report (also stored in crm_import)."""

    dataset_id: str
    sales_file: str
    messages_file: str
    sale_lines: int
    conversations: int
    quality: CrmQualityReport


def import_crm(
    store: Store,
    sales_path: str | Path,
    messages_path: str | Path,
    *,
    dataset_id: str = "crm",
    replace: bool = False,
    column_map: dict[str, dict[str, str]] | None = None,
    iso_day_month: IsoDayMonth = "auto",
    now: datetime | None = None,
    shared_phone_ids: int = 50,
) -> CrmImportResult:
    """Validate both exports completely, then write them in one transaction.

    `column_map` is `parse_column_map`'s result (default: the reference headers).
    `iso_day_month` says how ISO order dates are read ('auto' decides from the returns; see
    crm_dates). `now` (default: the current time) bounds dates: later ones are errors.
    `shared_phone_ids` is the number of customer ids above which a phone is reported as a
    shared, unreliable key. Raises InputError or PushliftError; then nothing is written.
    """
    if not dataset_id.strip():
        raise PushliftError("the dataset id must not be empty")
    if iso_day_month not in ("auto", "as-written", "swapped"):
        raise PushliftError("--iso-dates must be auto, as-written or swapped")
    exists = store.con.execute(
        "SELECT count(*) FROM crm_import WHERE dataset_id = ?", [dataset_id]
    ).fetchall()[0][0]
    if exists and not replace:
        raise PushliftError(
            f"the store already holds CRM dataset {dataset_id!r}; pass --replace to overwrite it"
        )
    maps = column_map or {"sales": dict(SALES_DEFAULTS), "messages": dict(MESSAGES_DEFAULTS)}
    now_utc = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    s_file, m_file = str(sales_path), str(messages_path)

    con = duckdb.connect()  # validation never touches the store
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("sales_in", _read(sales_path, maps["sales"]))
        con.register("messages_in", _read(messages_path, maps["messages"]))
        crm_checks.check_sales(con, "sales_in", s_file, maps["sales"])
        crm_checks.check_messages(con, "messages_in", m_file, maps["messages"])
        _typed_sales(con, maps["sales"])
        _typed_messages(con, maps["messages"])
        crm_checks.check_conversation_ids(con, m_file, maps["messages"]["conversation_id"])

        evidence = swap_evidence(con, "sales_kept")
        reading, reason = evidence.decide()
        if iso_day_month != "auto":
            reading = iso_day_month
            reason = f"ISO order dates read {iso_day_month} as requested ({reason})"
        _timestamps(con, swapped=reading == "swapped")
        crm_checks.check_not_future(con, s_file, m_file, maps, now_utc)
        _match_returns(con)
        quality = quality_report(
            con,
            dataset_id=dataset_id,
            files=(s_file, m_file),
            evidence=evidence,
            iso_reading=reading,
            iso_reason=reason,
            shared_phone_ids=shared_phone_ids,
        )
        ingest = now_utc.isoformat(sep=" ")
        sale_lines = con.sql(
            f"""SELECT ? AS dataset_id, {ROW} AS line_no, phone AS phone_key,
                  customer_id AS customer_key, transaction_id AS transaction_key,
                  location AS location_key, amount_cents, amount_cents < 0 AS is_return,
                  timezone('UTC', order_ts) AS order_time,
                  timezone('UTC', return_ts) AS return_time, order_date_format,
                  matched_line_no, return_match,
                  timezone('UTC', CAST(? AS TIMESTAMP)) AS ingest_time
                FROM sales_final ORDER BY {ROW}""",
            params=[dataset_id, ingest],
        ).to_arrow_table()
        conversations = con.sql(
            f"""SELECT ? AS dataset_id, conversation_id AS conversation_key, {ROW} AS line_no,
                  phone AS phone_key, location AS location_key, n_messages, has_response,
                  timezone('UTC', contact_ts) AS contact_time,
                  timezone('UTC', CAST(? AS TIMESTAMP)) AS ingest_time
                FROM messages_kept ORDER BY {ROW}""",
            params=[dataset_id, ingest],
        ).to_arrow_table()
        dropped = con.sql(
            f"""SELECT ? AS dataset_id, 'sales' AS file, {ROW} AS line_no, drop_reason AS reason,
                  CASE WHEN drop_reason = 'exact_duplicate' THEN dup_of END AS duplicate_of
                FROM sales_lines WHERE drop_reason IS NOT NULL
                UNION ALL
                SELECT ?, 'messages', {ROW}, 'exact_duplicate', dup_of
                FROM messages_lines WHERE dup_of <> {ROW}
                ORDER BY file DESC, line_no""",
            params=[dataset_id, dataset_id],
        ).to_arrow_table()
    finally:
        con.close()

    column_map_json = json.dumps(maps, sort_keys=True)
    quality_json = json.dumps(to_jsonable(quality), sort_keys=True)
    with store.transaction():
        if replace:
            delete_dataset(store, dataset_id)
        store.con.execute(
            "INSERT INTO crm_import VALUES "
            "(?, ?, ?, ?, ?, ?, timezone('UTC', CAST(? AS TIMESTAMP)))",
            [dataset_id, s_file, m_file, column_map_json, reading, quality_json, ingest],
        )
        store.append(schema.CRM_SALE_LINE, table_columns(sale_lines))
        store.append(schema.CRM_CONVERSATION, table_columns(conversations))
        store.append(schema.CRM_DROPPED_LINE, table_columns(dropped))
    return CrmImportResult(
        dataset_id=dataset_id,
        sales_file=s_file,
        messages_file=m_file,
        sale_lines=sale_lines.num_rows,
        conversations=conversations.num_rows,
        quality=quality,
    )


def delete_dataset(store: Store, dataset_id: str) -> None:
    """Remove a CRM dataset (all its tables) from the store."""
    for name in OWNED_TABLES:
        store.con.execute(f"DELETE FROM {name} WHERE dataset_id = ?", [dataset_id])


def _read(path: str | Path, mapping: dict[str, str]) -> pa.Table:
    """The mapped columns as text, the line number and the raw line text."""
    try:
        table = read_csv_text(path, list(mapping.values()))
    except InputError as e:
        if e.row == 1 and e.detail.startswith("missing required column"):
            raise InputError(
                e.detail + "; if your export names it differently, map it with "
                "--map canonical=column (see `pushlift import crm --help`)",
                file=e.file,
                row=e.row,
                column=e.column,
            ) from None
        raise
    # Canonical names from here on: safe SQL identifiers whatever the vendor's header.
    table = table.rename_columns(
        [{v: k for k, v in mapping.items()}.get(c, c) for c in table.column_names]
    )
    data = unix_lines(Path(path).read_bytes().removeprefix(b"\xef\xbb\xbf")).rstrip(b"\r\n")
    lines = [line.rstrip(b"\r").decode() for line in data.split(b"\n")[1:]]
    if len(lines) != table.num_rows:  # cannot happen while records are single lines
        raise InputError(
            "a quoted value spans several lines; this is not supported", file=str(path)
        )
    return table.append_column(LINE, pa.array(lines, pa.string()))


def _typed_sales(con: duckdb.DuckDBPyConnection, m: dict[str, str]) -> None:
    """One row per line with trimmed values, duplicate and missing-amount flags."""

    def col(name: str) -> str:
        return f"trim({name})"

    con.execute(
        f"""CREATE TEMP TABLE sales_lines AS
            SELECT *,
              CASE WHEN dup_of <> {ROW} THEN 'exact_duplicate'
                   WHEN amount_text = '' THEN 'missing_amount' END AS drop_reason
            FROM (
              SELECT {ROW}, {col("phone")} AS phone, {col("customer_id")} AS customer_id,
                {col("transaction_id")} AS transaction_id, {col("location")} AS location,
                {col("amount")} AS amount_text, {col("order_date")} AS order_date,
                {col("return_date")} AS return_date,
                min({ROW}) OVER (PARTITION BY {LINE}) AS dup_of
              FROM sales_in) AS t"""
    )
    con.execute(
        f"""CREATE TEMP TABLE sales_kept AS
            SELECT *, amount_cents < 0 AS is_return_line,
              return_ts_raw IS NOT NULL AND return_ts_raw <> TIMESTAMP '2000-01-01'
                AS has_return_date
            FROM (
              SELECT *,
                CAST(CAST(amount_text AS DECIMAL(18, 2)) * 100 AS BIGINT) AS amount_cents,
                {timestamp_sql("return_date")} AS return_ts_raw
              FROM sales_lines WHERE drop_reason IS NULL) AS t"""
    )


def _typed_messages(con: duckdb.DuckDBPyConnection, m: dict[str, str]) -> None:
    def col(name: str) -> str:
        return f"trim({name})"

    con.execute(
        f"""CREATE TEMP TABLE messages_lines AS
            SELECT {ROW}, {col("phone")} AS phone, {col("conversation_id")} AS conversation_id,
              {col("location")} AS location,
              CAST({col("n_messages")} AS INTEGER) AS n_messages,
              lower({col("has_response")}) IN ('true', '1') AS has_response,
              {col("contact_date")} AS contact_date,
              min({ROW}) OVER (PARTITION BY {LINE}) AS dup_of
            FROM messages_in"""
    )
    con.execute(
        f"""CREATE TEMP TABLE messages_kept AS
            SELECT *, {timestamp_sql("contact_date")} AS contact_ts
            FROM messages_lines WHERE dup_of = {ROW}"""
    )


def _timestamps(con: duckdb.DuckDBPyConnection, *, swapped: bool) -> None:
    """Order and return times of kept sales lines, with the chosen ISO reading."""
    con.execute(
        f"""CREATE TEMP TABLE sales_timed AS
            SELECT *,
              {timestamp_sql("order_date", iso_swapped=swapped)} AS order_ts,
              CASE WHEN has_return_date THEN return_ts_raw END AS return_ts,
              CASE WHEN {swapped} AND {ambiguous_iso_sql("order_date")} THEN 'iso-swapped'
                   ELSE {shape_sql("order_date")} END AS order_date_format
            FROM sales_kept"""
    )


def _match_returns(con: duckdb.DuckDBPyConnection) -> None:
    """Pair each return line with a sale line of the same transaction and amount.

    Each sale line undoes at most one return: the k-th return of an amount in a transaction
    pairs with the k-th sale of that amount (by line). A return whose transaction has sales
    but none of that amount nets against the transaction; one whose transaction has no sale
    in the file (bought before the export began, or its amount was missing) is unmatched.
    """
    con.execute(
        f"""CREATE TEMP TABLE sales_final AS
            WITH r AS (
              SELECT {ROW}, transaction_id, -amount_cents AS amount,
                ROW_NUMBER() OVER (PARTITION BY transaction_id, amount_cents ORDER BY {ROW}) AS k
              FROM sales_timed WHERE amount_cents < 0),
            s AS (
              SELECT {ROW}, transaction_id, amount_cents AS amount,
                ROW_NUMBER() OVER (PARTITION BY transaction_id, amount_cents ORDER BY {ROW}) AS k
              FROM sales_timed WHERE amount_cents > 0),
            pairs AS (
              SELECT r.{ROW} AS return_row, s.{ROW} AS sale_row FROM r
              JOIN s ON s.transaction_id = r.transaction_id AND s.amount = r.amount AND s.k = r.k),
            with_sales AS (
              SELECT DISTINCT transaction_id FROM sales_timed WHERE amount_cents >= 0)
            SELECT t.*, p.sale_row AS matched_line_no,
              CASE WHEN t.amount_cents >= 0 THEN NULL
                   WHEN p.sale_row IS NOT NULL THEN 'line'
                   WHEN w.transaction_id IS NOT NULL THEN 'transaction'
                   ELSE 'none' END AS return_match
            FROM sales_timed t
            LEFT JOIN pairs p ON p.return_row = t.{ROW}
            LEFT JOIN with_sales w ON w.transaction_id = t.transaction_id"""
    )
