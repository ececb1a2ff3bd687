"""Render dashboard pages: templates here, extending the reports' base for one look."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jinja2

from pushlift import __version__
from pushlift.report.numbers import fmt, fmt_ci
from pushlift.web import charts, map_page
from pushlift.web.kpi_pages import BREAKDOWN_COLUMNS


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.PackageLoader("pushlift.web", "templates"),
                jinja2.PackageLoader("pushlift.report", "templates"),  # base.html
            ]
        ),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["fmt"] = fmt
    env.globals.update(
        fmt=fmt,
        fmt_ci=fmt_ci,
        raw=lambda v: json.dumps(v),  # the exact value, in data-value attributes
        trend_svg=charts.trend_svg,
        funnel_svg=charts.funnel_svg,
        map_svg=map_page.map_svg,
        version=__version__,
        kpi_columns=BREAKDOWN_COLUMNS,
    )
    return env


def render_page(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
