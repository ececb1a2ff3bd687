"""The dashboard's pages: each has an HTML page at /NAME and a JSON twin at /api/NAME."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pushlift.web import engagement_page, experiments_page, kpi_pages, mall_page, map_page
from pushlift.web.db import Database

Builder = Callable[[Database, dict[str, str]], dict[str, Any]]


@dataclass(frozen=True)
class Page:
    name: str  # URL path segment
    label: str  # navigation label
    build: Builder  # the data: the JSON twin, and what the template renders
    template: str
    about: str  # one line, for the index of pages in /api


PAGES: tuple[Page, ...] = (
    Page("overview", "Overview", kpi_pages.overview, "overview.html",
         "headline KPIs with 95% intervals, daily trend, funnel, hour and segment tables"),
    Page("vendors", "Vendors", kpi_pages.vendors, "breakdown.html",
         "one row per vendor: reach, conversions, incremental lift, spend, ROAS"),
    Page("offers", "Offers", kpi_pages.offers, "breakdown.html",
         "one row per offer, with its vendor and message"),
    Page("map", "Map", map_page.map_data, "map.html",
         "zones and where notifications were sent, with per-zone KPIs"),
    Page("experiments", "Live experiments", experiments_page.experiments, "experiments.html",
         "each engine experiment look by look: incremental conversion with fixed-horizon "
         "and always-valid intervals"),
    Page("mall", "Mall experiment", mall_page.mall, "mall.html",
         "the mall experiment's effects with intervals, overall and by segment"),
    Page("engagement", "Engagement", engagement_page.engagement, "engagement.html",
         "CRM customers after contact: responders vs not, raw and adjusted"),
    Page("definitions", "KPI definitions", kpi_pages.definitions, "definitions.html",
         "one-line definition of every KPI"),
)  # fmt: skip


def public(data: dict[str, Any]) -> dict[str, Any]:
    """The JSON twin: the page data without its HTML-only parts (keys starting with '_')."""
    return {k: v for k, v in data.items() if not k.startswith("_")}
