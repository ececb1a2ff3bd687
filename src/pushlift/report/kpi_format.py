"""KPI values for people, with the dashboard's number rules (report/numbers.py)."""

from __future__ import annotations

from pushlift.analysis.kpis import Kpi
from pushlift.report.numbers import fmt as fmt_value


def fmt_interval(kpi: Kpi) -> str:
    """'lo to hi' for KPIs with a 95% interval, '' otherwise (an open end shows as ∞)."""
    if kpi.ci_low is None and kpi.ci_high is None:
        return ""
    lo = fmt_value(kpi.ci_low, kpi.unit) if kpi.ci_low is not None else "–∞"
    hi = fmt_value(kpi.ci_high, kpi.unit) if kpi.ci_high is not None else "∞"
    return f"{lo} to {hi}"


__all__ = ["fmt_interval", "fmt_value"]
