"""Value checks of the CRM exports: each failure is one InputError naming file, row, column.

The per-value checks use the shared vectorized `csvtext.check_values` (earliest bad
row first); the checks that need parsed values (duplicate conversation ids, dates later
than now) run on the typed tables built by `crm.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import duckdb

from pushlift.errors import InputError
from pushlift.ingest.crm_dates import FORMATS_HINT, shape_sql, timestamp_sql
from pushlift.ingest.csvtext import ROW, Check, check_values

_DECIMAL = r"([0-9]+\.?[0-9]*|\.[0-9]+)"
MAX_AMOUNT_DIGITS = 13  # whole-currency digits; keeps cents well inside BIGINT


def _template(build: Callable[[str], str]) -> str:
    """A check condition on `{v}` built by a SQL generator (braces in regexes escaped)."""
    marker = "\x00v\x00"
    return build(marker).replace("{", "{{").replace("}", "}}").replace(marker, "{v}")


def _required(column: str, what: str) -> tuple[Check, ...]:
    return (Check("{v} = ''", lambda v: f"{column} is empty; every row needs {what}"),)


def _date_checks(column: str, *, optional: bool) -> tuple[Check, ...]:
    empty = () if optional else (
        Check("{v} = ''", lambda v: f"{column} is empty; every row needs a date"),
    )
    return (
        *empty,
        Check(
            _template(lambda v: f"{v} <> '' AND {shape_sql(v)} IS NULL"),
            lambda v: f"unrecognised date {v!r}; expected {FORMATS_HINT}",
        ),
        Check(
            _template(lambda v: f"{v} <> '' AND {timestamp_sql(v)} IS NULL"),
            lambda v: f"{v!r} is not a calendar date and time (day-first dates are D/M/YY)",
        ),
    )


def _amount_checks(column: str) -> tuple[Check, ...]:
    # An empty amount is allowed: the line is dropped and counted, never imputed.
    return (
        Check(
            f"{{v}} <> '' AND NOT regexp_full_match({{v}}, '-?{_DECIMAL}')",
            lambda v: (
                f"{column} must be a plain decimal number such as 12.30 or -12.30 (a return), "
                f"without currency symbol, thousands separator or exponent; got {v!r}"
            ),
        ),
        Check(
            r"regexp_full_match({v}, '-?[0-9]*\.[0-9]{{3,}}')",
            lambda v: f"{column} {v!r} has more than 2 decimals (whole cents only)",
        ),
        Check(
            f"regexp_full_match({{v}}, '-?[0-9]{{{{{MAX_AMOUNT_DIGITS + 1},}}}}.*')",
            lambda v: f"{column} {v!r} is implausibly large",
        ),
    )


def check_sales(
    con: duckdb.DuckDBPyConnection, relation: str, file: str, m: dict[str, str]
) -> None:
    """Raise for the earliest sales row with a bad value."""
    checks = {
        "phone": _required(m["phone"], "a phone key"),
        "customer_id": _required(m["customer_id"], "a customer id"),
        "amount": _amount_checks(m["amount"]),
        "order_date": _date_checks(m["order_date"], optional=False),
        "return_date": _date_checks(m["return_date"], optional=True),
        "location": _required(m["location"], "a location"),
        "transaction_id": _required(m["transaction_id"], "a transaction id"),
    }
    _check_named(con, relation, file, checks, m)


def check_messages(
    con: duckdb.DuckDBPyConnection, relation: str, file: str, m: dict[str, str]
) -> None:
    """Raise for the earliest messages row with a bad value."""
    n, resp = m["n_messages"], m["has_response"]
    checks = {
        "phone": _required(m["phone"], "a phone key"),
        "n_messages": (
            Check("{v} = ''", lambda v: f"{n} is empty; every conversation needs a count"),
            Check(
                "NOT regexp_full_match({v}, '[0-9]{{1,9}}')",
                lambda v: f"{n} must be a whole number of messages, got {v!r}",
            ),
            Check("CAST({v} AS INTEGER) = 0", lambda v: f"{n} must be at least 1, got {v!r}"),
        ),
        "has_response": (
            Check(
                "lower({v}) NOT IN ('true', 'false', '1', '0')",
                lambda v: f"{resp} must be TRUE or FALSE (or 1 or 0), got {v!r}",
            ),
        ),
        "conversation_id": _required(m["conversation_id"], "a conversation id"),
        "contact_date": _date_checks(m["contact_date"], optional=False),
        "location": _required(m["location"], "a location"),
    }
    _check_named(con, relation, file, checks, m)


def _check_named(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    file: str,
    checks: dict[str, tuple[Check, ...]],
    m: dict[str, str],
) -> None:
    """Run the checks on canonical columns; errors name the file's own column."""
    try:
        check_values(con, relation, file, checks)
    except InputError as e:
        column = m.get(e.column or "", e.column)
        raise InputError(e.detail, file=e.file, row=e.row, column=column) from None


def check_conversation_ids(con: duckdb.DuckDBPyConnection, file: str, column: str) -> None:
    """Raise if two different (not identical) lines share a conversation id."""
    rows = con.execute(
        f"""SELECT conversation_id, first_row, {ROW} FROM (
              SELECT conversation_id, {ROW},
                     min({ROW}) OVER (PARTITION BY conversation_id) AS first_row
              FROM messages_kept) AS t
            WHERE {ROW} > first_row ORDER BY {ROW} LIMIT 1"""
    ).fetchall()
    if rows:
        cid, first, row = rows[0]
        raise InputError(
            f"conversation id {cid} is used by rows {first} and {row} with different values; "
            "each conversation must appear once (identical repeated lines are dropped)",
            file=file,
            row=row,
            column=column,
        )


def check_not_future(
    con: duckdb.DuckDBPyConnection,
    sales_file: str,
    messages_file: str,
    maps: dict[str, dict[str, str]],
    now: datetime,
) -> None:
    """Raise for the earliest date later than `now` (UTC): an export cannot hold the future."""
    cutoff = now.isoformat(sep=" ")
    candidates = (
        ("sales_timed", "order_ts", sales_file, maps["sales"]["order_date"], "order_date"),
        ("sales_timed", "return_ts", sales_file, maps["sales"]["return_date"], "return_date"),
        ("messages_kept", "contact_ts", messages_file, maps["messages"]["contact_date"],
         "contact_date"),
    )
    for relation, ts, file, column, text in candidates:
        rows = con.execute(
            f"""SELECT {ROW}, {text}, CAST({ts} AS VARCHAR) FROM {relation}
                WHERE {ts} > CAST(? AS TIMESTAMP) ORDER BY {ROW} LIMIT 1""",
            [cutoff],
        ).fetchall()
        if rows:
            row, raw, parsed = rows[0]
            raise InputError(
                f"date {raw!r} ({parsed} UTC) is in the future (now is {cutoff[:19]} UTC); "
                "check the export's date format and clock",
                file=file,
                row=row,
                column=column,
            )
