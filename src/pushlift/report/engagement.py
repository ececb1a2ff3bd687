"""The engagement HTML report: one self-contained file (inline SVG and CSS, no scripts)."""

from __future__ import annotations

from pathlib import Path

from pushlift.analysis.engagement_results import EngagementResult
from pushlift.report import engagement_charts as charts
from pushlift.report.html import render, write_html
from pushlift.report.wording import fmt_pct


def render_engagement_report(result: EngagementResult) -> str:
    """The report as an HTML string."""
    return render(
        "engagement.html",
        r=result,
        box=charts.box_plot(result),
        hist=charts.histogram(result),
        scatter=charts.messages_scatter(result),
        propensity=charts.propensity_histogram(result),
        pct=lambda x: fmt_pct(x, signed=False),
    )


def write_engagement_report(result: EngagementResult, path: str | Path) -> Path:
    """Write the report; returns its path."""
    return write_html(render_engagement_report(result), path)
