"""The KPI HTML report: one self-contained file with the same numbers as `analyze kpis`."""

from __future__ import annotations

from pathlib import Path

from pushlift.analysis.kpis import KpiReport
from pushlift.report.html import render, write_html
from pushlift.report.kpi_format import fmt_interval, fmt_value


def render_kpi_report(report: KpiReport) -> str:
    return render(
        "kpis.html",
        r=report,
        value=fmt_value,
        interval=fmt_interval,
    )


def write_kpi_report(report: KpiReport, path: str | Path) -> Path:
    """Write the report; returns its path."""
    return write_html(render_kpi_report(report), path)
