"""Import a mall operator's two-table export (consumer.csv, purchase.csv) into the store.

The files are read with every column as text and checked with vectorized DuckDB queries
that report the first offending row of each kind, so a million rows cost seconds and no
per-row Python loop. Nothing is written unless every check passes; then all rows are
written in one transaction.

Row numbers in errors are 1-based line numbers of the file, the header being row 1
(quoted values spanning lines are not allowed, so a record is exactly one line).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from pushlift import schema
from pushlift.errors import InputError, PushliftError
from pushlift.ingest.csvtext import ROW, Check, check_values, read_csv_text, table_columns
from pushlift.store import Store

ARMS = ("control", "message")
CONSUMER_COLUMNS = ("consumer_id", "age", "gender", "loyalty_status")
PURCHASE_COLUMNS = ("consumer_id", "from_second_store_sales", "realtime_message")
MAX_SALES_DIGITS = 15  # whole-dollar digits; keeps cents well inside BIGINT

# Regular expressions (RE2, matched against the whole trimmed value).
_DIGITS = "[0-9]+"
_DECIMAL = r"([0-9]+\.?[0-9]*|\.[0-9]+)"
_SCIENTIFIC = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]+"


@dataclass(frozen=True)
class MallImportSummary:
    """What an import wrote: counts per arm and the total outcome, for the CLI to print."""

    experiment_id: str
    consumers: int
    treated: int
    control: int
    total_sales_cents: int
    files: tuple[str, str]


def _id_checks(column: str) -> tuple[Check, ...]:
    return (
        Check("{v} = ''", lambda v: f"{column} is empty; every row needs an id"),
        Check(
            f"regexp_full_match({{v}}, '{_SCIENTIFIC}')",
            lambda v: (
                f"{column} {v!r} is in scientific notation: the id was probably converted to a "
                "number by a spreadsheet and its trailing digits (precision) are lost; re-export "
                f"the file with {column} formatted as text"
            ),
        ),
        Check(
            f"NOT regexp_full_match({{v}}, '{_DIGITS}')",
            lambda v: f"{column} must be a positive integer (digits only), got {v!r}",
        ),
        Check(
            "try_cast({v} AS BIGINT) IS NULL",
            lambda v: f"{column} {v!r} is too large; ids must be at most 9223372036854775807",
        ),
        Check(
            "try_cast({v} AS BIGINT) = 0",
            lambda v: f"{column} must be a positive integer, got {v!r}",
        ),
    )


_CONSUMER_CHECKS: dict[str, tuple[Check, ...]] = {
    "consumer_id": _id_checks("consumer_id"),
    "age": (
        Check("{v} = ''", lambda v: "age is empty; every consumer needs an age"),
        Check(
            "NOT regexp_full_match({v}, '[+-]?[0-9]+')",
            lambda v: f"age must be a whole number of years, got {v!r}",
        ),
        Check(
            "coalesce(try_cast({v} AS INTEGER) NOT BETWEEN "
            f"{schema.MIN_AGE} AND {schema.MAX_AGE}, true)",
            lambda v: f"age {v} is outside the allowed range {schema.MIN_AGE}..{schema.MAX_AGE}",
        ),
    ),
    "gender": (
        Check(
            "{v} NOT IN ('F', 'M')",
            lambda v: (
                f"{'gender is empty' if v == '' else f'unknown gender code {v!r}'}; "
                "allowed codes are 'F' (female) and 'M' (male)"
            ),
        ),
    ),
    "loyalty_status": (
        Check(
            "{v} NOT IN ('1', '2')",
            lambda v: f"loyalty_status must be 1 (low) or 2 (high), got {v!r}",
        ),
    ),
}

_PURCHASE_CHECKS: dict[str, tuple[Check, ...]] = {
    "consumer_id": _id_checks("consumer_id"),
    "from_second_store_sales": (
        Check(
            "{v} = ''",
            lambda v: (
                "from_second_store_sales is missing; missing sales are never imputed — "
                "enter 0 for a consumer who bought nothing, or drop the consumer from both files"
            ),
        ),
        Check(
            f"regexp_full_match({{v}}, '-{_DECIMAL}')",
            lambda v: f"impossible value {v!r}: sales cannot be negative",
        ),
        Check(
            f"NOT regexp_full_match({{v}}, '{_DECIMAL}')",
            lambda v: (
                f"from_second_store_sales must be a plain decimal number of dollars such as "
                f"12.30 (no currency symbol, thousands separator or exponent), got {v!r}"
            ),
        ),
        Check(
            r"regexp_full_match({v}, '[0-9]*\.[0-9]{{3,}}')",
            lambda v: f"from_second_store_sales {v!r} has more than 2 decimals (whole cents only)",
        ),
        Check(
            f"regexp_full_match({{v}}, '[0-9]{{{{{MAX_SALES_DIGITS + 1},}}}}.*')",
            lambda v: f"from_second_store_sales {v!r} is implausibly large",
        ),
    ),
    "realtime_message": (
        Check(
            "{v} NOT IN ('0', '1')",
            lambda v: f"realtime_message must be 0 (control) or 1 (message sent), got {v!r}",
        ),
    ),
}


def import_mall(
    store: Store,
    consumer_path: str | Path,
    purchase_path: str | Path,
    *,
    experiment_id: str = "mall-import",
    replace: bool = False,
) -> MallImportSummary:
    """Validate both files completely, then write the experiment in one transaction.

    Raises InputError (naming file, row and column) for the first problem found and
    PushliftError if the experiment exists and `replace` is false; either way nothing is
    written. The experiment's consumers are its own (keyed by experiment and id): another
    experiment's rows are never touched, whatever ids the two share.
    """
    if not experiment_id.strip():
        raise PushliftError("the experiment id must not be empty")
    if store.has_experiment(experiment_id) and not replace:
        raise PushliftError(
            f"the store already holds experiment {experiment_id!r}; pass --replace to overwrite it"
        )
    c_file, p_file = str(consumer_path), str(purchase_path)
    con = duckdb.connect()  # validation never touches the store
    try:
        con.register("consumer_in", read_csv_text(consumer_path, CONSUMER_COLUMNS))
        con.register("purchase_in", read_csv_text(purchase_path, PURCHASE_COLUMNS))
        check_values(con, "consumer_in", c_file, _CONSUMER_CHECKS)
        check_values(con, "purchase_in", p_file, _PURCHASE_CHECKS)
        # Values are valid now, so the casts below cannot fail.
        con.execute(
            f"""CREATE TEMP TABLE c AS SELECT {ROW},
                  CAST(trim(consumer_id) AS BIGINT) AS consumer_id,
                  CAST(trim(age) AS SMALLINT) AS age,
                  trim(gender) AS gender,
                  CAST(trim(loyalty_status) AS TINYINT) AS loyalty_status
                FROM consumer_in"""
        )
        # DECIMAL(18,2) holds any validated amount exactly; x100 is then an exact integer.
        con.execute(
            f"""CREATE TEMP TABLE p AS SELECT {ROW},
                  CAST(trim(consumer_id) AS BIGINT) AS consumer_id,
                  CAST(CAST(trim(from_second_store_sales) AS DECIMAL(18, 2)) * 100 AS BIGINT)
                    AS from_second_store_sales_cents,
                  CASE trim(realtime_message) WHEN '1' THEN '{ARMS[1]}' ELSE '{ARMS[0]}' END
                    AS arm
                FROM purchase_in"""
        )
        _check_unique(con, "c", c_file)
        _check_unique(con, "p", p_file)
        _check_matched(con, ("c", c_file), ("p", p_file), "no purchase row", "consumer(s)")
        _check_matched(con, ("p", p_file), ("c", c_file), "no consumer row", "purchase row(s)")

        consumers = con.sql(
            f"SELECT ? AS experiment_id, {', '.join(schema.CONSUMER.column_names)} "
            f"FROM c ORDER BY {ROW}",
            params=[experiment_id],
        ).to_arrow_table()
        assignment = con.sql(
            f"SELECT ? AS experiment_id, consumer_id AS unit_id, arm FROM p ORDER BY {ROW}",
            params=[experiment_id],
        ).to_arrow_table()
        outcome = con.sql(
            "SELECT ? AS experiment_id, consumer_id, from_second_store_sales_cents "
            f"FROM p ORDER BY {ROW}",
            params=[experiment_id],
        ).to_arrow_table()
        n, treated, total = con.execute(
            f"""SELECT count(*), count(*) FILTER (WHERE arm = '{ARMS[1]}'),
                       coalesce(sum(from_second_store_sales_cents), 0) FROM p"""
        ).fetchall()[0]
    finally:
        con.close()

    source = f"imported:{Path(consumer_path).name},{Path(purchase_path).name}"
    with store.transaction():
        if replace:
            store.delete_experiment(experiment_id)
        store.con.execute(
            "INSERT INTO experiment VALUES (?, ?, ?, ?, ?, ?, now())",
            [
                experiment_id,
                "imported mall export: real-time message vs no message",
                ARMS[0],
                list(ARMS),
                [0.5, 0.5],
                source,
            ],
        )
        store.append(schema.MALL_CONSUMER, table_columns(consumers))
        store.append(schema.ASSIGNMENT, table_columns(assignment))
        store.append(schema.MALL_OUTCOME, table_columns(outcome))
    return MallImportSummary(
        experiment_id=experiment_id,
        consumers=int(n),
        treated=int(treated),
        control=int(n) - int(treated),
        total_sales_cents=int(total),
        files=(c_file, p_file),
    )


def _check_unique(con: duckdb.DuckDBPyConnection, relation: str, file: str) -> None:
    """Raise if a consumer_id occurs twice, naming both rows of the earliest repeat."""
    rows = con.execute(
        f"""SELECT consumer_id, first_row, {ROW}, count(*) OVER () AS repeats FROM (
              SELECT consumer_id, {ROW},
                     min({ROW}) OVER (PARTITION BY consumer_id) AS first_row
              FROM {relation})
            WHERE {ROW} > first_row ORDER BY {ROW} LIMIT 1"""
    ).fetchall()
    if rows:
        consumer_id, first, row, repeats = rows[0]
        more = f" ({repeats} repeated rows in total)" if repeats > 1 else ""
        raise InputError(
            f"duplicate consumer_id {consumer_id}: rows {first} and {row}{more}; "
            "each consumer must appear once",
            file=file,
            row=row,
            column="consumer_id",
        )


def _check_matched(
    con: duckdb.DuckDBPyConnection,
    this: tuple[str, str],
    other: tuple[str, str],
    lacking: str,
    what: str,
) -> None:
    """Raise if some consumer_id of `this` file has no row in the `other` file."""
    (rel, file), (other_rel, other_file) = this, other
    rows = con.execute(
        f"""SELECT consumer_id, {ROW}, count(*) OVER () FROM {rel} t
            WHERE NOT EXISTS (SELECT 1 FROM {other_rel} o WHERE o.consumer_id = t.consumer_id)
            ORDER BY {ROW} LIMIT 1"""
    ).fetchall()
    if rows:
        consumer_id, row, count = rows[0]
        raise InputError(
            f"consumer_id {consumer_id} has {lacking} in {Path(other_file).name}; "
            f"{count} {what} in total have {lacking} there; both files must list the same "
            "consumers",
            file=file,
            row=row,
            column="consumer_id",
        )
