"""Sufficient statistics per arm (and per segment) in one SQL scan.

Each outcome becomes a small value object from `stats`: SampleMean (n, sum, sum of
squares), Proportion (n, sum) or RatioStatistic (sums, squares and the cross-product of
numerator and denominator). Everything downstream is computed from these.
"""

from __future__ import annotations

import duckdb

from pushlift.analysis.spec import ExperimentSpec, Outcome
from pushlift.analysis.sql import ident
from pushlift.analysis.stats import Proportion, RatioStatistic, SampleMean, Statistic

Key = tuple[str, str, str]  # (arm, segment name or "all", segment value or "all")


def _outcome_sums(o: Outcome) -> list[str]:
    y = f"CAST({ident(o.column)} AS DOUBLE)"
    if o.kind != "ratio":
        return [f"COUNT({y})", f"SUM({y})", f"SUM({y} * {y})"]
    d = f"CAST({ident(o.denominator or '')} AS DOUBLE)"
    both = f"{y} IS NOT NULL AND {d} IS NOT NULL"
    return [
        f"COUNT(*) FILTER (WHERE {both})",
        f"SUM({y}) FILTER (WHERE {both})",
        f"SUM({y} * {y}) FILTER (WHERE {both})",
        f"SUM({d}) FILTER (WHERE {both})",
        f"SUM({d} * {d}) FILTER (WHERE {both})",
        f"SUM({y} * {d}) FILTER (WHERE {both})",
    ]


def _statistic(o: Outcome, values: tuple) -> Statistic:
    n = int(values[0] or 0)
    v = [float(x or 0.0) for x in values[1:]]
    if o.kind == "proportion":
        return Proportion(n=n, sum=v[0])
    if o.kind == "mean":
        return SampleMean(n=n, sum=v[0], sum_squares=v[1])
    return RatioStatistic(
        n=n,
        m_sum=v[0],
        m_sum_squares=v[1],
        d_sum=v[2],
        d_sum_squares=v[3],
        m_d_sum_of_products=v[4],
    )


def segment_statistics(
    con: duckdb.DuckDBPyConnection,
    spec: ExperimentSpec,
    segments: dict[str, str] | None = None,
) -> dict[Key, dict[str, Statistic]]:
    """Statistics per (arm, segment, value) for every outcome of `spec`.

    `segments` maps a segment name to a SQL expression; the overall statistics come back
    under ("all", "all"). One scan, using GROUPING SETS.
    """
    segments = segments or {}
    seg_cols = [f"CAST({expr} AS VARCHAR) AS _seg{i}" for i, expr in enumerate(segments.values())]
    arm = f"CAST({ident(spec.arm)} AS VARCHAR)"
    sets = ["(_arm)"] + [f"(_arm, _seg{i})" for i in range(len(segments))]
    flags = [f"GROUPING(_seg{i})" for i in range(len(segments))]
    sums: list[str] = []
    widths: list[int] = []
    for o in spec.outcomes:
        parts = _outcome_sums(o)
        sums += parts
        widths.append(len(parts))
    inner = ", ".join([f"{arm} AS _arm", *seg_cols, "*"])
    select = ["_arm", *[f"_seg{i}" for i in range(len(segments))], *flags, *sums]
    group = f"GROUPING SETS ({', '.join(sets)})" if segments else "_arm"
    sql = (
        f"SELECT {', '.join(select)} FROM (SELECT {inner} FROM {spec.relation}) AS _u "
        f"WHERE _arm IS NOT NULL GROUP BY {group}"
    )
    names = list(segments)
    out: dict[Key, dict[str, Statistic]] = {}
    k = len(names)
    for row in con.execute(sql).fetchall():
        arm_value = row[0]
        seg_values, grouping = row[1 : 1 + k], row[1 + k : 1 + 2 * k]
        rest = row[1 + 2 * k :]
        level = [i for i in range(k) if grouping[i] == 0]
        key = (
            (arm_value, names[level[0]], _label(seg_values[level[0]]))
            if level
            else (arm_value, "all", "all")
        )
        stats: dict[str, Statistic] = {}
        pos = 0
        for o, w in zip(spec.outcomes, widths, strict=True):
            stats[o.name] = _statistic(o, rest[pos : pos + w])
            pos += w
        out[key] = stats
    return out


def _label(value: object) -> str:
    return "(missing)" if value is None else str(value)
