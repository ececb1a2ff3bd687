"""KPI values in words and numbers: one formatting rule per unit, shared by every output."""

from __future__ import annotations

from pushlift.analysis.kpis import Kpi


def fmt_value(value: float | None, unit: str) -> str:
    """A KPI value for people: counts with separators, shares in %, cents in dollars."""
    if value is None:
        return "–"
    if unit == "share":
        return f"{value:.2%}"
    if unit == "cents":
        return f"${value / 100:,.2f}"
    if unit == "ratio":
        return f"{value:,.2f}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def fmt_interval(kpi: Kpi) -> str:
    """'lo to hi' for KPIs with a 95% interval, '' otherwise (an open end shows as ∞)."""
    if kpi.ci_low is None and kpi.ci_high is None:
        return ""
    lo = fmt_value(kpi.ci_low, kpi.unit) if kpi.ci_low is not None else "–∞"
    hi = fmt_value(kpi.ci_high, kpi.unit) if kpi.ci_high is not None else "∞"
    return f"{lo} to {hi}"
