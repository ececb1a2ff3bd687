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

PER_SCAN = 25  # outcomes per query
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
    described = [o for o in spec.outcomes if o.kind != "ratio"]
    # Many outcomes share each scan (a query per outcome cost more than its work).
    for lo in range(0, len(described), PER_SCAN):
        chunk = described[lo : lo + PER_SCAN]
        ys = [f"CAST({ident(o.column)} AS DOUBLE)" for o in chunk]
        figures = [
            f"COUNT({y}), AVG({y}), STDDEV_SAMP({y}), MIN({y}), MAX({y}), "
            # Among the units with a value (a NULL counted as a non-zero before).
            f"AVG(CASE WHEN {y} = 0 THEN 1.0 WHEN {y} IS NOT NULL THEN 0.0 END), "
            + ", ".join(
                f"PERCENTILE_CONT({q}) WITHIN GROUP (ORDER BY {y})"
                for q in (0.25, 0.5, 0.75, 0.9, 0.99)
            )
            for y in ys
        ]
        rows = con.execute(
            f"SELECT {arm}, {', '.join(figures)} FROM {spec.relation} AS _u GROUP BY 1 ORDER BY 1"
        ).fetchall()
        for i, o in enumerate(chunk):
            for r in rows:
                v = r[1 + 11 * i : 1 + 11 * (i + 1)]
                distribution.append(
                    {
                        "outcome": o.name, "arm": r[0], "n": v[0], "mean": v[1], "sd": v[2],
                        "min": v[3], "max": v[4], "share_zero": v[5], "p25": v[6],
                        "median": v[7], "p75": v[8], "p90": v[9], "p99": v[10],
                    }
                )  # fmt: skip
        means = [(o, y) for o, y in zip(chunk, ys, strict=True) if o.kind == "mean"]
        for o, (edges, counts) in zip(
            (o for o, _ in means), _histograms(con, spec, [y for _, y in means], arm), strict=True
        ):
            histograms[o.name] = counts
            edges_by_outcome[o.name] = edges
    return Descriptives(
        n_units=n_units,
        by_segment=by_segment,
        outcome_distribution=tuple(distribution),
        histograms=histograms,
        histogram_edges=edges_by_outcome,
    )


def _histograms(
    con: duckdb.DuckDBPyConnection, spec: ExperimentSpec, ys: list[str], arm: str
) -> list[tuple[list[float], dict[str, list[float]]]]:
    """Per outcome, shares per arm on shared bins up to the 99th percentile (the tail goes
    in the last): two queries for all of `ys`."""
    if not ys:
        return []
    bounds = ", ".join(f"MIN({y}), PERCENTILE_CONT(0.99) WITHIN GROUP (ORDER BY {y})" for y in ys)
    row = con.execute(f"SELECT {bounds} FROM {spec.relation} AS _u").fetchall()[0]
    binned, out = [], []
    for i, y in enumerate(ys):
        lo, hi = row[2 * i], row[2 * i + 1]
        if lo is None or hi is None or hi <= lo:
            out.append(([], {}))
            continue
        width = (hi - lo) / HISTOGRAM_BINS
        out.append(([lo + k * width for k in range(HISTOGRAM_BINS + 1)], {}))
        binned.append(
            f"SELECT {i} AS o, {arm} AS a, LEAST(CAST(FLOOR(({y} - {literal(lo)}) / "
            f"{literal(width)}) AS INTEGER), {HISTOGRAM_BINS - 1}) AS b, COUNT(*) AS c "
            f"FROM {spec.relation} AS _u WHERE {y} IS NOT NULL GROUP BY 2, 3"
        )
    counts: dict[int, dict[str, np.ndarray]] = {}
    if binned:
        for i, a, b, c in con.execute(" UNION ALL ".join(binned)).fetchall():
            counts.setdefault(i, {}).setdefault(a, np.zeros(HISTOGRAM_BINS))[int(b)] += c
    return [
        (edges, {a: (c / c.sum()).tolist() for a, c in sorted(counts.get(i, {}).items())})
        if edges else (edges, shares)
        for i, (edges, shares) in enumerate(out)
    ]  # fmt: skip
