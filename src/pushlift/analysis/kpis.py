"""Marketing KPIs with their uncertainty: overall and by vendor, offer, zone, hour, segment.

SQL (kpi_queries.py) aggregates the attributed notifications into sums per subscriber;
this module turns them into rates and incremental effects. Incremental effects compare
delivered notifications with held-out "would have sent" ones of the same experiment: the
conversion rate per notification is a ratio metric with the subscriber as the randomized
unit, so its standard error comes from the delta method (clustered by subscriber), and the
Welch test in stats.py gives the interval. A group spanning several experiments (holdout
shares may differ) combines the per-experiment effects weighted by delivered
notifications, so no experiment's holdout share biases another's.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field, fields, replace
from statistics import NormalDist

import duckdb

from pushlift.analysis import kpi_queries as q
from pushlift.analysis.attribution import DEFAULT_WINDOW_HOURS, Touch, attribute
from pushlift.analysis.stats import (
    ZERO_NEGATIVE_VARIANCE_MESSAGE,
    EffectEstimate,
    Proportion,
    RatioStatistic,
    benjamini_hochberg,
    welch_test,
)
from pushlift.store import Store

ALPHA = 0.05
Z = NormalDist().inv_cdf(1 - ALPHA / 2)  # scipy's ppf costs more than a whole row
DEFAULT_RETENTION_DAYS = 1

DEFINITIONS: dict[str, str] = {
    "notifications": "Notifications delivered (held-out 'would have sent' records excluded).",
    "held_out": "Would-have-sent records of holdout subscribers: the comparison group.",
    "reach": "Distinct subscribers who were delivered at least one notification.",
    "conversions": "Delivered notifications credited with at least one purchase "
    "(at the offer's vendor, after the notification, within the window; each purchase "
    "credited once).",
    "conversion_rate": "Conversions / delivered notifications (interval clustered by subscriber).",
    "holdout_conversion_rate": "The same rate for held-out records: conversion without "
    "the message.",
    "incremental_conversion": "Conversion rate of delivered minus held-out notifications "
    "of the same experiment: the share of notifications that caused a conversion.",
    "incremental_conversions": "Incremental conversion x delivered notifications: "
    "conversions the messages caused.",
    "revenue_cents": "Revenue of the purchases credited to delivered notifications.",
    "incremental_revenue_cents": "Revenue per delivered notification minus per held-out "
    "record, times delivered notifications: revenue the messages caused.",
    "spend_cents": "Sum of the prices paid for delivered notifications.",
    "cost_per_incremental_conversion_cents": "Spend / incremental conversions (blank when "
    "the messages caused no conversions).",
    "roas": "Return on ad spend: credited revenue / spend.",
    "incremental_roas": "Incremental revenue / spend: revenue caused per cent spent.",
    "fill_rate": "Notified events (delivered or held out) / events that matched at least "
    "one offer.",
    "retention_rate": "Share of notified subscribers who buy anything in the days after "
    "the day of their first notification (the retention period).",
    "holdout_retention_rate": "The same share for holdout subscribers.",
    "vendor_success_rate": "Share of vendors with at least one conversion.",
    "vendor_lift_rate": "Share of vendors with a significant positive incremental "
    "conversion (Benjamini-Hochberg adjusted p < 0.05 across vendors).",
}

UNITS = {
    "conversion_rate": "share",
    "holdout_conversion_rate": "share",
    "incremental_conversion": "share",
    "revenue_cents": "cents",
    "incremental_revenue_cents": "cents",
    "spend_cents": "cents",
    "cost_per_incremental_conversion_cents": "cents",
    "roas": "ratio",
    "incremental_roas": "ratio",
    "fill_rate": "share",
    "retention_rate": "share",
    "holdout_retention_rate": "share",
    "vendor_success_rate": "share",
    "vendor_lift_rate": "share",
}

LABELS = {
    "notifications": "Notifications sent",
    "held_out": "Held out (would have sent)",
    "reach": "Reach",
    "conversions": "Conversions",
    "conversion_rate": "Conversion rate",
    "holdout_conversion_rate": "Holdout conversion rate",
    "incremental_conversion": "Incremental conversion",
    "incremental_conversions": "Incremental conversions",
    "revenue_cents": "Revenue",
    "incremental_revenue_cents": "Incremental revenue",
    "spend_cents": "Spend",
    "cost_per_incremental_conversion_cents": "Cost per incremental conversion",
    "roas": "ROAS",
    "incremental_roas": "Incremental ROAS",
    "fill_rate": "Fill rate",
    "retention_rate": "Retention rate",
    "holdout_retention_rate": "Holdout retention rate",
    "vendor_success_rate": "Vendor success rate",
    "vendor_lift_rate": "Vendors with significant lift",
}


@dataclass(frozen=True)
class Estimate:
    """A value with a two-sided 95% interval (None where no interval is meaningful)."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None

    def scaled(self, factor: float) -> Estimate:
        def s(x: float | None) -> float | None:
            return None if x is None else x * factor

        lo, hi = s(self.ci_low), s(self.ci_high)
        if factor < 0 and lo is not None and hi is not None:
            lo, hi = hi, lo
        return Estimate(s(self.value), lo, hi, self.p_value)


