"""The HTML report: one self-contained file (inline SVG and CSS, no scripts, no fetches)."""

from __future__ import annotations

import math
from pathlib import Path

import jinja2

from pushlift import __version__
from pushlift.analysis.results import ExperimentResult, OutcomeResult
from pushlift.report import charts
from pushlift.report.wording import (
    bounds,
    conclusions,
    fmt_p,
    fmt_pct,
    fmt_value,
    interval,
    method_notes,
)


def _num(x: object, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if isinstance(x, int):
        return f"{x:,}"
    return f"{float(x):,.{digits}f}"


def _cell(v: object) -> str:
    return _num(v) if isinstance(v, int | float) else str(v)


def _thousands(x: object) -> str:
    return "n/a" if x is None else f"{int(x):,}"  # type: ignore[call-overload]


def _arm_mean(o: OutcomeResult, arm: str) -> float:
    return next((a.mean for a in o.arms if a.arm == arm), math.nan)


def render(template: str, **context: object) -> str:
    """Render one of the report templates with the helpers every report uses."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pushlift.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["thousands"] = _thousands
    return env.get_template(template).render(version=__version__, num=_num, fp=fmt_p, **context)


def write_html(html: str, path: str | Path) -> Path:
    """Write a report; returns its path. Written to a temporary name first, then renamed,
    so a reader never sees half a file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(target)
    return target


def render_report(result: ExperimentResult) -> str:
    """The report as an HTML string."""
    distributions = [
        (o.title, svg)
        for o in result.outcomes
        if (svg := charts.distribution_chart(result, o.outcome))
    ]
    forests = [
        (o.title, svg)
        for o in result.outcomes
        if (svg := charts.forest_plot(result, o.outcome, list(result.subgroups), "by segment"))
    ]
    return render(
        "experiment.html",
        r=result,
        conclusions=conclusions(result),
        notes=(*method_notes(result), *result.notes),
        has_truth=any(c.true_effect is not None for o in result.outcomes for c in o.comparisons),
        distributions=distributions,
        forests=forests,
        scatter=charts.cluster_scatter(result),
        silhouette=charts.silhouette_chart(result),
        fv=lambda x, kind, signed=False: fmt_value(x, kind, signed=signed),
        ci=interval,
        ci_pct=lambda e: bounds(e, fmt_pct),
        pct=lambda x, signed=True: fmt_pct(x, signed=signed),
        cell=_cell,
        arm_mean=_arm_mean,
    )


def write_report(result: ExperimentResult, path: str | Path) -> Path:
    """Write the experiment report; returns its path."""
    return write_html(render_report(result), path)
