"""Descriptive statistics, covariate balance and the sample-ratio check."""

from __future__ import annotations

import math
import sys

import duckdb
import numpy as np

from pushlift.analysis.results import CovariateBalance, Descriptives, SampleRatio
from pushlift.analysis.spec import ExperimentSpec
from pushlift.analysis.sql import ident, literal
from pushlift.analysis.stats import srm_test
from pushlift.errors import PushliftError

HISTOGRAM_BINS = 30


def arm_counts(con: duckdb.DuckDBPyConnection, spec: ExperimentSpec) -> dict[str, int]:
    rows = con.execute(
        f"SELECT CAST({ident(spec.arm)} AS VARCHAR), COUNT(*) FROM {spec.relation} AS _u GROUP BY 1"
    ).fetchall()
    return {str(a): int(n) for a, n in rows}


def sample_ratio(spec: ExperimentSpec, counts: dict[str, int]) -> SampleRatio:
    weights = spec.weights or tuple(1.0 for _ in spec.arms)
    total = sum(weights)
    observed = [counts.get(a, 0) for a in spec.arms]
    res = srm_test(observed, weights)
    return SampleRatio(
        arms=spec.arms,
        counts=tuple(observed),
        expected_shares=tuple(w / total for w in weights),
        chi2=res.chi2,
        dof=res.dof,
        p_value=res.p_value,
    )


def covariate_balance(
    con: duckdb.DuckDBPyConnection, spec: ExperimentSpec
) -> list[CovariateBalance]:
    """Standardized mean differences of each covariate term, each arm against control."""
    terms = [t for c in spec.covariates for t in c.terms]
    if not terms:
        return []
    aggs = ", ".join(f"AVG(CAST({e} AS DOUBLE)), VAR_SAMP(CAST({e} AS DOUBLE))" for _, e in terms)
    rows = con.execute(
        f"SELECT CAST({ident(spec.arm)} AS VARCHAR), {aggs} FROM {spec.relation} AS _u GROUP BY 1"
    ).fetchall()
    by_arm = {r[0]: r[1:] for r in rows}
    control = by_arm.get(spec.control)
    out = []
    for arm in spec.treatments:
        treated = by_arm.get(arm)
        if control is None or treated is None:
            continue
        for i, (name, _) in enumerate(terms):
            mc, vc = control[2 * i], control[2 * i + 1]
            mt, vt = treated[2 * i], treated[2 * i + 1]
            pooled = math.sqrt(((vc or 0) + (vt or 0)) / 2)
            smd = (mt - mc) / pooled if pooled > 0 else math.nan
            out.append(CovariateBalance(name, mc, mt, arm, smd))
    return out


def _numeric_inputs(spec: ExperimentSpec) -> list[tuple[str, str]]:
    """(what, SQL expression) of every number the analysis computes with."""
    out: list[tuple[str, str]] = []
    for o in spec.outcomes:
        out.append((f"outcome column {o.column!r}", ident(o.column)))
        if o.kind == "ratio" and o.denominator:
            out.append((f"ratio denominator column {o.denominator!r}", ident(o.denominator)))
    for c in spec.covariates:
        out += [(f"covariate {name!r}", expr) for name, expr in c.terms]
    unique: dict[str, str] = {}
    for what, expr in out:
        unique.setdefault(expr, what)
    return [(what, expr) for expr, what in unique.items()]


def non_finite_error(what: str, count: int) -> PushliftError:
    """The error for inf or NaN values in an input column."""
    values = f"{count:,} values that are" if count != 1 else "1 value that is"
    return PushliftError(
        f"{what} holds {values} not finite (inf or NaN), so its means and variances do not "
        "exist; fix or drop those rows first"
    )


