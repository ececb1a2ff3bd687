"""The data-quality report of a CRM import: what was read, kept, dropped and why.

Computed from the importer's validation tables (`sales_lines`, `sales_final`,
`messages_lines`, `messages_kept`), stored as JSON in `crm_import` and printed by the
command. Counts are lines of the files unless a name says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from pushlift.ingest.crm_dates import SwapEvidence
from pushlift.ingest.csvtext import ROW


@dataclass(frozen=True)
class SalesQuality:
    file: str
    rows_read: int
    rows_kept: int
    dropped_exact_duplicate: int
    dropped_missing_amount: int  # among lines that are not duplicates
    missing_amount_total: int  # all lines with an empty amount, duplicates included
    order_date_iso: int  # kept lines by the layout of their order date
    order_date_iso_swapped: int  # ISO lines whose day and month were swapped back
    order_date_dmy: int
    order_first: str
    order_last: str
    return_first: str | None
    return_last: str | None
    no_return_sentinel: int  # return date 1/1/00 (any spelling) = no return
    no_return_sentinel_other_spelling: int  # e.g. 1/1/2000 instead of 1/1/00
    no_return_empty: int
    sale_lines: int  # amount >= 0
    zero_amount_lines: int
    sale_lines_with_return_date: int  # amount >= 0 but a real return date
    return_lines: int  # amount < 0
    returns_without_return_date: int
    returns_before_order: int  # return date earlier than the order date (as read)
    returns_matched_line: int
    returns_matched_transaction: int
    returns_unmatched: int
    gross_sales_cents: int
    returns_cents: int  # positive: the amount returned
    transactions: int
    transactions_with_several_lines: int
    max_lines_per_transaction: int
    transactions_several_customer_ids: int
    transactions_several_phones: int
    transactions_several_order_dates: int
    return_only_transactions: int


@dataclass(frozen=True)
class MessagesQuality:
    file: str
    rows_read: int
    rows_kept: int
    dropped_exact_duplicate: int
    conversations: int
    phones: int
    with_response: int
    contact_first: str
    contact_last: str


@dataclass(frozen=True)
class SharedPhone:
    """A phone value shared by many customer ids in the sales file."""

    phone: str
    customer_ids: int
    sales_lines: int
    share_of_customer_ids: float
    conversations: int


@dataclass(frozen=True)
class KeyQuality:
    sales_phones: int
    customer_ids: int
    customer_ids_with_several_phones: int
    phones_by_customer_ids: dict[str, int]  # bucket -> number of phones
    shared_threshold: int
    shared_phones: tuple[SharedPhone, ...]  # phones with more than shared_threshold ids
    lines_on_shared_phones: int
    message_phones: int
    message_phones_in_sales: int
    message_phones_on_shared_phones: int
    row_join_rows_raw: int  # every raw line of one file x every raw line of the other
    row_join_rows_kept: int
    notes: tuple[str, ...]


@dataclass(frozen=True)
class CrmQualityReport:
    dataset_id: str
    sales: SalesQuality
    messages: MessagesQuality
    keys: KeyQuality
    iso_reading: str  # 'as-written' or 'swapped'
    iso_reason: str
    iso_evidence: SwapEvidence


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple:
    return tuple(con.execute(sql).fetchall()[0])


def quality_report(
    con: duckdb.DuckDBPyConnection,
    *,
    dataset_id: str,
    files: tuple[str, str],
    evidence: SwapEvidence,
    iso_reading: str,
    iso_reason: str,
    shared_phone_ids: int,
) -> CrmQualityReport:
    """Build the report from the validation tables of one import."""
    sales = _sales(con, files[0])
    messages = _messages(con, files[1])
    keys = _keys(con, shared_phone_ids, sales)
    return CrmQualityReport(
        dataset_id, sales, messages, keys, iso_reading, iso_reason, evidence
    )


def _sales(con: duckdb.DuckDBPyConnection, file: str) -> SalesQuality:
    read = _one(
        con,
        """SELECT count(*), count(*) FILTER (WHERE drop_reason = 'exact_duplicate'),
             count(*) FILTER (WHERE drop_reason = 'missing_amount'),
             count(*) FILTER (WHERE amount_text = '') FROM sales_lines""",
    )
    kept = _one(
        con,
        """SELECT count(*),
             count(*) FILTER (WHERE order_date_format = 'iso'),
             count(*) FILTER (WHERE order_date_format = 'iso-swapped'),
             count(*) FILTER (WHERE order_date_format = 'dmy'),
             CAST(CAST(min(order_ts) AS DATE) AS VARCHAR),
             CAST(CAST(max(order_ts) AS DATE) AS VARCHAR),
             CAST(CAST(min(return_ts) AS DATE) AS VARCHAR),
             CAST(CAST(max(return_ts) AS DATE) AS VARCHAR),
             count(*) FILTER (WHERE return_ts_raw = TIMESTAMP '2000-01-01'),
             count(*) FILTER (WHERE return_ts_raw = TIMESTAMP '2000-01-01'
                              AND regexp_replace(return_date, ' .*', '') <> '1/1/00'),
             count(*) FILTER (WHERE return_date = ''),
             count(*) FILTER (WHERE amount_cents >= 0),
             count(*) FILTER (WHERE amount_cents = 0),
             count(*) FILTER (WHERE amount_cents >= 0 AND return_ts IS NOT NULL),
             count(*) FILTER (WHERE amount_cents < 0),
             count(*) FILTER (WHERE amount_cents < 0 AND return_ts IS NULL),
             count(*) FILTER (WHERE amount_cents < 0 AND return_ts < order_ts),
             count(*) FILTER (WHERE return_match = 'line'),
             count(*) FILTER (WHERE return_match = 'transaction'),
             count(*) FILTER (WHERE return_match = 'none'),
             coalesce(sum(amount_cents) FILTER (WHERE amount_cents > 0), 0),
             coalesce(-sum(amount_cents) FILTER (WHERE amount_cents < 0), 0)
           FROM sales_final""",
    )
    tx = _one(
        con,
        """SELECT count(*), count(*) FILTER (WHERE n > 1), coalesce(max(n), 0),
             count(*) FILTER (WHERE ids > 1), count(*) FILTER (WHERE phones > 1),
             count(*) FILTER (WHERE dates > 1), count(*) FILTER (WHERE sales = 0)
           FROM (SELECT transaction_id, count(*) AS n, count(DISTINCT customer_id) AS ids,
                   count(DISTINCT phone) AS phones, count(DISTINCT order_ts) AS dates,
                   count(*) FILTER (WHERE amount_cents >= 0) AS sales
                 FROM sales_final GROUP BY transaction_id) AS t""",
    )
    return SalesQuality(
        file,
        read[0],
        kept[0],
        read[1],
        read[2],
        read[3],
        *kept[1:],
        *tx,
    )


def _messages(con: duckdb.DuckDBPyConnection, file: str) -> MessagesQuality:
    read = _one(
        con, f"SELECT count(*), count(*) FILTER (WHERE dup_of <> {ROW}) FROM messages_lines"
    )
    kept = _one(
        con,
        """SELECT count(*), count(DISTINCT phone), count(*) FILTER (WHERE has_response),
             CAST(CAST(min(contact_ts) AS DATE) AS VARCHAR),
             CAST(CAST(max(contact_ts) AS DATE) AS VARCHAR)
           FROM messages_kept""",
    )
    return MessagesQuality(file, read[0], kept[0], read[1], *kept)


def _keys(con: duckdb.DuckDBPyConnection, threshold: int, sales: SalesQuality) -> KeyQuality:
    con.execute(
        """CREATE OR REPLACE TEMP TABLE phone_ids AS
           SELECT s.phone, s.ids, s.lines, coalesce(m.conversations, 0) AS conversations
           FROM (SELECT phone, count(DISTINCT customer_id) AS ids, count(*) AS lines
                 FROM sales_final GROUP BY phone) AS s
           LEFT JOIN (SELECT phone, count(*) AS conversations FROM messages_kept
                      GROUP BY phone) AS m ON m.phone = s.phone"""
    )
    phones, ids, several = _one(
        con,
        """SELECT (SELECT count(*) FROM phone_ids), count(*), count(*) FILTER (WHERE n > 1)
           FROM (SELECT customer_id, count(DISTINCT phone) AS n FROM sales_final
                 GROUP BY customer_id) AS t""",
    )
    buckets = dict(
        con.execute(
            """SELECT b, count(*) FROM (SELECT CASE WHEN ids = 1 THEN '1'
                 WHEN ids <= 3 THEN '2-3' WHEN ids <= 10 THEN '4-10' WHEN ids <= 50 THEN '11-50'
                 ELSE 'over 50' END AS b FROM phone_ids) AS t GROUP BY b ORDER BY min(b)"""
        ).fetchall()
    )
    order = ("1", "2-3", "4-10", "11-50", "over 50")
    buckets = {k: int(buckets.get(k, 0)) for k in order}
    shared = tuple(
        SharedPhone(str(p), int(n), int(lines), n / ids if ids else 0.0, int(c))
        for p, n, lines, c in con.execute(
            "SELECT phone, ids, lines, conversations FROM phone_ids WHERE ids > ? "
            "ORDER BY ids DESC, phone",
            [threshold],
        ).fetchall()
    )
    m_phones, in_sales, on_shared = _one(
        con,
        """SELECT count(*), count(p.phone), count(*) FILTER (WHERE p.ids > ?)
           FROM (SELECT DISTINCT phone FROM messages_kept) AS m
           LEFT JOIN phone_ids p ON p.phone = m.phone""".replace("?", str(int(threshold))),
    )
    join_raw = _one(
        con,
        """SELECT coalesce(sum(s.n * m.n), 0) FROM
             (SELECT phone, count(*) AS n FROM sales_lines GROUP BY phone) AS s
             JOIN (SELECT phone, count(*) AS n FROM messages_lines GROUP BY phone) AS m
             ON m.phone = s.phone""",
    )[0]
    join_kept = _one(
        con,
        """SELECT coalesce(sum(p.lines * p.conversations), 0) FROM phone_ids p""",
    )[0]
    on_shared_lines = sum(s.sales_lines for s in shared)
    notes = _key_notes(shared, sales, ids, several, m_phones, in_sales, join_raw, threshold)
    return KeyQuality(
        sales_phones=int(phones),
        customer_ids=int(ids),
        customer_ids_with_several_phones=int(several),
        phones_by_customer_ids=buckets,
        shared_threshold=threshold,
        shared_phones=shared,
        lines_on_shared_phones=int(on_shared_lines),
        message_phones=int(m_phones),
        message_phones_in_sales=int(in_sales),
        message_phones_on_shared_phones=int(on_shared),
        row_join_rows_raw=int(join_raw),
        row_join_rows_kept=int(join_kept),
        notes=notes,
    )


def _key_notes(
    shared: tuple[SharedPhone, ...],
    sales: SalesQuality,
    ids: int,
    several: int,
    message_phones: int,
    in_sales: int,
    join_raw: int,
    threshold: int,
) -> tuple[str, ...]:
    notes = []
    if shared:
        top = shared[0]
        notes.append(
            f"phone {top.phone} is shared by {top.customer_ids:,} customer ids "
            f"({top.share_of_customer_ids:.0%} of all ids, {top.sales_lines:,} of "
            f"{sales.rows_kept:,} kept lines): a placeholder for 'no phone', not a person. "
            f"{len(shared)} phone(s) have more than {threshold} customer ids; their purchases "
            "cannot be attributed to the person contacted, so the engagement analysis leaves "
            "them out"
        )
    notes.append(
        f"{several:,} of {ids:,} customer ids occur with several phones and most phones carry "
        "several customer ids (returns are often booked under a new id), so neither key "
        "identifies a person; the messages file has only the phone, which is therefore the "
        "customer key of the engagement analysis"
    )
    notes.append(
        f"{in_sales:,} of {message_phones:,} contacted phones appear in the sales file; "
        "purchases booked under the placeholder phone cannot be linked to anyone, so spend "
        "after contact is a lower bound for every customer"
    )
    notes.append(
        f"joining the raw files row by row on phone gives {join_raw:,} rows: each sale is "
        "repeated once per conversation of its phone and each conversation once per sale, "
        "so any average over those rows weights customers by how often they were contacted "
        "and how much they bought; analyse one row per customer instead"
    )
    return tuple(notes)


def quality_lines(q: CrmQualityReport) -> list[str]:
    """The report as plain text lines for the terminal."""
    s, m, k = q.sales, q.messages, q.keys
    money = "{:,.2f}".format
    lines = [
        f"sales file {s.file}: {s.rows_read:,} rows read, {s.rows_kept:,} kept, "
        f"{s.rows_read - s.rows_kept:,} dropped",
        f"  dropped as exact duplicate lines: {s.dropped_exact_duplicate:,}",
        f"  dropped for a missing amount (never imputed): {s.dropped_missing_amount:,} "
        f"({s.missing_amount_total:,} lines lacked an amount, duplicates included)",
        f"  order dates {s.order_first} to {s.order_last}: {s.order_date_dmy:,} day-first "
        f"D/M/YY, {s.order_date_iso + s.order_date_iso_swapped:,} ISO "
        f"({s.order_date_iso_swapped:,} with day and month swapped back)",
        f"  ISO order dates: {q.iso_reason}",
        f"  return dates {s.return_first} to {s.return_last}; 'no return' sentinel 1/1/00 on "
        f"{s.no_return_sentinel:,} lines ({s.no_return_sentinel_other_spelling:,} spelled "
        f"otherwise), empty on {s.no_return_empty:,}",
        f"  sales lines {s.sale_lines:,} ({s.zero_amount_lines:,} of amount 0, "
        f"{s.sale_lines_with_return_date:,} with a return date), returns {s.return_lines:,} "
        f"({s.returns_without_return_date:,} without return date, {s.returns_before_order:,} "
        "dated before their order)",
        f"  returns netted against: the sale line of the same amount {s.returns_matched_line:,}, "
        f"its transaction {s.returns_matched_transaction:,}; sale not in the file "
        f"{s.returns_unmatched:,}",
        f"  gross sales {money(s.gross_sales_cents / 100)}, returned "
        f"{money(s.returns_cents / 100)}, "
        f"net {money((s.gross_sales_cents - s.returns_cents) / 100)}",
        f"  {s.transactions:,} transactions ({s.transactions_with_several_lines:,} with several "
        f"line items, up to {s.max_lines_per_transaction}); "
        f"{s.transactions_several_customer_ids:,} span several customer ids, "
        f"{s.transactions_several_phones:,} several phones, "
        f"{s.transactions_several_order_dates:,} several order dates; "
        f"{s.return_only_transactions:,} hold only returns",
        f"messages file {m.file}: {m.rows_read:,} rows read, {m.rows_kept:,} kept, "
        f"{m.dropped_exact_duplicate:,} exact duplicates dropped; {m.conversations:,} "
        f"conversations with {m.phones:,} phones, {m.with_response:,} with a response, "
        f"{m.contact_first} to {m.contact_last}",
        f"keys: {k.sales_phones:,} phones and {k.customer_ids:,} customer ids in sales; "
        "phones by number of customer ids: "
        + ", ".join(f"{b}: {n:,}" for b, n in k.phones_by_customer_ids.items()),
    ]
    for p in k.shared_phones[:5]:
        lines.append(
            f"  shared phone {p.phone}: {p.customer_ids:,} customer ids, {p.sales_lines:,} "
            f"lines, {p.conversations:,} conversations"
        )
    lines += [f"  - {note}" for note in k.notes]
    return lines
