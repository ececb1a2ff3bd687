"""Any randomized experiment in a CSV or Parquet file (one row per unit) as an ExperimentSpec."""

from __future__ import annotations

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
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "REAL",
)
VIEW = "user_units"


def _is_numeric(sql_type: str) -> bool:
    return sql_type.startswith(NUMERIC) or sql_type.startswith("DECIMAL")


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
) -> ExperimentSpec:
    """Register the file as a view and check every named column; returns the spec.

    `ratios` are 'NAME=NUMERATOR/DENOMINATOR'. `weights` are the planned arm shares in the
    order control, then the other arms sorted by name (equal shares if omitted).
    """
    p = Path(path)
    file = str(p)
    if not p.is_file():
        raise InputError("file not found", file=file)
    suffix = p.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        reader = f"read_csv({text(str(p))}, header = true)"
    elif suffix in (".parquet", ".pq"):
        reader = f"read_parquet({text(str(p))})"
    else:
        raise InputError("unknown file type; use .csv or .parquet", file=file)
    try:
        con.execute(f"CREATE OR REPLACE TEMP VIEW {VIEW} AS SELECT * FROM {reader}")
        columns = {r[0]: r[1] for r in con.execute(f"DESCRIBE {VIEW}").fetchall()}
        n_rows = con.execute(f"SELECT COUNT(*) FROM {VIEW}").fetchall()[0][0]
    except duckdb.Error as e:
        raise InputError(f"cannot read the file: {str(e).splitlines()[0]}", file=file) from None
    if n_rows == 0:
        raise InputError("the file has no data rows", file=file)

    def need(name: str, role: str) -> str:
        if name not in columns:
            raise InputError(
                f"{role} column not found; the file has: {', '.join(columns)}",
                file=file,
                column=name,
            )
        return columns[name]

    need(arm, "--arm")
    missing_arm = con.execute(f"SELECT COUNT(*) FROM {VIEW} WHERE {ident(arm)} IS NULL").fetchall()[
        0
    ][0]
    if missing_arm:
        raise InputError(
            f"{missing_arm} rows have no arm; every unit needs one", file=file, column=arm
        )
    arms = [
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT CAST({ident(arm)} AS VARCHAR) FROM {VIEW} ORDER BY 1"
        ).fetchall()
    ]
    if control not in arms:
        raise InputError(
            f"control value {control!r} not found; arms are {', '.join(arms)}",
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
    for name in outcomes:
        t = need(name, "--outcome")
        if t == "BOOLEAN":
            outs.append(Outcome(name, name, "proportion"))
            continue
        if not _is_numeric(t):
            raise InputError(f"outcome must be numeric, found {t}", file=file, column=name)
        binary = con.execute(
            f"SELECT COALESCE(BOOL_AND({ident(name)} IN (0, 1)), FALSE) FROM {VIEW}"
        ).fetchall()[0][0]
        outs.append(Outcome(name, name, "proportion" if binary else "mean"))
    for r in ratios:
        label, sep, frac = r.partition("=")
        num, slash, den = frac.partition("/")
        if not sep or not slash or not label.strip():
            raise InputError(f"--ratio {r!r}: expected NAME=NUMERATOR/DENOMINATOR", file=file)
        for col in (num.strip(), den.strip()):
            if not _is_numeric(need(col, "--ratio")) and columns[col] != "BOOLEAN":
                raise InputError("ratio columns must be numeric", file=file, column=col)
        outs.append(Outcome(label.strip(), num.strip(), "ratio", denominator=den.strip()))
    if not outs:
        raise InputError("name at least one --outcome or --ratio", file=file)
    for o in outs:
        nulls = con.execute(
            f"SELECT COUNT(*) FROM {VIEW} WHERE {ident(o.column)} IS NULL"
        ).fetchall()[0][0]
        if nulls:
            raise InputError(
                f"{nulls} rows have no value; pushlift does not impute outcomes — fill or "
                "drop them in the file first",
                file=file,
                column=o.column,
            )

    covs = [_covariate(con, file, c, need(c, "--covariate")) for c in covariates]
    for s in segments:
        need(s, "--segment")
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


def _covariate(con: duckdb.DuckDBPyConnection, file: str, name: str, sql_type: str) -> Covariate:
    col = ident(name)
    nulls = con.execute(f"SELECT COUNT(*) FROM {VIEW} WHERE {col} IS NULL").fetchall()[0][0]
    if nulls:
        raise InputError(
            f"{nulls} rows have no value; covariates must be complete", file=file, column=name
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
