"""Winsorizing: heavy-tailed outcomes capped at a pooled percentile before the analysis.

A few very large values (one customer's $5,000 basket) dominate a mean's variance. Capping
each mean outcome, and each ratio's numerator, at the same percentile of both arms pooled
(as Statsig does, at P99.9 by default there) keeps the arms comparable and trades a little
bias, since the estimand becomes the capped mean, for much less variance. Only the upper
tail is capped; proportions are left as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import duckdb

from pushlift.analysis.spec import ExperimentSpec
from pushlift.analysis.sql import ident

VIEW = "pushlift_winsorized"


@dataclass(frozen=True)
class Cap:
    """One column as capped: at `cap`, the pooled `percentile`; `capped` of `units` units
    were above it."""

    outcome: str
    column: str
    percentile: float
    cap: float
    capped: int
    units: int


def winsorize(
    con: duckdb.DuckDBPyConnection, spec: ExperimentSpec, percentile: float
) -> tuple[ExperimentSpec, tuple[Cap, ...]]:
    """`spec` on a view of its relation whose mean outcomes (and ratio numerators) are
    capped at their pooled `percentile` (50 < percentile < 100), and what was capped. The
    simulation's truth is dropped for capped outcomes: it is the uncapped effect."""
    if not 50 < percentile < 100:
        raise ValueError(f"the winsorizing percentile must be between 50 and 100, not {percentile}")
    columns: dict[str, str] = {}  # column -> the first outcome using it
    shares = {o.column for o in spec.outcomes if o.kind == "proportion"}  # 0/1: never capped
    for o in spec.outcomes:
        if o.kind in ("mean", "ratio") and o.column not in shares:
            columns.setdefault(o.column, o.name)
    if not columns:
        return spec, ()
    q = percentile / 100
    caps_sql = ", ".join(f"quantile_cont(CAST({ident(c)} AS DOUBLE), {q!r})" for c in columns)
    found = con.execute(f"SELECT {caps_sql} FROM {spec.relation} AS _u").fetchall()[0]
    # A column without values has no percentile; a non-finite one is refused later, by name.
    kept = [(c, cap) for c, cap in zip(columns, found, strict=True)
            if cap is not None and math.isfinite(cap)]  # fmt: skip
    columns = {c: columns[c] for c, _ in kept}
    caps = [cap for _, cap in kept]
    if not columns:
        return spec, ()
    counts_sql = ", ".join(
        f"count(*) FILTER (WHERE CAST({ident(c)} AS DOUBLE) > ?)" for c in columns
    )
    row = con.execute(
        f"SELECT count(*), {counts_sql} FROM {spec.relation} AS _u", list(caps)
    ).fetchall()[0]
    # A view cannot take parameters: the caps go in as literals of exact doubles.
    literal = [f"CAST({float(cap)!r} AS DOUBLE)" for cap in caps]
    replaced = ", ".join(
        f"LEAST(CAST({ident(c)} AS DOUBLE), {lit}) AS {ident(c)}"
        for c, lit in zip(columns, literal, strict=True)
    )
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {VIEW} AS "
        f"SELECT * REPLACE ({replaced}) FROM {spec.relation} AS _u"
    )
    out = tuple(
        Cap(name, column, percentile, float(cap), int(n), int(row[0]))
        for (column, name), cap, n in zip(columns.items(), caps, row[1:], strict=True)
    )
    capped_outcomes = {o.name for o in spec.outcomes if o.column in columns}
    truth = {k: v for k, v in spec.truth.items() if k[0] not in capped_outcomes}
    return replace(spec, relation=VIEW, truth=truth), out
