"""Marketing KPIs with their uncertainty: overall and by experiment, vendor, offer, zone,
hour and segment.

Attribution (attribution.py) credits purchases to notifications; SQL (kpi_queries.py)
aggregates them into sums per subscriber; kpi_effects.py turns sums into rates and
incremental effects against the holdout; this module assembles the report.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field, fields, replace

import duckdb

from pushlift.analysis import kpi_queries as q
from pushlift.analysis.attribution import DEFAULT_WINDOW_HOURS, Touch, attribute
from pushlift.analysis.kpi_definitions import DEFINITIONS, LABELS, UNITS
from pushlift.analysis.kpi_effects import (
    ALPHA,
    NONE,
    Estimate,
    GroupEffects,
    Z,
    div,
    group_effects,
)
from pushlift.analysis.stats import Proportion, benjamini_hochberg
from pushlift.store import Store

DEFAULT_RETENTION_DAYS = 1


@dataclass(frozen=True)
class Kpi:
    name: str
    label: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    unit: str


@dataclass(frozen=True)
class GroupKpis:
    """One row of a breakdown table (a vendor, an offer, a zone, an hour, a segment)."""

    key: str
    notifications: int
    held_out: int
    reach: int
    conversions: int
    conversion_rate: float | None
    incremental_conversion: float | None
    incremental_conversion_ci_low: float | None
    incremental_conversion_ci_high: float | None
    incremental_conversion_p_value: float | None
    revenue_cents: int
    incremental_revenue_cents: float | None
    spend_cents: int
    roas: float | None
    incremental_roas: float | None
    incremental_conversions: float | None = None
    cost_per_incremental_conversion_cents: float | None = None
    fill_rate: float | None = None  # by hour only: the engine counts outcomes per hour
    significant: bool = False

    @classmethod
    def empty(cls, key: str) -> GroupKpis:
        """The row of a group nobody was notified in: zero counts, no rates."""
        counts = ("notifications", "held_out", "reach", "conversions", "revenue_cents",
                  "spend_cents")  # fmt: skip
        values = {f.name: 0 if f.name in counts else None for f in fields(cls)}
        return cls(**{**values, "key": key, "significant": False})


@dataclass(frozen=True)
class TrendPoint:
    day: str
    notifications: int
    held_out: int
    conversions: int
    revenue_cents: int
    spend_cents: int


@dataclass(frozen=True)
class FunnelStage:
    stage: str
    count: int


@dataclass(frozen=True)
class KpiReport:
    window_hours: float
    touch: str
    retention_days: int
    overall: tuple[Kpi, ...]
    breakdowns: dict[str, tuple[GroupKpis, ...]]
    trend: tuple[TrendPoint, ...]
    funnel: tuple[FunnelStage, ...]
    definitions: dict[str, str] = field(default_factory=lambda: dict(DEFINITIONS))

    @property
    def title(self) -> str:
        return "Marketing KPIs: notifications, attribution and incremental lift"

    def kpi(self, name: str) -> Kpi:
        return next(k for k in self.overall if k.name == name)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: the shape the dashboard and `analyze kpis --json` share."""
        return {
            "window_hours": self.window_hours,
            "touch": self.touch,
            "retention_days": self.retention_days,
            "definitions": self.definitions,
            "overall": {
                k.name: {f: v for f, v in asdict(k).items() if f != "name"} for k in self.overall
            },
            "breakdowns": {dim: [asdict(r) for r in rows] for dim, rows in self.breakdowns.items()},
            "trend": [asdict(t) for t in self.trend],
            "funnel": [asdict(s) for s in self.funnel],
        }


# ---------------------------------------------------------------------------
# statistics on the sums
# ---------------------------------------------------------------------------


def _group_row(
    key: str, cells: list[q.ArmSums], reach: int, fx: GroupEffects | None = None
) -> GroupKpis:
    fx = fx or group_effects(cells)
    sent = [c for c in cells if c.delivered]
    revenue = sum(c.revenue_cents for c in sent)
    spend = sum(c.spend_cents for c in sent)
    return GroupKpis(
        key=key,
        notifications=sum(c.notifications for c in sent),
        held_out=sum(c.notifications for c in cells if not c.delivered),
        reach=reach,
        conversions=sum(c.conversions for c in sent),
        conversion_rate=fx.conversion_rate.value,
        incremental_conversion=fx.incremental_conversion.value,
        incremental_conversion_ci_low=fx.incremental_conversion.ci_low,
        incremental_conversion_ci_high=fx.incremental_conversion.ci_high,
        incremental_conversion_p_value=fx.incremental_conversion.p_value,
        revenue_cents=revenue,
        incremental_revenue_cents=fx.incremental_revenue_cents.value,
        spend_cents=spend,
        roas=div(revenue, spend),
        incremental_roas=fx.incremental_roas.value,
        incremental_conversions=fx.incremental_conversions.value,
        cost_per_incremental_conversion_cents=fx.cost_per_incremental_conversion_cents.value,
    )


def _with_significance(rows: list[GroupKpis]) -> list[GroupKpis]:
    """Mark rows whose positive lift survives Benjamini-Hochberg across the table."""
    tested = [i for i, r in enumerate(rows) if r.incremental_conversion_p_value is not None]
    adjusted = benjamini_hochberg([rows[i].incremental_conversion_p_value for i in tested])
    out = list(rows)
    for i, p in zip(tested, adjusted, strict=True):
        r = rows[i]
        positive = (r.incremental_conversion or 0) > 0
        out[i] = replace(r, significant=bool(positive and p < ALPHA))
    return out


