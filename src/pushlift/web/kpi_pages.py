"""Overview, vendors, offers and KPI definitions: pages built from `kpi_report`.

Each builder returns the JSON-ready dict that is both the page's JSON twin and what its
template renders, so the numbers on the page are the twin's numbers.
"""

from __future__ import annotations

from typing import Any

from pushlift.analysis.results import to_jsonable
from pushlift.store import Store
from pushlift.web.db import Database

# The data the KPIs read: any change there means a new report.
KPI_PARTS = ("events", "notifications", "decision_counts", "offers")

NO_ENGINE_DATA = (
    "No engine data yet: run `pushlift simulate city` (or `pushlift run EVENTS --config "
    "engine.yaml`) into this store, or start the dashboard with --config and --follow."
)

# The CEO's tiles, in this order; every other KPI follows in smaller tiles.
HEADLINE = (
    "notifications",
    "reach",
    "conversions",
    "incremental_conversions",
    "conversion_rate",
    "incremental_conversion",
    "revenue_cents",
    "incremental_revenue_cents",
    "spend_cents",
    "incremental_roas",
)

# Breakdown table columns: (field, label, unit). `ci` marks the interval column.
BREAKDOWN_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("notifications", "sent", "count"),
    ("held_out", "held out", "count"),
    ("reach", "reach", "count"),
    ("conversions", "conversions", "count"),
    ("conversion_rate", "conversion rate", "share"),
    ("incremental_conversion", "incremental conversion", "share"),
    ("incremental_conversion_ci", "95% CI", "ci:share"),
    ("revenue_cents", "revenue", "cents"),
    ("incremental_revenue_cents", "incremental revenue", "cents"),
    ("spend_cents", "spend", "cents"),
    ("cost_per_incremental_conversion_cents", "cost per incremental conversion", "cents"),
    ("roas", "ROAS", "ratio"),
    ("incremental_roas", "incremental ROAS", "ratio"),
    ("significant", "significant lift", "bool"),
)


def _report(s: Store) -> dict[str, Any]:
    from pushlift.analysis.kpis import kpi_report

    return to_jsonable(kpi_report(s).to_dict())


def kpi_data(db: Database) -> dict[str, Any] | None:
    """The KPI report (cached per data version), or None when the engine wrote nothing."""
    counts = db.counts()
    if not counts["notifications"] and not counts["events"]:
        return None
    return db.cached("kpis", db.version(KPI_PARTS), _report)


def _tiles(report: dict[str, Any]) -> list[dict[str, Any]]:
    overall, definitions = report["overall"], report["definitions"]
    order = [k for k in HEADLINE if k in overall] + [k for k in overall if k not in HEADLINE]
    return [
        {"name": k, **overall[k], "definition": definitions.get(k, ""), "headline": k in HEADLINE}
        for k in order
    ]


def overview(db: Database, params: dict[str, str]) -> dict[str, Any]:
    """Headline KPIs with intervals, the daily trend, the funnel, hour and segment tables."""
    report = kpi_data(db)
    page: dict[str, Any] = {"title": "Overview", "counts": db.counts()}
    if report is None:
        return page | {"empty": NO_ENGINE_DATA}
    return page | {
        "empty": None,
        "window_hours": report["window_hours"],
        "touch": report["touch"],
        "kpis": _tiles(report),
        "trend": report["trend"],
        "funnel": report["funnel"],
        "hour": report["breakdowns"].get("hour", []),
        "segment": report["breakdowns"].get("segment", []),
    }


def _names(s: Store, sql: str) -> dict[str, dict[str, Any]]:
    rel = s.con.execute(sql)
    cols = [d[0] for d in rel.description]
    return {row[0]: dict(zip(cols[1:], row[1:], strict=True)) for row in rel.fetchall()}


def _table(db: Database, dim: str, title: str, sql: str) -> dict[str, Any]:
    report = kpi_data(db)
    page: dict[str, Any] = {"title": title, "counts": db.counts()}
    if report is None:
        return page | {"empty": NO_ENGINE_DATA, "rows": []}
    with db.reader() as s:
        extra = _names(s, sql)
    rows = [
        {"key": r["key"], **extra.get(r["key"], {}), **r} for r in report["breakdowns"].get(dim, [])
    ]
    return page | {
        "empty": None,
        "window_hours": report["window_hours"],
        "touch": report["touch"],
        "definitions": report["definitions"],
        "rows": to_jsonable(rows),
    }


def vendors(db: Database, params: dict[str, str]) -> dict[str, Any]:
    """One row per vendor: reach, conversions, incremental lift with its interval, ROAS."""
    return _table(db, "vendor", "Vendors", "SELECT vendor_id, name, category FROM vendor")


def offers(db: Database, params: dict[str, str]) -> dict[str, Any]:
    """One row per offer, with its vendor and message."""
    return _table(
        db, "offer", "Offers", "SELECT offer_id, vendor_id AS vendor, content, enabled FROM offer"
    )


def definitions(db: Database, params: dict[str, str]) -> dict[str, Any]:
    """Every KPI with its label and one-line definition."""
    from pushlift.analysis.kpi_definitions import DEFINITIONS, LABELS

    return {
        "title": "KPI definitions",
        "empty": None,
        "kpis": [
            {"name": k, "label": LABELS.get(k, k), "definition": d} for k, d in DEFINITIONS.items()
        ],
    }