def descriptives(con: duckdb.DuckDBPyConnection, spec: ExperimentSpec) -> Descriptives:
    """Counts and covariate means per segment level; outcome distributions per arm.

    Raises PushliftError naming the column when an outcome, ratio denominator or covariate
    holds inf or NaN (the same scan counts the units).
    """
    inputs = _numeric_inputs(spec)
    big = literal(sys.float_info.max)
    checks = "".join(
        f", COUNT(*) FILTER (WHERE NOT (CAST({e} AS DOUBLE) BETWEEN -{big} AND {big}))"
        for _, e in inputs
    )
    row = con.execute(f"SELECT COUNT(*){checks} FROM {spec.relation} AS _u").fetchall()[0]
    n_units = int(row[0])
    for (what, _), bad in zip(inputs, row[1:], strict=True):
        if bad:
            raise non_finite_error(what, int(bad))
    terms = [t for c in spec.covariates for t in c.terms]
    by_segment: dict[str, list[dict]] = {}
    for seg in spec.segments:
        means = "".join(f", AVG(CAST({e} AS DOUBLE)) AS {ident('mean_' + n)}" for n, e in terms)
        cur = con.execute(
            f"SELECT CAST({ident(seg)} AS VARCHAR) AS level, COUNT(*) AS n{means} "
            f"FROM {spec.relation} AS _u GROUP BY 1 ORDER BY 1"
        )
        cols = [d[0] for d in cur.description]
        by_segment[seg] = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    distribution = []
    histograms: dict[str, dict[str, list[float]]] = {}
    edges_by_outcome: dict[str, list[float]] = {}
    arm = f"CAST({ident(spec.arm)} AS VARCHAR)"
    for o in spec.outcomes:
        if o.kind == "ratio":
            continue
        y = f"CAST({ident(o.column)} AS DOUBLE)"
        q = ", ".join(
            f"PERCENTILE_CONT({p}) WITHIN GROUP (ORDER BY {y})"
            for p in (0.25, 0.5, 0.75, 0.9, 0.99)
        )
        rows = con.execute(
            f"SELECT {arm}, COUNT({y}), AVG({y}), STDDEV_SAMP({y}), MIN({y}), MAX({y}), "
            f"AVG(CASE WHEN {y} = 0 THEN 1.0 ELSE 0.0 END), {q} "
            f"FROM {spec.relation} AS _u GROUP BY 1 ORDER BY 1"
        ).fetchall()
        for r in rows:
            distribution.append(
                {
                    "outcome": o.name,
                    "arm": r[0],
                    "n": r[1],
                    "mean": r[2],
                    "sd": r[3],
                    "min": r[4],
                    "max": r[5],
                    "share_zero": r[6],
                    "p25": r[7],
                    "median": r[8],
                    "p75": r[9],
                    "p90": r[10],
                    "p99": r[11],
                }
            )
        if o.kind == "mean":
            edges, counts = _histogram(con, spec, y, arm)
            histograms[o.name] = counts
            edges_by_outcome[o.name] = edges
    return Descriptives(
        n_units=n_units,
        by_segment=by_segment,
        outcome_distribution=tuple(distribution),
        histograms=histograms,
        histogram_edges=edges_by_outcome,
    )


def _histogram(
    con: duckdb.DuckDBPyConnection, spec: ExperimentSpec, y: str, arm: str
) -> tuple[list[float], dict[str, list[float]]]:
    """Shares per arm on shared bins up to the 99th percentile (the tail goes in the last)."""
    lo, hi = con.execute(
        f"SELECT MIN({y}), PERCENTILE_CONT(0.99) WITHIN GROUP (ORDER BY {y}) "
        f"FROM {spec.relation} AS _u"
    ).fetchall()[0]
    if lo is None or hi is None or hi <= lo:
        return [], {}
    width = (hi - lo) / HISTOGRAM_BINS
    edges = [lo + i * width for i in range(HISTOGRAM_BINS + 1)]
    rows = con.execute(
        f"SELECT {arm}, LEAST(CAST(FLOOR(({y} - ?) / ?) AS INTEGER), ?) AS b, COUNT(*) "
        f"FROM {spec.relation} AS _u WHERE {y} IS NOT NULL GROUP BY 1, 2",
        [lo, width, HISTOGRAM_BINS - 1],
    ).fetchall()
    counts: dict[str, np.ndarray] = {}
    for a, b, c in rows:
        counts.setdefault(a, np.zeros(HISTOGRAM_BINS))[int(b)] += c
    shares = {a: (c / c.sum()).tolist() for a, c in sorted(counts.items())}
    return edges, shares
