"""Read a CSV export as text and check its values in SQL, naming the first bad row.

Shared by the importers. Every required column is read as text, with a line-number
column (`ROW`) so errors can name the line; value checks are SQL conditions run in one
vectorized query that reports the earliest offending row (`check_values`), or gives the
first failing check of every value (`check_codes`, for importers that report every
problem at once). Rows with the wrong number of fields can be collected rather than
raised (`invalid_rows`). Row numbers are 1-based line
numbers of the file, the header being row 1 (quoted values spanning lines are not
allowed, so a record is exactly one line).
"""

from __future__ import annotations

import contextlib
import csv
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from pushlift.errors import InputError

ROW = "_row"  # the line number column added to every file read
_BOM = b"\xef\xbb\xbf"
_LONE_CR = re.compile(rb"\r(?!\n)")


def unix_lines(data: bytes) -> bytes:
    """Lines ending in a lone carriage return (old Mac exports) as lines ending in LF."""
    return _LONE_CR.sub(b"\n", data) if b"\r" in data else data


@dataclass(frozen=True)
class Check:
    """A bad-value condition on `{v}` (the trimmed text) and the message explaining it;
    `kind` names the problem where all problems are listed (`check_codes`)."""

    bad: str
    message: Callable[[str], str]
    kind: str = ""


@dataclass(frozen=True)
class InvalidRow:
    """A line whose number of fields differs from the header's."""

    row: int
    fields: int
    expected: int
    text: str


def table_columns(table: pa.Table) -> dict[str, object]:
    return {name: table[name] for name in table.column_names}


def read_csv_text(
    path: str | Path, required: Sequence[str], invalid_rows: list[InvalidRow] | None = None
) -> pa.Table:
    """Read the required columns as text plus a line-number column; checks file and header.

    A line with the wrong number of fields is an error naming it, or, when `invalid_rows`
    is given, is left out and appended there (so every such line is reported at once).
    Lines ending in a lone carriage return (old Mac exports) are read as lines."""
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
    data = unix_lines(data)
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

    skipped: list[pacsv.InvalidRow] = []

    def note(row: pacsv.InvalidRow) -> str:
        skipped.append(row)
        return "skip" if invalid_rows is not None else "error"

    try:
        table = read(None, threads=True)
    except pa.ArrowInvalid as e:
        # Line numbers of bad rows are only known when parsing on one thread: re-read so.
        table = None
        with contextlib.suppress(pa.ArrowInvalid):
            table = read(note, threads=False)
        if not skipped or skipped[0].number is None:
            raise InputError(f"cannot parse the CSV: {e}", file=file) from None
        if invalid_rows is None or table is None:
            bad = skipped[0]
            raise InputError(
                f"the row has {bad.actual_columns} field(s) but the header has "
                f"{bad.expected_columns}; check for unquoted commas or missing values",
                file=file,
                row=bad.number,
            ) from None
        invalid_rows.extend(
            InvalidRow(int(r.number), r.actual_columns, r.expected_columns, r.text)
            for r in skipped
            if r.number is not None
        )
    table = table.rename_columns([wanted[g] for g in table.column_names])
    lines = np.arange(2, table.num_rows + len(skipped) + 2, dtype=np.int64)
    if skipped:
        lines = lines[~np.isin(lines, [r.number for r in skipped])]
    return table.append_column(ROW, pa.array(lines))


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


def check_values(
    con: duckdb.DuckDBPyConnection, relation: str, file: str, checks: dict[str, tuple[Check, ...]]
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


def check_codes(checks: dict[str, tuple[Check, ...]]) -> dict[str, str]:
    """Per column, a SQL expression giving the index of the first check its trimmed value
    fails (NULL if none): computed in the scan that reads the file, so finding every bad
    value of every column (not only the first) costs no extra pass over the data."""
    codes = {}
    for c, column_checks in checks.items():
        v = f'trim("{c}")'
        whens = " ".join(
            f"WHEN {check.bad.format(v=v)} THEN {i}" for i, check in enumerate(column_checks)
        )
        codes[c] = f"CASE {whens} END"
    return codes
