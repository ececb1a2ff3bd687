"""The engagement HTML report: one self-contained file (inline SVG and CSS, no scripts)."""

from __future__ import annotations

from pathlib import Path

import jinja2

from pushlift import __version__
from pushlift.analysis.engagement_results import EngagementResult
from pushlift.report import engagement_charts as charts
from pushlift.report.html import _num, _thousands
from pushlift.report.wording import fmt_p, fmt_pct


def render_engagement_report(result: EngagementResult) -> str:
    """The report as an HTML string."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pushlift.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["thousands"] = _thousands
    return env.get_template("engagement.html").render(
        r=result,
        version=__version__,
        box=charts.box_plot(result),
        hist=charts.histogram(result),
        scatter=charts.messages_scatter(result),
        propensity=charts.propensity_histogram(result),
        num=_num,
        fp=fmt_p,
        pct=lambda x: fmt_pct(x, signed=False),
    )


def write_engagement_report(result: EngagementResult, path: str | Path) -> Path:
    """Write the report; returns its path (written to a temporary name, then renamed)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(render_engagement_report(result), encoding="utf-8")
    tmp.replace(target)
    return target