def _breakdown(con: duckdb.DuckDBPyConnection, keys: list[str]) -> list[GroupKpis]:
    grouped: dict[str, list[q.ArmSums]] = defaultdict(list)
    for cell in q.arm_sums(con, keys):
        grouped[cell.key].append(cell)
    reached = q.reach(con, keys)
    rows = [_group_row(k, cells, reached.get(k, 0)) for k, cells in grouped.items()]
    return _with_significance(rows)


def _fill_rate(outcomes: dict[str, int]) -> float | None:
    """Notified (delivered or held out) / events that matched at least one offer."""
    matched = sum(v for k, v in outcomes.items() if k not in ("no_match", "late"))
    return div(outcomes.get("delivered", 0) + outcomes.get("held_out", 0), matched)


def _with_fill_rate(
    rows: tuple[GroupKpis, ...], by_hour: dict[str, dict[str, int]]
) -> tuple[GroupKpis, ...]:
    return tuple(replace(r, fill_rate=_fill_rate(by_hour.get(r.key, {}))) for r in rows)


def _retention(con: duckdb.DuckDBPyConnection, days: int) -> tuple[Estimate, Estimate]:
    """Retention of notified (delivered) and of holdout subscribers, with intervals."""

    def share(rows: list[tuple[str, bool, int, int]]) -> Estimate:
        n, k = sum(r[2] for r in rows), sum(r[3] for r in rows)
        if not n:
            return NONE
        p = Proportion(n, k)
        half = Z * math.sqrt(p.variance / n)
        return Estimate(p.mean, max(p.mean - half, 0.0), min(p.mean + half, 1.0))

    rows = q.retention(con, days)
    return share([r for r in rows if r[1]]), share([r for r in rows if not r[1]])


def kpi_report(
    store: Store | duckdb.DuckDBPyConnection,
    *,
    window_hours: float = DEFAULT_WINDOW_HOURS,
    touch: Touch = "last",
    retention_days: int = DEFAULT_RETENTION_DAYS,
) -> KpiReport:
    """Attribute purchases, then compute every KPI overall and by each dimension."""
    if retention_days < 1:
        raise ValueError(f"the retention period must be at least 1 day, not {retention_days}")
    con = store.con if isinstance(store, Store) else store
    attribute(con, window_hours, touch)
    cells = q.arm_sums(con, q.OVERALL)
    fx = group_effects(cells)
    row = _group_row("all", cells, q.reach(con, q.OVERALL).get("all", 0), fx) if cells else None
    breakdowns = {dim: tuple(_breakdown(con, keys)) for dim, keys in q.DIMENSIONS.items()}
    breakdowns["hour"] = _with_fill_rate(breakdowns["hour"], q.decision_outcomes_by_hour(con))
    outcomes = q.decision_outcomes(con)
    trend = tuple(TrendPoint(*row) for row in q.trend(con))
    overall = _overall(
        row,
        fx,
        breakdowns["vendor"],
        outcomes,
        _retention(con, retention_days),
    )
    return KpiReport(
        window_hours=window_hours,
        touch=touch,
        retention_days=retention_days,
        overall=overall,
        breakdowns=breakdowns,
        trend=trend,
        funnel=_funnel(outcomes, row),
    )


def _overall(
    row: GroupKpis | None,
    fx: GroupEffects,
    vendors: tuple[GroupKpis, ...],
    outcomes: dict[str, int],
    retention: tuple[Estimate, Estimate],
) -> tuple[Kpi, ...]:
    row = row or GroupKpis.empty("all")
    values: dict[str, Estimate] = {
        "notifications": Estimate(row.notifications),
        "held_out": Estimate(row.held_out),
        "reach": Estimate(row.reach),
        "conversions": Estimate(row.conversions),
        "conversion_rate": fx.conversion_rate,
        "holdout_conversion_rate": fx.holdout_conversion_rate,
        "incremental_conversion": fx.incremental_conversion,
        "incremental_conversions": fx.incremental_conversions,
        "revenue_cents": Estimate(row.revenue_cents),
        "incremental_revenue_cents": fx.incremental_revenue_cents,
        "spend_cents": Estimate(row.spend_cents),
        "cost_per_incremental_conversion_cents": fx.cost_per_incremental_conversion_cents,
        "roas": Estimate(row.roas),
        "incremental_roas": fx.incremental_roas,
        "fill_rate": Estimate(_fill_rate(outcomes)),
        "retention_rate": retention[0],
        "holdout_retention_rate": retention[1],
        "vendor_success_rate": Estimate(
            div(sum(v.conversions > 0 for v in vendors), len(vendors))
        ),
        "vendor_lift_rate": Estimate(div(sum(v.significant for v in vendors), len(vendors))),
    }
    return tuple(
        Kpi(name, LABELS[name], e.value, e.ci_low, e.ci_high, UNITS.get(name, "count"))
        for name, e in values.items()
    )


def _funnel(outcomes: dict[str, int], row: GroupKpis | None) -> tuple[FunnelStage, ...]:
    """Events decided, down to delivered notifications that converted."""
    decided = sum(v for k, v in outcomes.items() if k != "late")
    matched = decided - outcomes.get("no_match", 0)
    return (
        FunnelStage("events decided", decided),
        FunnelStage("matched an offer", matched),
        FunnelStage(
            "passed segments, caps and budgets",
            outcomes.get("delivered", 0) + outcomes.get("held_out", 0),
        ),
        FunnelStage("delivered", outcomes.get("delivered", 0)),
        FunnelStage("converted", row.conversions if row else 0),
    )
