"""Any randomized experiment in a CSV or Parquet file (one row per unit) as an ExperimentSpec.

The file is loaded once into a temporary table (DuckDB's CSV sniffer picks the delimiter and
the column types), then every column the analysis will use is checked: a wrong type, a
missing value, a value that is not finite or too large to sum squared is one InputError
naming the file, the row (the header is row 1) and the column. The path is literal: glob
characters in it (`exp[1].csv`) are escaped, and what DuckDB finds is checked to be exactly
that file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import duckdb

from pushlift.analysis.spec import Covariate, ExperimentSpec, Outcome
from pushlift.analysis.sql import ident, text
from pushlift.errors import InputError

MAX_LEVELS = 30
NUMERIC = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UHUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "REAL",
)
VIEW = "user_units"
# Values the analysis squares and sums over every row: beyond this a double no longer
# holds a whole number exactly, and sums of squares head for overflow.
MAX_ABS = 1e15


def _is_numeric(sql_type: str) -> bool:
    return sql_type in NUMERIC or re.fullmatch(r"DECIMAL\(\d+,\s*\d+\)", sql_type) is not None


def _escape_glob(path: str) -> str:
    """A path DuckDB reads literally: each glob character as a one-character class."""
    return re.sub(r"([\[*?])", r"[\1]", path)


def _show(name: str) -> str:
    text_ = repr(name)
    return text_ if len(text_) <= 60 else text_[:50] + "…" + text_[-5:]


def _load(con: duckdb.DuckDBPyConnection, p: Path, reader: str, file: str) -> None:
    """The file as the temporary table VIEW (in file order, so `rowid` gives the row)."""
    literal = str(p.resolve())
    pattern = _escape_glob(literal)
    try:
        found = [r[0] for r in con.execute("SELECT file FROM glob(?)", [pattern]).fetchall()]
        if [str(Path(f).resolve()) for f in found] != [literal]:
            raise InputError(
                "DuckDB cannot read this path literally; rename the file or its folder",
                file=file,
            )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {VIEW} AS SELECT * FROM " + reader.format(text(pattern))
        )
    except duckdb.Error as e:
        message = str(e)
        line = re.search(r"Line: (\d+)", message)
        lines = [x.strip() for x in message.splitlines() if x.strip()] or [type(e).__name__]
        first = lines[0]
        if len(lines) > 1 and ("CSV Error on Line" in first or "sniffing" in first):
            first = next((x for x in lines[1:] if not x.startswith("Original Line")), first)
        first = first.replace(pattern, literal)
        raise InputError(
            f"cannot read the file: {first[:300]}",
            file=file,
            row=int(line.group(1)) if line else None,
        ) from None


def table_spec(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    *,
    arm: str,
    control: str,
    outcomes: list[str],
    ratios: Sequence[str] = (),
    covariates: Sequence[str] = (),
    segments: Sequence[str] = (),
    weights: list[float] | None = None,
    secondary: Sequence[str] = (),
    guardrails: Sequence[str] = (),
) -> ExperimentSpec:
    """Register the file as a view and check every named column; returns the spec.

    `ratios` are 'NAME=NUMERATOR/DENOMINATOR'. `weights` are the planned arm shares in the
    order control, then the other arms sorted by name (equal shares if omitted). `outcomes`
    and `ratios` are primary; `secondary` and `guardrails` are outcome columns of those
    multiplicity families.
    """
    p = Path(path)
    file = str(p)
    if not p.is_file():
        raise InputError("file not found", file=file)
    suffix = p.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        reader, header_rows = "read_csv({}, header = true)", 1
    elif suffix in (".parquet", ".pq"):
        reader, header_rows = "read_parquet({})", 0
    else:
        raise InputError("unknown file type; use .csv or .parquet", file=file)
    _load(con, p, reader, file)
    try:
        columns = {r[0]: r[1] for r in con.execute(f"DESCRIBE {VIEW}").fetchall()}
        n_rows = con.execute(f"SELECT COUNT(*) FROM {VIEW}").fetchall()[0][0]
    except duckdb.Error as e:
        raise InputError(f"cannot read the file: {str(e).splitlines()[0]}", file=file) from None
    if n_rows == 0:
        raise InputError("the file has no data rows", file=file)

    def need(name: str, role: str) -> str:
        if name not in columns:
            names = [_show(c) for c in columns]
            listed = ", ".join(names[:40]) + (
                f" and {len(names) - 40} more" if len(names) > 40 else ""
            )
            raise InputError(
                f"{role} column not found; the file has: {listed}",
                file=file,
                column=name,
            )
        return columns[name]

    def levels_column(name: str, role: str) -> None:
        t = need(name, role)
        if _nested(t):
            raise InputError(
                f"a {t} column cannot give {role.lstrip('-')} values; use text, whole numbers "
                "or true/false",
                file=file,
                column=name,
            )
        if t in ("DOUBLE", "FLOAT", "REAL"):
            _check_numbers(con, file, name, header_rows, bounded=False)

    def numeric_column(name: str) -> None:
        if _is_numeric(columns[name]):
            _check_numbers(con, file, name, header_rows, bounded=True)

    levels_column(arm, "--arm")
    missing_arm = con.execute(f"SELECT COUNT(*) FROM {VIEW} WHERE {ident(arm)} IS NULL").fetchall()[
        0
    ][0]
    if missing_arm:
        raise InputError(
            f"{missing_arm} rows have no arm; every unit needs one (the first is row "
            f"{_first_row(con, f'{ident(arm)} IS NULL', header_rows)})",
            file=file,
            column=arm,
        )
    arms = [
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT CAST({ident(arm)} AS VARCHAR) FROM {VIEW} ORDER BY 1"
        ).fetchall()
    ]
    if control not in arms:
        raise InputError(
            f"control value {_show(control)} not found; arms are "
            + ", ".join(_show(a) for a in arms[:MAX_LEVELS])
            + (" …" if len(arms) > MAX_LEVELS else ""),
            file=file,
            column=arm,
        )
    if len(arms) < 2:
        raise InputError(
            f"only one arm ({_show(control)}): an experiment compares at least two",
            file=file,
            column=arm,
        )
    if len(arms) > MAX_LEVELS:
        raise InputError(
            f"{len(arms)} distinct arms; is this really the arm column?", file=file, column=arm
        )
    ordered = (control, *[a for a in arms if a != control])
    if weights is not None and len(weights) != len(ordered):
        raise InputError(
            f"--weight given {len(weights)} times for {len(ordered)} arms ({', '.join(ordered)})",
            file=file,
            column=arm,
        )

    outs: list[Outcome] = []
    declared = [(n, "primary", "--outcome") for n in outcomes]
    declared += [(n, "secondary", "--secondary") for n in secondary]
    declared += [(n, "guardrail", "--guardrail") for n in guardrails]
    seen: dict[str, str] = {}
    for name, family, option in declared:
        if name in seen:
            raise InputError(
                f"{option} names an outcome already given with {seen[name]}", file=file, column=name
            )
        seen[name] = option
        t = need(name, option)
        if t == "BOOLEAN":
            outs.append(Outcome(name, name, "proportion", family=family))  # type: ignore[arg-type]
            continue
        if not _is_numeric(t):
            raise InputError(f"outcome must be numeric, found {t}", file=file, column=name)
        numeric_column(name)
        binary = con.execute(
            f"SELECT COALESCE(BOOL_AND({ident(name)} IN (0, 1)), FALSE) FROM {VIEW}"
        ).fetchall()[0][0]
        kind = "proportion" if binary else "mean"
        outs.append(Outcome(name, name, kind, family=family))  # type: ignore[arg-type]
    for r in ratios:
        label, sep, frac = r.partition("=")
        num, slash, den = frac.partition("/")
        if not sep or not slash or not label.strip():
            raise InputError(f"--ratio {r!r}: expected NAME=NUMERATOR/DENOMINATOR", file=file)
        for col in (num.strip(), den.strip()):
            if not _is_numeric(need(col, "--ratio")) and columns[col] != "BOOLEAN":
                raise InputError(
                    f"ratio columns must be numeric, found {columns[col]}", file=file, column=col
                )
            numeric_column(col)
        outs.append(Outcome(label.strip(), num.strip(), "ratio", denominator=den.strip()))
    if not outs:
        raise InputError("name at least one --outcome or --ratio", file=file)
    for o in outs:
        nulls = con.execute(
            f"SELECT COUNT(*) FROM {VIEW} WHERE {ident(o.column)} IS NULL"
        ).fetchall()[0][0]
        if nulls:
            first = _first_row(con, f"{ident(o.column)} IS NULL", header_rows)
            raise InputError(
                f"{nulls} rows have no value; pushlift does not impute outcomes — fill or "
                f"drop them in the file first (the first is row {first})",
                file=file,
                column=o.column,
            )

    covs = []
    for c in covariates:
        levels_column(c, "--covariate")
        numeric_column(c)
        covs.append(_covariate(con, file, c, columns[c], header_rows))
    for s in segments:
        levels_column(s, "--segment")
        levels = con.execute(f"SELECT COUNT(DISTINCT {ident(s)}) FROM {VIEW}").fetchall()[0][0]
        if levels > MAX_LEVELS:
            raise InputError(
                f"{levels} distinct values; segments need at most {MAX_LEVELS} "
                "(band a numeric column first)",
                file=file,
                column=s,
            )
    return ExperimentSpec(
        relation=VIEW,
        arm=arm,
        control=control,
        arms=ordered,
        outcomes=tuple(outs),
        covariates=tuple(covs),
        segments=tuple(segments),
        weights=tuple(weights) if weights else None,
        title=f"Experiment in {p.name}",
        source=file,
    )


def _nested(sql_type: str) -> bool:
    """Lists, arrays, structs, maps, unions and bytes: no single value per unit to use."""
    return "[" in sql_type or sql_type.startswith(("STRUCT", "MAP", "UNION", "LIST", "BLOB", "BIT"))


def _first_row(con: duckdb.DuckDBPyConnection, condition: str, header_rows: int) -> int:
    """The file row (a CSV header is row 1) of the first unit where `condition` holds."""
    found = con.execute(f"SELECT min(rowid) FROM {VIEW} WHERE {condition}").fetchall()[0][0]
    return int(found) + 1 + header_rows


def _check_numbers(
    con: duckdb.DuckDBPyConnection, file: str, name: str, header_rows: int, bounded: bool
) -> None:
    """Every value of a numeric column finite and, when `bounded`, within ±MAX_ABS."""
    value = f"CAST({ident(name)} AS DOUBLE)"
    bad = f"NOT isfinite({value})" + (f" OR abs({value}) > {MAX_ABS!r}" if bounded else "")
    try:
        found = con.execute(f"SELECT min(rowid), count(*) FROM {VIEW} WHERE {bad}").fetchall()[0]
    except duckdb.Error as e:  # e.g. a value beyond the double range
        raise InputError(
            f"its values cannot be read as numbers ({str(e).splitlines()[0][:200]})",
            file=file,
            column=name,
        ) from None
    if not found[1]:
        return
    rowid, count = int(found[0]), int(found[1])
    shown = con.execute(
        f"SELECT CAST({ident(name)} AS VARCHAR) FROM {VIEW} WHERE rowid = ?", [rowid]
    ).fetchall()[0][0]
    x = float(shown) if shown is not None else math.nan
    why = "not a finite number" if not math.isfinite(x) else f"beyond ±{MAX_ABS:.0e}: rescale it"
    others = f" ({count - 1} more rows like it)" if count > 1 else ""
    raise InputError(
        f"{_show(shown)} is {why}{others}",
        file=file,
        row=rowid + 1 + header_rows,
        column=name,
    )


def _covariate(
    con: duckdb.DuckDBPyConnection, file: str, name: str, sql_type: str, header_rows: int
) -> Covariate:
    col = ident(name)
    nulls = con.execute(f"SELECT COUNT(*) FROM {VIEW} WHERE {col} IS NULL").fetchall()[0][0]
    if nulls:
        first = _first_row(con, f"{col} IS NULL", header_rows)
        raise InputError(
            f"{nulls} rows have no value; covariates must be complete (the first is row {first})",
            file=file,
            column=name,
        )
    if _is_numeric(sql_type):
        return Covariate(name, ((name, col),))
    if sql_type == "BOOLEAN":
        return Covariate(name, ((name, f"CAST({col} AS INTEGER)"),))
    levels = [
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT CAST({col} AS VARCHAR) FROM {VIEW} ORDER BY 1"
        ).fetchall()
    ]
    if len(levels) > MAX_LEVELS:
        raise InputError(
            f"{len(levels)} categories; at most {MAX_LEVELS} allowed", file=file, column=name
        )
    # One indicator per level except the first (the reference level).
    return Covariate(
        name,
        tuple(
            (f"{name}={lv}", f"CAST(CAST({col} AS VARCHAR) = {text(lv)} AS INTEGER)")
            for lv in levels[1:]
        ),
    )
