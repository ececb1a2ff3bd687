"""Import a mall operator's two-table export (consumer.csv, purchase.csv) into the store.

The files are read with every column as text and checked with vectorized DuckDB queries
that report the first offending row of each kind, so a million rows cost seconds and no
per-row Python loop. Nothing is written unless every check passes; then all rows are
written in one transaction.

Row numbers in errors are 1-based line numbers of the file, the header being row 1
(quoted values spanning lines are not allowed, so a record is exactly one line).
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from pushlift import schema
from pushlift.errors import InputError, PushliftError
from pushlift.store import Store

ARMS = ("control", "message")
CONSUMER_COLUMNS = ("consumer_id", "age", "gender", "loyalty_status")
PURCHASE_COLUMNS = ("consumer_id", "from_second_store_sales", "realtime_message")
ROW = "_row"  # the line number column added to every file read
MAX_SALES_DIGITS = 15  # whole-dollar digits; keeps cents well inside BIGINT
_BOM = b"\xef\xbb\xbf"

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


@dataclass(frozen=True)
class _Check:
    """A bad-value condition on `{v}` (the trimmed text) and the message explaining it."""

    bad: str
    message: Callable[[str], str]


def _id_checks(column: str) -> tuple[_Check, ...]:
    return (
        _Check("{v} = ''", lambda v: f"{column} is empty; every row needs an id"),
        _Check(
            f"regexp_full_match({{v}}, '{_SCIENTIFIC}')",
            lambda v: (
                f"{column} {v!r} is in scientific notation: the id was probably converted to a "
                "number by a spreadsheet and its trailing digits (precision) are lost; re-export "
                f"the file with {column} formatted as text"
            ),
        ),
        _Check(
            f"NOT regexp_full_match({{v}}, '{_DIGITS}')",
            lambda v: f"{column} must be a positive integer (digits only), got {v!r}",
        ),
        _Check(
            "try_cast({v} AS BIGINT) IS NULL",
            lambda v: f"{column} {v!r} is too large; ids must be at most 9223372036854775807",
        ),
        _Check(
            "try_cast({v} AS BIGINT) = 0",
            lambda v: f"{column} must be a positive integer, got {v!r}",
        ),
    )


_CONSUMER_CHECKS: dict[str, tuple[_Check, ...]] = {
    "consumer_id": _id_checks("consumer_id"),
    "age": (
        _Check("{v} = ''", lambda v: "age is empty; every consumer needs an age"),
        _Check(
            "NOT regexp_full_match({v}, '[+-]?[0-9]+')",
            lambda v: f"age must be a whole number of years, got {v!r}",
        ),
        _Check(
            "coalesce(try_cast({v} AS INTEGER) NOT BETWEEN "
            f"{schema.MIN_AGE} AND {schema.MAX_AGE}, true)",
            lambda v: f"age {v} is outside the allowed range {schema.MIN_AGE}..{schema.MAX_AGE}",
        ),
    ),
    "gender": (
        _Check(
            "{v} NOT IN ('F', 'M')",
            lambda v: (
                f"{'gender is empty' if v == '' else f'unknown gender code {v!r}'}; "
                "allowed codes are 'F' (female) and 'M' (male)"
            ),
        ),
    ),
    "loyalty_status": (
        _Check(
            "{v} NOT IN ('1', '2')",
            lambda v: f"loyalty_status must be 1 (low) or 2 (high), got {v!r}",
        ),
    ),
}

_PURCHASE_CHECKS: dict[str, tuple[_Check, ...]] = {
    "consumer_id": _id_checks("consumer_id"),
    "from_second_store_sales": (
        _Check(
            "{v} = ''",
            lambda v: (
                "from_second_store_sales is missing; missing sales are never imputed — "
                "enter 0 for a consumer who bought nothing, or drop the consumer from both files"
            ),
        ),
        _Check(
            f"regexp_full_match({{v}}, '-{_DECIMAL}')",
            lambda v: f"impossible value {v!r}: sales cannot be negative",
        ),
        _Check(
            f"NOT regexp_full_match({{v}}, '{_DECIMAL}')",
            lambda v: (
                f"from_second_store_sales must be a plain decimal number of dollars such as "
                f"12.30 (no currency symbol, thousands separator or exponent), got {v!r}"
            ),
        ),
        _Check(
            r"regexp_full_match({v}, '[0-9]*\.[0-9]{{3,}}')",
            lambda v: f"from_second_store_sales {v!r} has more than 2 decimals (whole cents only)",
        ),
        _Check(
            f"regexp_full_match({{v}}, '[0-9]{{{{{MAX_SALES_DIGITS + 1},}}}}.*')",
            lambda v: f"from_second_store_sales {v!r} is implausibly large",
        ),
    ),
    "realtime_message": (
        _Check(
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
    written. Consumer rows are keyed by consumer_id alone, so ids already in the store (from
    another experiment too) are deleted and re-inserted with the imported covariates.
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
        con.register("consumer_in", _read_csv(consumer_path, CONSUMER_COLUMNS))
        con.register("purchase_in", _read_csv(purchase_path, PURCHASE_COLUMNS))
        _check_values(con, "consumer_in", c_file, _CONSUMER_CHECKS)
        _check_values(con, "purchase_in", p_file, _PURCHASE_CHECKS)
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
            f"SELECT {', '.join(schema.CONSUMER.column_names)} FROM c ORDER BY {ROW}"
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
        _delete_consumers(store, consumers["consumer_id"])
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
        store.append(schema.CONSUMER, _columns(consumers))
        store.append(schema.ASSIGNMENT, _columns(assignment))
        store.append(schema.MALL_OUTCOME, _columns(outcome))
    return MallImportSummary(
        experiment_id=experiment_id,
        consumers=int(n),
        treated=int(treated),
        control=int(n) - int(treated),
        total_sales_cents=int(total),
        files=(c_file, p_file),
    )


def _columns(table: pa.Table) -> dict[str, object]:
    return {name: table[name] for name in table.column_names}


def _delete_consumers(store: Store, ids: pa.ChunkedArray) -> None:
    """Remove existing consumer rows for these ids, so the import's covariates replace them."""
    # A registered Arrow table avoids binding a million-element list as one parameter.
    store.con.register("_pushlift_import_ids", pa.table({"consumer_id": ids}))
    try:
        store.con.execute(
            "DELETE FROM consumer WHERE consumer_id IN "
            "(SELECT consumer_id FROM _pushlift_import_ids)"
        )
    finally:
        store.con.unregister("_pushlift_import_ids")