NONE = Estimate(None)


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


def _ratio(cell: q.ArmSums, metric: str) -> RatioStatistic:
    if metric == "conversion":
        m, m_sq, m_d = cell.conversions, cell.conversions_sq, cell.conversions_x_notes
    else:
        m, m_sq, m_d = cell.revenue_cents, cell.revenue_sq, cell.revenue_x_notes
    return RatioStatistic(cell.subscribers, m, m_sq, cell.notifications, cell.notifications_sq, m_d)


def _rate(cells: list[q.ArmSums]) -> Estimate:
    """Conversion rate per notification of `cells` pooled, with a clustered interval."""
    n = sum(c.subscribers for c in cells)
    notes = sum(c.notifications for c in cells)
    if not notes:
        return NONE
    stat = RatioStatistic(
        n,
        sum(c.conversions for c in cells),
        sum(c.conversions_sq for c in cells),
        notes,
        sum(c.notifications_sq for c in cells),
        sum(c.conversions_x_notes for c in cells),
    )
    if n < 2:
        return Estimate(stat.mean)
    half = Z * math.sqrt(stat.variance / n)
    return Estimate(stat.mean, stat.mean - half, stat.mean + half)


def _agresti_caffo(held: q.ArmSums, sent: q.ArmSums) -> EffectEstimate:
    """Conversion difference when an arm shows no variation (typically: no held-out
    conversion yet), where the delta method would call the difference exact. Agresti and
    Caffo (2000) add one conversion and one non-conversion to each arm, which keeps the
    interval honest at small counts; notifications count as independent here."""
    n0, n1 = held.notifications + 2, sent.notifications + 2
    p0, p1 = (held.conversions + 1) / n0, (sent.conversions + 1) / n1
    se = math.sqrt(p0 * (1 - p0) / n0 + p1 * (1 - p1) / n1)
    raw = sent.conversions / sent.notifications - held.conversions / held.notifications
    p = 2 * NormalDist().cdf(-abs((p1 - p0) / se))
    return EffectEstimate(raw, se, p1 - p0 - Z * se, p1 - p0 + Z * se, p, None, False, "two-sided")


def _incremental(cells: list[q.ArmSums], metric: str) -> tuple[Estimate, int, int]:
    """Per-notification effect of delivery, combined over experiments.

    Returns the estimate, the delivered notifications it covers and their spend.
    """
    by_exp: dict[str, dict[bool, q.ArmSums]] = defaultdict(dict)
    for c in cells:
        by_exp[c.experiment_id][c.delivered] = c
    parts = []
    for arms in by_exp.values():
        held, sent = arms.get(False), arms.get(True)
        if held is None or sent is None or held.subscribers < 2 or sent.subscribers < 2:
            continue
        effect = welch_test(_ratio(held, metric), _ratio(sent, metric), relative=False)
        if effect.error == ZERO_NEGATIVE_VARIANCE_MESSAGE and metric == "conversion":
            effect = _agresti_caffo(held, sent)
        if effect.error is None:
            parts.append((effect, sent.notifications, sent.spend_cents))
    if not parts:
        return NONE, 0, 0
    covered = sum(w for _, w, _ in parts)
    spend = sum(s for _, _, s in parts)
    if len(parts) == 1:
        e = parts[0][0]
        return Estimate(e.estimate, e.ci_low, e.ci_high, e.p_value), covered, spend
    est = sum(e.estimate * w for e, w, _ in parts) / covered
    se = math.sqrt(sum((e.se * w) ** 2 for e, w, _ in parts)) / covered
    p = 2 * NormalDist().cdf(-abs(est / se)) if se > 0 else 1.0
    return Estimate(est, est - Z * se, est + Z * se, float(p)), covered, spend


def _div(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _group_row(key: str, cells: list[q.ArmSums], reach: int) -> GroupKpis:
    sent = [c for c in cells if c.delivered]
    held = [c for c in cells if not c.delivered]
    notes = sum(c.notifications for c in sent)
    spend = sum(c.spend_cents for c in sent)
    revenue = sum(c.revenue_cents for c in sent)
    inc_conv, covered, covered_spend = _incremental(cells, "conversion")
    inc_rev, covered_r, covered_spend_r = _incremental(cells, "revenue")
    total_inc_rev = inc_rev.scaled(covered_r).value
    total_inc_conv = inc_conv.scaled(covered)
    return GroupKpis(
        key=key,
        notifications=notes,
        held_out=sum(c.notifications for c in held),
        reach=reach,
        conversions=sum(c.conversions for c in sent),
        conversion_rate=_rate(sent).value,
        incremental_conversion=inc_conv.value,
        incremental_conversion_ci_low=inc_conv.ci_low,
        incremental_conversion_ci_high=inc_conv.ci_high,
        incremental_conversion_p_value=inc_conv.p_value,
        revenue_cents=revenue,
        incremental_revenue_cents=total_inc_rev,
        spend_cents=spend,
        roas=_div(revenue, spend),
        incremental_roas=_div(total_inc_rev, covered_spend_r),
        incremental_conversions=total_inc_conv.value,
        cost_per_incremental_conversion_cents=_cost_per(total_inc_conv, covered_spend).value,
    )


def _cost_per(conversions: Estimate, spend: int) -> Estimate:
    """Spend per incremental conversion; its interval inverts the conversions' interval
    (an open upper end when that interval reaches zero)."""
    if conversions.value is None or conversions.value <= 0:
        return NONE
    lo, hi = conversions.ci_low, conversions.ci_high
    return Estimate(
        spend / conversions.value,
        spend / hi if hi and hi > 0 else None,
        spend / lo if lo and lo > 0 else None,
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


def _breakdown(
    con: duckdb.DuckDBPyConnection, keys: list[str], cells: list[q.ArmSums] | None = None
) -> list[GroupKpis]:
    grouped: dict[str, list[q.ArmSums]] = defaultdict(list)
    for cell in q.arm_sums(con, keys) if cells is None else cells:
        grouped[cell.key].append(cell)
    reached = q.reach(con, keys)
    rows = [_group_row(k, cells, reached.get(k, 0)) for k, cells in grouped.items()]
    return _with_significance(rows)


def _fill_rate(outcomes: dict[str, int]) -> float | None:
    """Notified (delivered or held out) / events that matched at least one offer."""
    matched = sum(v for k, v in outcomes.items() if k not in ("no_match", "late"))
    return _div(outcomes.get("delivered", 0) + outcomes.get("held_out", 0), matched)


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
    overall_rows = _breakdown(con, q.OVERALL, cells)
    breakdowns = {dim: tuple(_breakdown(con, keys)) for dim, keys in q.DIMENSIONS.items()}
    breakdowns["hour"] = _with_fill_rate(breakdowns["hour"], q.decision_outcomes_by_hour(con))
    outcomes = q.decision_outcomes(con)
    trend = tuple(TrendPoint(*row) for row in q.trend(con))
    overall = _overall(
        overall_rows[0] if overall_rows else None,
        cells,
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
        funnel=_funnel(outcomes, overall_rows[0] if overall_rows else None),
    )


def _overall(
    row: GroupKpis | None,
    cells: list[q.ArmSums],
    vendors: tuple[GroupKpis, ...],
    outcomes: dict[str, int],
    retention: tuple[Estimate, Estimate],
) -> tuple[Kpi, ...]:
    inc_conv, covered, covered_spend = _incremental(cells, "conversion")
    inc_rev, _, _ = _incremental(cells, "revenue")
    total_conv = inc_conv.scaled(covered)
    total_rev = inc_rev.scaled(covered)
    cost = _cost_per(total_conv, covered_spend)
    spend = row.spend_cents if row else 0
    revenue = row.revenue_cents if row else 0
    values: dict[str, Estimate] = {
        "notifications": Estimate(row.notifications if row else 0),
        "held_out": Estimate(row.held_out if row else 0),
        "reach": Estimate(row.reach if row else 0),
        "conversions": Estimate(row.conversions if row else 0),
        "conversion_rate": _rate([c for c in cells if c.delivered]),
        "holdout_conversion_rate": _rate([c for c in cells if not c.delivered]),
        "incremental_conversion": inc_conv,
        "incremental_conversions": total_conv,
        "revenue_cents": Estimate(revenue),
        "incremental_revenue_cents": total_rev,
        "spend_cents": Estimate(spend),
        "cost_per_incremental_conversion_cents": cost,
        "roas": Estimate(_div(revenue, spend)),
        "incremental_roas": total_rev.scaled(1 / covered_spend) if covered_spend else NONE,
        "fill_rate": Estimate(_fill_rate(outcomes)),
        "retention_rate": retention[0],
        "holdout_retention_rate": retention[1],
        "vendor_success_rate": Estimate(
            _div(sum(v.conversions > 0 for v in vendors), len(vendors))
        ),
        "vendor_lift_rate": Estimate(_div(sum(v.significant for v in vendors), len(vendors))),
    }
    return tuple(
        Kpi(name, LABELS[name], e.value, e.ci_low, e.ci_high, UNITS.get(name, "count"))
        for name, e in values.items()
    )


def _funnel(outcomes: dict[str, int], row: GroupKpis | None) -> tuple[FunnelStage, ...]:
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