def _read_csv(path: str | Path, required: Sequence[str]) -> pa.Table:
    """Read the required columns as text plus a line-number column; checks file and header."""
    file = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", file=file) from None
    except OSError as e:
        raise InputError(f"cannot read the file: {e.strerror or e}", file=file) from None
    if data.startswith(_BOM):  # spreadsheets' "CSV UTF-8" starts with a byte-order mark
        data = data[len(_BOM) :]
    _check_utf8(data, file)
    # Trailing blank lines are harmless; blank lines inside the file are reported below.
    data = data.rstrip(b"\r\n")
    if not data.strip():
        raise InputError(
            f"the file is empty; expected a header with columns {', '.join(required)}",
            file=file,
            row=1,
        )
    header_line, _, body = data.partition(b"\n")
    names = [n.strip() for n in next(csv.reader([header_line.decode().rstrip("\r")]))]
    missing = [c for c in required if c not in names]
    if missing:
        hint = ""
        separator = next((s for s in (";", "\t") if len(names) == 1 and s in names[0]), None)
        if separator:
            hint = f"; the file seems to use {separator!r} as separator, export it with commas"
        raise InputError(
            f"missing required column(s) {', '.join(missing)}; the header has: "
            f"{', '.join(names)}{hint}",
            file=file,
            row=1,
            column=", ".join(missing),
        )
    for c in required:
        where = [i + 1 for i, n in enumerate(names) if n == c]
        if len(where) > 1:
            raise InputError(
                f"column {c} appears {len(where)} times in the header (positions "
                f"{', '.join(map(str, where))}); keep one",
                file=file,
                row=1,
                column=c,
            )
    if not body.strip(b"\r\n"):
        raise InputError("the file has only a header and no data rows", file=file, row=1)

    # Generic names avoid clashes between odd or repeated extra column names.
    generic = [f"c{i}" for i in range(len(names))]
    wanted = {f"c{names.index(c)}": c for c in required}

    def read(handler: Callable[[pacsv.InvalidRow], str] | None, threads: bool) -> pa.Table:
        return pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(skip_rows=1, column_names=generic, use_threads=threads),
            # Keep blank lines as rows so positions stay equal to line numbers.
            parse_options=pacsv.ParseOptions(ignore_empty_lines=False, invalid_row_handler=handler),
            convert_options=pacsv.ConvertOptions(
                column_types={g: pa.string() for g in wanted},
                include_columns=list(wanted),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )

    try:
        table = read(None, threads=True)
    except pa.ArrowInvalid as e:
        # Line numbers of bad rows are only known when parsing on one thread: re-read so.
        invalid: list[pacsv.InvalidRow] = []

        def first_invalid(row: pacsv.InvalidRow) -> str:
            invalid.append(row)
            return "error"

        with contextlib.suppress(pa.ArrowInvalid):
            read(first_invalid, threads=False)
        if invalid and invalid[0].number is not None:
            bad = invalid[0]
            raise InputError(
                f"the row has {bad.actual_columns} field(s) but the header has "
                f"{bad.expected_columns}; check for unquoted commas or missing values",
                file=file,
                row=bad.number,
            ) from None
        raise InputError(f"cannot parse the CSV: {e}", file=file) from None
    table = table.rename_columns([wanted[g] for g in table.column_names])
    return table.append_column(ROW, pa.array(np.arange(2, table.num_rows + 2, dtype=np.int64)))


def _check_utf8(data: bytes, file: str) -> None:
    """Raise for the first byte that is not UTF-8, naming its line and column."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        row = data.count(b"\n", 0, e.start) + 1
        column = None
        if row > 1:
            header = data.partition(b"\n")[0].decode("utf-8", "replace").rstrip("\r")
            names = [n.strip() for n in next(csv.reader([header]))]
            line_start = data.rfind(b"\n", 0, e.start) + 1
            prefix = data[line_start : e.start].decode("utf-8", "replace")
            index = len(next(csv.reader([prefix]))) - 1 if prefix else 0
            column = names[index] if index < len(names) else None
        raise InputError(
            f"the file is not UTF-8 text (byte 0x{data[e.start]:02x}); "
            "save it as 'CSV UTF-8' and try again",
            file=file,
            row=row,
            column=column,
        ) from None


def _check_values(
    con: duckdb.DuckDBPyConnection, relation: str, file: str, checks: dict[str, tuple[_Check, ...]]
) -> None:
    """Raise for the earliest row with a bad value (leftmost column first within a row)."""
    columns = list(checks)
    values = {c: f'trim("{c}")' for c in columns}
    problems = []
    for c in columns:
        whens = " ".join(
            f"WHEN {check.bad.format(v=values[c])} THEN {i}" for i, check in enumerate(checks[c])
        )
        problems.append(f"CASE {whens} END AS p_{c}")
    select = ", ".join([ROW, *problems, *(f"{values[c]} AS v_{c}" for c in columns)])
    any_bad = " OR ".join(f"p_{c} IS NOT NULL" for c in columns)
    rows = con.execute(
        f"SELECT * FROM (SELECT {select} FROM {relation}) WHERE {any_bad} ORDER BY {ROW} LIMIT 1"
    ).fetchall()
    if not rows:
        return
    row, *rest = rows[0]
    codes, texts = rest[: len(columns)], rest[len(columns) :]
    if all(t == "" for t in texts):
        raise InputError(
            "the row is blank; remove empty lines (or rows of empty cells) from the file",
            file=file,
            row=row,
            column=columns[0],
        )
    for c, code, value in zip(columns, codes, texts, strict=True):
        if code is not None:
            raise InputError(checks[c][code].message(value), file=file, row=row, column=c)


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
